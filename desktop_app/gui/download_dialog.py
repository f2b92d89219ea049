"""The dialog shown while the model downloads: megabytes done of the total, time left, and Cancel.

The download runs inside the analysis job (core's pipeline yields ``ProgressEvent("download", bytes done,
bytes total)``); this dialog only shows those events, and its Cancel button cancels the job."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from desktop_app.core.embedding.downloads import Download

# An estimate from the first half second swings wildly (connection set-up, TCP slow start); say so instead.
MIN_ESTIMATE_SECONDS = 0.5


def duration_text(seconds: float) -> str:
    """``"40 s"``, ``"3 min"``, ``"1.5 h"``: a time left as a person reads it."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def hub_host() -> str:
    """Where models come from: huggingface.co, or the mirror named in ``HF_ENDPOINT``."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    return urlparse(constants.ENDPOINT).netloc or "huggingface.co"


class DownloadDialog(QProgressDialog):
    """Window-modal progress for one model download. ``canceled`` fires when the user presses Cancel (or Esc)."""

    def __init__(self, parent: QWidget, model: str) -> None:
        super().__init__(parent)
        self.setWindowTitle("Downloading the model")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        # Shown and hidden by the window as the events come and the job ends, never by QProgressDialog's timers.
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.setCancelButtonText("Cancel")
        self.model = model
        self._first: tuple[float, int] | None = None  # (when, bytes) of the first event: the rate is measured from it
        self.source = f"Downloading {model}\nfrom {hub_host()} into the Hugging Face cache (once)"
        self.setLabelText(f"{self.source}…")
        self.setRange(0, 0)

    def show_bytes(self, done: int, total: int | None, now: float | None = None) -> None:
        """Show ``done`` of ``total`` bytes and, once the rate is known, the time left."""
        now = time.monotonic() if now is None else now
        if self._first is None:
            self._first = (now, done)
        started, done_then = self._first
        elapsed, rate = now - started, 0.0
        if elapsed > 0:
            rate = (done - done_then) / elapsed
        if total:
            amount = f"{megabytes(done)} of {megabytes(total)}"
            if elapsed >= MIN_ESTIMATE_SECONDS and rate > 0:
                left = f"about {duration_text((total - done) / rate)} left ({megabytes(round(rate))}/s)"
            else:
                left = "estimating the time left…"
            # Kilobytes keep the range inside a C int for weights of several gigabytes.
            self.setRange(0, max(1, total // 1024))
            self.setValue(min(done, total) // 1024)
        else:
            amount, left = f"{megabytes(done)} so far", "size not known yet"
            self.setRange(0, 0)
        self.setLabelText(f"{self.source}\n\n{amount} · {left}")


def ask_to_download(parent: QWidget, download: Download) -> bool:
    """Ask whether to download the model (once, with its size and where from); True for Download."""
    size = f"about {download.size_mb} MB" if download.size_mb else "size not known in advance"
    box = QMessageBox(QMessageBox.Icon.Question, "Download the model?",
                      f"The model {download.model} is not on this computer yet.", parent=parent)
    box.setInformativeText(f"Download it once ({size}) from {hub_host()}, repository {download.repo}? It is kept for "
                           "next time.\n\nTo use a model folder you already have instead, choose Not Now and then "
                           "Model ▸ Local Model Folder…")
    download_button = box.addButton("Download", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(box.addButton("Not Now", QMessageBox.ButtonRole.RejectRole))
    box.exec()
    return box.clickedButton() is download_button
