"""Export groups into folders (copy, hardlink, symlink, move) without ever losing or overwriting a file.

    summary = drive(run_export(result, "/photos/sorted", ExportOptions(mode="copy")), print)
    drive(undo_export("/photos/sorted"), print)

Safety rules, in the order they bite (docs/EXPORT.md tells the whole story):
  * one export or undo at a time per DEST (a file lock in DEST), and the journal
    (``DEST/.photoatlas-journal.jsonl``) is created first, before any file is placed;
  * every operation is written to the journal (fsynced) *before* it runs, and marked done after, so an
    interrupted or cancelled export can be completed or undone;
  * names are planned as if DEST were case-insensitive and Unicode-normalising (macOS, Windows, memory cards):
    ``IMG_1.JPG`` and ``img_1.jpg`` never get the same place; names fit 255 bytes (``core.filenames``);
  * files get their final name only by operations that fail on an existing name, on every filesystem
    (``core.placing``); nothing half-written ever carries a final name;
  * a move deletes its source only after the copy is verified (or is one link/rename on one filesystem), and
    never deletes a source that changed since it was journaled;
  * one file that cannot be exported is reported and the rest go on; a full or read-only disk stops the export;
  * running the same export again skips what the journal says is already there.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import time
import uuid
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.errors import Cancelled, PhotoAtlasError
from desktop_app.core.export.journal import OPS, DestLock, Journal
from desktop_app.core.export.manifests import write_manifests
from desktop_app.core.export.placing import (
    FATAL_ERRNOS,
    TMP_PREFIX,
    ExportError,
    Note,
    SourceChanged,
    copy_verified,
    file_kind,
    identity,
    make_removable,
    place,
    quick_hash,
    sha256_file,
)
from desktop_app.core.export.plan import (
    ExportOptions,
    Mode,
    Planned,
    best_frames,
    check_groups,
    check_move_roots,
    marks_for,
    plan_targets,
    select_items,
    source_folder_around,
)
from desktop_app.core.filenames import name_key
from desktop_app.core.ingest.opening import open_regular
from desktop_app.core.progress import CancelToken, ProgressEvent
from desktop_app.core.review.marks import Mark

XMP_BACKUPS = ".photoatlas-xmp-backup"  # in DEST: sidecars as they were before an export changed them
BATCH = 256  # operations journaled (one fsync) and then carried out together
WORKERS = 4  # copies in flight: overlaps one file's fsync with the next one's reads
PROGRESS_EVERY = 0.1  # s between progress events while files complete (the GUI and tqdm throttle further)


@dataclass
class ExportSummary:
    dest: Path
    planned: int = 0
    done: int = 0
    skipped_existing: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)  # "hardlink->copy": n
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    xmp_written: int = 0
    dry_run: bool = False
    left_out_by_marks: int = 0  # items of the chosen groups that --picks-only / --min-rating / --not-rejected left out
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        what = "would export" if self.dry_run else "exported"
        files = "1 file" if self.done == 1 else f"{self.done:,} files"
        out = [f"{what} {files} into {self.dest} ({self.skipped_existing} already there)"]
        if self.left_out_by_marks:
            out.append(f"  {self.left_out_by_marks} left out by the rating / flag filter")
        out += [f"  warning: {w}" for w in self.warnings]
        out += [f"  {n} files: {how} (not possible here)" for how, n in self.fallbacks.items()]
        if self.failed:
            out.append(f"  {len(self.failed)} not exported (the rest went on):")
            out += [f"  failed {p}: {why}" for p, why in self.failed[:20]]
            if len(self.failed) > 20:
                out.append(f"  … and {len(self.failed) - 20} more")
        if self.xmp_written:
            out.append(f"  {self.xmp_written} XMP sidecars written (keywords, ratings, labels)")
        return out


# -- doing -----------------------------------------------------------------------------------------------
def same_device(source: os.stat_result, folder: Path) -> bool:
    """Whether a move of the file ``source`` (its stat) into ``folder`` can be a rename (one filesystem)."""
    return source.st_dev == os.stat(folder).st_dev


def _unchanged(source: Path, expect: tuple[int, int]) -> os.stat_result:
    """The source's stat, if it is still what was journaled; else ``SourceChanged``."""
    st = os.stat(source)
    if identity(st) != tuple(expect):
        raise SourceChanged(f"{source} changed after it was planned (size or time differs); not exported")
    return st


