"""Where PhotoAtlas's own files are: the concept vocabulary, icons, the sample folder.

From a checkout (and the editable install the README sets up) they are in ``resources/`` at the repository
root; in the frozen app built by ``installer/`` PyInstaller puts the same folder next to the package
(``sys._MEIPASS/resources``), which is the same path relative to this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

_FROZEN = getattr(sys, "_MEIPASS", None)
RESOURCES = Path(_FROZEN) / "resources" if _FROZEN else Path(__file__).resolve().parents[1] / "resources"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def resource(*parts: str) -> Path:
    """A path inside ``resources/`` (it may not exist: callers say what is missing)."""
    return RESOURCES.joinpath(*parts)


def icon_files() -> list[Path]:
    """The app icon's PNGs, small to large (those present)."""
    return [p for p in (resource("icons", f"photoatlas-{s}.png") for s in ICON_SIZES) if p.is_file()]
