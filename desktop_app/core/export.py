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

import csv
import errno
import json
import os
import shutil
import time
import uuid
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from desktop_app.core.errors import BadArgument, Cancelled, PhotoAtlasError
from desktop_app.core.filenames import MAX_NAME, UNSORTED, NamePlanner, group_folder, safe_name
from desktop_app.core.items import RAW_EXTENSIONS
from desktop_app.core.journal import JOURNAL, OPS, DestLock, Journal
from desktop_app.core.placing import (
    FATAL_ERRNOS,
    TMP_PREFIX,
    ExportError,
    SourceChanged,
    copy_verified,
    identity,
    place,
)
from desktop_app.core.progress import CancelToken, ProgressEvent

__all__ = ["JOURNAL", "MAX_NAME", "TMP_PREFIX", "UNSORTED", "ExportError", "ExportOptions", "ExportSummary",
           "Planned", "SourceChanged", "UndoSummary", "group_folder", "plan_export", "run_export", "safe_name",
           "undo_export", "write_manifests"]

BATCH = 256  # operations journaled (one fsync) and then carried out together
WORKERS = 4  # copies in flight: overlaps one file's fsync with the next one's reads
PROGRESS_EVERY = 0.1  # s between progress events while files complete (the GUI and tqdm throttle further)

Mode = Literal["copy", "hardlink", "symlink", "move"]


@dataclass
class ExportOptions:
    mode: Mode = "copy"
    groups: set[int] | None = None  # None: every group
    include_noise: bool = False
    companions: bool = False
    verify: bool = False  # also compare SHA-256 (size is always checked)
    dry_run: bool = False
    xmp: bool = False
    xmp_on_copies: bool = False
    xmp_naming: Literal["lightroom", "darktable"] = "lightroom"
    best_only: bool = False  # of each near-duplicate / burst set, only its best frame
    best_rating: int | None = None  # write xmp:Rating (0-5) on the best frame of each set
    best_label: str | None = None  # write xmp:Label ("Green", "Pick"...) on the best frame of each set

    @property
    def writes_sidecars(self) -> bool:
        return self.xmp or self.best_rating is not None or bool(self.best_label)


@dataclass
class Planned:
    source: Path
    target: Path
    group_id: int
    group_name: str
    item: int  # row in the results document (-1 for a companion)
    done: bool = False  # in place: exported by an earlier run (as planned), or by this one once carried out


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
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        what = "would export" if self.dry_run else "exported"
        out = [f"{what} {self.done} files into {self.dest} ({self.skipped_existing} already there)"]
        out += [f"  warning: {w}" for w in self.warnings]
        out += [f"  {n} files: {how} (not possible here)" for how, n in self.fallbacks.items()]
        if self.failed:
            out.append(f"  {len(self.failed)} not exported (the rest went on):")
            out += [f"  failed {p}: {why}" for p, why in self.failed[:20]]
            if len(self.failed) > 20:
                out.append(f"  … and {len(self.failed) - 20} more")
        if self.xmp_written:
            out.append(f"  {self.xmp_written} XMP sidecars written (keywords, or the best frames' rating/label)")
        return out


