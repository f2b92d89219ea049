"""Undo of an export: moved files go back, created files are removed — only files the export created, that have
not changed since, and whose original is still there (undo never deletes the last copy of a photo).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
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
    quick_hash,
    sha256_file,
)
from desktop_app.core.export.run import (
    XMP_BACKUPS,
    clean_temporaries,
    finish_interrupted,
    link_text_at,
    same_device,
)
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

    The journal is untrusted input (docs/EXPORT.md, "What undo will never do"): one that was edited or written by
    someone else is refused with one line (``ExportError``); whatever it says, undo removes only files inside DEST,
    and outside DEST only puts a moved original back into its empty place (when the file in DEST is the one the
    journal recorded: size, time, content) and restores the sidecars an export changed there (when they are what it
    wrote). On a full disk undo goes on without noting its progress (a rerun reads it back from the files).

    What cannot be reversed (changed, gone, its original folder gone, an error from the disk) is listed in the
    summary's ``refused`` and the rest go on; a rerun retries what was refused."""
    dest = Path(dest).expanduser().resolve()
    if not (dest / JOURNAL).exists():
        raise BadArgument(f"{dest} has no PhotoAtlas export journal; nothing to undo")
    with ExitStack() as stack:
        try:
            stack.enter_context(DestLock(dest))
            journal = Journal(dest)
            journal.refuse_if_tampered()
            journal.tolerate_full = True  # removing files frees space; noting that must not need any first
            journal.open()
            stack.callback(journal.close)
            finish_interrupted(journal)
        except OSError as exc:
            raise ExportError(f"cannot undo in {dest}: {exc.strerror or exc}") from None
        summary = UndoSummary()
        if journal.trust == "legacy":
            summary.warnings.append("this export's journal was written before journals were signed: only files "
                                    "inside DEST are removed; moved files and sidecars beside the originals are "
                                    "left for you to put back (groups.csv says where each came from)")
        summary.warnings += clean_temporaries(dest, journal)
        done = journal.completed()
        yield ProgressEvent("undo", 0, len(done), str(dest))
        _undo_xmp(journal, summary)
        folders: set[Path] = set()
        for k, (dst, e) in enumerate(reversed(list(done.items()))):
            target = _located(journal, dst, e)
            if target is None:
                summary.refused.append((dst, "not inside DEST; PhotoAtlas only undoes what lies in DEST"))
                continue
            source = Path(e.get("src") or "")
            folders.add(target.parent)
            if e.get("folder"):
                folders.add(target.parent.parent)  # a sub-group's folder sits in its group's folder
            try:
                why = _refusal(journal, target, source, e)
                if why == ALREADY:
                    journal.write(op="undone", dst=dst)  # an undo that could not note it did this, on a full disk
                elif not why:
                    _reverse(journal, target, source, e)
            except OSError as exc:
                why = f"could not be undone: {exc.strerror or exc}; left where it is"
            if why == ALREADY:
                continue  # nothing left to undo, nothing lost: neither reversed now nor refused
            if why:
                summary.refused.append((dst, why))
            else:
                summary.reversed += 1
            if k % 20 == 0:
                yield ProgressEvent("undo", k + 1, len(done), target.name)
        _undo_manifests(journal, summary)
        for folder in sorted(folders, key=lambda p: -len(p.parts)):  # sub-group folders before their group's
            if folder != dest and journal.inside(folder / "x"):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only empty folders we made
        if journal.unwritten:
            summary.warnings.append(f"{dest}'s disk is full: undo went on without noting its progress in the "
                                    "journal (a rerun reads it back from the files themselves)")
    yield ProgressEvent("undo", len(done), len(done), "done")
    return summary


ALREADY = "already undone"  # _refusal's answer for an entry an earlier undo reversed without noting it


def _located(journal: Journal, dst: str, e: dict[str, Any]) -> Path | None:
    """Where the journaled target ``dst`` is now, when that is inside DEST (None otherwise). A signed journal names
    its targets relative to DEST, so a DEST that was renamed, moved or copied finds its own files. An older journal
    named them absolute: every target was DEST/group/name (or DEST/group/sub-group/name, journaled as the entry's
    ``folder``), so they are looked for there."""
    path = Path(dst)
    if journal.trust != "signed" and not journal.inside(path):
        folder = e.get("folder")
        path = journal.dest.joinpath(*folder.split("/"), path.name) if isinstance(folder, str) and folder \
            else journal.dest / path.parent.name / path.name
        if not os.path.lexists(path):
            return None  # named a file outside DEST, and nothing of that name is in DEST
    return path if journal.inside(path) else None


