"""What a window shows when a big library opens, after the set-up was made to scale (benchmarks/open_million.py):
the groups panel built in one go still shows every group in order, with its state, sub-groups and examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QLabel  # noqa: E402

from desktop_app.core.analysis.model import ClusterInfo  # noqa: E402
from desktop_app.gui.panels import GroupsPanel  # noqa: E402
from desktop_app.gui.thumbs import ThumbnailService  # noqa: E402


def _group(cid: int, size: int, parent: int | None = None) -> ClusterInfo:
    return ClusterInfo(cid, f"group {cid}", size, [0, 1], 0.5, np.zeros(4, np.float32), parent=parent)


def test_many_groups_are_all_shown_in_order_with_their_state(qtbot, tmp_path: Path) -> None:
    thumbs = ThumbnailService(tmp_path / "thumbs", None)
    thumbs.set_items([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], ["text", "text"])
    panel = GroupsPanel(thumbs)
    qtbot.addWidget(panel)
    panel.show()
    groups = [_group(i, 1000 - i) for i in range(300)]
    subs = [_group(300 + i, 5, parent=i // 2) for i in range(20)]  # groups 0-9 have two sub-groups each
    panel._expanded.add("group 4")  # the user had group 4 open before the panel was rebuilt
    panel.show_groups(groups, 7, {3, 8}, subs)

    tops = [panel.topLevelItem(i) for i in range(panel.topLevelItemCount())]
    assert [t.text(0) for t in tops] == [f"group {i}" for i in range(300)] + ["No group"]
    assert [t.text(1) for t in tops[:3]] == ["1000", "999", "998"] and tops[-1].text(1) == "7"
    assert [i for i, t in enumerate(tops[:300]) if t.checkState(0) == Qt.CheckState.Unchecked] == [3, 8]
    assert all(t.flags() & Qt.ItemFlag.ItemIsEditable for t in tops[:300])
    assert [t.childCount() for t in tops[:12]] == [2] * 10 + [0, 0]
    assert tops[1].child(1).data(0, Qt.ItemDataRole.UserRole) == 303
    assert not tops[1].child(0).flags() & Qt.ItemFlag.ItemIsUserCheckable
    assert [i for i, t in enumerate(tops[:300]) if t.isExpanded()] == [4]
    assert all(isinstance(panel.itemWidget(t, 2), QLabel) for t in tops[:300])  # the example strips
    assert isinstance(panel.itemWidget(tops[2].child(0), 2), QLabel)
    assert tops[0].data(0, Qt.ItemDataRole.UserRole) == 0 and tops[-1].data(0, Qt.ItemDataRole.UserRole) == -1


def test_the_map_redraws_only_for_what_changes_what_its_points_show(qtbot, tmp_path: Path, monkeypatch) -> None:
    from desktop_app.gui.map_view import MapView

    view = MapView(ThumbnailService(tmp_path / "thumbs"))
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    labels = np.repeat(np.arange(2), 10)
    coords = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    view.set_items(coords, labels, ["image"] * 20, [f"/p/{i}.jpg" for i in range(20)], [None] * 20, {0: "a", 1: "b"})
    redraws: list[int] = []
    original = view._redraw
    monkeypatch.setattr(view, "_redraw", lambda: (redraws.append(1), original())[1])

    # What a window opening a library sets, unchanged: nothing to rebuild.
    view.set_hidden_groups(set())
    view.set_collapsed(None, {})
    view.set_filtered(None)
    zeros = np.zeros(20, np.int8)
    stars = zeros.copy()
    stars[3] = 4
    view.set_marks(stars, zeros, zeros)  # stars are thumbnail badges: the dots stay as they are
    assert redraws == [] and view.ratings[3] == 4
    assert len(view.scatter.data) == 20 and set(view.scatter.data["size"]) == {map_view_point_px()}

    # Changes do redraw: a reject is drawn smaller, a filter and a hidden group leave points out.
    flags = zeros.copy()
    flags[5] = -1
    view.set_marks(stars, flags, zeros)
    assert len(redraws) == 1
    sizes = dict(zip(view.scatter.data["data"].tolist(), view.scatter.data["size"].tolist()))
    assert sizes[5] < sizes[4]
    out = np.zeros(20, bool)
    out[:2] = True
    view.set_filtered(out)
    view.set_filtered(out.copy())  # the same rows again: no second redraw
    assert len(redraws) == 2 and len(view.scatter.data) == 18
    view.set_hidden_groups({1})
    assert len(redraws) == 3 and set(view.scatter.data["data"].tolist()) == set(range(2, 10))
    view.set_collapsed(np.arange(20) == 2, {3: 2})
    assert len(redraws) == 4 and 2 not in set(view.scatter.data["data"].tolist())
    view.set_marks(None, None, None)  # the reject is gone: its dot is full size again
    assert len(redraws) == 5

    # The library state changes its mark arrays in place and hands the same arrays over again: still redrawn.
    view.set_marks(stars, zeros, zeros)
    before = len(redraws)
    zeros[7] = -1  # "zeros" is the flags array the view holds
    view.set_marks(stars, zeros, zeros)
    assert len(redraws) == before + 1
    sizes = dict(zip(view.scatter.data["data"].tolist(), view.scatter.data["size"].tolist()))
    assert sizes[7] < sizes[4]


def map_view_point_px() -> int:
    from desktop_app.gui.map_view import POINT_PX

    return POINT_PX


def _counts_item_by_item(folders: list[str], item_paths: list[str]) -> dict[str, int]:
    """The library panel's count as it was made before, one item at a time (the reference)."""
    counts: dict[str, int] = {}
    for p in item_paths:
        owner = next((f for f in folders if p == f or p.startswith(f.rstrip("/\\") + ("/" if "/" in p else "\\"))),
                     None)
        if owner is not None:
            counts[owner] = counts.get(owner, 0) + 1
    return counts


