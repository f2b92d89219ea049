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
import csv
import errno
import json
import os
import re
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
from desktop_app.core.filenames import MAX_NAME, UNSORTED, NamePlanner, group_folder, name_key, safe_name
from desktop_app.core.items import RAW_EXTENSIONS
from desktop_app.core.journal import JOURNAL, OPS, DestLock, Journal
from desktop_app.core.placing import (
    FATAL_ERRNOS,
    TMP_PREFIX,
    ExportError,
    Note,
    SourceChanged,
    copy_verified,
    identity,
    make_removable,
    place,
    temporary_name,
)
from desktop_app.core.progress import CancelToken, ProgressEvent
from desktop_app.core.review import Mark, MarkFilter, Marks

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
    nested: bool = False  # a group's sub-groups as folders inside its folder (01 wedding/03 dinner/)
    # The photographer's marks: which ones decide (None: the results document's ``marks``), and what must hold
    # for a picture to be exported. Exported pictures' ratings and labels go into their sidecars too.
    marks: Marks | None = None
    min_rating: int = 0  # N stars or more
    picks_only: bool = False
    not_rejected: bool = False

    @property
    def mark_filter(self) -> MarkFilter:
        return MarkFilter(min_rating=self.min_rating, picks_only=self.picks_only, hide_rejected=self.not_rejected)

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
    subgroup_id: int = -1  # the sub-group whose folder (inside the group's) it goes to; -1: the group's folder
    subgroup_name: str = ""

    @property
    def folder(self) -> str | None:
        """The target's folder relative to DEST, ``group/sub-group`` (always ``/``), for a target in a
        sub-group's folder; None for one directly in a group's folder."""
        if self.subgroup_id < 0:
            return None
        return f"{self.target.parent.parent.name}/{self.target.parent.name}"


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
        out = [f"{what} {self.done} files into {self.dest} ({self.skipped_existing} already there)"]
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


def _marks(result: Any, options: ExportOptions) -> Marks:
    """The marks that filter the export and go into sidecars: the options', else the results document's."""
    if options.marks is not None:
        return options.marks
    return getattr(result, "marks", None) or Marks()


def _check_groups(result: Any, options: ExportOptions) -> dict[int, str]:
    """Group names by id; raises ``BadArgument`` when there are no groups, an asked-for id is unknown, or a
    rating filter has no ratings or picks to go by."""
    if result.analysis is None:
        raise BadArgument("the results document has no groups yet; run 'photoatlas analyze' first")
    names = {c.id: c.name for c in result.analysis.clusters}
    uses_sets = options.best_only or options.best_rating is not None or bool(options.best_label)
    if uses_sets and getattr(result, "similar_sets", None) is None:
        raise BadArgument("no near-duplicates or bursts were looked for yet; run 'photoatlas duplicates' first")
    if options.best_rating is not None and not 0 <= options.best_rating <= 5:
        raise BadArgument("a rating goes from 0 to 5")
    if not 0 <= options.min_rating <= 5:
        raise BadArgument("--min-rating goes from 0 to 5 stars")
    if (options.picks_only or options.min_rating) and _marks(result, options).is_empty():
        # Every picture would be left out: say why instead of exporting nothing.
        raise BadArgument("no picture is rated or picked yet, so 'picks only' / 'N stars or more' would export "
                          "nothing; rate or pick pictures in the window first")
    if options.groups is not None:
        unknown = sorted(options.groups - set(names))
        if unknown:
            raise BadArgument(f"no group with id {unknown[0]} (ids go from 0 to {max(names, default=-1)})")
    return names


def plan_export(result: Any, dest: Path, options: ExportOptions) -> list[Planned]:
    """What goes where. Targets never collide with each other or with files already in DEST, compared as
    a case-insensitive, Unicode-normalising filesystem would; sources the journal says were already exported
    (and are still there) are marked ``done``."""
    return _plan(result, Path(dest), options, _check_groups(result, options))


def _subgroup_folders(analysis: Any) -> dict[int, tuple[int, str, str]]:
    """Sub-group id -> (its group's id, its folder inside the group's folder, its name). Folders are numbered
    within their group like groups are in DEST (``01 dinner``), in sub-group order (largest first), with the
    same naming rules."""
    folders: dict[int, tuple[int, str, str]] = {}
    for group in analysis.clusters:
        for index, sub in enumerate(analysis.children(group.id)):
            folders[sub.id] = (group.id, group_folder(index, sub.name), sub.name)
    return folders


