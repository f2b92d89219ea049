"""The shared, evented state of an open library: what the map, the grid, the loupe, compare and the panels all
show and change — the selection, the marks (ratings, flags, labels), the filter, the set being compared —
with the user's marks as undoable changes saved through the library's ``History``.

Qt-free (psygnal signals, the way napari's models are evented): every view observes the same ``LibraryState``
and changes it through its methods, so selecting in the grid selects on the map, and a rating given in the loupe
shows as a badge on the map, without the views knowing about each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from psygnal import Signal

from desktop_app.core.library.decisions import Change, Decisions
from desktop_app.core.library.history import History
from desktop_app.core.metadata.photo_meta import PhotoMeta
from desktop_app.core.review.marks import LABEL_KEYS, Mark, MarkFilter, Marks, apply_marks


def disconnect_all(connections: list[tuple[Any, Callable[..., Any]]]) -> None:
    """Disconnect each (signal, slot) a view connected to the state (a view that is reset or goes away)."""
    for signal, slot in connections:
        try:
            signal.disconnect(slot)
        except (ValueError, RuntimeError):
            pass
    connections.clear()



class LibraryState:
    """Rows are the results document's items (``paths[i]``). Signals carry what changed:

    * ``selectionChanged(frozenset[int])`` — the selected rows;
    * ``marksChanged(list[int])`` — rows whose rating, flag or label changed;
    * ``filterChanged(MarkFilter)`` — the filter; ``shown()`` is the mask it leaves;
    * ``currentChanged(int)`` — the row the loupe / compare look at (-1: none);
    * ``orderChanged(list[int])`` — the rows of the grid in its order (what ←/→ walk through).
    """

    selectionChanged = Signal(object)
    marksChanged = Signal(object)
    filterChanged = Signal(object)
    currentChanged = Signal(int)
    orderChanged = Signal(object)

    def __init__(self, paths: Sequence[str] = (), marks: Marks | None = None,
                 metas: Sequence[PhotoMeta] | None = None, history: History | None = None) -> None:
        self.paths: list[str] = list(paths)
        # The library's history (its catalogue saves every mark); a state made alone keeps its own, in memory.
        self.history = history if history is not None else History(Decisions(marks))
        self.metas: list[PhotoMeta] = list(metas) if metas is not None else []
        self.history.applied.connect(self._applied)
        self._selection: frozenset[int] = frozenset()
        self._filter = MarkFilter()
        self._current = -1
        self._order: list[int] = []
        self._row_of: dict[str, int] | None = None  # path -> row, made on first need (see _rows)
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # marks by row, kept up to date

    # -- the library -------------------------------------------------------------------------------
    def reset(self, paths: Sequence[str], metas: Sequence[PhotoMeta] | None = None) -> None:
        """A new analysis: rows change, marks (by path) stay; selection and current row are cleared."""
        self.paths = list(paths)
        self._row_of = None
        self.metas = list(metas) if metas is not None else []
        self._arrays = None
        self.set_selection(())
        self.set_current(-1)
        self.set_order([])
        self.marksChanged.emit(list(range(len(self.paths))))

    @property
    def _rows(self) -> dict[str, int]:
        """Each path's row, made when first asked (a mark, a search by path), not on every new analysis: a million
        paths take a third of a second, and opening a library asks for none."""
        if self._row_of is None:
            self._row_of = {p: i for i, p in enumerate(self.paths)}
        return self._row_of

    def row(self, path: str) -> int | None:
        return self._rows.get(path)

    # -- selection, current row, order --------------------------------------------------------------
    @property
    def selection(self) -> frozenset[int]:
        return self._selection

    def set_selection(self, rows: Iterable[int]) -> None:
        chosen = frozenset(int(r) for r in rows)
        if chosen != self._selection:
            self._selection = chosen
            self.selectionChanged.emit(chosen)

    @property
    def current(self) -> int:
        return self._current

    def set_current(self, row: int) -> None:
        if row != self._current:
            self._current = int(row)
            self.currentChanged.emit(self._current)

    @property
    def order(self) -> list[int]:
        return list(self._order)

    def set_order(self, rows: Sequence[int]) -> None:
        self._order = [int(r) for r in rows]
        self.orderChanged.emit(self.order)

    def step(self, delta: int) -> int:
        """Move the current row ``delta`` places through the order (clamped); returns the new current row."""
        if not self._order:
            return self._current
        at = self._order.index(self._current) if self._current in self._order else -1
        target = self._order[max(0, min(len(self._order) - 1, at + delta if at >= 0 else 0))]
        self.set_current(target)
        return target

    # -- filter ------------------------------------------------------------------------------------
    @property
    def filter(self) -> MarkFilter:
        return self._filter

    def set_filter(self, f: MarkFilter) -> None:
        if f != self._filter:
            self._filter = f
            self.filterChanged.emit(f)

    def shown(self) -> np.ndarray:
        """Mask of rows the filter leaves."""
        if not self._filter.active:
            return np.ones(len(self.paths), bool)
        return self._filter.mask(self.paths, self.marks, self.metas or None, arrays=self.mark_arrays())

    def mark_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ratings, flags, label indices) by row (``Marks.arrays``), kept up to date row by row as marks change:
        a key press at 100k pictures costs the rows it marks, not a pass over the library."""
        if self._arrays is None:
            self._arrays = self.marks.arrays(self.paths)
        return self._arrays

    @property
    def marks(self) -> Marks:
        """Every picture's marks (the library's decisions)."""
        return self.history.decisions.marks

    # -- marks (undoable, saved as they are made) --------------------------------------------------
    def rate(self, rows: Iterable[int], stars: int) -> None:
        self._mark(rows, f"Rate ★{stars}" if stars else "Clear Rating", rating=stars)

    def flag(self, rows: Iterable[int], flag: str | None) -> None:
        self._mark(rows, {"pick": "Pick", "reject": "Reject", None: "Unflag"}[flag], flag=flag)

    def label(self, rows: Iterable[int], label: str | None) -> None:
        self._mark(rows, f"Label {label}" if label else "Clear Label", label=label)

    def press(self, rows: Iterable[int], key: str) -> bool:
        """What a photographer's key does to ``rows`` — the one rule for the grid, the loupe, compare and the
        Photo menu, as in Lightroom: 0-5 stars, P pick, X reject, U unflag, 6-9 colour labels (the same colour
        again takes the label off). Returns False for any other key."""
        rows = [int(r) for r in rows]
        if not rows or not key:
            return False
        k = key.lower()
        if key in "012345" and len(key) == 1:
            self.rate(rows, int(key))
        elif k in ("p", "x", "u"):
            self.flag(rows, {"p": "pick", "x": "reject", "u": None}[k])
        elif key in LABEL_KEYS:
            self.toggle_label(rows, LABEL_KEYS[key])
        else:
            return False
        return True

    def toggle_label(self, rows: Iterable[int], label: str) -> None:
        """Give ``rows`` the colour ``label``, or take it off when they all have it already (Lightroom's way)."""
        rows = list(rows)
        same = all(self.marks.get(self.paths[r]).label == label for r in rows)
        self.label(rows, None if same else label)

    def _mark(self, rows: Iterable[int], text: str, **change: Any) -> None:
        self.mark_paths([self.paths[r] for r in sorted({int(r) for r in rows})], text, **change)

    def mark_paths(self, paths: Iterable[str], text: str, **change: Any) -> int:
        """Set one part of the marks of pictures given by path (``apply_marks``' keywords) as one undoable change
        called ``text``; returns how many pictures it changed. Rows need not exist (the command line marks a
        library without an analysis)."""
        chosen = list(dict.fromkeys(paths))
        if not chosen:
            return 0
        scratch = Marks()
        for p in chosen:
            scratch.set(p, self.marks.get(p))
        apply_marks(scratch, chosen, **change)
        return self._commit(text, {p: scratch.get(p) for p in chosen})

    def cull(self, best: int, others: Iterable[int]) -> None:
        """Pick ``best`` and reject ``others`` (a duplicate set kept to its best frame) as one change."""
        rejected = [self.paths[int(r)] for r in others if int(r) != best]
        if not rejected:
            return
        after = {p: Mark(self.marks.get(p).rating, "reject", self.marks.get(p).label) for p in rejected}
        picked = self.paths[best]
        after[picked] = Mark(self.marks.get(picked).rating, "pick", self.marks.get(picked).label)
        what = "picture" if len(rejected) == 1 else f"{len(rejected):,} pictures"
        self._commit(f"Reject {what}, Pick the Best Frame", after, count=False)

    def _commit(self, text: str, after: dict[str, Mark], count: bool = True) -> int:
        """One undoable change, by path (it must mean the same pictures after a new analysis renumbers rows);
        returns how many pictures it changed."""
        if count:
            text += " (picture)" if len(after) == 1 else f" ({len(after):,} pictures)"
        change = self.history.decisions.marks_change(text, after)
        self.history.commit(change)
        return len(change.edits)

    def _applied(self, change: Change, _undone: bool) -> None:
        paths = change.mark_paths()
        if paths:
            self._marks_changed(paths)

    def _marks_changed(self, paths: Sequence[str]) -> None:
        rows = [r for r in (self._rows.get(p) for p in paths) if r is not None]
        if self._arrays is not None and rows:
            ratings, flags, labels = self._arrays
            sub = self.marks.arrays([self.paths[r] for r in rows])
            ratings[rows], flags[rows], labels[rows] = sub
        self.marksChanged.emit(rows)  # a view with an active filter re-applies it (a reject may leave the view)

    def replace_marks(self, marks: Marks) -> None:
        """Marks read from sidecars (not a decision: nothing the user did here, so neither saved nor undoable)."""
        self.history.decisions.marks = marks
        self._arrays = None
        self.marksChanged.emit(list(range(len(self.paths))))
