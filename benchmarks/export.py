"""Export speed against the shell's own tools, same tree, same run.

    .venv/bin/python benchmarks/export.py [N_FILES] [SIZE_KB] [REPEATS]   # default 10000 files of 1024 KB, 1 run

Copy (with size verification, fsync, journal, no-replace placement) against ``cp -r``; hardlink against
``cp -al``; and copy on a filesystem without hard links (exFAT, FAT: simulated by making ``os.link`` fail as
there, so every file takes the reserve-then-rename placement) against ``cp -r`` again.
Targets: copy >= 0.7x of cp's speed, hardlink >= 0.9x. With REPEATS > 1, the median of each is reported (cp and
PhotoAtlas alternate, so both see the same machine). The page cache is dropped between runs where allowed
(root on Linux), otherwise every run reads a warm cache (said in the output).
"""

from __future__ import annotations

import errno
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work" / "export"


def make_tree(n: int, size_kb: int) -> tuple[Path, object]:
    import numpy as np

    from desktop_app.core.analysis.model import Analysis, describe_clusters
    from desktop_app.core.embedding.pipeline import EmbedResult, ItemRecord

    src = WORK / f"src-{n}-{size_kb}"
    if not (src / ".done").exists():
        shutil.rmtree(src, ignore_errors=True)
        rng = np.random.default_rng(0)
        block = rng.integers(0, 256, size_kb * 1024, dtype=np.uint8).tobytes()
        for i in range(n):
            folder = src / f"d{i // 500:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"IMG_{i:05d}.jpg").write_bytes(i.to_bytes(4, "little") + block[4:])
        (src / ".done").write_text("")
    paths = sorted(p for p in src.rglob("*.jpg"))
    labels = np.arange(len(paths)) % 20
    vectors = np.random.default_rng(1).normal(size=(len(paths), 8)).astype(np.float32)
    clusters = describe_clusters(vectors, labels)
    analysis = Analysis(coords=np.zeros((len(paths), 2), np.float32), cluster_space=np.zeros((len(paths), 2)),
                        labels=labels, outlier_scores=np.zeros(len(paths), np.float32),
                        membership=np.ones(len(paths), np.float32), isolation=np.zeros(len(paths), np.float32),
                        clusters=clusters, params={})
    items = [ItemRecord(str(p), "image", "ok", p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    return src, EmbedResult(model={}, items=items, vectors=vectors, analysis=analysis)


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def timed(fn: Callable[[], Any]) -> tuple[float, bool]:
    cold = drop_caches()
    start = time.perf_counter()
    fn()
    os.sync()  # count the writes, not just the page cache
    return time.perf_counter() - start, cold


class NoHardLinks:
    """``os.link`` fails with EPERM, as on exFAT/FAT under Linux: placement takes its fallback."""

    def __enter__(self) -> None:
        self.real = os.link

        def link(*args: object, **kwargs: object) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        os.link = link  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        os.link = self.real


def main() -> None:
    from contextlib import nullcontext

    from desktop_app.core.export.plan import ExportOptions
    from desktop_app.core.export.run import run_export
    from desktop_app.core.progress import drive

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    size_kb = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    src, result = make_tree(n, size_kb)
    out = WORK / "out"
    total_mb = n * size_kb / 1024
    print(f"{n:,} files of {size_kb} KB ({total_mb / 1024:.1f} GB), same filesystem, median of {repeats}")
    rows = []
    for label, ours, theirs, target, context in (
            ("copy", ExportOptions(mode="copy"), ["cp", "-r"], 0.7, nullcontext),
            ("hardlink", ExportOptions(mode="hardlink"), ["cp", "-al"], 0.9, nullcontext),
            ("copy, no hard links", ExportOptions(mode="copy"), ["cp", "-r"], 0.7, NoHardLinks)):
        t_cps, t_ourss = [], []
        for _ in range(repeats):
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            t_cp, cold = timed(lambda cmd=theirs: subprocess.run([*cmd, str(src), str(out / "cp")], check=True))
            with context():
                t_ours, _ = timed(lambda opts=ours: drive(run_export(result, out / "photoatlas", opts)))
            t_cps.append(t_cp)
            t_ourss.append(t_ours)
            shutil.rmtree(out, ignore_errors=True)
        t_cp, t_ours = statistics.median(t_cps), statistics.median(t_ourss)
        rows.append((label, theirs, t_cp, t_ours, t_cp / t_ours, target, cold))
    for label, theirs, t_cp, t_ours, ratio, target, cold in rows:
        verdict = "met" if ratio >= target else "MISSED"
        print(f"  {label:20s} {' '.join(theirs):6s} {t_cp:6.2f} s   photoatlas {t_ours:6.2f} s   speed ratio "
              f"{ratio:.2f}x   target >= {target}x: {verdict}{'' if cold else '   (warm page cache)'}")


if __name__ == "__main__":
    main()
