"""The loupe: one picture large, ←/→ through the grid's order with the neighbours decoded ahead, marks by key,
and an information panel (file, camera, lens, exposure, capture time, GPS, group, outlier and quality scores).

Pictures are decoded off the GUI thread (core.images.load_image: EXIF-upright, JPEG draft scaling) at the size
the view shows them — the view's long side in device pixels — and kept in a small cache with the two pictures
either side of the current one, so stepping to the next picture only blits. 100 % zoom decodes the full
resolution of the current picture only.
"""

from __future__ import annotations

import html
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import UnreadableFile
from desktop_app.core.filenames import printable
from desktop_app.core.ingest.images import load_image
from desktop_app.core.ingest.texts import read_text
from desktop_app.core.library.state import LibraryState
from desktop_app.core.library.state import disconnect_all as _disconnect
from desktop_app.core.metadata.photo_info import FIELDS, photo_info

FIT, FULL = "fit", "full"
PREFETCH = (1, -1, 2, -2)  # neighbours decoded ahead, nearest (and forward) first
CACHE_SIZE = 7  # decoded pictures kept: the current one, its four neighbours and two spare
FULL_SIDE = 1 << 20  # min_side asking load_image for no draft reduction
INFO_WIDTH = 250


class _Relay(QObject):
    done = Signal(int, int, str, QImage, str)  # generation, row, mode, picture (null on failure), error


class _Decode(QRunnable):
    """Decode one picture to a QImage no larger than ``box`` (device px; FULL: no limit)."""

    def __init__(self, loupe: LoupeView, generation: int, row: int, mode: str, path: str, box: QSize) -> None:
        super().__init__()
        self.loupe, self.relay = loupe, loupe._relay
        self.generation, self.row, self.mode, self.path, self.box = generation, row, mode, path, box

    def run(self) -> None:
        if (self.row, self.mode) not in self.loupe._wanted:  # stepped past before its turn came
            self.relay.done.emit(self.generation, self.row, self.mode, QImage(), "")
            return
        try:
            if self.mode == FULL:
                picture = load_image(Path(self.path), min_side=FULL_SIDE).image
            else:
                w, h = self.box.width(), self.box.height()
                picture = load_image(Path(self.path), min_side=_fit_min_side(self.path, w, h)).image
                if picture.width > w or picture.height > h:
                    # Scaled here, once, to what the view shows: painting is then a blit.
                    picture.thumbnail((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)
            self.relay.done.emit(self.generation, self.row, self.mode, _qimage(picture), "")
        except UnreadableFile as exc:
            self.relay.done.emit(self.generation, self.row, self.mode, QImage(), exc.user_message)


def _fit_min_side(path: str, w: int, h: int) -> int:
    """The shorter side a picture needs to fill a ``w`` x ``h`` box once fitted: the least that load_image's
    JPEG draft may reduce it to (a 24 MP 3:2 frame in a 1600 x 1000 view decodes at 1/4 scale, not at 1/2 as a
    "view's long side" rule would)."""
    try:
        with Image.open(path) as im:
            pw, ph = im.size
            if im.getexif().get(274) in (5, 6, 7, 8):  # EXIF quarter turn: upright, it is the other way round
                pw, ph = ph, pw
    except Exception:  # noqa: BLE001 - RAW and other files Pillow only decodes via load_image: be generous
        return max(w, h)
    scale = min(w / pw, h / ph, 1.0) if pw and ph else 1.0
    return max(1, math.ceil(min(pw, ph) * scale))


def _qimage(picture: Image.Image) -> QImage:
    """A QImage that owns its pixels (safe to hand from a worker thread to the GUI thread)."""
    picture = picture.convert("RGB")
    data = picture.tobytes()
    return QImage(data, picture.width, picture.height, 3 * picture.width, QImage.Format.Format_RGB888).copy()


class _Canvas(QWidget):
    """Draws the current picture: fitted into the view, or at 100 % inside the scroll area (drag to pan)."""

    clicked = Signal(QPointF)  # a click that was not a drag, in fractions of the picture

    def __init__(self, loupe: LoupeView) -> None:
        super().__init__(loupe)
        self.loupe = loupe
        self.image = QImage()
        self.full = False
        self.message = ""
        self.overlay = ""
        self.painted_row = -1  # for measurements: the row whose picture was last drawn
        self._press: QPoint | None = None
        self._dragged = False
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMouseTracking(False)

    def picture_rect(self) -> QRectF:
        """Where the picture is drawn, in widget px."""
        if self.image.isNull():
            return QRectF()
        ratio = self.devicePixelRatioF()
        if self.full:
            size = self.loupe.full_size(self.image)
            w, h = size.width() / ratio, size.height() / ratio
        else:
            iw, ih = self.image.width() / ratio, self.image.height() / ratio
            # Fitted into the view as it is now (it may have shrunk since the picture was decoded); a picture
            # smaller than the view is shown at its own size, not blown up.
            scale = min(self.width() / iw, self.height() / ih, 1.0) if iw and ih else 1.0
            w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.loupe.background)
        if not self.image.isNull():
            target = self.picture_rect()
            if abs(target.width() * self.devicePixelRatioF() - self.image.width()) > 1:
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(target, self.image)
            self.painted_row = self.loupe.current
        if self.message:
            painter.setPen(QColor(220, 220, 220))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
        painter.end()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.globalPosition().toPoint()
            self._dragged = False

    def mouseMoveEvent(self, event) -> None:
        if self._press is None:
            return
        now = event.globalPosition().toPoint()
        delta = now - self._press
        if self._dragged or delta.manhattanLength() > 4:
            self._dragged = True
            if self.full:
                bars = self.loupe.scroll
                bars.horizontalScrollBar().setValue(bars.horizontalScrollBar().value() - delta.x())
                bars.verticalScrollBar().setValue(bars.verticalScrollBar().value() - delta.y())
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
            self._press = now

    def mouseReleaseEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            return
        self._press = None
        self.unsetCursor()
        if not self._dragged:
            rect = self.picture_rect()
            if rect.width() and rect.height():
                p = event.position()
                self.clicked.emit(QPointF((p.x() - rect.left()) / rect.width(), (p.y() - rect.top()) / rect.height()))


