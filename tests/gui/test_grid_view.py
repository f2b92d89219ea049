"""The grid (lightbox): keyboard flows, selection sync with the LibraryState, filter, sort, virtualisation, drag."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QItemSelectionModel, QPoint, Qt

from desktop_app.core.library.state import LibraryState
from desktop_app.core.metadata.photo_meta import PhotoMeta
from desktop_app.core.review.marks import Mark, MarkFilter
from desktop_app.gui.grid_view import LABEL_COLOURS, PICK_COLOUR, ROWS_MIME, GridView, rows_from_mime


def _pictures(folder: Path, names: list[str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, name in enumerate(names):
        path = folder / name
        Image.new("RGB", (48, 32), ((i * 40) % 255, 90, 160)).save(path)
        out.append(str(path))
    return out


@pytest.fixture
def grid(qtbot, tmp_path):
    g = GridView(tmp_path / "thumbs")
    qtbot.addWidget(g)
    g.resize(700, 500)
    return g


def _setup(grid, qtbot, paths, metas=None, size=96):
    state = LibraryState(paths, metas=metas)
    grid.set_state(state, paths, ["image"] * len(paths))
    grid.set_thumbnail_size(size)
    grid.show_rows(range(len(paths)), "Group")
    grid.show()
    qtbot.waitExposed(grid)
    grid.list.doItemsLayout()
    return state


def _click(qtbot, grid, pos, modifier=Qt.KeyboardModifier.NoModifier):
    rect = grid.list.visualRect(grid.model.index(pos))
    qtbot.mouseClick(grid.list.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def test_keyboard_selects_and_marks_with_undo(grid, qtbot, tmp_path):
    paths = _pictures(tmp_path / "pics", [f"p{i:02}.jpg" for i in range(12)])
    state = _setup(grid, qtbot, paths)
    _click(qtbot, grid, 0)
    assert state.selection == {0}
    qtbot.keyClick(grid.list, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(grid.list, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert state.selection == {0, 1, 2}
    for key in (Qt.Key.Key_3, Qt.Key.Key_P, Qt.Key.Key_6):
        qtbot.keyClick(grid.list, key)
    assert [state.marks.get(paths[r]) for r in (0, 1, 2)] == [Mark(3, "pick", "Red")] * 3
    assert state.marks.get(paths[3]) == Mark()
    qtbot.keyClick(grid.list, Qt.Key.Key_X)
    assert state.marks.get(paths[1]).flag == "reject"
    qtbot.keyClick(grid.list, Qt.Key.Key_6)  # pressed again: the label comes off
    assert state.marks.get(paths[0]).label is None
    for _ in range(5):
        state.history.undo()
    assert all(state.marks.get(p) == Mark() for p in paths)
    # Ctrl+A selects everything
    qtbot.keyClick(grid.list, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert state.selection == set(range(12))


def test_selection_syncs_both_ways_without_feedback(grid, qtbot, tmp_path):
    paths = _pictures(tmp_path / "pics", [f"p{i:02}.jpg" for i in range(10)])
    state = _setup(grid, qtbot, paths)
    seen = []
    state.selectionChanged.connect(seen.append)
    state.set_selection({2, 5, 6})
    assert grid.selected_rows() == [2, 5, 6]
    assert seen == [{2, 5, 6}]  # the grid following the state did not echo back
    _click(qtbot, grid, 4)
    _click(qtbot, grid, 7, Qt.KeyboardModifier.ControlModifier)
    assert state.selection == {4, 7}
    _click(qtbot, grid, 9, Qt.KeyboardModifier.ShiftModifier)
    assert state.selection == {4, 7, 8, 9}
    state.set_selection({42 % 10})
    assert grid.selected_rows() == [2]


def test_filter_hides_rows_and_marks_repaint(grid, qtbot, tmp_path):
    paths = _pictures(tmp_path / "pics", [f"p{i:02}.jpg" for i in range(8)])
    state = _setup(grid, qtbot, paths)
    state.rate([1, 4], 3)
    state.rate([5], 2)
    state.set_filter(MarkFilter(min_rating=3))
    assert grid.rows() == [1, 4]
    assert state.order == [1, 4]  # the loupe walks what the grid shows
    state.rate([4], 1)  # no longer passes: it goes
    assert grid.rows() == [1]
    state.set_filter(MarkFilter())
    assert grid.rows() == list(range(8))


def test_sort_by_name_and_time(grid, qtbot, tmp_path):
    names = ["c.jpg", "a.jpg", "d.jpg", "b.jpg"]
    paths = _pictures(tmp_path / "pics", names)
    metas = [PhotoMeta(taken=300.0), PhotoMeta(taken=None), PhotoMeta(taken=100.0), PhotoMeta(taken=200.0)]
    state = _setup(grid, qtbot, paths, metas)
    assert grid.rows() == [0, 1, 2, 3]
    grid.set_sort("name")
    assert [Path(paths[r]).name for r in grid.rows()] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    grid.set_sort("time")
    assert grid.rows() == [2, 3, 0, 1]  # unknown time last
    assert state.order == [2, 3, 0, 1]
    import numpy as np

    grid.set_sort("quality", scores=np.array([0.1, 0.9, np.nan, 0.5]))
    assert grid.rows() == [1, 3, 0, 2]
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [1, 0.05]], np.float32)
    grid.set_sort("similarity", vectors=vectors)
    assert grid.rows()[-1] == 2  # the odd one out last


def test_model_is_virtualised(grid, qtbot, tmp_path):
    n = 10_000
    paths = [str(tmp_path / f"missing{i:05}.txt") for i in range(n)]
    state = LibraryState(paths)
    grid.set_state(state, paths, ["text"] * n)
    asked: set[int] = set()
    original = grid.model.data

    def counting(index, role=Qt.ItemDataRole.DisplayRole):
        asked.add(index.row())
        return original(index, role)

    grid.model.data = counting
    grid.resize(400, 300)
    grid.show_rows(range(n), "Big")
    grid.show()
    qtbot.waitExposed(grid)
    grid.grab()
    assert grid.model.rowCount() == n
    assert 0 < len(asked) < 100
    grid.list.verticalScrollBar().setValue(grid.list.verticalScrollBar().maximum())
    grid.grab()
    assert n - 1 in asked and len(asked) < 200


def test_drag_mime_carries_rows_and_enter_opens_loupe(grid, qtbot, tmp_path):
    paths = _pictures(tmp_path / "pics", [f"p{i:02}.jpg" for i in range(6)])
    state = _setup(grid, qtbot, paths)
    state.set_selection({1, 3})
    mime = grid.model.mimeData(grid.list.selectionModel().selectedIndexes())
    assert mime.hasFormat(ROWS_MIME) and rows_from_mime(mime) == [1, 3]
    assert len(mime.urls()) == 2
    grid.list.selectionModel().setCurrentIndex(grid.model.index(3), QItemSelectionModel.SelectionFlag.NoUpdate)
    with qtbot.waitSignal(grid.openLoupe) as opened:
        qtbot.keyClick(grid.list, Qt.Key.Key_Return)
    assert opened.args == [3] and state.current == 3
    with qtbot.waitSignal(grid.contextMenuRequested) as menu:
        grid.list.customContextMenuRequested.emit(grid.list.visualRect(grid.model.index(5)).center())
    assert menu.args[0] == [5] and isinstance(menu.args[1], QPoint)
    assert state.selection == {5}


def test_thumbnails_only_for_visible_cells_and_badges_drawn(grid, qtbot, tmp_path):
    paths = _pictures(tmp_path / "pics", [f"p{i:02}.jpg" for i in range(60)])
    state = _setup(grid, qtbot, paths, size=128)
    grid.grab()
    qtbot.waitUntil(lambda: grid.thumbs.pixmap(0) is not None, timeout=30_000)
    grid.thumbs.wait()
    assert grid.thumbs.pixmap(59) is None  # far below the fold: never asked for
    rect = grid.list.visualRect(grid.model.index(0))

    def pixels_like(colour) -> int:
        image = grid.list.viewport().grab().toImage()
        found = 0
        for y in range(rect.top(), rect.bottom(), 2):
            for x in range(rect.left(), rect.right(), 2):
                c = image.pixelColor(x, y)
                diff = abs(c.red() - colour.red()) + abs(c.green() - colour.green()) + abs(c.blue() - colour.blue())
                found += diff < 30
        return found

    assert pixels_like(LABEL_COLOURS["Red"]) == 0 and pixels_like(PICK_COLOUR) == 0
    state.label([0], "Red")
    state.flag([0], "pick")
    assert pixels_like(LABEL_COLOURS["Red"]) > 50  # the red label strip along the cell
    assert pixels_like(PICK_COLOUR) > 10  # the green pick badge
