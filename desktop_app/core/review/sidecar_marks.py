"""Ratings and colour labels other catalogues left in XMP sidecars, read into ``Marks`` on analysis.

A picture's sidecar is ``IMG_0001.jpg.xmp`` (darktable, digiKam) or ``IMG_0001.xmp`` (Lightroom, Capture One,
Bridge; shared by a RAW+JPEG pair). Where both exist, the per-file darktable one wins and the Lightroom one fills
in what it lacks. Names are matched as macOS, Windows and exFAT match them (``filenames.name_key``: case-insensitive,
``IMG_0001.XMP`` from a camera, and Unicode-normalised, ``Café.xmp`` written composed beside a decomposed
``Café.jpg``).

Speed: a library is mostly pictures without sidecars, so each folder is listed once (``os.scandir``) and only the
sidecars that exist are opened; no picture is stat'ed. A sidecar that cannot be read, is not XML or declares a
DOCTYPE is ignored like an absent one; so is anything under a sidecar's name that is not a regular file (a named
pipe ``IMG_1.xmp`` would block the read forever: it is never opened, see ``ingest.opening``).

Out of scope: ratings embedded in the image file's own XMP packet (Lightroom writes into JPEGs and DNGs that way).
Reading them means opening every picture, which the analysis does not do for this; only sidecars count here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from desktop_app.core.filenames import name_key
from desktop_app.core.metadata.xmp import read_mark, write_keywords
from desktop_app.core.review.marks import Mark, Marks, mark_from_xmp, xmp_rating


def _xmp_names(folder: str) -> dict[str, str]:
    """``name_key`` -> name on disk of the ``.xmp`` files in ``folder`` (empty when it cannot be listed)."""
    found: dict[str, str] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if name[-4:].lower() == ".xmp" and _is_file(entry):
                    found.setdefault(name_key(name), name)
    except OSError:
        pass  # a folder that cannot be listed has no sidecars to offer
    return found


def _is_file(entry: os.DirEntry[str]) -> bool:
    """Whether the entry is a regular file (or a link to one): the listing's own type, a stat only for a link."""
    try:
        return entry.is_file()
    except OSError:
        return False


def read_sidecar_marks(paths: Iterable[str]) -> Marks:
    """The marks that the pictures' XMP sidecars hold (``xmp:Rating``: stars, -1 = rejected; ``xmp:Label``: a
    colour), keyed by the paths as given. Pictures without a sidecar, or whose sidecar has neither, are absent."""
    marks = Marks()
    folders: dict[str, dict[str, str]] = {}
    parsed: dict[str, tuple[int | None, str | None]] = {}  # one parse per sidecar (a pair shares IMG_1.xmp)

    def values(folder: str, name: str) -> tuple[int | None, str | None]:
        path = os.path.join(folder, name)
        if path not in parsed:
            parsed[path] = read_mark(Path(path))
        return parsed[path]

    for path in paths:
        folder, name = os.path.split(path)
        xmps = folders.get(folder)
        if xmps is None:
            xmps = folders[folder] = _xmp_names(folder or ".")
        if not xmps:
            continue
        key = name_key(name)
        darktable = xmps.get(key + ".xmp")
        stem, dot, _ = key.rpartition(".")
        lightroom = xmps.get(stem + ".xmp") if dot and stem else None
        rating = label = None
        for sidecar in (darktable, lightroom):  # the per-file sidecar first; the shared one fills gaps
            if sidecar is None:
                continue
            r, lab = values(folder or ".", sidecar)
            rating = r if rating is None else rating
            label = lab if label is None else label
        if rating is None and label is None:
            continue
        mark = mark_from_xmp(rating, label)
        if mark != Mark():
            marks.set(path, mark)
    return marks


def write_mark(image: Path, mark: Mark, naming: Literal["lightroom", "darktable"] = "lightroom",
               keywords: list[str] | None = None) -> Path | None:
    """Write ``mark`` (and ``keywords``, if any) into the image's sidecar, merged like ``write_keywords``: a
    reject becomes ``xmp:Rating = -1``, stars ``xmp:Rating``, a colour label ``xmp:Label``. An unrated, unlabelled
    mark leaves the sidecar's own rating and label alone (a rating is never cleared from here). Returns the
    sidecar, or None when an existing one is not valid XML (left untouched)."""
    return write_keywords(image, list(keywords or []), naming, rating=xmp_rating(mark), label=mark.label)
