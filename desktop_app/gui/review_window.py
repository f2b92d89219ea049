"""The main window's review side: the four views (map, grid, loupe, compare) and what they share — the
collection the grid shows, the filter, marks and undo, the selection, the right-click menu, duplicate sets and
the loupe's full screen. A mixin of ``MainWindow`` (it uses the window's state, result, docks and jobs), kept apart
so the window's own module stays about the library, the analysis, projects and export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QMenu, QToolBar

from desktop_app.core.analysis.edits import GroupEdits
from desktop_app.core.embedding.pipeline import photo_metas, run_duplicates
from desktop_app.core.progress import CancelToken, ProgressEvent
from desktop_app.core.review.duplicates import hidden_by_sets
from desktop_app.gui.preview import reveal_in_file_manager


class ReviewMixin:
    """Methods of ``MainWindow`` (see there for the attributes they use)."""

    # -- views: map, grid, loupe, compare ------------------------------------------------------------
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
                self._idle("No near-duplicates or bursts in this library: nothing to compare")
            return
        if name == "loupe":
            if self.current_view() != "loupe":
                self._before_loupe = self.current_view() or "map"
            row = self.state.current
            if row < 0 or row >= len(self.result.items):
                chosen = sorted(self.state.selection)
                row = chosen[0] if chosen else (self.grid.rows()[0] if self.grid.rows() else 0)
            if not self.state.order or row not in self.state.order:
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

    def _views_follow_result(self) -> None:
        """A new analysis: every view reads the new rows."""
        assert self.result is not None and self.analysis is not None
        # The grid took the new rows (set_state) before the state announced them; the loupe takes them here.
        self._views_read_qualities(vectors=self.result.vectors)
        self._set_collection(None, "All pictures")
        self._marks_changed([])  # badges on the new map
        self._filter_changed(self.state.filter)  # a filter set before the analysis applies to its rows
        if self.current_view() in ("grid", "loupe", "compare"):
            self.show_view("grid" if self.current_view() != "compare" or not self.result.similar_sets
                           else "compare")

    def _group_name_of(self, row: int) -> str:
        if self.analysis is None or row >= len(self.analysis.labels) or self.analysis.labels[row] < 0:
            return "no group"
        return self.analysis.cluster(int(self.analysis.labels[row])).name

    def _views_read_qualities(self, vectors: np.ndarray | None = None) -> None:
        """The loupe (its information panel) and the grid (sort by quality) read the measured qualities, after an
        analysis (with the vectors, for sort by similarity) or a duplicate search (which measures them)."""
        assert self.result is not None and self.analysis is not None
        qualities = self.result.qualities()
        self.loupe.set_state(self.state, self.result.paths, [i.kind for i in self.result.items],
                             group_of=self._group_name_of, outlier_scores=self.analysis.outlier_scores,
                             qualities=qualities)
        scores = np.array([q.score if q is not None and q.readable else np.nan for q in qualities], float)
        self.grid.set_sort(self.grid.sort_box.currentData() or "order", vectors=vectors, scores=scores)

    def _best_chosen(self, set_index: int, row: int) -> None:
        """Compare made ``row`` the best frame of its set: remembered in the project, as Make Best Frame does."""
        if self.result is None or not self.result.similar_sets:
            return
        self._choose_best(self.result.similar_sets[set_index], row)

    def _compare_set_changed(self, index: int) -> None:
        if self.result is not None and self.result.similar_sets and index < len(self.result.similar_sets):
            self.culling.list.setCurrentRow(index)

    # -- filters --------------------------------------------------------------------------------------
    def _filter_changed(self, f: Any) -> None:
        """The filter bar (or a mark under an active filter) changed what is shown: the map and grid follow."""
        shown = self.state.shown() if f.active else None
        self.map.set_filtered(None if shown is None else ~shown)
        n = len(self.state.paths)
        self.filter_bar.show_count(int(shown.sum()) if shown is not None else n, n)
        if f.active:
            self._idle(f"Showing {int(shown.sum()):,} of {n:,}: {f.describe()}")
        elif self._filtered:
            self._idle(f"Filter off: all {n:,} shown")
        self._filtered = f.active

    def read_metadata(self) -> None:
        """Read capture dates and cameras (EXIF headers) for the filter bar, on the worker thread."""
        if self.result is None or self.busy():
            return
        result = self.result

        def job(token: CancelToken):
            yield ProgressEvent("metadata", 0, None, "reading capture dates and cameras")
            return photo_metas(result)

        self._start(job, self._metadata_read, "Reading dates and cameras")

    def _metadata_read(self, metas: list) -> None:
        if self.result is None or len(metas) != len(self.state.paths):
            return  # a new analysis replaced the library meanwhile
        self.state.metas = list(metas)
        self.filter_bar.set_metadata(metas)
        cameras = len({m.camera for m in metas if m.camera})
        dated = sum(m.taken is not None for m in metas)
        self._idle(f"Read {dated:,} capture dates and {cameras} cameras")

    # -- marks and undo ------------------------------------------------------------------------------
    def select_all(self) -> None:
        """Everything the current view shows: the grid's pictures, or the map's (not hidden or filtered out)."""
        if self.current_view() == "grid":
            self.state.set_selection(self.grid.rows())
        elif len(self.map.coords):
            self.map.set_selection(np.flatnonzero(self.map._shown()).tolist())

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

    def _marks_changed(self, _rows: list[int]) -> None:
        """Badges on the map follow the marks (the grid, loupe and compare observe the state themselves)."""
        if self.result is not None and len(self.state.paths) == len(self.map.coords):
            self.map.set_marks(*self.state.mark_arrays())
            if self.state.filter.active:  # a reject under "not rejected" leaves the map at once
                self._filter_changed(self.state.filter)

    def undo(self) -> None:
        text = self.state.undo_stack.undo()
        if text:
            self._idle(f"Undid: {text}")

    def redo(self) -> None:
        text = self.state.undo_stack.redo()
        if text:
            self._idle(f"Redid: {text}")

    def _update_undo_actions(self) -> None:
        stack = self.state.undo_stack
        self.setWindowModified(not stack.is_clean)  # the title's [*]: unsaved marks or edits
        self.act_undo.setEnabled(stack.undo_text is not None)
        self.act_undo.setText(f"Undo {stack.undo_text}" if stack.undo_text else "Undo")
        self.act_redo.setEnabled(stack.redo_text is not None)
        self.act_redo.setText(f"Redo {stack.redo_text}" if stack.redo_text else "Redo")

    def _selection_changed(self) -> None:
        """The map's selection changed (a click, a lasso, a group row): the shared state follows."""
        self.state.set_selection(self.map.selected)
        self._show_selection()

    def _state_selection_changed(self, rows: frozenset[int]) -> None:
        """Another view (grid, compare) selected: the map follows."""
        if set(rows) != self.map.selected:
            self.map.set_selection(rows)

    def _show_selection(self) -> None:
        n = len(self.map.selected)
        self._update_actions()
        if n == 1 and self.result is not None:
            path = self.result.items[next(iter(self.map.selected))].path
            self.selection_label.setText(Path(path).name)
            self.selection_label.setToolTip(path)
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
            menu.addAction("Open in Loupe", lambda: self._preview(index))
            menu.addAction("More Like This", self.more_like_this)
            menu.addAction("Reveal in File Manager",
                           lambda: reveal_in_file_manager(self.result.items[index].path))
            in_set = self._set_of_selection()
            if in_set is not None:
                menu.addAction(self.act_make_best)
                number = self.result.similar_sets.index(in_set)
                menu.addAction("Compare This Set", lambda: self._compare_set(number))
                if self.act_collapse.isChecked():
                    opened = number in self._expanded
                    menu.addAction("Collapse This Set" if opened else "Expand This Set",
                                   lambda: self._toggle_set(number, not opened))
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

    def _preview(self, index: int) -> None:
        """A double-click on the map (or Open in Loupe): the picture large, ←/→ through its collection."""
        if self.result is None or self.analysis is None:
            return
        self.state.set_current(index)
        self.show_view("loupe")

    def _compare_set(self, number: int) -> None:
        if self.result is not None and self.result.similar_sets:
            self.compare.show_set(number)
            self.show_view("compare")

    # -- culling ------------------------------------------------------------------------------------
    def find_duplicates(self, then_compare: bool = False) -> None:
        """Near-duplicates and bursts on the worker thread; then the panel, and the map collapsed (or, asked from
        the Compare view, the first set side by side)."""
        if self.result is None or self.busy():
            return
        result, picks = self.result, set(self.edits.picks)
        self._start(lambda token: run_duplicates(result, cancel=token, picks=picks),
                    lambda sets: self._duplicates_found(sets, then_compare), "Finding duplicates")

    def _duplicates_found(self, sets: list, then_compare: bool = False) -> None:
        assert self.result is not None
        self.culling.show_sets(sets, self.result.paths)
        self.compare.show_sets(sets, self.result.paths, self.state)
        self._views_read_qualities()
        self._docks["Duplicates and Bursts"].show()
        self._docks["Duplicates and Bursts"].raise_()
        self.act_collapse.setChecked(bool(sets))
        self._expanded.clear()
        self._show_collapsed()
        self._idle(f"Found {len(sets)} sets of near-duplicates or bursts" + (
            " · C compares them side by side" if sets else ""))
        if then_compare and sets:
            self.show_view("compare")

    def _show_collapsed(self) -> None:
        """Each set as its best frame with a count, except the sets the user opened (``_expanded``)."""
        sets = self.result.similar_sets if self.result is not None else None
        if not sets or not self.act_collapse.isChecked():
            self.map.set_collapsed(None, {})
            return
        closed = [s for i, s in enumerate(sets) if i not in self._expanded]
        self.map.set_collapsed(hidden_by_sets(closed, len(self.result.items)), {s.best: len(s.members) for s in closed})

    def _toggle_set(self, index: int, expanded: bool) -> None:
        (self._expanded.add if expanded else self._expanded.discard)(index)
        self._show_collapsed()

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
        self._toggle_set(index, True)
        self.map.set_selection(s.members)
        self.map.zoom_to(s.members)
        self._selection_changed()

    def _set_of_selection(self) -> Any:
        if self.result is None or not self.result.similar_sets or len(self.map.selected) != 1:
            return None
        row = next(iter(self.map.selected))
        return next((s for s in self.result.similar_sets if row in s.members), None)

    def make_best_frame(self) -> None:
        """The selected picture becomes its set's best frame (remembered in the project)."""
        s = self._set_of_selection()
        if s is None or self.result is None:
            return
        self._choose_best(s, next(iter(self.map.selected)))

    def _choose_best(self, s: Any, row: int) -> None:
        """``row`` becomes the best frame of set ``s``: an undoable edit, remembered in the project."""
        paths = self._paths()
        members = {paths[m] for m in s.members}
        name = Path(paths[row]).name

        def change(e: GroupEdits) -> None:
            e.picks -= members
            e.picks.add(paths[row])

        self._edit_groups(f"Make {name} the Best Frame", change)
        self._idle(f"{name} is now the best frame of its set")

    def changeEvent(self, event) -> None:  # noqa: N802
        """The loupe's full screen (F) is the picture alone: menus, toolbars, panels and the status bar go, and
        come back as they were when it ends."""
        super().changeEvent(event)
        if event.type() != QEvent.Type.WindowStateChange:
            return
        if self.isFullScreen() and self.current_view() == "loupe" and self._chrome is None:
            self._chrome = self.saveState()
            for bar in (self.menuBar(), self.statusBar(), *self.findChildren(QToolBar), *self._docks.values()):
                bar.hide()
        elif not self.isFullScreen() and self._chrome is not None:
            state, self._chrome = self._chrome, None
            self.menuBar().show()
            self.statusBar().show()
            self.restoreState(state)

