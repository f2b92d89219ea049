"""RAW items per second: through the embedded JPEG preview (what PhotoAtlas does) vs a half-size demosaic (its
fallback) vs a full demosaic (rawpy's default postprocess), on the same files, one thread.

    .venv/bin/python benchmarks/raw_preview.py              # 6 DNGs of 24 MP (6000x4000) with a full-size preview
    .venv/bin/python benchmarks/raw_preview.py 4 --mp 12    # another count / size

Input: DNGs written by tests/fixtures/dng.py (16-bit RGGB Bayer data, uncompressed, plus a full-size baseline JPEG
preview at quality 90, as most cameras embed), of a picture of shapes with sensor-like noise so the JPEG is
photo-sized (a few MB). Uncompressed raw data makes the files bigger than a camera's (48 MB of the 24 MP file is
sensor data); they are read from the page cache, so the figures are decode cost, not disk speed.
Each route produces what the embedder gets: an upright RGB picture of at least 224 px on its shorter side.
Target: the preview route at least 10x the full demosaic (it skips demosaicing entirely).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # LibRaw's demosaic may use OpenMP: compare one thread to one
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
TARGET_RATIO = 10.0
MIN_SIDE = 224  # the embedder's input side for ViT-B models


def _make(folder: Path, n: int, megapixels: float) -> list[Path]:
    import numpy as np
    from dng import write_dng
    from PIL import Image
    from shapes import COLOURS, SHAPES, draw_shape

    h = int((megapixels * 1e6 / 1.5) ** 0.5) // 2 * 2
    w = int(h * 1.5) // 2 * 2
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        colour, shape = list(COLOURS)[i % len(COLOURS)], SHAPES[i % len(SHAPES)]
        base = draw_shape(colour, shape, "large", 600, random.Random(i)).resize((w, h), Image.Resampling.BILINEAR)
        noisy = np.asarray(base, np.int16) + rng.normal(0, 6, (h, w, 1)).astype(np.int16)
        picture = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
        paths.append(write_dng(folder / f"DSC_{i:04d}.dng", picture, preview=picture, orientation=1 + 5 * (i % 2)))
    return paths


def _full_demosaic(path: Path):
    """What reading a RAW without its preview costs: LibRaw's default (AHD) demosaic at full size, then the
    same box reduction towards the model's size that the preview route gets."""
    import rawpy
    from PIL import Image

    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(use_camera_wb=True, output_bps=8)
    im = Image.fromarray(rgb)
    factor = min(im.size) // (2 * MIN_SIDE)
    return im.reduce(factor) if factor >= 2 else im


def _rate(paths: list[Path], decode) -> tuple[float, tuple[int, int]]:
    start = time.perf_counter()
    size = (0, 0)
    for p in paths:
        size = decode(p).size
    return len(paths) / (time.perf_counter() - start), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=6, help="number of RAW files (default 6)")
    parser.add_argument("--mp", type=float, default=24.0, help="megapixels per file (default 24)")
    args = parser.parse_args()

    from desktop_app.core.ingest import images
    from desktop_app.core.ingest.images import load_image

    def half_size_fallback(p: Path):
        """PhotoAtlas' route for a RAW without a usable preview, on the same file (its preview hidden)."""
        keep = images._jpeg_preview
        images._jpeg_preview = lambda raw: None
        try:
            return load_image(p, min_side=MIN_SIDE).image
        finally:
            images._jpeg_preview = keep

    with tempfile.TemporaryDirectory(prefix="raw-bench-") as tmp:
        t0 = time.perf_counter()
        paths = _make(Path(tmp), args.n, args.mp)
        made = time.perf_counter() - t0
        sizes = [p.stat().st_size / 1e6 for p in paths]
        for p in paths:
            p.read_bytes()  # into the page cache: every route then reads from memory
        preview, preview_size = _rate(paths, lambda p: load_image(p, min_side=MIN_SIDE).image)
        half, half_size = _rate(paths, half_size_fallback)
        full, full_size = _rate(paths, _full_demosaic)

    print(f"{args.n} DNGs of {args.mp:g} MP with a full-size JPEG preview, {sum(sizes) / len(sizes):.0f} MB each "
          f"(made in {made:.0f} s); one thread")
    print(f"  preview route (PhotoAtlas):     {preview:7.2f} items/s  -> {preview_size[0]}x{preview_size[1]}")
    print(f"  half-size demosaic (fallback):  {half:7.2f} items/s  -> {half_size[0]}x{half_size[1]}")
    print(f"  full demosaic (rawpy default):  {full:7.2f} items/s  -> {full_size[0]}x{full_size[1]}")
    ratio = preview / full
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"  preview / full demosaic: {ratio:.1f}x ({verdict} the {TARGET_RATIO:g}x target); "
          f"half-size / full: {half / full:.1f}x")


if __name__ == "__main__":
    main()
