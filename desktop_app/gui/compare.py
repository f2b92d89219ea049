"""Compare: one duplicate or burst set side by side — 2 to 4 frames large ("up"), the rest in a strip below —
with each frame's sharpness, clipping and resolution and the best frame marked, and keys to cull the set.

Keys (the view must have focus): B or Enter makes the focused frame the best, X rejects the others and picks the
best (one undoable command), N / Space / Down next set, Shift+N / Up previous set, ←/→ move the focus among
the frames up, 1-4 focus frame n. A click on a frame up focuses it; a click on a frame of the strip brings it up.

Pictures are decoded off the GUI thread (a QThreadPool running ``core.images.load_image`` at about the size they
are drawn: ``draft()`` makes a 24 MP JPEG cheap at that size); a frame shows a placeholder until its picture is
ready. The marks (pick / reject) come from the shared ``LibraryState`` and are redrawn when it says they changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QRect, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QFont, QImage, QKeyEvent, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from desktop_app.core.errors import UnreadableFile
from desktop_app.core.filenames import printable
from desktop_app.core.ingest.images import load_image
from desktop_app.core.library.state import LibraryState
from desktop_app.core.review.duplicates import SimilarSet
from desktop_app.core.review.quality import Quality
from desktop_app.gui.palette import PICK_COLOUR, REJECT_COLOUR
from desktop_app.gui.tooltips import plain_tip

MAX_UP = 4
STRIP_SIDE = 96  # px of a strip frame's picture
SIDE_STEP = 256  # decode sizes are rounded up to this, so resizing the window does not decode on every pixel
BEST_COLOUR = QColor("#f0a020")  # amber: stands out on light and dark backgrounds and from the focus colour
BEST_BORDER = 5
FOCUS_BORDER = 3
HINT = ("B / Enter: best frame · X: reject the others · N / Space: next set · Shift+N: previous · "
        "←/→ or 1–4: focus")


def caption(q: Quality | None) -> str:
    """``sharpness 412 · clipped 1.2 % · 24.0 MP`` (what decided the best frame)."""
    if q is None:
        return ""
    if not q.readable:
        return "unreadable"
    return f"sharpness {q.sharpness:.0f} · clipped {100 * (q.highlights + q.shadows):.1f} % · {q.megapixels:.1f} MP"


def _decode_side(pixels: int) -> int:
    return max(SIDE_STEP, math.ceil(pixels / SIDE_STEP) * SIDE_STEP)


class _Relay(QObject):
    done = Signal(int, int, int, QImage)  # generation, row, side, image (null: unreadable)


class _Load(QRunnable):
    def __init__(self, relay: _Relay, generation: int, row: int, path: str, side: int) -> None:
        super().__init__()
        self.relay, self.generation, self.row, self.path, self.side = relay, generation, row, path, side

    def run(self) -> None:
        try:
            picture = load_image(Path(self.path), min_side=self.side).image
            picture.thumbnail((self.side, self.side))
            rgb = picture.convert("RGB")
            image = QImage(rgb.tobytes(), rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()
        except UnreadableFile:
            image = QImage()
        self.relay.done.emit(self.generation, self.row, self.side, image)


class _Frame(QWidget):
    """One frame: its picture (or a placeholder), borders for best / focus, a pick or reject badge, a caption."""

    clicked = Signal(int)  # row

    def __init__(self, view: CompareView, small: bool) -> None:
        super().__init__(view)
        self.view, self.small = view, small
        self.row = -1
        self.number = 0  # 1-4 for the frames up (the key that focuses them), 0 in the strip
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        if small:
            self.setFixedSize(STRIP_SIDE + 16, STRIP_SIDE + 16 + self.fontMetrics().height() + 4)
        else:
            self.setMinimumSize(140, 140)
            self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_row(self, row: int, number: int = 0) -> None:
        self.row, self.number = row, number
        self.setToolTip(plain_tip(self.view.path_of(row)))
        if self.isVisible():  # a hidden frame has no size yet: its first resize asks for the picture
            self.request()
        self.update()

    def caption_lines(self) -> int:
        return 1 if self.small else 2

    def caption_height(self) -> int:
        return self.caption_lines() * self.fontMetrics().height() + 6

    def picture_rect(self) -> QRect:
        """The most room the picture may take: inside the borders, leaving room for the caption."""
        pad = BEST_BORDER + FOCUS_BORDER + 2
        return self.rect().adjusted(pad, pad, -pad, -pad - self.caption_height())

    def picture_target(self, pm: QPixmap | None) -> QRect:
        """Where the picture is drawn: fitted to ``picture_rect``, and with its caption centred as one block (so
        the caption sits right under the picture)."""
        area = self.picture_rect()
        aspect = QSize(3, 2) if pm is None else pm.deviceIndependentSize().toSize()
        size = aspect.scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(area.center())  # the caption's room is below ``area``: picture and caption centre as one
        return target

    def request(self) -> None:
        if self.row < 0:
            return
        r = self.picture_rect()
        pixels = max(r.width(), r.height()) * self.devicePixelRatioF()
        self.view.want(self.row, STRIP_SIDE * 2 if self.small else _decode_side(int(pixels)))

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.request()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self.row >= 0:
            self.clicked.emit(self.row)

    def paintEvent(self, event) -> None:  # noqa: N802
        if self.row < 0:
            return
        view, pal = self.view, self.palette()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        best = view.is_best(self.row)
        focused = view.focus_row == self.row and not self.small
        pm = view.pixmap(self.row)
        flag = view.flag_of(self.row)
        target = self.picture_target(pm)
        if pm is not None:
            if flag == "reject":
                p.setOpacity(0.4)  # a rejected frame recedes, as in Lightroom's survey view
            p.drawPixmap(target, pm)
            p.setOpacity(1.0)
        else:
            p.fillRect(target, pal.color(QPalette.ColorRole.AlternateBase))
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(target, Qt.AlignmentFlag.AlignCenter, "Cannot read" if view.failed(self.row) else "Loading…")
        # Borders hug the picture, so the best frame is marked however its aspect ratio leaves the space.
        if best:
            w = BEST_BORDER if not self.small else 3
            p.setPen(QPen(BEST_COLOUR, w, Qt.PenStyle.SolidLine, Qt.PenCapStyle.SquareCap,
                          Qt.PenJoinStyle.MiterJoin))
            p.setBrush(Qt.BrushStyle.NoBrush)
            half = (w + 1) // 2
            p.drawRect(target.adjusted(-half - FOCUS_BORDER, -half - FOCUS_BORDER, half + FOCUS_BORDER - 1,
                                       half + FOCUS_BORDER - 1))
        if focused:
            p.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), FOCUS_BORDER, Qt.PenStyle.SolidLine,
                          Qt.PenCapStyle.SquareCap, Qt.PenJoinStyle.MiterJoin))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(target.adjusted(-2, -2, 1, 1))
        self._badges(p, target, best, flag)
        self._caption(p, best, target.bottom() + BEST_BORDER + FOCUS_BORDER + 3)
        p.end()

    def _badges(self, p: QPainter, target: QRect, best: bool, flag: str | None) -> None:
        font = QFont(self.font())
        font.setBold(True)
        p.setFont(font)
        fm = p.fontMetrics()
        x = target.left() + 4
        chips = []
        if self.number:
            chips.append((str(self.number), QColor(0, 0, 0, 170)))
        if best:
            chips.append(("★", BEST_COLOUR))
        if flag == "pick":
            chips.append(("✓ Pick", PICK_COLOUR))
        elif flag == "reject":
            chips.append(("✕ Reject", REJECT_COLOUR))
        for text, colour in chips:
            w = fm.horizontalAdvance(text) + 10
            chip = QRect(x, target.top() + 4, w, fm.height() + 4)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            p.drawRoundedRect(chip, 4, 4)
            p.setPen(QColor("black") if colour == BEST_COLOUR else QColor("white"))
            p.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)
            x += w + 4

    def _caption(self, p: QPainter, best: bool, top: int) -> None:
        pal = self.palette()
        fm = self.fontMetrics()
        width = self.width() - 8
        name = ("★ " if best else "") + printable(Path(self.view.path_of(self.row)).name)
        font = QFont(self.font())
        font.setBold(best)
        p.setFont(font)
        p.setPen(pal.color(QPalette.ColorRole.WindowText))
        p.drawText(QRect(4, top, width, fm.height()), Qt.AlignmentFlag.AlignHCenter,
                   p.fontMetrics().elidedText(name, Qt.TextElideMode.ElideMiddle, width))
        if not self.small:
            p.setFont(self.font())
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(QRect(4, top + fm.height(), width, fm.height()), Qt.AlignmentFlag.AlignHCenter,
                       fm.elidedText(caption(self.view.quality_of(self.row)), Qt.TextElideMode.ElideRight, width))


class CompareView(QWidget):
    """Compare one set at a time. ``show_sets(sets, paths, state)``, then ``show_set(index)``.

    Signals: ``bestChosen(set_index, row)`` — the user made ``row`` the set's best frame (the view has already
    set ``SimilarSet.best`` / ``chosen_by = "user"``; the window remembers the pick); ``setChanged(index)``.
    """

    bestChosen = Signal(int, int)
    setChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None, max_up: int = MAX_UP) -> None:
        super().__init__(parent)
        self.max_up = max(2, min(MAX_UP, max_up))
        self.sets: list[SimilarSet] = []
        self.paths: list[str] = []
        self.state: LibraryState | None = None
        self.set_index = -1
        self.up_rows: list[int] = []
        self.focus_row = -1
        # The pool before the relay: children are deleted in creation order, and the pool's destructor waits for
        # running decodes, which must still find their relay alive.
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._relay = _Relay(self)
        self._relay.done.connect(self._loaded)
        self._generation = 0
        self._pixmaps: dict[int, tuple[int, QPixmap]] = {}  # row -> (decoded side, pixmap)
        self._pending: dict[int, int] = {}  # row -> side being decoded
        self._failed: set[int] = set()

        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(self.title)
        layout.addWidget(self.hint)
        self._up_box = QWidget()
        self._up_layout = QGridLayout(self._up_box)
        self._up_layout.setContentsMargins(0, 0, 0, 0)
        self._up_layout.setSpacing(6)
        self._columns = 0
        self._up_box.installEventFilter(self)
        self.up_frames = [_Frame(self, small=False) for _ in range(self.max_up)]
        for f in self.up_frames:
            f.clicked.connect(self._focus_clicked)
        layout.addWidget(self._up_box, 1)
        self._strip = QWidget()
        self._strip_layout = QHBoxLayout(self._strip)
        self._strip_layout.setContentsMargins(0, 0, 0, 0)
        self._strip_layout.setSpacing(4)
        self._strip_layout.addStretch(1)
        self.strip_frames: list[_Frame] = []
        self.strip_area = QScrollArea()
        self.strip_area.setWidget(self._strip)
        self.strip_area.setWidgetResizable(True)
        self.strip_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.strip_area.setFixedHeight(STRIP_SIDE + 28 + self.fontMetrics().height())
        self.strip_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout.addWidget(self.strip_area)
        self._show_nothing()

    # -- what is shown -----------------------------------------------------------------------------------------
    def show_sets(self, sets: Sequence[SimilarSet], paths: Sequence[str], state: LibraryState | None = None,
                  index: int = 0) -> None:
        """Compare ``sets`` (rows index ``paths``); marks are read from and written to ``state``."""
        if self.state is not None:
            self.state.marksChanged.disconnect(self._marks_changed)
        self.sets, self.paths, self.state = list(sets), list(paths), state
        if state is not None:
            state.marksChanged.connect(self._marks_changed)
        self._generation += 1  # rows may mean other pictures now: forget what was decoded
        self._pool.clear()
        self._pixmaps.clear()
        self._pending.clear()
        self._failed.clear()
        self.set_index = -1
        if self.sets:
            self.show_set(index)
        else:
            self._show_nothing()

    def show_set(self, index: int) -> None:
        """Show set ``index`` (clamped to the sets there are): its best frame and the next ones up."""
        if not self.sets:
            return
        index = max(0, min(len(self.sets) - 1, index))
        s = self.sets[index]
        changed = index != self.set_index
        self.set_index = index
        self._pool.clear()  # decodes queued for the set before are no longer wanted
        self._pending.clear()
        keep = set(s.members)
        self._pixmaps = {r: v for r, v in self._pixmaps.items() if r in keep}
        n_up = min(len(s.members), self.max_up)
        self.up_rows = [s.best, *[m for m in s.members if m != s.best]][:n_up]
        self._layout_frames()
        self._focus(self.up_rows[0])
        if changed:
            self.setChanged.emit(index)

    def refresh(self) -> None:
        """Redraw after the sets were changed elsewhere (another best frame chosen on the map)."""
        self._update_title()
        for f in self._frames():
            f.update()

    @property
    def current_set(self) -> SimilarSet | None:
        return self.sets[self.set_index] if 0 <= self.set_index < len(self.sets) else None

    def strip_rows(self) -> list[int]:
        s = self.current_set
        return [m for m in s.members if m not in self.up_rows] if s else []

    # -- actions -------------------------------------------------------------------------------------------------
    def next_set(self, step: int = 1) -> None:
        """Go ``step`` sets on (negative: back); stays on the first or last set."""
        if self.sets:
            self.show_set(self.set_index + step)

    def make_best(self, row: int | None = None) -> None:
        """The focused frame (or ``row``) becomes the set's best; emits ``bestChosen``."""
        s = self.current_set
        row = self.focus_row if row is None else row
        if s is None or row not in s.members:
            return
        s.best, s.chosen_by = row, "user"
        self.refresh()
        self.bestChosen.emit(self.set_index, row)

    def reject_others(self) -> None:
        """Reject every frame of the set but the best, and pick the best: one undoable command."""
        s = self.current_set
        if s is None or self.state is None:
            return
        self.state.cull(s.best, s.others)

    def bring_up(self, row: int) -> None:
        """Show a strip frame up, in place of the focused frame (or of the last one when the best has focus)."""
        if row in self.up_rows or self.current_set is None or row not in self.current_set.members:
            return
        at = self.up_rows.index(self.focus_row) if self.focus_row in self.up_rows else len(self.up_rows) - 1
        if self.up_rows[at] == self.current_set.best and len(self.up_rows) > 1:
            at = len(self.up_rows) - 1
        self.up_rows[at] = row
        self._layout_frames()
        self._focus(row)

    # -- keys ----------------------------------------------------------------------------------------------------
    def _command(self, event: QKeyEvent) -> str | None:
        key, mods = event.key(), event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        shift = mods == Qt.KeyboardModifier.ShiftModifier
        if mods not in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
            return None
        if key == Qt.Key.Key_N:
            return "previous" if shift else "next"
        if shift:
            return None
        return {Qt.Key.Key_B: "best", Qt.Key.Key_Return: "best", Qt.Key.Key_Enter: "best", Qt.Key.Key_X: "reject",
                Qt.Key.Key_Space: "next", Qt.Key.Key_Down: "next", Qt.Key.Key_Up: "previous",
                Qt.Key.Key_Left: "left", Qt.Key.Key_Right: "right", Qt.Key.Key_1: "1", Qt.Key.Key_2: "2",
                Qt.Key.Key_3: "3", Qt.Key.Key_4: "4"}.get(key)

    def shutdown(self) -> None:
        """Drop queued decodes and wait for the running ones (the window calls this when it closes)."""
        self._pool.clear()
        self._pool.waitForDone(-1)

    def event(self, event: QEvent) -> bool:
        # X, B, N and the digits are also the window's shortcuts (reject, rate…): while Compare has focus they mean
        # what they mean here, so claim them before the shortcut system does.
        if event.type() == QEvent.Type.ShortcutOverride and self._command(event) is not None:  # type: ignore[arg-type]
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        command = self._command(event)
        if command is None or self.current_set is None:
            super().keyPressEvent(event)
            return
        if command == "best":
            self.make_best()
        elif command == "reject":
            self.reject_others()
        elif command in ("next", "previous"):
            self.next_set(1 if command == "next" else -1)
        elif command in ("left", "right"):
            at = self.up_rows.index(self.focus_row) if self.focus_row in self.up_rows else 0
            self._focus(self.up_rows[max(0, min(len(self.up_rows) - 1, at + (1 if command == "right" else -1)))])
        elif int(command) <= len(self.up_rows):
            self._focus(self.up_rows[int(command) - 1])
        event.accept()

    # -- used by the frames --------------------------------------------------------------------------------------
    def path_of(self, row: int) -> str:
        return self.paths[row] if 0 <= row < len(self.paths) else ""

    def is_best(self, row: int) -> bool:
        s = self.current_set
        return s is not None and s.best == row

    def quality_of(self, row: int) -> Quality | None:
        s = self.current_set
        if s is None or row not in s.members or len(s.qualities) != len(s.members):
            return None
        return s.qualities[s.members.index(row)]

    def flag_of(self, row: int) -> str | None:
        if self.state is None or not (0 <= row < len(self.state.paths)):
            return None
        return self.state.marks.get(self.state.paths[row]).flag

    def pixmap(self, row: int) -> QPixmap | None:
        got = self._pixmaps.get(row)
        return got[1] if got else None

    def failed(self, row: int) -> bool:
        return row in self._failed

    def want(self, row: int, side: int) -> None:
        """Decode ``row`` at ``side`` px unless a picture at least that large is there or on its way."""
        have = self._pixmaps.get(row, (0, None))[0]
        if have >= side or self._pending.get(row, 0) >= side or row in self._failed or not self.path_of(row):
            return
        self._pending[row] = side
        self._pool.start(_Load(self._relay, self._generation, row, self.path_of(row), side))

    # -- internals -----------------------------------------------------------------------------------------------
    def _frames(self) -> list[_Frame]:
        return [*self.up_frames, *self.strip_frames]

    def _show_nothing(self) -> None:
        self.up_rows, self.focus_row = [], -1
        self.title.setText("No duplicate or burst sets to compare — Cull > Find Duplicates & Bursts looks for them.")
        for f in self.up_frames:
            f.row = -1
            f.hide()
        self._set_strip([])

    def _arrange(self) -> None:
        """Frames up in the rows x columns that draw them largest (Lightroom's survey does the same): four
        landscape frames in a wide window side by side, in a squarer one 2 x 2."""
        n = len(self.up_rows)
        if n == 0:
            return
        pms = [self.pixmap(r) for r in self.up_rows]
        sizes = [pm.deviceIndependentSize() for pm in pms if pm is not None]
        aspect = sum(s.width() / max(1.0, s.height()) for s in sizes) / len(sizes) if sizes else 1.5
        box = self._up_box.size()
        caption = self.up_frames[0].caption_height() + 2 * (BEST_BORDER + FOCUS_BORDER + 2)

        def picture_width(columns: int) -> float:
            rows = math.ceil(n / columns)
            w = (box.width() - 6 * (columns - 1)) / columns
            h = (box.height() - 6 * (rows - 1)) / rows - caption
            return min(w, h * aspect)

        # Full rows only (4 as 1 x 4, 2 x 2 or 4 x 1; 3 as 1 x 3 or 3 x 1): a lone frame on a row looks like an extra.
        columns = max((c for c in range(1, n + 1) if n % c == 0), key=lambda c: (picture_width(c), c))
        if columns == self._columns and all(self._up_layout.indexOf(f) >= 0 for f in self.up_frames[:n]):
            return
        self._columns = columns
        for f in self.up_frames:
            self._up_layout.removeWidget(f)
        for k, f in enumerate(self.up_frames[:n]):
            self._up_layout.addWidget(f, k // columns, k % columns)
        for c in range(self.max_up):
            self._up_layout.setColumnStretch(c, 1 if c < columns else 0)
        for r in range(self.max_up):
            self._up_layout.setRowStretch(r, 1 if r < math.ceil(n / columns) else 0)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self._up_box and event.type() == QEvent.Type.Resize:
            self._arrange()  # the frames' box, not the view: its size is known only after the view's layout ran
        return super().eventFilter(watched, event)

    def _layout_frames(self) -> None:
        self._columns = 0
        self._arrange()
        for k, f in enumerate(self.up_frames):
            if k < len(self.up_rows):
                f.show()
                f.set_row(self.up_rows[k], k + 1)
            else:
                f.row = -1
                f.hide()
        self._set_strip(self.strip_rows())
        self._update_title()

    def _set_strip(self, rows: list[int]) -> None:
        while len(self.strip_frames) < len(rows):
            f = _Frame(self, small=True)
            f.clicked.connect(self.bring_up)
            self._strip_layout.insertWidget(len(self.strip_frames), f)
            self.strip_frames.append(f)
        for k, f in enumerate(self.strip_frames):
            if k < len(rows):
                f.set_row(rows[k])
                f.show()
            else:
                f.row = -1
                f.hide()
        self.strip_area.setVisible(bool(rows))

    def _update_title(self) -> None:
        s = self.current_set
        if s is None:
            return
        what = "Burst" if s.kind == "burst" else "Near-duplicates"
        pick = "your pick" if s.chosen_by == "user" else "sharpest, least clipped, most pixels"
        last = " (last)" if self.set_index == len(self.sets) - 1 else ""
        self.title.setText(f"{what} · set {self.set_index + 1} of {len(self.sets)}{last} · {len(s.members)} frames · "
                           f"★ best: {printable(Path(self.path_of(s.best)).name)} ({pick})")

    def _focus(self, row: int) -> None:
        self.focus_row = row
        if self.state is not None and 0 <= row < len(self.state.paths):
            self.state.set_current(row)
        for f in self.up_frames:
            f.update()

    def _focus_clicked(self, row: int) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._focus(row)

    def _loaded(self, generation: int, row: int, side: int, image: QImage) -> None:
        if generation != self._generation:
            return
        if self._pending.get(row) == side:
            del self._pending[row]
        if image.isNull():
            self._failed.add(row)
        elif side > self._pixmaps.get(row, (0, None))[0]:
            first = row not in self._pixmaps
            self._pixmaps[row] = (side, QPixmap.fromImage(image))
            if first and row in self.up_rows:
                self._arrange()  # the frames' aspect ratio is known now
        for f in self._frames():
            if f.row == row:
                f.update()

    def _marks_changed(self, rows: object) -> None:
        shown = {f.row for f in self._frames()}
        if shown & set(rows):  # type: ignore[call-overload]
            for f in self._frames():
                f.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(900, 640)
