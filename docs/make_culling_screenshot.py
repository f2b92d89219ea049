"""Make docs/images/culling.png with the app itself: a library of near-duplicates and bursts, analysed with
the tiny test model, duplicates found and collapsed to their best frames.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_culling_screenshot.py
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))


def main() -> None:
    from near_dups import blurred, near_duplicate_library, save_photo
    from PySide6.QtCore import QEventLoop, QTimer
    from shapes import draw_shape

    from desktop_app.gui.app import save_screenshot
    from desktop_app.gui.main_window import MainWindow, application

    lib = Path(tempfile.mkdtemp()) / "Holiday"
    near_duplicate_library(lib / "copies")
    for k, (colour, shape) in enumerate([("yellow", "circle"), ("green", "square")]):  # bursts of three shots
        base = draw_shape(colour, shape, "large", 320, random.Random(50 + k))
        for n in range(3):
            img = blurred(base, 1.2) if n == 1 else base  # one of them slightly out of focus
            save_photo(img, lib / "burst" / f"IMG_{k}{n}.jpg", taken=f"2026:06:14 15:0{2 + k}:07", subsec=f"{n * 3}0")
    app = application()
    window = MainWindow(model=f"local-dir:{ROOT / 'tests' / 'fixtures' / 'tiny-clip'}",
                        cache_dir=Path(tempfile.mkdtemp()), interactive_errors=False, remember_layout=False)
    window.resize(1400, 860)
    window.show()
    loop = QEventLoop()
    window.analysisFinished.connect(loop.quit)
    window.add_paths([str(lib)], analyze=True)
    loop.exec()
    window.find_duplicates()
    while window.busy() or window.result.similar_sets is None:
        app.processEvents()
    window.map.fit_all()
    QTimer.singleShot(500, loop.quit)
    loop.exec()
    out = ROOT / "docs" / "images" / "culling.png"
    save_screenshot(window, out)
    print(f"wrote {out}")
    window.close()


if __name__ == "__main__":
    main()
