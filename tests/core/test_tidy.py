"""Tidy layout: each group on its own grid, no two pictures in one cell, no two groups' grids overlapping."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.core.analysis.tidy import tidy_grid, tidy_layout


def blobs(seed: int, groups: int = 8, per: tuple[int, int] = (5, 400), spread: float = 10.0):
    """make_blobs-like data: groups of uneven size around random centres, some of them close together."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-spread, spread, size=(groups, 2))
    sizes = rng.integers(per[0], per[1], groups)
    labels = np.repeat(np.arange(groups), sizes)
    labels[rng.random(len(labels)) < 0.05] = -1  # some noise
    coords = centres[np.repeat(np.arange(groups), sizes)] + rng.normal(scale=1.0, size=(len(labels), 2))
    return coords, labels


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_picture_has_its_own_cell_and_groups_do_not_overlap(seed) -> None:
    coords, labels = blobs(seed)
    grid = tidy_grid(coords, labels)
    out = grid.coords
    assert out.shape == coords.shape and np.isfinite(out).all()
    # No two items in the same cell: every pair is at least one cell apart (in x or in y).
    d = np.abs(out[:, None, :] - out[None, :, :]).max(axis=2)
    np.fill_diagonal(d, np.inf)
    assert d.min() >= grid.cell * 0.999
    # Every item lies inside its group's box, and the boxes are pairwise disjoint.
    ids = sorted(grid.boxes)
    assert ids == sorted(set(labels.tolist()))
    for g in ids:
        x0, y0, x1, y1 = grid.boxes[g]
        mine = out[labels == g]
        assert (mine[:, 0] > x0).all() and (mine[:, 0] < x1).all() and (mine[:, 1] > y0).all()
        assert (mine[:, 1] < y1).all()
    for a in ids:
        for b in ids:
            if a < b:
                ax0, ay0, ax1, ay1 = grid.boxes[a]
                bx0, by0, bx1, by1 = grid.boxes[b]
                assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, (a, b)


def test_groups_stay_near_their_place_and_keep_their_order() -> None:
    """Well separated groups are hardly moved, and the grid keeps the original left-to-right order."""
    rng = np.random.default_rng(5)
    centres = np.array([[-30.0, -30.0], [30.0, -30.0], [-30.0, 30.0], [30.0, 30.0], [0.0, 0.0]])
    labels = np.repeat(np.arange(5), 100)
    coords = centres[labels] + rng.normal(size=(500, 2))
    grid = tidy_grid(coords, labels)
    for g in range(5):
        x0, y0, x1, y1 = grid.boxes[g]
        box_centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        original = np.median(coords[labels == g], axis=0)
        assert np.linalg.norm(box_centre - original) < 0.1 * 60  # a tenth of the map's span at most
    # Within a group, the leftmost original point ends up left of the rightmost one, and the top above the bottom.
    m = np.nonzero(labels == 0)[0]
    out = grid.coords
    left, right = m[np.argmin(coords[m, 0])], m[np.argmax(coords[m, 0])]
    top, bottom = m[np.argmax(coords[m, 1])], m[np.argmin(coords[m, 1])]
    assert out[left, 0] < out[right, 0] and out[top, 1] > out[bottom, 1]


def test_degenerate_inputs() -> None:
    assert tidy_layout(np.zeros((0, 2)), np.zeros(0, int)).shape == (0, 2)
    one = tidy_layout(np.array([[1.0, 2.0]]), np.array([0]))
    assert np.allclose(one, [[1.0, 2.0]])
    same = tidy_grid(np.zeros((30, 2)), np.repeat([0, 1, 2], 10))  # every point on one spot, three groups
    d = np.abs(same.coords[:, None] - same.coords[None]).max(axis=2)
    np.fill_diagonal(d, np.inf)
    assert d.min() >= same.cell * 0.999 and np.isfinite(same.coords).all()