def _journal_folder_key(dst: str, e: dict[str, Any]) -> str:
    """The folder (relative to DEST, as a name key) a journaled target went to: ``group/sub-group`` for a
    nested export, else the group folder's name."""
    return name_key(e.get("folder") or Path(dst).parent.name)


def _plan(result: Any, dest: Path, options: ExportOptions, names: dict[int, str]) -> list[Planned]:
    analysis = result.analysis
    previous = Journal(dest).completed() if (dest / JOURNAL).exists() else {}
    # By source and group folder *key*: macOS keeps DEST's case as the user first typed it while ``resolve()``
    # keeps the spelling given now (~/Sorted vs ~/sorted), and the journal lives in DEST, so the group folder
    # (a child of DEST) is what identifies where an earlier run put a file.
    # A nested target's folder is journaled as "group/sub-group", the same key whatever DEST is called.
    exported_from = {(e["src"], _journal_folder_key(dst, e)): dst for dst, e in previous.items()}
    planner = NamePlanner()
    companions = _Companions()
    plan: list[Planned] = []
    planned_sources: set[Path] = set()
    chosen = _chosen(result, options)
    exported_images = {item.path for _, item, _ in chosen if item.kind == "image"}
    subgroups = _subgroup_folders(analysis) if options.nested and analysis.sublabels is not None else {}
    folders: dict[tuple[int, int], tuple[str, str]] = {}  # (group, sub-group or -1) -> (folder, its journal key)
    numbered = _number_groups(sorted({label for _, _, label in chosen}), names, previous)
    for row, item, label in chosen:
        if options.companions and item.caption_of and item.caption_of in exported_images:
            continue  # a caption travels with its picture (below)
        source = Path(item.path)
        if source in planned_sources:
            continue  # already on its way as another picture's companion (the RAW of a RAW+JPEG pair)
        sub = int(analysis.sublabels[row]) if subgroups and label >= 0 else -1
        if subgroups.get(sub, (None,))[0] != label:
            sub = -1  # in none of its group's sub-groups: the group's own folder
        if (label, -1) not in folders:
            top = numbered[label]
            folders[label, -1] = (str(dest / top), name_key(top))
            for parent, name, _ in subgroups.values():
                if parent == label:  # no exported file may take a sub-group folder's name
                    planner.claim(str(dest / top), name)
        if (label, sub) not in folders:
            top = numbered[label]
            name = subgroups[sub][1]
            folders[label, sub] = (str(dest / top / name), name_key(f"{top}/{name}"))
        folder, key = folders[label, sub]
        group = names.get(label, UNSORTED)
        sub_name = subgroups[sub][2] if sub >= 0 else ""
        main, done = _earlier(source, folder, key, planner, exported_from)
        if main is None:
            main = planner.take(folder, safe_name(source.name))
        plan.append(Planned(source, Path(folder, main), label, group, row, done, sub, sub_name))
        planned_sources.add(source)
        extras = [Path(item.raw)] if getattr(item, "raw", None) else []  # a RAW+JPEG pair always travels together
        if options.companions and item.kind == "image":
            extras += companions(source)
        for extra in extras:
            if extra in planned_sources:
                continue
            name, done = _earlier(extra, folder, key, planner, exported_from)
            if name is None:
                # Companions follow the main file's (possibly numbered) stem: IMG_1 (2).jpg + IMG_1 (2).xmp.
                stem = main[: -len(source.suffix)] if source.suffix and main.endswith(source.suffix) else main
                tail = extra.name[len(source.stem):] if extra.name.startswith(source.stem) else extra.suffix
                wanted = safe_name(stem + tail)
                name = planner.take(folder, wanted if planner.is_free(folder, wanted) else safe_name(extra.name))
            planned_sources.add(extra)
            plan.append(Planned(extra, Path(folder, name), label, group, -1, done, sub, sub_name))
    return plan


def _chosen(result: Any, options: ExportOptions) -> list[tuple[int, Any, int]]:
    """(row, item, group) of every item the options export, in row order."""
    return _select(result, options)[0]


def _select(result: Any, options: ExportOptions) -> tuple[list[tuple[int, Any, int]], int]:
    """The chosen items, and how many of the chosen groups' items the marks filter left out."""
    analysis = result.analysis
    left_out = _not_best(result) if options.best_only else set()
    wanted = options.mark_filter
    passes = wanted.mask([i.path for i in result.items], _marks(result, options)) if wanted.active else None
    chosen = []
    filtered = 0
    for row, item in enumerate(result.items):
        if row in left_out:
            continue
        label = int(analysis.labels[row])
        if label < 0 and not options.include_noise:
            continue
        if label >= 0 and options.groups is not None and label not in options.groups:
            continue
        if passes is not None and not passes[row]:
            filtered += 1
            continue
        chosen.append((row, item, label))
    return chosen, filtered


