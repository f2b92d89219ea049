"""The loupe's information panel as text: what a photographer reads off a picture's EXIF (camera, lens, exposure,
capture time, GPS) plus its pixel and file size.

Pillow reads only the header (no decode), so this is cheap enough to call for every picture shown. Fields the
file does not carry are left out; a damaged file gives what could be read and an ``error`` line, never an
exception.
"""

from __future__ import annotations

import os
import warnings
from fractions import Fraction
from pathlib import Path

from PIL import Image

from desktop_app.core.ingest.opening import NotAFile, open_regular
from desktop_app.core.metadata.exif import Exif, read_exif
from desktop_app.core.metadata.photo_meta import format_time

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


def shutter_text(seconds: float) -> str:
    """``1/250 s`` below half a second (how cameras show it), ``0.6 s`` / ``30 s`` above."""
    if seconds <= 0:
        return ""
    if seconds < 0.5:
        return f"1/{round(1 / seconds)} s"
    return f"{seconds:g} s" if seconds >= 10 else f"{round(seconds, 1):g} s"


def photo_info(path: str | Path) -> dict[str, str]:
    """Human-readable facts about the picture ``path``, keyed by ``FIELDS`` names (plus ``error`` when the file
    could not be read completely). Never raises."""
    path = Path(path)
    info: dict[str, str] = {"File": path.name, "Folder": str(path.parent)}
    try:
        f = open_regular(path)  # a named pipe or a device under a picture's name is never read
    except NotAFile as exc:
        info["error"] = exc.reason
        return info
    except OSError as exc:
        info["error"] = f"cannot read file ({exc.strerror or type(exc).__name__})"
        return info
    with f:
        info["File size"] = human_size(os.fstat(f.fileno()).st_size)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "possibly corrupt EXIF" chatter
                with Image.open(f) as im:
                    w, h = im.size
                    try:
                        exif: Exif | None = read_exif(im)
                    except Exception as exc:  # noqa: BLE001 - a malformed header must not hide the rest of the panel
                        exif = None
                        info["error"] = f"damaged EXIF ({type(exc).__name__})"
        except Exception as exc:  # noqa: BLE001 - any decoder failure: say so, keep what we have
            info["error"] = f"not a picture Pillow can read ({type(exc).__name__})"
            return info
    if exif is not None and exif.orientation in (5, 6, 7, 8):
        w, h = h, w  # what the viewer shows is upright
    info["Pixels"] = f"{w} × {h} ({w * h / 1e6:.1f} MP)"
    if exif is not None:
        _exif_fields(info, exif)
    return {k: v for k, v in info.items() if v}


def _exif_fields(info: dict[str, str], exif: Exif) -> None:
    info["Camera"] = exif.camera
    info["Lens"] = exif.lens
    parts = []
    if exif.exposure_time:
        info["Shutter"] = shutter_text(exif.exposure_time)
        parts.append(info["Shutter"])
    f_number = exif.f_number
    if f_number:
        info["Aperture"] = f"f/{f_number:.1f}".replace(".0", "") if f_number < 10 else f"f/{f_number:.0f}"
        parts.append(info["Aperture"])
    if exif.iso:
        info["ISO"] = f"ISO {int(exif.iso)}"
        parts.append(info["ISO"])
    focal = exif.focal_length
    if focal:
        info["Focal length"] = f"{focal:g} mm" if focal == int(focal) else f"{focal:.1f} mm"
        if exif.focal_35 and round(exif.focal_35) != round(focal):
            info["Focal length"] += f" ({exif.focal_35:g} mm equiv.)"
        parts.append(info["Focal length"].split(" (")[0])
    bias = exif.exposure_bias
    if bias:
        parts.append(f"{Fraction(bias).limit_denominator(3)} EV".replace("-", "−") if bias < 0
                     else f"+{Fraction(bias).limit_denominator(3)} EV")
    info["Exposure"] = " · ".join(parts)
    if exif.taken is not None:
        info["Taken"] = format_time(exif.taken)
    if exif.lat is not None and exif.lon is not None:
        info["GPS"] = f"{exif.lat:.5f}, {exif.lon:.5f}" + (
            f" ({exif.altitude:.0f} m)" if exif.altitude is not None else "")
