"""Images per second: the naive CLIP loop versus ``photoatlas embed``, on the same 24 MP JPEGs and model.

    .venv/bin/python benchmarks/embed_throughput.py [--images 96] [--arch ViT-B-32] [--device auto]

The model is a real open_clip architecture with random weights, saved as a local-dir checkpoint (speed does
not depend on the weights; real weights cannot be downloaded on the build machines). Target on the 2-core
build machine: ratio >= 3.0. Prints one line per measurement and the ratio against its target.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "benchmarks" / "_work"
TARGET_RATIO = 3.0


def random_weights_model(arch: str) -> Path:
    """Save ``arch`` with random weights in open_clip's local-dir layout (cached in benchmarks/_work)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = WORK / f"{arch}-random"
    if (folder / "open_clip_model.safetensors").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = open_clip.create_model(arch)
    cfg = open_clip.get_model_config(arch)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    pre = {"size": cfg["vision_cfg"]["image_size"], "mean": list(open_clip.OPENAI_DATASET_MEAN),
           "std": list(open_clip.OPENAI_DATASET_STD), "interpolation": "bicubic", "resize_mode": "shortest"}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": pre}))
    return folder


def photo_like_jpegs(n: int, size: tuple[int, int] = (6000, 4000)) -> list[Path]:
    """``n`` 24-megapixel JPEGs with smooth colour fields and fine noise (about as costly to decode as photos)."""
    folder = WORK / f"jpegs-{size[0]}x{size[1]}"
    folder.mkdir(parents=True, exist_ok=True)
    unique = min(n, 8)
    rng = np.random.default_rng(0)
    for i in range(unique):
        path = folder / f"base-{i}.jpg"
        if path.exists():
            continue
        low = (rng.random((6, 9, 3)) * 255).astype(np.uint8)
        img = Image.fromarray(low).resize(size, Image.Resampling.BICUBIC)
        noise = rng.normal(0, 12, (size[1] // 4, size[0] // 4, 3))
        grain = Image.fromarray(np.clip(noise + 128, 0, 255).astype(np.uint8)).resize(size)
        Image.blend(img, grain, 0.25).save(path, quality=90)
    out = []
    for i in range(n):
        dst = folder / "set" / f"photo-{i:03d}.jpg"
        dst.parent.mkdir(exist_ok=True)
        if not dst.exists():
            shutil.copy(folder / f"base-{i % unique}.jpg", dst)
        out.append(dst)
    return out


def naive_loop(model_dir: Path, files: list[Path], device: str) -> float:
    """What most CLIP scripts do: preprocess(Image.open(p)) per file, encode in batches of 32."""
    import open_clip
    import torch

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{model_dir}", device=device)
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(files), 32):
            batch = torch.stack([preprocess(Image.open(p)) for p in files[i:i + 32]]).to(device)
            model.encode_image(batch)
    return len(files) / (time.perf_counter() - start)


def photoatlas_embed(model_dir: Path, files: list[Path], device: str) -> float:
    """``photoatlas embed`` on the same folder with an empty cache (model loading included)."""
    from desktop_app.core.pipeline import EmbedSettings, drive, run_embedding

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        result = drive(run_embedding([files[0].parent], EmbedSettings(
            model=f"local-dir:{model_dir}", device=device, cache_dir=Path(cache), batch_size=32)))
        seconds = time.perf_counter() - start
    assert result.stats["embedded"] == len(files), result.stats
    return len(files) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--arch", default="ViT-B-32")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import os

    import open_clip  # noqa: F401 - import once up front so neither measurement pays for it
    import torch

    model_dir = random_weights_model(args.arch)
    files = photo_like_jpegs(args.images)
    print(f"{args.images} JPEGs of 6000x4000, {args.arch} (random weights), device {args.device}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}")
    ours = photoatlas_embed(model_dir, files, args.device)
    print(f"photoatlas embed : {ours:7.2f} images/s")
    naive = naive_loop(model_dir, files, args.device)
    print(f"naive loop       : {naive:7.2f} images/s")
    ratio = ours / naive
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"ratio            : {ratio:7.2f}x  (target >= {TARGET_RATIO}: {verdict})")


if __name__ == "__main__":
    main()