_NUMBERED = re.compile(r"(\d+)(?: (.*))?", re.S)


def _number_groups(groups: list[int], names: dict[int, str], previous: dict[str, dict[str, Any]]) -> dict[int, str]:
    """Each exported group's folder name (noise: ``Unsorted``). Folders are numbered 01, 02, 03... over the groups
    exported, in group order, so groups merged away or not chosen leave no gaps. A rerun into the same DEST lands
    where the journal says: a group whose name matches a folder an earlier run (not undone) filled keeps that
    folder and its number (preferring the folder of the same group id), and new folders take the numbers left."""
    earlier: dict[str, set[int]] = {}  # top folder an earlier run put files in -> the group ids it held
    for dst, e in previous.items():
        top = (e.get("folder") or "").split("/")[0] or Path(dst).parent.name
        if top != UNSORTED:
            earlier.setdefault(top, set()).add(int(e.get("group", -1)))
    by_tail: dict[str, list[tuple[str, int]]] = {}  # name part (as a key) -> [(folder, its number)]
    for top in earlier:
        m = _NUMBERED.fullmatch(top)
        if m:
            by_tail.setdefault(name_key(m.group(2) or ""), []).append((top, int(m.group(1))))
    out: dict[int, str] = {}
    taken: set[int] = set()
    for g in groups:
        if g < 0:
            out[g] = UNSORTED
            continue
        tail = name_key(group_folder(0, names.get(g, ""))[3:])
        candidates = [c for c in by_tail.get(tail, []) if c[1] not in taken]
        if candidates:
            folder, number = max(candidates, key=lambda c: g in earlier[c[0]])  # same id first, else the first
            out[g] = folder
            taken.add(number)
    number = 0
    for g in groups:
        if g in out:
            continue
        number += 1
        while number in taken:
            number += 1
        out[g] = group_folder(number - 1, names.get(g, ""))
    return out


def _earlier(source: Path, folder: str, key: str, planner: NamePlanner, exported_from: dict[tuple[str, str], str],
             ) -> tuple[str | None, bool]:
    """The name an earlier run gave ``source`` in ``folder`` (whose journal key is ``key``), when that file is
    still there (compared by name key: HFS+ lists the name decomposed even though the journal holds it as it
    was written)."""
    earlier = exported_from.get((str(source), key))
    on_disk = planner.present(folder, os.path.basename(earlier)) if earlier is not None else None
    if on_disk is not None:
        planner.claim(folder, on_disk)
        return on_disk, True
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


def _finish_interrupted(journal: Journal) -> None:
    """Settle what a killed run left, touching only files provably its own (same device and inode as it noted):
    our complete file at the target is marked done (for an interrupted move whose original is still there, and
    unchanged, the original is deleted then); our empty reservation (no hard links) is removed; anything else is
    marked abandoned, and a file someone else put at the target is left alone."""
    for dst, e in journal.started().items():
        target, source = Path(dst), Path(e["src"])
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
    ready = e.get("ready")  # also a link that fell back to a copy
    if ready is not None and _same_file(st, ready) and st.st_size == ready["size"]:
        return True
    return e["op"] in ("hardlink", "move") and _same_file(st, e) and st.st_size == e["size"]


