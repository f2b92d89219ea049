"""What the photographer decided about each picture: star ratings, pick/reject flags and colour labels.

Marks are keyed by file path (rows are renumbered by every analysis; paths are what XMP sidecars, projects
and catalogues speak). The conventions are Lightroom's, which darktable, digiKam and Capture One read too:

* ``rating`` 0-5 stars (0 = unrated) -> ``xmp:Rating``;
* ``flag`` "pick" / "reject" (absent = unflagged). XMP has no pick flag; a reject is written as
  ``xmp:Rating = -1`` (Lightroom's and digiKam's convention) and read back as a reject;
* ``label`` one of ``COLOUR_LABELS`` -> ``xmp:Label`` (Lightroom's English names; keys 6-9 are Red, Yellow,
  Green, Blue as in Lightroom).

``MarkFilter`` is what the filter bar asks for (N stars or more, picks only, not rejected, labels, capture
dates, cameras) and answers with a mask over the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from desktop_app.core.metadata.photo_meta import PhotoMeta

Flag = Literal["pick", "reject"]
FLAGS: tuple[str, ...] = ("pick", "reject")
COLOUR_LABELS: tuple[str, ...] = ("Red", "Yellow", "Green", "Blue", "Purple")
LABEL_KEYS = {"6": "Red", "7": "Yellow", "8": "Green", "9": "Blue"}  # Lightroom's keys
REJECT_RATING = -1  # xmp:Rating of a rejected picture (Lightroom, digiKam)


@dataclass(frozen=True)
class Mark:
    """One picture's marks (the defaults: unrated, unflagged, no label)."""

    rating: int = 0
    flag: str | None = None
    label: str | None = None


