"""The user's decisions as data: every change a user makes (a rating, a rename, a merge, a best frame) is a
``Change``: a list of ``Edit`` rows, each saying what one key held before and holds after.

One shape for everything makes three things simple and the same for every kind of decision:

* **saving** — the catalogue stores the current value of each (kind, key) as a row; a change writes its rows in
  one transaction (``catalogue.Catalogue.commit``);
* **undo and redo** — undo writes each edit's ``before``, redo its ``after``; the history is a list of changes,
  kept in the catalogue too, so it survives a restart;
* **in memory** — ``Decisions`` applies the same rows to the ``Marks`` and ``GroupEdits`` the views and the
  analysis read.

Kinds and their values (JSON; ``None`` = no row):

=========  =====================  =============================================================================
kind       key                    value
=========  =====================  =============================================================================
mark       picture path           ``{"rating": 0-5, "flag": "pick"|"reject"|null, "label": str|null,
                                  "decided": bool}`` (``decided``: the user marked it here; see ``Marks``)
assign     item path              the name of the group the user put it in (moves, merges, new groups)
hidden     group name             ``true``: the group is hidden on the map
pick       picture path           ``true``: the user made it the best frame of its duplicate/burst set
rename     sequence number        ``{"name": str, "members": [paths]}`` (renames apply in sequence order)
=========  =====================  =============================================================================
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from desktop_app.core.analysis.edits import GroupEdits
from desktop_app.core.review.marks import COLOUR_LABELS, FLAGS, Mark, Marks

KINDS = ("mark", "assign", "hidden", "pick", "rename")
GROUP_KINDS = frozenset({"assign", "hidden", "pick", "rename"})


@dataclass(frozen=True)
class Edit:
    """One key of one kind: its value before and after the change (None: absent)."""

    kind: str
    key: str
    before: Any
    after: Any

    def to_json(self) -> list[Any]:
        return [self.kind, self.key, self.before, self.after]

    @classmethod
    def from_json(cls, data: Any) -> Edit:
        """Read ``to_json`` back; ``ValueError`` unless both values are of the kind's shape (a damaged history step
        is left out whole, never half applied)."""
        if not isinstance(data, list) or len(data) != 4:
            raise ValueError("not a decision")
        kind, key, before, after = data
        if not (valid(kind, key, before) and valid(kind, key, after)):
            raise ValueError(f"not a {kind} decision")
        return cls(kind, key, before, after)


def valid(kind: Any, key: Any, value: Any) -> bool:
    """Whether ``value`` (None: no row) is what a decision of ``kind`` holds (see the table above)."""
    if kind not in KINDS or not isinstance(key, str):
        return False
    if kind == "rename" and not (key.isdigit() and key.isascii()):
        return False
    if value is None:
        return True
    if kind == "mark":
        return isinstance(value, dict)  # its fields are checked (and dropped if wrong) by mark_from_value
    if kind == "assign":
        return isinstance(value, str)
    if kind in ("hidden", "pick"):
        return value is True
    return (isinstance(value, dict) and isinstance(value.get("name"), str) and isinstance(value.get("members"), list)
            and all(isinstance(m, str) for m in value["members"]))


@dataclass
class Change:
    """One user action, undoable as a whole: ``text`` names it in the Edit menu ("Rate ★4 (3 pictures)")."""

    text: str
    edits: list[Edit] = field(default_factory=list)

    @property
    def kinds(self) -> set[str]:
        return {e.kind for e in self.edits}

    def mark_paths(self) -> list[str]:
        return [e.key for e in self.edits if e.kind == "mark"]


def mark_value(mark: Mark, decided: bool) -> dict[str, Any] | None:
    """The catalogue's value for a picture's marks (None: nothing to keep)."""
    if mark == Mark() and not decided:
        return None
    return {"rating": mark.rating, "flag": mark.flag, "label": mark.label, "decided": decided}


def mark_from_value(value: Any) -> tuple[Mark, bool]:
    """``mark_value`` read back; anything out of range is dropped (a catalogue edited by hand never crashes)."""
    if not isinstance(value, dict):
        return Mark(), False
    rating = value.get("rating")
    rating = rating if isinstance(rating, int) and not isinstance(rating, bool) and 0 <= rating <= 5 else 0
    flag = value.get("flag") if value.get("flag") in FLAGS else None
    label = value.get("label") if value.get("label") in COLOUR_LABELS else None
    return Mark(rating, flag, label), bool(value.get("decided"))


class Decisions:
    """Marks and group edits in memory, changed only by ``apply`` (so memory and catalogue never disagree).

    ``marks`` and ``edits`` are the objects the views and the analysis read; the rename keys keep each rename's
    place in the sequence (``GroupEdits.renames`` is that sequence's values)."""

    def __init__(self, marks: Marks | None = None, edits: GroupEdits | None = None) -> None:
        self.marks = marks if marks is not None else Marks()
        self.edits = edits if edits is not None else GroupEdits()
        self._rename_keys = [_seq_key(i) for i in range(len(self.edits.renames))]

    # -- reading -----------------------------------------------------------------------------------
    def value(self, kind: str, key: str) -> Any:
        """What (kind, key) holds now (None: nothing)."""
        if kind == "mark":
            return mark_value(self.marks.get(key), key in self.marks.decided)
        if kind == "assign":
            return self.edits.assignments.get(key)
        if kind == "hidden":
            return True if key in self.edits.hidden else None
        if kind == "pick":
            return True if key in self.edits.picks else None
        if kind == "rename":
            if key in self._rename_keys:
                name, members = self.edits.renames[self._rename_keys.index(key)]
                return {"name": name, "members": sorted(members)}
            return None
        raise ValueError(f"unknown kind of decision {kind!r}")

    def rows(self) -> Iterator[tuple[str, str, Any]]:
        """Every decision as (kind, key, value): what a new catalogue is filled with."""
        marks = self.marks
        for path in sorted({*marks.rating, *marks.flag, *marks.label, *marks.decided}):
            value = mark_value(marks.get(path), path in marks.decided)
            if value is not None:
                yield "mark", path, value
        for path, name in self.edits.assignments.items():
            yield "assign", path, name
        for name in self.edits.hidden:
            yield "hidden", name, True
        for path in self.edits.picks:
            yield "pick", path, True
        for key, (name, members) in zip(self._rename_keys, self.edits.renames):
            yield "rename", key, {"name": name, "members": sorted(members)}

    # -- changing ----------------------------------------------------------------------------------
    def apply(self, edits: Iterable[Edit], side: str = "after") -> None:
        """Set each edit's ``after`` (or ``before``, for undo) value."""
        renames_touched = False
        for e in edits:
            value = e.after if side == "after" else e.before
            self._set(e.kind, e.key, value)
            renames_touched |= e.kind == "rename"
        if renames_touched:
            self._sort_renames()

    def load(self, rows: Iterable[tuple[str, str, Any]]) -> None:
        """Fill from the catalogue's rows (a library opened)."""
        self.marks = Marks()
        self.edits = GroupEdits()
        self._rename_keys = []
        for kind, key, value in rows:
            if valid(kind, key, value):  # a damaged row is left out, the rest still loads
                self._set(kind, key, value)
        self._sort_renames()

    def _set(self, kind: str, key: str, value: Any) -> None:
        if kind == "mark":
            mark, decided = mark_from_value(value)
            self.marks.set(key, mark)
            (self.marks.decided.add if decided else self.marks.decided.discard)(key)
        elif kind == "assign":
            if isinstance(value, str):
                self.edits.assignments[key] = value
            else:
                self.edits.assignments.pop(key, None)
        elif kind in ("hidden", "pick"):
            chosen = self.edits.hidden if kind == "hidden" else self.edits.picks
            (chosen.add if value else chosen.discard)(key)
        elif kind == "rename":
            if key in self._rename_keys:
                at = self._rename_keys.index(key)
                del self._rename_keys[at]
                del self.edits.renames[at]
            if valid("rename", key, value) and value is not None:
                members = frozenset(value["members"])
                self._rename_keys.append(key)
                self.edits.renames.append((value["name"], members))

    def _sort_renames(self) -> None:
        order = sorted(range(len(self._rename_keys)), key=lambda i: self._rename_keys[i])
        self._rename_keys = [self._rename_keys[i] for i in order]
        self.edits.renames = [self.edits.renames[i] for i in order]

    # -- making changes ----------------------------------------------------------------------------
    def marks_change(self, text: str, after: dict[str, Mark]) -> Change:
        """A change giving each path its new mark (a path marked here is decided: see ``Marks.decided``)."""
        edits = []
        for path, mark in after.items():
            before = self.value("mark", path)
            new = mark_value(mark, True)
            if new != before:
                edits.append(Edit("mark", path, before, new))
        return Change(text, edits)

    def edits_change(self, text: str, change: Any) -> Change:
        """A change made by running ``change(edits)`` on a copy of the group edits (the ``GroupEdits`` methods
        decide what a rename or a merge means); the result is compared with the edits as they are."""
        after = copy.deepcopy(self.edits)
        change(after)
        before = self.edits
        edits: list[Edit] = []
        for path in sorted(set(before.assignments) | set(after.assignments)):
            old, new = before.assignments.get(path), after.assignments.get(path)
            if old != new:
                edits.append(Edit("assign", path, old, new))
        for kind, old_set, new_set in (("hidden", before.hidden, after.hidden), ("pick", before.picks, after.picks)):
            for key in sorted(old_set ^ new_set):
                edits.append(Edit(kind, key, True if key in old_set else None, True if key in new_set else None))
        # Renames: entries kept by the change keep their keys; new ones follow the last key in the sequence.
        kept: dict[tuple[str, frozenset[str]], str] = {}
        for key, entry in zip(self._rename_keys, before.renames):
            kept.setdefault(entry, key)
        survivors = set()
        next_number = (int(self._rename_keys[-1]) + 1) if self._rename_keys else 0
        for entry in after.renames:
            same = kept.get(entry)
            if same is not None and same not in survivors:
                survivors.add(same)
                continue
            edits.append(Edit("rename", _seq_key(next_number), None,
                              {"name": entry[0], "members": sorted(entry[1])}))
            next_number += 1
        for key, entry in zip(self._rename_keys, before.renames):
            if key not in survivors:
                edits.append(Edit("rename", key, {"name": entry[0], "members": sorted(entry[1])}, None))
        return Change(text, edits)


def _seq_key(number: int) -> str:
    """Rename keys sort as text in sequence order."""
    return f"{number:010d}"
