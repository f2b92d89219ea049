"""Pictures per second on a Ray cluster against the desktop pipeline on the same machine, in one run.

    .venv/bin/python benchmarks/ray_scaling.py [--images 96] [--arch ViT-B-32] [--actors 1,2] [--address ADDR]

The same 24 MP photo-like JPEGs and model (a real open_clip architecture with random weights) as
``embed_throughput.py``. Measured, each with an empty cache:

* **desktop** (the baseline): ``photoatlas embed`` without Ray, decode threads and the model on this machine;
* **Ray, N model actors**: ``photoatlas embed --ray`` with a local Ray (or ``--address`` for a real cluster),
  decoding in Ray Data tasks, N CPU model actors of one thread each.

Each is run on N and on 2N files: the steady rate is N / (T(2N) - T(N)), free of start-up (Ray, its workers,
the model copies, and the decoding done while they start); start-up is what T(N) spends beyond that rate.

On one 2-core machine Ray cannot be faster than the desktop (the same two cores decode and embed, plus Ray's own
processes); what this measures is what Ray costs per node, and how the rate grows with workers where there are
cores for them. docs/SCALE.md turns the figures into an estimate for ten million photos.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from embed_throughput import photo_like_jpegs, random_weights_model  # noqa: E402


def embed_seconds(model_dir: Path, folder: Path, ray_options=None) -> float:
    """Seconds of one ``photoatlas embed`` of ``folder`` with an empty cache, end to end."""
    from desktop_app.core.embedding.pipeline import EmbedSettings, drive, run_embedding

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        result = drive(run_embedding([folder], EmbedSettings(
            model=f"local-dir:{model_dir}", device="cpu", cache_dir=Path(cache), batch_size=16, ray=ray_options)))
        seconds = time.perf_counter() - start
    assert result.stats["embedded"] == len(list(folder.iterdir())), result.stats
    return seconds


def measure(model_dir: Path, warm: Path, small: Path, big: Path, ray_options=None) -> dict[str, float]:
    """Steady rate from two runs, N and 2N files: N / (T(2N) - T(N)), which start-up (Ray, workers, model
    copies, decoding done while they start) cancels out of; start-up is what T(N) spends beyond that rate."""
    n = len(list(small.iterdir()))
    # A first run starts Ray's worker processes (Python, torch); later runs reuse them. Warm them up first so both
    # measured runs start alike (each still starts its own model copies).
    embed_seconds(model_dir, warm, ray_options)
    t_small = embed_seconds(model_dir, small, ray_options)
    t_big = embed_seconds(model_dir, big, ray_options)
    rate = (len(list(big.iterdir())) - n) / max(t_big - t_small, 1e-9)
    return {"steady": rate, "startup": max(0.0, t_small - n / rate), "e2e": len(list(big.iterdir())) / t_big}


def folder_of(files: list[Path], name: str) -> Path:
    """A folder holding exactly ``files`` (links to them), so one scan finds those and no others."""
    folder = files[0].parent.parent / name
    if not folder.is_dir() or len(list(folder.iterdir())) != len(files):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for f in files:
            os.link(f, folder / f.name)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--arch", default="ViT-B-32")
    ap.add_argument("--actors", default="1,2", help="model actor counts to measure, comma-separated")
    ap.add_argument("--address", default=None, help="a running Ray cluster (default: a local Ray per measurement)")
    args = ap.parse_args()

    import open_clip  # noqa: F401 - imported once up front so no measurement pays for it
    import torch

    from desktop_app.core.embedding.ray_embed import RayOptions

    model_dir = random_weights_model(args.arch)
    files = photo_like_jpegs(2 * args.images)
    warm = folder_of(files[:8], "ray-8")
    small = folder_of(files[:args.images], f"ray-{args.images}")
    big = folder_of(files, f"ray-{2 * args.images}")
    print(f"{args.images} JPEGs of 6000x4000, {args.arch} (random weights), {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}")
    desktop = measure(model_dir, warm, small, big)
    print(f"desktop (no Ray)        : steady {desktop['steady']:6.2f}/s, start-up {desktop['startup']:5.1f} s, "
          f"end to end ({2 * args.images}) {desktop['e2e']:6.2f}/s")
    for actors in [int(a) for a in args.actors.split(",")]:
        # Each actor and each decode task asks Ray for one logical CPU: a local Ray gets one more than the
        # actors, so decoding always has a slot (the OS shares the real cores among them).
        options = RayOptions(address=args.address, actors=actors, actor_cpus=1,
                             local_cpus=None if args.address else max(os.cpu_count() or 1, actors + 1))
        # Ray itself is started once per configuration (its start varies by tens of seconds, more than the work
        # of a small run); each run still starts its workers and model copies, which start-up counts.
        began = time.perf_counter()
        if not args.address:
            import ray

            ray.init(num_cpus=options.local_cpus, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - began
        try:
            got = measure(model_dir, warm, small, big, options)
        finally:
            if not args.address:
                ray.shutdown()
        print(f"Ray, {actors} model actor(s)  : steady {got['steady']:6.2f}/s, start-up {got['startup']:5.1f} s, "
              f"end to end ({2 * args.images}) {got['e2e']:6.2f}/s;  steady / desktop "
              f"{got['steady'] / desktop['steady']:.2f}  (Ray itself started in {ray_start:.1f} s before both runs)")


if __name__ == "__main__":
    main()
