"""Start the desktop app: ``photoatlas``, ``photoatlas gui [PATH...]``, ``python -m desktop_app``.

Only Qt is imported here; torch, open_clip, umap and friends load inside the worker thread when the first
job needs them, so the window is up in about a second.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.core.documents.project import Project
from desktop_app.core.errors import PhotoAtlasError
from desktop_app.core.library.library import Library
from desktop_app.gui.main_window import MainWindow, application

SCREENSHOT_SETTLE_MS = 400


def run(paths: list[str], *, model: str | None = None, cache_dir: Path | None = None, offline: bool = False,
        screenshot: Path | None = None, quit_when_done: bool = False, project: Path | None = None,
        library: Path | None = None, library_dir: Path | None = None) -> int:
    """Show the window; returns the exit code. What it shows: ``library`` (a catalogue), else a library made from
    ``project``, else the library of ``paths`` (found again, or started), else the library open last time."""
    try:  # unattended or not: a file that cannot be read is one line and exit 2, not a window waiting forever
        if project is not None:
            Project.load(project)
        opened = Library.open(library) if library is not None else None
    except PhotoAtlasError as exc:
        print(f"photoatlas: error: {exc.user_message}", file=sys.stderr)
        return exc.exit_code
    app = application()
    window = MainWindow(opened, model=model, cache_dir=cache_dir, offline=offline,
                        interactive_errors=not quit_when_done, remember_layout=screenshot is None,
                        ask_before_download=not quit_when_done, library_dir=library_dir,
                        warm_start=os.environ.get("PHOTOATLAS_WARM_START", "1") != "0")  # 0: benchmarks' baseline
    _install_excepthook(window, quit_when_done)
    window.show()

    def finish(code: int = 0) -> None:
        if screenshot is not None:
            save_screenshot(window, screenshot)
        if quit_when_done:
            window.close()
            app.exit(code)

    if screenshot is not None or quit_when_done:
        window.analysisFinished.connect(lambda: QTimer.singleShot(SCREENSHOT_SETTLE_MS, finish))
        window.jobFailed.connect(lambda _m: finish(1))
    if opened is not None:
        window.analyze()
    elif project is not None:
        window.open_project(project)
    elif paths:
        window.add_paths(paths, analyze=True)
    elif not (screenshot or quit_when_done) and _last_library(window) is not None:
        window.open_library(_last_library(window))  # like Lightroom: the library the user left
    elif quit_when_done:
        QTimer.singleShot(SCREENSHOT_SETTLE_MS, finish)  # nothing to analyse: the empty window
    return int(app.exec())


def _last_library(window: MainWindow) -> Path | None:
    last = window.settings.value("last/library", "")
    return Path(last) if isinstance(last, str) and last and Path(last).is_file() else None


def save_screenshot(window: MainWindow, path: Path) -> None:
    """Let visible thumbnails arrive, then save the whole window as a PNG."""
    # The small thumbnails, then the large ones a zoomed-in map asks for once the small ones are drawn.
    for _ in range(2):
        window.thumbnails.wait(20000)
        QApplication.processEvents()
        window.map.big_thumbnails.wait(20000)
        QApplication.processEvents()
    window.map.thumb_layer.update()
    QApplication.processEvents()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path)):
        print(f"photoatlas: error: could not write the screenshot {path}", file=sys.stderr)


def _install_excepthook(window: MainWindow, quit_when_done: bool) -> None:
    """An exception in a slot on the GUI thread becomes one message (details copyable), never a crash."""

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        details = "".join(traceback.format_exception(kind, value, tb))
        print(details, file=sys.stderr)
        if isinstance(value, PhotoAtlasError):  # e.g. a full disk refused a decision: the user's words, not ours
            window.show_error(value.user_message, details)
        else:
            window.show_error(f"Something went wrong: {kind.__name__}: {value}", details)
        if quit_when_done:
            QApplication.instance().exit(1)

    sys.excepthook = hook
