"""The CPU way of embedding pictures: decode threads, each waiting on a sandbox worker process (Pillow, with
``draft`` for JPEGs, under a memory cap and a time limit: ingest/sandbox.py), feed batches to the model while it
runs — the way every picture goes without a GPU, and every picture the GPU cannot decode."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from desktop_app.core.embedding.embed import Embedder
from desktop_app.core.embedding.settings import Batch, EmbedSettings, decode_item
from desktop_app.core.errors import UnreadableFile
from desktop_app.core.ingest import sandbox
from desktop_app.core.ingest.items import Item


def cpu_batches(items: Sequence[Item], embedder: Embedder, settings: EmbedSettings, workers: int,
                  ) -> Generator[Batch, None, None]:
    """Decode in a thread pool (bounded look-ahead) and yield (embedded rows, unreadable items) per batch."""
    import torch

    bs = max(1, settings.batch_size)
    limits = settings.decode_limits()
    stop = threading.Event()
    sandbox.warm(min(workers, len(items)))  # (the pipeline started them while the model loaded)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="photoatlas-decode")
    try:
        pending: deque[tuple[Item, Future[tuple[Any, bool]]]] = deque()
        todo = iter(items)
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < bs * 3:
                nxt = next(todo, None)
                if nxt is None:
                    exhausted = True
                else:
                    pending.append((nxt, pool.submit(decode_item, nxt, embedder, limits, stop)))
            batch: list[tuple[Item, Any, bool]] = []
            failed: list[tuple[Item, UnreadableFile]] = []
            while pending and len(batch) < bs:
                item, fut = pending.popleft()
                try:
                    tensor, partial = fut.result()
                except UnreadableFile as exc:
                    failed.append((item, exc))
                    continue
                batch.append((item, tensor, partial))
            rows: list[tuple[Item, str, np.ndarray]] = []
            if batch:
                vecs = embedder.embed_pixels(torch.stack([t for _, t, _ in batch]))
                rows = [(it, "partial" if partial else "ok", v) for (it, _, partial), v in zip(batch, vecs)]
            yield rows, failed
    finally:
        # On cancel the consumer closes this generator: drop queued decodes instead of finishing them, and stop
        # waiting for those under way (their workers are killed: a file that would take 30 s does not hold Cancel).
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
