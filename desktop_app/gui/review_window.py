"""The main window's review side: the four views (map, grid, loupe, compare) and what they share — the
collection the grid shows, the filter, marks and undo, the selection, the groups panel, search, the right-click
menu, duplicate sets and the loupe's full screen. A mixin of ``MainWindow``: every change goes to the window's
``library`` (core), and these methods show what the library holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QListWidgetItem, QMenu, QToolBar

from desktop_app.core.analysis.search import Ranking
from desktop_app.core.filenames import printable
from desktop_app.core.review.duplicates import hidden_by_sets
from desktop_app.core.review.marks import MarkFilter
from desktop_app.gui.reveal import reveal_in_file_manager
from desktop_app.gui.tooltips import plain_tip

SEARCH_HITS = 50


class ReviewMixin:
    """Methods of ``MainWindow`` (see there for the attributes they use)."""

    def setup_review(self) -> None:
        """Connect the views; called once while the window is built."""
        self._collection: tuple[list[int] | None, str] = (None, "All pictures")  # what the grid shows
        self._before_loupe = "grid"
        self._chrome: Any = None  # the window's toolbars and docks while the loupe is full screen
        self._expanded: set[int] = set()  # duplicate/burst sets shown open while the others are collapsed
        self._last_ranking: Ranking | None = None
        self._filtered = False  # a filter was on (its end is worth a word in the status bar)
        self.map.selectionChanged.connect(self._selection_changed)
        self.map.itemActivated.connect(self.open_loupe)
        self.map.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.map.customContextMenuRequested.connect(self._map_menu)
        self.grid.openLoupe.connect(lambda _row: self.show_view("loupe"))
        self.grid.contextMenuRequested.connect(lambda rows, pos: self._item_menu(rows, pos))
        self.loupe.closed.connect(lambda: self.show_view(self._before_loupe))
        self.compare.bestChosen.connect(lambda _set, row: self.choose_best(row))
        self.compare.setChanged.connect(self._compare_set_changed)
        self.culling.setActivated.connect(self._set_activated)
        self.hits.itemActivated.connect(self._hit_activated)
        self.hits.itemClicked.connect(self._hit_activated)

    # -- the library's signals ---------------------------------------------------------------------
    def result_changing(self, result: Any) -> None:
        """A new analysis is about to replace the rows: the grid takes the new rows before the state announces
        them (a grid holding the old rows would index the new, maybe shorter, library)."""
        self.grid.set_state(self.state, result.paths, [i.kind for i in result.items])
        self.grid.show_rows([], "")
        if self._last_ranking is not None:  # the last search's rows are the old library's
            self.search_box.blockSignals(True)
            self.search_box.clear()
            self.search_box.blockSignals(False)
            self.clear_search()

    def clear_views(self) -> None:
        """Another library: nothing of the last one's is shown (its map comes with the first analysis)."""
        self.culling.clear()
        self._expanded.clear()
        self.hits.clear()
        self._last_ranking = None
        self.stack.setCurrentIndex(0)
        self.groups.show_groups([], 0, set())
        self.map.set_items(np.zeros((0, 2), np.float32), np.zeros(0, np.int64), [], [], [], {})
        self.view_actions["map"].setChecked(True)
        self.filter_bar.set_metadata(None)

    def show_result(self) -> None:
        """A new analysis is in the library: every view reads the new rows (the map is fitted to them)."""
        library = self.library
        assert self.result is not None and self.analysis is not None
        self.culling.clear()
        self._expanded.clear()
        self.filter_bar.set_metadata(self.state.metas or None)
        self._show_analysis(refit=True)
        if self.result.similar_sets:
            self.culling.show_sets(self.result.similar_sets, self.result.paths)
        self.compare.show_sets(self.result.similar_sets or [], self.result.paths, self.state)
        self._views_read_qualities(vectors=self.result.vectors)
        self._set_collection(None, "All pictures")
        self.marks_changed([])  # badges on the new map
        saved = MarkFilter.from_json(library.view.get("filter"))
        if saved.active and saved != self.state.filter:  # the filter the user left the library with
            self.filter_bar.show_filter(saved)
        self.filter_changed(self.state.filter)  # a filter set before the analysis applies to its rows
        if self.current_view() in ("grid", "loupe", "compare"):
            self.show_view("grid" if self.current_view() != "compare" or not self.result.similar_sets
                           else "compare")
        elif library.view.get("view") == "grid":
            self.show_view("grid")

    def groups_changed(self) -> None:
        """Same rows, new groups (an edit, its undo, re-grouping)."""
        if self.result is None or self.analysis is None:
            return
        self._show_analysis()
        title = self._collection[1]
        if not title.startswith(("Best matches", "Burst", "Near-duplicates", "Selection")):
            self._set_collection(None, "All pictures")  # the group the grid showed may be gone

    def sets_changed(self) -> None:
        if self.result is None:
            return
        sets = self.result.similar_sets or []
        self.culling.show_sets(sets, self.result.paths)
        if self.compare.sets:
            self.compare.refresh()  # the same sets, a best frame changed
        else:
            self.compare.show_sets(sets, self.result.paths, self.state)
        self._views_read_qualities()
        self.show_collapsed()
        self.update_actions()

    def metadata_changed(self) -> None:
        metas = self.state.metas
        self.filter_bar.set_metadata(metas)
        cameras = len({m.camera for m in metas if m.camera})
        dated = sum(m.taken is not None for m in metas)
        self.idle(f"Read {dated:,} capture dates and {cameras} cameras")

    def _show_analysis(self, refit: bool = False) -> None:
        assert self.result is not None and self.analysis is not None
        analysis, items = self.analysis, self.result.items
        names = {c.id: c.name for c in analysis.clusters}
        hidden = self.library.hidden_groups()
        if refit:
            self.map.set_items(analysis.coords, analysis.labels, [i.kind for i in items], self.result.paths,
                               [i.snippet for i in items], names)
        else:
            self.map.set_labels(analysis.labels, names)
        self.map.set_hidden_groups(hidden)
        if refit:
            self.show_collapsed()
        self.groups.show_groups(analysis.clusters, int((analysis.labels < 0).sum()), hidden, analysis.subclusters)
        if self.act_outliers.isChecked():
            self.map.set_highlight(analysis.outliers)
        self.update_actions()

    # -- views: map, grid, loupe, compare ----------------------------------------------------------
    def current_view(self) -> str:
        widget = self.stack.currentWidget()
        return {self.map: "map", self.grid: "grid", self.loupe: "loupe", self.compare: "compare"}.get(widget, "")

    def show_view(self, name: str) -> None:
        """Switch the central area to ``name`` ("map", "grid", "loupe", "compare"), each showing the library's
        current collection (a group, the selection, search results, a duplicate set)."""
        if self.result is None or self.analysis is None:
            self.view_actions["map"].setChecked(True)
            return
        if name == "compare" and not self.result.similar_sets:
            self.view_actions[self.current_view() or "map"].setChecked(True)
            if self.result.similar_sets is None:
                self.find_duplicates(then_compare=True)
            else:
                self.idle("No near-duplicates or bursts in this library: nothing to compare")
            return
        if name == "loupe":
            if self.current_view() != "loupe":
                self._before_loupe = self.current_view() or "map"
            row = self.state.current
            chosen = sorted(self.state.selection)
            if row < 0 or row >= len(self.result.items) or (chosen and row not in chosen):
                row = chosen[0] if chosen else (self.grid.rows()[0] if self.grid.rows() else 0)
            # ←/→ walk what the user was looking at: the grid in its order, else the collection, else everything.
            if self.current_view() == "grid" and row in self.grid.rows():
                self.state.set_order(self.grid.rows())
            elif self.current_view() != "loupe":
                rows, _title = self._collection
                self.state.set_order(rows if rows and row in rows else range(len(self.result.items)))
            self.state.set_current(row)
            self.stack.setCurrentWidget(self.loupe)
            self.loupe.show_row(row)
            self.loupe.setFocus()
        elif name == "grid":
            self._fill_grid()
            self.stack.setCurrentWidget(self.grid)
            self.grid.list.setFocus()
        elif name == "compare":
            self.stack.setCurrentWidget(self.compare)
            self.compare.setFocus()
        else:
            self.stack.setCurrentWidget(self.map)
            self.map.setFocus()
        self.view_actions[name].setChecked(True)
        if name in ("map", "grid"):
            self.decide(self.library.set_view, view=name)

    def _set_collection(self, rows: list[int] | None, title: str) -> None:
        """What the grid shows from now on (None: every picture); shown at once when the grid is up."""
        self._collection = (None if rows is None else [int(r) for r in rows], title)
        if self.current_view() == "grid":
            self._fill_grid()

    def _fill_grid(self) -> None:
        rows, title = self._collection
        if rows is None:
            rows = list(range(len(self.result.items))) if self.result is not None else []
        self.grid.show_rows(rows, title)

    def _views_read_qualities(self, vectors: np.ndarray | None = None) -> None:
        """The loupe (its information panel) and the grid (sort by quality) read the measured qualities, after an
        analysis (with the vectors, for sort by similarity) or a duplicate search (which measures them)."""
        assert self.result is not None and self.analysis is not None
        qualities = self.result.qualities()
        self.loupe.set_state(self.state, self.result.paths, [i.kind for i in self.result.items],
                             group_of=self.library.group_name_of, outlier_scores=self.analysis.outlier_scores,
                             qualities=qualities)
        scores = np.array([q.score if q is not None and q.readable else np.nan for q in qualities], float)
        self.grid.set_sort(self.grid.sort_box.currentData() or "order", vectors=vectors, scores=scores)

    def _compare_set_changed(self, index: int) -> None:
        if self.result is not None and self.result.similar_sets and index < len(self.result.similar_sets):
            self.culling.list.setCurrentRow(index)

    def open_loupe(self, index: int) -> None:
        """A double-click on the map (or Open in Loupe): the picture large, ←/→ through its collection."""
        if self.result is None or self.analysis is None:
            return
        self.state.set_current(index)
        self.show_view("loupe")

    # -- filters -----------------------------------------------------------------------------------
    def filter_chosen(self, f: MarkFilter) -> None:
        """The filter bar changed: the library filters (and remembers it with the view)."""
        self.decide(self.library.set_filter, f)

    def filter_changed(self, f: MarkFilter) -> None:
        """The filter (or a mark under an active filter) changed what is shown: the map and grid follow."""
        shown = self.state.shown() if f.active else None
        self.map.set_filtered(None if shown is None else ~shown)
        n = len(self.state.paths)
        self.filter_bar.show_count(int(shown.sum()) if shown is not None else n, n)
        if f.active:
            self.idle(f"Showing {int(shown.sum()):,} of {n:,}: {f.describe()}")
        elif self._filtered:
            self.idle(f"Filter off: all {n:,} shown")
        self._filtered = f.active

    def read_metadata(self) -> None:
        """Read capture dates and cameras (EXIF headers) for the filter bar, on the worker thread."""
        if self.result is not None and not self.busy():
            self.run_job(self._try(self.library.metadata_job))

    # -- marks, selection, undo --------------------------------------------------------------------
    def select_all(self) -> None:
        """Everything the current view shows: the grid's pictures, or the map's (not hidden or filtered out)."""
        if self.current_view() == "grid":
            self.state.set_selection(self.grid.rows())
        elif len(self.map.coords):
            self.map.set_selection(np.flatnonzero(self.map.shown_mask()).tolist())

    def mark_targets(self) -> list[int]:
        """The rows the Photo menu acts on: the picture in the loupe when it is shown, else the selection."""
        view = self.current_view()
        if view in ("loupe", "compare"):  # the picture in view, not whatever is selected elsewhere
            return [self.state.current] if self.state.current >= 0 else []
        chosen = self.state.selection
        if view == "grid":  # what the grid shows (a group, search results), never the rest of the library
            return sorted(chosen & set(self.grid.rows()))
        if self.state.filter.active:
            shown = self.state.shown()
            return sorted(r for r in chosen if shown[r])
        return sorted(chosen)

    def marks_changed(self, _rows: list[int]) -> None:
        """Badges on the map follow the marks (the grid, loupe and compare observe the state themselves)."""
        if self.result is not None and len(self.state.paths) == len(self.map.coords):
            self.map.set_marks(*self.state.mark_arrays())
            if self.state.filter.active:  # a reject under "not rejected" leaves the map at once
                self.filter_changed(self.state.filter)

    def undo(self) -> None:
        text = self.decide(self.library.undo)
        if text:
            self.idle(f"Undid: {text}")

    def redo(self) -> None:
        text = self.decide(self.library.redo)
        if text:
            self.idle(f"Redid: {text}")

    def update_undo_actions(self) -> None:
        history = self.library.history
        self.act_undo.setEnabled(history.undo_text is not None)
        self.act_undo.setText(f"Undo {history.undo_text}" if history.undo_text else "Undo")
        self.act_redo.setEnabled(history.redo_text is not None)
        self.act_redo.setText(f"Redo {history.redo_text}" if history.redo_text else "Redo")

    def update_actions(self) -> None:
        busy = self.busy()
        has_map = self.analysis is not None
        self.act_analyze.setEnabled(bool(self.folders) and not busy)
        self.act_cancel.setEnabled(busy)
        for a in (self.act_fit, self.act_outliers, self.act_tidy, self.act_select_all):
            a.setEnabled(has_map)
        self.act_save_as.setEnabled(self.library.catalogue is not None or bool(self.folders))
        self.act_export.setEnabled(has_map and not busy)  # a job may be changing the document
        self.act_export_groups.setEnabled(has_map and not busy)
        self.act_undo_export.setEnabled(self.library.last_export is not None and not busy)
        self.act_more.setEnabled(has_map and len(self.map.selected) == 1)
        self.act_new_group.setEnabled(has_map and bool(self.map.selected))
        self.act_zoom_sel.setEnabled(has_map and bool(self.map.selected))
        self.search_box.setEnabled(has_map)
        self.act_find_dups.setEnabled(has_map and not busy)
        has_sets = self.result is not None and bool(self.result.similar_sets)
        self.act_collapse.setEnabled(has_sets)
        self.act_make_best.setEnabled(has_sets and self._set_of_selection() is not None)
        self.photo_menu.set_enabled(has_map)
        self.update_undo_actions()

    def _selection_changed(self) -> None:
        """The map's selection changed (a click, a lasso, a group row): the shared state follows."""
        self.state.set_selection(self.map.selected)
        self._show_selection()

    def state_selection_changed(self, rows: frozenset[int]) -> None:
        """The selection changed (in any view): the map follows, and one picture chosen is the picture the loupe
        opens and the keys mark there (never one an earlier view left current)."""
        if set(rows) != self.map.selected:
            self.map.set_selection(rows)
        if len(rows) == 1:
            self.state.set_current(next(iter(rows)))

    def _show_selection(self) -> None:
        n = len(self.map.selected)
        self.update_actions()
        if n == 1 and self.result is not None:
            path = self.result.items[next(iter(self.map.selected))].path
            self.selection_label.setText(printable(Path(path).name))
            self.selection_label.setToolTip(plain_tip(path))
        else:
            self.selection_label.setText(f"{n:,} selected" if n else "")
            self.selection_label.setToolTip("")

    def _map_menu(self, pos: Any) -> None:
        """Right-click on the map: act on the item under the pointer (selecting it first)."""
        if self.result is None:
            return
        index = self.map.item_at(pos)  # anywhere on a thumbnail, or on a dot
        if index is not None and index not in self.map.selected:
            self.map.set_selection({index})
        self._item_menu(sorted(self.map.selected), self.map.mapToGlobal(pos))

    def _item_menu(self, rows: list[int], global_pos: Any) -> None:
        """The same menu on the map and in the grid, for ``rows`` (already the selection)."""
        if self.result is None:
            return
        if set(rows) != set(self.state.selection):
            self.state.set_selection(rows)
        menu = QMenu(self)
        if len(rows) == 1:
            index = rows[0]
            menu.addAction("Open in Loupe", lambda: self.open_loupe(index))
            menu.addAction("More Like This", self.more_like_this)
            menu.addAction("Reveal in File Manager", lambda: reveal_in_file_manager(self.result.items[index].path))
            found = self.library.set_of(index)
            if found is not None:
                number = found[0]
                menu.addAction(self.act_make_best)
                menu.addAction("Compare This Set", lambda: self._compare_set(number))
                if self.act_collapse.isChecked():
                    opened = number in self._expanded
                    menu.addAction("Collapse This Set" if opened else "Expand This Set",
                                   lambda: self.toggle_set(number, not opened))
        if rows:
            menu.addMenu(self.photo_menu)
            menu.addAction(self.act_new_group)
            if self.current_view() == "map":
                menu.addAction(self.act_zoom_sel)
            else:
                menu.addAction("Show on the Map", lambda: (self.show_view("map"), self.map.zoom_to(rows)))
        if self.current_view() == "map":
            menu.addAction(self.act_fit)
        menu.exec(global_pos)

    # -- groups ------------------------------------------------------------------------------------
    def group_activated(self, cid: int) -> None:
        """A row of the groups panel was clicked (a group, a sub-group or "No group"): select its members on the
        map and zoom to them; the grid shows them."""
        if self.analysis is None:
            return
        members = self.library.members(cid).tolist()
        self._set_collection(members, self.library.group_title(cid))
        self.map.set_selection(members)
        if members:
            self.map.zoom_to(members)
        sub = next((c for c in self.analysis.subclusters if c.id == cid), None)
        if sub is not None and sub.parent is not None:
            self.selection_label.setText(
                f"sub-group of {self.analysis.cluster(sub.parent).name}: {len(members):,} items")

    def merge_groups(self, ids: list[int]) -> None:
        if self.analysis is not None:
            self.decide(self.library.merge_groups, ids)

    def new_group_from_selection(self) -> None:
        if self.analysis is not None and self.map.selected:
            self.decide(self.library.new_group, sorted(self.map.selected))

    def move_rows_to(self, cid: int, rows: list[int]) -> None:
        """Move ``rows`` into the top-level group ``cid`` (a drop from the grid, or "Move selected items here")."""
        if self.analysis is not None and rows:
            self.decide(self.library.move_rows, rows, cid)

    def toggle_outliers(self, on: bool) -> None:
        if self.analysis is None:
            return
        self.map.set_highlight(self.analysis.outliers if on else None)
        if on:
            self.idle(f"{int(self.analysis.outliers.sum())} outliers highlighted")

    # -- search ------------------------------------------------------------------------------------
    def search(self) -> None:
        query = self.search_box.text().strip()
        if not query:
            self.clear_search()
            return
        if self.result is not None and not self.busy():
            self.run_job(self._try(self.library.search_job, query, SEARCH_HITS),
                         lambda ranking: self._show_ranking(ranking, f"“{query}”"))

    def more_like_this(self) -> None:
        if self.result is None or len(self.map.selected) != 1:
            return
        i = next(iter(self.map.selected))
        name = printable(Path(self.result.items[i].path).name)
        self._show_ranking(self.library.similar(i, top=SEARCH_HITS), f"like {name}")

    def _show_ranking(self, ranking: Ranking, what: str) -> None:
        assert self.result is not None
        self._last_ranking = ranking
        self.act_outliers.setChecked(False)
        mask = np.zeros(len(self.result.items), bool)
        mask[ranking.order] = True
        self.map.scores = ranking.scores
        self.map.set_highlight(mask)
        self.hits.clear()
        for i, score in ranking.top(SEARCH_HITS):
            row = QListWidgetItem(f"{score:.2f}  {printable(Path(self.result.items[i].path).name)}")
            row.setData(Qt.ItemDataRole.UserRole, i)
            row.setToolTip(plain_tip(self.result.items[i].path))
            self.hits.addItem(row)
        self._set_collection(list(ranking.order), f"Best matches for {what}")
        self.docks["Search Results"].setWindowTitle(f"Search Results: {what}")
        self.docks["Search Results"].show()
        self.docks["Search Results"].raise_()
        self.idle(f"{len(ranking.order)} best matches for {what} highlighted")

    def clear_search(self) -> None:
        if self._last_ranking is not None and not self.busy():
            self.idle("Search cleared")
        self._last_ranking = None
        self.map.scores = None
        self.map.set_highlight(self.analysis.outliers if self.act_outliers.isChecked() and self.analysis else None)
        self.hits.clear()
        self.docks["Search Results"].hide()  # an empty results dock is only in the way
        if self._collection[1].startswith("Best matches"):
            self._set_collection(None, "All pictures")

    def _hit_activated(self, row: QListWidgetItem) -> None:
        i = row.data(Qt.ItemDataRole.UserRole)
        self.map.set_selection({i})
        self.map.zoom_to([i])

    # -- culling -----------------------------------------------------------------------------------
    def find_duplicates(self, then_compare: bool = False) -> None:
        """Near-duplicates and bursts on the worker thread; then the panel, and the map collapsed (or, asked from
        the Compare view, the first set side by side)."""
        if self.result is not None and not self.busy():
            self.run_job(self._try(self.library.duplicates_job),
                         lambda sets: self._duplicates_found(sets, then_compare))

    def _duplicates_found(self, sets: list[Any], then_compare: bool = False) -> None:
        self.compare.show_sets(sets, self.result.paths, self.state)
        self.docks["Duplicates and Bursts"].show()
        self.docks["Duplicates and Bursts"].raise_()
        self.act_collapse.setChecked(bool(sets))
        self._expanded.clear()
        self.show_collapsed()
        self.idle(f"Found {len(sets)} sets of near-duplicates or bursts" + (
            " · C compares them side by side" if sets else ""))
        if then_compare and sets:
            self.show_view("compare")

    def show_collapsed(self, *_args: Any) -> None:
        """Each set as its best frame with a count, except the sets the user opened (``_expanded``)."""
        sets = self.result.similar_sets if self.result is not None else None
        if not sets or not self.act_collapse.isChecked():
            self.map.set_collapsed(None, {})
            return
        closed = [s for i, s in enumerate(sets) if i not in self._expanded]
        self.map.set_collapsed(hidden_by_sets(closed, len(self.result.items)), {s.best: len(s.members) for s in closed})

    def toggle_set(self, index: int, expanded: bool) -> None:
        (self._expanded.add if expanded else self._expanded.discard)(index)
        self.show_collapsed()

    def _compare_set(self, number: int) -> None:
        if self.result is not None and self.result.similar_sets:
            self.compare.show_set(number)
            self.show_view("compare")

    def _set_activated(self, index: int) -> None:
        """A row of the panel: open that set on the map (to compare its frames) and select them."""
        if self.result is None or not self.result.similar_sets or index >= len(self.result.similar_sets):
            return
        s = self.result.similar_sets[index]
        self._set_collection(s.members, f"{'Burst' if s.kind == 'burst' else 'Near-duplicates'} of {len(s.members)}")
        if self.current_view() == "compare":
            if self.compare.set_index != index:
                self.compare.show_set(index)
            return
        self.toggle_set(index, True)
        self.map.set_selection(s.members)
        self.map.zoom_to(s.members)
        self._selection_changed()

    def _set_of_selection(self) -> Any:
        if self.result is None or not self.result.similar_sets or len(self.map.selected) != 1:
            return None
        found = self.library.set_of(next(iter(self.map.selected)))
        return None if found is None else found[1]

    def make_best_frame(self) -> None:
        """The selected picture becomes its set's best frame (an undoable decision)."""
        if len(self.map.selected) == 1:
            self.choose_best(next(iter(self.map.selected)))

    def choose_best(self, row: int) -> None:
        if self.decide(self.library.choose_best, row):
            self.idle(f"{Path(self.result.items[row].path).name} is now the best frame of its set")

    def changeEvent(self, event: Any) -> None:  # noqa: N802
        """The loupe's full screen (F) is the picture alone: menus, toolbars, panels and the status bar go, and
        come back as they were when it ends."""
        super().changeEvent(event)  # type: ignore[misc]
        if event.type() != QEvent.Type.WindowStateChange:
            return
        if self.isFullScreen() and self.current_view() == "loupe" and self._chrome is None:
            self._chrome = self.saveState()
            for bar in (self.menuBar(), self.statusBar(), *self.findChildren(QToolBar), *self.docks.values()):
                bar.hide()
        elif not self.isFullScreen() and self._chrome is not None:
            state, self._chrome = self._chrome, None
            self.menuBar().show()
            self.statusBar().show()
            self.restoreState(state)
