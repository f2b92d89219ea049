"""The desktop app, offscreen, with the tiny real CLIP: drop, analyse, select, search, edit, save, cancel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import GUI_WAIT as WAIT
from conftest import ROOT, TINY_MODEL, save_shape

pytest.importorskip("PySide6")
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent, QImage  # noqa: E402

from desktop_app.core.cache import EmbeddingCache  # noqa: E402
from desktop_app.gui.main_window import MainWindow  # noqa: E402

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
    skipped = [window.library.topLevelItem(i).text(0) for i in range(window.library.topLevelItemCount())]
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
    assert any(c.name == "Tomatoes" for c in window.analysis.clusters)
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
    window._new_group_from_selection()
    group = next(c for c in window.analysis.clusters if c.name == "New group 1")
    assert group.size == 2
    ids = [c.id for c in window.analysis.clusters[:2]]
    before = sum(c.size for c in window.analysis.clusters if c.id in ids)
    window._merge_groups(ids)
    assert len([c for c in window.analysis.clusters if c.size == before]) >= 1


def test_cancel_stops_the_job_and_the_cache_stays_sound(qtbot, window, library) -> None:
    window.add_paths([str(library)])
    window.analyze()
    worker = window.worker
    with qtbot.waitSignal(worker.cancelled, timeout=WAIT):
        window.cancel()
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


def test_closing_mid_run_is_clean(qtbot, tmp_path, library) -> None:
    w = MainWindow(model=TINY_MODEL, cache_dir=tmp_path / "c", interactive_errors=False)
    qtbot.addWidget(w)
    w.show()
    w.add_paths([str(library)], analyze=True)
    worker = w.worker
    w.close()
    assert not worker.isRunning()
    with EmbeddingCache(tmp_path / "c") as cache:
        assert cache.warnings == []


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
    # Thumbnails of the red circles are on the map: some strongly red pixels in the middle of the window.
    reds = 0
    for x in range(image.width() // 5, image.width() * 4 // 5, 3):
        for y in range(image.height() // 8, image.height() * 7 // 8, 3):
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

    group = window.analysis.clusters[0]
    members = np.nonzero(window.analysis.labels == group.id)[0]
    pts = view.coords[members]
    lo, hi = pts.min(axis=0) - 0.01, pts.max(axis=0) + 0.01
    others = np.delete(view.coords, members, axis=0)
    if ((others >= lo) & (others <= hi)).all(axis=1).any():
        pytest.skip("another group's point lies inside this group's box on this layout")
    polygon = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    view.box.lassoSelected.emit(polygon, False)
    assert view.selected == set(members.tolist())
    far_away = np.array([[1e6, 1e6], [1e6 + 1, 1e6], [1e6, 1e6 + 1]])
    view.box.lassoSelected.emit(far_away, True)  # Ctrl: adds (nothing there) and keeps the rest
    assert view.selected == set(members.tolist())


def test_export_groups_from_the_window_and_undo(qtbot, window, library, tmp_path) -> None:
    from desktop_app.core.export import ExportOptions
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
