"""The map: every item one point of a single ScatterPlotItem, thumbnails when zoomed in, group names on top.

Points are fed as arrays (``data`` = row index, so clicks give indices) with shared brushes per group.
When few enough items are in view, one ``ThumbnailLayer`` paints their thumbnails in screen pixels in one
``paint()`` call — never one graphics item per photo — and text items become small snippet cards. Thumbnails
grow with the zoom (their size follows the spacing of the items in view), and big ones come from a second
thumbnail service with larger JPEGs. One ``LabelLayer`` paints the group names, the biggest groups first,
leaving out a name that would overlap one already placed. ``set_tidy`` swaps the layout for core.tidy's grids.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsPathItem

from desktop_app.core.analysis.tidy import TidyGrid, tidy_grid
from desktop_app.core.filenames import printable
from desktop_app.core.review.marks import COLOUR_LABELS
from desktop_app.gui.palette import (
    HIGHLIGHT_FRAME,
    LABEL_COLOURS,
    NOISE,
    PALETTE,
    PICK_COLOUR,
    REJECT_COLOUR,
    assign_colours,
)
from desktop_app.gui.thumbs import ThumbnailService
from desktop_app.gui.tooltips import plain_tip

THUMB_LIMIT = 600  # at most this many items in view -> thumbnails instead of dots
# More points than this in view -> one density image instead of dots (a million dots take ~0.3 s a frame;
# the image is recomputed when the view stops moving and painted in a few ms). Below it, dots as always.
DENSITY_ABOVE = 200_000
THUMB_PX = 72  # logical pixels of the (small) thumbnail service's pixmaps; the main window sizes it with this
THUMB_MIN, THUMB_MAX = 48, 320  # drawn size of a thumbnail, logical pixels: when they first appear .. a preview
THUMB_FILL = 0.9  # a thumbnail's side as a share of the typical spacing of the items in view ...
THUMB_ROOM = 0.6  # ... or of the side of the screen's share per item in view, whichever is bigger
BIG_SOURCE = 512  # px of the JPEGs behind big thumbnails (core.thumbnails makes them on demand)
BIG_PIXMAPS = 160  # big pixmaps kept in memory (each up to 512x512x4 bytes)
SCALED_PIXMAPS = 400  # big pixmaps scaled to a size bucket, kept so painting never rescales them
BUCKET_STEP = 1.08  # size buckets 8 % apart: a bucket pixmap is drawn at most ~4 % off its own size
SMOOTH_BUDGET = 3_000_000  # device pixels of thumbnails per frame drawn with smooth scaling (~20 ms)
POINT_PX = 8
DIMMED = 0.28  # opacity of thumbnails outside a highlight, and of rejects
MAX_LABELS = 150  # names placed per frame at most (the biggest groups first)


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


def density_image(x: np.ndarray, y: np.ndarray, slot: np.ndarray, rgb: np.ndarray, rect: QRectF,
                  pixels: tuple[int, int]) -> np.ndarray:
    """An RGBA image (rows x columns = ``pixels`` height x width, row 0 at ``rect``'s top in data units) of the
    points: each pixel takes a group colour of a point on it (``rgb[slot % groups]``; slots >= groups are faded,
    and a lit point wins over a faded one), opaque where several fall; points are 2x2 pixels so they show."""
    w, h = pixels
    groups = len(rgb)
    col = np.clip(((x - rect.left()) / max(rect.width(), 1e-12) * w).astype(np.int64), 0, w - 2)
    row = np.clip(((y - rect.top()) / max(rect.height(), 1e-12) * h).astype(np.int64), 0, h - 2)
    lit = slot < groups
    order = np.argsort(lit, kind="stable")  # faded first: a lit point drawn later wins its pixel
    pix = (row * w + col)[order]
    colour = rgb[slot[order] % groups]
    alpha = np.where(lit[order], 200, 45).astype(np.uint8)
    image = np.zeros((h * w, 4), np.uint8)
    for shift in (0, 1, w, w + 1):
        image[pix + shift, :3] = colour
        image[pix + shift, 3] = alpha
    counts = np.bincount(pix, minlength=h * w)
    crowded = (counts > 1) & (image[:, 3] == 200)
    image[crowded, 3] = 255
    return image.reshape(h, w, 4)


def _same_mask(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Whether two optional row masks leave out the same rows (None: no row)."""
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


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


def _map_xy(t: QTransform, xy: np.ndarray) -> np.ndarray:
    """Map (n, 2) points with a QTransform (no perspective), vectorised."""
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    return np.stack([t.m11() * x + t.m21() * y + t.m31(), t.m12() * x + t.m22() * y + t.m32()], axis=1)


class ThumbnailLayer(pg.GraphicsObject):
    """Paints thumbnails / snippet cards for the items in view, in device pixels, in one pass; clicks, double
    clicks and hover anywhere on a drawn thumbnail reach its item."""

    def __init__(self, view: MapView) -> None:
        super().__init__()
        self.view = view
        self.setZValue(10)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self.view.layer_rect()

    def paint(self, painter: QPainter, *args) -> None:
        view = self.view
        state = view.thumbnail_state()
        if state is None:
            return
        world = painter.transform()
        rects = view.thumbnail_rects(world)
        if not rects:
            return
        painter.save()
        painter.resetTransform()
        # Smooth (bilinear) scaling costs ~7 ns a pixel, ~12x nearest: afford it while the thumbnails cover about a
        # few screens' worth of pixels (always, with the size rule), fall back to nearest beyond that.
        ratio = max(1.0, view.devicePixelRatioF())
        smooth = sum(r.width() * r.height() for _, r, _ in rects) * ratio * ratio <= SMOOTH_BUDGET
        font = QFont(view.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        painter.setFont(font)
        highlight = view.palette().highlight().color()
        base = view.palette().base().color()
        lit = view.highlight
        flags = view.flags
        rings = []
        for i, target, dimmed in rects:
            colour = view.item_colour(i)
            painter.setOpacity(DIMMED if dimmed else 1.0)
            if view.kinds[i] == "text":
                painter.setPen(QPen(colour, 2))
                painter.setBrush(QBrush(QColor(255, 255, 240)))
                painter.drawRoundedRect(target, 4, 4)
                painter.setPen(QColor(30, 30, 30))
                painter.drawText(target.adjusted(4, 3, -4, -3), Qt.TextFlag.TextWordWrap, view.snippets[i] or "")
            else:
                pm, prescaled = view.pixmap_for(i, target)
                # A pre-scaled big pixmap is within ~4 % of the target: nearest is as good and much faster.
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth and not prescaled)
                painter.drawPixmap(target, pm, QRectF(pm.rect()))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                if lit is not None and lit[i]:  # a search hit / outlier: an amber frame, unlike the group's
                    painter.setPen(QPen(HIGHLIGHT_FRAME, 3))
                    painter.drawRect(target.adjusted(-1.5, -1.5, 1.5, 1.5))
                else:
                    painter.setPen(QPen(colour, 2))
                    painter.drawRect(target)
            painter.setOpacity(1.0 if not dimmed else 0.6)
            self._badges(painter, i, target, flags)
            if i in view.selected:
                rings.append(target)
        painter.setOpacity(1.0)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for target in rings:  # on top of every thumbnail: a thick ring in the theme's selection colour
            painter.setPen(QPen(base, 2))
            painter.drawRect(target.adjusted(-1, -1, 1, 1))  # a gap that parts the ring from any photo
            painter.setPen(QPen(highlight, 4))
            painter.drawRect(target.adjusted(-4, -4, 4, 4))
        painter.restore()

    def _badges(self, painter: QPainter, i: int, target: QRectF, flags: np.ndarray | None) -> None:
        view = self.view
        count = view.badges.get(i)
        if count:  # a collapsed set: its best frame says how many frames it stands for
            self._pill(painter, QRectF(target.right() - 20, target.top() - 8, 26, 16), f"×{count}",
                       QColor(20, 20, 20, 220), QColor(255, 255, 255))
        if flags is None:
            return
        if view.mark_labels[i] >= 0:  # a colour label: a strip along the bottom edge
            strip = QRectF(target.left(), target.bottom() - 5, target.width(), 5)
            painter.fillRect(strip, LABEL_COLOURS[COLOUR_LABELS[int(view.mark_labels[i])]])
        if view.ratings[i] > 0:
            self._pill(painter, QRectF(target.left() + 3, target.bottom() - 22, 30, 15), f"★{int(view.ratings[i])}",
                       QColor(20, 20, 20, 200), QColor(255, 214, 10))
        if flags[i] == 1:
            self._pill(painter, QRectF(target.left() + 3, target.top() + 3, 16, 16), "✓", PICK_COLOUR,
                       QColor(255, 255, 255))
        elif flags[i] == -1:
            self._pill(painter, QRectF(target.left() + 3, target.top() + 3, 16, 16), "✕", REJECT_COLOUR,
                       QColor(255, 255, 255))

    @staticmethod
    def _pill(painter: QPainter, rect: QRectF, text: str, fill: QColor, ink: QColor) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        painter.setPen(ink)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph naming)
        """A click anywhere on a thumbnail selects it (Ctrl/Shift toggles); the dots' own handler does the rest."""
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        i = self.view.thumbnail_at(self.view.mapFromScene(ev.scenePos()))
        if i is None:
            ev.ignore()
            return
        self.view.click_item(i, ev.modifiers())
        ev.accept()

    def hoverEvent(self, ev) -> None:  # noqa: N802
        i = None if ev.isExit() else self.view.thumbnail_at(self.view.mapFromScene(ev.scenePos()))
        self.setToolTip("" if i is None else plain_tip(self.view.tip(i)))


