"""Decode untrusted pictures in helper processes that a bad file cannot hurt: a memory cap and a time limit per file.

A picture file from the user's folders is input from anyone. A decoder that is asked for 30000 x 30000 pixels
allocates them, one that meets 30,000 progressive scans decodes them all, and a C decoder that meets a bug may
crash. None of that can be stopped from inside the process that runs it: Python cannot interrupt or kill a
thread stuck in C, and an allocation of 20 GB takes the whole app down (the OS kills it, exit 137). So every
picture the embedding, the thumbnails and the quality scores decode goes through ``decode``, which hands the
file to a worker process and waits for the answer:

* **Memory cap** (``DecodeLimits.memory``, default 2 GB, above the worker's own footprint before the file). The
  parent samples the worker's resident memory every 20 ms while it waits (psutil) and kills a worker over the cap:
  "needs more than 2 GB to decode". On Linux the kernel backs that up: the worker limits its own address space
  (``RLIMIT_AS``) to twice the cap before each file, so not even a decoder that allocates faster than the parent
  samples can go further (the allocation fails inside the decoder: ``MemoryError``, the same reason), and it
  asks the OOM killer to pick a worker before anything else (``oom_score_adj``). Why not ``RLIMIT_AS`` at the
  cap alone, as the kernel's own verdict: a refused allocation does not always say "memory" — libjpeg reports
  it as a broken data stream, and a progressive JPEG over the cap then came out as a "partial" grey picture —
  while resident memory over the cap is a verdict that means what it says. macOS does not enforce ``RLIMIT_AS``
  and Windows has no such limit: there the watchdog alone holds (a 20 ms sample can overshoot by what a decoder
  touches in 20 ms). A Windows job object with ``JOB_OBJECT_LIMIT_PROCESS_MEMORY`` would be the kernel's backstop
  there; it is not built (docs/DECODING.md).
* **Time limit** (``DecodeLimits.seconds``, default 30 s). The parent waits that long for the answer, then kills
  the worker: "took over 30 s to decode".
* **Crashes**: a worker that dies (a segfault, an abort in a codec) is "the decoder crashed on this file".

Each of these is an ``UnreadableFile`` (``DecodeRefused``), so the pipeline skips the file, the run goes on, and the
embedding cache remembers the verdict until the file changes (``pipeline.remember``). A killed worker is replaced
by a fresh one at the next file.

Why this shape:

* **Processes started with "spawn"**, as ``analysis/isolated.py``: forking a process that runs Qt and threads is
  unsafe on every platform, spawn is the same on all three, and the frozen app supports it
  (``multiprocessing.freeze_support`` in ``installer/photoatlas_entry.py``).
* **Long-lived workers, one file at a time each**: a worker starts in about 0.3 s (Python, Pillow and its
  plugins, LibRaw; never torch), so it is kept for the next file; one file at a time makes the cap and the time
  limit that file's, and lets the worker set Pillow's decompression-bomb limit for each file
  (``images.GUARD_PER_FILE``). The pool grows to as many workers as threads ask at once (the CPU path's decode
  threads, the thumbnail and quality threads) and closes the ones idle for ``IDLE_S``.
* **The worker sends back what ``images.load_image`` returns in-process** (RGB, shorter side between the size
  asked and about 4x it: JPEG ``draft`` and ``_finish``'s box reduction already ran there), as raw bytes; the
  parent applies the model's own preprocessing. The picture is the same as before, so the vectors are the same
  (cached vectors stay valid, the GPU path's agreement holds), and the worker never needs torch. ``fit`` lets a
  caller that wants a small picture (a thumbnail, the quality preview) have it shrunk in the worker.
* Decoders that can use threads (AVIF, HEIC, JPEG XL) use one per worker: the workers already run in parallel,
  and threads there would compete with the model's.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.errors import Cancelled, FileAccessError, PhotoAtlasError, UnreadableFile
from desktop_app.core.ingest.images import PILLOW_DEFAULT_MAX_PIXELS, DecodedImage

DEFAULT_MEMORY = 2 * 1024 ** 3  # bytes a worker may use for one file, above its idle footprint
DEFAULT_SECONDS = 30.0  # wall-clock seconds one file may take to decode
START_TIMEOUT_S = 120.0  # how long a new worker may take to start (a slow disk, a cold cache, a busy machine)
IDLE_S = 60.0  # a worker idle this long is closed (the next file starts one again)
WATCHDOG_POLL_S = 0.02  # how often the waiting parent samples the worker's memory (and its stop event, the clock)
BACKSTOP = 2  # Linux: a worker's address space may grow by this many times the cap for one file (RLIMIT_AS)
# Linux enforces RLIMIT_AS; macOS does not, Windows has none: there the watchdog alone holds.
KERNEL_CAP = sys.platform.startswith("linux")


@dataclass(frozen=True)
class DecodeLimits:
    """What one file may cost: its pixels (``max_pixels``, None: no limit), the memory its decoding may take
    above a worker's idle footprint (bytes) and the time it may take (seconds)."""

    max_pixels: int | None = PILLOW_DEFAULT_MAX_PIXELS
    memory: int = DEFAULT_MEMORY
    seconds: float = DEFAULT_SECONDS


