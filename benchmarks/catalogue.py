"""The catalogue: what saving every decision as it is made costs the photographer.

    .venv/bin/python benchmarks/catalogue.py            # a library of 100,000 pictures
    .venv/bin/python benchmarks/catalogue.py 20000

A library of N picture paths (no files: the catalogue stores paths) already holding a rating on every third picture
and a full undo history, then, as a photographer works:

* **a key press** (one picture rated, through ``LibraryState.rate``): the decision written in one transaction with
  ``synchronous=FULL`` (on the disk when it returns) and applied in memory — against the floor measured in the same
  run: one bare SQLite transaction of one row in the same mode on the same disk (the fsync that durability costs);
* **select all and press 3** on 10,000 pictures (one change, one transaction);
* **undo** of that change;
* **reopening** the library (catalogue read, decisions in memory, the history listed) — what the app does at
  start — also after HEAVY_STEPS changes of 10,000 pictures each filled the history (its changes are read when
  undone, not when the library opens).

Targets: a key press <= 20 ms at the 95th percentile and within 3x the bare transaction; 10,000 at once <= 1 s;
undo <= 1 s; reopen <= 1 s at 100k pictures.
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY_PRESSES = 200
HEAVY_STEPS = 30
TARGET_KEY_P95_MS = 20.0
TARGET_KEY_RATIO = 3.0
TARGET_BULK_S = 1.0
TARGET_REOPEN_S = 1.0


def bare_transactions(folder: Path, n: int) -> list[float]:
    """ms of one-row transactions in WAL with synchronous=FULL: the floor of a durable decision on this disk."""
    conn = sqlite3.connect(folder / "floor.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
    times = []
    for i in range(n):
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (f"/p/{i}.jpg", '{"rating":3}'))
        conn.execute("COMMIT")
        times.append((time.perf_counter() - t) * 1000)
    conn.close()
    return times


def main() -> None:
    from desktop_app.core.library.library import Library

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    folder = Path(tempfile.mkdtemp(prefix="photoatlas-catalogue-"))
    paths = [f"/photos/2026/shoot-{i // 1000:03d}/IMG_{i:06d}.jpg" for i in range(n)]
    library = Library.create(folder / "bench.photoatlas-library")
    t = time.perf_counter()
    library.mark(paths[::3], rating=2, text="Rate ★2")  # a library with decisions already
    for i in range(200):  # and a full history
        library.mark([paths[i * 7 % n]], flag="pick")
    setup = time.perf_counter() - t
    library.state.reset(paths)

    floor = bare_transactions(folder, KEY_PRESSES)
    keys = []
    for i in range(KEY_PRESSES):
        row = (i * 13) % n
        t = time.perf_counter()
        library.state.rate([row], 1 + i % 5)
        keys.append((time.perf_counter() - t) * 1000)
    rows = list(range(0, n, max(1, n // 10_000)))[:10_000]
    t = time.perf_counter()
    library.state.rate(rows, 3)
    bulk = time.perf_counter() - t
    t = time.perf_counter()
    library.undo()
    undo = time.perf_counter() - t
    library.close()
    t = time.perf_counter()
    again = Library.open(folder / "bench.photoatlas-library")
    reopen = time.perf_counter() - t
    marked = len(again.state.marks.rating)
    again.state.reset(paths)
    for step in range(HEAVY_STEPS):  # a history of big changes
        again.state.rate(rows, 1 + step % 5)
    again.close()
    t = time.perf_counter()
    heavy = Library.open(folder / "bench.photoatlas-library")
    reopen_heavy = time.perf_counter() - t
    t = time.perf_counter()
    heavy.undo()
    undo_heavy = time.perf_counter() - t
    heavy.close()
    size = sum(p.stat().st_size for p in folder.glob("bench.photoatlas-library*")) / 1e6

    p95 = statistics.quantiles(keys, n=20)[-1]
    ratio = statistics.median(keys) / statistics.median(floor)
    print(f"library: {n:,} pictures, {marked:,} rated; made in {setup:.1f} s; catalogue {size:.1f} MB")
    print(f"key press (1 picture): median {statistics.median(keys):.2f} ms, p95 {p95:.2f} ms "
          f"(target p95 <= {TARGET_KEY_P95_MS:.0f} ms: {'met' if p95 <= TARGET_KEY_P95_MS else 'MISSED'})")
    print(f"bare durable transaction, same disk: median {statistics.median(floor):.2f} ms -> key press / bare = "
          f"{ratio:.2f}x (target <= {TARGET_KEY_RATIO:.0f}x: {'met' if ratio <= TARGET_KEY_RATIO else 'MISSED'})")
    for what, seconds, target in (("10,000 pictures rated at once", bulk, TARGET_BULK_S),
                                  ("undo of that", undo, TARGET_BULK_S),
                                  (f"reopen ({n:,} pictures' decisions and the history)", reopen, TARGET_REOPEN_S),
                                  (f"reopen after {HEAVY_STEPS} changes of 10,000 pictures", reopen_heavy,
                                   TARGET_REOPEN_S),
                                  ("then undo of the newest of them", undo_heavy, TARGET_BULK_S)):
        print(f"{what}: {seconds:.3f} s (target <= {target:.0f} s: {'met' if seconds <= target else 'MISSED'})")


if __name__ == "__main__":
    main()
