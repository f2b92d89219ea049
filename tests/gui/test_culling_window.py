"""Culling in the window, offscreen, with the tiny real CLIP: find duplicates, collapse them on the map, pick
another best frame, export the best frames only; regroup by typed prompts."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import GUI_WAIT as WAIT
from conftest import ROOT, TINY_MODEL, save_shape
from near_dups import near_duplicate_library

pytest.importorskip("PySide6")

TINY_DUPLICATE_THRESHOLD = 0.75

from desktop_app.core.analysis.groupings import OTHER  # noqa: E402
from desktop_app.core.export.plan import ExportOptions  # noqa: E402
from desktop_app.core.review.duplicates import CullSettings  # noqa: E402
from desktop_app.gui.main_window import MainWindow  # noqa: E402


def _analyse(qtbot, window: MainWindow, folder: Path) -> None:
    with qtbot.waitSignal(window.analysisFinished, timeout=WAIT):
        window.add_paths([str(folder)], analyze=True)


def test_duplicates_collapse_on_the_map_and_the_best_frame_can_be_changed(qtbot, window, tmp_path) -> None:
    near_duplicate_library(tmp_path / "lib")  # 5 pictures x (original + 4 copies)
    _analyse(qtbot, window, tmp_path / "lib")
    assert len(window.map.scatter.data) == 25
    # The tiny model's gap between copies (>= 0.91) and different pictures (<= 0.60): see test_culling.py.
    window.result.cull_settings = CullSettings(threshold=TINY_DUPLICATE_THRESHOLD)
    window.find_duplicates()
    qtbot.waitUntil(lambda: bool(window.result.similar_sets) and not window.busy(), timeout=WAIT)
    sets = window.result.similar_sets
    assert len(sets) == 5 and window.culling.list.count() == 5
    # Collapsed: one point per set, and its best frame carries the count.
    assert window.act_collapse.isChecked() and len(window.map.scatter.data) == 5
    assert window.map.badges == {s.best: 5 for s in sets}
    window.act_collapse.trigger()
    assert len(window.map.scatter.data) == 25

    # Pick another frame of the first set as its best: remembered, and --best-only exports it.
    first = sets[0]
    other = first.others[0]
    window.act_collapse.trigger()  # collapsed again; clicking a set in the panel opens just that one
    window.culling.setActivated.emit(0)
    assert window.map.selected == set(first.members)
    assert len(window.map.scatter.data) == 5 + 4 and first.best not in window.map.badges
    window.toggle_set(0, False)
    assert len(window.map.scatter.data) == 5
    window.act_collapse.trigger()
    window.map.set_selection({other})
    window.map.selectionChanged.emit()
    assert window.act_make_best.isEnabled()
    window.act_make_best.trigger()
    assert first.best == other and first.chosen_by == "user"
    assert window.edits.picks == {window.result.items[other].path}
    assert "(your pick)" in window.culling.list.item(0).text()

    dest = tmp_path / "out"
    with qtbot.waitSignal(window.exportFinished, timeout=WAIT):
        window.export_groups_to(dest, ExportOptions(include_noise=True, best_only=True))
    exported = sorted(p.name for p in dest.rglob("*.jpg"))
    assert len(exported) == 5 and Path(window.result.items[other].path).name in exported

    with qtbot.waitSignal(window.analysisFinished, timeout=WAIT):
        window.analyze()  # the same pictures analysed again: the library remembers its sets and the choice
    assert window.culling.list.count() == 5 and window.result.similar_sets[0].best == other
    save_shape(tmp_path / "lib" / "new.jpg", "green", "circle")  # a picture more: the sets found no longer apply
    with qtbot.waitSignal(window.analysisFinished, timeout=WAIT):
        window.analyze()
    assert window.culling.list.count() == 0 and window.map.collapsed is None
    assert len(window.map.scatter.data) == 26


def test_groups_from_typed_prompts_and_a_project_keeps_them(qtbot, window, tmp_path) -> None:
    _analyse(qtbot, window, ROOT / "resources" / "sample")
    window.clusterer_box.setCurrentIndex(window.clusterer_box.findData("prompts"))
    assert window.prompts_action.isVisible() and not window.param_action.isVisible()
    window.prompts_edit.setText("red circle, blue square")
    window.prompts_edit.returnPressed.emit()
    qtbot.waitUntil(lambda: window.base.params["clusterer"]["name"] == "prompts" and not window.busy(), timeout=WAIT)
    names = {c.name for c in window.analysis.clusters}
    assert names == {"red circle", "blue square", OTHER}
    red = next(c for c in window.analysis.clusters if c.name == "red circle")
    paths = [it.path for it in window.result.items]
    members = [p for i, p in enumerate(paths) if window.analysis.labels[i] == red.id and p.endswith(".jpg")]
    names = {Path(p).name for p in members}
    assert {f"red-circle-{n}.jpg" for n in (1, 2, 3)} <= names
    assert all(n.startswith(("red-circle", "orange-circle")) for n in names)  # to the tiny model orange ~ red

    project = tmp_path / "sample.photoatlas"
    assert window.save_project_to(project)
    reopened = MainWindow(model=TINY_MODEL, cache_dir=window.cache_dir, interactive_errors=False)
    qtbot.addWidget(reopened)
    with qtbot.waitSignal(reopened.analysisFinished, timeout=WAIT):
        reopened.open_project(project)
    assert reopened.clusterer_box.currentData() == "prompts"
    assert reopened.prompts_edit.text() == "red circle, blue square"
    qtbot.waitUntil(lambda: reopened.base.params["clusterer"]["name"] == "prompts" and not reopened.busy(),
                    timeout=WAIT)
    assert {c.name for c in reopened.analysis.clusters} == {"red circle", "blue square", OTHER}
