"""The Qt-free review state: marks by path, filters, undoable commands, and how sidecar marks join them."""

from __future__ import annotations

import numpy as np

from desktop_app.core.library.state import LibraryState
from desktop_app.core.metadata.photo_meta import PhotoMeta
from desktop_app.core.review.duplicates import SimilarSet, apply_picks
from desktop_app.core.review.marks import Mark, MarkFilter, Marks, mark_from_xmp, xmp_rating
from desktop_app.core.review.quality import Quality

PATHS = [f"/lib/IMG_{i}.jpg" for i in range(6)]


def test_marks_undo_by_path_even_after_the_rows_change() -> None:
    state = LibraryState(PATHS)
    seen: list[list[int]] = []
    state.marksChanged.connect(seen.append)
    state.rate([1, 2], 4)
    state.flag([2], "reject")
    assert state.marks.get(PATHS[2]) == Mark(4, "reject", None) and seen == [[1, 2], [2]]
    state.reset(list(reversed(PATHS)))  # a new analysis: IMG_2 is row 3 now
    state.history.undo()
    assert state.marks.get(PATHS[2]) == Mark(4, None, None)
    assert seen[-1] == [3]  # the views hear the row the picture has now
    assert state.history.undo_text == "Rate ★4 (2 pictures)"


def test_the_filter_follows_marks_row_by_row() -> None:
    state = LibraryState(PATHS)
    state.set_filter(MarkFilter(min_rating=3, hide_rejected=True))
    assert not state.shown().any()
    state.rate([0, 4], 3)
    assert np.flatnonzero(state.shown()).tolist() == [0, 4]
    state.flag([4], "reject")
    assert np.flatnonzero(state.shown()).tolist() == [0]
    assert state.mark_arrays()[1][4] == -1  # kept up to date without a pass over the library
    state.history.undo()
    assert np.flatnonzero(state.shown()).tolist() == [0, 4]


def test_culling_a_set_is_one_command() -> None:
    state = LibraryState(PATHS)
    state.flag([3], "pick")
    state.cull(1, [1, 2, 3])
    assert [state.marks.get(p).flag for p in PATHS[1:4]] == ["pick", "reject", "reject"]
    state.history.undo()
    assert [state.marks.get(p).flag for p in PATHS[1:4]] == [None, None, "pick"]


def test_sidecar_marks_fill_in_only_what_was_not_decided_here() -> None:
    mine = Marks()
    mine.set(PATHS[0], Mark(2, None, None))
    mine.decided = {PATHS[0], PATHS[1]}  # IMG_1: its rating was cleared here
    found = Marks()
    for p in PATHS[:3]:
        found.set(p, mark_from_xmp(5, "green"))
    assert mine.fill_from(found) == 1
    assert [mine.get(p) for p in PATHS[:3]] == [Mark(2), Mark(), Mark(5, None, "Green")]
    assert Marks.from_json(mine.to_json()) == mine


def test_xmp_conventions() -> None:
    assert mark_from_xmp(-1, None) == Mark(0, "reject", None)
    assert xmp_rating(Mark(0, "reject", None)) == -1
    assert xmp_rating(Mark(4)) == 4
    assert xmp_rating(Mark()) is None and xmp_rating(Mark(), decided=True) == 0


def test_filters_by_camera_and_dates_need_the_metadata() -> None:
    metas = [PhotoMeta(taken=100.0 * i, camera="A" if i % 2 else "B") for i in range(6)]
    f = MarkFilter(cameras=frozenset({"A"}), taken_from=150.0)
    assert np.flatnonzero(f.mask(PATHS, Marks(), metas)).tolist() == [3, 5]
    assert not f.mask(PATHS, Marks(), None).any()  # unknown cameras never pass


def test_an_undone_best_frame_goes_back_to_the_sharpest() -> None:
    s = SimilarSet("duplicates", [0, 1, 2], [Quality(sharpness=10), Quality(sharpness=500), Quality(sharpness=50)])
    apply_picks([s], PATHS, {PATHS[2]})
    assert (s.best, s.chosen_by) == (2, "user")
    apply_picks([s], PATHS, set())
    assert (s.best, s.chosen_by) == (1, "quality")


def test_n_stars_or_more_never_includes_a_reject() -> None:
    marks = Marks()
    marks.set(PATHS[0], Mark(4, None, None))
    marks.set(PATHS[1], Mark(4, "reject", None))  # rated, then culled as a duplicate
    assert np.flatnonzero(MarkFilter(min_rating=3).mask(PATHS, marks)).tolist() == [0]
