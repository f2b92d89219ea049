"""What decoding in sandbox worker processes (core/ingest/sandbox.py) costs the CPU embedding, in one run:

* **sandboxed**: ``photoatlas embed`` as it is: every picture decoded in a worker process (memory cap, time limit),
  the picture sent back through a pipe, the model's preprocessing here; "cold" when its workers start with the run
  (while the model loads: a session's first run), "warm" when they are left from the run before (the app keeps them
  for a minute);
* **in-process**: the same code with the decode done by ``images.load_image`` in the decode threads themselves (what
  the CPU path did before the sandbox): the baseline.

All on the same files and model, alternating, each with an empty cache. Images per second in the steady state
(from the model loaded to the last vector stored) and end to end (scan, model load, all), and the CPU time per image
in the steady state summed over the process and its workers: on a shared 2-core machine the wall-clock figures move
by +-10 % from run to run with the other load, the CPU time much less.

    .venv/bin/python benchmarks/decode_sandbox.py [--images 96] [--rounds 5] [--arch ViT-B-32] [--small]
                                                  [--small-images 480]

Default workload: 24 MP JPEGs and ViT-B-32 (random weights), the one ``benchmarks/embed_throughput.py`` measures.
``--small`` adds a decode-bound one: 1600x1200 JPEGs and the tiny test model, where the model costs almost nothing
and the pipe's share is as large as it gets. Target: sandboxed (warm) >= 0.95 x in-process, steady state, medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
TARGET = 0.95


def _in_process(path, *, min_side, limits, **_ignored):
    """The decode as the CPU path did it before the sandbox: right here, in the calling thread (the model's
    preprocessing does the Resize, as it did)."""
    from desktop_app.core.ingest.images import load_image

    return load_image(path, min_side=min_side, max_pixels=limits.max_pixels)


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process, its finished children and its live ones (the workers)."""
    import psutil

    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
        except psutil.Error:
            continue
        total += c.user + c.system
    return total


def embed_once(model: str, folder: Path, way: str) -> tuple[float, float, float]:
    """(end to end, steady state) images per second of one ``run_embedding`` with an empty cache, and the CPU
    milliseconds per image in the steady state (all processes; the machine's other load does not count). ``way``:
    "in-process", "cold" (sandboxed, no worker left from before: they start while the model loads, as in a session's
    first run) or "warm" (sandboxed, the workers of the run before still up, as in the app within a minute)."""
    from desktop_app.core.embedding import pipeline, settings
    from desktop_app.core.ingest import sandbox

    if way != "warm":
        sandbox.shutdown()
    real_decode, real_warm = settings.decode_picture, sandbox.warm
    if way == "in-process":
        settings.decode_picture = _in_process
        sandbox.warm = lambda n: None
    marks: dict[str, float] = {}

    def on_event(event) -> None:
        if event.stage == "embed":
            if "embed" not in marks:
                marks["embed"], marks["cpu"] = time.perf_counter(), _cpu_seconds()
            marks["last"] = time.perf_counter()

    try:
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            result = pipeline.drive(pipeline.run_embedding([folder], pipeline.EmbedSettings(
                model=model, cache_dir=Path(cache), batch_size=32)), on_event)
            seconds = time.perf_counter() - start
    finally:
        settings.decode_picture, sandbox.warm = real_decode, real_warm
    cpu = _cpu_seconds() - marks["cpu"]
    n = result.stats["embedded"]
    assert n and not result.skipped, result.stats
    return n / seconds, n / (marks["last"] - marks["embed"]), 1000 * cpu / n


WAYS = ("in-process", "cold", "warm")


def compare(label: str, model: str, folder: Path, rounds: int) -> float:
    runs: dict[str, list[tuple[float, float, float]]] = {way: [] for way in WAYS}
    embed_once(model, folder, "in-process")  # warm-up: file cache, torch's first-call allocations
    for r in range(rounds):
        # in-process first in even rounds, last in odd ones (cold must come right before warm)
        for way in WAYS if r % 2 == 0 else ("cold", "warm", "in-process"):
            runs[way].append(embed_once(model, folder, way))
    print(f"\n{label}")
    med = {way: tuple(statistics.median(run[k] for run in runs[way]) for k in range(3)) for way in WAYS}
    for way in WAYS:
        steady = ", ".join(f"{run[1]:.2f}" for run in runs[way])
        print(f"  {way:10s}  steady state {steady} (median {med[way][1]:.2f}) images/s; end to end median "
              f"{med[way][0]:.2f} images/s; CPU {med[way][2]:.1f} ms per image")
    base = med["in-process"]
    ratio = med["warm"][1] / base[1]
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"  sandboxed / in-process, steady state: warm workers {ratio:.3f} (target >= {TARGET}: {verdict}), "
          f"cold {med['cold'][1] / base[1]:.3f}; end to end: warm {med['warm'][0] / base[0]:.3f}, "
          f"cold {med['cold'][0] / base[0]:.3f}")
    print(f"  CPU per image, in-process / sandboxed (the throughput ratio where CPU is the limit): warm "
          f"{base[2] / med['warm'][2]:.3f}, cold {base[2] / med['cold'][2]:.3f}")
    return ratio


def folder_of(n: int, size: tuple[int, int]) -> Path:
    """A folder of exactly ``n`` photo-like JPEGs of ``size`` (links to embed_throughput's, made once)."""
    import shutil

    from embed_throughput import WORK, photo_like_jpegs

    folder = WORK / f"sandbox-{size[0]}x{size[1]}-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    for src in photo_like_jpegs(n, size):
        dst = folder / src.name
        if not dst.exists():
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy(src, dst)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--arch", default="ViT-B-32")
    ap.add_argument("--small", action="store_true", help="also the decode-bound workload (tiny model)")
    ap.add_argument("--small-images", type=int, default=480, help="JPEGs of the decode-bound workload")
    args = ap.parse_args()

    import torch
    from embed_throughput import random_weights_model

    model_dir = random_weights_model(args.arch)
    folder = folder_of(args.images, (6000, 4000))
    print(f"{args.images} JPEGs of 6000x4000, {args.arch} (random weights), CPU, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {args.rounds} rounds alternating")
    compare(f"24 MP JPEGs, {args.arch}", f"local-dir:{model_dir}", folder, args.rounds)
    if args.small:
        small = folder_of(args.small_images, (1600, 1200))
        compare(f"{args.small_images} JPEGs of 1600x1200, tiny test model (decode-bound)",
                f"local-dir:{ROOT / 'tests' / 'fixtures' / 'tiny-clip'}", small, args.rounds)


if __name__ == "__main__":
    main()
