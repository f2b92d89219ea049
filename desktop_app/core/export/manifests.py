"""The lists an export leaves in DEST beside the groups: ``groups.csv`` and ``groups.json`` (what went where).
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core.export.journal import Journal
from desktop_app.core.export.placing import (
    place,
    temporary_name,
)
from desktop_app.core.filenames import NamePlanner
from desktop_app.core.files import json_text

if TYPE_CHECKING:
    from desktop_app.core.export.plan import Planned


def write_manifests(result: Any, dest: Path, plan: Iterable[Planned], journal: Journal | None = None, *,
                    subgroups: bool = False) -> list[str]:
    """``groups.csv`` and ``groups.json`` in DEST: a row per exported item (companions are not listed);
    ``subgroups`` (a nested export) adds a last column, ``subgroup_name`` ("" for an item in none).

    Only a list this code wrote (journaled with its size and time, or from before lists were journaled, one
    that starts with our header) is replaced; a ``groups.csv`` of the user's own (also ``Groups.CSV`` where
    names are case-insensitive) is left alone and the list goes to a free name, ``groups (2).csv``. Returns a
    line for the summary about each such list. Raises ``OSError`` (the disk is full, DEST read-only)."""
    analysis = result.analysis
    coords = analysis.coords.tolist()  # plain floats: numpy scalar access per row costs more than the row
    scores = analysis.outlier_scores.tolist()
    rows = [{"original_path": str(p.source), "exported_path": str(p.target), "group_id": p.group_id,
             "group_name": p.group_name, "x": round(coords[p.item][0], 5), "y": round(coords[p.item][1], 5),
             "outlier_score": round(scores[p.item], 4), "kind": result.items[p.item].kind}
            for p in plan if p.item >= 0]
    columns = MANIFEST_COLUMNS
    if subgroups:
        columns = [*MANIFEST_COLUMNS, "subgroup_name"]  # last: the existing columns keep their places
        by_target = {str(p.target): p.subgroup_name for p in plan if p.item >= 0}
        for r in rows:
            r["subgroup_name"] = by_target[r["exported_path"]]
    notes: list[str] = []
    planner = NamePlanner()
    # One row per line: readable, and json's C encoder (indent= would fall back to the slow Python one).
    for name, write in (("groups.json", lambda f: f.write(
                            "[\n" + ",\n".join(json_text(r, indent=None) for r in rows) + "\n]\n")),
                        ("groups.csv", (lambda f: _csv(f, rows, columns)) if subgroups
                                       else lambda f: _csv(f, rows))):
        target, ours = _manifest_target(dest, name, journal, planner)
        tmp = temporary_name(dest)
        try:
            # surrogateescape: a name that is not UTF-8 is listed in the CSV with its own bytes (the JSON escapes it)
            with open(tmp, "x", encoding="utf-8", errors="surrogateescape", newline="") as f:
                write(f)
            if ours:
                os.replace(tmp, target)  # our own list from an earlier run: replacing it is the point
            else:
                place(tmp, target)  # a free name: fails rather than replace anything that appeared meanwhile
        finally:
            tmp.unlink(missing_ok=True)
        if journal is not None:
            st = target.stat()
            journal.write(op="manifest", name=name, dst=str(target), size=st.st_size, mtime_ns=st.st_mtime_ns)
        if target.name != name:
            notes.append(f"DEST already held a {name} of its own, left as it was; the list is {target.name}")
    return notes


def _manifest_target(dest: Path, name: str, journal: Journal | None, planner: NamePlanner) -> tuple[Path, bool]:
    """Where the list ``name`` goes, and whether that is a list this code wrote earlier (to be replaced)."""
    entries = [e for e in journal.entries if e.get("op") == "manifest" and e.get("name") == name] if journal else []
    if entries:
        last = Path(entries[-1]["dst"])
        on_disk = planner.present(str(dest), last.name)
        if on_disk is not None:
            st = os.lstat(dest / on_disk)
            if stat.S_ISREG(st.st_mode) and (st.st_size, st.st_mtime_ns) == (entries[-1]["size"],
                                                                             entries[-1]["mtime_ns"]):
                return dest / on_disk, True
    else:
        on_disk = planner.present(str(dest), name)
        if on_disk is not None and _has_our_header(dest / on_disk):
            return dest / on_disk, True  # written before lists were journaled
    return dest / planner.take(str(dest), name), False


def _has_our_header(path: Path) -> bool:
    """Whether ``path`` starts as our lists do (a DEST exported before the lists were journaled). Only a regular
    file is opened: a named pipe called groups.csv would make the read wait forever."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open(path, encoding="utf-8") as f:
            start = f.read(200)
    except (OSError, UnicodeDecodeError):
        return False
    if path.suffix.lower() == ".csv":
        return start.startswith(",".join(MANIFEST_COLUMNS))
    return start.startswith('[\n{"original_path": ') or start == "[\n\n]\n"


MANIFEST_COLUMNS = ["original_path", "exported_path", "group_id", "group_name", "x", "y", "outlier_score", "kind"]


def _csv(f: Any, rows: list[dict[str, Any]], columns: list[str] = MANIFEST_COLUMNS) -> None:
    writer = csv.writer(f)
    writer.writerow(columns)
    writer.writerows([[r[c] for c in columns] for r in rows])