DEFAULT_LIMITS = DecodeLimits()  # what ``decode`` applies when it is given none (thumbnails, quality scores)


class DecodeRefused(UnreadableFile):
    """The sandbox stopped decoding this file (over the memory cap, over the time limit, or the decoder
    crashed). A verdict about the file's content, remembered until the file changes."""


class TooMuchMemory(DecodeRefused):
    """Decoding the file needed more memory than the cap."""


class TooSlow(DecodeRefused):
    """Decoding the file took longer than the time limit."""


class DecoderCrashed(DecodeRefused):
    """The worker died while decoding the file."""


class SandboxUnavailable(PhotoAtlasError):
    """No worker process could be started: nothing is decoded (the run stops with this message)."""


def size_text(n: int) -> str:
    """Bytes in the user's words: "2 GB", "1.5 GB", "96 MB"."""
    if n >= 1024 ** 3:
        return f"{n / 1024 ** 3:.3g} GB"
    return f"{max(1, round(n / 1024 ** 2))} MB"


def decode(path: Path, *, min_side: int, limits: DecodeLimits | None = None, fit: int | None = None,
           resize: tuple[int, int] | None = None, stop: threading.Event | None = None) -> DecodedImage:
    """``images.load_image(path, min_side=..., max_pixels=limits.max_pixels)`` run in a sandbox worker; returns
    its ``DecodedImage``. The picture can be made smaller in the worker, so that less of it crosses the pipe:
    ``fit`` shrinks it to fit a ``fit`` x ``fit`` box (as ``Image.thumbnail``); ``resize`` = (side, PIL filter)
    resizes it so that its shorter side is ``side``, exactly as torchvision's ``Resize(side)`` resizes a picture
    (``resized_size``). ``stop``: when set while waiting, the worker is killed and ``Cancelled`` raised.

    Raises ``UnreadableFile`` (``TooMuchMemory``, ``TooSlow``, ``DecoderCrashed`` or the decoder's own reason),
    ``FileAccessError`` (the disk; not remembered), ``Cancelled`` or ``SandboxUnavailable``.
    """
    return _pool().decode(Path(path), min_side, limits or DEFAULT_LIMITS, (fit, resize), stop)


def warm(n: int) -> None:
    """Start workers in the background until ``n`` are up, so the first files do not wait for them."""
    _pool().warm(n)


def shutdown() -> None:
    """Stop every worker (at exit; safe to call any time: the next ``decode`` starts them again)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.close()


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, kernel_cap: bool) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_serve, args=(child, kernel_cap), name="photoatlas-decoder", daemon=True)
        with _START_LOCK:  # Process.start from several threads at once is not documented as safe
            self.proc.start()
        child.close()
        self.kernel_cap = kernel_cap
        self.baseline = 0  # resident bytes before the current file (the watchdog's zero)
        self.idle_since = time.monotonic()
        self._ps: Any = None

    def wait_ready(self) -> None:
        """Wait for the worker's hello; raises ``SandboxUnavailable`` when it does not come."""
        try:
            if self.conn.poll(START_TIMEOUT_S):
                hello = self.conn.recv()
                if hello[0] == "ready":
                    self.kernel_cap = bool(hello[1])
                    return
        except (EOFError, OSError):
            pass
        self.kill()
        raise SandboxUnavailable(f"could not start a picture decoder process (exit code {self.proc.exitcode})")

    def rss(self) -> int:
        import psutil

        if self._ps is None:
            self._ps = psutil.Process(self.proc.pid)
        try:
            return int(self._ps.memory_info().rss)
        except psutil.Error:  # it has just died: the pipe says so
            return 0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        """Ask the worker to exit, then make sure it did."""
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(1)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


