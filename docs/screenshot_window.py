"""What the docs' screenshot scripts share: the app's window on a library, analysed with the tiny test model,
and saving it into docs/images/."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def analysed_window(library: Path) -> tuple[Any, Any]:
    """The application and a shown 1400 x 860 main window that has analysed ``library`` (returns when done)."""
    from PySide6.QtCore import QEventLoop

    from desktop_app.gui.main_window import MainWindow, application

    app = application()
    scratch = Path(tempfile.mkdtemp())
    window = MainWindow(model=f"local-dir:{ROOT / 'tests' / 'fixtures' / 'tiny-clip'}", cache_dir=scratch,
                        interactive_errors=False, remember_layout=False, library_dir=scratch / "libraries")
    window.resize(1400, 860)
    window.show()
    loop = QEventLoop()
    window.analysisFinished.connect(loop.quit)
    window.add_paths([str(library)], analyze=True)
    loop.exec()
    return app, window


def settle_and_save(window: Any, name: str, seconds: float = 0.5) -> None:
    """Let thumbnails arrive for ``seconds``, save docs/images/``name`` and close the window."""
    from PySide6.QtCore import QEventLoop, QTimer

    from desktop_app.gui.app import save_screenshot

    loop = QEventLoop()
    for _ in range(max(1, round(seconds / 0.5))):
        QTimer.singleShot(500, loop.quit)
        loop.exec()
    out = ROOT / "docs" / "images" / name
    save_screenshot(window, out)
    print(f"wrote {out}")
    window.close()
