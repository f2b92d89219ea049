"""Undo of an export: moved files go back, created files are removed — only files the export created, that have
not changed since, and whose original is still there (undo never deletes the last copy of a photo).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Generator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.errors import BadArgument
from desktop_app.core.export.journal import JOURNAL, DestLock, Journal
from desktop_app.core.export.placing import (
    ExportError,
    copy_verified,
    identity,
    place,
)
from desktop_app.core.export.run import clean_temporaries, finish_interrupted, same_device
from desktop_app.core.progress import ProgressEvent


@dataclass
class UndoSummary:
    reversed: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    warnings: list[str] = field(default_factory=list)


def undo_export(dest: str | os.PathLike[str]) -> Generator[ProgressEvent, None, UndoSummary]:
    """Reverse the exports recorded in DEST's journal: moved files go back, created files are removed —
    but only files the export created, that have not changed since, and (for copies and links) whose original
    is still there, so undo never deletes the last copy of a photo. Holds DEST's lock, like an export.

    What cannot be reversed (changed, gone, its original folder gone, an error from the disk) is listed in the
    summary's ``refused`` and the rest go on; a rerun retries what was refused."""
    dest = Path(dest).expanduser().resolve()
    if not (dest / JOURNAL).exists():
        raise BadArgument(f"{dest} has no PhotoAtlas export journal; nothing to undo")
    with ExitStack() as stack:
        try:
            stack.enter_context(DestLock(dest))
            journal = Journal(dest)
            journal.open()
            stack.callback(journal.close)
            finish_interrupted(journal)
        except OSError as exc:
            raise ExportError(f"cannot write to {dest}: {exc.strerror or exc}") from None
        summary = UndoSummary()
        summary.warnings += clean_temporaries(dest, journal)
        done = journal.completed()
        yield ProgressEvent("undo", 0, len(done), str(dest))
        _undo_xmp(journal, summary)
        folders: set[Path] = set()
        for k, (dst, e) in enumerate(reversed(list(done.items()))):
            target, source = _located(dest, dst, e), Path(e["src"])
            folders.add(target.parent)
            if e.get("folder"):
                folders.add(target.parent.parent)  # a sub-group's folder sits in its group's folder

            try:
                why = _refusal(target, source, e)
                if not why:
                    _reverse(journal, target, source, e)
            except OSError as exc:
                why = f"could not be undone: {exc.strerror or exc}; left where it is"
            if why:
                summary.refused.append((dst, why))
            else:
                summary.reversed += 1
            if k % 20 == 0:
                yield ProgressEvent("undo", k + 1, len(done), target.name)
        for folder in sorted(folders, key=lambda p: -len(p.parts)):  # sub-group folders before their group's
            try:
                folder.rmdir()  # only empty folders we made
            except OSError:
                pass
    yield ProgressEvent("undo", len(done), len(done), "done")
    return summary


def _located(dest: Path, dst: str, e: dict[str, Any] | None = None) -> Path:
    """Where the journaled target ``dst`` is now. The journal lives in DEST and every target is DEST/group/name
    (or DEST/group/sub-group/name, journaled as the entry's ``folder``), so a DEST that was renamed or moved, or
    is typed in another case than the journal has it (which on Linux is another path), still finds its files."""
    path = Path(dst)
    if os.path.lexists(path):
        return path
    folder = (e or {}).get("folder")
    if folder:
        return dest.joinpath(*folder.split("/"), path.name)
    return dest / path.parent.name / path.name


def _reverse(journal: Journal, target: Path, source: Path, e: dict[str, Any]) -> None:
    """Undo one export operation (``_refusal`` said it may be); journaled before and after."""
    dst = e["dst"]  # as journaled: "undone" must name the entry it settles
    if e["op"] == "move":
        journal.write(op="undo", dst=dst, src=str(source))  # src: where a cross-drive move-back's temp goes
        _move_back(target, source, e.get("mtime_ns"))
    else:
        journal.write(op="undo", dst=dst)
        target.unlink()
    journal.write(op="undone", dst=dst)