def _do(p: Planned, mode: Mode, verify: bool, cancel: CancelToken, expect: tuple[int, int],
        note: Note | None = None) -> str:
    """Carry out one planned operation (its folder exists); returns the method actually used. ``expect`` is
    the source's journaled (size, mtime_ns): a source that no longer matches is refused, never moved. ``note``
    is told what is about to get the final name (see ``placing.Note``)."""
    if mode in ("hardlink", "symlink"):
        # No check against the journal here: a link carries no copy of the data that could come out torn.
        try:
            if mode == "hardlink":
                os.link(p.source, p.target)  # fails on an existing name, as the filesystem compares names
            else:
                os.symlink(os.path.relpath(p.source, p.target.parent), p.target)
            return mode
        except OSError as exc:
            if isinstance(exc, FileExistsError) or exc.errno in FATAL_ERRNOS:
                raise
            # Across filesystems, or where links are not supported / not permitted.
            copy_verified(p.source, p.target, verify=verify, cancel=cancel, expect=expect, note=note)
            return f"{mode}->copy"
    if mode == "move":
        if os.path.islink(p.source):
            _unchanged(p.source, expect)
            move_link(p.source, p.target)
            return "move (the link)"
        if same_device(_unchanged(p.source, expect), p.target.parent):
            try:
                place(p.source, p.target, note)  # one link + unlink (or an exclusive rename): never two, never none
                return "move"
            except OSError as exc:
                if exc.errno != errno.EXDEV:  # one device, two mounts (a bind mount): copy below
                    raise
        copy_verified(p.source, p.target, verify=verify, cancel=cancel, expect=expect, note=note)
        if identity(os.stat(p.source)) != tuple(expect):
            os.unlink(p.target)  # placed a moment ago by us; the changed original stays where it is
            raise SourceChanged(f"{p.source} changed while it was moved; the original was kept")
        os.unlink(p.source)  # only now: the copy is in place, verified, and still the source's bytes
        return "move (copy, verify, delete)"
    copy_verified(p.source, p.target, verify=verify, cancel=cancel, expect=expect, note=note)
    return "copy"


def link_text_at(link: Path, text: str) -> str:
    """What the symbolic link ``link`` (whose text is ``text``) points at, as an absolute path: a relative link
    moved elsewhere would point at something else."""
    return text if os.path.isabs(text) else os.path.normpath(os.path.join(link.parent, text))


def move_link(source: Path, target: Path) -> None:
    """Move the symbolic link ``source`` (a library item that is a link) to ``target`` as a link, not as the file it
    points at: a new link (made exclusively: never replaces) to the same file, then the old one removed. Undo makes
    the original link again, with its own text."""
    os.symlink(link_text_at(source, os.readlink(source)), target)
    try:
        os.unlink(source)
    except OSError:
        os.unlink(target)  # the old link cannot go: the new one goes, so the item stays in one place
        raise


def _attempt(p: Planned, options: ExportOptions, cancel: CancelToken, expect: tuple[int, int],
             journal: Journal | None = None) -> tuple[str, int] | BaseException | None:
    """One operation (on a worker thread for copies and moves): the method used and the modification time
    the target got (FAT and exFAT round it), the error that stopped it, or None when it was cancelled before
    it began."""
    if cancel.cancelled:
        return None

    def note(kind: str, st: os.stat_result) -> None:
        # Flushed, not fsynced: a kill of the process loses nothing the OS was handed, and after a power cut
        # recovery merely does not recognise the file (it is then left alone, never deleted).
        assert journal is not None
        journal.write(sync=False, op=kind, dst=str(p.target), dev=st.st_dev, ino=st.st_ino, size=st.st_size,
                      mtime_ns=st.st_mtime_ns)
        journal.flush()

    try:
        method = _do(p, options.mode, options.verify, cancel, expect, note if journal is not None else None)
        return method, os.lstat(p.target).st_mtime_ns
    except (OSError, PhotoAtlasError, ValueError) as exc:  # ValueError: a path the OS cannot take
        return exc