def _reverse(journal: Journal, target: Path, source: Path, e: dict[str, Any]) -> None:
    """Undo one export operation (``_refusal`` said it may be); journaled before and after (where the disk allows)."""
    dst = e["dst"]  # as journaled: "undone" must name the entry it settles
    if e["op"] == "move" and "link" in e:
        journal.write(op="undo", dst=dst)
        os.symlink(e["link"], source)  # the library's own link again, with its own text; fails if the name is taken
        try:
            os.unlink(target)
        except OSError:
            os.unlink(source)
            raise
    elif e["op"] == "move":
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
    """Newest first: remove sidecars we created, restore the ones we changed — if nobody edited them since. Outside
    DEST (sidecars beside the originals) only with a signed journal, only ``.xmp`` files, and only when the sidecar
    is byte for byte what the export wrote (its SHA-256); a backup is taken only from DEST's backup folder."""
    pending: dict[str, dict[str, Any]] = {}
    entries: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for e in journal.entries:  # every entry here carries its "dst" (the journal drops any that does not)
        if e.get("op") == "xmp":
            pending[e["dst"]] = e
        elif e.get("op") == "xmp-done" and e["dst"] in pending:
            entries.append((pending.pop(e["dst"]), e))
        elif e.get("op") == "xmp-undone":
            entries = [(a, b) for a, b in entries if b["dst"] != e["dst"]]
    backups = journal.dest / XMP_BACKUPS
    for start, done in reversed(entries):
        sidecar = Path(done["dst"])
        backup = Path(start["backup"]) if start.get("backup") else None
        inside = journal.inside(sidecar)
        if not sidecar.name.lower().endswith(".xmp") or (not inside and journal.trust != "signed") \
                or (backup is not None and (backup.parent != backups or not journal.inside(backup))):
            summary.refused.append((str(sidecar), "not a sidecar this export may undo (outside DEST, or not "
                                                  "an .xmp file); left alone"))
            continue
        why = _backup_refusal(backup, start.get("backup_sha256"), inside)
        if why:
            summary.refused.append((str(sidecar), why))
            continue
        try:
            if not os.path.lexists(sidecar):
                continue
            st = os.lstat(sidecar)
            if not stat.S_ISREG(st.st_mode) or st.st_size != done["size"] or st.st_mtime_ns != done["mtime_ns"] \
                    or ("sha256" in done and sha256_file(sidecar) != done["sha256"]) \
                    or (not inside and "sha256" not in done):
                summary.refused.append((str(sidecar), "sidecar changed since PhotoAtlas wrote it; left alone"))
                continue
            if backup is not None:
                os.replace(backup, sidecar)  # the sidecar as it was before the export (checked above)
            else:
                sidecar.unlink()  # the export created it
        except OSError as exc:
            summary.refused.append((str(sidecar), f"sidecar could not be undone: {exc.strerror or exc}"))
            continue
        journal.write(op="xmp-undone", dst=str(sidecar))
        summary.reversed += 1


def _backup_refusal(backup: Path | None, sha256: str | None, inside: bool) -> str:
    """Why the backup of a sidecar the export changed cannot put it back ("" when it can, or when there was none):
    a backup that is gone would make undo delete the user's own sidecar, and one that is not the bytes the export
    saved (replaced, or a link) would put someone else's file in its place. A signed journal records the backup's
    SHA-256; an unsigned one only lets a sidecar inside DEST be restored."""
    if backup is None:
        return ""
    try:
        st = os.lstat(backup)
    except OSError:
        return "the copy of this sidecar from before the export is gone; the sidecar stays as it is"
    if not stat.S_ISREG(st.st_mode):
        return "the copy of this sidecar from before the export is not a file; the sidecar stays as it is"
    if sha256 is None:
        return "" if inside else "no record of the copy from before the export; the sidecar stays as it is"
    if sha256_file(backup) != sha256:
        return "the copy of this sidecar from before the export was changed; the sidecar stays as it is"
    return ""


