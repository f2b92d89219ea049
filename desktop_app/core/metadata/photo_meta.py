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
from desktop_app.core.ingest.opening import open_regular
from desktop_app.core.metadata.exif import parse_exif_time, read_exif  # noqa: F401  (parse_exif_time: re-exported)


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


def format_time(seconds: float) -> str:
    """The camera-clock time as ``2026-06-14 15:02:07``."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def read_meta(path: str | Path) -> PhotoMeta:
    """The EXIF time, camera and GPS position of one image; an empty ``PhotoMeta`` for anything unreadable (and for
    anything that is not a regular file, which is never opened: ``ingest.opening``)."""
    try:
        with open_regular(path) as f:
            meta = _meta_from(lambda: Image.open(f))
    except OSError:
        return PhotoMeta()
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
            exif = read_exif(im)
    except Exception:  # noqa: BLE001 — any decoder failure just means "no metadata"
        return PhotoMeta()
    # The body's serial number tells two bodies of one model apart (two photographers at a wedding: two bursts).
    camera = " ".join(p for p in (exif.camera, exif.body_serial) if p) or None
    return PhotoMeta(exif.taken, camera, exif.lat, exif.lon)


def read_all(paths: Sequence[str | Path], workers: int = 4) -> list[PhotoMeta]:
    """``read_meta`` for many files, a few at a time (the work is mostly waiting for the disk)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(read_meta, paths, chunksize=64))
