"""Loupe: time from → to the next 24 MP picture drawn, with and without the neighbours decoded ahead.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/loupe_next.py

Eight 6000x4000 JPEGs with smooth colour fields and fine noise (about as costly to decode as photos; the ones
embed_throughput.py makes once under benchmarks/_work, git-ignored) are walked with → in a 1600x1000 loupe
(info panel shown):

* with prefetch: as a photographer looks at each picture for a moment, the loupe decodes the neighbours; the
  clock starts at the key press once the next picture's decode has finished;
* without prefetch: every picture is decoded after the key press.

The clock stops when the canvas has painted the new picture (a synchronous offscreen paint).
Target: next picture shown in < 100 ms with prefetch.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
N = 8
TARGET_MS = 100.0




def jpegs(n: int = N) -> list[str]:
    """``n`` 24 MP photo-like JPEGs: embed_throughput's (smooth colour fields and fine noise), made once."""
    from embed_throughput import photo_like_jpegs

    return [str(p) for p in photo_like_jpegs(n)]


def wait(app, condition, timeout: float = 60.0) -> None:
    end = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > end:
            raise TimeoutError
        app.processEvents()
        time.sleep(0.001)


def walk(app, loupe, state, prefetch: bool) -> list[float]:
    """ms from → to the next picture painted, for each step through the order."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from desktop_app.gui.loupe import FIT

    loupe.set_state(state, state.paths, ["image"] * len(state.paths))
    loupe.prefetch = prefetch
    loupe.show_row(state.order[0])
    wait(app, lambda: loupe.canvas.painted_row == state.order[0] or (loupe.canvas.repaint(), False)[1])
    times = []
    for nxt in state.order[1:]:
        if prefetch:
            wait(app, lambda n=nxt: n in loupe.cached(FIT))  # the photographer looked long enough
        else:
            wait(app, lambda: not loupe._pending)
        t0 = time.perf_counter()
        QTest.keyClick(loupe, Qt.Key.Key_Right)
        wait(app, lambda n=nxt: (loupe.canvas.repaint(), loupe.canvas.painted_row == n)[1])
        times.append((time.perf_counter() - t0) * 1000)
    loupe.pool.waitForDone(-1)
    return times


def main() -> None:
    from PySide6.QtCore import QSize

    from desktop_app.core.library.state import LibraryState
    from desktop_app.gui.loupe import LoupeView, _Decode
    from desktop_app.gui.main_window import application

    app = application()
    t0 = time.perf_counter()
    paths = jpegs()
    made = time.perf_counter() - t0
    state = LibraryState(paths)
    state.set_order(range(len(paths)))
    loupe = LoupeView()
    loupe.resize(1600, 1000)
    loupe.show()
    app.processEvents()
    box = loupe.fit_box()
    # One decode on its own, for scale (what prefetch hides).
    loupe._wanted = {(0, "fit")}
    t0 = time.perf_counter()
    _Decode(loupe, -1, 0, "fit", paths[0], QSize(box)).run()
    decode_ms = (time.perf_counter() - t0) * 1000
    loupe._wanted = {(0, "full")}
    t0 = time.perf_counter()
    _Decode(loupe, -1, 0, "full", paths[0], QSize(box)).run()
    full_ms = (time.perf_counter() - t0) * 1000
    loupe._wanted = set()

    without = walk(app, loupe, state, prefetch=False)
    with_ = walk(app, loupe, state, prefetch=True)
    med_without, med_with = statistics.median(without), statistics.median(with_)
    print(f"{len(paths)} JPEGs of 6000x4000 ({os.path.getsize(paths[0]) / 1e6:.1f} MB each; made in {made:.1f} s), "
          f"loupe {loupe.width()}x{loupe.height()}, pictures decoded for a {box.width()}x{box.height()} px view")
    print(f"one fit decode (load_image + scale, worker thread code run inline): {decode_ms:.0f} ms; "
          f"the full 24 MP for 100 % (Z): {full_ms:.0f} ms")
    print(f"→ to next picture drawn, without prefetch: median {med_without:.0f} ms, max {max(without):.0f} ms")
    print(f"→ to next picture drawn, with prefetch:    median {med_with:.1f} ms, max {max(with_):.1f} ms  "
          f"({'meets' if max(with_) < TARGET_MS else 'MISSES'} target < {TARGET_MS:.0f} ms)")
    print(f"ratio without / with prefetch: {med_without / med_with:.0f}x")
    loupe.close()


if __name__ == "__main__":
    main()