class LoupeView(QWidget):
    """One picture large. Public API:

    * ``set_state(state, paths, kinds, group_of=None, outlier_scores=None, qualities=None)``; ``show_row(row)``;
      ``step(delta)``; ``toggle_zoom()``; ``toggle_full_screen()``; ``toggle_info()``;
    * ``current`` (the row shown), ``is_full_screen``, ``cached()`` (rows decoded ahead, for tests/benchmarks);
    * ``prefetch``: decode neighbours ahead (on by default);
    * signal ``closed()`` (Esc outside full screen: the main window goes back to the grid).
    """

    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state: LibraryState | None = None
        self.paths: Sequence[str] = []
        self.kinds: Sequence[str] = []
        self.group_of: Callable[[int], str] | None = None
        self.outlier_scores: np.ndarray | None = None
        self.qualities: Sequence | None = None
        self.current = -1
        self.prefetch = True
        self.background = QColor(32, 32, 32)
        self._connections: list[tuple[object, Callable]] = []
        self._generation = 0
        self._cache: OrderedDict[tuple[int, str], QImage] = OrderedDict()
        self._errors: dict[int, str] = {}
        self._pending: set[tuple[int, str]] = set()
        self._wanted: set[tuple[int, str]] = set()  # read by decode threads: replaced, never mutated in place
        self._full_size: dict[int, QSize] = {}
        self._facts: dict[int, dict[str, str]] = {}  # photo_info per row, read once
        self._was_maximized = False
        self._full_screen = False
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._relay = _Relay(self)
        self._relay.done.connect(self._decoded)

        self.canvas = _Canvas(self)
        self.canvas.clicked.connect(self._canvas_clicked)
        self.scroll = QScrollArea(self)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll.setWidget(self.canvas)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        pal = self.scroll.palette()
        pal.setColor(QPalette.ColorRole.Window, self.background)
        self.scroll.setPalette(pal)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.scroll)
        self.stack.addWidget(self.text)
        self.status = QLabel(self)  # under the picture: position in the order, marks
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # a file name is text, never markup
        self.status.setContentsMargins(8, 3, 8, 3)
        self.info = QLabel(self)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setContentsMargins(8, 8, 8, 8)
        self.info_panel = QScrollArea(self)
        self.info_panel.setWidget(self.info)
        self.info_panel.setWidgetResizable(True)
        self.info_panel.setFixedWidth(INFO_WIDTH)
        self.info_panel.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.info_panel.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.setSpacing(0)
        left.addWidget(self.stack, 1)
        left.addWidget(self.status)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(left, 1)
        layout.addWidget(self.info_panel)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.destroyed.connect(lambda *_a, c=self._connections: _disconnect(c))

    # -- the document --------------------------------------------------------------------------------
    def set_state(self, state: LibraryState, paths: Sequence[str], kinds: Sequence[str],
                  group_of: Callable[[int], str] | None = None, outlier_scores: np.ndarray | None = None,
                  qualities: Sequence | None = None) -> None:
        """Observe ``state``. ``group_of(row)`` names a row's group; ``outlier_scores`` (per row, higher = more
        unusual) and ``qualities`` (per row: ``core.quality.Quality``, a number or None) go to the info panel."""
        _disconnect(self._connections)
        self.state = state
        self.paths, self.kinds = list(paths), list(kinds)
        self.group_of, self.outlier_scores, self.qualities = group_of, outlier_scores, qualities
        self._generation += 1
        self._cache.clear()
        self._errors.clear()
        self._pending.clear()
        self._wanted = set()
        self._full_size.clear()
        self._facts.clear()
        self.current = -1
        for signal, slot in ((state.currentChanged, self._current_changed), (state.marksChanged, self._marks_changed),
                             (state.orderChanged, self._order_changed)):
            signal.connect(slot)
            self._connections.append((signal, slot))

    def show_row(self, row: int) -> None:
        """Show document row ``row`` (and make it the state's current row)."""
        if self.state is not None:
            self.state.set_current(row)  # -> _current_changed, unless it already was current
        if row != self.current:
            self._display(row)

    def step(self, delta: int) -> None:
        """Go ``delta`` pictures through the state's order (the grid's, after filter and sort)."""
        if self.state is None:
            return
        if self.state.current != self.current:
            self.state.set_current(self.current)
        self.state.step(delta)

    def cached(self, mode: str = FIT) -> list[int]:
        return [row for row, m in self._cache if m == mode]

    def full_size(self, image: QImage) -> QSize:
        full = self._full_size.get(self.current)
        return full if full is not None else image.size()

    def fit_box(self) -> QSize:
        """The size (device px) pictures are decoded at for fitting: the view's, at least a small screen's."""
        ratio = self.devicePixelRatioF()
        size = self.scroll.viewport().size() if self.stack.currentWidget() is self.scroll else self.stack.size()
        return QSize(max(640, int(size.width() * ratio)), max(480, int(size.height() * ratio)))

    # -- display -----------------------------------------------------------------------------------
    def _display(self, row: int) -> None:
        self.current = row
        if row < 0 or row >= len(self.paths):
            self.canvas.image = QImage()
            self.canvas.message = ""
            self.canvas.update()
            self._update_info()
            return
        if self.kind_of(row) == "text":
            try:
                self.text.setPlainText(read_text(Path(self.paths[row])).text)
            except UnreadableFile as exc:
                self.text.setPlainText(exc.user_message)
            self.stack.setCurrentWidget(self.text)
        else:
            self.stack.setCurrentWidget(self.scroll)
            mode = FULL if self.canvas.full else FIT
            image = self._cache.get((row, mode))
            if image is None and mode == FULL:
                image = self._cache.get((row, FIT))  # upscaled until the full resolution arrives
            if image is not None:
                self.canvas.message = ""
            else:
                self.canvas.message = self._errors.get(row, "")
            self.canvas.image = image if image is not None else QImage()
            self._layout_canvas()
            self.canvas.update()
        self._update_info()
        self._schedule()

    def _layout_canvas(self) -> None:
        if self.canvas.full and not self.canvas.image.isNull():
            size = self.full_size(self.canvas.image)
            ratio = self.devicePixelRatioF()
            self.scroll.setWidgetResizable(False)
            self.canvas.resize(max(1, int(size.width() / ratio)), max(1, int(size.height() / ratio)))
        else:
            self.scroll.setWidgetResizable(True)

    def _schedule(self) -> None:
        """Ask for the current picture, then its neighbours in the order; forget what is no longer near."""
        if self.current < 0:
            return
        wanted: list[tuple[int, str]] = [(self.current, FULL if self.canvas.full else FIT)]
        if self.canvas.full:
            wanted.append((self.current, FIT))
        order = self.state.order if self.state is not None else []
        if self.prefetch and self.current in order:
            at = order.index(self.current)
            wanted += [(order[at + d], FIT) for d in PREFETCH if 0 <= at + d < len(order)]
        wanted = [w for w in wanted if self.kind_of(w[0]) != "text"]
        self._wanted = set(wanted)  # a new set: decode threads read the old one without a lock
        box = self.fit_box()
        for priority, key in enumerate(wanted):
            if key in self._cache or key in self._pending or key[0] in self._errors:
                continue
            self._pending.add(key)
            self.pool.start(_Decode(self, self._generation, key[0], key[1], self.paths[key[0]], box),
                            priority=len(wanted) - priority)

    def _decoded(self, generation: int, row: int, mode: str, image: QImage, error: str) -> None:
        if generation != self._generation:
            return
        self._pending.discard((row, mode))
        if error:
            self._errors[row] = error
        elif not image.isNull():
            if mode == FULL:
                self._full_size[row] = image.size()
            self._cache[(row, mode)] = image
            self._trim()
        if row == self.current:
            self._display(row)
        elif (row, mode) not in self._cache and (row, mode) in self._wanted:
            self._schedule()  # skipped because it was not wanted then, but is now

    def _trim(self) -> None:
        keep = self._wanted
        for key in list(self._cache):
            if len(self._cache) <= CACHE_SIZE:
                break
            if key not in keep:
                del self._cache[key]
        for key in [k for k in self._cache if k[1] == FULL and k[0] != self.current]:
            del self._cache[key]  # a full-resolution picture is 100 MB: only the current one stays

    # -- info ----------------------------------------------------------------------------------------
    def kind_of(self, row: int) -> str:
        return self.kinds[row] if 0 <= row < len(self.kinds) else "image"

    def _update_info(self) -> None:
        row = self.current
        if row < 0 or row >= len(self.paths):
            self.info.setText("")
            self.status.setText("")
            return
        facts = self._facts.get(row)
        if facts is None:  # read once per picture: marking the shown picture repaints the panel, not the disk
            facts = self._facts[row] = photo_info(self.paths[row])
        # Shutter, aperture, ISO and a plain focal length are in the Exposure line already.
        said = ("Shutter", "Aperture", "ISO") + (("Focal length",) if "(" not in facts.get("Focal length", "(") else ())
        lines = [(k, facts[k]) for k in FIELDS if k in facts and k not in said]
        if self.group_of is not None:
            lines.append(("Group", self.group_of(row)))
        if self.outlier_scores is not None and row < len(self.outlier_scores):
            lines.append(("Outlier score", f"{float(self.outlier_scores[row]):.2f}"))
        quality = self.qualities[row] if self.qualities is not None and row < len(self.qualities) else None
        if quality is not None:
            lines += _quality_lines(quality)
        mark = self.state.marks.get(self.paths[row]) if self.state is not None else None
        marks = _marks_text(mark)
        lines.append(("Marks", marks or "none"))
        if "error" in facts:
            lines.append(("Problem", facts["error"]))
        rows = "".join(f"<tr><td style='color:gray; padding-right:6px'>{_esc(k)}</td><td>{_esc(v)}</td></tr>"
                       for k, v in lines)
        self.info.setText(f"<b>{_esc(facts['File'])}</b><table cellspacing=0 cellpadding=2>{rows}</table>")
        order = self.state.order if self.state is not None else []
        where = f"{order.index(row) + 1:,} / {len(order):,}   " if row in order else ""
        self.status.setText(f"{where}{printable(facts['File'])}   {marks}")

    def _marks_changed(self, rows: list[int]) -> None:
        if self.current in rows:
            self._update_info()

    def _current_changed(self, row: int) -> None:
        if row != self.current:
            self._display(row)

    def _order_changed(self, _order: list[int]) -> None:
        if self.current >= 0:
            self._schedule()

    # -- zoom, full screen, info panel -----------------------------------------------------------------
    def toggle_zoom(self, at: QPointF | None = None) -> None:
        """Fit <-> 100 %; ``at`` (fractions of the picture) stays under the pointer / centred."""
        self.canvas.full = not self.canvas.full
        at = at or QPointF(0.5, 0.5)
        self._display(self.current)
        if self.canvas.full:
            self._centre_on(at)

    def _centre_on(self, at: QPointF) -> None:
        h, v = self.scroll.horizontalScrollBar(), self.scroll.verticalScrollBar()
        size = self.canvas.size()
        h.setValue(int(at.x() * size.width() - self.scroll.viewport().width() / 2))
        v.setValue(int(at.y() * size.height() - self.scroll.viewport().height() / 2))

    def _canvas_clicked(self, at: QPointF) -> None:
        self.toggle_zoom(at)

    @property
    def is_full_screen(self) -> bool:
        return self._full_screen

    def toggle_full_screen(self) -> None:
        """Full screen of the window the loupe is in (the main window keeps its docks hidden or not: its call)."""
        top = self.window()
        if self._full_screen:
            top.showMaximized() if self._was_maximized else top.showNormal()
            self._full_screen = False
        else:
            self._was_maximized = top.isMaximized()
            top.showFullScreen()
            self._full_screen = True

    def toggle_info(self) -> None:
        self.info_panel.setVisible(not self.info_panel.isVisible())

    # -- keys ------------------------------------------------------------------------------------------
    def event(self, event) -> bool:
        # Esc is also the window's Cancel: in the loupe it leaves full screen / the loupe, never stops a job.
        if event.type() == QEvent.Type.ShortcutOverride and event.key() == Qt.Key.Key_Escape:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        key, text = event.key(), event.text()
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods not in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
            super().keyPressEvent(event)
            return
        row = self.current
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Space):
            self.step(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Backspace):
            self.step(-1)
        elif key == Qt.Key.Key_Escape:
            if self._full_screen:
                self.toggle_full_screen()
            else:
                self.closed.emit()
        elif key == Qt.Key.Key_F:
            self.toggle_full_screen()
        elif key == Qt.Key.Key_Z:
            self.toggle_zoom()
        elif key == Qt.Key.Key_I:
            self.toggle_info()
        elif self.state is not None and row >= 0 and text and self._mark_key(text, row):
            pass
        else:
            super().keyPressEvent(event)

    def _mark_key(self, text: str, row: int) -> bool:
        assert self.state is not None
        return self.state.press([row], text)  # the photographer's keys: one rule for every view (core)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.state is not None and self.state.current != self.current and self.state.current >= 0:
            self._display(self.state.current)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        box = self.fit_box()
        fit = self._cache.get((self.current, FIT))
        # Grown well past what the cached picture was decoded for: decode again (the old one stays meanwhile).
        if fit is not None and fit.width() < box.width() * 0.7 and fit.height() < box.height() * 0.7:
            self._cache = OrderedDict((k, v) for k, v in self._cache.items() if k[1] != FIT or k[0] != self.current)
            self._schedule()

    def shutdown(self) -> None:
        """Drop queued decodes and wait for running ones (the main window calls this when it closes)."""
        self._wanted = set()
        self.pool.clear()
        self.pool.waitForDone(-1)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)


def _quality_lines(quality) -> list[tuple[str, str]]:
    if isinstance(quality, int | float | np.floating):
        return [("Quality", f"{float(quality):.2f}")]
    if not getattr(quality, "readable", True):
        return [("Quality", "unreadable")]
    return [("Quality", f"{quality.score:.2f}"), ("Sharpness", f"{quality.sharpness:.0f}"),
            ("Clipped", f"{quality.highlights:.1%} highlights, {quality.shadows:.1%} shadows")]


def _marks_text(mark) -> str:
    if mark is None:
        return ""
    parts = []
    if mark.rating:
        parts.append("★" * mark.rating)
    if mark.flag:
        parts.append({"pick": "Pick", "reject": "Rejected"}[mark.flag])
    if mark.label:
        parts.append(mark.label)
    return " · ".join(parts)


def _esc(text: str) -> str:
    """A value for the rich-text panel: one printable line (a file name's control characters and stray bytes
    escaped), then HTML-escaped (a name like ``<font size=7>x.jpg`` is text, not markup)."""
    return html.escape(printable(str(text)), quote=False)