def finish_interrupted(journal: Journal) -> None:
    """Settle what a killed run left, touching only files provably its own (same device and inode as it noted):
    our complete file at the target is marked done (for an interrupted move whose original is still there, and
    unchanged, the original is deleted then); our empty reservation (no hard links) is removed; anything else is
    marked abandoned, and a file someone else put at the target is left alone."""
    for dst, e in journal.started().items():
        target, source = Path(dst), Path(e.get("src") or "")
        if not journal.inside(target):
            journal.write(op="abandoned", dst=dst)  # an old journal naming a file outside DEST: not ours
            continue
        try:
            st = os.lstat(target)
        except OSError:
            journal.write(op="abandoned", dst=dst)
            continue
        reserved = e.get("reserved")
        if reserved is not None and _same_file(st, reserved) and st.st_size == 0:
            target.unlink()  # our reservation: a kill came between reserving the name and the rename
            journal.write(op="abandoned", dst=dst)
            continue
        if not _ours(target, st, e):
            journal.write(op="abandoned", dst=dst)  # not what this operation placed: not ours to adopt or delete
            continue
        if e["op"] == "move" and journal.trust != "signed" and os.path.lexists(source):
            journal.write(op="abandoned", dst=dst)  # an unsigned journal never has a file outside DEST deleted
            continue
        if e["op"] == "move" and "link" in e:
            if os.path.islink(source) and os.readlink(source) == e["link"]:
                os.unlink(source)  # the link was made anew in DEST: the old one goes, as the move would have
            journal.write(op="done", dst=dst, placed_mtime_ns=st.st_mtime_ns)
            continue
        if e["op"] == "move" and source.exists():
            src = os.stat(source)
            # Linked but not yet unlinked (one filesystem), or copied and verified (across filesystems) from an
            # original that has not changed since.
            if os.path.samestat(src, st) or (e.get("ready") is not None
                                             and identity(src) == (e["size"], e.get("mtime_ns"))):
                try:
                    os.unlink(source)
                except OSError:
                    # The original cannot go (locked, read-only folder): take the new name back, as the move
                    # itself would have, so the photo stays in one place, where it was; this run tries again.
                    with contextlib.suppress(OSError):
                        os.unlink(target)
                    journal.write(op="abandoned", dst=dst)
                    continue
        journal.write(op="done", dst=dst, placed_mtime_ns=st.st_mtime_ns)


def _same_file(st: os.stat_result, noted: dict[str, Any]) -> bool:
    return (st.st_dev, st.st_ino) == (noted.get("dev"), noted.get("ino"))


def _ours(target: Path, st: os.stat_result, e: dict[str, Any]) -> bool:
    """Whether the file at an interrupted operation's target is the one that operation placed: our finished
    copy (the "ready" note), the source itself (a hard link, or a move on one filesystem), or our link."""
    if e["op"] == "symlink" and os.path.islink(target):
        return os.readlink(target) == os.path.relpath(e["src"], target.parent)
    if e["op"] == "move" and "link" in e:
        return os.path.islink(target) and os.readlink(target) == link_text_at(Path(e["src"]), e["link"])
    ready = e.get("ready")  # also a link that fell back to a copy
    if ready is not None and _same_file(st, ready) and st.st_size == ready["size"]:
        return True
    return e["op"] in ("hardlink", "move") and _same_file(st, e) and st.st_size == e["size"]


