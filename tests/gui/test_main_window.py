"""The desktop app, offscreen, with the tiny real CLIP: drop, analyse, select, search, edit, save, cancel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from conftest import GUI_WAIT as WAIT
from conftest import ROOT, TINY_MODEL, save_shape

pytest.importorskip("PySide6")
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent, QImage  # noqa: E402

from desktop_app.core.documents.project import Project  # noqa: E402
from desktop_app.core.embedding import pipeline  # noqa: E402
from desktop_app.core.embedding.cache import EmbeddingCache  # noqa: E402
from desktop_app.core.errors import Cancelled  # noqa: E402
from desktop_app.core.library.jobs import Job  # noqa: E402
from desktop_app.core.progress import ProgressEvent  # noqa: E402
from desktop_app.gui.main_window import MainWindow  # noqa: E402
from desktop_app.gui.worker import PipelineWorker  # noqa: E402

GROUPS = [("red", "circle"), ("blue", "square"), ("green", "triangle")]


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gui-lib")
    for n in range(5):
        for colour, shape in GROUPS:
            save_shape(root / f"{colour}-{shape}-{n}.png", colour, shape, seed=n)
    (root / "note.txt").write_text("a red circle\n")
    (root / "broken.jpg").write_bytes(b"not a picture")
    return root


def drop(window: MainWindow, *paths: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def analysed(qtbot, window: MainWindow, library: Path) -> MainWindow:
    with qtbot.waitSignal(window.analysisFinished, timeout=WAIT):
        drop(window, library)
    return window


def test_window_opens_empty_and_says_what_to_do(window) -> None:
    assert window.stack.currentIndex() == 0
    assert not window.act_analyze.isEnabled() and not window.act_export.isEnabled()


def test_a_dropped_folder_is_analysed_and_every_item_is_a_point(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    assert window.stack.currentWidget() is window.map
    items = window.result.items
    assert len(items) == 16 and len(window.map.scatter.data) == len(items)
    assert len(window.analysis.clusters) >= 3
    skipped = [window.library_panel.topLevelItem(i).text(0) for i in range(window.library_panel.topLevelItemCount())]
    assert "Skipped (1)" in skipped
    assert window.groups.topLevelItemCount() >= 3


def test_clicking_a_group_selects_its_members_and_more_like_this_ranks_neighbours(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    a = window.analysis
    first = a.clusters[0]
    window.groups.groupActivated.emit(first.id)
    assert window.map.selected == set(np.nonzero(a.labels == first.id)[0].tolist())
    red = next(i for i, it in enumerate(window.result.items) if "red-circle-0" in it.path)
    window.map.set_selection({red})
    assert window.act_more.isEnabled()
    window.more_like_this()
    top = [window.hits.item(k).data(Qt.ItemDataRole.UserRole) for k in range(4)]
    assert all("red-circle" in window.result.items[i].path or "note" in window.result.items[i].path for i in top)


def test_search_highlights_the_matching_items(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    window.search_box.setText("a blue square")
    window.search()  # the query is embedded on the worker thread (the model loads there)
    qtbot.waitUntil(lambda: window.hits.count() > 0, timeout=WAIT)
    best = [window.hits.item(k).data(Qt.ItemDataRole.UserRole) for k in range(5)]
    assert all("blue-square" in window.result.items[i].path for i in best)
    assert window.map.highlight is not None and window.map.highlight[best].all()


def test_a_rename_survives_save_reopen_and_reclustering(qtbot, window, library, tmp_path) -> None:
    analysed(qtbot, window, library)
    a = window.analysis
    red = next(c for c in a.clusters if any("red-circle" in window.result.items[i].path for i in c.representatives))
    members = {window.result.items[i].path for i in np.nonzero(a.labels == red.id)[0]}
    row = next(window.groups.topLevelItem(k) for k in range(window.groups.topLevelItemCount())
               if window.groups.topLevelItem(k).data(0, Qt.ItemDataRole.UserRole) == red.id)
    row.setText(0, "Tomatoes")
    qtbot.waitUntil(lambda: any(c.name == "Tomatoes" for c in window.analysis.clusters))  # saved as typed
    project = tmp_path / "lib.photoatlas"
    assert window.save_project_to(project)
    assert json.loads(project.read_text())["edits"]["renames"][0]["name"] == "Tomatoes"

    reopened = MainWindow(model=TINY_MODEL, cache_dir=window.cache_dir, interactive_errors=False)
    qtbot.addWidget(reopened)
    with qtbot.waitSignal(reopened.analysisFinished, timeout=WAIT):
        reopened.open_project(project)
    assert reopened.result.analysis.stats["layout"] == "stored"  # nothing recomputed
    named = next(c for c in reopened.analysis.clusters if c.name == "Tomatoes")
    got = {reopened.result.items[i].path for i in np.nonzero(reopened.analysis.labels == named.id)[0]}
    assert got == members

    # Re-cluster with K-Means: the group with (mostly) these members is still "Tomatoes".
    reopened.clusterer_box.setCurrentIndex(reopened.clusterer_box.findData("kmeans"))
    qtbot.waitUntil(lambda: reopened.base.params["clusterer"]["name"] == "kmeans", timeout=WAIT)
    qtbot.waitUntil(lambda: not reopened.busy(), timeout=WAIT)
    assert any(c.name == "Tomatoes" for c in reopened.analysis.clusters)


def test_new_group_from_selection_and_merge(qtbot, window, library) -> None:
    analysed(qtbot, window, library)
    picked = [i for i, it in enumerate(window.result.items)
              if "green-triangle-0" in it.path or "blue-square-0" in it.path]
    window.map.set_selection(picked)
    window.new_group_from_selection()
    group = next(c for c in window.analysis.clusters if c.name == "New group 1")
    assert group.size == 2
    ids = [c.id for c in window.analysis.clusters[:2]]
    before = sum(c.size for c in window.analysis.clusters if c.id in ids)
    window.merge_groups(ids)
    assert len([c for c in window.analysis.clusters if c.size == before]) >= 1


def _hold_mid_embedding(monkeypatch) -> threading.Event:
    """Make the window's analysis stop in the middle of embedding until its cancel token is set, so a test can
    cancel (or close) while the job is surely running — never a race with a job that finishes first."""
    real = pipeline.run_analysis
    reached = threading.Event()

    def held(folders, settings, analysis_settings, token):
        with closing(real(folders, settings, analysis_settings, token)) as inner:
            for event in inner:
                yield event
                if event.stage == "embed" and not reached.is_set():
                    reached.set()
                    while not token.cancelled:
                        time.sleep(0.01)

    monkeypatch.setattr(pipeline, "run_analysis", held)
    return reached


def test_cancel_stops_the_job_and_the_cache_stays_sound(qtbot, window, library, monkeypatch) -> None:
    reached = _hold_mid_embedding(monkeypatch)
    window.add_paths([str(library)])
    window.analyze()
    qtbot.waitUntil(reached.is_set, timeout=WAIT)
    assert window.busy() and window.act_cancel.isEnabled()
    window.cancel()
    # Wait on the window's state, not on a signal that may already have fired.
    qtbot.waitUntil(lambda: not window.busy(), timeout=WAIT)
    assert window.result is None and window.stage_label.text() == "Cancelled"
    with EmbeddingCache(window.cache_dir) as cache:
        assert cache.warnings == []


def test_a_worker_error_reaches_the_user_as_one_message(qtbot, tmp_path, library) -> None:
    w = MainWindow(model=f"local-dir:{tmp_path / 'no-model'}", cache_dir=tmp_path / "c", interactive_errors=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.jobFailed, timeout=WAIT) as failed:
        w.add_paths([str(library)], analyze=True)
    assert "model" in failed.args[0].lower() and "Traceback" not in failed.args[0]
    assert w.stage_label.text().startswith("Failed: ")


def test_closing_mid_run_is_clean(qtbot, tmp_path, library, monkeypatch) -> None:
    reached = _hold_mid_embedding(monkeypatch)
    w = MainWindow(model=TINY_MODEL, cache_dir=tmp_path / "c", interactive_errors=False)
    qtbot.addWidget(w)
    w.show()
    w.add_paths([str(library)], analyze=True)
    qtbot.waitUntil(reached.is_set, timeout=WAIT)
    worker = w.jobs.worker
    w.close()
    assert not worker.isRunning()
    with EmbeddingCache(tmp_path / "c") as cache:
        assert cache.warnings == []


def test_closing_waits_for_a_job_that_is_slow_to_stop(qtbot, tmp_path, monkeypatch) -> None:
    """A job that needs a while after Cancel (an export finishing the file it is copying) has really ended when
    the window is gone: closing waits without a time limit, instead of abandoning a running thread."""
    waits = []
    real_wait = PipelineWorker.wait
    monkeypatch.setattr(PipelineWorker, "wait", lambda self, *args: waits.append(args) or real_wait(self, *args))
    w = MainWindow(model=TINY_MODEL, cache_dir=tmp_path / "c", interactive_errors=False)
    qtbot.addWidget(w)
    running, stopped = threading.Event(), threading.Event()

    def slow_to_stop(token):
        yield ProgressEvent("export", 0, 1, "copying")
        running.set()
        while not token.cancelled:
            time.sleep(0.01)
        time.sleep(1.0)  # the file in hand is finished before the token is looked at
        stopped.set()
        yield ProgressEvent("export", 1, 1, "copied")

    w.run_job(Job("Exporting", slow_to_stop, lambda value: value), lambda _summary: None)
    qtbot.waitUntil(running.is_set, timeout=WAIT)
    worker = w.jobs.worker
    w.close()
    assert stopped.is_set() and not worker.isRunning()
    assert waits and all(args in ((), (-1,)) for args in waits)  # no fixed cap that gives up on the thread


def test_export_results_is_disabled_while_a_job_may_change_the_document(qtbot, window, library, tmp_path) -> None:
    analysed(qtbot, window, library)
    assert window.act_export.isEnabled()
    release = threading.Event()

    def job(token):
        yield ProgressEvent("cluster", 0, 1, "finding groups")
        release.wait(WAIT / 1000)

    errors = []
    window.show_error = lambda message, details="": errors.append(message)
    window.run_job(Job("Finding groups", job, lambda value: value), lambda _result: None)
    assert not window.act_export.isEnabled()
    window.export_to(tmp_path / "during.json")  # a shortcut or a script calling it directly: refused, one line
    assert not (tmp_path / "during.json").exists() and len(errors) == 1
    release.set()
    qtbot.waitUntil(lambda: not window.busy(), timeout=WAIT)
    assert window.act_export.isEnabled()


def test_a_damaged_project_is_one_message_and_starts_nothing(qtbot, window, tmp_path) -> None:
    bad = tmp_path / "bad.photoatlas"
    bad.write_text(json.dumps({"format": "photoatlas-project", "folders": [str(tmp_path)],
                               "edits": {"renames": [{"name": "Tomatoes"}]}}))
    errors = []
    window.show_error = lambda message, details="": errors.append(message)
    assert window.open_project(bad) is False
    assert errors == [f"the project {bad} is damaged: edits.renames[0].members is missing"]
    assert window.jobs.worker is None and window.folders == [] and window.library.catalogue is None


def test_opening_a_project_whose_model_is_not_here_asks_before_any_download(qtbot, window, library, tmp_path,
                                                                             monkeypatch) -> None:
    project = tmp_path / "elsewhere.photoatlas"
    Project(folders=[str(library)], model="hf-hub:photoatlas-tests/not-on-this-computer").save(project)
    asked, started = [], []

    def analysis_stub(folders, settings, analysis_settings, token):  # stands in for the download and the rest
        started.append(settings.model)
        yield ProgressEvent("download", 0, None, "downloading")
        raise Cancelled("stub")

    monkeypatch.setattr(pipeline, "run_analysis", analysis_stub)
    window.confirm_download = lambda download: asked.append(download) or False
    assert window.open_project(project)
    qtbot.waitUntil(lambda: bool(asked) and not window.busy(), timeout=WAIT)
    assert [d.repo for d in asked] == ["photoatlas-tests/not-on-this-computer"]
    assert started == [] and window.result is None and "not downloaded" in window.stage_label.text()

    def yes_while_the_box_changes(download):  # the user picks another model while the question is open
        asked.append(download)
        window.model_box.setCurrentIndex(window.model_box.count() - 2)  # a built-in model, not the project's
        return True

    window.confirm_download = yes_while_the_box_changes  # yes: now it may start — with the model agreed to
    window.analyze()
    qtbot.waitUntil(lambda: bool(started) and not window.busy(), timeout=WAIT)
    assert len(asked) == 2 and started == ["hf-hub:photoatlas-tests/not-on-this-computer"]
    window.model_box.setCurrentIndex(window.model_box.findData("hf-hub:photoatlas-tests/not-on-this-computer"))
    window.analyze()  # asked once per session and model
    qtbot.waitUntil(lambda: len(started) == 2 and not window.busy(), timeout=WAIT)
    assert len(asked) == 2

    # The models on this machine, and local folders, are used without a question.
    from desktop_app.core.embedding.downloads import needed_download

    assert needed_download(TINY_MODEL) is None


def test_export_writes_the_document_and_a_table(qtbot, window, library, tmp_path) -> None:
    analysed(qtbot, window, library)
    window.export_to(tmp_path / "out.json")
    doc = json.loads((tmp_path / "out.json").read_text())
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert len(doc["items"]) == 16 and len(rows) == 17 and rows[0].startswith("path,kind,group_id,group")


def test_headless_screenshot_shows_the_map(tmp_path, library) -> None:
    """`photoatlas gui PATH --screenshot F --quit-when-done`: exit 0 and a PNG whose pixels show the map."""
    shot = tmp_path / "shot.png"
    run = subprocess.run([sys.executable, "-m", "desktop_app", "gui", str(library), "--model", TINY_MODEL,
                          "--cache-dir", str(tmp_path / "c"), "--screenshot", str(shot), "--quit-when-done"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, run.stderr
    image = QImage(str(shot))
    assert image.width() >= 800 and image.height() >= 500
    # Thumbnails of the red circles are on the map: a filled area of strongly red pixels in the map's part of the
    # window (left of the docks, below the toolbars; a group's red frame or label is too thin to count 50 samples).
    reds = 0
    for x in range(0, image.width() * 2 // 3, 3):
        for y in range(image.height() // 8, image.height() * 15 // 16, 3):
            c = image.pixelColor(x, y)
            reds += c.red() > 200 and c.green() < 80 and c.blue() < 80
    assert reds > 50
    # The map's background is the theme's base colour (light by default offscreen), not black.
    corner = image.pixelColor(image.width() // 2, image.height() - 40)
    assert corner.lightness() > 128


def test_gui_with_a_missing_folder_exits_2() -> None:
    run = subprocess.run([sys.executable, "-m", "desktop_app", "gui", "/no/such/folder", "--quit-when-done"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 2 and "no such file or folder" in run.stderr


def test_rectangle_and_lasso_select_what_they_enclose(qtbot, window, library) -> None:
    """The view box's rectangle / lasso signals (what Shift-drag and Alt-drag emit) select what they enclose."""
    analysed(qtbot, window, library)
    view = window.map
    view.box.rectSelected.emit(view.data_rect(), False)
    assert view.selected == set(range(len(window.result.items)))

    # A lasso drawn around one point, closer to it than half the distance to its nearest neighbour, holds that
    # point alone on any layout (a box around a whole group may also hold another group's point).
    gaps = np.linalg.norm(view.coords[:, None] - view.coords[None], axis=2)
    np.fill_diagonal(gaps, np.inf)
    target = int(np.argmax(gaps.min(axis=1)))
    r = gaps[target].min() / 2
    assert r > 0
    cx, cy = view.coords[target]
    diamond = np.array([[cx - r, cy], [cx, cy - r], [cx + r, cy], [cx, cy + r]])
    view.box.lassoSelected.emit(diamond, False)
    assert view.selected == {target}
    lo, hi = view.coords.min(axis=0) - 1, view.coords.max(axis=0) + 1
    around_all = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    view.box.lassoSelected.emit(around_all, False)
    assert view.selected == set(range(len(window.result.items)))
    view.box.lassoSelected.emit(diamond, False)
    far_away = np.array([[1e6, 1e6], [1e6 + 1, 1e6], [1e6, 1e6 + 1]])
    view.box.lassoSelected.emit(far_away, True)  # Ctrl: adds (nothing there) and keeps the rest
    assert view.selected == {target}


