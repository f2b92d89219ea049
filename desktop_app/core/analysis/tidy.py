"""Tidy layout: each group's pictures on a square grid around the group's place on the map (PixPlot's grid idea).

A UMAP map piles a 400-picture group into a heap where thumbnails hide each other. Here every group gets a
``cols x rows`` grid of equal cells (cols = ceil(sqrt(n))) centred on its place, its pictures ordered so that
neighbours on the map stay neighbours in the grid (rows by the original y, each row by the original x), and the
grids' boxes are pushed apart until none overlaps. Pure numpy: no Qt, usable from scripts and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class TidyGrid:
    """The tidy layout: new ``coords`` (n, 2), the side of one grid ``cell`` in map units, and each group's box
    ``(x0, y0, x1, y1)`` (the outer edges of its cells) by group id."""

    coords: np.ndarray
    cell: float
    boxes: dict[int, tuple[float, float, float, float]]


def _group_members(labels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    ids, inverse = np.unique(labels, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse, minlength=len(ids))
    return ids, np.split(order, np.cumsum(counts)[:-1])


def _separate(pos: np.ndarray, half: np.ndarray, weight: np.ndarray, iterations: int) -> np.ndarray:
    """Push boxes (centres ``pos``, half-sizes ``half``, both (g, 2)) apart along the axis of least overlap,
    the lighter box of a pair moving more. Returns the new centres (may still overlap a little)."""
    pos = pos.copy()
    g = len(pos)
    if g < 2:
        return pos
    tiebreak = np.sign(np.arange(g)[:, None] - np.arange(g)[None, :]).astype(np.float64)  # coincident centres
    share = weight[None, :] / (weight[:, None] + weight[None, :])  # how much of a pair's push i takes
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]  # (g, g, 2): i minus j
        overlap = half[:, None, :] + half[None, :, :] - np.abs(delta)
        hit = (overlap[..., 0] > 0) & (overlap[..., 1] > 0)
        np.fill_diagonal(hit, False)
        if not hit.any():
            break
        along_x = overlap[..., 0] <= overlap[..., 1]
        sign = np.where(delta != 0, np.sign(delta), tiebreak[..., None])
        push = np.zeros_like(delta)
        push[..., 0] = np.where(hit & along_x, sign[..., 0] * overlap[..., 0], 0)
        push[..., 1] = np.where(hit & ~along_x, sign[..., 1] * overlap[..., 1], 0)
        # Damped (0.6): a box in several collisions would otherwise be pushed by the sum of them all at once.
        pos += 0.6 * (push * share[..., None]).sum(axis=1)
    return pos


def tidy_grid(coords: np.ndarray, labels: np.ndarray, *, fill: float = 0.3, gap: float = 1.0,
              iterations: int = 300) -> TidyGrid:
    """Lay each group (same label; noise, -1, is one group too) on its own non-overlapping grid.

    ``fill``: the share of the original layout's bounding box the grids cover before they are pushed apart (the
    cell size follows from it). ``gap``: empty cells kept between two groups' boxes. Cost: O(n log n) for the
    grids plus O(g²) per separation step for g groups.
    """
    coords = np.asarray(coords, np.float64).reshape(-1, 2)
    labels = np.asarray(labels).reshape(-1)
    n = len(coords)
    if n == 0:
        return TidyGrid(np.zeros((0, 2), np.float32), 1.0, {})
    ids, members = _group_members(labels)
    sizes = np.array([len(m) for m in members], np.float64)
    cols = np.ceil(np.sqrt(sizes))
    rows = np.ceil(sizes / cols)
    centres = np.array([np.median(coords[m], axis=0) for m in members])

    span = np.ptp(coords, axis=0)
    area = float(max(span[0], 1e-9) * max(span[1], 1e-9)) if span.max() > 0 else 1.0
    cell = float(np.sqrt(fill * area / float((cols * rows).sum())))
    half = np.stack([cols, rows], axis=1) * cell / 2 + gap * cell / 2  # the gap is shared by two neighbours
    pos = _separate(centres, half, sizes, iterations)

    # Whatever overlap the pushes left, shrink every cell by the one factor that removes it exactly.
    if len(pos) > 1:
        delta = np.abs(pos[:, None, :] - pos[None, :, :])
        need = half[:, None, :] + half[None, :, :]
        scale = np.max(delta / need, axis=2)
        np.fill_diagonal(scale, np.inf)
        shrink = float(min(1.0, scale.min()))
        if shrink <= 0:  # two groups on the very same spot after pushing (only possible with degenerate input)
            pos += np.arange(len(pos))[:, None] * cell * (cols.max() + gap)
            shrink = 1.0
        cell *= shrink

    out = np.empty((n, 2), np.float64)
    boxes: dict[int, tuple[float, float, float, float]] = {}
    for g, m in enumerate(members):
        c, r = int(cols[g]), int(rows[g])
        # Rows by the original y (top row = highest y, as the map draws y upwards), each row by the original x.
        by_y = m[np.argsort(-coords[m, 1], kind="stable")]
        x0, y1 = pos[g, 0] - c * cell / 2, pos[g, 1] + r * cell / 2
        for row in range(r):
            chunk = by_y[row * c:(row + 1) * c]
            chunk = chunk[np.argsort(coords[chunk, 0], kind="stable")]
            out[chunk, 0] = x0 + (np.arange(len(chunk)) + 0.5) * cell
            out[chunk, 1] = y1 - (row + 0.5) * cell
        boxes[int(ids[g])] = (float(x0), float(y1 - r * cell), float(x0 + c * cell), float(y1))
    return TidyGrid(out.astype(np.float32), cell, boxes)


def tidy_layout(coords: np.ndarray, labels: np.ndarray, **options: Any) -> np.ndarray:
    """New coordinates (n, 2) with each group on its own non-overlapping grid; see ``tidy_grid``."""
    return tidy_grid(coords, labels, **options).coords
