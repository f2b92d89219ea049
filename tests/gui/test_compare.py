"""Compare view, offscreen: the keys that cull a set (B best, X reject the others, N / Shift+N through the sets),
one Ctrl+Z for an X, the best frame's border visible in the drawn pixels, strip frames brought up by a click."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QAction, QColor, QKeySequence  # noqa: E402
from PySide6.QtWidgets import QWidget  # noqa: E402

from desktop_app.core.library.state import LibraryState  # noqa: E402
from desktop_app.core.review.duplicates import SimilarSet  # noqa: E402
from desktop_app.core.review.quality import measure  # noqa: E402
from desktop_app.gui.compare import BEST_COLOUR, CompareView  # noqa: E402

WAIT = 30_000
# Blues, greens and greys: nothing in the pictures is near the amber of the best frame's border.
COLOURS = [(40, 80, 160), (30, 120, 60), (90, 90, 100), (20, 60, 120), (60, 140, 140), (110, 110, 130),
           (30, 90, 30), (70, 70, 160)]


def _library(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        pixels = np.zeros((120, 180, 3), np.uint8)
        pixels[:] = COLOURS[k % len(COLOURS)]
        pixels[40:80, 20 + 10 * k:70 + 10 * k] = 235  # a white block: something to be sharp about
        path = folder / f"IMG_{k:04d}.jpg"
        Image.fromarray(pixels).save(path, quality=92)
        paths.append(str(path))
    return paths


def _set(kind: str, members: list[int], best: int, paths: list[str]) -> SimilarSet:
    return SimilarSet(kind, members, [measure(paths[m]) for m in members], best)


def _compare(qtbot, tmp_path, parent: QWidget | None = None):
    paths = _library(tmp_path / "lib", 8)
    sets = [_set("burst", [0, 1, 2], 0, paths), _set("duplicates", [3, 4], 4, paths)]
    state = LibraryState(paths)
    view = CompareView(parent)
    if parent is None:
        qtbot.addWidget(view)
        view.resize(1024, 700)
    (parent or view).show()
    view.show_sets(sets, paths, state)
    view.setFocus()
    qtbot.waitUntil(lambda: view.hasFocus(), timeout=WAIT)
    return view, sets, state, paths


@pytest.fixture
def compare(qtbot, tmp_path):
    return _compare(qtbot, tmp_path)


def _flags(state: LibraryState, rows) -> list[str | None]:
    return [state.marks.get(state.paths[r]).flag for r in rows]


def test_keys_cull_a_set_and_walk_through_the_sets(qtbot, compare) -> None:
    view, sets, state, _ = compare
    assert view.set_index == 0 and view.up_rows == [0, 1, 2] and view.focus_row == 0 and state.current == 0

    qtbot.keyClick(view, Qt.Key.Key_X)  # reject the others, pick the best
    assert _flags(state, [0, 1, 2]) == ["pick", "reject", "reject"]
    assert _flags(state, [3, 4]) == [None, None]  # another set: untouched

    qtbot.keyClick(view, Qt.Key.Key_Right)  # focus the second frame and make it the best
    assert view.focus_row == 1 and state.current == 1
    with qtbot.waitSignal(view.bestChosen, timeout=WAIT) as chosen:
        qtbot.keyClick(view, Qt.Key.Key_B)
    assert chosen.args == [0, 1]
    assert sets[0].best == 1 and sets[0].chosen_by == "user"
    qtbot.keyClick(view, Qt.Key.Key_3)
    assert view.focus_row == 2

    with qtbot.waitSignal(view.setChanged, timeout=WAIT) as changed:
        qtbot.keyClick(view, Qt.Key.Key_N)
    assert changed.args == [1] and view.set_index == 1
    assert view.up_rows == [4, 3] and view.focus_row == 4  # the best frame first, with the focus
    with qtbot.assertNotEmitted(view.setChanged):  # past the last set: it stays there
        qtbot.keyClick(view, Qt.Key.Key_N)
        qtbot.keyClick(view, Qt.Key.Key_Space)
    assert view.set_index == 1 and "(last)" in view.title.text()
    qtbot.keyClick(view, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert view.set_index == 0
    qtbot.keyClick(view, Qt.Key.Key_Up)  # before the first: stays
    assert view.set_index == 0
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.set_index == 1


def test_one_undo_takes_back_a_reject_the_others(qtbot, compare) -> None:
    view, _, state, _ = compare
    state.flag([2], "pick")  # a mark made before: the undo must bring it back, not clear it
    with qtbot.waitSignal(state.marksChanged, timeout=WAIT):
        qtbot.keyClick(view, Qt.Key.Key_X)
    assert _flags(state, [0, 1, 2]) == ["pick", "reject", "reject"]
    assert "Reject 2 pictures" in (state.history.undo_text or "")
    state.history.undo()
    assert _flags(state, [0, 1, 2]) == [None, None, "pick"]
    state.history.redo()
    assert _flags(state, [0, 1, 2]) == ["pick", "reject", "reject"]


def test_compare_keys_win_over_the_windows_shortcuts(qtbot, tmp_path) -> None:
    """In the window, X is also Photo > Reject (of the selection): with Compare focused, X means its own."""
    window = QWidget()
    qtbot.addWidget(window)
    window.resize(1024, 700)
    fired = []
    action = QAction("Reject", window)
    action.setShortcut(QKeySequence("X"))
    action.triggered.connect(lambda: fired.append(True))
    window.addAction(action)
    view, _, state, _ = _compare(qtbot, tmp_path, window)
    qtbot.keyClick(view, Qt.Key.Key_X)
    assert fired == [] and _flags(state, [1, 2]) == ["reject", "reject"]


def _amber_pixels(widget) -> int:
    image = widget.grab().toImage()
    want = BEST_COLOUR
    count = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            c = QColor(image.pixel(x, y))
            if abs(c.red() - want.red()) < 20 and abs(c.green() - want.green()) < 20 and \
                    abs(c.blue() - want.blue()) < 20:
                count += 1
    return count


def test_the_best_frame_has_a_visible_border_and_pictures_arrive(qtbot, compare) -> None:
    view, sets, _, _ = compare
    qtbot.waitUntil(lambda: all(view.pixmap(r) is not None for r in view.up_rows), timeout=WAIT)
    best, other = view.up_frames[0], view.up_frames[1]
    assert best.row == sets[0].best == 0 and other.row == 1
    # The border runs round the picture: at least its length in sampled pixels (every 2nd pixel each way).
    target = best.picture_target(view.pixmap(0))
    assert _amber_pixels(best) >= (target.width() + target.height()) // 2
    assert _amber_pixels(other) == 0
    qtbot.keyClick(view, Qt.Key.Key_2)
    qtbot.keyClick(view, Qt.Key.Key_B)  # the border moves with the best frame
    assert _amber_pixels(other) >= (target.width() + target.height()) // 2
    assert _amber_pixels(best) == 0


def test_a_click_in_the_strip_brings_a_frame_up(qtbot, tmp_path) -> None:
    paths = _library(tmp_path / "lib", 7)
    state = LibraryState(paths)
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(1024, 700)
    view.show()
    view.show_sets([_set("burst", list(range(7)), 3, paths)], paths, state)
    # Decoded on worker threads and handed over through the event loop: nothing is there before it runs.
    assert view.pixmap(3) is None
    assert view.up_rows == [3, 0, 1, 2] and view.strip_rows() == [4, 5, 6]
    strip = [f for f in view.strip_frames if f.isVisible()]
    assert [f.row for f in strip] == [4, 5, 6]
    qtbot.mouseClick(view.up_frames[2], Qt.MouseButton.LeftButton)  # focus frame 3 (row 1) ...
    assert view.focus_row == 1
    qtbot.mouseClick(strip[1], Qt.MouseButton.LeftButton)  # ... and put row 5 in its place
    assert view.up_rows == [3, 0, 5, 2] and view.focus_row == 5 and view.strip_rows() == [1, 4, 6]
    qtbot.waitUntil(lambda: view.pixmap(5) is not None, timeout=WAIT)


def test_no_sets_and_unreadable_frames_are_shown_plainly(qtbot, tmp_path) -> None:
    paths = _library(tmp_path / "lib", 2)
    Path(paths[1]).write_bytes(b"not a picture")
    view = CompareView()
    qtbot.addWidget(view)
    view.show_sets([], paths, None)
    assert "No duplicate" in view.title.text() and view.current_set is None
    qtbot.keyClick(view, Qt.Key.Key_N)  # nothing to do, nothing breaks
    view.resize(800, 600)
    view.show()
    view.show_sets([SimilarSet("duplicates", [0, 1], [measure(p) for p in paths], 0)], paths, None)
    qtbot.waitUntil(lambda: view.failed(1) and view.pixmap(0) is not None, timeout=WAIT)
    qtbot.keyClick(view, Qt.Key.Key_X)  # no state: nothing to mark, nothing breaks
