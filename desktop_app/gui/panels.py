"""Side panels: the library (folders, counts, skipped files) and the groups (names, sizes, examples)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QGuiApplication, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QMenu, QTreeWidget, QTreeWidgetItem

from desktop_app.core.analysis.model import ClusterInfo
from desktop_app.core.filenames import printable
from desktop_app.core.ingest.items import Skipped
from desktop_app.gui.grid_view import ROWS_MIME, rows_from_mime
from desktop_app.gui.palette import group_colour
from desktop_app.gui.thumbs import ThumbnailService
from desktop_app.gui.tooltips import plain_tip

EXAMPLES = 4
EXAMPLE_PX = 36


class LibraryPanel(QTreeWidget):
    """Folders with their item counts, and the skipped files with their reasons (Ctrl+C copies)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Folder", "Items"])
        self.setRootIsDecorated(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        copy = QAction("Copy", self, shortcut="Ctrl+C", shortcutContext=Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_selection)
        self.addAction(copy)

    def show_library(self, folders: list[str], item_paths: list[str], skipped: list[Skipped]) -> None:
        self.clear()
        counts = _folder_counts(folders, item_paths)
        for folder in folders:
            count = str(counts.get(folder, 0)) if item_paths else ""  # blank until the folder has been read
            row = QTreeWidgetItem(self, [printable(Path(folder).name or folder), count])
            row.setToolTip(0, plain_tip(folder))
            row.setData(0, Qt.ItemDataRole.UserRole, folder)
        if skipped:
            node = QTreeWidgetItem(self, [f"Skipped ({len(skipped)})", ""])
            node.setForeground(0, QColor("#c0392b"))
            for s in skipped:  # names as one escaped line: a newline or an escape in a name stays visible
                path, reason = printable(s.path), printable(s.reason)
                child = QTreeWidgetItem(node, [f"{printable(Path(s.path).name)}: {reason}", ""])
                child.setToolTip(0, plain_tip(f"{path}\n{reason}"))
                child.setData(0, Qt.ItemDataRole.UserRole, f"{path}\t{reason}")
        self.resizeColumnToContents(1)

    def copy_selection(self) -> None:
        lines = [i.data(0, Qt.ItemDataRole.UserRole) or i.text(0) for i in self.selectedItems()]
        QGuiApplication.clipboard().setText("\n".join(lines))


def _folder_counts(folders: list[str], item_paths: list[str]) -> Counter[str]:
    """How many items each of ``folders`` holds: an item counts for the first folder that is it or holds it.

    Worked out once per directory of items rather than once per item (a million paths), with the same answer: a
    path ``d/name`` lies under ``f`` exactly when its directory ``d`` is ``f`` or lies under ``f``."""
    counts: Counter[str] = Counter()
    named = set(folders)
    by_directory: Counter[tuple[str, str]] = Counter()
    for p in item_paths:
        if p in named:  # a file the user added by itself
            owner = next((f for f in folders if p == f or p.startswith(f.rstrip("/\\") + _separator(p))), None)
            if owner is not None:
                counts[owner] += 1
            continue
        sep = _separator(p)
        by_directory[(p[:p.rfind(sep)] if sep in p else "\0", sep)] += 1
    for (directory, sep), count in by_directory.items():
        owner = next((f for f in folders if directory == f.rstrip("/\\") or
                      directory.startswith(f.rstrip("/\\") + sep)), None)
        if owner is not None:
            counts[owner] += count
    return counts


def _separator(path: str) -> str:
    return "/" if "/" in path else "\\"


class GroupsPanel(QTreeWidget):
    """A row per group: visibility checkbox, colour, editable name, size, a few example thumbnails; a group's
    sub-groups (groups within groups) are its child rows, collapsed until the user opens them."""

    groupActivated = Signal(int)  # group or sub-group id (clicked)
    groupRenamed = Signal(int, str)  # group or sub-group id, new name
    visibilityChanged = Signal(int, bool)  # top-level groups only
    mergeRequested = Signal(list)  # top-level group ids
    moveSelectionRequested = Signal(int)  # into this top-level group
    rowsDropped = Signal(int, list)  # top-level group id, rows dragged onto it (from the grid)

    def __init__(self, thumbnails: ThumbnailService, parent=None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.setHeaderLabels(["Group", "Size", "Examples"])
        self.setRootIsDecorated(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.setIconSize(QSize(14, 14))
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(2, EXAMPLES * (EXAMPLE_PX + 2) + 4)
        self.setMinimumWidth(280)  # fits beside a 1,024-px-wide window's map
        self._rows: dict[int, QTreeWidgetItem] = {}
        self._clusters: dict[int, ClusterInfo] = {}
        self._names: dict[int, str] = {}  # the names as shown, to tell a rename from a checkbox click
        self._visible: dict[int, bool] = {}
        self._ticked: QTreeWidgetItem | None = None
        # Names of the groups whose sub-groups are open: every rename rebuilds the panel, which must not
        # fold the group the user was working in. Names, not ids: re-clustering renumbers the groups.
        self._expanded: set[str] = set()
        self._filling = False
        self.itemChanged.connect(self._changed)
        self.itemClicked.connect(self._clicked)
        self.itemExpanded.connect(lambda item: self._folded(item, True))
        self.itemCollapsed.connect(lambda item: self._folded(item, False))
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.colour_of = group_colour  # the map's colour for a group id (the window sets the map's own)

    # -- dropping pictures dragged from the grid onto a group: a move --------------------------------
    def _drop_target(self, event) -> int | None:
        item = self.itemAt(event.position().toPoint())
        if item is None or not event.mimeData().hasFormat(ROWS_MIME):
            return None
        cid = item.data(0, Qt.ItemDataRole.UserRole)
        return cid if cid is not None and cid >= 0 and not self.is_subgroup(cid) else None

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasFormat(ROWS_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasFormat(ROWS_MIME):
            if self._drop_target(event) is not None:
                event.acceptProposedAction()
            else:
                event.ignore()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        cid = self._drop_target(event)
        if cid is None:
            event.ignore()
            return
        rows = rows_from_mime(event.mimeData())
        event.acceptProposedAction()
        if rows:
            self.rowsDropped.emit(cid, rows)

    def show_groups(self, clusters: list[ClusterInfo], noise: int, hidden: set[int],
                    subclusters: Sequence[ClusterInfo] = ()) -> None:
        """One row per group in ``clusters`` (checked unless its id is in ``hidden``), the sub-groups in
        ``subclusters`` as child rows of their ``parent``, and a "No group" row when ``noise`` items."""
        self._filling = True
        self.clear()
        self._rows.clear()
        self._clusters = {c.id: c for c in [*clusters, *subclusters]}
        self._names = {cid: c.name for cid, c in self._clusters.items()}
        self._visible = {c.id: c.id not in hidden for c in clusters}  # the ticks as shown (a click flips one)
        children: dict[int, list[ClusterInfo]] = {}
        for s in subclusters:
            children.setdefault(s.parent, []).append(s)
        # The expand arrows take room on every row: only when some group has sub-groups.
        self.setRootIsDecorated(any(c.id in children for c in clusters))
        # Rows are made apart from the tree and added in one go: added one by one, each insert and each change of
        # a row already in the tree re-measures the size column over every row (minutes for 1,000 groups).
        tops: list[QTreeWidgetItem] = []
        for c in clusters:
            row = QTreeWidgetItem([c.name, str(c.size), ""])
            row.setData(0, Qt.ItemDataRole.UserRole, c.id)
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsUserCheckable)
            row.setCheckState(0, Qt.CheckState.Unchecked if c.id in hidden else Qt.CheckState.Checked)
            row.setIcon(0, _swatch(self.colour_of(c.id)))
            row.setToolTip(0, plain_tip(f"{c.name}: {c.size} items, cohesion {c.cohesion:.2f} (named by {c.named_by})"))
            row.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._rows[c.id] = row
            tops.append(row)
            for s in children.get(c.id, []):
                # No checkbox: visibility is per top-level group. The parent's colour: the map colours
                # points by their top-level group.
                child = QTreeWidgetItem(row, [s.name, str(s.size), ""])
                child.setData(0, Qt.ItemDataRole.UserRole, s.id)
                child.setFlags((child.flags() | Qt.ItemFlag.ItemIsEditable) & ~Qt.ItemFlag.ItemIsUserCheckable)
                child.setIcon(0, _swatch(self.colour_of(c.id)))
                tip = f"Sub-group of {c.name}: {s.size} items, cohesion {s.cohesion:.2f} (named by {s.named_by})"
                child.setToolTip(0, plain_tip(tip))
                child.setToolTip(1, plain_tip(tip))
                child.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self._rows[s.id] = child
        if noise:
            row = QTreeWidgetItem(["No group", str(noise), ""])
            row.setData(0, Qt.ItemDataRole.UserRole, -1)
            row.setIcon(0, _swatch(group_colour(-1)))
            row.setToolTip(0, "Items that fit no group well (HDBSCAN's noise)")
            tops.append(row)
        self.addTopLevelItems(tops)
        for c in clusters:  # what needs the rows in the tree: example strips (item widgets) and open sub-groups
            row = self._rows[c.id]
            self._update_examples(c.id)
            for s in children.get(c.id, []):
                self._update_examples(s.id)
            if c.name in self._expanded and row.childCount():
                row.setExpanded(True)
        self.resizeColumnToContents(1)
        self._filling = False
        self.thumbnails.request([r for c in self._clusters.values() for r in c.representatives[:EXAMPLES]],
                                replace_queue=False)

    def _clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        """A row clicked: its group (or sub-group, or "No group": -1) is activated once Qt is done with the click
        (the window may rebuild the panel in response)."""
        cid = item.data(0, Qt.ItemDataRole.UserRole)
        if self._ticked is item:  # the click was on the tick box: it hides or shows the group, nothing more
            self._ticked = None
            return
        if cid is not None:
            QTimer.singleShot(0, lambda: self.groupActivated.emit(cid))

    def is_subgroup(self, cid: int) -> bool:
        """Whether ``cid`` is one of the sub-groups shown (not a top-level group or "No group")."""
        c = self._clusters.get(cid)
        return c is not None and c.parent is not None

    def selected_groups(self) -> list[int]:
        """The selected top-level groups (what Merge acts on; sub-groups are not offered for merge)."""
        return [cid for cid in (i.data(0, Qt.ItemDataRole.UserRole) for i in self.selectedItems())
                if cid >= 0 and not self.is_subgroup(cid)]

    def edit(self, index, trigger=QAbstractItemView.EditTrigger.AllEditTriggers, event=None) -> bool:
        # Only the name is editable: a double-click (or F2) on Size or Examples would otherwise open an
        # editor on the size, and the name typed there would be lost.
        if index.isValid() and index.column() != 0:
            return False
        return super().edit(index, trigger, event)

    def _folded(self, item: QTreeWidgetItem, expanded: bool) -> None:
        if self._filling:
            return
        name = self._names.get(item.data(0, Qt.ItemDataRole.UserRole))
        if name is not None:
            (self._expanded.add if expanded else self._expanded.discard)(name)

    def _changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling:
            return
        cid = item.data(0, Qt.ItemDataRole.UserRole)
        old = self._names.get(cid)
        if old is None:
            return
        name = item.text(0).strip()
        if not name:
            self._filling = True
            item.setText(0, old)
            self._filling = False
        # The window rebuilds this panel in response to both signals, which deletes ``item``: they are sent once
        # Qt has finished delivering the click or the edit that changed it (rebuilding the tree while Qt still
        # handles the mouse press on one of its rows crashed the app).
        if not self.is_subgroup(cid):
            visible = item.checkState(0) == Qt.CheckState.Checked
            if self._visible.get(cid, True) != visible:
                self._visible[cid] = visible
                self._ticked = item  # Qt reports the click on the same row next: not a click on the group
                QTimer.singleShot(0, lambda: self.visibilityChanged.emit(cid, visible))
        if name and name != old:
            # The ClusterInfo itself is left alone: the window reads the old name from it to carry the
            # rename over to moved items and hidden groups.
            self._names[cid] = name
            if old in self._expanded:
                self._expanded.discard(old)
                self._expanded.add(name)
            QTimer.singleShot(0, lambda: self.groupRenamed.emit(cid, name))

    def _thumbnail_ready(self, index: int) -> None:
        for cid, c in self._clusters.items():
            if index in c.representatives[:EXAMPLES]:
                self._update_examples(cid)

    def _update_examples(self, cid: int) -> None:
        row, c = self._rows.get(cid), self._clusters.get(cid)
        if row is None or c is None:
            return
        strip = QPixmap(EXAMPLES * (EXAMPLE_PX + 2), EXAMPLE_PX)
        strip.fill(Qt.GlobalColor.transparent)
        painter = QPainter(strip)
        for k, index in enumerate(c.representatives[:EXAMPLES]):
            pm = self.thumbnails.pixmap(index)
            if pm is not None:
                painter.drawPixmap(k * (EXAMPLE_PX + 2), 0, centre_square(pm, EXAMPLE_PX))
        painter.end()
        label = self.itemWidget(row, 2)
        if not isinstance(label, QLabel):
            label = QLabel()
            self.setItemWidget(row, 2, label)
        label.setPixmap(strip)

    def _menu(self, pos) -> None:
        item = self.itemAt(pos)
        menu = QMenu(self)
        chosen = self.selected_groups()
        if len(chosen) >= 2:
            menu.addAction(f"Merge {len(chosen)} groups", lambda: self.mergeRequested.emit(chosen))
        if item is not None and item.data(0, Qt.ItemDataRole.UserRole) >= 0:
            cid = item.data(0, Qt.ItemDataRole.UserRole)
            menu.addAction("Rename", lambda: self.editItem(item, 0))
            if not self.is_subgroup(cid):  # moved items join a top-level group (edits know no sub-groups)
                menu.addAction("Move selected items here", lambda: self.moveSelectionRequested.emit(cid))
        if not menu.isEmpty():
            menu.exec(self.viewport().mapToGlobal(pos))


def centre_square(pm: QPixmap, side: int) -> QPixmap:
    """The middle ``side`` x ``side`` of ``pm`` scaled to cover the square (a portrait keeps its face, not its top
    left corner)."""
    scaled = pm.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                       Qt.TransformationMode.SmoothTransformation)
    return scaled.copy((scaled.width() - side) // 2, (scaled.height() - side) // 2, side, side)


def _swatch(colour: QColor) -> QIcon:
    pm = QPixmap(14, 14)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(colour)
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(1, 1, 12, 12)
    p.end()
    return QIcon(pm)