class LabelLayer(pg.GraphicsObject):
    """Paints the group names, placed in screen pixels (see ``MapView.label_placement``)."""

    def __init__(self, view: MapView) -> None:
        super().__init__()
        self.view = view
        self.setZValue(20)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self.view.layer_rect()

    def paint(self, painter: QPainter, *args) -> None:
        placed = self.view.label_placement(painter.transform())
        if not placed:
            return
        painter.save()
        painter.resetTransform()
        pal = self.view.palette()
        # A translucent pill in the theme's base colour with the theme's text colour: readable on a light or a
        # dark map and over thumbnails alike; its border is the group's colour.
        fill = QColor(pal.base().color())
        fill.setAlpha(215)
        ink = pal.text().color()
        for gid, text, rect, font in placed:
            painter.setFont(font)
            painter.setPen(QPen(self.view.colour_of(gid), 2))
            painter.setBrush(QBrush(fill))
            painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
            painter.setPen(ink)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
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
        # Big previews come from bigger JPEGs: a second service, so the small pixmaps stay for the dense views.
        side = round(min(THUMB_MAX * max(1.0, self.devicePixelRatioF()), BIG_SOURCE))
        self.big_thumbnails = ThumbnailService(thumbnails.folder, self, side=side, source_side=BIG_SOURCE,
                                              max_pixmaps=BIG_PIXMAPS)
        self.setAntialiasing(True)
        self.setBackground(self.palette().base().color())  # follows the system's light or dark theme
        self.hideAxis("left")
        self.hideAxis("bottom")
        self.setAspectLocked(True)
        self.setMenuEnabled(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.coords = np.zeros((0, 2), np.float32)  # what is drawn: the UMAP layout or the tidy grids
        self.layout_coords = self.coords  # the layout as analysed
        self.tidy = False
        self._tidy: TidyGrid | None = None
        self._data_rect: QRectF | None = None
        self._layer_rect = QRectF()
        self.labels = np.zeros(0, np.int64)
        self.kinds: list[str] = []
        self.paths: list[str] = []
        self.snippets: list[str | None] = []
        self.group_names: dict[int, str] = {}
        self.selected: set[int] = set()
        self.hidden_groups: set[int] = set()
        self.filtered: np.ndarray | None = None  # rows the filter bar leaves out (ratings, flags, labels, dates)
        self.collapsed: np.ndarray | None = None
        # The rejects the dots were last drawn with, a copy: the state changes its mark arrays in place, so the
        # arrays handed in may already hold the change when they are compared.
        self._drawn_rejects: np.ndarray | None = None
        self.badges: dict[int, int] = {}
        self.scores: np.ndarray | None = None  # search similarity, or None
        self.highlight: np.ndarray | None = None  # mask of highlighted items (search hits, outliers)
        self.ratings: np.ndarray | None = None  # marks (core.review.Marks.arrays), or None
        self.flags: np.ndarray | None = None
        self.mark_labels: np.ndarray | None = None
        # Groups: ids, sizes, centres (median of the analysed layout, computed once per set_labels), the anchor
        # of each name on the current layout, palette entries and the names' fonts and widths.
        self._group_ids = np.zeros(0, np.int64)
        self._group_sizes = np.zeros(0, np.int64)
        self._group_centres = np.zeros((0, 2))
        self._anchors = np.zeros((0, 2))
        self._colour_index: dict[int, int] = {}
        self._colours: dict[int, QColor] = {}
        self._label_text: list[str] = []
        self._label_font: list[QFont] = []
        self._label_size = np.zeros((0, 2))
        self._version = 0  # bumped whenever what is drawn changes other than by the view's range
        self._label_key: tuple | None = None
        self._label_placed: list[tuple[int, str, QRectF, QFont]] = []
        self._state_key: tuple | None = None
        self._state: tuple[np.ndarray, float] | None = None
        self._scaled: OrderedDict[tuple[int, int], QPixmap] = OrderedDict()

        self.scatter = pg.ScatterPlotItem(pxMode=True, size=POINT_PX, hoverable=True, tip=self._tip,
                                          hoverPen=pg.mkPen("w", width=2))
        self.addItem(self.scatter)
        # Above DENSITY_ABOVE points in view: each screen pixel coloured by a group of the points on it, brighter
        # where more fall (datashader's idea, in numpy), in data coordinates so panning moves it for free.
        self.density = pg.ImageItem(axisOrder="row-major")
        self.density.setZValue(-1)
        self.density.hide()
        self.addItem(self.density, ignoreBounds=True)
        self._dots: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        # The selection is its own small overlay, so clicking never rebuilds the 100k-point arrays.
        self.selection_overlay = pg.ScatterPlotItem(pxMode=True, size=POINT_PX + 7, brush=pg.mkBrush(None),
                                                    pen=pg.mkPen(self.palette().text().color(), width=2))
        self.addItem(self.selection_overlay)
        self.thumb_layer = ThumbnailLayer(self)
        self.addItem(self.thumb_layer, ignoreBounds=True)
        self.label_layer = LabelLayer(self)
        self.addItem(self.label_layer, ignoreBounds=True)
        self.scatter.sigClicked.connect(self._clicked)
        self.box.rectSelected.connect(self._rect_selected)
        self.box.lassoSelected.connect(self._lasso_selected)
        self.scene().sigMouseClicked.connect(self._scene_clicked)
        self.thumbnails.ready.connect(lambda _i: self.thumb_layer.update())
        self.big_thumbnails.ready.connect(self._big_ready)
        self._request_timer = QTimer(self, singleShot=True, interval=60)
        self._request_timer.timeout.connect(self._request_thumbnails)
        self.box.sigRangeChanged.connect(self._range_changed)

    # -- data ------------------------------------------------------------------------------------
    def set_items(self, coords: np.ndarray, labels: np.ndarray, kinds: Sequence[str], paths: Sequence[str],
                  snippets: Sequence[str | None], group_names: dict[int, str]) -> None:
        self.layout_coords = np.asarray(coords, np.float32)
        self.coords = self.layout_coords
        self._tidy = None
        self.kinds, self.paths, self.snippets = list(kinds), list(paths), list(snippets)
        self.selected.clear()
        self.scores = self.highlight = self.collapsed = None
        self.ratings = self.flags = self.mark_labels = None
        self._drawn_rejects: np.ndarray | None = None
        self.badges = {}
        self.thumbnails.set_items(self.paths, self.kinds)
        self.big_thumbnails.set_items(self.paths, self.kinds)
        self._scaled.clear()
        self._apply_labels(labels, group_names, fresh=True)
        self.fit_all()

    def set_labels(self, labels: np.ndarray, group_names: dict[int, str]) -> None:
        """New group ids and/or names (a rename, a move, a merge). Colours of groups that stay are kept."""
        self._apply_labels(labels, group_names, fresh=False)

    def _apply_labels(self, labels: np.ndarray, group_names: dict[int, str], fresh: bool) -> None:
        labels = np.asarray(labels, np.int64)
        changed = fresh or len(labels) != len(self.labels) or not np.array_equal(labels, self.labels)
        self.labels = labels
        self.group_names = dict(group_names)
        if changed:
            self._tidy = None
            self._use_layout()
            self._update_groups(reassign=fresh)
        self._update_label_text()
        self._redraw()

    # Each setter below redraws only when what it sets changed: a window that opens a library calls them all, and
    # at a million points every redraw costs a pass over all of them (and a density image).
    def set_hidden_groups(self, hidden: set[int]) -> None:
        hidden = set(hidden)
        if hidden == self.hidden_groups:
            return
        self.hidden_groups = hidden
        self._redraw()

    def set_collapsed(self, hidden: np.ndarray | None, badges: dict[int, int]) -> None:
        """Collapse duplicate/burst sets: ``hidden`` rows are left out, and each set's best frame (the keys of
        ``badges``) carries its set's size as a badge. None expands everything."""
        collapsed = None if hidden is None else np.array(hidden, bool)  # a copy: the caller may change its array
        badges = dict(badges) if hidden is not None else {}
        if _same_mask(collapsed, self.collapsed) and badges == self.badges:
            return
        self.collapsed, self.badges = collapsed, badges
        self._redraw()

    def set_filtered(self, hidden: np.ndarray | None) -> None:
        """Leave out the rows the filter bar does not show (None: every row)."""
        filtered = None if hidden is None else np.array(hidden, bool)  # a copy: the caller may change its array
        if _same_mask(filtered, self.filtered):
            return
        self.filtered = filtered
        self._redraw()

    def set_highlight(self, mask: np.ndarray | None) -> None:
        """Highlight these items (search hits, outliers) and dim the rest; None shows everything normally."""
        self.highlight = None if mask is None else np.asarray(mask, bool)
        self._redraw()

    def set_marks(self, ratings: np.ndarray | None, flags: np.ndarray | None, labels: np.ndarray | None) -> None:
        """Ratings / flags / colour labels per row (core.review.Marks.arrays), shown as badges on thumbnails;
        rejected items are dimmed (thumbnails) and drawn smaller (dots). None clears them."""
        if ratings is None or flags is None or labels is None:
            self.ratings = self.flags = self.mark_labels = None
        else:
            self.ratings = np.asarray(ratings, np.int8)
            self.flags = np.asarray(flags, np.int8)
            self.mark_labels = np.asarray(labels, np.int8)
        rejects = self._rejects()
        if _same_mask(rejects, self._drawn_rejects):
            # The dots show rejects only; stars and labels are the thumbnails' badges: no pass over every point.
            self._version += 1
            self.thumb_layer.update()
            return
        self._drawn_rejects = rejects  # a new array (flags == -1), never the caller's
        self._redraw()

    def _rejects(self) -> np.ndarray | None:
        """The rejected rows as the dots show them (None: none)."""
        if self.flags is None or len(self.flags) != len(self.coords):
            return None
        rejected = self.flags == -1
        return rejected if rejected.any() else None

    def set_selection(self, indices: Sequence[int] | set[int]) -> None:
        self.selected = {int(i) for i in indices}
        self._draw_selection()
        self.selectionChanged.emit()

    def set_tidy(self, on: bool) -> None:
        """Show each group on its own grid (core.tidy) or the analysed layout; selection and highlights stay."""
        if on == self.tidy:
            return
        self.tidy = bool(on)
        self._use_layout()
        self._update_anchors()
        self._redraw()
        if self.selected:
            self.zoom_to(sorted(self.selected))
        else:
            self.fit_all()

    def _use_layout(self) -> None:
        if self.tidy and len(self.layout_coords):
            if self._tidy is None:
                self._tidy = tidy_grid(self.layout_coords, self.labels)
            self.coords = self._tidy.coords
        else:
            self.coords = self.layout_coords
        self._data_rect = None

    def colour_of(self, cluster_id: int) -> QColor:
        """The colour a group has on this map (noise grey); the groups panel's swatches should use this."""
        colour = self._colours.get(int(cluster_id))
        if colour is None:
            return QColor(NOISE) if cluster_id < 0 else QColor(PALETTE[int(cluster_id) % len(PALETTE)])
        return colour

    def item_colour(self, i: int) -> QColor:
        return self.colour_of(int(self.labels[i]))

    def _update_groups(self, reassign: bool) -> None:
        """Group sizes and centres (median of the analysed layout: robust to a few far-flung members), and the
        colours: neighbouring groups get palette entries far apart (palette.assign_colours)."""
        n = len(self.labels)
        if n == 0 or len(self.layout_coords) != n:
            self._group_ids = np.zeros(0, np.int64)
            self._group_sizes = np.zeros(0, np.int64)
            self._group_centres = np.zeros((0, 2))
            self._colour_index, self._colours = {}, {}
            self._update_anchors()
            return
        ids, inverse, counts = np.unique(self.labels, return_inverse=True, return_counts=True)
        order = np.argsort(inverse, kind="stable")
        members = np.split(order, np.cumsum(counts)[:-1])
        self._group_ids, self._group_sizes = ids, counts
        self._group_centres = np.array([np.median(self.layout_coords[m], axis=0) for m in members], np.float64)
        real = ids >= 0
        self._colour_index = assign_colours(ids[real], self._group_centres[real], counts[real],
                                            previous=None if reassign else self._colour_index)
        self._colours = {g: QColor(PALETTE[c]) for g, c in self._colour_index.items()}
        self._update_anchors()

    def _update_anchors(self) -> None:
        """Where each group's name goes: its centre, or above its grid's box in the tidy layout."""
        if self.tidy and self._tidy is not None and len(self._group_ids):
            boxes = self._tidy.boxes
            self._anchors = np.array([[(boxes[g][0] + boxes[g][2]) / 2, boxes[g][3]] for g in self._group_ids.tolist()])
        else:
            self._anchors = self._group_centres
        self._version += 1

    def _update_label_text(self) -> None:
        """Names, their fonts (bigger for bigger groups) and sizes in pixels, measured once per set_labels."""
        self._label_text, self._label_font = [], []
        sizes = []
        fonts: dict[int, tuple[QFont, QFontMetricsF]] = {}
        for g, count in zip(self._group_ids.tolist(), self._group_sizes.tolist()):
            text = self.group_names.get(g) or (f"Group {g}" if g >= 0 else "")
            px = int(np.clip(round(11 + 2.5 * math.log10(max(count, 1))), 11, 22))
            if px not in fonts:
                font = QFont(self.font())
                font.setPixelSize(px)
                font.setBold(True)
                fonts[px] = (font, QFontMetricsF(font))
            font, metrics = fonts[px]
            self._label_text.append(text)
            self._label_font.append(font)
            sizes.append((metrics.horizontalAdvance(text) + metrics.height() * 0.9, metrics.height() * 1.3))
        self._label_size = np.array(sizes, np.float64).reshape(-1, 2)
        self._version += 1

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

    def layer_rect(self) -> QRectF:
        """What the thumbnail and label layers may paint: the view's range (they draw in screen pixels)."""
        return self._layer_rect

    def _range_changed(self, *_args) -> None:
        for layer in (self.thumb_layer, self.label_layer):
            layer.prepareGeometryChange()
        self._layer_rect = self.box.viewRect()
        self._request_timer.start()

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
        return np.nonzero(mask & self.shown_mask())[0]

    def shown_mask(self) -> np.ndarray:
        """Items not hidden by an unticked group or by a collapsed duplicate/burst set."""
        n = len(self.coords)
        shown = ~np.isin(self.labels, list(self.hidden_groups)) if self.hidden_groups else np.ones(n, bool)
        if self.collapsed is not None and len(self.collapsed) == len(shown):
            shown &= ~self.collapsed
        if self.filtered is not None and len(self.filtered) == len(shown):
            shown &= ~self.filtered
        return shown

    def thumbnail_items(self) -> np.ndarray | None:
        """Items to draw as thumbnails now, or None when too many are in view (dots only)."""
        state = self.thumbnail_state()
        return None if state is None else state[0]

    def thumbnail_size(self) -> float:
        """Side of the thumbnails drawn now, in logical pixels (0 when the map shows dots)."""
        state = self.thumbnail_state()
        return 0.0 if state is None else state[1]

    def thumbnail_state(self) -> tuple[np.ndarray, float] | None:
        """(items to draw as thumbnails, their side in logical pixels), or None when the map shows dots.

        At most THUMB_LIMIT items in view -> thumbnails, sized THUMB_FILL x the median distance from each item
        in view to its nearest neighbour, in screen pixels (so they grow smoothly with the zoom and hardly
        overlap in a tidy grid), or THUMB_ROOM x sqrt(screen area / items in view) if bigger (a heap's gaps stay
        tiny, but few items in view should still be big), clamped to THUMB_MIN..THUMB_MAX. Items just outside
        the view whose thumbnail reaches into it are drawn too. Cached per view range."""
        r = self.box.viewRect()
        key = (r.left(), r.top(), r.width(), r.height(), self._version)
        if key != self._state_key:
            self._state_key, self._state = key, self._compute_thumbnail_state(r)
        return self._state

    def _compute_thumbnail_state(self, r: QRectF) -> tuple[np.ndarray, float] | None:
        if len(self.coords) == 0:
            return None
        visible = self.visible_items()
        if len(visible) > THUMB_LIMIT:
            return None
        unit = self.box.viewPixelSize()[0] or 1.0  # map units per logical pixel (the aspect is locked)
        size = float(THUMB_MAX)
        if len(visible) > 1:
            pts = self.coords[visible].astype(np.float32)
            d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2)
            np.fill_diagonal(d2, np.inf)
            spacing = float(np.median(np.sqrt(d2.min(axis=1)))) / unit
            # Heaps have tiny gaps however far one zooms in: then the room each item has on the screen decides.
            # (Not in a tidy grid: there the cells are the spacing, and bigger thumbnails would overlap.)
            room = 0.0 if self.tidy else math.sqrt(r.width() * r.height() / (unit * unit) / len(visible))
            floor = min(THUMB_MIN, max(16.0, THUMB_FILL * spacing)) if self.tidy else THUMB_MIN  # grids never overlap
            size = float(np.clip(max(THUMB_FILL * spacing, THUMB_ROOM * room), floor, THUMB_MAX))
        m = size / 2 * unit
        x, y = self.coords[:, 0], self.coords[:, 1]
        near = (x >= r.left() - m) & (x <= r.right() + m) & (y >= r.top() - m) & (y <= r.bottom() + m)
        return np.nonzero(near & self.shown_mask())[0], size

    def thumbnail_rects(self, transform: QTransform) -> list[tuple[int, QRectF, bool]]:
        """(item, rect, dimmed) of each thumbnail drawn, in drawing order (the last is on top), with ``transform``
        mapping map units to pixels: dimmed items first, then the rest, search hits, and the selection."""
        state = self.thumbnail_state()
        if state is None or not len(state[0]):
            return []
        items, size = state
        centres = _map_xy(transform, self.coords[items])
        lit = self.highlight[items] if self.highlight is not None else np.ones(len(items), bool)
        dimmed = ~lit
        if self.flags is not None:
            dimmed |= self.flags[items] == -1
        rank = np.where(dimmed, 0, 1 + (lit & (self.highlight is not None)))
        if self.selected:
            rank = np.where(np.isin(items, np.fromiter(self.selected, np.int64)), 3, rank)
        out = []
        for k in np.argsort(rank, kind="stable"):
            i = int(items[k])
            if self.kinds[i] == "text":
                w, h = size, size * 0.6
            else:
                pm = self.thumbnails.pixmap(i)
                if pm is None or pm.isNull():
                    continue  # the dot stays visible until the thumbnail arrives
                aspect = pm.width() / max(1, pm.height())
                w, h = (size, size / aspect) if aspect >= 1 else (size * aspect, size)
            cx, cy = centres[k]
            out.append((i, QRectF(cx - w / 2, cy - h / 2, w, h), bool(dimmed[k])))
        return out

    def pixmap_for(self, i: int, target: QRectF) -> tuple[QPixmap, bool]:
        """(pixmap, pre-scaled) to draw item ``i`` into ``target``: the small one, or (when drawn bigger than it
        is sharp) the big one, scaled once to a size bucket and kept, so a paint only scales it by a few %."""
        small = self.thumbnails.pixmap(i)
        want = max(target.width(), target.height()) * max(1.0, self.devicePixelRatioF())
        if want <= 1.25 * self.thumbnails.side:
            return small, False
        big = self.big_thumbnails.pixmap(i)
        if big is None:
            return small, False  # the big one is on its way
        bucket = int(round(math.log(want) / math.log(BUCKET_STEP)))
        key = (i, bucket)
        pm = self._scaled.get(key)
        if pm is None:
            side = math.ceil(BUCKET_STEP ** bucket)
            pm = big if max(big.width(), big.height()) <= side else big.scaled(
                side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            self._scaled[key] = pm
            while len(self._scaled) > SCALED_PIXMAPS:
                self._scaled.popitem(last=False)
        else:
            self._scaled.move_to_end(key)
        return pm, True

    def thumbnail_at(self, pos: QPoint | QPointF) -> int | None:
        """The item whose drawn thumbnail is under ``pos`` (widget pixels), topmost first; None if none."""
        rects = self.thumbnail_rects(self.thumb_layer.deviceTransform(self.viewportTransform()))
        p = QPointF(pos)
        for i, rect, _dimmed in reversed(rects):
            if rect.contains(p):
                return i
        return None

    def item_at(self, pos: QPoint | QPointF) -> int | None:
        """The item under ``pos`` (widget pixels): a thumbnail anywhere on it, else a dot; None if none."""
        i = self.thumbnail_at(pos)
        if i is not None:
            return i
        points = self.scatter.pointsAt(self.scatter.mapFromScene(self.mapToScene(QPointF(pos).toPoint())))
        return int(points[0].data()) if len(points) else None

    def label_placement(self, transform: QTransform) -> list[tuple[int, str, QRectF, QFont]]:
        """Group names placed for ``transform`` (map units -> pixels): (group id, text, rect, font).

        Biggest groups first; a name whose rect would touch one already placed tries its second place (over its
        thumbnails' middle) and is otherwise left out, as are hidden groups, noise and names whose anchor is out
        of view. Cached until the view or the groups change."""
        key = (transform.m11(), transform.m12(), transform.m21(), transform.m22(), transform.m31(),
               transform.m32(), self._version, frozenset(self.hidden_groups), self.tidy)
        if key == self._label_key:
            return self._label_placed
        placed: list[tuple[int, str, QRectF, QFont]] = []
        if len(self._anchors) and len(self._label_size) == len(self._anchors):
            bounds = transform.mapRect(self.box.viewRect())
            screen, above, second = self._label_anchors(transform, bounds)
            cells: dict[tuple[int, int], list[QRectF]] = {}  # a 64-px grid of placed rects: tests stay local
            for j in np.argsort(-self._group_sizes, kind="stable"):
                gid = int(self._group_ids[j])
                text = self._label_text[j]
                if gid < 0 or gid in self.hidden_groups or not text:
                    continue
                w, h = self._label_size[j]
                candidates = [(screen[j, 0], screen[j, 1] - h - 4 if above[j] else screen[j, 1] - h / 2)]
                if np.isfinite(second[j, 0]):
                    candidates.append((second[j, 0], second[j, 1] - h / 2))
                for sx, top in candidates:
                    if not bounds.contains(QPointF(sx, top + h / 2)):
                        continue
                    rect = QRectF(sx - w / 2, top, w, h)
                    keys = [(cx, cy) for cx in range(int(rect.left() // 64), int(rect.right() // 64) + 1)
                            for cy in range(int(rect.top() // 64), int(rect.bottom() // 64) + 1)]
                    if any(rect.intersects(other) for c in keys for other in cells.get(c, ())):
                        continue
                    for c in keys:
                        cells.setdefault(c, []).append(rect)
                    placed.append((gid, text, rect, self._label_font[j]))
                    break
                if len(placed) >= MAX_LABELS:
                    break
        self._label_key, self._label_placed = key, placed
        return placed

    def _label_anchors(self, transform: QTransform, bounds: QRectF) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per group: its name's anchor on screen (g, 2), whether the name sits above it (a tidy grid, or
        thumbnails), and a second place (the middle of its thumbnails in view; NaN where none)."""
        screen = _map_xy(transform, self._anchors)
        above = np.full(len(screen), bool(self.tidy))
        second = np.full((len(screen), 2), np.nan)
        state = self.thumbnail_state()
        if state is None or not len(state[0]) or self.tidy:
            return screen, above, second
        # Thumbnails show: a name goes just above its group's thumbnails in view, not over them; at the top of
        # their bulk (10th percentile of y on screen), so one stray member does not carry it away.
        items, size = state
        pos = _map_xy(transform, self.coords[items])
        slot = np.searchsorted(self._group_ids, self.labels[items])
        order = np.lexsort((pos[:, 1], slot))
        first = np.searchsorted(slot[order], np.arange(len(screen)))
        count = np.bincount(slot, minlength=len(screen))
        seen = count > 0
        top = pos[order[first[seen] + (count[seen] * 0.1).astype(int)], 1]
        left, right = np.full(len(screen), np.inf), np.full(len(screen), -np.inf)
        np.minimum.at(left, slot, pos[:, 0])
        np.maximum.at(right, slot, pos[:, 0])
        screen[seen, 0] = np.clip(screen[seen, 0], left[seen], right[seen])
        screen[seen, 1] = np.maximum(top - size / 2 - 3, bounds.top() + 30)
        above |= seen
        total = np.zeros((len(screen), 2))
        np.add.at(total, slot, pos)
        second[seen] = total[seen] / count[seen, None]
        return screen, above, second

    def placed_labels(self) -> list[tuple[int, str, QRectF]]:
        """The group names the map shows now: (group id, text, rect in widget pixels)."""
        transform = self.label_layer.deviceTransform(self.viewportTransform())
        return [(g, text, rect) for g, text, rect, _font in self.label_placement(transform)]

    def changeEvent(self, ev) -> None:  # noqa: N802
        """Follow the system switching between light and dark while the app runs."""
        if ev.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) and hasattr(
                self, "label_layer"):  # Qt sends one while the widget is still being built
            self.setBackground(self.palette().base().color())
            self.selection_overlay.setPen(pg.mkPen(self.palette().text().color(), width=2))
            self.label_layer.update()
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
        """Rebuild the point arrays (labels, hidden groups, highlight or marks changed). Brushes are shared
        objects looked up with numpy, so 100k points cost a few tens of milliseconds."""
        self._version += 1
        n = len(self.coords)
        if n == 0:
            self.scatter.setData([], [])
            self._draw_selection()
            return
        idx = np.nonzero(self.shown_mask())[0]
        ids = np.unique(self.labels)
        table = np.empty(2 * len(ids), dtype=object)  # [normal brushes..., faded brushes...]
        for j, label in enumerate(ids):
            colour = self.colour_of(int(label))
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
        if self.flags is not None and len(self.flags) == n:
            rejected = self.flags[idx] == -1  # rejects: smaller and faded, still there to be found
            slot = np.where(rejected, slot % len(ids) + len(ids), slot)
            sizes[rejected] = POINT_PX - 3
        if len(idx) > DENSITY_ABOVE:  # a big library: the view decides between dots and the density image
            rgb = np.array([self.colour_of(int(label)).getRgb()[:3] for label in ids], np.uint8)
            self._dots = (idx, table, slot, sizes, rgb)
            self._feed_dots()
        else:
            self._dots = None
            self.density.hide()
            symbols = np.where(np.asarray(self.kinds, dtype=object)[idx] == "text", "s", "o")
            self.scatter.setData(x=self.coords[idx, 0], y=self.coords[idx, 1], data=idx, brush=table[slot],
                                 symbol=symbols, pen=pg.mkPen(None), size=sizes)
        self._draw_selection()
        self.label_layer.update()
        self._request_timer.start()

    def _draw_selection(self) -> None:
        chosen = np.array(sorted(self.selected), np.int64)
        if len(chosen):
            self.selection_overlay.setData(x=self.coords[chosen, 0], y=self.coords[chosen, 1])
        else:
            self.selection_overlay.setData([], [])
        self.thumb_layer.update()

    def _feed_dots(self) -> None:
        """A big library: the points in view as dots when they are few enough, else the density image."""
        if self._dots is None:
            return
        idx, table, slot, sizes, rgb = self._dots
        r = self.box.viewRect()
        x, y = self.coords[idx, 0], self.coords[idx, 1]
        inside = np.flatnonzero((x >= r.left()) & (x <= r.right()) & (y >= r.top()) & (y <= r.bottom()))
        if len(inside) <= DENSITY_ABOVE:
            self.density.hide()
            rows = idx[inside]
            symbols = np.where(np.asarray([self.kinds[i] for i in rows], dtype=object) == "text", "s", "o")
            self.scatter.setData(x=x[inside], y=y[inside], data=rows, brush=table[slot[inside]], symbol=symbols,
                                 pen=pg.mkPen(None), size=sizes[inside])
            return
        self.scatter.setData([], [])
        self.density.setImage(density_image(x[inside], y[inside], slot[inside], rgb, r, self._view_pixels()),
                              autoLevels=False, levels=(0, 255))
        self.density.setRect(QRectF(r))
        self.density.show()

    def _view_pixels(self) -> tuple[int, int]:
        """The view box's size in device pixels (the density image's resolution)."""
        ratio = max(1.0, self.devicePixelRatioF())
        size = self.box.size()
        return max(1, int(size.width() * ratio)), max(1, int(size.height() * ratio))

    def _request_thumbnails(self) -> None:
        self._feed_dots()
        state = self.thumbnail_state()
        # Thumbnails carry their own selection rings; the dots' rings would show through dimmed thumbnails.
        self.selection_overlay.setVisible(state is None)
        if state is not None:
            items, size = state
            centre = self.box.viewRect().center()
            order = np.argsort((self.coords[items, 0] - centre.x()) ** 2 + (self.coords[items, 1] - centre.y()) ** 2)
            wanted = items[order].tolist()
            self.thumbnails.request(wanted)
            big = size * max(1.0, self.devicePixelRatioF()) > 1.25 * self.thumbnails.side
            if big and not self.thumbnails.closed:  # the window closed the small one: start nothing new
                self.big_thumbnails.request(wanted)
        self.thumb_layer.update()

    def _big_ready(self, _index: int) -> None:
        self.thumb_layer.update()

    def close_thumbnails(self) -> None:
        """Stop both thumbnail services (the window calls this when it closes)."""
        self.big_thumbnails.close()
        self.thumbnails.close()

    def tip(self, i: int) -> str:
        """The tooltip of item ``i``: file name, group, match score, set size, snippet."""
        group = self.group_names.get(int(self.labels[i]), "no group") if self.labels[i] >= 0 else "no group"
        text = f"{printable(Path(self.paths[i]).name)}\n{printable(group)}"
        if self.scores is not None:
            text += f"\nmatch {self.scores[i]:.2f}"
        if self.badges.get(i):
            text += f"\nbest of {self.badges[i]} similar frames"
        if self.ratings is not None and self.ratings[i] > 0:
            text += f"\n{'★' * int(self.ratings[i])}"
        if self.flags is not None and self.flags[i]:
            text += "\npick" if self.flags[i] == 1 else "\nrejected"
        if self.kinds[i] == "text" and self.snippets[i]:
            text += f"\n“{self.snippets[i][:140]}”"
        return text

    def _tip(self, x: float, y: float, data: int) -> str:
        return plain_tip(self.tip(int(data)))  # pyqtgraph hands it to Qt as a tooltip

    # -- selection ---------------------------------------------------------------------------------
    def click_item(self, i: int, modifiers: Qt.KeyboardModifier) -> None:
        """What a click on item ``i`` does: select it alone, or toggle it with Ctrl/Shift."""
        if modifiers & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier):
            self.set_selection(self.selected ^ {i})
        else:
            self.set_selection({i})

    def _clicked(self, _item, points, ev) -> None:
        if not len(points):
            return
        self.click_item(int(points[0].data()), ev.modifiers())
        ev.accept()

    def _scene_clicked(self, ev) -> None:
        if ev.double() and len(self.coords):
            i = self.item_at(self.mapFromScene(ev.scenePos()))
            if i is not None:
                self.itemActivated.emit(i)
        elif not ev.isAccepted() and ev.button() == Qt.MouseButton.LeftButton and not ev.modifiers():
            if self.item_at(self.mapFromScene(ev.scenePos())) is None and self.selected:
                self.set_selection(set())  # a click on empty map clears the selection

    def _lasso_selected(self, polygon: np.ndarray, add: bool) -> None:
        inside = inside_polygon(self.coords.astype(np.float64), polygon)
        inside &= self.shown_mask()  # hidden groups, collapsed sets and filtered-out pictures are not selected
        chosen = set(np.nonzero(inside)[0].tolist())
        self.set_selection(self.selected | chosen if add else chosen)

    def _rect_selected(self, rect: QRectF, add: bool) -> None:
        x, y = self.coords[:, 0], self.coords[:, 1]
        inside = (x >= rect.left()) & (x <= rect.right()) & (y >= rect.top()) & (y <= rect.bottom())
        inside &= self.shown_mask()  # hidden groups, collapsed sets and filtered-out pictures are not selected
        chosen = set(np.nonzero(inside)[0].tolist())
        self.set_selection(self.selected | chosen if add else chosen)
