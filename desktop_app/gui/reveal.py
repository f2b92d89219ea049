"""Reveal in File Manager (the loupe shows a picture large; a double-click opens it there)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices


def reveal_in_file_manager(path: str) -> None:
    """Open the folder that holds ``path`` (the file managers' common denominator)."""
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))
