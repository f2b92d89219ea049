"""Double-click preview: the picture at screen resolution (or the note's text), and Reveal in file manager."""

from __future__ import annotations

from pathlib import Path

from PIL.ImageQt import ImageQt
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from desktop_app.core.errors import UnreadableFile
from desktop_app.core.ingest.images import load_image
from desktop_app.core.ingest.texts import read_text


def reveal_in_file_manager(path: str) -> None:
    """Open the folder that holds ``path`` (the file managers' common denominator)."""
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))


class PreviewDialog(QDialog):
    def __init__(self, path: str, kind: str, group: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{Path(path).name} — {group}")
        layout = QVBoxLayout(self)
        screen = self.screen().availableGeometry() if self.screen() else None
        max_w = int(screen.width() * 0.8) if screen else 1200
        max_h = int(screen.height() * 0.75) if screen else 800
        if kind == "text":
            view = QPlainTextEdit(self)
            view.setReadOnly(True)
            try:
                view.setPlainText(read_text(Path(path)).text)
            except UnreadableFile as exc:
                view.setPlainText(exc.user_message)
            view.setMinimumSize(520, 380)
            layout.addWidget(view)
        else:
            label = QLabel(self)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            try:
                ratio = self.devicePixelRatioF()
                picture = load_image(Path(path), min_side=int(min(max_w, max_h) * ratio)).image
                picture.thumbnail((int(max_w * ratio), int(max_h * ratio)))
                pm = QPixmap.fromImage(ImageQt(picture))
                pm.setDevicePixelRatio(ratio)
                label.setPixmap(pm)
            except UnreadableFile as exc:
                label.setText(exc.user_message)
            layout.addWidget(label)
        caption = QLabel(path, self)
        caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(caption)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        reveal = buttons.addButton("Reveal in File Manager", QDialogButtonBox.ButtonRole.ActionRole)
        reveal.clicked.connect(lambda: reveal_in_file_manager(path))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
