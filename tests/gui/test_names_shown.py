"""Untrusted names in the window (issue 23): a folder holding a named pipe for a picture's sidecar, a name with an
escape sequence and a newline, and a name that is not UTF-8 is analysed to the end, and every name is shown on one
line, escaped (Qt would silently drop the stray byte: ``caf.png`` for ``caf\\xe9.png``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import save_shape

pytest.importorskip("PySide6")
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent, QGuiApplication  # noqa: E402

from desktop_app.gui.main_window import MainWindow  # noqa: E402

ODD = "a\x1b]0;PWNED\x07b\nskipped forged.jpg"  # an escape sequence that sets a terminal's title, a forged line
LATIN1 = os.fsdecode(b"caf\xe9.png")  # a Latin-1 camera card's name


def _drop(window: MainWindow, folder: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    window.dropEvent(QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                Qt.KeyboardModifier.NoModifier))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_for_a_sidecar_and_odd_names_are_analysed_and_shown_escaped(qtbot, window, tmp_path) -> None:
    lib = tmp_path / "lib"
    for n in range(3):
        save_shape(lib / f"red-circle-{n}.png", "red", "circle", seed=n)
    save_shape(lib / "f.jpg", "blue", "square")
    os.mkfifo(lib / "f.xmp")  # the sidecar marks are read after the analysis: this read hung the window
    (lib / ODD).write_bytes(b"not a picture")
    save_shape(lib / LATIN1, "green", "triangle")
    try:
        with qtbot.waitSignal(window.analysisFinished, timeout=60_000):
            _drop(window, lib)
    finally:  # had a reader blocked on the pipe, a writer that closes at once would end its read
        os.close(os.open(lib / "f.xmp", os.O_RDWR | os.O_NONBLOCK))
    paths = [os.fsencode(i.path) for i in window.result.items]
    assert os.fsencode(lib / LATIN1) in paths and len(paths) == 5
    panel = window.library_panel
    node = next(panel.topLevelItem(i) for i in range(panel.topLevelItemCount())
                if panel.topLevelItem(i).text(0).startswith("Skipped"))
    rows = {node.child(i).text(0) for i in range(node.childCount())}
    assert rows == {"a\\x1b]0;PWNED\\x07b\\nskipped forged.jpg: not an image, or an image format Pillow cannot read",
                    "f.xmp: a named pipe (FIFO), not a file"}
    for i in range(node.childCount()):
        shown = node.child(i).text(0) + node.child(i).toolTip(0)
        assert "\x1b" not in shown and "\x07" not in shown
    # Ctrl+C copies one line per skipped file, escaped the same way.
    node.child(0).setSelected(True)
    node.child(1).setSelected(True)
    panel.copy_selection()
    assert len(QGuiApplication.clipboard().text().splitlines()) == 2
    row = paths.index(os.fsencode(lib / LATIN1))
    assert window.map.tip(row).splitlines()[0] == "caf\\xe9.png"


HOSTILE = ["<font size=7 color=red>HTML.jpg", "a\x1b[31mESC\nline.jpg", os.fsdecode(b"caf\xe9.jpg")]


def test_the_grid_and_the_loupe_show_hostile_names_as_escaped_text(qtbot, tmp_path) -> None:
    """Names as the grid's cells, the loupe's panel and its status line show them: escaped, one line, and a name
    that looks like HTML stays text (the status line rendered it as big red letters)."""
    from PIL import Image

    from desktop_app.core.library.state import LibraryState
    from desktop_app.gui.grid_view import GridView
    from desktop_app.gui.loupe import LoupeView

    paths = []
    for i, name in enumerate(HOSTILE):
        path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + os.fsencode(name)))
        Image.new("RGB", (64, 48), (40 * i, 90, 120)).save(path, "JPEG")
        paths.append(str(path))
    state = LibraryState(paths)
    state.set_order(list(range(len(paths))))
    grid = GridView(tmp_path / "thumbs")
    qtbot.addWidget(grid)
    grid.set_state(state, paths, ["image"] * len(paths))
    grid.show_rows(range(len(paths)), "Group")
    model = grid.list.model()
    shown = [model.data(model.index(r, 0), Qt.ItemDataRole.DisplayRole) for r in range(model.rowCount())]
    assert sorted(shown) == sorted(["<font size=7 color=red>HTML.jpg", "a\\x1b[31mESC\\nline.jpg", "caf\\xe9.jpg"])
    tips = [model.data(model.index(r, 0), Qt.ItemDataRole.ToolTipRole) for r in range(model.rowCount())]
    assert any("&lt;font size=7" in tip for tip in tips)  # Qt renders a tooltip that looks like HTML: escaped
    assert not any("<font" in tip or "\x1b" in tip for tip in tips)
    loupe = LoupeView()
    qtbot.addWidget(loupe)
    loupe.set_state(state, paths, ["image"] * len(paths))
    for row, name in enumerate(HOSTILE):
        loupe.show_row(row)
        status, info = loupe.status, loupe.info
        assert status.textFormat() == Qt.TextFormat.PlainText
        assert "\x1b" not in status.text() + info.text() and "\n" not in status.text()
        if name.startswith("<font"):
            assert "&lt;font size=7" in info.text() and "<font size=7" in status.text()
        if "caf" in name:
            assert "caf\\xe9.jpg" in status.text() and "caf\\xe9.jpg" in info.text()
