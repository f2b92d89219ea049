"""The shared, evented state of an open library: what the map, the grid, the loupe, compare and the panels all
show and change — the selection, the marks (ratings, flags, labels), the filter, the set being compared —
with the user's changes as undoable commands.

Qt-free (psygnal signals, the way napari's models are evented): every view observes the same ``LibraryState``
and changes it through its methods, so selecting in the grid selects on the map, and a rating given in the loupe
shows as a badge on the map, without the views knowing about each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from desktop_app.core.metadata.photo_meta import PhotoMeta
from desktop_app.core.review.marks import MarkFilter, Marks, apply_marks

UNDO_LIMIT = 200


@dataclass
class Command:
    """One user action: ``text`` for the Edit menu ("Undo Rate 3 pictures ★4"), ``redo`` does it, ``undo``
    takes it back."""

    text: str
    redo: Callable[[], None]
    undo: Callable[[], None]


class UndoStack:
    """Commands done, newest last; ``changed`` fires after every push, undo and redo."""

    changed = Signal()

    def __init__(self, limit: int = UNDO_LIMIT) -> None:
        self.limit = limit
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._clean: Command | None = None  # the newest command when the work was last saved (None: none yet)

    def push(self, command: Command) -> None:
        """Do ``command`` and remember it (a new action forgets what was undone)."""
        command.redo()
        self._done.append(command)
        del self._done[:-self.limit]
        self._undone.clear()
        self.changed.emit()

    def undo(self) -> str | None:
        """Undo the newest command; returns its text (None: nothing to undo)."""
        if not self._done:
            return None
        command = self._done.pop()
        command.undo()
        self._undone.append(command)
        self.changed.emit()
        return command.text

    def redo(self) -> str | None:
        if not self._undone:
            return None
        command = self._undone.pop()
        command.redo()
        self._done.append(command)
        self.changed.emit()
        return command.text

    def set_clean(self) -> None:
        """The work as it is now is saved (a project written or opened)."""
        self._clean = self._done[-1] if self._done else None
        self.changed.emit()

    @property
    def is_clean(self) -> bool:
        """Nothing done (or undone) since ``set_clean``: closing loses nothing."""
        return (self._done[-1] if self._done else None) is self._clean

    @property
    def undo_text(self) -> str | None:
        return self._done[-1].text if self._done else None

    @property
    def redo_text(self) -> str | None:
        return self._undone[-1].text if self._undone else None

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._clean = None
        self.changed.emit()


def disconnect_all(connections: list[tuple[object, Callable]]) -> None:
    """Disconnect each (signal, slot) a view connected to the state (a view that is reset or goes away)."""
    for signal, slot in connections:
        try:
            signal.disconnect(slot)  # type: ignore[attr-defined]
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
                 metas: Sequence[PhotoMeta] | None = None, undo: UndoStack | None = None) -> None:
        self.paths: list[str] = list(paths)
        self.marks = marks if marks is not None else Marks()
        self.metas: list[PhotoMeta] = list(metas) if metas is not None else []
        self.undo_stack = undo if undo is not None else UndoStack()
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

    # -- marks (undoable) --------------------------------------------------------------------------
    def rate(self, rows: Iterable[int], stars: int) -> None:
        self._mark(rows, f"Rate ★{stars}" if stars else "Clear Rating", rating=stars)

    def flag(self, rows: Iterable[int], flag: str | None) -> None:
        self._mark(rows, {"pick": "Pick", "reject": "Reject", None: "Unflag"}[flag], flag=flag)

    def label(self, rows: Iterable[int], label: str | None) -> None:
        self._mark(rows, f"Label {label}" if label else "Clear Label", label=label)

    def _mark(self, rows: Iterable[int], text: str, **change) -> None:
        rows = sorted({int(r) for r in rows})
        if rows:
            self._command(text, [self.paths[r] for r in rows], lambda paths: apply_marks(self.marks, paths, **change))

    def cull(self, best: int, others: Iterable[int]) -> None:
        """Pick ``best`` and reject ``others`` (a duplicate set kept to its best frame) as one command."""
        others = [int(r) for r in others if int(r) != best]
        if not others:
            return
        rejected, picked = [self.paths[r] for r in others], self.paths[best]

        def change(_paths: list[str]) -> None:
            apply_marks(self.marks, rejected, flag="reject")
            apply_marks(self.marks, [picked], flag="pick")

        what = "picture" if len(rejected) == 1 else f"{len(rejected):,} pictures"
        self._command(f"Reject {what}, Pick the Best Frame", [*rejected, picked], change)

    def _command(self, text: str, paths: list[str], change: Callable[[list[str]], None]) -> None:
        """``change(paths)`` as one undoable command. Paths, not rows: the command must still mean the same
        pictures after a new analysis renumbers the rows."""
        before = [self.marks.get(p) for p in paths]
        decided_before = set(self.marks.decided)

        def redo() -> None:
            change(paths)
            self.marks.decided.update(paths)
            self._marks_changed(paths)

        def undo() -> None:
            for p, m in zip(paths, before):
                self.marks.set(p, m)
            self.marks.decided = set(decided_before)
            self._marks_changed(paths)

        what = "" if text.endswith("Frame") else " (picture)" if len(paths) == 1 else f" ({len(paths):,} pictures)"
        self.undo_stack.push(Command(text + what, redo, undo))

    def _marks_changed(self, paths: Sequence[str]) -> None:
        rows = [r for r in (self._rows.get(p) for p in paths) if r is not None]
        if self._arrays is not None and rows:
            ratings, flags, labels = self._arrays
            sub = self.marks.arrays([self.paths[r] for r in rows])
            ratings[rows], flags[rows], labels[rows] = sub
        self.marksChanged.emit(rows)  # a view with an active filter re-applies it (a reject may leave the view)

    def replace_marks(self, marks: Marks) -> None:
        """Marks read from a project or from sidecars (not undoable: nothing the user did)."""
        self.marks = marks
        self._arrays = None
        self.marksChanged.emit(list(range(len(self.paths))))