@dataclass
class Marks:
    """Every picture's marks, by path. Only marked pictures are stored, and ``decided``: the pictures the user has
    marked here (a cleared rating is a decision too: the sidecar's old stars must not come back, and an export
    writes the cleared rating)."""

    rating: dict[str, int] = field(default_factory=dict)
    flag: dict[str, str] = field(default_factory=dict)
    label: dict[str, str] = field(default_factory=dict)
    decided: set[str] = field(default_factory=set)

    def get(self, path: str) -> Mark:
        return Mark(self.rating.get(path, 0), self.flag.get(path), self.label.get(path))

    def is_empty(self) -> bool:
        return not (self.rating or self.flag or self.label)

    def set(self, path: str, mark: Mark) -> None:
        """Store ``mark`` for ``path`` (defaults are removed, so an unmarked picture leaves no entry)."""
        if mark.rating:
            self.rating[path] = mark.rating
        else:
            self.rating.pop(path, None)
        for table, value in ((self.flag, mark.flag), (self.label, mark.label)):
            if value is None:
                table.pop(path, None)
            else:
                table[path] = value

    def arrays(self, paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ratings int8, flags int8: 1 pick / -1 reject / 0, label index int8: -1 none) aligned with ``paths``."""
        n = len(paths)
        ratings = np.zeros(n, np.int8)
        flags = np.zeros(n, np.int8)
        labels = np.full(n, -1, np.int8)
        if self.is_empty():
            return ratings, flags, labels
        for i, p in enumerate(paths):
            if p in self.rating:
                ratings[i] = self.rating[p]
            f = self.flag.get(p)
            if f:
                flags[i] = 1 if f == "pick" else -1
            lab = self.label.get(p)
            if lab in COLOUR_LABELS:
                labels[i] = COLOUR_LABELS.index(lab)
        return ratings, flags, labels

    def fill_from(self, found: Marks) -> int:
        """Take ``found``'s marks (read from sidecars) for the pictures not decided here; returns how many."""
        taken = 0
        for path in {*found.rating, *found.flag, *found.label}:
            if path not in self.decided and self.get(path) == Mark():
                self.set(path, found.get(path))
                taken += 1
        return taken

    def to_json(self) -> dict[str, Any]:
        return {"rating": dict(self.rating), "flag": dict(self.flag), "label": dict(self.label),
                "decided": sorted(self.decided)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Marks:
        """Read ``to_json`` back; values out of range are dropped (a hand-edited project never crashes)."""
        data = data or {}
        marks = cls()
        for path, value in (data.get("rating") or {}).items():
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 5:
                marks.rating[str(path)] = value
        for path, value in (data.get("flag") or {}).items():
            if value in FLAGS:
                marks.flag[str(path)] = value
        for path, value in (data.get("label") or {}).items():
            if value in COLOUR_LABELS:
                marks.label[str(path)] = value
        decided = data.get("decided") or []
        marks.decided = {str(p) for p in decided} if isinstance(decided, list) else set()
        return marks

    def copy(self) -> Marks:
        return Marks(dict(self.rating), dict(self.flag), dict(self.label), set(self.decided))


def mark_from_xmp(rating: int | None, label: str | None) -> Mark:
    """What a sidecar's ``xmp:Rating`` / ``xmp:Label`` mean here (-1 = rejected; unknown labels ignored)."""
    flag = "reject" if rating is not None and rating < 0 else None
    stars = rating if rating is not None and 0 < rating <= 5 else 0
    name = next((c for c in COLOUR_LABELS if label and c.lower() == label.strip().lower()), None)
    return Mark(stars, flag, name)


def xmp_rating(mark: Mark, decided: bool = False) -> int | None:
    """The ``xmp:Rating`` to write for ``mark`` (None: leave the sidecar's rating alone). A picture the user
    decided on here and left unrated gets 0: a rating cleared in PhotoAtlas clears the catalogue's too."""
    if mark.flag == "reject":
        return REJECT_RATING
    if mark.rating:
        return mark.rating
    return 0 if decided else None


@dataclass(frozen=True)
class MarkFilter:
    """Which pictures to show or export. Every part that is set must hold (an empty filter keeps all)."""

    min_rating: int = 0  # N stars or more (rejects never pass: in XMP a reject is rating -1)
    picks_only: bool = False
    hide_rejected: bool = False
    labels: frozenset[str] = frozenset()  # any of these colour labels
    taken_from: float | None = None  # capture time, seconds on the camera's clock (PhotoMeta.taken)
    taken_to: float | None = None
    cameras: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        return self != MarkFilter()

    def mask(self, paths: Sequence[str], marks: Marks, metas: Sequence[PhotoMeta] | None = None,
             arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Rows that pass. Date and camera parts need ``metas`` (a picture without the data never passes);
        ``arrays`` (``marks.arrays(paths)``) when the caller keeps them."""
        n = len(paths)
        keep = np.ones(n, bool)
        if not self.active:
            return keep
        ratings, flags, labels = arrays if arrays is not None else marks.arrays(paths)
        if self.min_rating:  # a reject has no stars (xmp:Rating -1): "3 stars or more" never means a reject
            keep &= (ratings >= self.min_rating) & (flags != -1)
        if self.picks_only:
            keep &= flags == 1
        if self.hide_rejected:
            keep &= flags != -1
        if self.labels:
            wanted = [COLOUR_LABELS.index(lab) for lab in self.labels if lab in COLOUR_LABELS]
            keep &= np.isin(labels, wanted)
        if self.taken_from is not None or self.taken_to is not None or self.cameras:
            metas = metas or [PhotoMeta()] * n
            for i in np.flatnonzero(keep):
                m = metas[int(i)]
                if self.cameras and m.camera not in self.cameras:
                    keep[i] = False
                elif self.taken_from is not None and (m.taken is None or m.taken < self.taken_from):
                    keep[i] = False
                elif self.taken_to is not None and (m.taken is None or m.taken > self.taken_to):
                    keep[i] = False
        return keep

    def to_json(self) -> dict[str, Any]:
        return {"min_rating": self.min_rating, "picks_only": self.picks_only, "hide_rejected": self.hide_rejected,
                "labels": sorted(self.labels), "taken_from": self.taken_from, "taken_to": self.taken_to,
                "cameras": sorted(self.cameras)}

    @classmethod
    def from_json(cls, data: Any) -> MarkFilter:
        """Read ``to_json`` back; anything out of range is left out (a filter never stops a library opening)."""
        if not isinstance(data, dict):
            return cls()

        def number(key: str) -> float | None:
            v = data.get(key)
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        rating = data.get("min_rating")
        return cls(min_rating=rating if isinstance(rating, int) and not isinstance(rating, bool) and 0 <= rating <= 5
                   else 0,
                   picks_only=data.get("picks_only") is True, hide_rejected=data.get("hide_rejected") is True,
                   labels=frozenset(x for x in data.get("labels") or [] if x in COLOUR_LABELS),
                   taken_from=number("taken_from"), taken_to=number("taken_to"),
                   cameras=frozenset(x for x in data.get("cameras") or [] if isinstance(x, str)))

    def describe(self) -> str:
        """``★3+ · picks · not rejected · Red, Green`` (empty for no filter)."""
        parts = []
        if self.min_rating:
            parts.append(f"★{self.min_rating}+")
        if self.picks_only:
            parts.append("picks")
        if self.hide_rejected:
            parts.append("not rejected")
        if self.labels:
            parts.append(", ".join(c for c in COLOUR_LABELS if c in self.labels))
        if self.cameras:
            parts.append(", ".join(sorted(self.cameras)))
        if self.taken_from is not None or self.taken_to is not None:
            parts.append("dates")
        return " · ".join(parts)


def apply_marks(marks: Marks, paths: Iterable[str], *, rating: int | None = None, flag: str | None | bool = False,
                label: str | None | bool = False) -> None:
    """Set one part of the marks of ``paths`` (``flag``/``label`` False: leave alone; None: clear)."""
    for p in paths:
        old = marks.get(p)
        marks.set(p, Mark(old.rating if rating is None else max(0, min(5, rating)),
                          old.flag if flag is False else flag,  # type: ignore[arg-type]
                          old.label if label is False else label))  # type: ignore[arg-type]