class _Pool:
    """Workers shared by every thread of this process: a caller takes an idle one (or starts one), sends one file
    and waits for its answer; a worker that went wrong is killed instead of going back."""

    def __init__(self, kernel_cap: bool = KERNEL_CAP) -> None:
        self.kernel_cap = kernel_cap
        self._idle: list[_Worker] = []
        self._starting = 0  # workers ``warm`` is starting
        self._ready = threading.Condition()  # a worker became idle, or a start ended
        self._closed = False
        threading.Thread(target=self._reaper, name="photoatlas-decoder-reaper", daemon=True).start()

    def _reaper(self) -> None:
        """Close idle workers now and then, so an app left open after a run does not keep them."""
        while True:
            time.sleep(IDLE_S / 2)
            with self._ready:
                if self._closed:
                    return
                self._reap_idle()

    def _take(self) -> _Worker:
        """An idle worker, one being started by ``warm`` (waited for), or a new one."""
        with self._ready:
            self._reap_idle()
            while not self._idle and self._starting:
                self._ready.wait()
            if self._idle:
                return self._idle.pop()
        worker = _Worker(self.kernel_cap)
        worker.wait_ready()
        return worker

    def _give_back(self, worker: _Worker) -> None:
        worker.idle_since = time.monotonic()
        with self._ready:
            if not self._closed:
                self._idle.append(worker)
                self._ready.notify()
                return
        worker.stop()

    def _reap_idle(self) -> None:
        """Close workers idle for ``IDLE_S`` (called with the lock held)."""
        now = time.monotonic()
        old = [w for w in self._idle if now - w.idle_since > IDLE_S]
        if old:
            self._idle = [w for w in self._idle if w not in old]
            for w in old:
                threading.Thread(target=w.stop, daemon=True).start()

    def warm(self, n: int) -> None:
        with self._ready:
            missing = max(0, n - len(self._idle) - self._starting)
            self._starting += missing

        def start_one() -> None:
            worker: _Worker | None = None
            try:
                worker = _Worker(self.kernel_cap)
                worker.wait_ready()
            except Exception:  # noqa: BLE001 - a start that fails here is tried again by the caller that needs it
                worker = None
            with self._ready:  # idle and no longer starting in one step: a waiting caller sees one or the other
                self._starting -= 1
                if worker is not None and not self._closed:
                    worker.idle_since = time.monotonic()
                    self._idle.append(worker)
                    worker = None
                self._ready.notify_all()
            if worker is not None:  # the pool was closed meanwhile
                worker.stop()

        for _ in range(missing):
            threading.Thread(target=start_one, name="photoatlas-decoder-start", daemon=True).start()

    def decode(self, path: Path, min_side: int, limits: DecodeLimits,
               shrink: tuple[int | None, tuple[int, int] | None], stop: threading.Event | None) -> DecodedImage:
        job = (str(path), min_side, limits.max_pixels, shrink, limits.memory)
        worker = self._take()
        try:
            worker.conn.send(job)
        except OSError:  # it died while idle (killed from outside): a fresh one takes the file
            worker.kill()
            worker = self._take()
            worker.conn.send(job)
        healthy = False
        try:
            worker.baseline = worker.rss()
            self._wait(worker, limits, stop)
            try:
                reply = worker.conn.recv()
            except (EOFError, OSError):
                worker.proc.join(5)
                raise DecoderCrashed("the decoder crashed on this file") from None
            healthy = reply[0] != "memory"  # after a refused allocation a fresh worker is the safe bet
            return _result(reply, limits)
        finally:
            if healthy:
                self._give_back(worker)
            else:
                worker.kill()

    def _wait(self, worker: _Worker, limits: DecodeLimits, stop: threading.Event | None) -> None:
        """Until the worker answers (or dies: its pipe reads as ready); raises on the time limit, the
        watchdog's memory cap and ``stop``."""
        deadline = time.monotonic() + limits.seconds
        while not worker.conn.poll(max(0.0, min(WATCHDOG_POLL_S, deadline - time.monotonic()))):
            if stop is not None and stop.is_set():
                raise Cancelled("cancelled")
            if time.monotonic() >= deadline:
                raise TooSlow(f"took over {limits.seconds:g} s to decode")
            if worker.rss() > worker.baseline + limits.memory:
                raise TooMuchMemory(f"needs more than {size_text(limits.memory)} to decode")

    def close(self) -> None:
        with self._ready:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


def _result(reply: tuple[Any, ...], limits: DecodeLimits) -> DecodedImage:
    """The worker's answer as a ``DecodedImage``, or the error it stands for."""
    kind = reply[0]
    if kind == "ok":
        from PIL import Image

        _, size, data, partial, original_size = reply
        return DecodedImage(Image.frombytes("RGB", size, data), bool(partial), tuple(original_size))
    if kind == "memory":
        raise TooMuchMemory(f"needs more than {size_text(limits.memory)} to decode")
    if kind == "access":
        raise FileAccessError(reply[1])
    raise UnreadableFile(reply[1])


