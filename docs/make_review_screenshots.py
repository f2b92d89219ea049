"""Make docs/images/grid.png, loupe.png and compare.png with the app itself: a holiday library (near-duplicates,
bursts with EXIF, a few shapes) analysed with the tiny test model, some pictures rated, picked and labelled, then
the Grid, Loupe and Compare views as a photographer would open them.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_review_screenshots.py
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
sys.path.insert(0, str(ROOT / "docs"))


def wait(app, window, seconds: float = 1.0) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    while window.busy():
        app.processEvents()


def save(window, name: str) -> None:
    out = ROOT / "docs" / "images" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out))
    print(f"wrote {out}")


def main() -> None:
    from near_dups import blurred, near_duplicate_library, save_photo
    from screenshot_window import analysed_window
    from shapes import draw_shape

    lib = Path(tempfile.mkdtemp()) / "Holiday"
    near_duplicate_library(lib / "copies")
    for k, (colour, shape) in enumerate([("yellow", "circle"), ("green", "square")]):  # bursts of four shots
        base = draw_shape(colour, shape, "large", 640, random.Random(50 + k))
        for n in range(4):
            img = blurred(base, 1.5) if n in (1, 3) else base
            save_photo(img, lib / "burst" / f"IMG_{k}{n}.jpg", taken=f"2026:06:14 15:0{2 + k}:07", subsec=f"{n * 2}0")
    rng = random.Random(7)
    for n in range(18):
        colour, shape = rng.choice([("red", "circle"), ("blue", "triangle"), ("purple", "square")])
        save_photo(draw_shape(colour, shape, rng.choice(["large", "small"]), 480, rng),
                   lib / "day" / f"DSC_{n:03d}.jpg",
                   taken=f"2026:06:15 10:{n:02d}:00")
    app, window = analysed_window(lib)
    paths = window.result.paths
    rows = {Path(p).name: i for i, p in enumerate(paths)}
    day = sorted(r for name, r in rows.items() if name.startswith("DSC_"))
    window.state.rate(day[:6], 4)
    window.state.rate(day[6:9], 2)
    window.state.flag(day[:3], "pick")
    window.state.flag(day[9:11], "reject")
    window.state.label(day[2:5], "Green")
    window.state.set_selection(day[:2])

    window.show_view("grid")
    window.grid.set_thumbnail_size(150)
    wait(app, window, 2.0)
    save(window, "grid.png")

    window.state.set_current(day[0])
    window.show_view("loupe")
    wait(app, window, 2.0)
    save(window, "loupe.png")

    window.show_view("compare")  # finds the sets first
    wait(app, window, 0.5)
    sets = window.result.similar_sets or []
    burst = next((i for i, s in enumerate(sets) if s.kind == "burst"), 0)
    window.compare.show_set(burst)
    wait(app, window, 2.0)
    save(window, "compare.png")
    window.close()


if __name__ == "__main__":
    main()
