"""Big libraries: above DENSITY_ABOVE points in view the map paints one density image instead of dots (a million
dots take ~0.2 s a frame); zoomed in, the points are dots again and clickable."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from desktop_app.gui import map_view  # noqa: E402
from desktop_app.gui.map_view import MapView  # noqa: E402
from desktop_app.gui.thumbs import ThumbnailService  # noqa: E402


def test_many_points_become_an_image_and_few_become_dots_again(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(map_view, "DENSITY_ABOVE", 100)
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [30, 0], [0, 30]], np.float32)
    labels = np.repeat(np.arange(3), 100)
    coords = (centres[labels] + rng.normal(scale=2, size=(300, 2))).astype(np.float32)
    view = MapView(ThumbnailService(Path(tempfile.mkdtemp())))
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    view.set_items(coords, labels, ["image"] * 300, [f"/p/{i}.jpg" for i in range(300)], [None] * 300,
                   {0: "a", 1: "b", 2: "c"})
    view._feed_dots()
    assert view.density.isVisible() and len(view.scatter.data) == 0
    # The image shows the groups' own colours where their points are.
    image = view.density.image
    colour = view.colour_of(1).getRgb()[:3]
    assert np.any(np.all(image[..., :3] == colour, axis=-1) & (image[..., 3] > 0))
    # Zoomed onto one group (100 points in view): dots again, with their row numbers for clicks.
    view.box.setRange(xRange=(22, 38), yRange=(-8, 8), padding=0)
    view._feed_dots()
    assert not view.density.isVisible()
    rows = {int(r) for r in view.scatter.data["data"]}
    assert rows and rows <= set(range(100, 200))
    # Selecting by rectangle works on the points themselves, image or not.
    view.fit_all()
    view._feed_dots()
    from PySide6.QtCore import QRectF

    view._rect_selected(QRectF(-10, -10, 20, 20), False)
    assert view.selected == set(range(100))
