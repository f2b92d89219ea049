"""What steers embedding (``EmbedSettings``) and the pieces every way of embedding shares — the CPU decoding of
one picture in a sandbox worker (``decode_item``) and the ``Batch`` each way yields — kept apart from the pipeline
so that the GPU and Ray paths use them without importing the pipeline that calls them."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop_app.core.errors import UnreadableFile
from desktop_app.core.ingest.images import PILLOW_DEFAULT_MAX_PIXELS
from desktop_app.core.ingest.items import Item
from desktop_app.core.ingest.sandbox import DEFAULT_MEMORY, DEFAULT_SECONDS, DecodeLimits
from desktop_app.core.ingest.sandbox import decode as decode_picture
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
    # What decoding one picture may take in its sandbox worker (ingest/sandbox.py): memory above the worker's idle
    # footprint (bytes) and wall-clock seconds. A file over either is skipped with the reason, and remembered.
    decode_memory: int = DEFAULT_MEMORY
    decode_seconds: float = DEFAULT_SECONDS
    decode_workers: int | None = None
    torch_threads: int | None = None
    # Pictures embedded on a Ray cluster instead of this machine (``photoatlas embed --ray``); see
    # core/embedding/ray_embed.py.
    ray: RayOptions | None = None

    def decode_limits(self) -> DecodeLimits:
        return DecodeLimits(max_pixels=self.max_pixels, memory=self.decode_memory, seconds=self.decode_seconds)


# One batch of pictures done: (embedded rows as (item, "ok" | "partial", vector), unreadable items with why).
Batch = tuple[list[tuple[Item, str, np.ndarray]], list[tuple[Item, UnreadableFile]]]


def decode_item(item: Item, embedder: Embedder, limits: DecodeLimits, stop: threading.Event | None = None,
                ) -> tuple[Any, bool]:
    """The model's input tensor for the picture ``item`` and whether it was cut short: decoded on the CPU in a
    sandbox worker within ``limits`` (``stop``: give up waiting, see ``sandbox.decode``), then the model's own
    preprocessing here."""
    decoded = decode_picture(item.path, min_side=embedder.image_size, limits=limits, resize=worker_resize(embedder),
                             stop=stop)
    return embedder.preprocess(decoded.image), decoded.partial


_RESIZES: weakref.WeakKeyDictionary[Any, tuple[int, int] | None] = weakref.WeakKeyDictionary()


def worker_resize(embedder: Embedder) -> tuple[int, int] | None:
    """The model's Resize step as (shorter side, PIL filter), for the sandbox worker to do, or None when the model's
    transform is not the plain Resize-CenterCrop-Normalize (then the picture comes back as decoded). The worker
    resizes exactly as torchvision would; the model's own Resize then finds the picture at its size and returns it
    untouched, so the model's input is bit for bit what it was, with a few hundred KB less through the pipe."""
    if embedder not in _RESIZES:
        from torchvision.transforms.functional import pil_modes_mapping

        from desktop_app.core.embedding.transform_plan import plain_transform

        plan = plain_transform(embedder.preprocess)
        _RESIZES[embedder] = None if plan is None else (plan.size, int(pil_modes_mapping[plan.interpolation]))
    return _RESIZES[embedder]