def _clean_temporaries(dest: Path, journal: Journal) -> list[str]:
    """Remove temporary files a killed run left: they can only be in DEST, a folder the journal wrote into, a
    sidecar's folder or the original folder of a move being undone (not a walk of all of DEST, which may hold
    much else). Best effort: one that cannot be removed is a warning, never a reason to stop."""
    folders = {dest}
    for e in journal.entries:
        if e.get("op") in (*OPS, "xmp"):
            folders.add(Path(e["dst"]).parent)
        elif e.get("op") == "undo" and e.get("src"):
            folders.add(Path(e["src"]).parent)
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
    tmp, exc = left[0]
    return [f"{len(left)} temporary files a stopped run left could not be removed ({tmp}: "
            f"{exc.strerror or exc}); they are not photos and can be deleted by hand"]


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
        journal.open()
        stack.callback(journal.close)
        _finish_interrupted(journal)  # settle what an interrupted run left, so the plan knows it
        warnings = _clean_temporaries(dest, journal)
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
    names = _check_groups(result, options)  # a bad group id fails before anything is written
    if options.mark_filter.active:
        summary.left_out_by_marks = _select(result, options)[1]
    around = source_folder_around(result, dest)
    if around is not None:
        warning = (f"DEST is inside the analysed folder {around}; the next analysis of it leaves the exported "
                   "files out (it skips folders holding an export journal)")
        summary.warnings.append(warning)
        yield ProgressEvent("warning", 0, None, warning)
    if options.dry_run:
        plan = _plan(result, dest, options, names)
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
        plan = _plan(result, dest, options, names)
        summary.planned = len(plan)
        summary.skipped_existing = sum(p.done for p in plan)
        yield ProgressEvent("export", summary.skipped_existing, len(plan), f"{options.mode} into {dest}")
        yield from _export_files(plan, options, journal, summary, cancel, stack)
        cancel.raise_if_cancelled()
        placed = [p for p in plan if p.done]  # the lists and sidecars name only files that are really there
        try:
            summary.warnings += write_manifests(result, dest, placed, journal, subgroups=options.nested)
        except OSError as exc:
            raise ExportError(f"stopped: {exc.strerror or exc} while writing the lists groups.csv/groups.json in "
                              f"{dest}; the {summary.done + summary.skipped_existing} exported files are all in "
                              "place (run the export again to write the lists)") from None
        if options.writes_sidecars:
            summary.xmp_written = _write_xmp(result, dest, placed, options, journal, summary,
                                             cancel)
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
                # The source's device and inode too: a hard link, or a move on one filesystem, is the same
                # file at the target, which is how recovery after a kill knows it is ours.
                # A nested target also names its folder relative to DEST, so undo finds it in a renamed DEST.
                nested = {"subgroup": p.subgroup_id, "folder": p.folder} if p.subgroup_id >= 0 else {}
                journal.write(sync=False, op=options.mode, src=str(p.source), dst=str(p.target), size=st.st_size,
                              mtime_ns=st.st_mtime_ns, group=p.group_id, dev=st.st_dev, ino=st.st_ino, **nested)
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
    from desktop_app.core.review import xmp_rating
    from desktop_app.core.xmp import sidecar_path, write_keywords

    backups = dest / ".photoatlas-xmp-backup"
    written = 0
    sharing: dict[tuple[Path, str], list[str]] = {}  # sidecar -> the pictures whose keywords it holds
    best = _best_frames(result) if (options.best_rating is not None or options.best_label) else set()
    marks = _marks(result, options)
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
            backup = None
            if sidecar.exists():
                backups.mkdir(exist_ok=True)
                backup = backups / f"{uuid.uuid4().hex}.xmp"
                shutil.copy2(sidecar, backup)
            journal.write(op="xmp", dst=str(sidecar), backup=str(backup) if backup else None)
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
        journal.write(op="xmp-done", dst=str(sidecar), size=st.st_size, mtime_ns=st.st_mtime_ns)
        written += 1
    for (folder, _), images in sharing.items():
        if len(images) > 1:  # Lightroom names a sidecar by the stem: shot.jpg and shot.png share shot.xmp
            summary.warnings.append(f"{', '.join(images)} in {folder} share one XMP sidecar (Lightroom naming), "
                                    "which now holds the keywords of all of them; darktable naming keeps them apart")
    return written


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
                            "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n")),
                        ("groups.csv", (lambda f: _csv(f, rows, columns)) if subgroups
                                       else lambda f: _csv(f, rows))):
        target, ours = _manifest_target(dest, name, journal, planner)
        tmp = temporary_name(dest)
        try:
            with open(tmp, "x", encoding="utf-8", newline="") as f:
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
            st = (dest / on_disk).stat()
            if (st.st_size, st.st_mtime_ns) == (entries[-1]["size"], entries[-1]["mtime_ns"]):
                return dest / on_disk, True
    else:
        on_disk = planner.present(str(dest), name)
        if on_disk is not None and _has_our_header(dest / on_disk):
            return dest / on_disk, True  # written before lists were journaled
    return dest / planner.take(str(dest), name), False


def _has_our_header(path: Path) -> bool:
    """Whether ``path`` starts as our lists do (a DEST exported before the lists were journaled)."""
    try:
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


# -- undo -------------------------------------------------------------------------------------------------
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
            _finish_interrupted(journal)
        except OSError as exc:
            raise ExportError(f"cannot write to {dest}: {exc.strerror or exc}") from None
        summary = UndoSummary()
        summary.warnings += _clean_temporaries(dest, journal)
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
