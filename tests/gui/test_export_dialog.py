"""The Export Groups dialog: select all / none, the live file count and size (the library's export rule, so the
count is what is exported), a default destination outside the library, the marks filters offered only when there
are marks, and options() carrying every choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QDialogButtonBox  # noqa: E402

from desktop_app.core.analysis.model import Analysis, describe_clusters  # noqa: E402
from desktop_app.core.documents.document import EmbedResult, ItemRecord  # noqa: E402
from desktop_app.core.library.library import Library  # noqa: E402
from desktop_app.core.review.duplicates import SimilarSet  # noqa: E402
from desktop_app.core.review.marks import Mark, Marks  # noqa: E402
from desktop_app.gui.export_dialog import ExportDialog, default_destination, human_size  # noqa: E402

LABELS = [0, 0, 0, 2, 2, -1]  # group 1 was merged away: ids 0 and 2 are left
SIZES = [1_000_000, 2_000_000, 3_000_000, 500_000, 500_000, 7_000_000]
PATHS = [f"/lib/IMG_{i}.jpg" for i in range(len(LABELS))]


def analysis() -> Analysis:
    labels = np.array(LABELS, np.int64)
    n = len(labels)
    vectors = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    clusters = describe_clusters(vectors, labels)
    for c, name in zip(clusters, ("beach", "dogs"), strict=True):
        c.name = name
    return Analysis(coords=np.zeros((n, 2), np.float32), cluster_space=np.zeros((n, 2), np.float32), labels=labels,
                    outlier_scores=np.zeros(n, np.float32), membership=np.ones(n, np.float32),
                    isolation=np.zeros(n, np.float32), clusters=clusters, params={})


def marks() -> Marks:
    m = Marks()
    m.set(PATHS[0], Mark(4, "pick", "Red"))
    m.set(PATHS[1], Mark(0, "reject", None))
    m.set(PATHS[3], Mark(2, "pick", None))
    return m


def library(marked: bool = True, sets: bool = True) -> Library:
    """A library in memory holding a hand-made analysis of six pictures, their marks and one burst."""
    lib = Library()
    items = [ItemRecord(path=p, kind="image", status="ok", size=s, mtime_ns=1) for p, s in zip(PATHS, SIZES)]
    lib.take_result(EmbedResult(model={}, items=items, vectors=np.eye(len(PATHS), 8, dtype=np.float32),
                                analysis=analysis(),
                                similar_sets=[SimilarSet(kind="burst", members=[0, 2], best=0)] if sets else None))
    if marked:
        lib.state.replace_marks(marks())
    return lib


@pytest.fixture
def dialog(qtbot, tmp_path: Path):
    lib = library()
    d = ExportDialog(lib.analysis, str(tmp_path), None, has_sets=True, count=lib.export_count, marked=True,
                     library_folders=[str(tmp_path / "lib")])
    qtbot.addWidget(d)
    return d


def export_enabled(d: ExportDialog) -> bool:
    return d.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_select_none_and_all_and_the_count_line(dialog: ExportDialog) -> None:
    assert dialog.count.text() == "5 files · 7.0 MB"  # noise not included by default
    dialog.select_none.click()
    assert dialog.options().groups == set() and dialog.count.text().startswith("Nothing")
    assert not export_enabled(dialog)
    dialog.select_all.click()
    assert dialog.options().groups == {0, 2} and export_enabled(dialog)
    dialog.groups.item(0).setCheckState(Qt.CheckState.Unchecked)  # untick "beach" by hand
    assert dialog.count.text() == "2 files · 1.0 MB"
    dialog.noise.setChecked(True)
    assert dialog.count.text() == "3 files · 8.0 MB"


def test_marks_filters_change_the_count_and_reach_the_options(dialog: ExportDialog) -> None:
    dialog.picks_only.setChecked(True)
    assert dialog.count.text() == "2 files · 1.5 MB"  # IMG_0 and IMG_3
    dialog.min_rating_on.setChecked(True)
    dialog.min_rating.setValue(3)
    assert dialog.count.text() == "1 file · 1.0 MB"
    dialog.picks_only.setChecked(False)
    dialog.min_rating_on.setChecked(False)
    dialog.not_rejected.setChecked(True)
    assert dialog.count.text() == "4 files · 5.0 MB"
    dialog.best_only.setChecked(True)  # IMG_2 is the burst's other frame
    assert dialog.count.text() == "3 files · 2.0 MB"
    opts = dialog.options()
    assert opts.not_rejected and not opts.picks_only and opts.min_rating == 0 and opts.best_only
    assert opts.marks is None  # the library's marks, as they are when the export starts
    dialog.min_rating_on.setChecked(True)
    assert dialog.options().min_rating == 3


def test_sidecars_on_the_copies_by_default_or_next_to_the_originals(dialog: ExportDialog) -> None:
    assert not dialog.on_copies.isEnabled()  # nothing written yet: nothing to place
    dialog.xmp.setChecked(True)
    assert dialog.on_copies.isEnabled() and dialog.on_copies.isChecked()
    assert dialog.options().xmp and dialog.options().xmp_on_copies
    dialog.on_originals.setChecked(True)
    assert not dialog.options().xmp_on_copies
    dialog.mode.setCurrentIndex(dialog.mode.findData("move"))
    assert not dialog.on_originals.isEnabled() and "move" in dialog.on_originals.toolTip()


def test_without_marks_the_filters_are_off_and_explained(qtbot, tmp_path: Path) -> None:
    lib = library(marked=False, sets=False)
    d = ExportDialog(lib.analysis, str(tmp_path), None, count=lib.export_count)
    qtbot.addWidget(d)
    for box in (d.picks_only, d.min_rating_on, d.not_rejected):
        assert not box.isEnabled() and "rated" in box.toolTip()
    assert not d.best_only.isEnabled() and "duplicates" in d.best_only.toolTip()
    opts = d.options()
    assert not (opts.picks_only or opts.min_rating or opts.not_rejected) and opts.marks is None


def test_default_destination_is_outside_every_library_folder(dialog: ExportDialog, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "Pictures").mkdir(parents=True)
    assert default_destination([home / "Photos"], home) == home / "Pictures" / "PhotoAtlas export"
    # The library is ~/Pictures itself: the export goes beside it.
    assert default_destination([home / "Pictures"], home) == home / "Pictures (PhotoAtlas export)"
    assert default_destination([home], home) == tmp_path / "home (PhotoAtlas export)"
    library = (tmp_path / "lib").resolve()
    dest = dialog.destination().resolve()
    assert dest != library and library not in dest.parents


def test_fits_a_small_screen(dialog: ExportDialog) -> None:
    dialog.show()
    hint = dialog.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 640  # 700 less a title bar and a panel


def test_human_size() -> None:
    assert human_size(999) == "999 bytes" and human_size(1_500_000) == "1.5 MB"
    assert human_size(4_200_000_000) == "4.2 GB"
