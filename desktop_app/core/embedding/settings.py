"""What steers embedding (``EmbedSettings``) and the pieces every way of embedding shares — the CPU decoding of
one picture (``decode_item``) and the ``Batch`` each way yields — kept apart from the pipeline so that the GPU and
Ray paths use them without importing the pipeline that calls them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop_app.core.errors import UnreadableFile
from desktop_app.core.ingest.images import PILLOW_DEFAULT_MAX_PIXELS, load_image
from desktop_app.core.ingest.items import Item
from desktop_app.core.model_names import DEFAULT_MODEL

if TYPE_CHECKING:
    from desktop_app.core.embedding.embed import Embedder
    from desktop_app.core.embedding.ray_embed import RayOptions


@dataclass
class EmbedSettings:
    """Everything that steers embedding. ``None`` means "pick a good default for this machine"."""

    model: str = DEFAULT_MODEL
    device: str = "auto"
    batch_size: int = 32
    cache_dir: Path | None = None
    offline: bool = False
    max_pixels: int | None = PILLOW_DEFAULT_MAX_PIXELS
    decode_workers: int | None = None
    torch_threads: int | None = None
    # Pictures embedded on a Ray cluster instead of this machine (``photoatlas embed --ray``); see
    # core/embedding/ray_embed.py.
    ray: RayOptions | None = None


# One batch of pictures done: (embedded rows as (item, "ok" | "partial", vector), unreadable items with why).
Batch = tuple[list[tuple[Item, str, np.ndarray]], list[tuple[Item, UnreadableFile]]]


def decode_item(item: Item, embedder: Embedder, max_pixels: int | None) -> tuple[Any, bool]:
    """The model's input tensor for the picture ``item`` and whether it was cut short (decoded on the CPU)."""
    decoded = load_image(item.path, min_side=embedder.image_size, max_pixels=max_pixels)
    return embedder.preprocess(decoded.image), decoded.partial
