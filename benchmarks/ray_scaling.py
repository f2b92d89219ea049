"""Pictures per second on a Ray cluster against the desktop pipeline on the same machine, in one run.

    .venv/bin/python benchmarks/ray_scaling.py [--images 96] [--arch ViT-B-32] [--actors 1,2] [--address ADDR]

The same 24 MP photo-like JPEGs and model (a real open_clip architecture with random weights) as
``embed_throughput.py``. Measured, each with an empty cache:

* **desktop** (the baseline): ``photoatlas embed`` without Ray, decode threads and the model on this machine;
* **Ray, N model actors**: ``photoatlas embed --ray`` with a local Ray (or ``--address`` for a real cluster),
  decoding in Ray Data tasks, N CPU model actors of one thread each. Figures: start-up (Ray, the workers and the
  model copies, until the first vector is stored), steady state (from a quarter of the files stored to the last,
  past the backlog decoded during start-up) and end to end.

On one 2-core machine Ray cannot be faster than the desktop (the same two cores decode and embed, plus Ray's own
processes); what this measures is what Ray costs per node, and how the rate grows with workers where there are
cores for them. docs/SCALE.md turns the figures into an estimate for ten million photos.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from embed_throughput import photo_like_jpegs, random_weights_model  # noqa: E402


def embed_once(model_dir: Path, folder: Path, ray_options=None) -> dict[str, float]:
    """One ``photoatlas embed`` with an empty cache: start-up, steady and end-to-end figures."""
    from desktop_app.core.pipeline import EmbedSettings, drive, run_embedding

    marks: dict[str, float] = {}

    def on_event(event) -> None:
        if event.stage == "embed" and event.message == "pictures":
            now = time.perf_counter()
            marks.setdefault("first", now)
            if event.done >= event.total // 4 and "quarter" not in marks:  # steady: past the start-up's backlog
                marks["quarter"], marks["quarter_done"] = now, event.done
            marks["last"] = now

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        result = drive(run_embedding([folder], EmbedSettings(
            model=f"local-dir:{model_dir}", device="cpu", cache_dir=Path(cache), batch_size=16, ray=ray_options)),
            on_event)
        end = time.perf_counter()
    n = result.stats["embedded"]
    steady_n = n - marks["quarter_done"]
    return {"n": n, "startup": marks["first"] - start,
            "steady": steady_n / max(marks["last"] - marks["quarter"], 1e-9),
            "e2e": n / (end - start)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--arch", default="ViT-B-32")
    ap.add_argument("--actors", default="1,2", help="model actor counts to measure, comma-separated")
    ap.add_argument("--address", default=None, help="a running Ray cluster (default: a local Ray per measurement)")
    args = ap.parse_args()

    import open_clip  # noqa: F401 - imported once up front so no measurement pays for it
    import torch

    from desktop_app.core.ray_embed import RayOptions

    model_dir = random_weights_model(args.arch)
    files = photo_like_jpegs(args.images)
    folder = files[0].parent
    print(f"{args.images} JPEGs of 6000x4000, {args.arch} (random weights), {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}")
    desktop = embed_once(model_dir, folder)
    print(f"desktop (no Ray)        : steady {desktop['steady']:6.2f}/s, end to end {desktop['e2e']:6.2f}/s, "
          f"first vector after {desktop['startup']:5.1f} s")
    for actors in [int(a) for a in args.actors.split(",")]:
        # Each actor and each decode task asks Ray for one logical CPU: a local Ray gets one more than the
        # actors, so decoding always has a slot (the OS shares the real cores among them).
        options = RayOptions(address=args.address, actors=actors, actor_cpus=1,
                             local_cpus=None if args.address else max(os.cpu_count() or 1, actors + 1))
        got = embed_once(model_dir, folder, options)
        print(f"Ray, {actors} model actor(s)  : steady {got['steady']:6.2f}/s, end to end {got['e2e']:6.2f}/s, "
              f"first vector after {got['startup']:5.1f} s;  steady / desktop {got['steady'] / desktop['steady']:.2f}")


if __name__ == "__main__":
    main()
