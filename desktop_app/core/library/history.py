"""Undo and redo over the user's decisions, saved as they happen.

``History.commit(change)`` is the one door every decision goes through: the catalogue writes it (one transaction)
and only then is it applied in memory — a disk that refuses means the decision was not made, and the user is told.
``undo``/``redo`` do the same with a change's ``before``/``after`` values. Without a catalogue (a script, the
command line on a results document) the history lives in memory only.
"""

from __future__ import annotations

from psygnal import Signal

from desktop_app.core.library.catalogue import HISTORY_LIMIT, Catalogue
from desktop_app.core.library.decisions import Change, Decisions


class History:
    """Changes done (newest last) and undone. Signals:

    * ``applied(change, undone)`` — a change was made, undone (``undone`` True) or redone: its rows are in memory;
    * ``changed()`` — what Undo and Redo would do changed.
    """

    applied = Signal(object, bool)
    changed = Signal()

    def __init__(self, decisions: Decisions, catalogue: Catalogue | None = None, limit: int = HISTORY_LIMIT) -> None:
        self.decisions = decisions
        self.catalogue = catalogue
        self.limit = limit
        # (sequence number, text, the change — None until it is needed: read from the catalogue on undo or redo)
        self._done: list[tuple[int, str, Change | None]] = []
        self._undone: list[tuple[int, str, Change | None]] = []
        self._next = 1  # sequence numbers without a catalogue
        if catalogue is not None:
            for seq, text, undone in catalogue.history():
                (self._undone if undone else self._done).append((seq, text, None))
            self._undone.reverse()  # the next redo is the oldest undone change

    def commit(self, change: Change) -> bool:
        """Make ``change`` (saved first, then applied); False when it changes nothing."""
        if not change.edits:
            return False
        if self.catalogue is not None:
            seq = self.catalogue.commit(change)
        else:
            seq, self._next = self._next, self._next + 1
        self.decisions.apply(change.edits, "after")
        self._done.append((seq, change.text, change))
        del self._done[:-self.limit]
        self._undone.clear()
        self.applied.emit(change, False)
        self.changed.emit()
        return True

    def _step(self, steps: list[tuple[int, str, Change | None]]) -> tuple[int, Change] | None:
        """The newest step of ``steps`` with its change (read from the catalogue if need be); a step that cannot be
        read is dropped and the next one is taken."""
        while steps:
            seq, _text, change = steps[-1]
            if change is None and self.catalogue is not None:
                change = self.catalogue.change(seq)
            if change is not None:
                return seq, change
            steps.pop()
            self.changed.emit()
        return None

    def undo(self) -> str | None:
        """Undo the newest change; returns its text (None: nothing to undo)."""
        return self._move(self._done, self._undone, undo=True)

    def redo(self) -> str | None:
        """Redo the change undone last; returns its text (None: nothing to redo)."""
        return self._move(self._undone, self._done, undo=False)

    def _move(self, source: list[tuple[int, str, Change | None]], target: list[tuple[int, str, Change | None]],
              undo: bool) -> str | None:
        """The newest step of ``source`` saved as undone (or redone), applied in memory, and moved to ``target``."""
        step = self._step(source)
        if step is None:
            return None
        seq, change = step
        if self.catalogue is not None:
            self.catalogue.step(seq, change, undo=undo)
        source.pop()
        self.decisions.apply(change.edits, "before" if undo else "after")
        target.append((seq, change.text, change))
        self.applied.emit(change, undo)
        self.changed.emit()
        return change.text

    @property
    def undo_text(self) -> str | None:
        return self._done[-1][1] if self._done else None

    @property
    def redo_text(self) -> str | None:
        return self._undone[-1][1] if self._undone else None

    def clear(self) -> None:
        """Forget the history (the decisions stay)."""
        if self.catalogue is not None:
            self.catalogue.clear_history()
        self._done.clear()
        self._undone.clear()
        self.changed.emit()