def test_export_groups_from_the_window_and_undo(qtbot, window, library, tmp_path) -> None:
    from desktop_app.core.export.plan import ExportOptions
    from desktop_app.gui.export_dialog import ExportDialog

    analysed(qtbot, window, library)
    dialog = ExportDialog(window.analysis, str(tmp_path))
    qtbot.addWidget(dialog)
    dialog.dest.setText(str(tmp_path / "out"))
    dialog.groups.item(0).setCheckState(Qt.CheckState.Unchecked)
    options = dialog.options()
    assert options.mode == "copy" and window.analysis.clusters[0].id not in options.groups
    dest = tmp_path / "out"
    with qtbot.waitSignal(window.exportFinished, timeout=WAIT) as done:
        window.export_groups_to(dest, ExportOptions(mode="copy"))
    assert done.args[0].done == len([i for i in window.analysis.labels if i >= 0])
    exported = [p for p in dest.rglob("*") if p.is_file() and not p.name.startswith(".") and p.parent != dest]
    assert len(exported) == done.args[0].done and (dest / "groups.csv").exists()
    assert window.act_undo_export.isEnabled()
    with qtbot.waitSignal(window.exportFinished, timeout=WAIT):
        window.undo_last_export()
    assert not [p for p in dest.rglob("*") if p.is_file() and p.parent != dest]
    assert all(Path(i.path).exists() for i in window.result.items)  # originals untouched throughout
