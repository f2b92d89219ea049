"""Decode one image file into an upright RGB picture, small enough for the model, without ever raising
anything but ``UnreadableFile``.

Every file is isolated: a bad file becomes an ``UnreadableFile`` with a one-line reason, which the
pipeline turns into a ``Skipped`` record, so one broken file never fails a batch. Pictures from the user's
folders are decoded by this code inside the helper processes of ``ingest.sandbox`` (a memory cap and a time
limit per file); ``load_image`` itself decodes in the calling process.

Pillow's decompression-bomb guard stays on: ``Image.MAX_IMAGE_PIXELS`` is at least Pillow's default and at
least ``max_pixels`` (``pillow_limit``), and its warning is an error here, so a format that decodes while
opening (an ICO or CUR holding a PNG or a bitmap, an ICNS) is refused on its declared size before any pixel is
decoded, and ``_check_pixels`` refuses the others before ``load``. In a sandbox worker (one file at a time) the
guard is set for each file; in any other process the calls made there only ever raise it (never lower it, never
switch it off: other threads may be opening files).

How each kind of file is read (embedding, thumbnails and best-frame scoring all come through here):

* RAW files (``items.RAW_EXTENSIONS``: DNG incl. ProRAW, CR2, CR3, NEF, ARW, RAF, ORF, RW2, PEF, SRW, ...) are
  opened with LibRaw (rawpy). The camera's embedded JPEG preview is used when its shorter side is at least the
  size asked for (no demosaic: fast); otherwise the sensor data is demosaiced at half size. Either way the
  RAW's own orientation (LibRaw's ``flip``) makes the picture upright. A file LibRaw cannot open raises
  ``UnreadableFile``.
* Everything else goes through Pillow, which identifies a file by its content, not its name: JPEG (draft mode),
  PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF (pillow-heif), AVIF (Pillow's own plugin), JPEG XL (pillow-jxl-plugin),
  JPEG 2000, PSD (the flattened composite Photoshop stores), and any other format Pillow reads. Multi-frame
  files (MPO, animated GIF/WebP/AVIF, multi-page TIFF) give their first frame; EXIF orientation is applied.
"""

from __future__ import annotations

import errno
import io
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from desktop_app.core.errors import FileAccessError, UnreadableFile
from desktop_app.core.ingest.items import RAW_EXTENSIONS, register_pillow_plugins

# Pillow's own default (about 89.5 megapixels): the default of ``max_pixels`` and the least Pillow's guard is set to.
PILLOW_DEFAULT_MAX_PIXELS = 89_478_485
# True in a sandbox worker (one file at a time): Pillow's guard is set exactly for each file there.
GUARD_PER_FILE = False


class OutOfMemory(FileAccessError):
    """Decoding ran out of memory. In this process it is the machine's state (tried again next time); in a
    sandbox worker it is the worker's memory cap, and ``sandbox`` says so instead."""


def pillow_limit(max_pixels: int | None) -> int | None:
    """Pillow's decompression-bomb limit for a call with ``max_pixels``: never below Pillow's default (a lower
    ``max_pixels`` is enforced by ``_check_pixels``), off only when ``max_pixels`` is None (no limit asked)."""
    return None if max_pixels is None else max(max_pixels, PILLOW_DEFAULT_MAX_PIXELS)


def _set_pillow_guard(max_pixels: int | None) -> None:
    limit = pillow_limit(max_pixels)
    if GUARD_PER_FILE:
        Image.MAX_IMAGE_PIXELS = limit
        return
    # Other threads of this process may be opening files: raise the guard to this call's limit, never lower it and
    # never switch it off (max_pixels=None is honoured exactly in a sandbox worker only).
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and limit is not None and limit > current:
        Image.MAX_IMAGE_PIXELS = limit


@contextmanager
def _quiet() -> Iterator[None]:
    """Pillow's "possibly corrupt EXIF" chatter is not the user's problem; its decompression-bomb warning (a
    declared size over ``Image.MAX_IMAGE_PIXELS``) is an error, raised before the picture is decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def _bomb_reason(exc: Exception) -> str:
    """The one-line reason for Pillow's decompression-bomb warning or error ``exc``."""
    found = _BOMB_PIXELS.search(str(exc))
    declared = f"{int(found.group(1)):,} pixels" if found else "more pixels than allowed"
    limit = Image.MAX_IMAGE_PIXELS
    over = f", over the limit of {limit:,} pixels" if limit is not None else ""
    return f"image declares {declared}{over} (max_pixels setting)"


@dataclass
class DecodedImage:
    """An RGB picture ready for the model's preprocessing. ``partial``: the file was truncated.
    ``original_size``: the full picture's pixel size (for a RAW, the sensor's, even when read from its preview)."""

    image: Image.Image
    partial: bool
    original_size: tuple[int, int]