# -- planning --------------------------------------------------------------------------------------------
class _Companions:
    """Same-stem sidecars in an image's folder: .xmp (both namings), .txt captions, the RAW of a RAW+JPEG.
    Each folder is listed once, however many pictures it holds (one listing per picture costs minutes
    in a folder of 10,000)."""

    def __init__(self) -> None:
        self._folders: dict[Path, tuple[dict[str, list[str]], dict[str, list[str]]]] = {}

    def __call__(self, source: Path) -> list[Path]:
        index = self._folders.get(source.parent)
        if index is None:
            index = self._folders[source.parent] = self._index(source.parent)
        by_stem, by_lower_name = index
        found = {name for name in by_stem.get(source.stem, ())
                 if os.path.splitext(name)[1].lower() in RAW_EXTENSIONS | {".xmp", ".txt"}}
        found.update(by_lower_name.get(source.name.lower() + ".xmp", ()))  # darktable's IMG_1.jpg.xmp
        found.discard(source.name)
        return sorted(source.parent / name for name in found)

    @staticmethod
    def _index(folder: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        by_stem: dict[str, list[str]] = {}
        by_lower_name: dict[str, list[str]] = {}
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if not entry.is_file():
                            continue
                    except OSError:
                        continue
                    by_stem.setdefault(os.path.splitext(entry.name)[0], []).append(entry.name)
                    by_lower_name.setdefault(entry.name.lower(), []).append(entry.name)
        except OSError:
            pass  # an unreadable folder has no companions to offer
        return by_stem, by_lower_name


def _not_best(result: Any) -> set[int]:
    """Rows that ``--best-only`` leaves out: every member of a duplicate/burst set but its best frame."""
    return {m for s in result.similar_sets or [] for m in s.others}


def _best_frames(result: Any) -> set[int]:
    return {s.best for s in result.similar_sets or []}


def _check_groups(result: Any, options: ExportOptions) -> dict[int, str]:
    """Group names by id; raises ``BadArgument`` when there are no groups or an asked-for id is unknown."""
    if result.analysis is None:
        raise BadArgument("the results document has no groups yet; run 'photoatlas analyze' first")
    names = {c.id: c.name for c in result.analysis.clusters}
    uses_sets = options.best_only or options.best_rating is not None or bool(options.best_label)
    if uses_sets and getattr(result, "similar_sets", None) is None:
        raise BadArgument("no near-duplicates or bursts were looked for yet; run 'photoatlas duplicates' first")
    if options.best_rating is not None and not 0 <= options.best_rating <= 5:
        raise BadArgument("a rating goes from 0 to 5")
    if options.groups is not None:
        unknown = sorted(options.groups - set(names))
        if unknown:
            raise BadArgument(f"no group with id {unknown[0]} (ids go from 0 to {max(names, default=-1)})")
    return names


def plan_export(result: Any, dest: Path, options: ExportOptions) -> list[Planned]:
    """What goes where. Targets never collide with each other or with files already in DEST, compared as
    a case-insensitive, Unicode-normalising filesystem would; sources the journal says were already exported
    (and are still there) are marked ``done``."""
    names = _check_groups(result, options)
    analysis = result.analysis
    dest = Path(dest)
    previous = Journal(dest).completed() if (dest / JOURNAL).exists() else {}
    exported_from = {(e["src"], os.path.dirname(dst)): dst for dst, e in previous.items()}
    planner = NamePlanner()
    companions = _Companions()
    plan: list[Planned] = []
    planned_sources: set[Path] = set()
    chosen = []
    left_out = _not_best(result) if options.best_only else set()
    for row, item in enumerate(result.items):
        if row in left_out:
            continue
        label = int(analysis.labels[row])
        if label < 0 and not options.include_noise:
            continue
        if label >= 0 and options.groups is not None and label not in options.groups:
            continue
        chosen.append((row, item, label))
    exported_images = {item.path for _, item, _ in chosen if item.kind == "image"}
    folders: dict[int, str] = {}
    for row, item, label in chosen:
        if options.companions and item.caption_of and item.caption_of in exported_images:
            continue  # a caption travels with its picture (below)
        source = Path(item.path)
        if source in planned_sources:
            continue  # already on its way as another picture's companion (the RAW of a RAW+JPEG pair)
        if label not in folders:
            folders[label] = str(dest / group_folder(label, names.get(label, "")))
        folder = folders[label]
        group = names.get(label, UNSORTED)
        main, done = _earlier(source, folder, planner, exported_from)
        if main is None:
            main = planner.take(folder, safe_name(source.name))
        plan.append(Planned(source, Path(folder, main), label, group, row, done))
        planned_sources.add(source)
        extras = [Path(item.raw)] if getattr(item, "raw", None) else []  # a RAW+JPEG pair always travels together
        if options.companions and item.kind == "image":
            extras += companions(source)
        for extra in extras:
            if extra in planned_sources:
                continue
            name, done = _earlier(extra, folder, planner, exported_from)
            if name is None:
                # Companions follow the main file's (possibly numbered) stem: IMG_1 (2).jpg + IMG_1 (2).xmp.
                stem = main[: -len(source.suffix)] if source.suffix and main.endswith(source.suffix) else main
                tail = extra.name[len(source.stem):] if extra.name.startswith(source.stem) else extra.suffix
                wanted = safe_name(stem + tail)
                name = planner.take(folder, wanted if planner.is_free(folder, wanted) else safe_name(extra.name))
            planned_sources.add(extra)
            plan.append(Planned(extra, Path(folder, name), label, group, -1, done))
    return plan


def _earlier(source: Path, folder: str, planner: NamePlanner, exported_from: dict[tuple[str, str], str],
             ) -> tuple[str | None, bool]:
    """The name an earlier run gave ``source`` in ``folder``, when that file is still there."""
    earlier = exported_from.get((str(source), folder))
    if earlier is not None and planner.present(folder, os.path.basename(earlier)):
        planner.claim(folder, os.path.basename(earlier))
        return os.path.basename(earlier), True
    return None, False


def source_folder_around(result: Any, dest: Path) -> Path | None:
    """The analysed folder DEST lies in, if any: a folder holding analysed items, or the folder all of them
    share (not the filesystem root or the home folder, which hold everything)."""
    parents = {os.path.abspath(folder) for folder in {os.path.dirname(i.path) for i in result.items}}
    if not parents:
        return None
    candidates = set(parents)
    common = Path(os.path.commonpath(sorted(parents)))
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError, OSError):  # no home folder known (a service account)
        home = Path(common.anchor)
    if common.parent != common and common != home and common not in home.parents:
        candidates.add(str(common))
    for folder in sorted(candidates, key=len):
        resolved = Path(folder).resolve()
        if resolved == dest or resolved in dest.parents:
            return resolved
    return None


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


