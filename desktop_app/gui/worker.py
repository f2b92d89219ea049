"""Run one of core's generators on a QThread and turn what it does into Qt signals.

Why not superqt's GeneratorWorker: it treats any RuntimeError raised inside the generator as "the worker
was deleted" and drops it with a warning (torch raises RuntimeError for real failures, which must reach
the user), and on abort it does not close the generator, so the decode pool would run on. This class is
the small part we need: progress (throttled), result, one user-facing error, cancel.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QThread, Signal

from desktop_app.core.errors import Cancelled, ModelUnavailable, PhotoAtlasError
from desktop_app.core.progress import CancelToken, ProgressEvent

MIN_PROGRESS_INTERVAL = 0.05  # s: at most ~20 progress updates a second reach the GUI thread


class PipelineWorker(QThread):
    """``make(cancel_token)`` returns the generator; it runs on this thread, never on the GUI thread."""

    progress = Signal(object)  # ProgressEvent
    succeeded = Signal(object)  # the generator's return value
    failed = Signal(str, str)  # one-line message for the user, details (traceback) to copy
    cancelled = Signal()

    def __init__(self, make: Callable[[CancelToken], Generator[ProgressEvent, None, Any]], parent: Any = None,
                 ) -> None:
        super().__init__(parent)
        self._make = make
        self.token = CancelToken()

    def cancel(self) -> None:
        """Ask the job to stop; it does so at its next check (well under a second)."""
        self.token.cancel()

    def run(self) -> None:  # noqa: D102 (QThread entry point, on the worker thread)
        last = 0.0
        stage = ""
        try:
            gen = self._make(self.token)
            try:
                while True:
                    try:
                        event = next(gen)
                    except StopIteration as stop:
                        self.succeeded.emit(stop.value)
                        return
                    now = time.monotonic()
                    if event.stage != stage or now - last >= MIN_PROGRESS_INTERVAL or event.stage == "warning":
                        self.progress.emit(event)
                        stage, last = event.stage, now
                    if self.token.cancelled:
                        raise Cancelled("cancelled")
            finally:
                gen.close()  # on cancel or error: lets the generator stop its decode pool and close the cache
        except Cancelled:
            self.cancelled.emit()
        except ModelUnavailable as exc:
            self.failed.emit(f"{exc.user_message} In the window: Model ▸ Local Model Folder…", exc.details)
        except PhotoAtlasError as exc:
            self.failed.emit(exc.user_message, exc.details)
        except MemoryError:
            self.failed.emit("PhotoAtlas ran out of memory; try fewer folders at a time", traceback.format_exc())
        except Exception as exc:  # anything unexpected is shown to the user, never swallowed
            self.failed.emit(f"Something went wrong: {type(exc).__name__}: {exc}", traceback.format_exc())