class _LenientLoads:
    """Pillow only offers truncated-image tolerance as a module global, so a lenient retry must not
    overlap with strict loads in other decode threads (which would otherwise silently pass truncated
    files). A small readers-writer lock: strict loads share it, a lenient retry holds it alone."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def strict(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def lenient(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and self._readers == 0)
            self._writer = True
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            with self._cond:
                self._writer = False
                self._cond.notify_all()


_LOADS = _LenientLoads()

# LibRaw's ``flip`` (dcraw's convention, derived from the RAW's orientation tag) as the Pillow transpose that
# makes the picture upright; it is EXIF orientation 2, 4, 3, 5, 8, 6, 7 in dcraw's order.
_FLIP_TRANSPOSE = {
    1: Image.Transpose.FLIP_LEFT_RIGHT,
    2: Image.Transpose.FLIP_TOP_BOTTOM,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.TRANSPOSE,
    5: Image.Transpose.ROTATE_90,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
}

# Pillow identifies files by content, so every opener is registered once, for any file name (a HEIC saved
# as .jpg by a phone export still opens).
register_pillow_plugins()


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # convert("L") would clip 16-bit values at 255 (a white picture): scale them instead.
        arr = np.asarray(im).astype(np.float32)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info or im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    if im.mode != "RGB":
        return im.convert("RGB")
    return im


def load_image(path: Path, *, min_side: int = 224, max_pixels: int | None = PILLOW_DEFAULT_MAX_PIXELS
               ) -> DecodedImage:
    """Decode ``path`` to an upright RGB image whose shorter side is at least ``min_side`` (when the file
    is that large) and not much more, so the model's own resize stays cheap.

    JPEGs are decoded at reduced scale with ``draft()`` (a 24 MP JPEG decodes several times faster at
    1/8 scale), EXIF orientation is applied, animated and multi-page files give their first frame.
    Truncated files are decoded strictly first, then leniently (``partial=True``).

    Raises ``UnreadableFile`` with a one-line reason; never anything else for a bad file.
    """
    try:
        _set_pillow_guard(max_pixels)
        return _load(path, min_side, max_pixels)
    except UnreadableFile:
        raise
    except FileNotFoundError:
        raise FileAccessError("file vanished before it could be read") from None
    except PermissionError:
        raise FileAccessError("permission denied") from None
    except IsADirectoryError:
        raise UnreadableFile("is a folder, not a file") from None
    except UnidentifiedImageError:
        raise UnreadableFile("not an image, or an image format Pillow cannot read") from None
    except MemoryError:
        raise OutOfMemory("not enough memory to decode this image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnreadableFile(_bomb_reason(exc)) from None
    except Exception as exc:  # a corrupt file can make a decoder raise almost anything
        if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:  # a mapping refused: memory, not the disk
            raise OutOfMemory("not enough memory to decode this image") from None
        if isinstance(exc, OSError) and exc.errno is not None:  # the disk said no (EIO…); decoders set no errno
            raise FileAccessError(f"cannot read file ({exc.strerror or type(exc).__name__})") from None
        raise UnreadableFile(f"cannot decode image ({type(exc).__name__}: {exc})".splitlines()[0]) from None


def _draft(im: Image.Image, min_side: int) -> None:
    """Before decoding: let the JPEG decoder scale down by 1/2, 1/4 or 1/8 while keeping >= min_side."""
    if im.format in ("JPEG", "MPO"):
        im.draft(im.mode if im.mode in ("RGB", "L", "CMYK") else None, (min_side, min_side))


def _check_pixels(size: tuple[int, int], max_pixels: int | None) -> None:
    w, h = size
    if max_pixels is not None and w * h > max_pixels:
        raise UnreadableFile(
            f"image is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,} pixels (max_pixels setting)"
        )


def _decode(open_: Callable[[], Image.Image], min_side: int, max_pixels: int | None
            ) -> tuple[Image.Image, bool, tuple[int, int]]:
    """Decode what ``open_`` opens, at reduced scale where the format allows. Returns the picture, whether the
    data was truncated (decoded strictly first, then leniently) and the full size before any reduction."""
    try:
        im = open_()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # refused on its declared size
        raise UnreadableFile(_bomb_reason(exc)) from None
    size = im.size
    _check_pixels(size, max_pixels)
    _draft(im, min_side)
    try:
        with _LOADS.strict():
            im.load()
        return im, False, size
    except (OSError, SyntaxError) as exc:
        if "truncated" not in str(exc).lower() and "broken data stream" not in str(exc).lower():
            raise
    im = open_()
    _draft(im, min_side)
    with _LOADS.lenient():
        im.load()
    return im, True, size


def _finish(im: Image.Image, min_side: int) -> Image.Image:
    """To RGB; big pictures of formats without draft (PNG, TIFF, WebP...) box-reduced before the model's
    bicubic resize."""
    im = _to_rgb(im)
    factor = min(im.size) // (2 * min_side)
    if factor >= 2:
        im = im.reduce(factor)
    return im


def _load(path: Path, min_side: int, max_pixels: int | None) -> DecodedImage:
    if path.stat().st_size == 0:
        raise UnreadableFile("empty file (0 bytes)")
    if path.suffix.lower() in RAW_EXTENSIONS:
        return _load_raw(path, min_side, max_pixels)
    with _quiet():
        im, partial, original_size = _decode(lambda: Image.open(path), min_side, max_pixels)
    im = ImageOps.exif_transpose(im) or im
    return DecodedImage(image=_finish(im, min_side), partial=partial, original_size=original_size)


def _load_raw(path: Path, min_side: int, max_pixels: int | None) -> DecodedImage:
    """A RAW file through its embedded JPEG preview when that is at least ``min_side`` on its shorter side
    (no demosaic: tens of milliseconds), else through a half-size demosaic; upright from the RAW's flip."""
    try:
        # LibRaw opens an ASCII path itself and reads only what it needs (2 ms instead of 19 ms for a 54 MB DNG);
        # any other path is handed over as bytes: LibRaw's file opener fails on non-ASCII paths on Windows
        # (letmaik/rawpy#85).
        raw = open_raw(path)
    except Exception as exc:  # LibRawFileUnsupportedError, LibRawIOError, LibRawDataError...
        import rawpy

        if (isinstance(exc, OSError) and exc.errno is not None) or isinstance(exc, rawpy.LibRawIOError):
            # the disk, not the content (LibRaw says "Input/output error" for a file that cannot be opened too)
            raise FileAccessError(f"RAW file LibRaw cannot read ({_libraw_reason(exc)})") from None
        raise UnreadableFile(f"RAW file LibRaw cannot open ({_libraw_reason(exc)})") from None
    with raw:
        flip = raw.sizes.flip
        full = (raw.sizes.width, raw.sizes.height)
        if flip in (4, 5, 6, 7):  # quarter turns: the upright picture is taller than wide
            full = full[::-1]
        preview = _jpeg_preview(raw)
        if preview is not None:
            decoded = _from_preview(preview, flip, full, min_side, max_pixels)
            if decoded is not None:
                return decoded
        _check_pixels((full[0] // 2, full[1] // 2), max_pixels)
        try:
            # half_size: one pixel per 2x2 Bayer block, no interpolation (4x fewer pixels, several times faster);
            # LibRaw applies the flip itself.
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
        except Exception as exc:
            raise UnreadableFile(f"RAW file LibRaw cannot decode ({_libraw_reason(exc)})") from None
    return DecodedImage(image=_finish(Image.fromarray(rgb), min_side), partial=False, original_size=full)


def open_raw(path: Path) -> Any:
    """``rawpy.imread`` for ``path``: by name when it is ASCII, else from its bytes (see ``_load_raw``)."""
    import rawpy

    return rawpy.imread(str(path)) if str(path).isascii() else rawpy.imread(io.BytesIO(path.read_bytes()))


def raw_preview_jpeg(path: Path) -> bytes | None:
    """The embedded JPEG preview of the RAW file ``path`` (LibRaw adds an EXIF header with the capture time,
    make and model it parsed from the RAW), or None when LibRaw cannot open it or it has no JPEG preview."""
    try:
        with open_raw(path) as raw:
            return _jpeg_preview(raw)
    except Exception:  # noqa: BLE001 - any LibRaw failure means "no preview"
        return None


def _from_preview(preview: bytes, flip: int, full: tuple[int, int], min_side: int, max_pixels: int | None
                  ) -> DecodedImage | None:
    """The RAW's picture from its embedded JPEG ``preview``; None when the preview is too small for ``min_side``
    or cannot be decoded (the half-size demosaic then takes over)."""
    try:
        with _quiet():
            if min(Image.open(io.BytesIO(preview)).size) < min_side:
                return None
            im, partial, _ = _decode(lambda: Image.open(io.BytesIO(preview)), min_side, max_pixels)
    except (UnreadableFile, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):  # a broken or oversized preview: the sensor data
        return None
    # The preview is stored as the sensor saw it; whatever EXIF it carries, the RAW's flip decides.
    if flip in _FLIP_TRANSPOSE:
        im = im.transpose(_FLIP_TRANSPOSE[flip])
    return DecodedImage(image=_finish(im, min_side), partial=partial, original_size=full)


def _jpeg_preview(raw: object) -> bytes | None:
    """The RAW's embedded JPEG preview, or None when it has none LibRaw can hand out."""
    import rawpy

    try:
        thumb = raw.extract_thumb()  # type: ignore[attr-defined]
    except Exception:  # LibRawNoThumbnailError, LibRawUnsupportedThumbnailError: demosaic instead
        return None
    return thumb.data if thumb.format == rawpy.ThumbFormat.JPEG else None


def _libraw_reason(exc: Exception) -> str:
    """LibRaw's message for ``exc``, one short line (rawpy gives it as bytes)."""
    detail = exc.args[0] if exc.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    detail = str(detail).splitlines()[0] if str(detail).strip() else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