def _do(p: Planned, mode: Mode, verify: bool, cancel: CancelToken, expect: tuple[int, int]) -> str:
    """Carry out one planned operation (its folder exists); returns the method actually used. ``expect`` is
    the source's journaled (size, mtime_ns): a source that no longer matches is refused, never moved."""
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
            copy_verified(p.source, p.target, verify=verify, cancel=cancel, expect=expect)
            return f"{mode}->copy"
    if mode == "move":
        if same_device(_unchanged(p.source, expect), p.target.parent):
            try:
                place(p.source, p.target)  # one link + unlink (or an exclusive rename): never two files, never none
                return "move"
            except OSError as exc:
                if exc.errno != errno.EXDEV:  # one device, two mounts (a bind mount): copy below
                    raise
        copy_verified(p.source, p.target, verify=verify, cancel=cancel, expect=expect)
        if identity(os.stat(p.source)) != tuple(expect):
            os.unlink(p.target)  # placed a moment ago by us; the changed original stays where it is
            raise SourceChanged(f"{p.source} changed while it was moved; the original was kept")
        os.unlink(p.source)  # only now: the copy is in place, verified, and still the source's bytes
        return "move (copy, verify, delete)"
    copy_verified(p.source, p.target, verify=verify, cancel=cancel, expect=expect)
    return "copy"


def _attempt(p: Planned, options: ExportOptions, cancel: CancelToken, expect: tuple[int, int],
             ) -> tuple[str, int] | BaseException | None:
    """One operation (on a worker thread for copies and moves): the method used and the modification time
    the target got (FAT and exFAT round it), the error that stopped it, or None when it was cancelled before
    it began."""
    if cancel.cancelled:
        return None
    try:
        method = _do(p, options.mode, options.verify, cancel, expect)
        return method, os.lstat(p.target).st_mtime_ns
    except (OSError, PhotoAtlasError, ValueError) as exc:  # ValueError: a path the OS cannot take
        return exc


