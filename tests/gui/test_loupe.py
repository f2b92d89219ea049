"""The loupe: ←/→ through the state's order, neighbours decoded ahead, marks by key, the info panel, zoom and
full screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from PySide6.QtCore import Qt

from desktop_app.core.library.state import LibraryState
from desktop_app.core.review.marks import Mark
from desktop_app.gui.loupe import FIT, FULL, LoupeView


def _picture(path: Path, i: int, size=(1200, 800), camera: bool = False) -> str:
    exif = Image.Exif()
    if camera:
        exif[271], exif[272] = "NIKON CORPORATION", "NIKON Z 6"
        sub = exif.get_ifd(0x8769)
        sub[33434], sub[33437], sub[34855] = IFDRational(1, 250), IFDRational(28, 10), 400
        sub[37386], sub[36867] = IFDRational(35, 1), "2024:06:14 15:02:07"
    Image.new("RGB", size, ((i * 50) % 255, 120, 200 - i * 10)).save(path, exif=exif)
    return str(path)


@pytest.fixture
def loupe_setup(qtbot, tmp_path):
    paths = [_picture(tmp_path / f"p{i}.jpg", i, camera=(i == 2)) for i in range(6)]
    note = tmp_path / "note.txt"
    note.write_text("A note about the shoot.")
    paths.append(str(note))
    kinds = ["image"] * 6 + ["text"]
    state = LibraryState(paths)
    state.set_order([0, 1, 2, 3, 4, 5, 6])
    loupe = LoupeView()
    qtbot.addWidget(loupe)
    loupe.resize(900, 600)
    loupe.set_state(state, paths, kinds, group_of=lambda r: "Blue things", outlier_scores=[0.1 * r for r in range(7)])
    loupe.show()
    qtbot.waitExposed(loupe)
    return loupe, state, paths


def test_arrows_walk_the_order_and_neighbours_are_prefetched(loupe_setup, qtbot):
    loupe, state, paths = loupe_setup
    loupe.show_row(2)
    assert state.current == 2
    qtbot.waitUntil(lambda: set(loupe.cached(FIT)) >= {0, 1, 2, 3, 4}, timeout=60_000)
    qtbot.waitUntil(lambda: (loupe.canvas.grab(), loupe.canvas.painted_row)[1] == 2, timeout=10_000)
    qtbot.keyClick(loupe, Qt.Key.Key_Right)
    assert state.current == 3 and loupe.current == 3
    assert not loupe.canvas.image.isNull()  # prefetched: drawn at once, no waiting for a decode
    qtbot.keyClick(loupe, Qt.Key.Key_Left)
    qtbot.keyClick(loupe, Qt.Key.Key_Left)
    assert state.current == 1
    qtbot.keyClick(loupe, Qt.Key.Key_Space)
    assert state.current == 2
    qtbot.keyClick(loupe, Qt.Key.Key_Backspace)
    assert state.current == 1
    qtbot.waitUntil(lambda: 3 not in loupe._pending and 0 in loupe.cached(), timeout=60_000)
    state.set_order([5, 1, 4])  # the grid was sorted: the walk follows
    qtbot.keyClick(loupe, Qt.Key.Key_Right)
    assert state.current == 4
    qtbot.keyClick(loupe, Qt.Key.Key_Right)
    assert state.current == 4  # the end of the order


def test_marks_keys_and_info_panel(loupe_setup, qtbot):
    loupe, state, paths = loupe_setup
    loupe.show_row(2)
    info = loupe.info.text()
    assert "NIKON Z 6" in info and "1/250 s" in info and "f/2.8" in info and "ISO 400" in info
    assert "2024-06-14 15:02:07" in info and "Blue things" in info and "0.20" in info
    assert "1200 × 800" in info
    for key in (Qt.Key.Key_4, Qt.Key.Key_P, Qt.Key.Key_7):
        qtbot.keyClick(loupe, key)
    assert state.marks.get(paths[2]) == Mark(4, "pick", "Yellow")
    assert "★★★★" in loupe.info.text() and "Pick" in loupe.status.text()
    qtbot.keyClick(loupe, Qt.Key.Key_X)
    assert state.marks.get(paths[2]).flag == "reject"
    qtbot.keyClick(loupe, Qt.Key.Key_U)
    qtbot.keyClick(loupe, Qt.Key.Key_0)
    qtbot.keyClick(loupe, Qt.Key.Key_7)
    assert state.marks.get(paths[2]) == Mark()
    assert state.marks.get(paths[1]) == Mark()
    qtbot.keyClick(loupe, Qt.Key.Key_I)
    assert loupe.info_panel.isHidden()
    qtbot.keyClick(loupe, Qt.Key.Key_I)
    assert not loupe.info_panel.isHidden()


def test_zoom_full_screen_and_escape(loupe_setup, qtbot):
    loupe, state, paths = loupe_setup
    loupe.show_row(0)
    qtbot.waitUntil(lambda: not loupe.canvas.image.isNull(), timeout=60_000)
    assert loupe.canvas.image.width() < 1200  # fitted to the view
    qtbot.keyClick(loupe, Qt.Key.Key_Z)
    qtbot.waitUntil(lambda: 0 in loupe.cached(FULL) and loupe.canvas.image.width() == 1200, timeout=60_000)
    assert loupe.canvas.width() == round(1200 / loupe.devicePixelRatioF())  # 100 %: scroll bars to pan
    qtbot.keyClick(loupe, Qt.Key.Key_Z)
    assert loupe.canvas.image.width() < 1200
    qtbot.keyClick(loupe, Qt.Key.Key_F)
    assert loupe.is_full_screen and loupe.window().isFullScreen()
    qtbot.keyClick(loupe, Qt.Key.Key_Escape)
    assert not loupe.is_full_screen and not loupe.window().isFullScreen()
    with qtbot.waitSignal(loupe.closed):
        qtbot.keyClick(loupe, Qt.Key.Key_Escape)


def test_note_shows_its_text(loupe_setup, qtbot):
    loupe, state, paths = loupe_setup
    loupe.show_row(6)
    assert loupe.stack.currentWidget() is loupe.text
    assert "A note about the shoot." in loupe.text.toPlainText()
    qtbot.keyClick(loupe, Qt.Key.Key_Left)
    assert loupe.stack.currentWidget() is loupe.scroll and state.current == 5
