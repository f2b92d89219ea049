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
from desktop_app.core.errors import BadArgument
from desktop_app.gui.main_window import MainWindow, application

SCREENSHOT_SETTLE_MS = 400


def run(paths: list[str], *, model: str | None = None, cache_dir: Path | None = None, offline: bool = False,
        screenshot: Path | None = None, quit_when_done: bool = False, project: Path | None = None) -> int:
    """Show the window (and analyse ``paths``); returns the exit code."""
    if project is not None and quit_when_done:
        try:  # unattended: a project that cannot be read is one line and exit 2, not a window waiting forever
            Project.load(project)
        except BadArgument as exc:
            print(f"photoatlas: error: {exc.user_message}", file=sys.stderr)
            return exc.exit_code
    app = application()
    window = MainWindow(model=model, cache_dir=cache_dir, offline=offline, interactive_errors=not quit_when_done,
                        remember_layout=screenshot is None, ask_before_download=not quit_when_done,
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
    if project is not None:
        window.open_project(project)
    elif paths:
        window.add_paths(paths, analyze=True)
    elif quit_when_done:
        QTimer.singleShot(SCREENSHOT_SETTLE_MS, finish)  # nothing to analyse: the empty window
    return int(app.exec())


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
        window.show_error(f"Something went wrong: {kind.__name__}: {value}", details)
        if quit_when_done:
            QApplication.instance().exit(1)

    sys.excepthook = hook