def _finish_interrupted(journal: Journal) -> None:
    """Settle what a killed run left: a target that is complete is marked done (for an interrupted move whose
    original is still there, unchanged and identical to it, the original is deleted then); an empty file left
    by an interrupted placement without hard links is removed; anything else is marked abandoned."""
    for dst, e in journal.started().items():
        target, source = Path(dst), Path(e["src"])
        try:
            st = os.lstat(target)
        except OSError:
            journal.write(op="abandoned", dst=dst)
            continue
        if not os.path.islink(target) and st.st_size != e["size"]:
            if st.st_size == 0:
                target.unlink()  # our reservation (the name was free when planned, and DEST was locked)
            journal.write(op="abandoned", dst=dst)
            continue
        if e["op"] == "move" and source.exists():
            src = os.stat(source)
            same = os.path.samestat(src, os.stat(target)) or (
                st.st_size == e["size"] and st.st_mtime_ns == e.get("mtime_ns"))
            if identity(src) == (e["size"], e.get("mtime_ns")) and same:
                os.unlink(source)
        journal.write(op="done", dst=dst, placed_mtime_ns=st.st_mtime_ns)


def _clean_temporaries(dest: Path, journal: Journal) -> None:
    """Remove temporary copies a killed run left: they can only be in DEST or a folder the journal wrote into
    (not a walk of all of DEST, which may hold much else)."""
    folders = {dest} | {Path(e["dst"]).parent for e in journal.entries if e.get("op") in OPS}
    for folder in folders:
        for tmp in folder.glob(f"{TMP_PREFIX}*"):
            tmp.unlink(missing_ok=True)


