"""When, with what and where a photo was taken, from its EXIF header (Pillow reads only the header).

Times are the camera's wall clock (``DateTimeOriginal`` + ``SubsecTimeOriginal``), kept as seconds on a
naive clock: bursts compare shots of one camera, events compare gaps, and neither needs time zones.
RAW files: Pillow reads the EXIF of TIFF-based ones (DNG, NEF, CR2, ARW…); for the others (CR3, RAF…), or when
that gives no time, the EXIF header LibRaw writes into the RAW's JPEG preview (capture time, make, model) is
used. A file without either simply has no metadata.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from desktop_app.core.ingest.images import raw_preview_jpeg
from desktop_app.core.ingest.items import RAW_EXTENSIONS

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _SUBSEC_ORIGINAL, _DATETIME = 36867, 37521, 306
_MAKE, _MODEL, _BODY_SERIAL = 271, 272, 42033


@dataclass(frozen=True)
class PhotoMeta:
    """``taken``: seconds on the camera's clock (None: unknown); ``camera``: make, model and body serial."""

    taken: float | None = None
    camera: str | None = None
    lat: float | None = None
    lon: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("taken", self.taken), ("camera", self.camera), ("lat", self.lat),
                                  ("lon", self.lon)) if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PhotoMeta:
        data = data or {}
        return cls(data.get("taken"), data.get("camera"), data.get("lat"), data.get("lon"))


def parse_exif_time(text: Any, subsec: Any = None) -> float | None:
    """``"2026:06:14 15:02:07"`` (+ ``"25"`` hundredths) → seconds; None for blank or malformed values, and for
    ``1970:01:01 00:00:00``, which LibRaw writes when a RAW has no time."""
    if not isinstance(text, str) or text.startswith("1970:01:01 00:00:00"):
        return None
    try:
        when = dt.datetime.strptime(text.strip()[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    seconds = when.replace(tzinfo=dt.UTC).timestamp()
    digits = str(subsec).strip() if subsec is not None else ""
    if digits.isdigit():
        seconds += int(digits) / 10 ** len(digits)
    return seconds


def format_time(seconds: float) -> str:
    """The camera-clock time as ``2026-06-14 15:02:07``."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    sign = -1.0 if str(ref).upper() in ("S", "W") else 1.0
    return sign * (d + m / 60 + s / 3600)


def read_meta(path: str | Path) -> PhotoMeta:
    """The EXIF time, camera and GPS position of one image; an empty ``PhotoMeta`` for anything unreadable."""
    meta = _meta_from(lambda: Image.open(path))
    if meta.taken is None and Path(path).suffix.lower() in RAW_EXTENSIONS:
        preview = raw_preview_jpeg(Path(path))
        if preview is not None:
            from_preview = _meta_from(lambda: Image.open(io.BytesIO(preview)))
            if from_preview.taken is not None:
                return from_preview
    return meta


def _meta_from(open_: Callable[[], Image.Image]) -> PhotoMeta:
    try:
        with open_() as im:
            exif = im.getexif()
            sub = exif.get_ifd(_EXIF_IFD)
            gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # noqa: BLE001 — any decoder failure just means "no metadata"
        return PhotoMeta()
    taken = parse_exif_time(sub.get(_DATETIME_ORIGINAL), sub.get(_SUBSEC_ORIGINAL)) \
        or parse_exif_time(exif.get(_DATETIME))
    parts = [str(p).strip("\x00 ") for p in (exif.get(_MAKE), exif.get(_MODEL), sub.get(_BODY_SERIAL)) if p]
    lat = _degrees(gps.get(2), gps.get(1)) if gps else None
    lon = _degrees(gps.get(4), gps.get(3)) if gps else None
    if lat is None or lon is None or (lat == 0 and lon == 0):
        lat = lon = None
    return PhotoMeta(taken, " ".join(p for p in parts if p) or None, lat, lon)


def read_all(paths: Sequence[str | Path], workers: int = 4) -> list[PhotoMeta]:
    """``read_meta`` for many files, a few at a time (the work is mostly waiting for the disk)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(read_meta, paths, chunksize=64))
