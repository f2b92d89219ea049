"""Groups within groups in the Groups panel, offscreen: a group's sub-groups are its child rows (name, size,
examples), clicking one selects its members on the map, renaming one names it, and only names are editable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import save_shape

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTreeWidgetItem  # noqa: E402

from desktop_app.core.analysis.model import Analysis, describe_clusters  # noqa: E402
from desktop_app.core.embedding.pipeline import EmbedResult, ItemRecord  # noqa: E402
from desktop_app.gui.main_window import MainWindow  # noqa: E402

# (group, sub-group or None, colour, shape, how many): "Red things" splits into circles and squares;
# "Blue things" has no sub-groups; one red circle fell out of the sub-groups before "Red things" split.
LAYOUT = [("Red things", "Red circles", "red", "circle", 4), ("Red things", "Red squares", "red", "square", 3),
          ("Red things", None, "red", "triangle", 1), ("Blue things", None, "blue", "square", 5)]


def _library(root: Path, window: MainWindow) -> EmbedResult:
    """Pictures on disk and a hand-made analysis of them with sub-groups (no model, fully deterministic)."""
    rng = np.random.default_rng(0)
    paths, labels, sublabels, vectors, coords = [], [], [], [], []
    centres = {"Red circles": (0, 1), "Red squares": (0, 2), "Red things": (0, 3), "Blue things": (5, 6)}
    for group, sub, colour, shape, count in LAYOUT:
        for k in range(count):
            paths.append(save_shape(root / f"{colour}-{shape}-{k}.png", colour, shape, seed=k))
            labels.append(0 if group == "Red things" else 1)
            sublabels.append({"Red circles": 2, "Red squares": 3}.get(sub or "", -1))
            v = np.zeros(16, np.float32)
            first, second = centres[sub or group]
            v[first], v[second] = 1.0, 0.6
            vectors.append(v + rng.normal(0, 0.02, 16).astype(np.float32))
            coords.append((first * 10 + second + k * 0.3, second * 3 - k * 0.2))
    x, labels_arr, sub_arr = np.array(vectors), np.array(labels, np.int64), np.array(sublabels, np.int64)
    clusters = describe_clusters(x, labels_arr)
    subclusters = describe_clusters(x, sub_arr)
    for c, name in zip(clusters, ["Red things", "Blue things"]):
        c.name, c.named_by = name, "vocabulary"
    for c, name in zip(subclusters, ["Red circles", "Red squares"]):
        c.name, c.named_by, c.parent = name, "vocabulary", 0
    n = len(paths)
    # The clusterer the window is set to, so that it does not re-cluster this analysis away.
    params = {"clusterer": {"name": window.clusterer_box.currentData(), **window.chosen_params()}}
    analysis = Analysis(coords=np.array(coords, np.float32), cluster_space=x, labels=labels_arr,
                        outlier_scores=np.zeros(n, np.float32), membership=np.ones(n, np.float32),
                        isolation=np.zeros(n, np.float32), clusters=clusters, params=params,
                        subclusters=subclusters, sublabels=sub_arr)
    items = [ItemRecord(path=str(p), kind="image", status="ok", size=p.stat().st_size, mtime_ns=p.stat().st_mtime_ns)
             for p in paths]
    return EmbedResult(model={"name": "test", "dim": 16}, items=items, vectors=x, analysis=analysis,
                       stats={"items": n, "embedded": n, "from_cache": 0, "skipped": 0, "seconds": 0.0})


@pytest.fixture
def shown(window, tmp_path) -> MainWindow:
    result = _library(tmp_path / "lib", window)
    window.library.take_result(result)
    window.analysis_done(result)
    assert not window.library.needs_regroup()  # the analysis on screen stays this one
    return window


def _row(window: MainWindow, name: str) -> QTreeWidgetItem:
    panel = window.groups
    rows = [panel.topLevelItem(k) for k in range(panel.topLevelItemCount())]
    return next(r for r in rows if r.text(0) == name)


def _children(row: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    return [row.child(k) for k in range(row.childCount())]


def _centre(window: MainWindow, item: QTreeWidgetItem, column: int):
    panel = window.groups
    panel.scrollToItem(item)
    return panel.visualRect(panel.indexFromItem(item, column)).center()


def _double_click(qtbot, window: MainWindow, item: QTreeWidgetItem, column: int) -> None:
    """A user's double-click: Qt's test double-click alone (press, double-click) does not reach the view's
    double-click handling here unless a click came first, as it does with a real mouse."""
    pos = _centre(window, item, column)
    qtbot.mouseClick(window.groups.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(window.groups.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def _sub(window: MainWindow, name: str):
    return next(c for c in window.analysis.subclusters if c.name == name)


def test_a_group_shows_its_sub_groups_as_child_rows(qtbot, shown) -> None:
    red, blue = _row(shown, "Red things"), _row(shown, "Blue things")
    assert [(c.text(0), c.text(1)) for c in _children(red)] == [("Red circles", "4"), ("Red squares", "3")]
    assert red.text(1) == "8" and blue.childCount() == 0
    assert not red.isExpanded()  # collapsed until the user opens it
    assert shown.groups.rootIsDecorated()  # an expand arrow for the group that has sub-groups
    circles = _children(red)[0]
    assert circles.data(0, Qt.ItemDataRole.CheckStateRole) is None  # visibility stays per top-level group
    assert red.checkState(0) == Qt.CheckState.Checked
    assert "Sub-group of Red things: 4 items" in circles.toolTip(0)  # escaped rich text (gui/tooltips.py)
    # Example thumbnails like a group's: a strip, painted once the pictures are decoded.
    strip = shown.groups.itemWidget(circles, 2)
    assert isinstance(strip, QLabel)
    example = shown.analysis.cluster(_sub(shown, "Red circles").id).representatives[0]
    qtbot.waitUntil(lambda: shown.thumbnails.pixmap(example) is not None, timeout=60_000)
    qtbot.waitUntil(lambda: strip.pixmap().toImage().pixelColor(18, 18).alpha() > 0, timeout=60_000)


def test_clicking_a_sub_group_row_selects_exactly_its_members(qtbot, shown) -> None:
    red = _row(shown, "Red things")
    red.setExpanded(True)
    squares = _children(red)[1]
    qtbot.mouseClick(shown.groups.viewport(), Qt.MouseButton.LeftButton, pos=_centre(shown, squares, 0))
    expected = {i for i, it in enumerate(shown.result.items) if "red-square" in it.path}
    assert len(expected) == 3
    qtbot.waitUntil(lambda: shown.map.selected == expected)  # once Qt is done with the click
    assert shown.selection_label.text() == "sub-group of Red things: 3 items"
    # The group's own row still selects the whole group (sub-groups and the item that fell out of them).
    qtbot.mouseClick(shown.groups.viewport(), Qt.MouseButton.LeftButton, pos=_centre(shown, red, 0))
    qtbot.waitUntil(lambda: shown.map.selected == {i for i, it in enumerate(shown.result.items) if "red-" in it.path})


def test_double_clicking_the_size_opens_no_editor(qtbot, shown) -> None:
    panel = shown.groups
    blue = _row(shown, "Blue things")
    _double_click(qtbot, shown, blue, 1)
    assert panel.state() != QAbstractItemView.State.EditingState
    qtbot.keyClicks(panel.viewport(), "Sky")
    qtbot.keyClick(panel.viewport(), Qt.Key.Key_Return)
    blue = _row(shown, "Blue things")
    assert blue.text(1) == "5" and [c.name for c in shown.analysis.clusters] == ["Red things", "Blue things"]
    # While the name itself opens an editor on a double-click.
    _double_click(qtbot, shown, blue, 0)
    assert panel.state() == QAbstractItemView.State.EditingState


def test_renaming_a_sub_group_row_names_it_and_keeps_its_group_open(qtbot, shown) -> None:
    panel = shown.groups
    red = _row(shown, "Red things")
    red.setExpanded(True)
    circles = _children(red)[0]
    _double_click(qtbot, shown, circles, 0)
    assert panel.state() == QAbstractItemView.State.EditingState
    editor = panel.focusWidget()
    editor.selectAll()
    qtbot.keyClicks(editor, "Tomatoes")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(c.name == "Tomatoes" for c in shown.analysis.subclusters))  # saved, shown
    assert [c.text(0) for c in _children(_row(shown, "Red things"))] == ["Tomatoes", "Red squares"]
    assert _row(shown, "Red things").isExpanded()
    assert shown.analysis.cluster(_sub(shown, "Tomatoes").id).size == 4
    assert [c.name for c in shown.analysis.clusters] == ["Red things", "Blue things"]  # the group keeps its name
    # Clicking the renamed row still selects its members.
    qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton,
                     pos=_centre(shown, _children(_row(shown, "Red things"))[0], 0))
    qtbot.waitUntil(lambda: shown.map.selected == {i for i, it in enumerate(shown.result.items)
                                                   if "red-circle" in it.path})


def test_sub_groups_are_not_offered_for_merge(qtbot, shown) -> None:
    red = _row(shown, "Red things")
    red.setExpanded(True)
    for item in (red, _children(red)[0], _row(shown, "Blue things")):
        item.setSelected(True)
    assert shown.groups.selected_groups() == [0, 1]


def test_renaming_a_group_keeps_the_items_moved_into_it(qtbot, shown) -> None:
    moved = ("blue-square-0", "blue-square-1")
    blue_items = [i for i, it in enumerate(shown.result.items) if Path(it.path).stem in moved]
    shown.map.set_selection(blue_items)
    shown.groups.moveSelectionRequested.emit(0)  # into "Red things" (its menu's "Move selected items here")
    assert _row(shown, "Red things").text(1) == "10"
    _row(shown, "Red things").setText(0, "Warm things")
    # not a new group still called "Red things"
    qtbot.waitUntil(lambda: [c.name for c in shown.analysis.clusters] == ["Warm things", "Blue things"])
    warm = shown.analysis.clusters[0]
    assert set(blue_items) <= set(shown.analysis.members(warm.id).tolist()) and warm.size == 10


def _check_box(panel, item: QTreeWidgetItem):
    """Where a user clicks to tick or untick a row: its check indicator, as the style draws it."""
    from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

    option = QStyleOptionViewItem()
    panel.initViewItemOption(option)
    index = panel.indexFromItem(item, 0)
    option.rect = panel.visualRect(index)
    option.index = index
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    return panel.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, panel).center()


def test_every_control_of_the_groups_panel_takes_real_clicks(qtbot, window, tmp_path) -> None:
    """Before: a click on a group's tick box crashed the app (the panel rebuilt itself while Qt was still delivering
    the click), and clicking "No group" showed "Something went wrong: StopIteration"."""
    errors: list[str] = []
    window.show_error = lambda message, details="": errors.append(message)
    result = _library(tmp_path / "lib", window)
    result.analysis.labels[-1] = -1  # one picture in no group: the panel gets its "No group" row
    window.library.take_result(result)
    window.analysis_done(result)
    panel = window.groups
    window.map.set_selection([])
    for name in ("Red things", "Blue things"):  # untick each group, then tick it again
        for visible in (False, True):
            qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=_check_box(panel, _row(window, name)))
            cid = next(c.id for c in window.analysis.clusters if c.name == name)
            qtbot.waitUntil(lambda: (cid in window.map.hidden_groups) != visible)  # noqa: B023
            assert _row(window, name).checkState(0) == (Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
    assert window.library.history.undo_text == "Show “Blue things”"  # each tick a saved, undoable decision
    qtbot.wait(20)
    assert window.map.selected == set()  # a tick box hides or shows; it does not select (a key would mark them)
    no_group = _row(window, "No group")
    qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=_centre(window, no_group, 0))
    qtbot.waitUntil(lambda: window.map.selected == {len(result.items) - 1})
    window.show_view("grid")  # the grid shows what was clicked
    assert window.grid.title.text().startswith("No group") and window.grid.rows() == [len(result.items) - 1]
    window.show_view("map")
    red = _row(window, "Red things")
    red.setExpanded(True)
    for child in _children(_row(window, "Red things")):
        qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=_centre(window, child, 0))
        sub = next(c for c in window.analysis.subclusters if c.name == child.text(0))
        qtbot.waitUntil(lambda: window.map.selected == set(window.analysis.members(sub.id).tolist()))  # noqa: B023
    for column in (1, 2):  # the size and the examples: a click selects the group, a double-click edits nothing
        _double_click(qtbot, window, _row(window, "Blue things"), column)
        assert panel.state() != QAbstractItemView.State.EditingState
    qtbot.wait(50)  # whatever the clicks scheduled has run
    assert errors == [] and window.isVisible()


def test_a_group_renamed_to_a_name_another_group_has_gets_a_number(qtbot, shown) -> None:
    """Hidden groups and moved pictures go by name: two groups of one name would hide and fill as one."""
    blue = next(c for c in shown.analysis.clusters if c.name == "Blue things")
    shown.groups.visibilityChanged.emit(next(c.id for c in shown.analysis.clusters if c.name == "Red things"), False)
    assert shown.library.rename_group(blue.id, "red THINGS") == "red THINGS (2)"
    assert sorted(c.name for c in shown.analysis.clusters) == ["Red things", "red THINGS (2)"]
    assert shown.library.hidden_groups() == {next(c.id for c in shown.analysis.clusters if c.name == "Red things")}
    assert shown.stage_label.text() == "Rename to “red THINGS (2)”"  # what was done, in the status bar
