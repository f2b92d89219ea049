"""The map area before there is a map: "Drop folders here" with a button — and, while the first analysis runs, what
it is doing, with a progress bar, instead of the invitation."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

EMPTY_TITLE = "Drop folders here, or Add Folder…"
EMPTY_HINT = ("PhotoAtlas reads the pictures and notes inside, puts similar ones together on a map, and finds the "
              "groups. Every rating, name and choice is kept as you make it. Nothing leaves this computer.")


class EmptyState(QWidget):
    """``button`` is Add Folder…; ``show_progress`` switches between the invitation and the first analysis."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        self.title = QLabel(EMPTY_TITLE)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        self.title.setFont(font)
        self.hint = QLabel(EMPTY_HINT)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(420)
        self.progress.hide()
        self.button = QPushButton("Add Folder…")
        self.button.setFixedWidth(180)
        layout.addWidget(self.title)
        layout.addWidget(self.hint)
        layout.addSpacing(12)
        layout.addWidget(self.progress, alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.button, alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addStretch(3)

    def show_progress(self, text: str | None, done: int = 0, total: int | None = None) -> None:
        """What the first analysis is doing (None: back to the invitation)."""
        working = text is not None
        self.title.setText("Reading your library…" if working else EMPTY_TITLE)
        self.hint.setText(text if working else EMPTY_HINT)
        self.button.setVisible(not working)
        self.progress.setVisible(working)
        if working:
            self.progress.setRange(0, total or 0)
            if total:
                self.progress.setValue(min(done, total))
