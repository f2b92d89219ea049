"""Time a cached library of a million pictures opening to the drawn map, in a fresh process, stage by stage.

    .venv/bin/python benchmarks/open_million.py                  # 100,000 (the baseline) and 1,000,000 files
    .venv/bin/python benchmarks/open_million.py 300000 --keep    # other sizes; --keep leaves the scratch folder
    .venv/bin/python benchmarks/open_million.py 1000000 --keep --profile   # + cProfile of both threads

What is built, once per size, in ``--dir`` (default /tmp/open_million; deleted afterwards unless ``--keep``, and
reused when kept): a library of N one-byte ``.jpg`` files in 1000 folders (their contents are never read: the
cache has every one), an embedding cache holding a synthetic 512-d unit vector for each of them (``N**0.5 / 2.5``
kinds of Pareto sizes, as benchmarks/analyze_million.py makes them) stored through ``EmbeddingCache.store``
under the key of a random-weight ViT-B-32 checkpoint (benchmarks/embed_throughput.py's, so the model resolves
without a network and its vectors are 512-d), the vocabulary's prompt vectors in the cache's text table (so no
model is ever loaded), and a saved project (the folder, the model, a few thousand marks). The app then opens
the project once to fill the analysis cache (the map, the placing: "first open" below, not the target).

What is timed: ``photoatlas gui --project P --quit-when-done`` as a new process, ``--repeat`` times (median),
the page cache warm (the library was just opened). The app prints "map drawn after X s" (from its first import)
when ``PHOTOATLAS_TIMING=1``; this script also wraps the stages in the child process to say where the time goes:
start-up (Python, Qt, the window), on the worker thread scan, cache look-up, building the result (records and the
vector matrix), the analysis (read back from the cache), sidecar marks, then on the GUI thread the window's
set-up (grid, state, map, panels...) and the first paint of the map after its last density image.

Target: <= 15 s to the drawn map at 1,000,000 (issue 14 part 4), with the 100,000 figure of the same run as the
baseline (ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGET_S = 15.0
FOLDERS = 1000
MARKED = 5000  # pictures with a rating or a label in the project


# -- building (once per size) ----------------------------------------------------------------------
def build(folder: Path, n: int) -> dict:
    """The library, the filled cache, the project; returns what was built (also kept in built.json)."""
    import numpy as np
    from analyze_million import synthetic
    from embed_throughput import random_weights_model

    from desktop_app.core.analysis.naming import load_vocabulary
    from desktop_app.core.documents.project import Project
    from desktop_app.core.embedding.cache import EmbeddingCache
    from desktop_app.core.embedding.embed import ModelSpec, resolve_model, sha256_file
    from desktop_app.core.ingest.items import Item, scan
    from desktop_app.core.review.marks import Mark, Marks

    marker = folder / "built.json"
    if marker.exists():
        return json.loads(marker.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    lib, cache_dir = folder / "lib", folder / "cache"
    started = time.perf_counter()
    per = -(-n // FOLDERS)
    for i in range(n):  # one byte each: an empty file is skipped by the scan, a real JPEG is never read
        if i % per == 0:
            sub = lib / f"shoot_{i // per:04d}"
            sub.mkdir(parents=True)
        fd = os.open(sub / f"IMG_{i:07d}.jpg", os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"\xff")
        os.close(fd)
    made_files = time.perf_counter() - started

    started = time.perf_counter()
    model = f"local-dir:{random_weights_model('ViT-B-32')}"
    items = [r for r in scan([lib]) if isinstance(r, Item)]
    assert len(items) == n, (len(items), n)
    x, _ = synthetic(n)
    with EmbeddingCache(cache_dir) as cache:
        resolved = resolve_model(ModelSpec.parse(model), offline=True,
                                 digest=lambda p: cache.file_digest(p, sha256_file))
        cache.register_model(resolved.key, resolved.identity)
        for start in range(0, n, 20_000):
            cache.store(resolved.key, [(it.path, it.size, it.mtime_ns, "ok", None, x[start + j])
                                       for j, it in enumerate(items[start:start + 20_000])])
        prompts = list(dict.fromkeys(load_vocabulary(None).prompts))
        words = np.random.default_rng(1).standard_normal((len(prompts), x.shape[1])).astype(np.float32)
        words /= np.linalg.norm(words, axis=1, keepdims=True)
        cache.store_texts(resolved.key, dict(zip(prompts, words)))
    filled = time.perf_counter() - started
    del x

    marks = Marks()
    rng = np.random.default_rng(2)
    for row in rng.choice(n, min(MARKED, n), replace=False):
        marks.set(str(items[row].path), Mark(rating=int(rng.integers(1, 6)), label="red" if row % 3 == 0 else None))
    Project(folders=[str(lib)], model=model, marks=marks).save(folder / "library.photoatlas")
    built = {"n": n, "model": model, "files_s": round(made_files, 1), "cache_s": round(filled, 1),
             "cache_mb": round(sum(p.stat().st_size for p in cache_dir.glob("embeddings.sqlite3*")
                                   if p.is_file()) / 2**20)}
    first = open_once(folder)  # fills the analysis cache (the map and the placing): the first open, not timed
    built["first_open_s"] = first["drawn_s"]
    marker.write_text(json.dumps(built))
    return built


# -- one timed open, in a fresh process -------------------------------------------------------------
def open_once(folder: Path, profile: bool = False) -> dict:
    """Run the app on the project in a new process; returns its stage timings."""
    out = folder / "timings.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "PHOTOATLAS_TIMING": "1", "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(folder / "config"), "PHOTOATLAS_WARM_START": "1"}
    command = [sys.executable, __file__, "--child", str(folder), *(["--profile"] if profile else [])]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"the app failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    timings = json.loads(out.read_text())
    timings["wall_s"] = wall
    return timings


def child(folder: Path, profile: bool) -> None:
    """In the fresh process: wrap the stages with clocks, open the project, write timings.json."""
    import desktop_app  # noqa: F401  (the app's clock starts here, as with ``python -m desktop_app``)
    from desktop_app import STARTED

    marks: list[tuple[str, str, float, float]] = []  # (label, thread, start, end) in time.monotonic()

    def clock(owner: object, name: str, label: str, generator: bool = False) -> None:
        original = getattr(owner, name)

        if generator:
            def wrapper(*args, **kwargs):
                start = time.monotonic()
                value = yield from original(*args, **kwargs)
                marks.append((label, "worker", start, time.monotonic()))
                return value
        else:
            def wrapper(*args, **kwargs):
                start = time.monotonic()
                try:
                    return original(*args, **kwargs)
                finally:
                    marks.append((label, "", start, time.monotonic()))
        setattr(owner, name, wrapper)

    import cProfile

    from PySide6.QtCore import QEvent, QObject

    from desktop_app.core.documents.project import Project
    from desktop_app.core.embedding import pipeline
    from desktop_app.core.embedding.cache import EmbeddingCache
    from desktop_app.core.library import jobs, library
    from desktop_app.core.library.state import LibraryState
    from desktop_app.gui import app, grid_view, main_window, map_view, panels

    clock(pipeline, "scan", "scan", generator=True)
    clock(pipeline, "_resolve", "model resolved", generator=True)
    clock(EmbeddingCache, "lookup_rows", "cache lookup")
    clock(pipeline, "analyze", "analysis (from the cache)", generator=True)
    clock(jobs, "read_sidecar_marks", "sidecar marks")
    clock(Project, "load", "project read")
    clock(main_window.MainWindow, "__init__", "window built")
    clock(main_window.MainWindow, "open_project", "open_project")
    clock(main_window.MainWindow, "analysis_done", "window set-up (all)")
    clock(grid_view.GridView, "set_state", "  grid")
    clock(LibraryState, "reset", "  state")
    clock(library.Library, "take_result", "  library takes the result (marks, sets)")
    clock(map_view.MapView, "set_items", "  map set_items")
    clock(panels.GroupsPanel, "show_groups", "  groups panel")
    clock(main_window.MainWindow, "_show_analysis", "  show analysis (map, groups)")
    clock(main_window.MainWindow, "show_result", "  views follow")
    clock(panels.LibraryPanel, "show_library", "  library panel")
    clock(map_view.MapView, "_feed_dots", "map points/density")

    profiles: dict[str, cProfile.Profile] = {}
    job = library.analyse_with_sidecars

    def profiled_job(*args, **kwargs):
        start = time.monotonic()
        if profile:
            profiles["worker"] = cProfile.Profile()
            profiles["worker"].enable()
        try:
            value = yield from job(*args, **kwargs)
        finally:
            if profile:
                profiles["worker"].disable()
        marks.append(("worker job", "worker", start, time.monotonic()))
        return value

    library.analyse_with_sidecars = profiled_job
    if profile:
        done = main_window.MainWindow.analysis_done

        def profiled_done(self, result):
            profiles["gui"] = cProfile.Profile()
            profiles["gui"].enable()
            try:
                return done(self, result)
            finally:
                profiles["gui"].disable()

        main_window.MainWindow.analysis_done = profiled_done

    paints: list[float] = []

    class PaintClock(QObject):
        def eventFilter(self, watched, event):  # noqa: N802 (Qt naming)
            if event.type() == QEvent.Type.Paint:
                paints.append(time.monotonic())
            return False

    clock_filter = PaintClock()
    window_init = main_window.MainWindow.__init__

    def init(self, *args, **kwargs):
        window_init(self, *args, **kwargs)
        self.map.viewport().installEventFilter(clock_filter)

    main_window.MainWindow.__init__ = init
    started_open = time.monotonic()
    code = app.run([], cache_dir=folder / "cache", offline=True, quit_when_done=True,
                   project=folder / "library.photoatlas", library_dir=folder / "libraries")
    if code != 0:
        raise SystemExit(code)
    done_at = next(end for label, _, _, end in marks if label == "window set-up (all)")
    fed = [end for label, _, _, end in marks if label == "map points/density"]
    painted = next((t for t in paints if t >= max(fed, default=done_at)), None)
    import resource

    result = {"marks": [(label, start - STARTED, end - STARTED) for label, _, start, end in marks],
              "app_started_s": started_open - STARTED, "drawn_s": done_at - STARTED,
              "painted_s": None if painted is None else painted - STARTED,
              "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    (folder / "timings.json").write_text(json.dumps(result))
    if profile:
        import pstats

        for name, prof in profiles.items():
            prof.dump_stats(str(folder / f"profile-{name}.pstats"))
            with open(folder / f"profile-{name}.txt", "w") as f:
                pstats.Stats(prof, stream=f).sort_stats("cumulative").print_stats(60)


# -- the report ---------------------------------------------------------------------------------------
def stages(t: dict) -> list[tuple[str, float]]:
    """Seconds per stage, in the order they happen."""
    first: dict[str, tuple[float, float]] = {}
    total: dict[str, float] = {}
    for label, start, end in t["marks"]:
        first.setdefault(label, (start, end))
        total[label] = total.get(label, 0.0) + end - start

    def span(label: str) -> tuple[float, float]:
        return first.get(label, (float("nan"), float("nan")))

    job_start, job_end = span("worker job")
    scan_start, scan_end = span("scan")
    lookup_start, lookup_end = span("cache lookup")
    analysis_start, analysis_end = span("analysis (from the cache)")
    marks_start, marks_end = span("sidecar marks")
    done_start, done_end = span("window set-up (all)")
    out = [("start-up: Python, Qt, the window", span("window built")[1]),
           ("project read, worker started", job_start - span("window built")[1]),
           ("worker: scan", scan_end - scan_start),
           ("worker: cache opened, model resolved", lookup_start - scan_end),
           ("worker: cache lookup", lookup_end - lookup_start),
           ("worker: result built (records, matrix)", analysis_start - lookup_end),
           ("worker: analysis read back", analysis_end - analysis_start),
           ("worker: sidecar marks", marks_end - marks_start),
           ("hand-over to the window", done_start - job_end),
           ("window set-up", done_end - done_start)]
    out += [(f"  {label.strip()}", seconds) for label, seconds in total.items() if label.startswith("  ")]
    out.append(("first paint after the density image",
                (t["painted_s"] - done_end) if t.get("painted_s") is not None else float("nan")))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/open_million"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (reused by the next run)")
    parser.add_argument("--profile", action="store_true", help="cProfile the worker and the window set-up")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.profile)
        return
    free = shutil.disk_usage(args.dir.parent if not args.dir.exists() else args.dir)
    print(f"{os.cpu_count()} CPUs; scratch {args.dir} ({free.free / 2**30:.0f} GiB free); target <= {TARGET_S} s "
          "to the drawn map at 1,000,000", flush=True)
    medians: dict[int, float] = {}
    try:
        for n in args.sizes:
            folder = args.dir / str(n)
            started = time.perf_counter()
            built = build(folder, n)
            print(f"\n{n:,} files: built in {time.perf_counter() - started:.0f} s (files {built['files_s']} s, cache "
                  f"{built['cache_s']} s, {built['cache_mb']:,} MB; first open, analysis computed: "
                  f"{built['first_open_s']:.1f} s)", flush=True)
            runs = [open_once(folder, profile=args.profile and i == 0) for i in range(args.repeat)]
            medians[n] = statistics.median(r["drawn_s"] for r in runs)
            verdict = "met" if medians[n] <= TARGET_S else "MISSED"
            drawn = ", ".join(f"{r['drawn_s']:.2f}" for r in runs)
            walls = ", ".join(f"{r['wall_s']:.1f}" for r in runs)
            peak = max(r["peak_mb"] for r in runs)
            print(f"  to the drawn map   {medians[n]:6.2f} s  (runs {drawn}; process wall {walls}; peak {peak:,.0f} MB)"
                  f"  target <= {TARGET_S} s: {verdict}")
            table = [stages(r) for r in runs]
            for i, (label, _) in enumerate(table[0]):
                values = [row[i][1] for row in table]
                print(f"    {label:42s} {statistics.median(values):6.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")
            if args.profile:
                print(f"  profiles: {folder}/profile-worker.txt, {folder}/profile-gui.txt")
        if len(medians) > 1:
            small, big = min(medians), max(medians)
            print(f"\n{big:,} vs {small:,}: {medians[big] / medians[small]:.1f}x the time for "
                  f"{big / small:.0f}x the files")
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
