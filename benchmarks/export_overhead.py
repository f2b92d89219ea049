"""What the export's safety against untrusted journals and documents costs per file, same run.

    .venv/bin/python benchmarks/export_overhead.py [N_FILES]      # default 3000 (files of 256 KB)

Measures, alternating: an export by hard links (the mode in which the journal and the checks weigh most, since a
link moves no data) per file; journal lines written signed and unsigned (the same entries, the same fsyncs);
and the per-item check of the document (``plan.untrusted_item``). Target: the signing and checks together cost
at most 50 µs per exported file (a copy of a 256 KB photo costs about 1 ms here).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from export import WORK, make_tree  # noqa: E402

from desktop_app.core.export.journal import Journal  # noqa: E402
from desktop_app.core.export.plan import ExportOptions, untrusted_item  # noqa: E402
from desktop_app.core.export.run import run_export  # noqa: E402
from desktop_app.core.progress import drive  # noqa: E402

TARGET_US = 50.0


def journal_lines(dest: Path, n: int, signed: bool) -> float:
    """Seconds to journal ``n`` files (an operation line and a done line each, synced per 256 as an export does)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    journal = Journal(dest)
    if not signed:
        journal.trust = "legacy"  # as a journal from before signing: the same lines, no signature
    journal.open()
    started = time.perf_counter()
    for i in range(n):
        target = str(dest / "01 group" / f"IMG_{i:05d}.jpg")
        journal.write(sync=False, op="hardlink", src=f"/photos/d/IMG_{i:05d}.jpg", dst=target, size=262144,
                      mtime_ns=1_700_000_000_000_000_000 + i, group=0, dev=2049, ino=1000 + i)
        journal.write(sync=False, op="done", dst=target, placed_mtime_ns=1_700_000_000_000_000_000 + i,
                      method="hardlink")
        if i % 256 == 255:
            journal.sync()
    journal.sync()
    journal.close()
    return time.perf_counter() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    _, result = make_tree(n, 256)
    dest = WORK / "overhead-dest"
    exports, signed, unsigned, checks = [], [], [], []
    for _ in range(3):
        shutil.rmtree(dest, ignore_errors=True)
        t = time.perf_counter()
        drive(run_export(result, dest, ExportOptions(mode="hardlink")))
        exports.append(time.perf_counter() - t)
        signed.append(journal_lines(dest, n, True))
        unsigned.append(journal_lines(dest, n, False))
        t = time.perf_counter()
        for item in result.items:
            untrusted_item(item.path, item.kind, [])
        checks.append(time.perf_counter() - t)
    shutil.rmtree(dest, ignore_errors=True)
    per = {name: statistics.median(v) / n * 1e6 for name, v in
           (("export", exports), ("signed", signed), ("unsigned", unsigned), ("checks", checks))}
    cost = per["signed"] - per["unsigned"] + per["checks"]
    print(f"{n:,} files, median of 3")
    print(f"  hard-link export           {per['export']:7.1f} µs per file")
    print(f"  journal, signed / unsigned {per['signed']:7.1f} / {per['unsigned']:.1f} µs per file (two lines)")
    print(f"  document checks            {per['checks']:7.1f} µs per file")
    verdict = "met" if cost <= TARGET_US else "MISSED"
    print(f"  signing + checks           {cost:7.1f} µs per file   target <= {TARGET_US:.0f}: {verdict}")


if __name__ == "__main__":
    main()