def test_folder_counts_are_the_item_by_item_counts() -> None:
    from desktop_app.gui.panels import _folder_counts

    folders = ["/pics/2024", "/pics", "/pics/2024/trip", "/other/one.jpg", "/", "C:\\Photos", "/pics/20"]
    paths = ["/pics/2024/a.jpg", "/pics/2024/trip/b.jpg", "/pics/2024/trip/deep/c.jpg", "/pics/2025/d.jpg",
             "/pics/20/e.jpg", "/pics/200/f.jpg", "/other/one.jpg", "/other/two.jpg", "/g.jpg", "C:\\Photos\\x.jpg",
             "C:\\Photos\\sub\\y.jpg", "C:\\Photosx\\z.jpg", "relative.jpg"] * 3
    got = _folder_counts(folders, paths)
    assert dict(got) == _counts_item_by_item(folders, paths)
    assert got["/pics/2024"] == 9 and got["/pics"] == 9 and "/pics/20" not in got and got["C:\\Photos"] == 6
    assert _folder_counts(["/pics/", "/pics/2024"], paths) == _counts_item_by_item(["/pics/", "/pics/2024"], paths)


def test_the_collector_runs_less_often_only_while_a_library_is_read() -> None:
    import gc

    from desktop_app.core.library import jobs as main_window

    before = gc.get_threshold()
    with main_window.fewer_collections():
        assert gc.get_threshold()[0] == max(before[0], main_window.JOB_GC_THRESHOLD)
        assert gc.get_threshold()[1:] == before[1:]
    assert gc.get_threshold() == before

    def job():
        with main_window.fewer_collections():
            yield 1
            yield 2

    running = job()
    next(running)
    running.close()  # a cancelled job: the generator is closed mid-way
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), main_window.fewer_collections():
        raise RuntimeError("a failed job")
    assert gc.get_threshold() == before


def test_the_state_finds_rows_by_path_after_a_new_analysis() -> None:
    from desktop_app.core.library.state import LibraryState

    state = LibraryState(["/a.jpg", "/b.jpg"])
    assert state.row("/b.jpg") == 1
    changed: list[list[int]] = []
    state.marksChanged.connect(changed.append)
    state.reset(["/c.jpg", "/b.jpg", "/a.jpg"])  # the rows are made again when first asked for
    assert (state.row("/a.jpg"), state.row("/b.jpg"), state.row("/c.jpg"), state.row("/d.jpg")) == (2, 1, 0, None)
    state.rate([2], 4)  # a mark by row reaches the view as that row
    assert changed[-1] == [2] and state.marks.get("/a.jpg").rating == 4
