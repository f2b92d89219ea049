"""Decode one image file into an upright RGB picture, small enough for the model, without ever raising
anything but ``UnreadableFile``.

Every file is isolated: a bad file becomes an ``UnreadableFile`` with a one-line reason, which the
pipeline turns into a ``Skipped`` record, so one broken file never fails a batch.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from desktop_app.core.errors import UnreadableFile
from desktop_app.core.items import RAW_EXTENSIONS

# Pillow's own default (about 89.5 megapixels). We enforce the limit ourselves, per call and before
# decoding, so Pillow's process-wide check is switched off (it would otherwise warn or raise on its own).
PILLOW_DEFAULT_MAX_PIXELS = 89_478_485
Image.MAX_IMAGE_PIXELS = None


@dataclass
class DecodedImage:
    """An RGB picture ready for the model's preprocessing. ``partial``: the file was truncated."""

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
_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def _open(path: Path) -> Image.Image:
    """Open (not decode) ``path``; RAW files give their embedded JPEG preview via rawpy."""
    if path.suffix.lower() in RAW_EXTENSIONS:
        try:
            import rawpy
        except ImportError:
            raise UnreadableFile(
                "RAW file: install the optional 'raw' extra (rawpy) to read its preview"
            ) from None
        try:
            with rawpy.imread(str(path)) as raw:
                thumb = raw.extract_thumb()
        except Exception as exc:  # rawpy raises many LibRaw error types
            raise UnreadableFile(f"RAW file without a readable preview ({type(exc).__name__})") from None
        if thumb.format == rawpy.ThumbFormat.JPEG:
            return Image.open(io.BytesIO(thumb.data))
        return Image.fromarray(thumb.data)
    if path.suffix.lower() in (".heic", ".heif"):
        _register_heif()
    return Image.open(path)


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
        return _load(path, min_side, max_pixels)
    except UnreadableFile:
        raise
    except FileNotFoundError:
        raise UnreadableFile("file vanished before it could be read") from None
    except PermissionError:
        raise UnreadableFile("permission denied") from None
    except IsADirectoryError:
        raise UnreadableFile("is a folder, not a file") from None
    except UnidentifiedImageError:
        raise UnreadableFile("not an image, or an image format Pillow cannot read") from None
    except MemoryError:
        raise UnreadableFile("not enough memory to decode this image") from None
    except Exception as exc:  # a corrupt file can make a decoder raise almost anything
        raise UnreadableFile(f"cannot decode image ({type(exc).__name__}: {exc})".splitlines()[0]) from None


def _draft(im: Image.Image, min_side: int) -> None:
    """Before decoding: let the JPEG decoder scale down by 1/2, 1/4 or 1/8 while keeping >= min_side."""
    if im.format == "JPEG":
        im.draft(im.mode if im.mode in ("RGB", "L", "CMYK") else None, (min_side, min_side))


def _load(path: Path, min_side: int, max_pixels: int | None) -> DecodedImage:
    if path.stat().st_size == 0:
        raise UnreadableFile("empty file (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's "possibly corrupt EXIF" chatter is not the user's problem
        im = _open(path)
    original_size = im.size
    w, h = im.size
    if max_pixels is not None and w * h > max_pixels:
        raise UnreadableFile(
            f"image is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,} pixels (max_pixels setting)"
        )
    _draft(im, min_side)
    partial = False
    try:
        with _LOADS.strict():
            im.load()
    except (OSError, SyntaxError) as exc:
        if "truncated" not in str(exc).lower() and "broken data stream" not in str(exc).lower():
            raise
        im = _open(path)
        _draft(im, min_side)
        with _LOADS.lenient():
            im.load()
        partial = True
    im = ImageOps.exif_transpose(im) or im
    im = _to_rgb(im)
    # Formats without draft (PNG, TIFF, WebP...): box-reduce big pictures before the model's bicubic resize.
    factor = min(im.size) // (2 * min_side)
    if factor >= 2:
        im = im.reduce(factor)
    return DecodedImage(image=im, partial=partial, original_size=original_size)
