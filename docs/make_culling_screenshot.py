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
sys.path.insert(0, str(ROOT / "docs"))


def main() -> None:
    from near_dups import blurred, near_duplicate_library, save_photo
    from screenshot_window import analysed_window, settle_and_save
    from shapes import draw_shape

    lib = Path(tempfile.mkdtemp()) / "Holiday"
    near_duplicate_library(lib / "copies")
    for k, (colour, shape) in enumerate([("yellow", "circle"), ("green", "square")]):  # bursts of three shots
        base = draw_shape(colour, shape, "large", 320, random.Random(50 + k))
        for n in range(3):
            img = blurred(base, 1.2) if n == 1 else base  # one of them slightly out of focus
            save_photo(img, lib / "burst" / f"IMG_{k}{n}.jpg", taken=f"2026:06:14 15:0{2 + k}:07", subsec=f"{n * 3}0")
    app, window = analysed_window(lib)
    window.find_duplicates()
    while window.busy() or window.result.similar_sets is None:
        app.processEvents()
    window.map.fit_all()
    settle_and_save(window, "culling.png")


if __name__ == "__main__":
    main()