_POOL: _Pool | None = None
_POOL_LOCK = threading.Lock()
_START_LOCK = threading.Lock()


def _pool() -> _Pool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = _Pool()
        return _POOL


atexit.register(shutdown)


# -- in the worker ---------------------------------------------------------------------------------------------


def _serve(conn: Any, kernel_cap: bool) -> None:
    """A worker's life: prepare, say hello, then decode one file per request until told to stop (None) or the
    parent goes away (the pipe closes)."""
    _fewer_malloc_arenas()
    _first_for_the_oom_killer()
    from PIL import Image

    from desktop_app.core.ingest import images

    images.GUARD_PER_FILE = True
    Image.init()  # every plugin imported now, so the idle footprint counts their libraries
    _one_thread_per_decoder()
    import rawpy  # noqa: F401 - LibRaw loaded now, for the same reason

    cap = _address_space_cap() if kernel_cap else None
    conn.send(("ready", cap is not None))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        path, min_side, max_pixels, shrink, memory = job
        if cap is not None:
            cap(memory)
        try:
            reply = _decode_here(images, Path(path), min_side, max_pixels, *shrink)
        finally:
            if cap is not None:
                cap(None)
        conn.send(reply)


def _decode_here(images: Any, path: Path, min_side: int, max_pixels: int | None, fit: int | None,
                 resize: tuple[int, int] | None) -> tuple[Any, ...]:
    try:
        decoded = images.load_image(path, min_side=min_side, max_pixels=max_pixels)
        picture = decoded.image
        if fit is not None:
            picture.thumbnail((fit, fit))
        if resize is not None:
            size = resized_size(picture.size, resize[0])
            if size != picture.size:
                picture = picture.resize(size, resize[1])
        return "ok", picture.size, picture.tobytes(), decoded.partial, decoded.original_size
    except (images.OutOfMemory, MemoryError):
        return ("memory",)
    except FileAccessError as exc:
        return "access", exc.user_message
    except UnreadableFile as exc:
        return "unreadable", exc.user_message
    except Exception as exc:  # noqa: BLE001 - load_image lets nothing else out; the thumbnail step might
        return "unreadable", f"cannot decode image ({type(exc).__name__}: {exc})".splitlines()[0]


def resized_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """(width, height) of a picture of ``size`` resized to ``side`` on its shorter side, computed as torchvision's
    ``Resize(side)`` computes it (``_compute_resized_output_size``: the longer side truncated)."""
    w, h = size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(side * long / short)
    return (side, new_long) if w <= h else (new_long, side)


def _address_space_cap() -> Callable[[int | None], None] | None:
    """A function that limits this process's address space to its size now plus ``BACKSTOP`` times ``memory``
    bytes (None: back to what it was), or None where the kernel does not take such a limit."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        _address_space_now()
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))  # may we set it at all (a sandboxed platform)?
    except (ImportError, OSError, ValueError):
        return None

    def cap(memory: int | None) -> None:
        if memory is None:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
            return
        limit = _address_space_now() + BACKSTOP * memory
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

    return cap


def _address_space_now() -> int:
    """This process's virtual size in bytes (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _fewer_malloc_arenas() -> None:
    """glibc reserves 64 MB of address space for each extra malloc arena a thread creates: with RLIMIT_AS those
    reservations would count as used. Two arenas are plenty for one file at a time."""
    if not KERNEL_CAP:
        return
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX (glibc); a libc without it has no such symbol
    except (OSError, AttributeError):
        pass


def _first_for_the_oom_killer() -> None:
    """Linux: if the machine runs out of memory anyway (many workers near their caps at once), the kernel kills a
    worker (the file is then "the decoder crashed") rather than the app. Raising one's own score needs no rights."""
    if not KERNEL_CAP:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass


def _one_thread_per_decoder() -> None:
    """The workers decode in parallel already; a decoder's own threads would only compete with the model's."""
    try:
        from PIL import AvifImagePlugin

        AvifImagePlugin.DEFAULT_MAX_THREADS = 1
    except ImportError:
        pass
    try:
        import pillow_heif

        pillow_heif.options.DECODE_THREADS = 1
    except (ImportError, AttributeError):
        pass
    try:
        from pillow_jxl import JpegXLImagePlugin

        JpegXLImagePlugin.DECODE_THREADS = 0  # 0: no parallelism (the plugin's convention)
    except (ImportError, AttributeError):
        pass
