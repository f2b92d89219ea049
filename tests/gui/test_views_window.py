"""Map, grid, loupe and compare in one window, sharing one state: G / E / C switch views, a group shows in the
grid, Enter opens the loupe and → walks the grid's order, marks given anywhere show everywhere, Compare finds the
sets first when needed and X culls a set, a drag from the grid onto a group moves the pictures (undoable)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import GUI_WAIT as WAIT
from conftest import reopened, save_shape

pytest.importorskip("PySide6")
from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from desktop_app.core.library.jobs import Job  # noqa: E402
from desktop_app.gui.main_window import MainWindow  # noqa: E402

GROUPS = [("red", "circle"), ("blue", "square"), ("green", "triangle")]


@pytest.fixture
def library(tmp_path) -> Path:
    root = tmp_path / "lib"
    for n in range(4):
        for colour, shape in GROUPS:
            save_shape(root / f"{colour}-{shape}-{n}.jpg", colour, shape, px=160, seed=n)
    # A picture saved twice: one near-duplicate set for Compare.
    shutil.copy(root / "red-circle-0.jpg", root / "red-circle-0-copy.jpg")
    return root


def analysed(qtbot, window: MainWindow, library: Path) -> MainWindow:
    with qtbot.waitSignal(window.analysisFinished, timeout=WAIT):
        window.add_paths([str(library)], analyze=True)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT)  # the views' keys are the window's shortcuts
    return window


def row_of(window: MainWindow, name: str) -> int:
    return next(i for i, p in enumerate(window.result.paths) if Path(p).name == name)


def test_g_shows_the_clicked_group_in_the_grid_and_enter_opens_the_loupe(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    group = window.analysis.clusters[0]
    window.groups.groupActivated.emit(group.id)
    QTest.keyClick(window.map, Qt.Key.Key_G)
    assert window.current_view() == "grid"
    members = sorted(window.analysis.members(group.id).tolist())
    assert sorted(window.grid.rows()) == members and window.grid.title.text() == group.name
    # The group's members are selected (the click on its row) in the grid as on the map.
    assert set(window.grid.selected_rows()) == set(members)
    first = window.grid.rows()[0]
    window.state.set_selection([first])
    window.grid.openLoupe.emit(first)
    assert window.current_view() == "loupe" and window.loupe.current == first
    QTest.keyClick(window.loupe, Qt.Key.Key_Right)
    assert window.state.current == window.grid.rows()[1]
    # A rating given in the loupe goes to the picture shown there (not the selection) and undoes.
    QTest.keyClick(window.loupe, Qt.Key.Key_3)
    shown = window.result.paths[window.grid.rows()[1]]
    assert window.state.marks.get(shown).rating == 3
    assert window.state.marks.get(window.result.paths[first]).rating == 0
    window.undo()
    assert window.state.marks.get(shown).rating == 0
    QTest.keyClick(window.loupe, Qt.Key.Key_Escape)
    assert window.current_view() == "grid"
    QTest.keyClick(window.grid.list, Qt.Key.Key_M)
    assert window.current_view() == "map"


def test_selection_follows_between_map_and_grid(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    window.show_view("grid")
    rows = [row_of(window, "blue-square-1.jpg"), row_of(window, "green-triangle-2.jpg")]
    window.map.set_selection(rows)
    assert set(window.grid.selected_rows()) == set(rows)
    window.grid.list.clearSelection()
    assert window.map.selected == set() and window.state.selection == frozenset()


def test_compare_finds_the_sets_first_and_x_keeps_the_best_frame(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    assert window.result.similar_sets is None
    window.show_view("compare")  # no sets yet: Compare looks for them first
    qtbot.waitUntil(lambda: window.current_view() == "compare", timeout=WAIT)
    sets = window.result.similar_sets
    pair = {row_of(window, "red-circle-0.jpg"), row_of(window, "red-circle-0-copy.jpg")}
    index = next(i for i, s in enumerate(sets) if pair <= set(s.members))
    window.compare.show_set(index)
    window.compare.setFocus()
    QTest.keyClick(window.compare, Qt.Key.Key_X)
    best = sets[index].best
    assert all(window.state.marks.get(window.result.paths[m]).flag == "reject" for m in sets[index].others)
    assert window.state.marks.get(window.result.paths[best]).flag == "pick"
    window.undo()
    assert window.state.marks.is_empty()


def test_a_drag_from_the_grid_onto_a_group_moves_the_pictures_and_undoes(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    window.show_view("grid")
    target = window.analysis.clusters[0]
    outsider = next(r for r in range(len(window.result.paths)) if window.analysis.labels[r] != target.id)
    mime = window.grid.model.mimeData([window.grid.model.index(window.grid.rows().index(outsider), 0)])
    item = window.groups._rows[target.id]
    point = window.groups.visualItemRect(item).center()
    event = QDropEvent(QPointF(point), Qt.DropAction.MoveAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.groups.dropEvent(event)
    name = target.name
    assert window.analysis.cluster(int(window.analysis.labels[outsider])).name == name
    window.undo()
    label = int(window.analysis.labels[outsider])
    assert label < 0 or window.analysis.cluster(label).name != name


def test_marks_go_only_to_pictures_the_view_shows(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    group = window.analysis.clusters[0]
    window.groups.groupActivated.emit(group.id)
    window.show_view("grid")
    shown = set(window.grid.rows())
    QTest.keySequence(window.grid.list, "Ctrl+A")  # the grid's pictures, not the library's
    assert set(window.state.selection) == shown
    window.map.set_selection(range(len(window.result.paths)))  # everything selected on the map...
    QTest.keyClick(window.grid.list, Qt.Key.Key_3)  # ...but 3 in the grid rates what the grid shows
    rated = {r for r, p in enumerate(window.result.paths) if window.state.marks.get(p).rating == 3}
    assert rated == shown
    # The same colour key twice takes the label off again.
    QTest.keyClick(window.grid.list, Qt.Key.Key_6)
    QTest.keyClick(window.grid.list, Qt.Key.Key_6)
    assert all(window.state.marks.get(window.result.paths[r]).label is None for r in shown)


def test_keys_in_compare_and_the_loupe_mark_the_picture_in_view(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    window.map.set_selection([row_of(window, "blue-square-1.jpg")])  # selected elsewhere: must not be marked
    window.show_view("compare")
    qtbot.waitUntil(lambda: window.current_view() == "compare", timeout=WAIT)
    window.compare.setFocus()
    QTest.keyClick(window.compare, Qt.Key.Key_P)
    focused = window.state.current
    assert focused in window.compare.up_rows
    picked = {p for p in window.result.paths if window.state.marks.get(p).flag == "pick"}
    assert picked == {window.result.paths[focused]}


def test_esc_in_the_loupe_leaves_it_and_never_cancels_a_running_job(qtbot, window, library) -> None:
    import threading

    from desktop_app.core.progress import ProgressEvent

    analysed(qtbot, window, library)
    window.state.set_current(0)
    window.show_view("loupe")
    release = threading.Event()

    def job(token):
        yield ProgressEvent("search", 0, None, "")
        release.wait(60)
        return "finished"

    outcome = []
    window.run_job(Job("Working", job, lambda value: value), outcome.append)
    try:
        window.loupe.setFocus()
        QTest.keyClick(window.loupe, Qt.Key.Key_Escape)
        worker = window.jobs.worker
        assert window.current_view() != "loupe" and worker is not None and not worker.token.cancelled
    finally:
        release.set()
    qtbot.waitUntil(lambda: not window.busy(), timeout=WAIT)
    assert outcome == ["finished"]


def test_undoing_a_rename_keeps_a_group_hidden_since_and_a_best_frame_choice_undoes(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    first, second = window.analysis.clusters[0], window.analysis.clusters[1]
    window.groups.groupRenamed.emit(first.id, "renamed")
    window.groups.visibilityChanged.emit(second.id, False)
    window.undo()  # takes back the hiding, the newest edit
    assert second.name not in window.edits.hidden
    window.redo()
    window.undo()
    window.undo()  # and then the rename
    assert "renamed" not in {c.name for c in window.analysis.clusters}
    # Best frames.
    window.show_view("compare")
    qtbot.waitUntil(lambda: window.current_view() == "compare", timeout=WAIT)
    s = window.result.similar_sets[0]
    before = s.best
    other = next(m for m in s.members if m != before)
    window.compare.make_best(other)
    assert s.best == other and window.result.paths[other] in window.edits.picks
    window.undo()
    assert s.best == before and not window.edits.picks


def test_closing_asks_nothing_and_the_library_keeps_every_mark(qtbot, window, library, tmp_path) -> None:
    analysed(qtbot, window, library)
    window.state.rate([row_of(window, "green-triangle-1.jpg")], 5)
    catalogue = window.library.path
    assert catalogue is not None and window.close()  # no question: the mark is in the catalogue already
    from desktop_app.core.library.library import Library

    reopened = Library.open(catalogue)  # the window let go of it
    try:
        assert reopened.state.marks.get(str(library / "green-triangle-1.jpg")).rating == 5
        assert reopened.history.undo_text == "Rate ★5 (picture)"  # and the undo history with it
    finally:
        reopened.close()


def test_the_loupe_full_screen_is_the_picture_alone_and_the_sets_come_back_with_the_project(
        qtbot, window, library, tmp_path) -> None:
    analysed(qtbot, window, library)
    window.state.set_current(0)
    window.show_view("loupe")
    window.loupe.toggle_full_screen()
    qtbot.waitUntil(window.isFullScreen, timeout=WAIT)
    assert not window.menuBar().isVisible() and not window.docks["Groups"].isVisible()
    window.loupe.toggle_full_screen()
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=WAIT)
    assert window.menuBar().isVisible() and window.docks["Groups"].isVisible()
    # Duplicate sets are saved with the project and shown again when it is reopened (no new search).
    window.show_view("compare")
    qtbot.waitUntil(lambda: window.current_view() == "compare", timeout=WAIT)
    found = [sorted(window.result.paths[m] for m in s.members) for s in window.result.similar_sets]
    project = tmp_path / "p.photoatlas"
    assert window.save_project_to(project)
    again = reopened(qtbot, window, project)
    assert [sorted(again.result.paths[m] for m in s.members) for s in again.result.similar_sets] == found
    assert again.culling.list.count() == len(found)


def test_the_filter_bar_fits_a_1024_window_and_says_when_it_is_off(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    window.filter_bar.show()
    assert window.minimumSizeHint().width() <= 1024
    window.filter_bar.picks.setChecked(True)
    assert window.stage_label.text().startswith("Showing 0 of")
    window.filter_bar.clear()
    assert window.stage_label.text() == f"Filter off: all {len(window.result.paths)} shown"


def test_the_loupe_opens_the_picture_clicked_last_and_marks_that_one(qtbot, window, library) -> None:
    """Before: E opened whatever Compare or an earlier loupe had left current, and 1 rated that picture."""
    analysed(qtbot, window, library)
    window.state.set_current(0)  # as Compare leaves its focused frame
    window.show_view("grid")
    target = row_of(window, "green-triangle-2.jpg")
    assert target != 0
    window.state.set_selection([target])  # a click in the grid
    QTest.keyClick(window.grid.list, Qt.Key.Key_E)
    assert window.current_view() == "loupe" and window.state.current == target
    QTest.keyClick(window.loupe, Qt.Key.Key_1)
    assert window.state.marks.get(window.result.paths[target]).rating == 1
    assert window.state.marks.get(window.result.paths[0]).rating == 0
    assert window.state.order == window.grid.rows()  # → walks the grid's pictures in the grid's order
