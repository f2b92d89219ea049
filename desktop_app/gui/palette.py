"""Group colours: distinct, readable on light and dark backgrounds, neighbouring groups unlike each other.

The palette is colorcet's ``glasbey_bw_minc_20_maxl_70`` (Glasbey et al.: each entry chosen to be as far as
possible, in a perceptual colour space, from all earlier ones). That variant has no greys (chroma >= 20, so a
group never looks like grey noise) and nothing lighter than L* 70 (nothing vanishes on a white map); we also drop
its entries darker than L* 35 (they vanish on a dark map), which leaves ~185 colours, in Glasbey's order.

``group_colour(id)`` is the palette entry of that id (stable, used where no map is at hand); the map assigns
entries itself with ``assign_colours`` so that groups whose centres are close get colours far apart, and its
``MapView.colour_of(id)`` is the colour a group has on screen.
"""

from __future__ import annotations

import colorcet
import numpy as np
from PySide6.QtGui import QColor

NOISE = QColor("#9a9a9a")
HIGHLIGHT_FRAME = QColor("#ff9f1a")  # search hits / outliers in thumbnail mode: amber, unlike any selection blue
LABEL_COLOURS = {  # core.review.COLOUR_LABELS, in that order: the colours Lightroom shows for its labels
    "Red": QColor("#e5383b"), "Yellow": QColor("#f2c94c"), "Green": QColor("#3fb950"),
    "Blue": QColor("#3b82f6"), "Purple": QColor("#a855f7")}
STAR_COLOUR = QColor(245, 190, 30)  # stars on thumbnails and grid cells
PICK_COLOUR, REJECT_COLOUR = QColor("#2e9d4f"), QColor("#d64541")  # the same badges in map, grid and compare


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of sRGB colours in 0..1, shape (n, 3) -> (n, 3)."""
    rgb = np.asarray(rgb, np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = linear @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def _palette() -> np.ndarray:
    rgb = np.asarray(colorcet.glasbey_bw_minc_20_maxl_70, np.float64)
    lightness = srgb_to_lab(rgb)[:, 0]
    return rgb[(lightness >= 35) & (lightness <= 72)]


PALETTE_RGB = _palette()  # (n, 3) in 0..1, Glasbey order
PALETTE_LAB = srgb_to_lab(PALETTE_RGB)
PALETTE = [QColor.fromRgbF(*map(float, c)) for c in PALETTE_RGB]


def group_colour(cluster_id: int) -> QColor:
    """The palette entry of a group id (noise, id < 0, is grey). The map may assign others: see colour_of."""
    if cluster_id < 0:
        return QColor(NOISE)
    return QColor(PALETTE[cluster_id % len(PALETTE)])


def assign_colours(ids: np.ndarray, centres: np.ndarray, sizes: np.ndarray, previous: dict[int, int] | None = None,
                   k: int = 6) -> dict[int, int]:
    """Palette index for each group id (ids >= 0), neighbouring groups far apart in colour.

    Greedy graph colouring over the groups' ``k`` nearest neighbours by centre: biggest group first, each takes
    the unused palette entry (among the first ``max(len(ids), 24)``, the most distinct ones) whose smallest
    perceptual distance (CIE76 ΔE) to its already coloured neighbours is largest. Ids in ``previous`` keep their
    entry, so a new or merged group does not repaint the others. Entries repeat only past the palette's length.
    """
    ids = np.asarray(ids, np.int64)
    centres = np.asarray(centres, np.float64).reshape(len(ids), 2)
    present = set(ids.tolist())
    result = {int(g): int(c) for g, c in (previous or {}).items() if g in present}
    todo = [j for j in np.argsort(-np.asarray(sizes), kind="stable") if int(ids[j]) not in result]
    if not todo:
        return result
    d = np.linalg.norm(centres[:, None] - centres[None], axis=2) if len(ids) <= 4000 else None
    pool = min(len(PALETTE), max(len(ids), 24))
    used = np.zeros(len(PALETTE), bool)
    used[list(result.values())] = True
    for j in todo:
        free = np.nonzero(~used[:pool])[0]
        if len(free) == 0:  # more groups than colours: reuse, still avoiding the neighbours' colours
            free = np.arange(pool)
        if d is not None and len(ids) > 1:
            near = np.argsort(d[j])[1:k + 1]
            taken = [result[int(ids[m])] for m in near if int(ids[m]) in result]
        else:
            taken = []
        if taken:
            gaps = np.linalg.norm(PALETTE_LAB[free][:, None] - PALETTE_LAB[taken][None], axis=2).min(axis=1)
            choice = int(free[int(np.argmax(gaps))])
        else:
            choice = int(free[0])
        result[int(ids[j])] = choice
        used[choice] = True
    return result
