"""Paint time of the map and time to reopen a cached library, offscreen.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/map_render.py

1. 100k points (60 random clusters) in a 1280x800 map; thumbnails for every item in view are pre-loaded
   (real JPEG thumbnails decoded into pixmaps: small and big), then one frame is painted into an offscreen
   image at several zoom levels: everything (dots only), zooms with about 2,000, 500, 100 and 10 items in
   view (thumbnails at <= 600, growing with the zoom), the tidy grids with ~500, ~120 and ~15 in view, and
   ~500 thumbnails forced to 120 px. Each frame is painted without and with the group names (same run).
   Target: <= 33 ms per frame (30 frames per second). `--paint-only` skips part 2.
2. A 10k-item library (small generated JPEGs) analysed once with the tiny test model; then a fresh window
   opens it again (embedding cache, stored map): time from "open" to the drawn map. Target: <= 5 s.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
WORK = ROOT / "benchmarks" / "_work" / "map_render"
TINY = f"local-dir:{ROOT / 'tests' / 'fixtures' / 'tiny-clip'}"


def paint_times() -> list[tuple[str, int, float, float, float]]:
    """(frame, items in view, thumbnail side px, ms without group names, ms with them) per zoom level."""
    import numpy as np
    from PySide6.QtGui import QImage, QPainter, QPixmap
    from PySide6.QtWidgets import QApplication
    from shapes import COLOURS, SHAPES, draw_shape

    from desktop_app.gui import map_view
    from desktop_app.gui.main_window import application
    from desktop_app.gui.map_view import MapView
    from desktop_app.gui.thumbs import ThumbnailService, display_image

    app = application()
    n = 100_000
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=20, size=(60, 2))
    labels = rng.integers(0, 60, n)
    coords = (centres[labels] + rng.normal(size=(n, 2))).astype(np.float32)
    thumbs = ThumbnailService(Path(tempfile.mkdtemp()))
    view = MapView(thumbs)
    view.resize(1280, 800)
    view.show()
    view.set_items(coords, labels, ["image"] * n, [f"/photo/{i}.jpg" for i in range(n)], [None] * n,
                   {i: f"group {i} ({['beach', 'forest', 'city'][i % 3]})" for i in range(60)})
    app.processEvents()
    # Real thumbnail pixmaps, one per item in view, as the loaders would leave them: small ones at the small
    # service's side (from 160-px JPEGs), big ones at the big service's side (from 512-px JPEGs).
    r = random.Random(0)
    small, big = [], []
    for k in range(24):
        img = draw_shape(list(COLOURS)[k % 6], list(SHAPES)[k % 3], "large", 512, r)
        path = WORK / f"thumb-{k}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        img.resize((160, 160)).save(path, quality=85)
        small.append(QPixmap.fromImage(display_image(QImage(str(path)), thumbs.side)))
        img.save(path, quality=85)
        big.append(QPixmap.fromImage(display_image(QImage(str(path)), view.big_thumbnails.side)))

    def frame(label: str, width: float | None, centre: np.ndarray | None = None) -> tuple:
        if width is None:
            view.fit_all()
        else:
            c = coords[labels == 0].mean(axis=0) if centre is None else centre
            view.box.setRange(xRange=(c[0] - width / 2, c[0] + width / 2),
                              yRange=(c[1] - width * 0.31, c[1] + width * 0.31), padding=0)
        app.processEvents()
        shown = view.thumbnail_items()
        if shown is not None:
            for i in shown:
                thumbs._pixmaps[int(i)] = small[int(i) % len(small)]
                view.big_thumbnails._pixmaps[int(i)] = big[int(i) % len(big)]
        image = QImage(view.size(), QImage.Format.Format_ARGB32_Premultiplied)
        times = []
        for names in (False, True):
            view.label_layer.setVisible(names)
            best = float("inf")
            for _ in range(5):
                # As while panning: the names are placed again and the thumbnails' size measured again.
                view._label_key = view._state_key = None
                painter = QPainter(image)
                start = time.perf_counter()
                view.render(painter)
                painter.end()
                best = min(best, time.perf_counter() - start)
            times.append(best * 1000)
        return (label, len(view.visible_items()), view.thumbnail_size(), *times)

    results = [frame("all 100k (dots)", None)]
    for width in (14.0, 6.0, 2.0, 0.9, 0.25):
        results.append(frame(f"zoom width {width}", width))
    # Tidy grids: ~500, ~120 and ~15 thumbnails in view, not overlapping, at the size the zoom gives them.
    view.set_tidy(True)
    x0, y0, x1, y1 = view._tidy.boxes[0]
    middle = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    cell = view._tidy.cell
    for cells in (28, 14, 5):
        results.append(frame(f"tidy, {cells} cells wide", cells * cell, middle))
    # The worst case of grown thumbnails: ~500 in view, all drawn at 120 px (they overlap).
    view.set_tidy(False)
    floor = map_view.THUMB_MIN
    map_view.THUMB_MIN = 120
    view._version += 1
    results.append(frame("zoom 2.0, forced 120 px", 2.0))
    map_view.THUMB_MIN = floor
    view.close()
    view.deleteLater()  # gone before the interpreter shuts down (PySide6 can crash collecting it at exit)
    QApplication.processEvents()
    return results


def reopen_time(n: int = 10_000) -> tuple[float, float]:
    from PySide6.QtWidgets import QApplication
    from shapes import COLOURS, SHAPES, draw_shape

    from desktop_app.core.documents.project import Project
    from desktop_app.core.embedding.pipeline import EmbedSettings, drive, run_analysis
    from desktop_app.gui.main_window import MainWindow, application

    library = WORK / f"library-{n}"
    if not (library / "done").exists():
        shutil.rmtree(library, ignore_errors=True)
        library.mkdir(parents=True)
        r = random.Random(1)
        for i in range(n):
            draw_shape(list(COLOURS)[i % 6], list(SHAPES)[(i // 6) % 3], r.choice(["small", "large"]), 48, r).save(
                library / f"{i:05d}.png")
        (library / "done").write_text("")
    cache = WORK / "cache"
    start = time.perf_counter()
    drive(run_analysis([library], EmbedSettings(model=TINY, cache_dir=cache)))
    first = time.perf_counter() - start
    project = WORK / "library.photoatlas"
    Project(folders=[str(library)], model=TINY).save(project)

    app = application()
    window = MainWindow(model=TINY, cache_dir=cache, interactive_errors=False, library_dir=cache / "libraries")
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    done = []
    window.analysisFinished.connect(lambda: done.append(time.perf_counter()))
    start = time.perf_counter()
    window.open_project(project)
    while not done:
        app.processEvents()
        time.sleep(0.005)
    app.processEvents()  # the map's first paint
    elapsed = time.perf_counter() - start
    window.close()
    QApplication.processEvents()
    return first, elapsed


def main() -> None:
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="pyqtgraph")  # its range casts at startup
    print("Paint one frame of the map, 1280x800, 100k points in 60 groups (best of 5; names placed and thumbnail")
    print("size measured again each frame, as while panning). Target: <= 33 ms per frame with the group names.")
    print(f"  {'frame':26s} {'in view':>8s} {'thumbs':>7s} {'no names':>9s} {'names':>8s}  verdict")
    for label, visible, side, bare, named in paint_times():
        verdict = "met" if named <= 33 else "MISSED"
        mode = f"{side:5.0f}px" if side else "  dots"
        print(f"  {label:26s} {visible:8,d} {mode:>7s} {bare:7.1f} ms {named:5.1f} ms  {verdict} "
              f"(names cost {named - bare:+.1f} ms)")
    if "--paint-only" in sys.argv:
        return
    first, again = reopen_time()
    verdict = "met" if again <= 5 else "MISSED"
    print(f"Open a cached 10k-item project to the drawn map: {again:.2f} s   target <= 5 s: {verdict}  "
          f"(first analysis of the same library: {first:.1f} s)")


if __name__ == "__main__":
    main()
