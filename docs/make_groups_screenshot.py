"""Make docs/images/groups-within-groups.png with the app itself: a library where two scenes of one subject
form one group with two sub-groups, beside kinds of 3 to 15 pictures, analysed with the tiny test model.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_groups_screenshot.py
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
sys.path.insert(0, str(ROOT / "docs"))


def make_library(root: Path) -> None:
    """Two scenes of red circles (12 near-identical frames each) and kinds of 15, 10, 8 and 3 pictures."""
    import numpy as np
    from PIL import Image
    from shapes import draw_shape

    noise = np.random.default_rng(0)
    for scene in (1, 2):
        base = np.asarray(draw_shape("red", "circle", "large", 240, random.Random(scene)), np.int16)
        for i in range(12):
            frame = np.clip(base + noise.integers(-12, 13, base.shape), 0, 255).astype(np.uint8)
            path = root / f"scene {scene}" / f"IMG_{scene}{i:02d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame).save(path, quality=90)
    rng = random.Random(4)
    for colour, shape, count in (("blue", "square", 15), ("green", "triangle", 10), ("yellow", "triangle", 8),
                                 ("orange", "triangle", 3)):
        for i in range(count):
            path = root / "more" / f"{colour}-{shape}-{i:02d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            draw_shape(colour, shape, "large", 240, rng).save(path, quality=90)


def main() -> None:
    from screenshot_window import analysed_window, settle_and_save

    lib = Path(tempfile.mkdtemp()) / "Weekend"
    make_library(lib)
    _, window = analysed_window(lib)
    family = next(c for c in window.analysis.clusters if window.analysis.children(c.id))
    window.groups.expandAll()
    window.group_activated(window.analysis.children(family.id)[0].id)  # select the first sub-group on the map
    window.map.fit_all()
    settle_and_save(window, "groups-within-groups.png", seconds=3)  # the examples and the map's thumbnails


if __name__ == "__main__":
    main()
