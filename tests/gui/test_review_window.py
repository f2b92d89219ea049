"""The review loop in the main window: marks by keyboard, undo, filters, sidecars read on analysis, projects keep
marks, the job's outcome stays readable, and the window fits a small screen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import GUI_WAIT as WAIT
from conftest import reopened, save_shape

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from desktop_app.core.library.jobs import Job  # noqa: E402
from desktop_app.core.metadata.xmp import sidecar_path
from desktop_app.core.progress import ProgressEvent  # noqa: E402
from desktop_app.core.review.marks import Mark, MarkFilter  # noqa: E402
from desktop_app.core.review.sidecar_marks import write_mark  # noqa: E402
from desktop_app.gui.main_window import EMPTY_TITLE, MainWindow  # noqa: E402

GROUPS = [("red", "circle"), ("blue", "square"), ("green", "triangle")]


@pytest.fixture
def library(tmp_path) -> Path:
    root = tmp_path / "lib"
    root.mkdir()
    for n in range(4):
        for colour, shape in GROUPS:
            save_shape(root / f"{colour}-{shape}-{n}.jpg", colour, shape, seed=n)
    return root


def analysed(qtbot, window: MainWindow, library: Path) -> MainWindow:
    with qtbot.waitSignal(window.analysisFinished, timeout=WAIT):
        window.add_paths([str(library)], analyze=True)
    return window


def rows_of(window: MainWindow, *names: str) -> list[int]:
    return [next(i for i, p in enumerate(window.result.paths) if Path(p).name == n) for n in names]


def test_keys_rate_flag_and_label_the_selection_and_ctrl_z_takes_it_back(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    rows = rows_of(window, "red-circle-0.jpg", "blue-square-1.jpg")
    window.map.set_selection(rows)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT)  # shortcuts belong to the active window
    window.map.setFocus()
    QTest.keyClick(window.map, Qt.Key.Key_4)
    QTest.keyClick(window.map, Qt.Key.Key_P)
    QTest.keyClick(window.map, Qt.Key.Key_6)
    paths = [window.result.paths[r] for r in rows]
    assert all(window.state.marks.get(p) == Mark(4, "pick", "Red") for p in paths)
    assert window.act_undo.isEnabled() and "Label Red" in window.act_undo.text()
    QTest.keyClick(window.map, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert all(window.state.marks.get(p) == Mark(4, "pick", None) for p in paths)
    window.undo()
    window.undo()
    assert window.state.marks.is_empty()
    window.redo()
    assert all(window.state.marks.get(p).rating == 4 for p in paths)


def test_a_rename_is_undone_and_redone(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    first = window.analysis.clusters[0]
    old = first.name
    window.groups.groupRenamed.emit(first.id, "my favourites")
    assert "my favourites" in {c.name for c in window.analysis.clusters}
    window.undo()
    names = {c.name for c in window.analysis.clusters}
    assert "my favourites" not in names and old in names
    window.redo()
    assert "my favourites" in {c.name for c in window.analysis.clusters}


def test_the_filter_bar_filters_by_stars_and_counts_what_is_shown(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    rows = rows_of(window, "green-triangle-2.jpg", "green-triangle-3.jpg")
    window.state.rate(rows, 3)
    window.state.rate(rows[:1], 5)
    bar = window.filter_bar
    bar.stars.setCurrentIndex(bar.stars.findData(3))
    assert window.state.filter == MarkFilter(min_rating=3)
    assert np.flatnonzero(window.state.shown()).tolist() == sorted(rows)
    assert bar.count.text() == f"2 of {len(window.result.paths)} shown"
    assert sorted(int(i) for i in window.map.scatter.data["data"]) == sorted(rows)  # the map shows those two
    bar.stars.setCurrentIndex(bar.stars.findData(5))
    assert np.flatnonzero(window.state.shown()).tolist() == rows[:1]
    # Unrating under an active filter takes the picture out of what is shown, at once.
    window.state.rate(rows[:1], 0)
    assert bar.count.text() == f"0 of {len(window.result.paths)} shown"
    bar.clear()
    assert not window.state.filter.active and bar.count.text() == ""


def test_ratings_in_sidecars_are_read_and_the_projects_own_marks_win(qtbot, window, library, tmp_path) -> None:
    write_mark(library / "red-circle-1.jpg", Mark(5, None, "Green"))  # as Lightroom would have left it
    write_mark(library / "blue-square-2.jpg", Mark(0, "reject", None))
    assert sidecar_path(library / "red-circle-1.jpg").exists()
    analysed(qtbot, window, library)
    marks = window.state.marks
    assert marks.get(str(library / "red-circle-1.jpg")) == Mark(5, None, "Green")
    assert marks.get(str(library / "blue-square-2.jpg")).flag == "reject"
    # The user changes one here; the project keeps it and it wins over the sidecar when reopened.
    window.state.rate(rows_of(window, "red-circle-1.jpg"), 2)
    project = tmp_path / "lib.photoatlas"
    assert window.save_project_to(project)
    again = reopened(qtbot, window, project)
    assert again.state.marks.get(str(library / "red-circle-1.jpg")) == Mark(2, None, "Green")
    assert again.state.marks.get(str(library / "blue-square-2.jpg")).flag == "reject"


def test_the_outcome_stays_when_a_picture_is_selected(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    outcome = window.stage_label.text()
    assert "groups" in outcome
    window.map.set_selection(rows_of(window, "red-circle-0.jpg"))
    assert window.stage_label.text() == outcome and window.stage_label.isVisible()
    assert window.selection_label.text() == "red-circle-0.jpg"


def test_the_search_results_dock_closes_when_the_search_is_cleared(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    window.map.set_selection(rows_of(window, "red-circle-0.jpg"))
    window.more_like_this()
    assert window.docks["Search Results"].isVisible() and window.hits.count() > 0
    window.search_box.setText("x")
    window.search_box.clear()
    assert not window.docks["Search Results"].isVisible()


def test_the_map_area_shows_the_first_analysis_progress_not_an_invitation(qtbot, window) -> None:
    import threading

    assert window.empty.title.text() == EMPTY_TITLE and window.empty.button.isVisible()
    release = threading.Event()

    def job(token):
        yield ProgressEvent("embed", 3, 10, "")
        release.wait(60)
        raise RuntimeError("the disk went away")

    window.run_job(Job("Analyzing", job, lambda value: value), lambda _v: None)
    try:
        qtbot.waitUntil(lambda: "Reading pictures and notes" in window.empty.hint.text(), timeout=WAIT)
        assert window.empty.title.text() != EMPTY_TITLE and not window.empty.button.isVisible()
        assert window.empty.progress.isVisible() and window.empty.progress.value() == 3
    finally:
        release.set()
    qtbot.waitUntil(lambda: not window.busy(), timeout=WAIT)
    # Failed: the invitation is back, and the status bar says why.
    assert window.empty.title.text() == EMPTY_TITLE and window.empty.button.isVisible()
    assert "disk went away" in window.stage_label.text()


def test_the_window_fits_a_1024_by_700_screen(window) -> None:
    hint = window.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 700
    window.resize(1024, 700)
    assert window.width() <= 1024


def test_a_stage_without_steps_shows_the_time_it_took_here_before(qtbot, window) -> None:
    import threading

    from desktop_app.core.progress import StageTimes

    window.stage_times = StageTimes({"layout": 0.5})  # learned: half a second per item
    release = threading.Event()

    def job(token):
        yield ProgressEvent("scan", 40, 40, "found 40 items")
        yield ProgressEvent("layout", 0, None, "drawing the map")
        release.wait(60)
        return None

    window.run_job(Job("Testing", job, lambda value: value), lambda _v: window.idle("finished"))
    try:
        qtbot.waitUntil(lambda: "Drawing the map" in window.stage_label.text(), timeout=WAIT)
        # 40 items x 0.5 s: about 20 s left, give or take the seconds that passed.
        assert "left" in window.stage_label.text() and "about" in window.stage_label.text()
    finally:
        release.set()
    qtbot.waitUntil(lambda: not window.busy(), timeout=WAIT)
    assert window.stage_label.text() == "finished"
    assert "scan" not in window.stage_times.rates  # 40 items in no time: too short to learn from


def test_a_smaller_library_analysed_again_under_a_filter_draws_its_map(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    rows = rows_of(window, "red-circle-0.jpg", "red-circle-1.jpg")
    window.state.rate(rows, 4)
    window.filter_bar.stars.setCurrentIndex(window.filter_bar.stars.findData(3))
    window.show_view("grid")
    for p in list(library.glob("blue-*"))[:3]:
        p.unlink()  # the library shrinks: rows after these move up
    with qtbot.waitSignal(window.analysisFinished, timeout=WAIT):
        window.analyze()
    assert len(window.result.paths) == 9
    assert sorted(window.grid.rows()) == sorted(rows_of(window, "red-circle-0.jpg", "red-circle-1.jpg"))
    assert window.filter_bar.count.text() == "2 of 9 shown"


def test_a_rating_cleared_here_stays_cleared_and_clears_the_sidecar_on_export(qtbot, window, library,
                                                                             tmp_path) -> None:
    from desktop_app.core.export.plan import ExportOptions
    from desktop_app.core.metadata.xmp import read_mark

    write_mark(library / "red-circle-1.jpg", Mark(3, None, None))  # rated in Lightroom
    analysed(qtbot, window, library)
    path = str(library / "red-circle-1.jpg")
    assert window.state.marks.get(path).rating == 3
    window.state.rate(rows_of(window, "red-circle-1.jpg"), 0)  # cleared here
    with qtbot.waitSignal(window.analysisFinished, timeout=WAIT):
        window.analyze()
    assert window.state.marks.get(path).rating == 0  # the sidecar's old stars did not come back
    dest = tmp_path / "out"
    with qtbot.waitSignal(window.exportFinished, timeout=WAIT):
        window.export_groups_to(dest, ExportOptions(xmp=True, include_noise=True, xmp_on_copies=False))
    assert read_mark(sidecar_path(library / "red-circle-1.jpg"))[0] == 0
