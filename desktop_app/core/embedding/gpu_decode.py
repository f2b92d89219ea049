"""Pictures for a CUDA model: JPEGs decoded on the GPU in batches, everything else the CPU way, same vectors.

``gpu_batches`` has the contract of ``cpu_batches.cpu_batches`` (one ``Batch`` per ``settings.batch_size``
items, in order) and is what ``pipeline._image_batches`` picks for a model on CUDA:

* a pool of reader threads reads files ahead, whole, into uint8 tensors (pinned host memory when decoding on
  CUDA) and reads each JPEG's header (size, EXIF orientation) before anything is decoded;
* JPEGs (by content: FF D8 FF, not by name) are decoded in one ``torchvision.io.decode_jpeg`` call per batch
  (nvJPEG on CUDA: baseline JPEGs on the GPU's hardware JPEG decoder where it has one, A100/H100 and
  later, progressive ones in software);
* on the device each picture is made upright and reduced the way the CPU path reduces it (see
  ``DevicePreprocess``), then resized, centre-cropped and normalised with the model's own settings;
* every other file goes the CPU way, per file (``settings.decode_item``: Pillow in a sandbox worker with a memory
  cap and a time limit, EXIF, the model's transform): other formats, RAW files, CMYK or unusual JPEGs, truncated
  ones, files over ``settings.max_pixels``, progressive JPEGs of more than ``MAX_DEVICE_SCANS`` scans, and any JPEG
  the batch decoder rejects (first retried alone, then the CPU way), so unreadable files fail with the CPU path's
  own reasons and a bad file never fails its batch. What nvJPEG decodes is decoded in this process: its size is
  checked against ``max_pixels`` from the header first, and the file is read whole (as big as the file on disk);
* a thread of its own decodes batch k+1 while the model embeds batch k (fp16 on CUDA, ``Embedder.load``).
"""

from __future__ import annotations

import functools
import io
import os
import queue
import threading
import warnings
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from PIL import Image

from desktop_app.core.embedding.transform_plan import TransformPlan, plain_transform
from desktop_app.core.errors import UnreadableFile
from desktop_app.core.ingest.items import RAW_EXTENSIONS, Item

if TYPE_CHECKING:
    import torch

    from desktop_app.core.embedding.embed import Embedder
    from desktop_app.core.embedding.settings import Batch, EmbedSettings
    from desktop_app.core.ingest.sandbox import DecodeLimits

GPU = "gpu"  # decoded on the device with the rest of its batch
GPU_ALONE = "gpu-alone"  # its batch's decode failed (another file's fault): decoded on the device by itself
CPU = "cpu"  # decoded the CPU way (why: Route.why)

JPEG_SIGNATURE = b"\xff\xd8\xff"
_HEAD = 256 * 1024  # bytes read first; a JPEG whose header is longer is read whole before its header is parsed
_SOF_ON_DEVICE = {0xC0, 0xC1, 0xC2}  # baseline, extended and progressive Huffman; arithmetic/lossless: CPU
MAX_DEVICE_SCANS = 64  # a progressive JPEG with more scans goes the CPU way (encoders write about 10)


class Route(NamedTuple):
    """How one file was decoded: ``way`` is GPU, GPU_ALONE or CPU; ``why`` says why a file went the CPU way."""

    way: str
    why: str = ""


@dataclass(frozen=True)
class JpegHeader:
    """What decoding a JPEG on the device needs from its header."""

    size: tuple[int, int]  # (width, height) as stored, before the EXIF orientation
    orientation: int  # EXIF orientation as Pillow reads it (1 when none), applied after decoding