def _open_dest(dest: Path, stack: ExitStack, mode: str) -> Journal:
    """Lock DEST, create the journal (before anything else is written) and settle an interrupted run."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
        stack.enter_context(DestLock(dest))
        journal = Journal(dest)
        journal.open()
        stack.callback(journal.close)
        _finish_interrupted(journal)  # settle what an interrupted run left, so the plan knows it
        _clean_temporaries(dest, journal)
        journal.write(op="begin", mode=mode)  # also proves DEST is writable
    except OSError as exc:
        raise ExportError(f"cannot write to {dest}: {exc.strerror or exc}") from None
    return journal


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
    _check_groups(result, options)  # a bad group id fails before anything is written
    around = source_folder_around(result, dest)
    if around is not None:
        warning = (f"DEST is inside the analysed folder {around}; the next analysis of it leaves the exported "
                   "files out (it skips folders holding an export journal)")
        summary.warnings.append(warning)
        yield ProgressEvent("warning", 0, None, warning)
    if options.dry_run:
        plan = plan_export(result, dest, options)
        summary.planned = len(plan)
        summary.skipped_existing = sum(p.done for p in plan)
        summary.done = len(plan) - summary.skipped_existing
        yield ProgressEvent("export", len(plan), len(plan), f"{options.mode} into {dest} (dry run)")
        return summary
    with ExitStack() as stack:
        journal = _open_dest(dest, stack, options.mode)
        plan = plan_export(result, dest, options)
        summary.planned = len(plan)
        summary.skipped_existing = sum(p.done for p in plan)
        yield ProgressEvent("export", summary.skipped_existing, len(plan), f"{options.mode} into {dest}")
        yield from _export_files(plan, options, journal, summary, cancel, stack)
        cancel.raise_if_cancelled()
        write_manifests(result, dest, plan)
        if options.writes_sidecars:
            placed = {p.target for p in plan if p.done}
            summary.xmp_written = _write_xmp(result, dest, [p for p in plan if p.target in placed], options,
                                             journal, summary, cancel)
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
    last = time.monotonic()
    total = len(plan)

    def record(p: Planned, outcome: tuple[str, int] | BaseException | None) -> None:
        if isinstance(outcome, tuple):
            method, mtime_ns = outcome
            journal.write(sync=False, op="done", dst=str(p.target), placed_mtime_ns=mtime_ns)
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
                    if p.target.parent not in made:
                        p.target.parent.mkdir(parents=True, exist_ok=True)
                        made.add(p.target.parent)
                except OSError as exc:
                    if exc.errno in FATAL_ERRNOS:
                        raise ExportError(f"stopped: {exc.strerror} while making {p.target.parent}; nothing was "
                                          f"lost, {summary.done} files were exported") from None
                    summary.failed.append((str(p.source), _reason(exc)))
                    continue
                expected[id(p)] = identity(st)
                journal.write(sync=False, op=options.mode, src=str(p.source), dst=str(p.target), size=st.st_size,
                              mtime_ns=st.st_mtime_ns, group=p.group_id)
                batch.append(p)
            journal.sync()  # every entry of the batch is on disk before any of its operations runs
            if pool is None:
                for p in batch:
                    record(p, _attempt(p, options, cancel, expected[id(p)]))
                    if time.monotonic() - last >= PROGRESS_EVERY:
                        last = time.monotonic()
                        journal.flush()
                        yield ProgressEvent("export", summary.skipped_existing + summary.done, total, p.target.name)
            else:
                pending.update({pool.submit(_attempt, p, options, cancel, expected[id(p)]): p for p in batch})
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
                p, exc = fatal[0]
                raise ExportError(f"stopped: {exc.strerror} while writing {p.target}; nothing was lost, "
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


def _write_xmp(result: Any, dest: Path, plan: list[Planned], options: ExportOptions, journal: Journal,
               summary: ExportSummary, cancel: CancelToken) -> int:
    """Keywords into sidecars; each one journaled (with a backup of a sidecar that existed) so undo can
    remove what it created and restore what it changed. A sidecar that cannot be read or written is
    reported and the others go on; a full or read-only disk stops."""
    from desktop_app.core.xmp import sidecar_path, write_keywords

    backups = dest / ".photoatlas-xmp-backup"
    written = 0
    best = _best_frames(result) if (options.best_rating is not None or options.best_label) else set()
    for p in plan:
        if p.item < 0 or result.items[p.item].kind != "image":
            continue
        is_best = p.item in best
        if not options.xmp and not is_best:
            continue
        cancel.raise_if_cancelled()
        image = p.target if (options.xmp_on_copies or options.mode == "move") else p.source
        sidecar = sidecar_path(image, options.xmp_naming)
        started = False
        try:
            backup = None
            if sidecar.exists():
                backups.mkdir(exist_ok=True)
                backup = backups / f"{uuid.uuid4().hex}.xmp"
                shutil.copy2(sidecar, backup)
            journal.write(op="xmp", dst=str(sidecar), backup=str(backup) if backup else None)
            started = True
            keywords = [p.group_name] if options.xmp else []
            out = write_keywords(image, keywords, options.xmp_naming,
                                 rating=options.best_rating if is_best else None,
                                 label=options.best_label if is_best else None)
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
        journal.write(op="xmp-done", dst=str(sidecar), size=st.st_size, mtime_ns=st.st_mtime_ns)
        written += 1
    return written


def write_manifests(result: Any, dest: Path, plan: Iterable[Planned]) -> None:
    """``groups.csv`` and ``groups.json`` in DEST: a row per exported item (companions are not listed)."""
    analysis = result.analysis
    coords = analysis.coords.tolist()  # plain floats: numpy scalar access per row costs more than the row
    scores = analysis.outlier_scores.tolist()
    rows = [{"original_path": str(p.source), "exported_path": str(p.target), "group_id": p.group_id,
             "group_name": p.group_name, "x": round(coords[p.item][0], 5), "y": round(coords[p.item][1], 5),
             "outlier_score": round(scores[p.item], 4), "kind": result.items[p.item].kind}
            for p in plan if p.item >= 0]
    # One row per line: readable, and json's C encoder (indent= would fall back to the slow Python one).
    for name, write in (("groups.json", lambda f: f.write(
                            "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n")),
                        ("groups.csv", lambda f: _csv(f, rows))):
        tmp = dest / f"{TMP_PREFIX}{name}"
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            write(f)
        os.replace(tmp, dest / name)  # our own manifest: replacing the previous one is the point


MANIFEST_COLUMNS = ["original_path", "exported_path", "group_id", "group_name", "x", "y", "outlier_score", "kind"]


def _csv(f: Any, rows: list[dict[str, Any]]) -> None:
    writer = csv.writer(f)
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows([[r[c] for c in MANIFEST_COLUMNS] for r in rows])


# -- undo -------------------------------------------------------------------------------------------------
@dataclass
class UndoSummary:
    reversed: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)


def undo_export(dest: str | os.PathLike[str]) -> Generator[ProgressEvent, None, UndoSummary]:
    """Reverse the exports recorded in DEST's journal: moved files go back, created files are removed —
    but only files the export created and that have not changed since. Holds DEST's lock, like an export."""
    dest = Path(dest).expanduser().resolve()
    if not (dest / JOURNAL).exists():
        raise BadArgument(f"{dest} has no PhotoAtlas export journal; nothing to undo")
    with ExitStack() as stack:
        try:
            stack.enter_context(DestLock(dest))
        except OSError as exc:
            raise ExportError(f"cannot write to {dest}: {exc.strerror or exc}") from None
        journal = Journal(dest)
        stack.callback(journal.close)
        _finish_interrupted(journal)
        summary = UndoSummary()
        done = journal.completed()
        yield ProgressEvent("undo", 0, len(done), str(dest))
        _undo_xmp(journal, summary)
        for k, (dst, e) in enumerate(reversed(list(done.items()))):
            target, source = Path(dst), Path(e["src"])
            why = _refusal(target, source, e)
            if why:
                summary.refused.append((dst, why))
                continue
            journal.write(op="undo", dst=dst)
            if e["op"] == "move":
                source.parent.mkdir(parents=True, exist_ok=True)
                _move_back(target, source)
            else:
                target.unlink()
            journal.write(op="undone", dst=dst)
            summary.reversed += 1
            if k % 20 == 0:
                yield ProgressEvent("undo", k + 1, len(done), target.name)
        for folder in sorted({Path(d).parent for d in done}, key=lambda p: -len(p.parts)):
            try:
                folder.rmdir()  # only empty folders we made
            except OSError:
                pass
    yield ProgressEvent("undo", len(done), len(done), "done")
    return summary


def _move_back(target: Path, source: Path) -> None:
    """The reverse of a move, with the same guarantees: never replaces what now lives at ``source``."""
    if same_device(os.stat(target), source.parent):
        try:
            place(target, source)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
    copy_verified(target, source, verify=True)
    os.unlink(target)


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
        journal.write(op="xmp-undone", dst=str(sidecar))
        summary.reversed += 1


def _refusal(target: Path, source: Path, e: dict[str, Any]) -> str:
    if e["op"] == "symlink" and target.is_symlink():
        return ""
    if not target.exists():
        return "no longer there" if e["op"] != "symlink" else "no longer the link PhotoAtlas made"
    st = target.stat()
    # The time the target got when placed: FAT and exFAT keep times to 2 s / 10 ms, not the source's ns.
    placed_mtime = e.get("placed_mtime_ns", e["mtime_ns"])
    if st.st_size != e["size"] or (e["op"] != "hardlink" and st.st_mtime_ns not in (placed_mtime, e["mtime_ns"])):
        return "changed since it was exported; left alone"
    if e["op"] == "move" and (source.exists() or source.is_symlink()):
        return f"something else now lives at {source}; left alone"
    return ""
