"""The one EXIF reader: what a picture's header says, by Pillow's tag names (``PIL.ExifTags``), as plain values.

    exif = read_exif(image)          # an open PIL image: only the header is read, nothing is decoded
    exif.camera, exif.taken, exif.lat, exif.lon, exif.f_number ...

``photo_meta`` (capture time, camera, place: bursts, events, the filter bar) and ``photo_info`` (the loupe's panel)
both read through it, so a tag is parsed one way everywhere. Values that are missing, malformed or not finite are
None (or "" for text): a damaged header never raises from here.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from PIL import Image
from PIL.ExifTags import GPS, IFD, Base


def parse_exif_time(text: Any, subsec: Any = None) -> float | None:
    """``"2026:06:14 15:02:07"`` (+ ``"25"`` hundredths) → seconds on the camera's clock; None for blank or malformed
    values, and for ``1970:01:01 00:00:00``, which LibRaw writes when a RAW has no time."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str) or text.startswith("1970:01:01 00:00:00"):
        return None
    try:
        when = dt.datetime.strptime(text.strip("\x00 ").strip()[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    seconds = when.replace(tzinfo=dt.UTC).timestamp()
    digits = str(subsec).strip("\x00 ").strip() if subsec is not None else ""
    if digits.isdigit():
        seconds += int(digits) / 10 ** len(digits)
    return seconds


def text(value: Any) -> str:
    """A text tag as a clean string (bytes decoded, NUL padding and spaces stripped)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).replace("\x00", " ").strip() if value is not None else ""


def number(value: Any) -> float | None:
    """A rational, int or (numerator, denominator) tag as a finite float (None: missing, x/0 or garbage)."""
    try:
        if isinstance(value, tuple) and len(value) == 2:
            value = value[0] / value[1]
        elif isinstance(value, tuple) and value:
            value = value[0]
        x = float(value)
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return x if math.isfinite(x) else None


def camera_name(make: str, model: str) -> str:
    """``Canon EOS R5``, not ``Canon Canon EOS R5``: many models already start with the make (or its first word:
    ``NIKON CORPORATION`` + ``NIKON Z 9``)."""
    if make and model and model.lower().startswith(make.split()[0].lower()):
        return model
    return f"{make} {model}".strip()


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    result = (-1.0 if text(ref).upper() in ("S", "W") else 1.0) * (d + m / 60 + s / 3600)
    return result if math.isfinite(result) else None


@dataclass(frozen=True)
class Exif:
    """A picture's EXIF header, parsed (every field optional)."""

    make: str = ""
    model: str = ""
    body_serial: str = ""
    lens_make: str = ""
    lens_model: str = ""
    orientation: int | None = None
    taken: float | None = None  # DateTimeOriginal (+ SubsecTimeOriginal), else DateTime: camera-clock seconds
    exposure_time: float | None = None  # seconds
    f_number: float | None = None
    iso: float | None = None
    focal_length: float | None = None  # mm
    focal_35: float | None = None  # mm, 35 mm equivalent
    exposure_bias: float | None = None  # EV
    lat: float | None = None  # degrees; None also for (0, 0), which cameras write when they have no fix
    lon: float | None = None
    altitude: float | None = None  # metres (negative: below sea level)

    @property
    def camera(self) -> str:
        return camera_name(self.make, self.model)

    @property
    def lens(self) -> str:
        if self.lens_model and self.lens_make and not self.lens_model.lower().startswith(
                self.lens_make.split()[0].lower()):
            return f"{self.lens_make} {self.lens_model}"
        return self.lens_model


def read_exif(image: Image.Image) -> Exif:
    """The EXIF of an open picture (Pillow reads the header when the file is opened; nothing is decoded)."""
    exif = image.getexif()
    sub = exif.get_ifd(IFD.Exif)
    gps = exif.get_ifd(IFD.GPSInfo)
    taken = parse_exif_time(sub.get(Base.DateTimeOriginal), sub.get(Base.SubsecTimeOriginal)) \
        or parse_exif_time(exif.get(Base.DateTime))
    orientation = exif.get(Base.Orientation)
    lat = lon = altitude = None
    if gps:
        lat = _degrees(gps.get(GPS.GPSLatitude), gps.get(GPS.GPSLatitudeRef))
        lon = _degrees(gps.get(GPS.GPSLongitude), gps.get(GPS.GPSLongitudeRef))
        if lat is None or lon is None or (lat == 0 and lon == 0):
            lat = lon = None
        altitude = number(gps.get(GPS.GPSAltitude))
        if altitude is not None and gps.get(GPS.GPSAltitudeRef) in (1, b"\x01"):
            altitude = -altitude
    return Exif(make=text(exif.get(Base.Make)), model=text(exif.get(Base.Model)),
                body_serial=text(sub.get(Base.BodySerialNumber)), lens_make=text(sub.get(Base.LensMake)),
                lens_model=text(sub.get(Base.LensModel)),
                orientation=orientation if isinstance(orientation, int) else None, taken=taken,
                exposure_time=number(sub.get(Base.ExposureTime)), f_number=number(sub.get(Base.FNumber)),
                iso=number(sub.get(Base.ISOSpeedRatings)), focal_length=number(sub.get(Base.FocalLength)),
                focal_35=number(sub.get(Base.FocalLengthIn35mmFilm)),
                exposure_bias=number(sub.get(Base.ExposureBiasValue)), lat=lat, lon=lon, altitude=altitude)