@dataclass(frozen=True)
class DevicePreprocess(TransformPlan):
    """The model's own transform (Resize shortest side, CenterCrop, ToTensor, Normalize) on decoded tensors.

    Before it, each picture is reduced exactly as ``images.load_image`` reduces it on the CPU path: a box average
    by the JPEG draft factor (1/2, 1/4, 1/8: libjpeg's DCT scaling is a block mean), then ``_finish``'s box
    ``reduce``. Resizing a full 24 MP picture straight to the model's size instead filters fine grain
    differently from that chain: on the tiny 32 px model a 6000x4000 photo-like JPEG then agreed with the CPU
    path at cosine 0.9988 only (below the 0.999 asked for), and at 1.0000 with the same chain.
    """

    def __call__(self, picture: torch.Tensor, orientation: int, min_side: int) -> torch.Tensor:
        """A decoded uint8 (3, H, W) picture on any device -> the model's float32 (3, crop) input there."""
        import torch
        import torchvision.transforms.functional as tf

        x = picture.unsqueeze(0).float()
        h, w = x.shape[-2:]
        scale = min(w // min_side, h // min_side)
        draft = next((k for k in (8, 4, 2) if scale >= k), 1)  # Pillow's JpegImageFile.draft choice
        x = _box(x, draft)
        x = orient(x, orientation)
        x = _box(x, min(x.shape[-2:]) // (2 * min_side))  # images._finish
        # PIL resizes 8-bit pictures to 8 bits: rounded and clipped, then ToTensor's / 255.
        x = tf.resize(x, [self.size], self.interpolation, antialias=True).round_().clamp_(0, 255)
        x = tf.center_crop(x, list(self.crop))[0].div_(255)
        mean = torch.tensor(self.mean, device=x.device).view(-1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(-1, 1, 1)
        return x.sub_(mean).div_(std)


def _box(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean of factor x factor blocks (the last, partial ones over what they hold, as PIL's reduce), to 8 bits."""
    import torch.nn.functional as fn

    if factor < 2:
        return x
    return fn.avg_pool2d(x, factor, factor, ceil_mode=True, count_include_pad=False).round_()


def orient(x: torch.Tensor, orientation: int) -> torch.Tensor:
    """Apply an EXIF orientation to a (..., H, W) tensor as ``PIL.ImageOps.exif_transpose`` does to a picture."""
    if orientation == 2:
        return x.flip(-1)
    if orientation == 3:
        return x.flip(-2, -1)
    if orientation == 4:
        return x.flip(-2)
    if orientation == 5:
        return x.transpose(-2, -1)
    if orientation == 6:
        return x.transpose(-2, -1).flip(-1)
    if orientation == 7:
        return x.transpose(-2, -1).flip(-2, -1)
    if orientation == 8:
        return x.transpose(-2, -1).flip(-2)
    return x  # 1, and values outside 1-8, which Pillow ignores too


def device_preprocess(preprocess: Callable[[Any], Any]) -> DevicePreprocess | None:
    """The device version of an open_clip transform, or None when it is not the plain shape
    (``transform_plan.plain_transform``): every picture then goes the CPU way (``gpu_batches``)."""
    plan = plain_transform(preprocess)
    return None if plan is None else DevicePreprocess(plan.size, plan.crop, plan.interpolation, plan.mean, plan.std)


def _scan_start(data: bytes) -> tuple[int, int] | None:
    """(offset of the SOS segment, SOF marker) from walking a JPEG's marker segments; None when not found
    within ``data`` or the segments do not chain (the CPU path judges such a file)."""
    i, sof = 2, 0
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xDA:
            return i, sof
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # no length
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn (C4 DHT, C8 JPG, CC DAC)
            sof = sof or marker
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def read_jpeg_header(path: Path, data: Any, max_pixels: int | None) -> JpegHeader | str:
    """The header of a JPEG the device may decode, or why the file goes the CPU way.

    ``data``: the whole file (bytes, or a uint8 array/tensor's memory). The file name only matters for RAW
    files, which the CPU path reads with LibRaw whatever they hold; everything else is judged by its content.
    """
    if path.suffix.lower() in RAW_EXTENSIONS:
        return "a RAW file (LibRaw)"
    view = memoryview(data).cast("B")
    if bytes(view[:3]) != JPEG_SIGNATURE:
        return "not a JPEG"
    head = bytes(view[:_HEAD])
    found = _scan_start(head) or (_scan_start(bytes(view)) if len(view) > _HEAD else None)
    if found is None:
        return "JPEG markers not understood"
    sos, sof = found
    if sof not in _SOF_ON_DEVICE:
        return f"JPEG coding SOF{sof - 0xC0 if sof else '?'} (arithmetic, lossless or hierarchical)"
    # nvJPEG decodes progressive JPEGs partly on the host, in this process, with no time limit: one with tens of
    # thousands of scans (a known way to tie a decoder up for minutes) goes the CPU way, to the sandbox's limit.
    # In entropy-coded data FF is always followed by 00 or a restart marker, so FF DA is a scan header.
    if sof == 0xC2 and bytes(view[sos:]).count(b"\xff\xda") > MAX_DEVICE_SCANS:
        return f"a progressive JPEG of more than {MAX_DEVICE_SCANS} scans"
    # Pillow decodes a truncated JPEG leniently and calls it "partial"; nvJPEG may not notice. A complete file
    # has its end-of-image marker after the scan: at the very end, or before a trailer (a phone's motion photo
    # appends a video).
    tail = bytes(view[-16:]).rstrip(b"\x00")
    if not tail.endswith(b"\xff\xd9") and bytes(view).find(b"\xff\xd9", sos) < 0:
        return "no end-of-image marker (truncated)"
    header = (head if sos + 64 <= len(head) else bytes(view))[:sos + 64]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's "possibly corrupt EXIF" chatter, as images._load
            with Image.open(io.BytesIO(header)) as im:
                fmt, mode, size, info = im.format, im.mode, im.size, im.info
                # the same reading as ImageOps.exif_transpose on the CPU path (EXIF, else XMP tiff:Orientation)
                orientation = int(im.getexif().get(0x0112, 1))
    except Exception as exc:  # noqa: BLE001 - any header Pillow cannot read: the CPU path says why
        return f"JPEG header unreadable here ({type(exc).__name__})"
    if fmt not in ("JPEG", "MPO"):
        return f"{fmt} file"
    if mode not in ("RGB", "L"):
        return f"{mode} JPEG"
    if mode == "RGB" and info.get("adobe_transform") == 0:
        return "RGB-coded (not YCbCr) JPEG"
    if max_pixels is not None and size[0] * size[1] > max_pixels:
        return "over the pixel limit"
    return JpegHeader(size=size, orientation=orientation)


class _Encoded(NamedTuple):
    """A JPEG read whole, waiting for the device decoder."""

    data: torch.Tensor
    header: JpegHeader


class _Done(NamedTuple):
    """A file decoded the CPU way: the model's input tensor and partial flag, or why it is unreadable."""

    tensor: torch.Tensor | None
    partial: bool
    error: UnreadableFile | None
    why: str


def _read(item: Item, max_pixels: int | None, pin: bool) -> _Encoded | str:
    """Read a file for the device decoder, or say why it goes the CPU way (in a reader thread)."""
    import torch

    if item.path.suffix.lower() in RAW_EXTENSIONS:
        return "a RAW file (LibRaw)"
    try:
        with open(item.path, "rb") as fh:
            if fh.read(3) != JPEG_SIGNATURE:
                return "not a JPEG"
            n = os.fstat(fh.fileno()).st_size
            data = torch.empty(n, dtype=torch.uint8, pin_memory=pin)
            buf = data.numpy()
            fh.seek(0)
            got = fh.readinto(buf.data)
    except (OSError, RuntimeError) as exc:  # the CPU path reports the disk's answer in its own words
        return f"could not be read here ({type(exc).__name__})"
    if got != n:
        return "changed while being read"
    header = read_jpeg_header(item.path, buf, max_pixels)
    return header if isinstance(header, str) else _Encoded(data, header)


def _cpu(item: Item, embedder: Embedder, limits: DecodeLimits, why: str, stop: threading.Event) -> _Done:
    """Decode ``item`` the CPU path's way (``settings.decode_item``: in a sandbox worker; ``stop`` gives up)."""
    from desktop_app.core.embedding.settings import decode_item

    try:
        tensor, partial = decode_item(item, embedder, limits, stop)
    except UnreadableFile as exc:
        return _Done(None, False, exc, why)
    return _Done(tensor, partial, None, why)


def _prepare(item: Item, embedder: Embedder, limits: DecodeLimits, pin: bool, stop: threading.Event
             ) -> _Encoded | _Done:
    """A reader thread's work for one file: read a JPEG for the device, or decode anything else the CPU way."""
    read = _read(item, limits.max_pixels, pin)
    return read if isinstance(read, _Encoded) else _cpu(item, embedder, limits, read, stop)


def _decode_on_device(data: list[torch.Tensor], device: str) -> tuple[list[torch.Tensor | str], bool]:
    """Decode JPEGs on ``device`` in one call, or, when that call fails (one bad file fails it all), each one
    alone. Returns the pictures (a str for one that failed: why) and whether they were decoded together."""
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device)), True
    except RuntimeError:
        pass
    out: list[torch.Tensor | str] = []
    for one in data:
        try:
            out.append(decode_jpeg(one, mode=ImageReadMode.RGB, device=device))
        except RuntimeError as exc:
            out.append(f"the JPEG decoder rejected it ({str(exc).strip().splitlines()[-1][-120:]})")
    return out, False


class _OnDevice(NamedTuple):
    """A picture decoded on the device, ready for the model."""

    pixels: torch.Tensor
    way: str


_END = object()


def gpu_batches(items: Sequence[Item], embedder: Embedder, settings: EmbedSettings, workers: int, *,
                decode_device: str | None = None, routes: dict[Path, Route] | None = None,
                ) -> Generator[Batch, None, None]:
    """Embed pictures like ``cpu_batches.cpu_batches``, decoding JPEGs on ``decode_device`` (default: the
    model's device) and everything else the CPU way; yields (embedded rows, unreadable items) per batch.

    ``routes``, when given, receives each file's ``Route`` (how it was decoded). The vectors agree with the CPU
    path's (cosine >= 0.999 on the test model); unreadable files carry the CPU path's reasons.
    """
    device = decode_device or embedder.device
    plan = device_preprocess(embedder.preprocess)
    # Not Resize/CenterCrop/Normalize (open_clip resize_mode "longest" or "squash"): reproducing that transform
    # on the device is not worth its risk, so every picture goes the CPU way, unchanged. Likewise when this
    # torchvision cannot decode JPEGs on the device at all (built without nvJPEG).
    why = "the model's preprocessing is not plain resize and crop" if plan is None else device_decoder_missing(device)
    if plan is None or why:
        from desktop_app.core.embedding.cpu_batches import cpu_batches

        if routes is not None:
            routes.update((item.path, Route(CPU, why or "")) for item in items)
        yield from cpu_batches(items, embedder, settings, workers)
        return
    yield from _DevicePipeline(items, embedder, settings, workers, device, plan, routes).run()


@functools.cache
def device_decoder_missing(device: str) -> str | None:
    """Why torchvision cannot decode JPEGs on ``device`` (one tiny JPEG tried once per process), or None."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    probe = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(probe, "JPEG")
    try:
        decode_jpeg(torch.frombuffer(bytearray(probe.getvalue()), dtype=torch.uint8), mode=ImageReadMode.RGB,
                    device=device)
    except RuntimeError as exc:
        return f"torchvision cannot decode JPEGs on {device} ({str(exc).strip().splitlines()[-1][-120:]})"
    return None


class _DevicePipeline:
    """Readers (a thread pool) -> one decode thread (device decode + preprocessing) -> the model (the caller)."""

    def __init__(self, items: Sequence[Item], embedder: Embedder, settings: EmbedSettings, workers: int,
                 device: str, plan: DevicePreprocess, routes: dict[Path, Route] | None) -> None:
        import torch

        self.items, self.embedder, self.device, self.plan = items, embedder, device, plan
        self.limits = settings.decode_limits()
        self.bs = max(1, settings.batch_size)
        self.routes = routes if routes is not None else {}
        self.cuda = torch.device(device).type == "cuda"
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="photoatlas-read")
        # One batch waits ready while the model embeds another: the decode thread stays a batch ahead.
        self.ready: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.stop = threading.Event()

    def run(self) -> Generator[Batch, None, None]:
        thread = threading.Thread(target=self._decode_loop, name="photoatlas-gpu-decode", daemon=True)
        thread.start()
        try:
            while True:
                got = self.ready.get()
                if got is _END:
                    return
                if isinstance(got, BaseException):
                    raise got
                decoded, pixels, failed = got
                rows: list[tuple[Item, str, Any]] = []
                if decoded:
                    vecs = self.embedder.embed_pixels(pixels)
                    rows = [(it, "partial" if partial else "ok", v) for (it, partial), v in zip(decoded, vecs)]
                # embed_pixels waited for the device, so the decode thread's stream may reuse this memory now
                del got, pixels
                yield rows, failed
        finally:
            # On cancel the consumer closes this generator: stop the decode thread and drop queued reads (a read
            # under way finishes; the decode thread gives up on a cancelled one).
            self.stop.set()
            self.pool.shutdown(wait=False, cancel_futures=True)
            while thread.is_alive():
                try:
                    self.ready.get(timeout=0.05)
                except queue.Empty:
                    pass
            self.pool.shutdown(wait=True)

    def _put(self, what: Any) -> None:
        while not self.stop.is_set():
            try:
                self.ready.put(what, timeout=0.1)
                return
            except queue.Full:
                continue

    def _decode_loop(self) -> None:
        import torch

        try:
            # Its own stream, so decoding and preprocessing the next batch overlap the model on the default one.
            stream = torch.cuda.Stream(device=self.device) if self.cuda else None
            with torch.cuda.stream(stream) if stream is not None else nullcontext():
                self._batches(stream)
            self._put(_END)
        except BaseException as exc:  # handed to the generator's thread, which raises it
            self._put(exc)

    def _batches(self, stream: Any) -> None:
        pending: deque[tuple[Item, Future[_Encoded | _Done]]] = deque()
        todo = iter(self.items)
        exhausted = False
        while (pending or not exhausted) and not self.stop.is_set():
            # Two batches read ahead: the one decoded next and the one after (whole files, pinned on CUDA).
            while not exhausted and len(pending) < self.bs * 2:
                nxt = next(todo, None)
                if nxt is None:
                    exhausted = True
                else:
                    pending.append((nxt, self.pool.submit(_prepare, nxt, self.embedder, self.limits, self.cuda,
                                                         self.stop)))
            batch = [pending.popleft() for _ in range(min(self.bs, len(pending)))]
            self._put(self._one_batch([(item, fut.result()) for item, fut in batch], stream))

    def _one_batch(self, batch: list[tuple[Item, _Encoded | _Done]], stream: Any
                   ) -> tuple[list[tuple[Item, bool]], torch.Tensor | None, list[tuple[Item, UnreadableFile]]]:
        """Decode one batch's JPEGs on the device (the rest arrive decoded), in item order: ((item, partial) per
        picture, their stacked model input on the device, unreadable items)."""
        import torch

        results: dict[int, _OnDevice | _Done] = {}
        jpegs = [(k, got) for k, (_, got) in enumerate(batch) if isinstance(got, _Encoded)]
        if jpegs:
            pictures, together = _decode_on_device([enc.data for _, enc in jpegs], self.device)
            retry: list[tuple[int, Future[_Done]]] = []
            for (k, enc), picture in zip(jpegs, pictures):
                if isinstance(picture, str):
                    retry.append((k, self.pool.submit(_cpu, batch[k][0], self.embedder, self.limits, picture,
                                                          self.stop)))
                else:
                    results[k] = _OnDevice(self.plan(picture, enc.header.orientation, self.embedder.image_size),
                                           GPU if together else GPU_ALONE)
            del pictures  # full-size pictures: only their model-sized inputs are kept
            results.update((k, fut.result()) for k, fut in retry)
        decoded: list[tuple[Item, bool]] = []
        tensors: list[torch.Tensor] = []
        failed: list[tuple[Item, UnreadableFile]] = []
        for k, (item, got) in enumerate(batch):
            done = results.get(k, got)
            if isinstance(done, _OnDevice):
                self.routes[item.path] = Route(done.way)
                tensors.append(done.pixels)
                decoded.append((item, False))
                continue
            assert isinstance(done, _Done)
            self.routes[item.path] = Route(CPU, done.why)
            if done.error is not None:
                failed.append((item, done.error))
            else:
                assert done.tensor is not None
                tensors.append(done.tensor.to(self.device))
                decoded.append((item, done.partial))
        pixels = torch.stack(tensors) if tensors else None
        if stream is not None:
            stream.synchronize()  # complete before the model, on another stream, reads it
        return decoded, pixels, failed