def clean_temporaries(dest: Path, journal: Journal) -> list[str]:
    """Remove temporary files a killed run left: they can only be in DEST, a folder the journal wrote into, a
    sidecar's folder or the original folder of a move being undone (not a walk of all of DEST, which may hold
    much else). Best effort: one that cannot be removed is a warning, never a reason to stop."""
    folders = {dest}
    signed = journal.trust == "signed"  # an unsigned journal names no folder outside DEST that is acted on
    prefix = os.path.join(str(dest), "")

    def cleanable(path: Path) -> bool:
        """A folder inside DEST must really be there (not a link leading out); outside DEST (a sidecar beside an
        original, the original folder of a move) only a signed journal names one."""
        return journal.inside(path) if str(path).startswith(prefix) else signed

    for e in journal.entries:
        if e.get("op") in (*OPS, "xmp") and cleanable(Path(e["dst"])):
            folders.add(Path(e["dst"]).parent)
        if e.get("op") in ("move", "undo") and e.get("src") and signed and cleanable(Path(e["src"])):
            folders.add(Path(e["src"]).parent)  # a move back across drives copies beside the original first
    left: list[tuple[Path, OSError]] = []
    for folder in folders:
        try:
            found = list(folder.glob(f"{TMP_PREFIX}*"))
        except OSError:
            continue
        for tmp in found:
            try:
                _remove(tmp)
            except OSError as exc:
                left.append((tmp, exc))
    if not left:
        return []
    first, why = left[0]
    return [f"{len(left)} temporary files a stopped run left could not be removed ({first}: "
            f"{why.strerror or why}); they are not photos and can be deleted by hand"]


