"""The loupe's information panel as text: what a photographer reads off a picture's EXIF (camera, lens, exposure,
capture time, GPS) plus its pixel and file size.

Pillow reads only the header (no decode), so this is cheap enough to call for every picture shown. Fields the
file does not carry are left out; a damaged file gives what could be read and an ``error`` line, never an
exception.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import Image

from desktop_app.core.metadata.photo_meta import format_time, parse_exif_time

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_MAKE, _MODEL, _DATETIME, _ORIENTATION = 271, 272, 306, 274
_EXPOSURE_TIME, _F_NUMBER, _ISO, _DATETIME_ORIGINAL, _SUBSEC_ORIGINAL = 33434, 33437, 34855, 36867, 37521
_FOCAL_LENGTH, _FOCAL_35, _LENS_MAKE, _LENS_MODEL = 37386, 41989, 42035, 42036
_EXPOSURE_BIAS = 37380

# The order the panel lists them in.
FIELDS = ("File", "Folder", "File size", "Pixels", "Camera", "Lens", "Exposure", "Shutter", "Aperture", "ISO",
          "Focal length", "Taken", "GPS")


def human_size(n: int) -> str:
    """``3.4 MB`` (decimal units, as file managers show them)."""
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover


def _number(value: Any) -> float | None:
    """An EXIF rational / int / tuple as a float (None: missing, zero-denominator or garbage)."""
    try:
        if isinstance(value, tuple) and len(value) == 2:
            value = value[0] / value[1]
        x = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x if math.isfinite(x) else None


def shutter_text(seconds: float) -> str:
    """``1/250 s`` below half a second (how cameras show it), ``0.6 s`` / ``30 s`` above."""
    if seconds <= 0:
        return ""
    if seconds < 0.5:
        return f"1/{round(1 / seconds)} s"
    return f"{seconds:g} s" if seconds >= 10 else f"{round(seconds, 1):g} s"


def _clean(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip("\x00 ").strip() if value is not None else ""


def _gps(gps: dict) -> str | None:
    def degrees(value: Any, ref: Any) -> float | None:
        try:
            d, m, s = (float(v) for v in value)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        return (-1.0 if _clean(ref).upper() in ("S", "W") else 1.0) * (d + m / 60 + s / 3600)

    lat, lon = degrees(gps.get(2), gps.get(1)), degrees(gps.get(4), gps.get(3))
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)) or (lat == 0 and lon == 0):
        return None
    text = f"{lat:.5f}, {lon:.5f}"
    alt = _number(gps.get(6))
    if alt is not None:
        below_sea = gps.get(5) in (1, b"\x01")
        text += f" ({-alt if below_sea else alt:.0f} m)"
    return text


def photo_info(path: str | Path) -> dict[str, str]:
    """Human-readable facts about the picture ``path``, keyed by ``FIELDS`` names (plus ``error`` when the file
    could not be read completely). Never raises."""
    path = Path(path)
    info: dict[str, str] = {"File": path.name, "Folder": str(path.parent)}
    try:
        info["File size"] = human_size(path.stat().st_size)
    except OSError as exc:
        info["error"] = f"cannot read file ({exc.strerror or type(exc).__name__})"
        return info
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possibly corrupt EXIF" chatter
            with Image.open(path) as im:
                w, h = im.size
                exif = im.getexif()
                sub = exif.get_ifd(_EXIF_IFD)
                gps = exif.get_ifd(_GPS_IFD)
    except Exception as exc:  # noqa: BLE001 - any decoder failure: say so, keep what we have
        info["error"] = f"not a picture Pillow can read ({type(exc).__name__})"
        return info
    if exif.get(_ORIENTATION) in (5, 6, 7, 8):
        w, h = h, w  # what the viewer shows is upright
    info["Pixels"] = f"{w} × {h} ({w * h / 1e6:.1f} MP)"
    try:
        _exif_fields(info, exif, sub, gps)
    except Exception as exc:  # noqa: BLE001 - a malformed tag must not hide the rest of the panel
        info["error"] = f"damaged EXIF ({type(exc).__name__})"
    return {k: v for k, v in info.items() if v}


def _exif_fields(info: dict[str, str], exif: Any, sub: dict, gps: dict) -> None:
    make, model = _clean(exif.get(_MAKE)), _clean(exif.get(_MODEL))
    # Many models already start with the make ("Canon EOS R5"); don't say it twice.
    info["Camera"] = model if make and model.lower().startswith(make.split()[0].lower()) else f"{make} {model}".strip()
    lens = _clean(sub.get(_LENS_MODEL))
    lens_make = _clean(sub.get(_LENS_MAKE))
    if lens and lens_make and not lens.lower().startswith(lens_make.split()[0].lower()):
        lens = f"{lens_make} {lens}"
    info["Lens"] = lens
    parts = []
    shutter = _number(sub.get(_EXPOSURE_TIME))
    if shutter:
        info["Shutter"] = shutter_text(shutter)
        parts.append(info["Shutter"])
    f_number = _number(sub.get(_F_NUMBER))
    if f_number:
        info["Aperture"] = f"f/{f_number:.1f}".replace(".0", "") if f_number < 10 else f"f/{f_number:.0f}"
        parts.append(info["Aperture"])
    iso = sub.get(_ISO)
    if isinstance(iso, tuple):
        iso = iso[0] if iso else None
    if _number(iso):
        info["ISO"] = f"ISO {int(_number(iso))}"
        parts.append(info["ISO"])
    focal = _number(sub.get(_FOCAL_LENGTH))
    if focal:
        info["Focal length"] = f"{focal:g} mm" if focal == int(focal) else f"{focal:.1f} mm"
        f35 = _number(sub.get(_FOCAL_35))
        if f35 and round(f35) != round(focal):
            info["Focal length"] += f" ({f35:g} mm equiv.)"
        parts.append(info["Focal length"].split(" (")[0])
    bias = _number(sub.get(_EXPOSURE_BIAS))
    if bias:
        parts.append(f"{Fraction(bias).limit_denominator(3)} EV".replace("-", "−") if bias < 0
                     else f"+{Fraction(bias).limit_denominator(3)} EV")
    info["Exposure"] = " · ".join(parts)
    taken = parse_exif_time(_clean(sub.get(_DATETIME_ORIGINAL)) or None, sub.get(_SUBSEC_ORIGINAL)) \
        or parse_exif_time(_clean(exif.get(_DATETIME)) or None)
    if taken is not None:
        info["Taken"] = format_time(taken)
    if gps:
        info["GPS"] = _gps(gps) or ""
