"""The map: every item one point of a single ScatterPlotItem, thumbnails when zoomed in.

Points are fed as arrays (``data`` = row index, so clicks give indices) with shared brushes per group.
When few enough items are in view, one ``ThumbnailLayer`` paints their thumbnails in screen pixels in one
``paint()`` call — never one graphics item per photo — and text items become small snippet cards.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from desktop_app.gui.palette import group_colour
from desktop_app.gui.thumbs import ThumbnailService

THUMB_LIMIT = 600  # at most this many items in view -> thumbnails instead of dots
THUMB_PX = 72  # logical pixels (the pixmaps are 160 px, so sharp at 2x)
POINT_PX = 8


class _SelectViewBox(pg.ViewBox):
    """Shift-drag selects a rectangle, Alt-drag a freehand lasso (Ctrl adds to the selection).
    Plain drag pans, the wheel zooms."""

    rectSelected = Signal(object, bool)
    lassoSelected = Signal(object, bool)  # (n, 2) array of polygon vertices in data coordinates

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lasso: list[QPointF] = []
        self._lasso_item = QGraphicsPathItem()
        self._lasso_item.setPen(pg.mkPen((80, 80, 80), width=1, style=Qt.PenStyle.DashLine, cosmetic=True))
        self._lasso_item.setZValue(1e9)
        self._lasso_item.hide()
        self.addItem(self._lasso_item, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (Qt naming)
        mods = ev.modifiers()
        add = bool(mods & Qt.KeyboardModifier.ControlModifier)
        if ev.button() == Qt.MouseButton.LeftButton and mods & Qt.KeyboardModifier.AltModifier:
            ev.accept()
            if ev.isStart():
                self._lasso = [self.mapToView(ev.buttonDownPos())]
            self._lasso.append(self.mapToView(ev.pos()))
            path = QPainterPath(self._lasso[0])
            for p in self._lasso[1:]:
                path.lineTo(p)
            path.closeSubpath()
            self._lasso_item.setPath(path)
            self._lasso_item.show()
            if ev.isFinish():
                self._lasso_item.hide()
                polygon = np.array([[p.x(), p.y()] for p in self._lasso], np.float64)
                self._lasso = []
                if len(polygon) >= 3:
                    self.lassoSelected.emit(polygon, add)
            return
        if ev.button() == Qt.MouseButton.LeftButton and mods & Qt.KeyboardModifier.ShiftModifier:
            ev.accept()
            if ev.isFinish():
                self.rbScaleBox.hide()
                rect = QRectF(self.mapToView(ev.buttonDownPos()), self.mapToView(ev.pos())).normalized()
                self.rectSelected.emit(rect, add)
            else:
                self.updateScaleBox(ev.buttonDownPos(), ev.pos())
            return
        super().mouseDragEvent(ev, axis)


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Mask of ``points`` (n, 2) inside ``polygon`` (m, 2), by ray casting over the edges (vectorised)."""
    x, y = points[:, 0], points[:, 1]
    inside = np.zeros(len(points), bool)
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for ax, ay, bx, by in zip(x0, y0, x1, y1):
        crosses = (ay > y) != (by > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = ax + (y - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (x < at)
    return inside


class ThumbnailLayer(pg.GraphicsObject):
    """Paints thumbnails / snippet cards for the items in view, in device pixels, in one pass."""

    def __init__(self, view: MapView) -> None:
        super().__init__()
        self.view = view
        self.setZValue(10)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self.view.data_rect()

    def paint(self, painter: QPainter, *args) -> None:
        visible = self.view.thumbnail_items()
        if visible is None or len(visible) == 0:
            return
        view = self.view
        world = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        half = THUMB_PX / 2
        font = QFont(painter.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        painter.setFont(font)
        for i in visible:
            centre = world.map(QPointF(float(view.coords[i, 0]), float(view.coords[i, 1])))
            colour = view.item_colour(int(i))
            if view.kinds[i] == "text":
                box = QRectF(centre.x() - half, centre.y() - half * 0.6, THUMB_PX, THUMB_PX * 0.6)
                painter.setPen(QPen(colour, 2))
                painter.setBrush(QBrush(QColor(255, 255, 240)))
                painter.drawRoundedRect(box, 4, 4)
                painter.setPen(QColor(30, 30, 30))
                painter.drawText(box.adjusted(4, 3, -4, -3), Qt.TextFlag.TextWordWrap, view.snippets[i] or "")
                continue
            pm = view.thumbnails.pixmap(int(i))
            if pm is None:
                continue  # the dot stays visible until the thumbnail arrives
            # Pixmaps arrive pre-scaled to THUMB_PX x pixel ratio: drawn 1:1, never rescaled while painting.
            ratio = max(pm.width(), pm.height()) / THUMB_PX
            w, h = pm.width() / ratio, pm.height() / ratio
            target = QRectF(centre.x() - w / 2, centre.y() - h / 2, w, h)
            painter.drawPixmap(target, pm, QRectF(pm.rect()))
            painter.setPen(QPen(colour, 3 if i in view.selected else 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(target)
            count = view.badges.get(int(i))
            if count:  # a collapsed set: its best frame says how many frames it stands for
                badge = QRectF(target.right() - 20, target.top() - 8, 26, 16)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QBrush(QColor(20, 20, 20, 220)))
                painter.drawRoundedRect(badge, 8, 8)
                painter.setPen(QColor(255, 255, 255))
                painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, f"×{count}")
        painter.restore()


class MapView(pg.PlotWidget):
    """Zoom with the wheel or +/-, pan by dragging or with the arrow keys; Shift-drag selects a rectangle,
    Alt-drag a lasso."""

    selectionChanged = Signal()
    itemActivated = Signal(int)

    def __init__(self, thumbnails: ThumbnailService, parent=None) -> None:
        self.box = _SelectViewBox()
        super().__init__(parent, viewBox=self.box)
        self.thumbnails = thumbnails
        self.setAntialiasing(True)
        self.setBackground(self.palette().base().color())  # follows the system's light or dark theme
        self.hideAxis("left")
        self.hideAxis("bottom")
        self.setAspectLocked(True)
        self.setMenuEnabled(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.coords = np.zeros((0, 2), np.float32)
        self._data_rect: QRectF | None = None
        self.labels = np.zeros(0, np.int64)
        self.kinds: list[str] = []
        self.paths: list[str] = []
        self.snippets: list[str | None] = []
        self.group_names: dict[int, str] = {}
        self.selected: set[int] = set()
        self.hidden_groups: set[int] = set()
        self.collapsed: np.ndarray | None = None
        self.badges: dict[int, int] = {}
        self.scores: np.ndarray | None = None  # search similarity, or None
        self.highlight: np.ndarray | None = None  # mask of highlighted items (search hits, outliers)
        self.scatter = pg.ScatterPlotItem(pxMode=True, size=POINT_PX, hoverable=True, tip=self._tip,
                                          hoverPen=pg.mkPen("w", width=2))
        self.addItem(self.scatter)
        # The selection is its own small overlay, so clicking never rebuilds the 100k-point arrays.
        self.selection_overlay = pg.ScatterPlotItem(pxMode=True, size=POINT_PX + 7, brush=pg.mkBrush(None),
                                                    pen=pg.mkPen(self.palette().text().color(), width=2))
        self.addItem(self.selection_overlay)
        self.thumb_layer = ThumbnailLayer(self)
        self.addItem(self.thumb_layer)
        self.scatter.sigClicked.connect(self._clicked)
        self.box.rectSelected.connect(self._rect_selected)
        self.box.lassoSelected.connect(self._lasso_selected)
        self.scene().sigMouseClicked.connect(self._scene_clicked)
        self.thumbnails.ready.connect(lambda _i: self.thumb_layer.update())
        self._request_timer = QTimer(self, singleShot=True, interval=60)
        self._request_timer.timeout.connect(self._request_thumbnails)
        self.box.sigRangeChanged.connect(lambda *_: self._request_timer.start())

    # -- data ------------------------------------------------------------------------------------
    def set_items(self, coords: np.ndarray, labels: np.ndarray, kinds: Sequence[str], paths: Sequence[str],
                  snippets: Sequence[str | None], group_names: dict[int, str]) -> None:
        self.coords = np.asarray(coords, np.float32)
        self._data_rect = None
        self.thumb_layer.prepareGeometryChange()
        self.kinds, self.paths, self.snippets = list(kinds), list(paths), list(snippets)
        self.selected.clear()
        self.scores = self.highlight = self.collapsed = None
        self.badges = {}
        self.thumbnails.set_items(self.paths, self.kinds)
        self.set_labels(labels, group_names)
        self.fit_all()

    def set_labels(self, labels: np.ndarray, group_names: dict[int, str]) -> None:
        self.labels = np.asarray(labels, np.int64)
        self.group_names = dict(group_names)
        self._redraw()

    def set_hidden_groups(self, hidden: set[int]) -> None:
        self.hidden_groups = set(hidden)
        self._redraw()

    def set_collapsed(self, hidden: np.ndarray | None, badges: dict[int, int]) -> None:
        """Collapse duplicate/burst sets: ``hidden`` rows are left out, and each set's best frame (the keys of
        ``badges``) carries its set's size as a badge. None expands everything."""
        self.collapsed = None if hidden is None else np.asarray(hidden, bool)
        self.badges = dict(badges) if hidden is not None else {}
        self._redraw()

    def set_highlight(self, mask: np.ndarray | None) -> None:
        """Highlight these items (search hits, outliers) and dim the rest; None shows everything normally."""
        self.highlight = None if mask is None else np.asarray(mask, bool)
        self._redraw()

    def set_selection(self, indices: Sequence[int] | set[int]) -> None:
        self.selected = {int(i) for i in indices}
        self._draw_selection()
        self.selectionChanged.emit()

    def item_colour(self, i: int) -> QColor:
        return group_colour(int(self.labels[i]))

    def data_rect(self) -> QRectF:
        """Bounds of all items plus room for thumbnails (cached: Qt asks for it several times per frame)."""
        if self._data_rect is None:
            self._data_rect = self._compute_data_rect()
        return self._data_rect

    def _compute_data_rect(self) -> QRectF:
        if len(self.coords) == 0:
            return QRectF()
        lo, hi = self.coords.min(axis=0), self.coords.max(axis=0)
        pad = 0.12 * float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-3))  # room for thumbnails at the edges
        return QRectF(float(lo[0]) - pad, float(lo[1]) - pad, float(hi[0] - lo[0]) + 2 * pad,
                      float(hi[1] - lo[1]) + 2 * pad)

    # -- view ------------------------------------------------------------------------------------
    def fit_all(self) -> None:
        if len(self.coords):
            self.box.setRange(rect=self.data_rect(), padding=0)

    def zoom_to(self, indices: Sequence[int]) -> None:
        idx = np.asarray(list(indices), np.int64)
        if len(idx) == 0:
            return
        pts = self.coords[idx]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        span = float(max(hi[0] - lo[0], hi[1] - lo[1]))
        full = self.data_rect()
        span = max(span, 0.02 * max(full.width(), full.height()))
        pad = 0.15 * span
        self.box.setRange(xRange=(float(lo[0]) - pad, float(lo[0]) + span + pad),
                          yRange=(float(lo[1]) - pad, float(lo[1]) + span + pad), padding=0)

    def visible_items(self) -> np.ndarray:
        if len(self.coords) == 0:
            return np.zeros(0, np.int64)
        r = self.box.viewRect()
        x, y = self.coords[:, 0], self.coords[:, 1]
        mask = (x >= r.left()) & (x <= r.right()) & (y >= r.top()) & (y <= r.bottom())
        return np.nonzero(mask & self._shown())[0]

    def _shown(self) -> np.ndarray:
        """Items not hidden by an unticked group or by a collapsed duplicate/burst set."""
        n = len(self.coords)
        shown = ~np.isin(self.labels, list(self.hidden_groups)) if self.hidden_groups else np.ones(n, bool)
        if self.collapsed is not None and len(self.collapsed) == len(shown):
            shown &= ~self.collapsed
        return shown

    def thumbnail_items(self) -> np.ndarray | None:
        """Items to draw as thumbnails now, or None when too many are in view (dots only)."""
        visible = self.visible_items()
        return visible if len(visible) <= THUMB_LIMIT else None

    def changeEvent(self, ev) -> None:  # noqa: N802
        """Follow the system switching between light and dark while the app runs."""
        if ev.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) and hasattr(
                self, "selection_overlay"):  # Qt sends one while the widget is still being built
            self.setBackground(self.palette().base().color())
            self.selection_overlay.setPen(pg.mkPen(self.palette().text().color(), width=2))
        super().changeEvent(ev)

    def keyPressEvent(self, ev) -> None:  # noqa: N802
        key = ev.key()
        r = self.box.viewRect()
        step_x, step_y = r.width() * 0.1, r.height() * 0.1
        moves = {Qt.Key.Key_Left: (-step_x, 0), Qt.Key.Key_Right: (step_x, 0),
                 Qt.Key.Key_Up: (0, step_y), Qt.Key.Key_Down: (0, -step_y)}
        if key in moves:
            self.box.translateBy(x=moves[key][0], y=moves[key][1])
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.box.scaleBy((0.8, 0.8))
        elif key == Qt.Key.Key_Minus:
            self.box.scaleBy((1.25, 1.25))
        else:
            super().keyPressEvent(ev)

    # -- drawing -----------------------------------------------------------------------------------
    def _redraw(self) -> None:
        """Rebuild the point arrays (labels, hidden groups or highlight changed). Brushes are shared objects
        looked up with numpy, so 100k points cost a few tens of milliseconds."""
        n = len(self.coords)
        if n == 0:
            self.scatter.setData([], [])
            self._draw_selection()
            return
        idx = np.nonzero(self._shown())[0]
        ids = np.unique(self.labels)
        table = np.empty(2 * len(ids), dtype=object)  # [normal brushes..., faded brushes...]
        for j, label in enumerate(ids):
            colour = group_colour(int(label))
            table[j] = QBrush(colour)
            faded = QColor(colour)
            faded.setAlpha(40)
            table[len(ids) + j] = QBrush(faded)
        slot = np.searchsorted(ids, self.labels[idx])
        sizes = np.full(len(idx), POINT_PX, float)
        if self.highlight is not None:
            lit = self.highlight[idx]
            slot = np.where(lit, slot, slot + len(ids))
            sizes[lit] = POINT_PX + 4
        symbols = np.where(np.asarray(self.kinds, dtype=object)[idx] == "text", "s", "o")
        self.scatter.setData(x=self.coords[idx, 0], y=self.coords[idx, 1], data=idx, brush=table[slot],
                             symbol=symbols, pen=pg.mkPen(None), size=sizes)
        self._draw_selection()

    def _draw_selection(self) -> None:
        chosen = np.array(sorted(self.selected), np.int64)
        if len(chosen):
            self.selection_overlay.setData(x=self.coords[chosen, 0], y=self.coords[chosen, 1])
        else:
            self.selection_overlay.setData([], [])
        self.thumb_layer.prepareGeometryChange()
        self.thumb_layer.update()

    def _request_thumbnails(self) -> None:
        items = self.thumbnail_items()
        if items is not None:
            centre = self.box.viewRect().center()
            order = np.argsort((self.coords[items, 0] - centre.x()) ** 2 + (self.coords[items, 1] - centre.y()) ** 2)
            self.thumbnails.request(items[order].tolist())
        self.thumb_layer.update()

    def _tip(self, x: float, y: float, data: int) -> str:
        i = int(data)
        group = self.group_names.get(int(self.labels[i]), "no group") if self.labels[i] >= 0 else "no group"
        text = f"{Path(self.paths[i]).name}\n{group}"
        if self.scores is not None:
            text += f"\nmatch {self.scores[i]:.2f}"
        if self.badges.get(i):
            text += f"\nbest of {self.badges[i]} similar frames"
        if self.kinds[i] == "text" and self.snippets[i]:
            text += f"\n“{self.snippets[i][:140]}”"
        return text

    # -- selection ---------------------------------------------------------------------------------
    def _clicked(self, _item, points, ev) -> None:
        if not len(points):
            return
        i = int(points[0].data())
        mods = ev.modifiers()
        if mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier):
            self.set_selection(self.selected ^ {i})
        else:
            self.set_selection({i})
        ev.accept()

    def _scene_clicked(self, ev) -> None:
        if ev.double() and len(self.coords):
            points = self.scatter.pointsAt(self.scatter.mapFromScene(ev.scenePos()))
            if len(points):
                self.itemActivated.emit(int(points[0].data()))
        elif not ev.isAccepted() and ev.button() == Qt.MouseButton.LeftButton and not ev.modifiers():
            points = self.scatter.pointsAt(self.scatter.mapFromScene(ev.scenePos()))
            if not len(points) and self.selected:
                self.set_selection(set())  # a click on empty map clears the selection

    def _lasso_selected(self, polygon: np.ndarray, add: bool) -> None:
        inside = inside_polygon(self.coords.astype(np.float64), polygon)
        if self.hidden_groups:
            inside &= ~np.isin(self.labels, list(self.hidden_groups))
        chosen = set(np.nonzero(inside)[0].tolist())
        self.set_selection(self.selected | chosen if add else chosen)

    def _rect_selected(self, rect: QRectF, add: bool) -> None:
        x, y = self.coords[:, 0], self.coords[:, 1]
        inside = (x >= rect.left()) & (x <= rect.right()) & (y >= rect.top()) & (y <= rect.bottom())
        if self.hidden_groups:
            inside &= ~np.isin(self.labels, list(self.hidden_groups))
        chosen = set(np.nonzero(inside)[0].tolist())
        self.set_selection(self.selected | chosen if add else chosen)
