"""What a window shows when a big library opens, after the set-up was made to scale (benchmarks/open_million.py):
the groups panel built in one go still shows every group in order, with its state, sub-groups and examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QLabel  # noqa: E402

from desktop_app.core.analysis import ClusterInfo  # noqa: E402
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
