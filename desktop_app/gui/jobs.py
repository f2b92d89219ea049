"""The window's side of the library's jobs: one at a time on a worker thread (``PipelineWorker``), with the running
stage, its progress and the time left in the status bar, the download dialog while a model downloads, and the
outcome handled on the GUI thread once the worker's thread has really ended.

A ``Job`` (``core.library.jobs``) is a generator and a ``finish``; this runner iterates the generator on the worker
thread and calls ``finish`` (which swaps the job's new objects into the library) here, on the GUI thread, then the
caller's own ``done``. Nothing a worker does touches a widget or the library.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QWidget

from desktop_app.core.filenames import printable
from desktop_app.core.library.jobs import Job
from desktop_app.core.progress import ProgressEvent, StageTimes
from desktop_app.gui.download_dialog import DownloadDialog, duration_text
from desktop_app.gui.worker import PipelineWorker

STAGE_LABELS = {"scan": "Looking for pictures and notes", "download": "Downloading the model",
                "load-model": "Loading the model", "embed": "Reading pictures and notes", "layout": "Drawing the map",
                "name": "Naming groups", "cluster": "Finding groups", "search": "Searching", "export": "Exporting",
                "undo": "Undoing the export", "marks": "Reading ratings", "metadata": "Reading dates and cameras",
                "duplicates": "Comparing pictures", "quality": "Measuring sharpness", "done": "Done"}


class JobRunner(QObject):
    """Runs jobs for ``parent`` (the window). Signals, all after the worker's thread has ended:

    * ``succeeded(object)`` — the value ``finish`` returned (the window updates its views from the library);
    * ``failed(str, str)`` — one line for the user, and the details (a traceback) to copy;
    * ``cancelled()``;
    * ``progressText(str, int, object)`` — what is going on, done and total (None: unknown), once a second too;
    * ``ended()`` — after any outcome (the window enables its actions again).
    """

    succeeded = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    progressText = Signal(str, int, object)
    ended = Signal()

    def __init__(self, parent: QWidget, stage_label: QLabel, progress: QProgressBar, stage_times: StageTimes) -> None:
        super().__init__(parent)
        self._window = parent
        self.stage_label = stage_label
        self.progress = progress
        self.stage_times = stage_times
        self.worker: PipelineWorker | None = None
        self.closing = False
        self.model_name = ""  # shown in the download dialog
        self.embed_span: list[float] = []  # when the "embed" stage began and ended: the speed the Model menu shows
        self.download_dialog: DownloadDialog | None = None
        self._outcome: Callable[[], None] | None = None
        self._stage_started: tuple[str | None, float] = (None, 0.0)
        self._last_event: ProgressEvent | None = None
        self.job_items = 0
        # The running stage's time left is refreshed every second, also while it reports nothing (drawing the map).
        self._timer = QTimer(self, interval=1000)
        self._timer.timeout.connect(self._show_progress)

    def busy(self) -> bool:
        """A job is running or its thread has not yet been wound up (one job at a time)."""
        return self.worker is not None

    def start(self, job: Job[Any], done: Callable[[Any], None] | None = None, items: int = 0) -> bool:
        """Run ``job``; on success ``job.finish(value)`` then ``done(its return)``, on the GUI thread. False when
        another job runs (or the window is closing)."""
        if self.closing or self.busy():
            return False
        worker = PipelineWorker(job.run, self)
        worker.progress.connect(self._progress)

        def on_success(value: Any) -> None:
            outcome = job.finish(value)
            if done is not None:
                done(outcome)
            self.succeeded.emit(outcome)

        worker.succeeded.connect(lambda value: self._set_outcome(lambda: on_success(value)))
        worker.failed.connect(lambda message, details: self._set_outcome(lambda: self.failed.emit(message, details)))
        worker.cancelled.connect(lambda: self._set_outcome(self.cancelled.emit))
        worker.finished.connect(lambda: self._worker_finished(worker))
        self.worker = worker
        self.embed_span = []
        self._stage_started = (None, time.monotonic())
        self._last_event = None
        self.job_items = items
        self._timer.start()
        self.stage_label.setText(f"{job.title}…")
        self.progress.setRange(0, 0)
        self.progress.show()
        worker.start()
        return True

    def cancel(self) -> None:
        """Ask the running job to stop (at its next check: well under a second)."""
        if self.worker is not None:
            self.worker.cancel()
            self.stage_label.setText("Cancelling…")

    def shut_down(self) -> None:
        """The window closes: cancel, and wait until the job's thread has really ended (no time limit after which
        a thread still writing the cache or moving files would be abandoned)."""
        self.closing = True
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()

    def _set_outcome(self, handler: Callable[[], None]) -> None:
        self._outcome = handler

    def _worker_finished(self, worker: PipelineWorker) -> None:
        if self.worker is worker:
            self._stage_finished(time.monotonic())
            self._stage_started = (None, time.monotonic())
            self._timer.stop()
            self.worker = None
        worker.deleteLater()
        self._close_download_dialog()
        self.progress.hide()
        handler, self._outcome = self._outcome, None
        try:
            if handler is not None and not self.closing:
                handler()  # a handler may start the next job: it finds the runner idle
        finally:
            self.ended.emit()

    # -- progress ----------------------------------------------------------------------------------
    def _progress(self, event: ProgressEvent) -> None:
        if event.stage == "warning":
            self._window.statusBar().showMessage(printable(event.message), 8000)  # type: ignore[attr-defined]
            return
        now = time.monotonic()
        if self._stage_started[0] != event.stage:
            self._stage_finished(now)
            self._stage_started = (event.stage, now)
            if event.stage == "embed" or len(self.embed_span) == 1:
                self.embed_span.append(now)
        if event.stage == "scan" and event.total:
            self.job_items = event.total
        if event.stage == "download":
            self._show_download(event, now)
        elif self.download_dialog is not None:
            self._close_download_dialog()  # the weights are here; the job goes on
        self._last_event = event
        self._show_progress(now)

    def _stage_finished(self, now: float) -> None:
        """Learn how long the stage that just ended took here (the next job's ETA for it)."""
        stage, started = self._stage_started
        if stage is not None and stage not in ("download", "done", "warning"):
            self.stage_times.learn(stage, now - started, self.job_items)

    def _show_progress(self, now: float | None = None) -> None:
        """The running stage, its progress and the time left: from its own steps when it has them (after two
        seconds), else from how long it took per item before on this computer. Refreshed every second."""
        event = self._last_event
        if event is None or not self.busy():
            return
        now = time.monotonic() if now is None else now
        label = STAGE_LABELS.get(event.stage, event.stage)
        said = event.message and event.message.lower() not in label.lower()
        text = f"{label}: {printable(event.message)}" if said else label
        elapsed = now - self._stage_started[1]
        remaining = None
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(min(event.done, event.total))
            if 0 < event.done < event.total and elapsed > 2 and event.total > 2:
                remaining = elapsed / event.done * (event.total - event.done)
            self.progress.setFormat(f"{event.done:,} / {event.total:,}" if event.stage != "download" else "%p%")
        else:
            self.progress.setRange(0, 0)
        if remaining is None and event.stage != "download":
            remaining = self.stage_times.remaining(event.stage, self.job_items, elapsed)
        if remaining is not None:
            text += f" — about {duration_text(remaining)} left"
        self.stage_label.setText(text)
        if event.stage != "download":
            self.progressText.emit(text, event.done, event.total)

    def _show_download(self, event: ProgressEvent, now: float) -> None:
        """The download dialog (bytes, time left, Cancel) for as long as the job downloads the model."""
        if self.download_dialog is None:
            self.download_dialog = DownloadDialog(self._window, self.model_name or "the model")
            self.download_dialog.canceled.connect(self.cancel)
            self.download_dialog.show()
        self.download_dialog.show_bytes(event.done, event.total, now)

    def _close_download_dialog(self) -> None:
        dialog, self.download_dialog = self.download_dialog, None
        if dialog is not None:
            dialog.canceled.disconnect(self.cancel)
            dialog.reset()  # hides it and stops QProgressDialog's own show timer
            dialog.deleteLater()