def _move_back(target: Path, source: Path, mtime_ns: int | None) -> None:
    """The reverse of a move, with the same guarantees: never replaces what now lives at ``source``, and never
    leaves the file in two places (nor a temporary copy beside the original). A copy back from another drive gets
    the original's journaled ``mtime_ns`` again: FAT and exFAT round times, and a photo whose time changed would be
    embedded again (the cache is keyed by it) and sorted differently by photo managers."""
    if same_device(os.stat(target), source.parent):
        try:
            place(target, source)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
    copy_verified(target, source, verify=True)  # removes its temporary copy on any error
    try:
        if mtime_ns is not None:
            os.utime(source, ns=(os.stat(source).st_atime_ns, mtime_ns))
        os.unlink(target)
    except OSError:
        os.unlink(source)  # the copy made a moment ago: the file stays where it is, once
        raise


def _undo_xmp(journal: Journal, summary: UndoSummary) -> None:
    """Newest first: remove sidecars we created, restore the ones we changed — if nobody edited them since."""
    pending: dict[str, dict[str, Any]] = {}
    entries: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for e in journal.entries:
        if e.get("op") == "xmp":
            pending[e["dst"]] = e
        elif e.get("op") == "xmp-done" and e["dst"] in pending:
            entries.append((pending.pop(e["dst"]), e))
        elif e.get("op") == "xmp-undone":
            entries = [(a, b) for a, b in entries if b["dst"] != e["dst"]]
    for start, done in reversed(entries):
        sidecar = Path(done["dst"])
        try:
            if not sidecar.exists():
                continue
            st = sidecar.stat()
            if st.st_size != done["size"] or st.st_mtime_ns != done["mtime_ns"]:
                summary.refused.append((str(sidecar), "sidecar changed since PhotoAtlas wrote it; left alone"))
                continue
            if start.get("backup") and Path(start["backup"]).exists():
                os.replace(start["backup"], sidecar)
            else:
                sidecar.unlink()
        except OSError as exc:
            summary.refused.append((str(sidecar), f"sidecar could not be undone: {exc.strerror or exc}"))
            continue
        journal.write(op="xmp-undone", dst=str(sidecar))
        summary.reversed += 1


def _refusal(target: Path, source: Path, e: dict[str, Any]) -> str:
    """Why the export of ``source`` to ``target`` may not be reversed ("" when it may)."""
    if e["op"] == "symlink" and target.is_symlink():
        return ""  # removing our link loses no data
    if not target.exists():
        return "no longer there" if e["op"] != "symlink" else "no longer the link PhotoAtlas made"
    st = target.stat()
    # The time the target got when placed: FAT and exFAT keep times to 2 s / 10 ms, not the source's ns.
    placed_mtime = e.get("placed_mtime_ns", e["mtime_ns"])
    journaled = (e["size"], e["mtime_ns"])
    if e["op"] == "hardlink":
        # Our link is the original file itself: removing it loses nothing while the original's name is still
        # that same file. (Where the link fell back to a copy, the original must be as it was, as for a copy.)
        try:
            src = os.stat(source)
        except OSError:
            return f"the original {source} is gone; this may be the only copy left, so it stays"
        if os.path.samestat(src, st):
            return ""
        if st.st_size != e["size"] or st.st_mtime_ns not in (placed_mtime, e["mtime_ns"]):
            return "changed since it was exported; left alone"
        if identity(src) != journaled:
            return f"the original {source} changed since; this copy may be the only one as it was, so it stays"
        return ""
    if st.st_size != e["size"] or st.st_mtime_ns not in (placed_mtime, e["mtime_ns"]):
        return "changed since it was exported; left alone"
    if e["op"] == "move":
        if source.exists() or source.is_symlink():
            return f"something else now lives at {source}; left alone"
        if not source.parent.is_dir():
            return (f"the folder it came from, {source.parent}, is gone (or its drive is not connected); "
                    "left here")
        return ""
    # A copy: removing it must never remove the last copy of the photo.
    try:
        src = os.stat(source)
    except OSError:
        return f"the original {source} is gone; this may be the only copy left, so it stays"
    if identity(src) != journaled:
        return f"the original {source} changed since; this copy may be the only one as it was, so it stays"
    return ""