def _remove(path: Path) -> None:
    """Delete ``path``; if refused, clear a lock flag / read-only bit (ours to clear: only we make these files)
    and try once more."""
    try:
        os.unlink(path)
        return
    except FileNotFoundError:
        return
    except OSError:
        make_removable(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _open_dest(dest: Path, stack: ExitStack, mode: str) -> tuple[Journal, list[str]]:
    """Lock DEST, create the journal (before anything else is written) and settle an interrupted run; returns
    the journal and warnings about what could not be cleaned up."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
        stack.enter_context(DestLock(dest))
        journal = Journal(dest)
        journal.refuse_if_tampered()
        journal.refuse_if_unsigned()
        journal.open()
        stack.callback(journal.close)
        finish_interrupted(journal)  # settle what an interrupted run left, so the plan knows it
        warnings = clean_temporaries(dest, journal)
        journal.write(op="begin", mode=mode)  # also proves DEST is writable
    except OSError as exc:
        raise ExportError(f"cannot write to {dest}: {exc.strerror or exc}") from None
    return journal, warnings


def run_export(result: Any, dest: str | os.PathLike[str], options: ExportOptions | None = None,
               cancel: CancelToken | None = None) -> Generator[ProgressEvent, None, ExportSummary]:
    """Export the groups of ``result`` into ``dest``; yields progress, returns an ``ExportSummary``.

    One file that cannot be exported (unreadable, changed while exported, a sidecar that is not XML) is
    reported in the summary and the rest go on; a destination that cannot be written at all (read-only, full)
    stops the export with ``ExportError``, as does another export running into the same DEST. ``cancel`` is
    honoured between files and between chunks of a big copy: ``Cancelled`` is raised with the journal
    settled (every operation done or abandoned), so undo and a rerun work as after a finished export.
    """
    options = options or ExportOptions()
    cancel = cancel or CancelToken()
    dest = Path(dest).expanduser().resolve()
    summary = ExportSummary(dest=dest, dry_run=options.dry_run)
    names = check_groups(result, options)  # a bad group id fails before anything is written
    check_move_roots(result, options)
    if options.mark_filter.active:
        summary.left_out_by_marks = select_items(result, options)[1]
    around = source_folder_around(result, dest)
    if around is not None:
        warning = (f"DEST is inside the analysed folder {around}; the next analysis of it leaves the exported "
                   "files out (it skips folders holding an export journal)")
        summary.warnings.append(warning)
        yield ProgressEvent("warning", 0, None, warning)
    if options.dry_run:
        plan = plan_targets(result, dest, options, names, summary.failed)
        summary.planned = len(plan)
        summary.skipped_existing = sum(p.done for p in plan)
        summary.done = len(plan) - summary.skipped_existing
        yield ProgressEvent("export", len(plan), len(plan), f"{options.mode} into {dest} (dry run)")
        return summary
    with ExitStack() as stack:
        journal, warnings = _open_dest(dest, stack, options.mode)
        for warning in warnings:
            summary.warnings.append(warning)
            yield ProgressEvent("warning", 0, None, warning)
        plan = plan_targets(result, dest, options, names, summary.failed)
        summary.planned = len(plan)
        summary.skipped_existing = sum(p.done for p in plan)
        yield ProgressEvent("export", summary.skipped_existing, len(plan), f"{options.mode} into {dest}")
        try:
            yield from _export_files(plan, options, journal, summary, cancel, stack)
        except OSError as exc:  # the journal itself could not grow (every file operation reports its own)
            if exc.errno not in FATAL_ERRNOS:
                raise
            raise ExportError(f"stopped: {exc.strerror} in {dest}; nothing was lost, {summary.done} files were "
                              "exported (free some space and run the export again to finish, or undo it)") from None
        cancel.raise_if_cancelled()
        placed = [p for p in plan if p.done]  # the lists and sidecars name only files that are really there
        try:
            summary.warnings += write_manifests(result, dest, placed, journal, subgroups=options.nested)
        except OSError as exc:
            raise ExportError(f"stopped: {exc.strerror or exc} while writing the lists groups.csv/groups.json in "
                              f"{dest}; the {summary.done + summary.skipped_existing} exported files are all in "
                              "place (run the export again to write the lists)") from None
        if options.writes_sidecars:
            try:
                summary.xmp_written = _write_xmp(result, dest, placed, options, journal, summary, cancel)
            except OSError as exc:  # the journal could not note a sidecar (each sidecar reports its own errors)
                if exc.errno not in FATAL_ERRNOS:
                    raise
                raise ExportError(f"stopped: {exc.strerror} in {dest} while writing XMP sidecars; the exported "
                                  "files are all in place") from None
    yield ProgressEvent("export", len(plan), len(plan), "done")
    return summary


def _export_files(plan: list[Planned], options: ExportOptions, journal: Journal, summary: ExportSummary,
                  cancel: CancelToken, stack: ExitStack) -> Generator[ProgressEvent, None, None]:
    """Carry out the plan in journaled batches; marks each ``Planned`` done that got its place."""
    cancel = _StopToken(cancel)
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="photoatlas-export") \
        if options.mode in ("copy", "move") else None
    pending: dict[Future[Any], Planned] = {}
    expected: dict[int, tuple[int, int]] = {}
    fatal: list[tuple[Planned, OSError]] = []
    made: set[Path] = set()
    outside: set[Path] = set()  # target folders that lead out of DEST (links): nothing goes there
    last = time.monotonic()
    total = len(plan)

    def record(p: Planned, outcome: tuple[str, int] | BaseException | None) -> None:
        if isinstance(outcome, tuple):
            method, mtime_ns = outcome
            journal.write(sync=False, op="done", dst=str(p.target), placed_mtime_ns=mtime_ns, method=method)
            p.done = True
            summary.done += 1
            if "->" in method or "(" in method:
                summary.fallbacks[method] = summary.fallbacks.get(method, 0) + 1
            return
        journal.write(sync=False, op="abandoned", dst=str(p.target))
        if outcome is None or isinstance(outcome, Cancelled):
            return
        if isinstance(outcome, OSError) and outcome.errno in FATAL_ERRNOS:
            fatal.append((p, outcome))
        else:
            summary.failed.append((str(p.source), _reason(outcome)))

    def settle() -> None:
        """On cancel, an error or the generator being closed: stop the workers at their next check, then
        journal what each in-flight operation came to, so the journal holds no loose ends."""
        cancel.cancel()
        journal.tolerate_full = True  # stopped by a full disk: note what can be noted, never raise again
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        for future, p in pending.items():
            record(p, None if future.cancelled() else future.result())
        pending.clear()
        journal.sync()

    if pool is not None:
        stack.callback(pool.shutdown, wait=True)
    todo = [p for p in plan if not p.done]
    finished = False
    try:
        for start in range(0, len(todo), BATCH):
            cancel.raise_if_cancelled()
            batch: list[Planned] = []
            for p in todo[start:start + BATCH]:
                try:
                    st = p.source.stat()
                    if not stat.S_ISREG(st.st_mode):
                        summary.failed.append((str(p.source), f"{file_kind(st)}, not a file; not exported"))
                        continue
                    extra: dict[str, Any] = {}
                    if options.mode == "move":
                        # What undo checks before it moves the file out of DEST again (with size and time).
                        extra["hash"] = quick_hash(p.source)
                        if os.path.islink(p.source):
                            extra["link"] = os.readlink(p.source)
                    if p.target.parent not in made:
                        p.target.parent.mkdir(parents=True, exist_ok=True)
                        if not journal.inside(p.target):  # a group folder that is a link out of DEST
                            outside.add(p.target.parent)
                        made.add(p.target.parent)
                    if p.target.parent in outside:
                        summary.failed.append((str(p.source), f"its folder {p.target.parent.name} in DEST is a "
                                                              "link leading out of DEST; not exported"))
                        continue
                except OSError as exc:
                    if exc.errno in FATAL_ERRNOS:
                        raise ExportError(f"stopped: {exc.strerror} while making {p.target.parent}; nothing was "
                                          f"lost, {summary.done} files were exported") from None
                    summary.failed.append((str(p.source), _reason(exc)))
                    continue
                expected[id(p)] = identity(st)
                # The source's device and inode too: a hard link, or a move on one filesystem, is the same
                # file at the target, which is how recovery after a kill knows it is ours.
                # A nested target also names its folder relative to DEST, so undo finds it in a renamed DEST.
                nested = {"subgroup": p.subgroup_id, "folder": p.folder} if p.subgroup_id >= 0 else {}
                journal.write(sync=False, op=options.mode, src=str(p.source), dst=str(p.target), size=st.st_size,
                              mtime_ns=st.st_mtime_ns, group=p.group_id, dev=st.st_dev, ino=st.st_ino, **nested,
                              **extra)
                batch.append(p)
            journal.sync()  # every entry of the batch is on disk before any of its operations runs
            if pool is None:
                for p in batch:
                    record(p, _attempt(p, options, cancel, expected[id(p)], journal))
                    if time.monotonic() - last >= PROGRESS_EVERY:
                        last = time.monotonic()
                        journal.flush()
                        yield ProgressEvent("export", summary.skipped_existing + summary.done, total, p.target.name)
            else:
                pending.update({pool.submit(_attempt, p, options, cancel, expected[id(p)], journal): p
                                for p in batch})
                while pending:
                    # Whatever completed within the interval, in one go: a wake-up per file would cost more
                    # than a small file's copy. (Cancel does not wait for this: workers check the token.)
                    complete, _ = wait(pending, timeout=PROGRESS_EVERY)
                    for future in complete:
                        p = pending.pop(future)
                        record(p, future.result())
                    journal.flush()
                    if pending:
                        yield ProgressEvent("export", summary.skipped_existing + summary.done, total,
                                            p.target.name)
            journal.sync()
            if fatal:
                p, error = fatal[0]
                raise ExportError(f"stopped: {error.strerror} while writing {p.target}; nothing was lost, "
                                  f"{summary.done} files were exported (run the export again to finish)")
            cancel.raise_if_cancelled()
            yield ProgressEvent("export", summary.skipped_existing + summary.done, total,
                                batch[-1].target.name if batch else "")
        finished = True
    finally:
        if not finished:
            settle()


class _StopToken(CancelToken):
    """Cancelled when the caller's token is, or when the export stops for its own reasons (an error, the
    generator being closed): the workers then stop at their next check without touching the caller's token."""

    def __init__(self, outer: CancelToken) -> None:
        super().__init__()
        self._outer = outer

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or self._outer.cancelled

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled("cancelled")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PhotoAtlasError):
        return exc.user_message
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


