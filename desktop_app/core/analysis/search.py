"""Search: rank every item by cosine similarity to a text query's CLIP vector, or to one item's vector.

Exact search (one matrix-vector product) is used at every size: 200k x 512 float32 vectors take a few
tens of milliseconds (benchmarks/map_build.py measures it) and a million under 100 ms
(benchmarks/search_million.py), so an approximate index would buy nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Ranking:
    """``scores[i]`` is item i's cosine similarity (for colouring the map); ``order`` lists items best first."""

    scores: np.ndarray  # (n,) float32
    order: np.ndarray  # (top,) int64 indices into the items

    def top(self, n: int) -> list[tuple[int, float]]:
        return [(int(i), float(self.scores[i])) for i in self.order[:n]]


def rank(vectors: np.ndarray, query: np.ndarray, top: int | None = None, exclude: int | None = None) -> Ranking:
    """Rank rows of ``vectors`` (normalised) by similarity to ``query``; ``exclude`` drops one row (itself)."""
    q = np.asarray(query, np.float32).reshape(-1)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    scores = np.asarray(vectors, np.float32) @ q if len(vectors) else np.zeros(0, np.float32)
    skip = exclude if exclude is not None and 0 <= exclude < len(scores) else None
    n = len(scores) - (skip is not None)
    top = n if top is None else max(0, min(top, n))
    if top == 0:
        return Ranking(scores, np.zeros(0, np.int64))
    return Ranking(scores, _best(scores, top, skip))


def _best(scores: np.ndarray, top: int, skip: int | None) -> np.ndarray:
    """The ``top`` best rows, best first (ties by row), leaving out ``skip``. A partial selection on the scores
    themselves (no negated copy, no full sort): at a million items ~10 ms next to the product's ~80."""
    want = min(len(scores), top + (skip is not None))
    part = np.argpartition(scores, len(scores) - want)[len(scores) - want:] if want < len(scores) \
        else np.arange(len(scores))
    if skip is not None:
        part = part[part != skip]
    # Stable order: best first, equal scores by row (what argsort(kind="stable") on the rows gives).
    return part[np.lexsort((part, -scores[part]))][:top].astype(np.int64)
