"""The Duplicates & Bursts panel: one row per set with its best frame and the scores that chose it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from desktop_app.core.filenames import printable
from desktop_app.core.review.duplicates import SimilarSet
from desktop_app.gui.tooltips import plain_tip


def describe(s: SimilarSet, paths: list[str]) -> str:
    """``Burst of 5 · best: IMG_0003.jpg (your pick)``."""
    what = "Burst" if s.kind == "burst" else "Near-duplicates"
    pick = " (your pick)" if s.chosen_by == "user" else ""
    return f"{what} of {len(s.members)} · best: {printable(Path(paths[s.best]).name)}{pick}"


def scores_tip(s: SimilarSet, paths: list[str]) -> str:
    """Every member's measured qualities, best first — why the best frame is the best."""
    rows = sorted(zip(s.members, s.qualities), key=lambda mq: (mq[0] != s.best, -mq[1].score))
    lines = []
    for member, q in rows:
        mark = "★ " if member == s.best else "   "
        detail = (f"sharpness {q.sharpness:.0f}, clipped {100 * (q.highlights + q.shadows):.1f} %, "
                  f"{q.megapixels:.1f} MP" if q.readable else "unreadable")
        lines.append(f"{mark}{printable(Path(paths[member]).name)}: {detail}")
    return "\n".join(lines)


class CullingPanel(QWidget):
    """``setActivated(index)``: the user picked a set (select its members on the map)."""

    setActivated = Signal(int)
    HINT = "Cull > Find Duplicates & Bursts looks for near-identical shots and bursts."

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.summary = QLabel(self.HINT)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)  # it quotes file names: text, never markup
        self.summary.setWordWrap(True)
        self.list = QListWidget()
        self.list.itemClicked.connect(lambda row: self.setActivated.emit(row.data(Qt.ItemDataRole.UserRole)))
        self.list.itemActivated.connect(lambda row: self.setActivated.emit(row.data(Qt.ItemDataRole.UserRole)))
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)

    def clear(self) -> None:
        """A new library or analysis: the sets found before no longer apply."""
        self.list.clear()
        self.summary.setText(self.HINT)

    def show_sets(self, sets: list[SimilarSet], paths: list[str]) -> None:
        self.list.clear()
        extra = sum(len(s.members) - 1 for s in sets)
        bursts = sum(s.kind == "burst" for s in sets)
        self.summary.setText(f"{len(sets)} sets ({bursts} bursts): keeping the best frames leaves out {extra} "
                             "pictures. Hover a row for the scores; right-click a picture on the map to make "
                             "it the best frame.")
        for index, s in enumerate(sets):
            row = QListWidgetItem(describe(s, paths))
            row.setData(Qt.ItemDataRole.UserRole, index)
            row.setToolTip(plain_tip(scores_tip(s, paths)))
            self.list.addItem(row)