def _undo_manifests(journal: Journal, summary: UndoSummary) -> None:
    """Remove the lists (groups.csv, groups.json) the undone exports wrote, when they are as written (a list the
    user edited stays) and every file they list was undone."""
    if journal.completed():
        return  # something could not be undone: the lists still describe it
    last: dict[str, dict[str, Any]] = {}
    for e in journal.entries:
        if e.get("op") == "manifest" and isinstance(e.get("dst"), str):
            last[e["dst"]] = e
        elif e.get("op") == "manifest-undone":
            last.pop(str(e.get("dst")), None)
    for dst, e in last.items():
        path = Path(dst)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not journal.inside(path) or not stat.S_ISREG(st.st_mode) \
                or (st.st_size, st.st_mtime_ns) != (e.get("size"), e.get("mtime_ns")):
            continue  # gone, changed or not ours: left as it is
        try:
            path.unlink()
        except OSError as exc:
            summary.warnings.append(f"{path.name} could not be removed: {exc.strerror or exc}")
            continue
        journal.write(op="manifest-undone", dst=dst)


def _refusal(journal: Journal, target: Path, source: Path, e: dict[str, Any]) -> str:
    """Why the export of ``source`` to ``target`` (inside DEST) may not be reversed ("" when it may; ``ALREADY``
    when an undo that could not write to the journal did it before)."""
    op = e["op"]
    gone = not os.path.lexists(target)
    if op == "move":
        if journal.trust != "signed":
            return "moved by an export whose journal is not signed; put it back by hand (groups.csv says where from)"
        if gone:
            if "link" in e:
                back = os.path.islink(source) and os.readlink(source) == e["link"]
            else:
                back = os.path.isfile(source) and identity(os.stat(source)) == (e["size"], e["mtime_ns"])
            return ALREADY if back else "no longer there"
        if os.path.lexists(source):
            return f"something else now lives at {source}; left alone"
        if not source.parent.is_dir():
            return (f"the folder it came from, {source.parent}, is gone (or its drive is not connected); "
                    "left here")
        if "link" in e:
            ok = os.path.islink(target) and os.readlink(target) == link_text_at(source, e["link"])
            return "" if ok else "no longer the link PhotoAtlas made; left alone"
        st = os.lstat(target)
        placed_mtime = e.get("placed_mtime_ns", e["mtime_ns"])
        if not stat.S_ISREG(st.st_mode) or st.st_size != e["size"] \
                or st.st_mtime_ns not in (placed_mtime, e["mtime_ns"]) or "hash" not in e \
                or quick_hash(target) != e["hash"]:
            return "changed since it was exported (size, time or content); left alone"
        return ""
    if gone:
        return ALREADY  # removing a copy or a link lost nothing; whoever removed it, nothing is left to undo
    if op == "symlink" and os.path.islink(target):
        if os.readlink(target) == os.path.relpath(source, target.parent):
            return ""  # our link: removing it loses no data
        return "no longer the link PhotoAtlas made; left alone"
    st = os.lstat(target)
    if not stat.S_ISREG(st.st_mode):
        return "no longer the file PhotoAtlas made; left alone"
    # The time the target got when placed: FAT and exFAT keep times to 2 s / 10 ms, not the source's ns.
    placed_mtime = e.get("placed_mtime_ns", e["mtime_ns"])
    journaled = (e["size"], e["mtime_ns"])
    try:
        src = os.stat(source)
    except OSError:
        return f"the original {source} is gone; this may be the only copy left, so it stays"
    if op == "hardlink" and os.path.samestat(src, st):
        # Our link is the original file itself: removing it loses nothing while the original's name is still
        # that same file. (Where the link fell back to a copy, the original must be as it was, as for a copy.)
        return ""
    if os.path.samestat(src, st) or not stat.S_ISREG(src.st_mode):
        return f"{source} is this very file, not another copy of it; it stays"
    if st.st_size != e["size"] or st.st_mtime_ns not in (placed_mtime, e["mtime_ns"]):
        return "changed since it was exported; left alone"
    # A copy: removing it must never remove the last copy of the photo.
    if identity(src) != journaled:
        return f"the original {source} changed since; this copy may be the only one as it was, so it stays"
    return ""
