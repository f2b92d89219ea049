"""Time opening a big embedding cache: the old open (a full ``PRAGMA quick_check`` every time) against the new one.

    .venv/bin/python benchmarks/cache_open.py                    # 100k and 1M rows of 512-d float32 (~9 minutes)
    .venv/bin/python benchmarks/cache_open.py 100000 --dim 128   # other sizes; --dir for another scratch folder

Input: caches built through ``EmbeddingCache.store`` (random unit vectors, one model, paths like a photo
library's), in a scratch folder that is deleted afterwards. 1M rows take ~4 GB: a 2 KB vector row does not share
its 4 KB page with a second one. If the disk is short of space for 512-d at a size, the vectors are made smaller
so the row count stays, and the output says so.

Figures, each cold (the database's pages dropped from the OS page cache with ``posix_fadvise(DONTNEED)``, so
the disk is read again; a virtual disk may still be served from the host's cache) and warm (median of 3):

- baseline: the open before this change, measured in the same run: connect, WAL, ``PRAGMA quick_check`` over
  the whole file, then the schema transaction;
- open: ``EmbeddingCache(folder)`` after a clean shutdown (what every run, window and command pays);
- after crash: ``EmbeddingCache(folder)`` with a dead process's session file present, so it runs
  ``quick_check`` once (also what the every-``CHECK_EVERY_DAYS`` check costs).

Target: open under 0.5 s at every size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from desktop_app.core.embedding import cache as cache_module  # noqa: E402
from desktop_app.core.embedding.cache import CACHE_FILENAME, EmbeddingCache  # noqa: E402

TARGET_S = 0.5
CHUNK = 20_000


def build(folder: Path, n: int, dim: int) -> float:
    """Fill a cache with ``n`` random unit vectors; returns seconds taken."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    with EmbeddingCache(folder) as cache:
        for start in range(0, n, CHUNK):
            vecs = rng.standard_normal((min(CHUNK, n - start), dim), dtype=np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            cache.store("bench-model", [(Path(f"/home/user/Pictures/{(start + i) // 1000:04d}/IMG_{start + i:07d}.jpg"),
                                         2_500_000 + i, 1_700_000_000_000_000_000 + i, "ok", None, v)
                                        for i, v in enumerate(vecs)])
    return time.perf_counter() - started


def evict(folder: Path) -> None:
    """Drop the cache files' pages from the OS page cache (no root needed: the pages are clean)."""
    for path in folder.glob(CACHE_FILENAME + "*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def old_open(folder: Path) -> sqlite3.Connection:
    """The open as it was before: a full quick_check on every open, then the schema in a write transaction."""
    conn = sqlite3.connect(folder / CACHE_FILENAME, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    check = conn.execute("PRAGMA quick_check").fetchone()[0]
    assert check == "ok", check
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        for statement in filter(str.strip, cache_module._SCHEMA.split(";")):
            conn.execute(statement)
    return conn


def new_open(folder: Path) -> EmbeddingCache:
    cache = EmbeddingCache(folder)
    assert cache.warnings == [] and not cache.integrity_checked
    return cache


def after_crash(folder: Path) -> EmbeddingCache:
    sessions = folder / f"{CACHE_FILENAME}.sessions"
    sessions.mkdir(exist_ok=True)
    (sessions / "99999-crashed.lock").touch()  # what a process that died with the cache open leaves behind
    cache = EmbeddingCache(folder)
    assert cache.warnings == [] and cache.integrity_checked
    return cache


def timed(open_: object, folder: Path, *, cold: bool, setup: object = None) -> float:
    if setup is not None:
        setup(folder)  # type: ignore[operator]
    if cold:
        evict(folder)
    started = time.perf_counter()
    handle = open_(folder)  # type: ignore[operator]
    seconds = time.perf_counter() - started
    handle.close()
    return seconds


def measure(n: int, dim: int, scratch: Path) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix=f"cache-open-{n}-", dir=scratch))
    try:
        build_s = build(folder, n, dim)
        size_mb = sum(p.stat().st_size for p in folder.glob(CACHE_FILENAME + "*") if p.is_file()) / 2**20
        row = {"build_s": build_s, "size_mb": size_mb}
        for name, open_ in (("baseline", old_open), ("open", new_open), ("after_crash", after_crash)):
            row[f"{name}_cold"] = timed(open_, folder, cold=True)
            row[f"{name}_warm"] = statistics.median(timed(open_, folder, cold=False) for _ in range(3))
        return row
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    print(f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, scratch {args.dir}; target: open < {TARGET_S} s")
    print(f"{'rows':>9} {'dim':>4} {'MB':>6} {'build s':>8} | {'baseline cold/warm s':>21} | "
          f"{'open cold/warm s':>17} | {'after crash cold/warm s':>24} | {'open vs baseline (warm)':>23}")
    for n in args.sizes:
        dim = args.dim
        free = shutil.disk_usage(args.dir).free
        while dim > 16 and n * (dim * 4 + 150) * 2.4 > free:  # ~2x for page fill, and the WAL's recent pages
            dim //= 2
        if dim != args.dim:
            print(f"  (only {free / 2**30:.1f} GiB free in {args.dir}: {n} rows use {dim}-d vectors, not {args.dim}-d)")
        r = measure(n, dim, args.dir)
        ok = "OK" if max(r["open_cold"], r["open_warm"]) < TARGET_S else "OVER TARGET"
        print(f"{n:>9} {dim:>4} {r['size_mb']:>6.0f} {r['build_s']:>8.1f} | "
              f"{r['baseline_cold']:>10.3f} / {r['baseline_warm']:<8.3f} | "
              f"{r['open_cold']:>7.3f} / {r['open_warm']:<7.3f} | "
              f"{r['after_crash_cold']:>11.3f} / {r['after_crash_warm']:<10.3f} | "
              f"{r['baseline_warm'] / r['open_warm']:>8.0f}x faster ({ok})")


if __name__ == "__main__":
    main()
