"""Measure where a model puts near-duplicates: cosine similarity of edited copies to their original versus
distinct pictures, and the precision / recall of near-duplicate pairs at several thresholds.

    .venv/bin/python benchmarks/duplicate_threshold.py                       # the tiny test model
    .venv/bin/python benchmarks/duplicate_threshold.py --model ViT-B-32-256:datacomp_s34b_b86k

Pictures: the generated colour-shape pictures of the tests (every colour x shape, two compositions each)
and four copies of each (resized to half, recompressed at JPEG quality 35, 5 % cropped off every side,
brightened 25 %; tests/fixtures/near_dups.py). Distinct pictures of the same class are distinct pictures.
Run it with the model you use to choose ``--threshold`` for ``photoatlas duplicates``.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

THRESHOLDS = (0.85, 0.90, 0.92, 0.94, 0.96, 0.98)


def main() -> None:
    import numpy as np
    from near_dups import near_duplicates
    from shapes import all_labels, draw_shape

    from desktop_app.core.embedding.embed import Embedder, ModelSpec, resolve_model

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=f"local-dir:{ROOT / 'tests' / 'fixtures' / 'tiny-clip'}")
    args = parser.parse_args()
    embedder = Embedder.load(resolve_model(ModelSpec.parse(args.model)), "auto")
    images, picture, variant = [], [], []
    for k, (colour, shape) in enumerate(all_labels()):
        for seed in range(2):
            original = draw_shape(colour, shape, "large", 256, random.Random(1000 * seed + k))
            for how, img in [("original", original), *near_duplicates(original).items()]:
                images.append(img.convert("RGB"))
                picture.append(2 * k + seed)
                variant.append(how)
    v = embedder.embed_images(images)
    picture_arr, variant_arr = np.array(picture), np.array(variant)
    sims = v @ v.T
    same = picture_arr[:, None] == picture_arr[None, :]
    upper = np.triu(np.ones_like(same), k=1)
    print(f"model {args.model}: {len(set(picture))} distinct pictures x 5 versions")
    originals = variant_arr == "original"
    for how in ("resized", "recompressed", "cropped", "brightened"):
        rows = np.nonzero(variant_arr == how)[0]
        to_original = [sims[r, np.nonzero(originals & (picture_arr == picture_arr[r]))[0][0]] for r in rows]
        print(f"  {how:13s} copy vs original: min {min(to_original):.3f}  median {np.median(to_original):.3f}")
    distinct = sims[~same & upper]
    print(f"  distinct pictures: max {distinct.max():.3f}  99.9th percentile {np.percentile(distinct, 99.9):.3f}")
    for t in THRESHOLDS:
        found = (sims >= t) & upper
        tp = int((found & same).sum())
        precision = tp / max(1, int(found.sum()))
        recall = tp / int((same & upper).sum())
        print(f"  threshold {t:.2f}: precision {precision:.3f}  recall {recall:.3f}")


if __name__ == "__main__":
    main()