MAX_SIDECAR = 16 << 20  # bytes: what xmp.py reads of a sidecar; a larger "sidecar" is not copied either


def _copy_regular(source: Path, target: Path) -> str:
    """Copy the regular file ``source`` (at most ``MAX_SIDECAR`` bytes) to the new file ``target``, keeping its
    times; returns the copy's SHA-256 (undo restores a backup only while it is still these bytes)."""
    with open_regular(source) as src:
        data = src.read(MAX_SIDECAR + 1)
        st = os.fstat(src.fileno())
    if len(data) > MAX_SIDECAR:
        raise OSError(errno.EFBIG, "larger than any XMP sidecar", str(source))
    # With the sidecar's own permission bits (a private sidecar's backup stays private).
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), st.st_mode & 0o777)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    return hashlib.sha256(data).hexdigest()


def _write_xmp(result: Any, dest: Path, plan: list[Planned], options: ExportOptions, journal: Journal,
               summary: ExportSummary, cancel: CancelToken) -> int:
    """Keywords into sidecars; each one journaled (with a backup of a sidecar that existed) so undo can
    remove what it created and restore what it changed. A sidecar that cannot be read or written is
    reported and the others go on; a full or read-only disk stops."""
    from desktop_app.core.metadata.xmp import sidecar_path, write_keywords
    from desktop_app.core.review.marks import xmp_rating

    backups = dest / XMP_BACKUPS
    written = 0
    sharing: dict[tuple[Path, str], list[str]] = {}  # sidecar -> the pictures whose keywords it holds
    best = best_frames(result) if (options.best_rating is not None or options.best_label) else set()
    marks = marks_for(result, options)
    for p in plan:
        if p.item < 0 or result.items[p.item].kind != "image":
            continue
        is_best = p.item in best
        if not options.xmp and not is_best:
            continue
        cancel.raise_if_cancelled()
        image = p.target if (options.xmp_on_copies or options.mode == "move") else p.source
        sidecar = sidecar_path(image, options.xmp_naming)
        sharing.setdefault((sidecar.parent, name_key(sidecar.name)), []).append(image.name)
        started = False
        try:
            backup = backup_hash = None
            if os.path.lexists(sidecar):
                st = os.lstat(sidecar)
                if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SIDECAR:
                    # A link (to a device, to a key file) or a FIFO is not a sidecar: never read, copied or replaced.
                    what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else file_kind(st)
                    summary.failed.append((str(sidecar), f"XMP sidecar is {what}, not a file PhotoAtlas writes "
                                                         "into; left as it is" if not stat.S_ISREG(st.st_mode)
                                           else "XMP sidecar is larger than any sidecar; left as it is"))
                    continue
                backups.mkdir(exist_ok=True)
                if not journal.inside(backups / "x"):
                    raise OSError(errno.EPERM, "the backup folder in DEST is a link leading out of DEST", str(backups))
                backup = backups / f"{uuid.uuid4().hex}.xmp"
                backup_hash = _copy_regular(sidecar, backup)
            journal.write(op="xmp", dst=str(sidecar), backup=str(backup) if backup else None,
                          backup_sha256=backup_hash)
            started = True
            keywords = [p.group_name] if options.xmp else []
            # The photographer's own rating and label win over --best-rating/--best-label (a rejected best frame
            # stays rejected); an unmarked picture leaves the sidecar's own rating and label as they are.
            mark = marks.get(result.items[p.item].path) if not marks.is_empty() else Mark()
            rating = xmp_rating(mark, result.items[p.item].path in marks.decided)
            if rating is None and is_best:
                rating = options.best_rating
            label = mark.label or (options.best_label if is_best else None)
            out = write_keywords(image, keywords, options.xmp_naming, rating=rating, label=label)
        except OSError as exc:
            if started:
                journal.write(op="xmp-failed", dst=str(sidecar))
            if exc.errno in FATAL_ERRNOS:
                raise ExportError(f"stopped: {exc.strerror} while writing {sidecar}; the exported files are all "
                                  "in place") from None
            summary.failed.append((str(sidecar), f"XMP sidecar: {_reason(exc)}"))
            continue
        if out is None:
            journal.write(op="xmp-failed", dst=str(sidecar))
            summary.failed.append((str(sidecar), "XMP sidecar is not valid XML (or declares a DOCTYPE); left as "
                                                 "it was"))
            continue
        st = sidecar.stat()
        # Its SHA-256 too: undo restores or removes a sidecar beside an original only when it is what was written.
        journal.write(op="xmp-done", dst=str(sidecar), size=st.st_size, mtime_ns=st.st_mtime_ns,
                      sha256=sha256_file(sidecar))
        written += 1
    for (folder, _), images in sharing.items():
        if len(images) > 1:  # Lightroom names a sidecar by the stem: shot.jpg and shot.png share shot.xmp
            summary.warnings.append(f"{', '.join(images)} in {folder} share one XMP sidecar (Lightroom naming), "
                                    "which now holds the keywords of all of them; darktable naming keeps them apart")
    return written
