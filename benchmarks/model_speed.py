"""CPU images/s of candidate default models (image tower only, random weights, batch 16).

    .venv/bin/python benchmarks/model_speed.py [ARCH ...]

Used to choose the default model: the most accurate model whose weights are at most ~650 MB and whose CPU
throughput is within 1.5x of ViT-B-32 (README, "Choosing the model"). Accuracy figures come from open_clip's
published zero-shot results; they are not measured here.
"""

from __future__ import annotations

import sys
import time

CANDIDATES = ["ViT-B-32", "ViT-B-32-256", "ViT-B-16", "MobileCLIP-S2"]


def images_per_second(arch: str, batch: int = 16, repeats: int = 3) -> tuple[float, float]:
    import open_clip
    import torch

    model = open_clip.create_model(arch).eval()
    params = sum(p.numel() for p in model.parameters())
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    x = torch.randn(batch, 3, size, size)
    with torch.inference_mode():
        model.encode_image(x)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model.encode_image(x)
    return batch * repeats / (time.perf_counter() - start), params * 4 / 1e6


def main() -> None:
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    base = None
    for arch in sys.argv[1:] or CANDIDATES:
        try:
            ips, mb = images_per_second(arch)
        except Exception as exc:  # a candidate needing a missing timm model should not stop the table
            print(f"{arch:16s} unavailable: {exc}")
            continue
        base = base or ips
        print(f"{arch:16s} {ips:6.1f} images/s  {base / ips:4.2f}x slower than the first  ~{mb:4.0f} MB fp32")


if __name__ == "__main__":
    main()
