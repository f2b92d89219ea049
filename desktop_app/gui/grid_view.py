"""The grid (lightbox): a group, a selection, search results or a duplicate set as a scrolling grid of thumbnails,
with the photographer's marks on each cell and keys to give them.

Virtualised the way Qt's model/view is meant to be: a ``QListView`` in icon mode with uniform item sizes asks the
model only about the cells it paints, so 100k rows cost a list of ints; the delegate blits a pre-scaled pixmap
and draws the badges. Thumbnails are requested only for the cells that were painted (collected during paint,
sent on a short timer, so a fast scroll does not queue the rows it flew past).

The grid observes a ``core.state.LibraryState``: selection both ways (without a feedback loop), marks repaint
their cells, the filter hides rows, and the grid's order (after filter and sort) is the order the loupe's ←/→
walk through.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QItemSelection,
    QItemSelectionModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeySequence, QPainter, QPalette, QPen, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QSlider,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.filenames import printable
from desktop_app.core.library.state import LibraryState
from desktop_app.core.library.state import disconnect_all as _disconnect
from desktop_app.gui.palette import LABEL_COLOURS, PICK_COLOUR, REJECT_COLOUR, STAR_COLOUR
from desktop_app.gui.thumbs import ThumbnailService
from desktop_app.gui.tooltips import plain_tip

ROWS_MIME = "application/x-photoatlas-rows"  # JSON list of the dragged rows (indices into the document's items)
ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the document row of a cell
MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 64, 320, 160  # thumbnail side, logical px
SIZE_STEP = 32
PAD = 6  # px around a thumbnail inside its cell
REQUEST_DELAY_MS = 40  # thumbnails are asked for this long after a paint, for what was painted
SCALED_CACHE = 1500  # pre-scaled pixmaps kept for the current size (a few screens' worth)


SORTS = {"order": "Given order", "name": "Name", "time": "Capture time", "similarity": "Similarity",
         "quality": "Quality"}


def rows_from_mime(mime: QMimeData) -> list[int]:
    """The rows a grid drag carries ([] for any other drag)."""
    if not mime.hasFormat(ROWS_MIME):
        return []
    try:
        return [int(r) for r in json.loads(bytes(mime.data(ROWS_MIME)).decode())]
    except (ValueError, TypeError):
        return []


def sort_rows(rows: Sequence[int], key: str, *, paths: Sequence[str] = (), metas: Sequence = (),
              vectors: np.ndarray | None = None, scores: np.ndarray | None = None) -> list[int]:
    """``rows`` in the order ``key`` asks for: ``name`` (file name, then path), ``time`` (capture time, unknown
    last), ``similarity`` (to the mean vector of ``rows``, most alike first), ``quality`` (best first, missing
    last) or ``order`` (as given). A key whose data is missing keeps the given order."""
    rows = list(rows)
    if key == "name" and paths:
        return sorted(rows, key=lambda r: (os.path.basename(paths[r]).lower(), paths[r]))
    if key == "time" and metas:
        def taken(r: int) -> tuple[bool, float]:
            t = metas[r].taken if r < len(metas) else None
            return (t is None, t or 0.0)
        return sorted(rows, key=taken)
    if key == "similarity" and vectors is not None and len(rows):
        idx = np.asarray(rows)
        v = np.asarray(vectors[idx], np.float32)
        centre = v.mean(axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        norms = np.linalg.norm(v, axis=1)
        sim = (v @ centre) / np.where(norms > 0, norms, 1.0)
        return idx[np.argsort(-sim, kind="stable")].tolist()
    if key == "quality" and scores is not None and len(rows):
        idx = np.asarray(rows)
        s = np.asarray(scores, np.float64)[idx]
        s = np.where(np.isfinite(s), s, -np.inf)
        return idx[np.argsort(-s, kind="stable")].tolist()
    return rows


class GridModel(QAbstractListModel):
    """The shown rows, in grid order. ``data`` is a list lookup: the view asks only about painted cells."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[int] = []
        self.paths: Sequence[str] = []
        self._position = np.zeros(0, np.int64)  # document row -> grid position (-1: not shown)

    def set_rows(self, rows: Sequence[int], paths: Sequence[str]) -> None:
        self.beginResetModel()
        self.rows = [int(r) for r in rows]
        self.paths = paths
        self._position = np.full(len(paths), -1, np.int64)
        if self.rows:
            self._position[np.asarray(self.rows)] = np.arange(len(self.rows))
        self.endResetModel()

    def position(self, row: int) -> int:
        """Where document row ``row`` sits in the grid (-1: not shown)."""
        return int(self._position[row]) if 0 <= row < len(self._position) else -1

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.DisplayRole:  # a name shown as one printable line (escapes, stray bytes)
            return printable(os.path.basename(self.paths[row]))
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tip(self.paths[row])
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def mimeTypes(self) -> list[str]:
        return [ROWS_MIME, "text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        """The dragged cells as document rows (for the Groups panel) and as file URLs (for other apps)."""
        rows = sorted({self.rows[i.row()] for i in indexes if i.isValid()})
        mime = QMimeData()
        mime.setData(ROWS_MIME, json.dumps(rows).encode())
        mime.setUrls([QUrl.fromLocalFile(self.paths[r]) for r in rows[:1000]])
        return mime

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction


class GridDelegate(QStyledItemDelegate):
    """Paints one cell: the thumbnail (a placeholder until it is ready), its flag badge, the colour-label strip,
    the stars and the file name. Rejected pictures are dimmed."""

    def __init__(self, grid: GridView) -> None:
        super().__init__(grid)
        self.grid = grid
        self.side = DEFAULT_SIZE
        self._scaled: OrderedDict[int, QPixmap] = OrderedDict()
        self._font = QFont(grid.font())
        self._font.setPointSizeF(max(7.0, self._font.pointSizeF() * 0.9))
        self._metrics = QFontMetrics(self._font)
        self._star_font = QFont(self._font)
        self._star_width = QFontMetrics(self._star_font).horizontalAdvance("★")

    def set_side(self, side: int) -> None:
        self.side = side
        self._scaled.clear()

    def forget(self, row: int) -> None:
        self._scaled.pop(row, None)

    def cell_size(self) -> QSize:
        return QSize(self.side + 2 * PAD, self.side + 2 * PAD + self._metrics.height() + 2)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return self.cell_size()

    def _pixmap(self, row: int) -> QPixmap | None:
        pm = self._scaled.get(row)
        if pm is not None:
            self._scaled.move_to_end(row)
            return pm
        source = self.grid.thumbs.pixmap(row)
        if source is None:
            return None
        ratio = self.grid.devicePixelRatioF()
        target = int(self.side * ratio)
        if max(source.width(), source.height()) > target:
            # Scaled once per size and kept: painting then only blits (smooth scaling on every frame is what
            # would make a scroll stutter).
            pm = source.scaled(target, target, Qt.AspectRatioMode.KeepAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
        else:
            pm = QPixmap(source)
        pm.setDevicePixelRatio(ratio)
        self._scaled[row] = pm
        while len(self._scaled) > SCALED_CACHE:
            self._scaled.popitem(last=False)
        return pm

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        row = index.data(ROW_ROLE)
        name = index.data(Qt.ItemDataRole.DisplayRole)
        grid = self.grid
        cell = option.rect
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        mark = grid.mark_of(row)
        painter.save()
        highlight = palette.color(QPalette.ColorRole.Highlight)
        if selected:  # a tint and a frame: the picture itself stays as it is (a flagged one too)
            tint = QColor(highlight)
            tint.setAlpha(60)
            painter.fillRect(cell.adjusted(1, 1, -1, -1), tint)
        box = QRect(cell.left() + (cell.width() - self.side) // 2, cell.top() + PAD, self.side, self.side)
        pm = self._pixmap(row)
        if mark.flag == "reject":
            painter.setOpacity(0.3)
        if pm is not None:
            w, h = round(pm.width() / pm.devicePixelRatio()), round(pm.height() / pm.devicePixelRatio())
            # Bottom-aligned: the name sits under every picture, landscape or portrait, on one baseline.
            picture = QRect(box.left() + (box.width() - w) // 2, box.bottom() + 1 - h, w, h)
            painter.drawPixmap(picture.topLeft(), pm)
        else:
            grid.want_thumbnail(row)
            picture = self._placeholder(painter, box, row, palette)
        painter.setOpacity(1.0)
        if mark.flag:
            self._flag_badge(painter, picture, mark.flag)
        if mark.label in LABEL_COLOURS:
            strip = max(4, self.side // 24)
            painter.fillRect(QRect(cell.left() + 2, cell.bottom() - strip - 1, cell.width() - 4, strip),
                             LABEL_COLOURS[mark.label])
        if selected:
            painter.setPen(QPen(highlight, 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(cell.adjusted(2, 2, -3, -3))
        # Footer: stars right, the file name elided into what is left.
        painter.setFont(self._font)
        text_rect = QRect(cell.left() + PAD, box.bottom() + 2, cell.width() - 2 * PAD, self._metrics.height())
        stars_w = self._star_width * mark.rating
        if mark.rating:
            painter.setPen(STAR_COLOUR)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, "★" * mark.rating)
        room = text_rect.width() - (stars_w + 4 if mark.rating else 0)
        if room > 12:
            role = QPalette.ColorRole.Text
            painter.setPen(palette.color(role))
            painter.drawText(text_rect.adjusted(0, 0, -(text_rect.width() - room), 0),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             self._metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, room))
        if option.state & QStyle.StateFlag.State_HasFocus and grid.list.hasFocus():
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight).lighter(130), 1, Qt.PenStyle.DashLine))
            painter.drawRect(cell.adjusted(1, 1, -2, -2))
        painter.restore()

    def _placeholder(self, painter: QPainter, box: QRect, row: int, palette: QPalette) -> QRect:
        """A grey card where the thumbnail will be (notes: a page with their extension); returns its rect."""
        if self.grid.kind_of(row) != "image":
            inner = box.adjusted(box.width() // 5, box.height() // 10, -box.width() // 5, -box.height() // 10)
            painter.fillRect(inner, palette.color(QPalette.ColorRole.Base))
            painter.setPen(palette.color(QPalette.ColorRole.Mid))
            painter.drawRect(inner)
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            painter.drawText(inner, Qt.AlignmentFlag.AlignCenter,
                             Path(self.grid.paths[row]).suffix.lstrip(".").upper() or "NOTE")
            return inner
        inner = box.adjusted(0, box.height() // 3, 0, 0)  # most photos are 3:2 landscape
        painter.fillRect(inner, palette.color(QPalette.ColorRole.Midlight))
        return inner

    def _flag_badge(self, painter: QPainter, box: QRect, flag: str) -> None:
        d = max(14, self.side // 7)
        badge = QRect(box.left() + 3, box.top() + 3, d, d)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(QColor(255, 255, 255), 1.5))
        painter.setBrush(PICK_COLOUR if flag == "pick" else REJECT_COLOUR)
        painter.drawEllipse(badge)
        painter.setPen(QPen(QColor(255, 255, 255), max(1.5, d / 9)))
        m = d * 0.3
        if flag == "pick":  # a tick
            painter.drawPolyline([QPoint(int(badge.left() + m * 0.9), int(badge.center().y())),
                                  QPoint(int(badge.center().x() - d * 0.05), int(badge.bottom() - m)),
                                  QPoint(int(badge.right() - m * 0.8), int(badge.top() + m))])
        else:  # a cross
            r = badge.adjusted(int(m), int(m), -int(m), -int(m))
            painter.drawLine(r.topLeft(), r.bottomRight())
            painter.drawLine(r.topRight(), r.bottomLeft())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)


class _List(QListView):
    """The list view, with the marking keys and Enter handed to the grid before Qt's own navigation."""

    def __init__(self, grid: GridView) -> None:
        super().__init__(grid)
        self.grid = grid

    def keyPressEvent(self, event) -> None:
        if not self.grid.handle_key(event):
            super().keyPressEvent(event)

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self.grid.viewport_moved()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.grid.fit_columns()


class GridView(QWidget):
    """A scrolling grid of thumbnails with marks. See the module docstring; the public API:

    * ``set_state(state, paths, kinds)``, ``show_rows(rows, title)``, ``set_sort(key, vectors=, scores=)``,
      ``set_thumbnail_size(px)``, ``rows()`` (shown, in order), ``selected_rows()``;
    * signals ``openLoupe(int row)``, ``contextMenuRequested(list rows, QPoint global_pos)``.
    """

    openLoupe = Signal(int)
    contextMenuRequested = Signal(list, QPoint)

    def __init__(self, thumb_folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state: LibraryState | None = None
        self.paths: Sequence[str] = []
        self.kinds: Sequence[str] = []
        self._all_rows: list[int] = []
        self._sort = "order"
        self._vectors: np.ndarray | None = None
        self._scores: np.ndarray | None = None
        self._syncing = False
        self._connections: list[tuple[object, Callable]] = []
        ratio = self.screen().devicePixelRatio() if self.screen() else 1.0
        self.thumbs = ThumbnailService(thumb_folder, self, side=int(MAX_SIZE * ratio), source_side=512)
        self.thumbs.ready.connect(self._thumbnail_ready)
        self._request_timer = QTimer(self, singleShot=True, interval=REQUEST_DELAY_MS)
        self._request_timer.timeout.connect(self._request_wanted)

        self.title = QLabel(self)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.count = QLabel(self)
        self.sort_box = QComboBox(self)
        self.sort_box.setToolTip("Sort by")
        for key, text in SORTS.items():
            self.sort_box.addItem(text, key)
        self.sort_box.currentIndexChanged.connect(lambda _i: self.set_sort(self.sort_box.currentData()))
        self.size_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.size_slider.setRange(MIN_SIZE, MAX_SIZE)
        self.size_slider.setValue(DEFAULT_SIZE)
        self.size_slider.setMaximumWidth(140)
        self.size_slider.setToolTip("Thumbnail size (Ctrl+= / Ctrl+-)")
        self.size_slider.valueChanged.connect(self.set_thumbnail_size)

        self.model = GridModel(self)
        self.list = _List(self)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setUniformItemSizes(True)
        self.list.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setSelectionRectVisible(True)
        self.list.setDragEnabled(True)
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setWordWrap(False)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.setModel(self.model)
        self.delegate = GridDelegate(self)
        self.list.setItemDelegate(self.delegate)
        self.list.setGridSize(self.delegate.cell_size())
        self.list.selectionModel().selectionChanged.connect(self._grid_selection_changed)
        self.list.doubleClicked.connect(lambda index: self._open(index.data(ROW_ROLE)))
        self.list.customContextMenuRequested.connect(self._context_menu)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.title, 1)
        bar.addWidget(self.count)
        bar.addWidget(self.sort_box)
        bar.addWidget(self.size_slider)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.list, 1)
        for keys, step in ((QKeySequence.StandardKey.ZoomIn, SIZE_STEP), ("Ctrl+=", SIZE_STEP),
                           (QKeySequence.StandardKey.ZoomOut, -SIZE_STEP)):
            shortcut = QShortcut(QKeySequence(keys), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda s=step: self.set_thumbnail_size(self.delegate.side + s))
        self.destroyed.connect(lambda *_a, c=self._connections: _disconnect(c))

    # -- the document ------------------------------------------------------------------------------
    def set_state(self, state: LibraryState, paths: Sequence[str], kinds: Sequence[str]) -> None:
        """Observe ``state`` (rows are indices into ``paths`` / ``kinds``); shows nothing until ``show_rows``."""
        _disconnect(self._connections)
        self.state = state
        self.paths, self.kinds = list(paths), list(kinds)
        self.thumbs.set_items(self.paths, self.kinds)
        self.delegate.set_side(self.delegate.side)
        self._all_rows = []
        for signal, slot in ((state.selectionChanged, self._state_selection_changed),
                             (state.marksChanged, self._marks_changed),
                             (state.filterChanged, self._filter_changed),
                             (state.currentChanged, self._current_changed)):
            signal.connect(slot)
            self._connections.append((signal, slot))
        self._refresh(keep_selection=False)

    def show_rows(self, rows: Sequence[int], title: str = "") -> None:
        """Show these document rows (a group, a selection, search results, a set), filtered and sorted."""
        self._all_rows = [int(r) for r in rows]
        self.title.setText(title)
        self._refresh(keep_selection=False)
        self.list.scrollToTop()

    def rows(self) -> list[int]:
        """The shown rows, in grid order (after filter and sort)."""
        return list(self.model.rows)

    def selected_rows(self) -> list[int]:
        """The selected rows, in grid order."""
        out: list[int] = []
        for rng in self.list.selectionModel().selection():
            out.extend(self.model.rows[rng.top(): rng.bottom() + 1])
        return sorted(out, key=self.model.position)

    def mark_of(self, row: int):
        return self.state.marks.get(self.paths[row]) if self.state is not None else _NO_MARK

    def kind_of(self, row: int) -> str:
        return self.kinds[row] if row < len(self.kinds) else "image"

    # -- sort and size -----------------------------------------------------------------------------
    def set_sort(self, key: str, vectors: np.ndarray | None = None, scores: np.ndarray | None = None) -> None:
        """Sort by ``key`` (``SORTS``). ``vectors`` (rows x dims) enable similarity, ``scores`` (per row,
        higher is better) quality; passing them keeps them for later sorts."""
        if vectors is not None:
            self._vectors = vectors
        if scores is not None:
            self._scores = scores
        self._sort = key if key in SORTS else "order"
        i = self.sort_box.findData(self._sort)
        if i != self.sort_box.currentIndex():
            self.sort_box.blockSignals(True)
            self.sort_box.setCurrentIndex(i)
            self.sort_box.blockSignals(False)
        self._refresh(keep_selection=True)

    def set_thumbnail_size(self, px: int) -> None:
        px = max(MIN_SIZE, min(MAX_SIZE, int(px)))
        if px == self.delegate.side:
            return
        current = self.list.currentIndex()
        self.delegate.set_side(px)
        self.fit_columns()
        if self.size_slider.value() != px:
            self.size_slider.setValue(px)
        if current.isValid():
            self.list.scrollTo(current)

    # -- keys ---------------------------------------------------------------------------------------
    def handle_key(self, event) -> bool:
        """The photographer's keys (0-5 stars, P/X/U flags, 6-9 labels, Enter opens the loupe); True when used."""
        key, text = event.key(), event.text()
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and mods == Qt.KeyboardModifier.NoModifier:
            index = self.list.currentIndex()
            if index.isValid():
                self._open(index.data(ROW_ROLE))
            return True
        if self.state is None or mods not in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
            return False
        rows = self._targets()
        if not rows:
            return False
        return self.state.press(rows, text)  # the photographer's keys: one rule for every view (core)

    def _targets(self) -> list[int]:
        rows = self.selected_rows()
        if not rows and self.list.currentIndex().isValid():
            rows = [self.list.currentIndex().data(ROW_ROLE)]
        return rows

    def _open(self, row: int | None) -> None:
        if row is None:
            return
        if self.state is not None:
            self.state.set_current(row)
        self.openLoupe.emit(row)

    def _context_menu(self, pos: QPoint) -> None:
        index = self.list.indexAt(pos)
        if index.isValid() and not self.list.selectionModel().isSelected(index):
            self.list.selectionModel().select(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            self.list.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)
        rows = self.selected_rows()
        if rows:
            self.contextMenuRequested.emit(rows, self.list.viewport().mapToGlobal(pos))

    # -- rows shown: filter + sort ---------------------------------------------------------------------
    def _refresh(self, keep_selection: bool) -> None:
        rows = self._all_rows
        if self.state is not None and self.state.filter.active and rows:
            shown = self.state.shown()
            rows = [r for r in rows if shown[r]]
        metas = self.state.metas if self.state is not None else []
        rows = sort_rows(rows, self._sort, paths=self.paths, metas=metas, vectors=self._vectors,
                         scores=self._scores)
        current = self.list.currentIndex().data(ROW_ROLE) if keep_selection else None
        self.model.set_rows(rows, self.paths)
        hidden = len(self._all_rows) - len(rows)
        self.count.setText(f"{len(rows):,} pictures" + (f" ({hidden:,} hidden by the filter)" if hidden else "")
                           + "  ")
        if self.state is not None:
            self.state.set_order(rows)
            self._state_selection_changed(self.state.selection)
            target = current if current is not None else self.state.current
            pos = self.model.position(target) if target is not None and target >= 0 else -1
            if pos >= 0:
                self.list.selectionModel().setCurrentIndex(self.model.index(pos),
                                                           QItemSelectionModel.SelectionFlag.NoUpdate)

    # -- state -> grid -----------------------------------------------------------------------------
    def _state_selection_changed(self, rows: frozenset[int]) -> None:
        if self._syncing:
            return
        positions = sorted(p for p in (self.model.position(r) for r in rows) if p >= 0)
        selection = QItemSelection()
        start = prev = None
        for p in positions + [None]:
            if start is not None and (p is None or p != prev + 1):
                selection.select(self.model.index(start), self.model.index(prev))
                start = None
            if p is not None and start is None:
                start = p
            prev = p
        self._syncing = True
        try:
            self.list.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            if positions and not self.list.selectionModel().isSelected(self.list.currentIndex()):
                self.list.selectionModel().setCurrentIndex(self.model.index(positions[0]),
                                                           QItemSelectionModel.SelectionFlag.NoUpdate)
        finally:
            self._syncing = False

    def _marks_changed(self, rows: list[int]) -> None:
        if self.state is not None and self.state.filter.active and len(rows) < len(self.paths):
            # A mark can take a picture out of the filter (rated below ★3 in a ★3+ view): it goes, as in Lightroom.
            before = self.model.rows
            self._refresh(keep_selection=True)
            if self.model.rows != before:
                return
        viewport = self.list.viewport()
        if len(rows) > 200:
            viewport.update()
            return
        for r in rows:
            pos = self.model.position(r)
            if pos >= 0:
                viewport.update(self.list.visualRect(self.model.index(pos)))

    def _filter_changed(self, _f) -> None:
        self._refresh(keep_selection=True)

    def _current_changed(self, row: int) -> None:
        pos = self.model.position(row)
        if pos >= 0:
            index = self.model.index(pos)
            self.list.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)
            self.list.scrollTo(index)

    # -- grid -> state -------------------------------------------------------------------------------
    def _grid_selection_changed(self, *_args) -> None:
        if self._syncing or self.state is None:
            return
        self._syncing = True
        try:
            self.state.set_selection(self.selected_rows())
        finally:
            self._syncing = False

    # -- thumbnails ----------------------------------------------------------------------------------
    def want_thumbnail(self, row: int) -> None:
        """Called while painting a cell whose thumbnail is missing: ask for what is in view, shortly."""
        if not self._request_timer.isActive():
            self._request_timer.start()

    def viewport_moved(self) -> None:
        if self._request_timer.isActive():
            self._request_timer.start()  # still scrolling: wait until it settles for a moment

    def visible_rows(self) -> list[int]:
        """Document rows of the cells in view, top-left first (the grid is uniform: a little arithmetic)."""
        n = len(self.model.rows)
        cell = self.list.gridSize()
        viewport = self.list.viewport().rect()
        if not n or cell.width() <= 0 or cell.height() <= 0:
            return []
        cols = max(1, viewport.width() // cell.width())
        line = self.list.verticalScrollBar().value() // cell.height()
        lines = viewport.height() // cell.height() + 2
        out = []
        for p in range(max(0, (line - 1) * cols), min(n, (line + lines + 1) * cols)):
            if self.list.visualRect(self.model.index(p)).intersects(viewport):
                out.append(self.model.rows[p])
        return out

    def _request_wanted(self) -> None:
        # Replaces the queue: what scrolled out of view is no longer wanted.
        self.thumbs.request([r for r in self.visible_rows() if self.thumbs.pixmap(r) is None])

    def fit_columns(self) -> None:
        """Share the viewport's width out among the columns (no wide empty strip on the right)."""
        base = self.delegate.cell_size()
        width = self.list.viewport().width()
        cols = max(1, width // base.width())
        size = QSize(max(base.width(), width // cols), base.height())
        if size != self.list.gridSize():
            self.list.setGridSize(size)

    def _thumbnail_ready(self, row: int) -> None:
        pos = self.model.position(row)
        if pos >= 0:
            self.delegate.forget(row)
            self.list.viewport().update(self.list.visualRect(self.model.index(pos)))

    def shutdown(self) -> None:
        """Stop thumbnail work (the main window calls this when it closes: child widgets get no closeEvent)."""
        self.thumbs.close()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)


class _NoMark:
    rating, flag, label = 0, None, None


_NO_MARK = _NoMark()



