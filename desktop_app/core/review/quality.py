"""How good a frame is, from measurable things: sharpness, clipped highlights and shadows, resolution.

Sharpness is the variance of the Laplacian (the usual focus measure), taken tile by tile on a preview of
fixed size (``PREVIEW`` px on the long side), averaged over the sharpest tiles: the sharpest parts of
the frame decide, so neither a downscaled copy (fewer pixels) nor a cropped one (less flat background)
looks sharper than its original; resolution counts separately. Scores compare frames *within* one
duplicate or burst group; they mean nothing across groups.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core.errors import UnreadableFile
from desktop_app.core.ingest import sandbox

PREVIEW = 512  # px, long side of the picture sharpness is measured on
TILES = 8  # sharpness is judged tile by tile on an 8 x 8 grid (see ``focus``)
CLIP_HIGH, CLIP_LOW = 250, 5  # 8-bit luminance at or beyond which a pixel counts as clipped
# Weights of the score. Sharpness counts by its logarithm at half weight: a blurred frame (3x less Laplacian
# variance or worse) loses clearly, while differences within ~25 % — how much tile alignment alone moves the
# measure between an original and its crop — lose to a real difference in resolution.
SHARPNESS_WEIGHT = 0.5
CLIP_WEIGHT = 4.0  # score lost per unit fraction of clipped pixels (10 % clipped costs 0.4)
RESOLUTION_WEIGHT = 0.5  # score per doubling of megapixels


@dataclass(frozen=True)
class Quality:
    """Measured qualities of one frame; ``score`` combines them (higher is better, None: unreadable)."""

    sharpness: float = 0.0
    highlights: float = 0.0  # fraction of pixels clipped white
    shadows: float = 0.0  # fraction of pixels clipped black
    megapixels: float = 0.0
    readable: bool = True

    @property
    def score(self) -> float:
        if not self.readable:
            return -math.inf
        return (SHARPNESS_WEIGHT * math.log1p(self.sharpness) - CLIP_WEIGHT * (self.highlights + self.shadows)
                + RESOLUTION_WEIGHT * math.log2(max(self.megapixels, 1e-3)))

    def to_json(self) -> dict[str, Any]:
        data = {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}
        data["score"] = round(self.score, 4) if self.readable else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Quality:
        return cls(float(data.get("sharpness", 0)), float(data.get("highlights", 0)),
                   float(data.get("shadows", 0)), float(data.get("megapixels", 0)), bool(data.get("readable", True)))


def _laplacian(gray: np.ndarray) -> np.ndarray:
    g = gray.astype(np.float32)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return np.zeros((0, 0), np.float32)
    return g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]


def focus(gray: np.ndarray, grid: int = TILES, top: int = 3) -> float:
    """How sharp the picture's sharpest parts are: the mean Laplacian variance of the ``top`` sharpest tiles
    of a ``grid`` x ``grid`` grid. Unlike the variance over the whole frame it hardly changes when a copy is
    cropped (less flat background): the subject's edges decide, as when a photographer judges focus."""
    lap = _laplacian(gray)
    if lap.size == 0:
        return 0.0
    h, w = lap.shape
    ty, tx = max(1, h // grid), max(1, w // grid)
    tiles = lap[: ty * (h // ty), : tx * (w // tx)].reshape(h // ty, ty, w // tx, tx)
    per_tile = np.sort(tiles.var(axis=(1, 3)), axis=None)
    return float(per_tile[-top:].mean())


def measure(path: str | Path) -> Quality:
    """Measure one image file (decoded in a sandbox worker, see ``ingest/sandbox.py``); an unreadable file gets
    ``readable=False`` (never the best frame)."""
    try:
        decoded = sandbox.decode(Path(path), min_side=PREVIEW, fit=PREVIEW)
    except UnreadableFile:
        return Quality(readable=False)
    im = decoded.image
    gray = np.asarray(im.convert("L"))
    w, h = decoded.original_size
    return Quality(sharpness=focus(gray), highlights=float((gray >= CLIP_HIGH).mean()),
                   shadows=float((gray <= CLIP_LOW).mean()), megapixels=w * h / 1e6)

