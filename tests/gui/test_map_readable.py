"""The map read at any zoom, checked by its pixels: selection rings and search highlights in thumbnail mode,
group names without overlap that follow renames, clicks anywhere on a thumbnail, distinct colours, tidy grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage  # noqa: E402

from desktop_app.gui.map_view import THUMB_MAX, THUMB_MIN, MapView  # noqa: E402
from desktop_app.gui.palette import PALETTE_LAB, srgb_to_lab  # noqa: E402
from desktop_app.gui.thumbs import ThumbnailService  # noqa: E402

PHOTO = (40, 150, 70)  # every picture is this green: unlike the map's white, its blue selection, its amber hits


def build(qtbot, tmp_path: Path, groups: int = 6, per: int = 8, radius: float = 12.0, seed: int = 0,
          photo: tuple[int, int] = (120, 90)) -> MapView:
    """A shown 800x600 map of ``groups`` x ``per`` real JPEGs, groups around a circle; group 0 the biggest."""
    rng = np.random.default_rng(seed)
    pics = tmp_path / "pics"
    pics.mkdir(exist_ok=True)
    angles = np.linspace(0, 2 * np.pi, groups, endpoint=False)
    centres = np.stack([np.cos(angles), np.sin(angles)], axis=1) * radius
    labels = np.repeat(np.arange(groups), per)
    labels = np.concatenate([labels, np.zeros(per, np.int64)])  # group 0 twice as big
    coords = centres[labels] + rng.normal(scale=1.0, size=(len(labels), 2))
    paths = []
    for i in range(len(labels)):
        path = pics / f"{i:04d}.jpg"
        if not path.exists():
            Image.new("RGB", photo, PHOTO).save(path, quality=90)
        paths.append(str(path))
    thumbs = ThumbnailService(tmp_path / "thumbs", side=144)
    view = MapView(thumbs)
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    qtbot.waitExposed(view)
    view.set_items(coords, labels, ["image"] * len(labels), paths, [None] * len(labels),
                   {g: f"Group {g}" for g in range(groups)})
    return view


def show_thumbnails(qtbot, view: MapView, x: tuple[float, float], y: tuple[float, float]) -> np.ndarray:
    view.box.setRange(xRange=x, yRange=y, padding=0)
    qtbot.waitUntil(lambda: view.thumbnail_items() is not None and len(view.thumbnail_items()) > 0)
    items = view.thumbnail_items()
    qtbot.waitUntil(lambda: all(view.thumbnails.pixmap(int(i)) is not None for i in items), timeout=30_000)
    return items


def rects(view: MapView) -> dict[int, object]:
    return {i: r for i, r, _ in view.thumbnail_rects(view.thumb_layer.deviceTransform(view.viewportTransform()))}


def grab(view: MapView) -> QImage:
    view.repaint()
    return view.grab().toImage()


def near(a: QColor, b: QColor, tol: int = 40) -> bool:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue()) <= tol


def test_selection_ring_is_drawn_around_a_selected_thumbnail(qtbot, tmp_path) -> None:
    view = build(qtbot, tmp_path)
    view.set_tidy(True)  # a grid: thumbnails never overlap, so "just outside" one is the map itself
    box = view._tidy.boxes[0]
    show_thumbnails(qtbot, view, (box[0], box[2]), (box[1], box[3]))
    drawn = rects(view)
    chosen, other = sorted(drawn)[:2]
    view.set_selection({chosen})
    image = grab(view)
    ring = view.palette().highlight().color()

    def outside(i: int) -> QColor:
        r = drawn[i]
        return image.pixelColor(int(r.left() - 4), int(r.center().y()))

    assert near(outside(chosen), ring)
    assert not near(outside(other), ring)
    assert near(image.pixelColor(drawn[chosen].center().toPoint()), QColor(*PHOTO))  # the photo itself shows


def test_search_highlight_dims_the_rest_in_thumbnail_mode(qtbot, tmp_path) -> None:
    view = build(qtbot, tmp_path)
    view.set_tidy(True)
    box = view._tidy.boxes[0]
    show_thumbnails(qtbot, view, (box[0], box[2]), (box[1], box[3]))
    items = sorted(rects(view))
    hit, miss = items[0], items[1]
    mask = np.zeros(len(view.coords), bool)
    mask[hit] = True
    view.set_highlight(mask)
    image = grab(view)
    drawn = rects(view)
    lit = image.pixelColor(drawn[hit].center().toPoint())
    dim = image.pixelColor(drawn[miss].center().toPoint())
    assert near(lit, QColor(*PHOTO))
    assert dim.lightness() > lit.lightness() + 60  # faded towards the white map
    frame = image.pixelColor(int(drawn[hit].left() - 1), int(drawn[hit].center().y()))
    assert frame.red() > 200 and frame.blue() < 100  # the amber frame of a hit
    view.set_highlight(None)
    image = grab(view)
    assert near(image.pixelColor(rects(view)[miss].center().toPoint()), QColor(*PHOTO))


def test_a_click_on_a_thumbnail_corner_selects_it_and_a_double_click_opens_it(qtbot, tmp_path) -> None:
    view = build(qtbot, tmp_path)
    view.set_tidy(True)
    box = view._tidy.boxes[0]
    show_thumbnails(qtbot, view, (box[0], box[2]), (box[1], box[3]))
    drawn = rects(view)
    i = sorted(drawn)[3]
    corner = QPoint(int(drawn[i].left() + 3), int(drawn[i].top() + 3))
    # Far from the item's 8-px dot: only the thumbnail's own rect can catch this click.
    assert np.hypot(corner.x() - drawn[i].center().x(), corner.y() - drawn[i].center().y()) > 15
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=corner)
    assert view.selected == {i}
    with qtbot.waitSignal(view.itemActivated) as activated:  # what a real double click sends
        qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=corner)
        qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=corner)
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=corner)
        qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=corner)
    assert activated.args == [i]
    assert Path(view.paths[i]).name in view.tip(i)
    assert view.item_at(corner) == i


def test_group_names_never_overlap_follow_renames_and_hide_with_their_group(qtbot, tmp_path) -> None:
    view = build(qtbot, tmp_path, groups=24, per=4, radius=6.0)  # crowded: some names must give way
    view.fit_all()
    grab(view)
    placed = view.placed_labels()
    assert placed and len(placed) < 24
    for a in range(len(placed)):
        for b in range(a + 1, len(placed)):
            assert not placed[a][2].intersects(placed[b][2]), (placed[a], placed[b])
    assert placed[0][0] == 0 and placed[0][1] == "Group 0"  # the biggest group's name always shows
    # The name is painted: dark text pixels inside its pill.
    image = grab(view)
    r = placed[0][2]
    dark = sum(image.pixelColor(x, y).lightness() < 100 for x in range(int(r.left()), int(r.right()))
               for y in range(int(r.top()), int(r.bottom())))
    assert dark > 10
    view.set_labels(view.labels, {**view.group_names, 0: "Beach at dusk"})
    assert ("Beach at dusk" in [t for _, t, _ in view.placed_labels()])
    assert "Group 0" not in [t for _, t, _ in view.placed_labels()]
    view.set_hidden_groups({0})
    assert 0 not in [g for g, _, _ in view.placed_labels()]


def test_sixty_group_colours_are_distinct_and_neighbours_differ(qtbot, tmp_path) -> None:
    view = build(qtbot, tmp_path, groups=60, per=2, radius=20.0)
    colours = [view.colour_of(g) for g in range(60)]
    assert len({c.name() for c in colours}) == 60
    lab = srgb_to_lab(np.array([[c.redF(), c.greenF(), c.blueF()] for c in colours]))
    # Every colour is one of the palette's, and a group's nearest neighbour on the map looks clearly different.
    assert np.linalg.norm(lab[:, None] - PALETTE_LAB[None], axis=2).min(axis=1).max() < 1.0
    centres = np.array([np.median(view.coords[view.labels == g], axis=0) for g in range(60)])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    np.fill_diagonal(gaps, np.inf)
    nearest = gaps.argmin(axis=1)
    delta = np.linalg.norm(lab - lab[nearest], axis=1)
    assert delta.min() > 30  # CIE76 ΔE: ~2 is just noticeable, 30+ is a different colour
    assert view.colour_of(-1).name() == "#9a9a9a"
    # Colours stay put when groups are renamed.
    view.set_labels(view.labels, {g: f"renamed {g}" for g in range(60)})
    assert [view.colour_of(g).name() for g in range(60)] == [c.name() for c in colours]


def test_thumbnails_grow_with_the_zoom_and_big_ones_load(qtbot, tmp_path) -> None:
    view = build(qtbot, tmp_path, groups=6, per=20, photo=(640, 480))
    c = np.median(view.coords[view.labels == 1], axis=0)
    sizes = []
    for half in (5.0, 2.0, 0.3):
        show_thumbnails(qtbot, view, (c[0] - half, c[0] + half), (c[1] - half * 0.75, c[1] + half * 0.75))
        sizes.append(view.thumbnail_size())
    assert THUMB_MIN <= sizes[0] < sizes[1] <= sizes[2] <= THUMB_MAX
    # A big preview comes from the bigger JPEGs once it is drawn bigger than the small pixmap is sharp.
    items = view.thumbnail_items()
    assert view.thumbnail_size() * view.devicePixelRatioF() > 1.25 * view.thumbnails.side
    qtbot.waitUntil(lambda: view.big_thumbnails.pixmap(int(items[0])) is not None, timeout=30_000)
    target = rects(view)[int(items[0])]
    pm, prescaled = view.pixmap_for(int(items[0]), target)
    assert prescaled and pm.width() > view.thumbnails.pixmap(int(items[0])).width()


def test_rejects_are_dimmed_and_marks_get_badges(qtbot, tmp_path) -> None:
    view = build(qtbot, tmp_path)
    view.set_tidy(True)
    box = view._tidy.boxes[0]
    show_thumbnails(qtbot, view, (box[0], box[2]), (box[1], box[3]))
    a, b = sorted(rects(view))[:2]
    n = len(view.coords)
    ratings, flags, labels = np.zeros(n, np.int8), np.zeros(n, np.int8), np.full(n, -1, np.int8)
    flags[a], ratings[b], labels[b] = -1, 4, 0
    view.set_marks(ratings, flags, labels)
    image = grab(view)
    drawn = rects(view)
    assert image.pixelColor(drawn[a].center().toPoint()).lightness() > QColor(*PHOTO).lightness() + 60
    strip = image.pixelColor(int(drawn[b].center().x()), int(drawn[b].bottom() - 2))
    assert strip.red() > 180 and strip.green() < 100  # the red colour label
    assert "★★★★" in view.tip(b)


def test_tidy_keeps_the_selection_and_switches_back(qtbot, tmp_path) -> None:
    view = build(qtbot, tmp_path)
    original = view.coords.copy()
    view.set_selection({1, 2})
    view.set_tidy(True)
    assert view.selected == {1, 2} and not np.allclose(view.coords, original)
    view.set_tidy(False)
    assert np.allclose(view.coords, original) and view.selected == {1, 2}
