"""Export groups into folders (copy, hardlink, symlink, move) without ever losing or overwriting a file.

    summary = drive(run_export(result, "/photos/sorted", ExportOptions(mode="copy")), print)
    drive(undo_export("/photos/sorted"), print)

Safety rules, in the order they bite:
  * every operation is written to a journal (``DEST/.photoatlas-journal.jsonl``, fsynced) *before* it runs,
    and marked done after, so an interrupted export can be completed or undone;
  * data is written to a temporary name (``.photoatlas-tmp-…``) in the target folder, fsynced, its size
    (and with ``verify`` its SHA-256) checked, then linked into place with ``os.link``, which fails instead
    of replacing an existing file; nothing half-written ever carries a final name;
  * a move deletes its source only after the copy is verified (or is one atomic rename on one filesystem);
  * names never collide (``IMG_0001 (2).jpg``) and group folder names can never leave DEST;
  * running the same export again skips what the journal says is already there.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from desktop_app.core.embed import sha256_file
from desktop_app.core.errors import BadArgument, PhotoAtlasError
from desktop_app.core.items import RAW_EXTENSIONS
from desktop_app.core.progress import CancelToken, ProgressEvent

JOURNAL = ".photoatlas-journal.jsonl"
TMP_PREFIX = ".photoatlas-tmp-"
UNSORTED = "Unsorted"
MAX_NAME = 120  # characters of a folder or file name we create (every filesystem allows 255 bytes)
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_ILLEGAL = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
CHUNK = 1 << 20
BATCH = 256  # operations journaled (one fsync) and then carried out together
WORKERS = 4  # copies in flight: overlaps one file's fsync with the next one's reads

Mode = Literal["copy", "hardlink", "symlink", "move"]


class ExportError(PhotoAtlasError):
    """The export cannot go on (destination not writable, disk full); what was done is in the journal."""


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
    done: bool = False  # already exported by an earlier run


@dataclass
class ExportSummary:
    dest: Path
    planned: int = 0
    done: int = 0
    skipped_existing: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)  # "hardlink->copy": n
    failed: list[tuple[str, str]] = field(default_factory=list)
    xmp_written: int = 0
    dry_run: bool = False

    def lines(self) -> list[str]:
        what = "would export" if self.dry_run else "exported"
        out = [f"{what} {self.done} files into {self.dest} ({self.skipped_existing} already there)"]
        out += [f"  {n} files: {how} (not possible here)" for how, n in self.fallbacks.items()]
        out += [f"  failed {p}: {why}" for p, why in self.failed[:20]]
        if self.xmp_written:
            out.append(f"  {self.xmp_written} XMP sidecars written (keywords, or the best frames' rating/label)")
        return out


# -- names ---------------------------------------------------------------------------------------------
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ ()+,-]*(\.[A-Za-z0-9]{1,10})?")


def safe_name(name: str, fallback: str = "untitled") -> str:
    """A file or folder name that is legal on Windows, macOS and Linux and cannot point elsewhere."""
    if len(name) <= MAX_NAME and _PLAIN.fullmatch(name) and not name.endswith(" ") and \
            name.split(".")[0].upper() not in _WINDOWS_RESERVED:
        return name  # the common case (IMG_0001.jpg) needs no rewriting
    cleaned = re.sub(r"\.{2,}", "_", _ILLEGAL.sub("_", name))  # no "..", so never a parent folder
    cleaned = cleaned.strip().strip(". ")  # no trailing dot/space (Windows), no leading dot (hidden)
    if not cleaned or set(cleaned) <= {".", "_", " "}:
        cleaned = fallback
    if cleaned.split(".")[0].upper() in _WINDOWS_RESERVED:
        cleaned = f"_{cleaned}"
    if len(cleaned) > MAX_NAME:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (stem[:MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else cleaned[:MAX_NAME]
        cleaned = cleaned.rstrip(". ") or fallback
    return cleaned


def group_folder(group_id: int, name: str) -> str:
    """``03 beach sunset``: number first so folders sort like the groups; noise goes to ``Unsorted``."""
    if group_id < 0:
        return UNSORTED
    return safe_name(f"{group_id + 1:02d} {name}".replace(",", ""), fallback=f"{group_id + 1:02d}")


def _with_suffix_number(name: str, n: int) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"


# -- journal ---------------------------------------------------------------------------------------------
class Journal:
    """Append-only JSON lines in DEST; each line is fsynced before the operation it describes runs."""

    def __init__(self, dest: Path) -> None:
        self.path = dest / JOURNAL
        self.entries: list[dict[str, Any]] = []
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    self.entries.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash: its operation never started
        self._file: Any = None

    def write(self, sync: bool = True, **entry: Any) -> None:
        """Append an entry, fsynced at once unless the caller batches entries and calls ``sync()`` before
        the operations they describe (a killed process loses only entries of operations that never ran,
        or "done" marks that recovery re-derives from what is on disk)."""
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open for the run)
        entry.setdefault("time", round(time.time(), 3))
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        if sync:
            self._file.flush()
            os.fsync(self._file.fileno())
        self.entries.append(entry)

    def sync(self) -> None:
        """Flush and fsync: called after a batch of entries and before the operations they describe."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def completed(self) -> dict[str, dict[str, Any]]:
        """Finished operations that were not undone, by target path."""
        ops: dict[str, dict[str, Any]] = {}
        finished: set[str] = set()
        for e in self.entries:
            if e.get("op") in ("copy", "hardlink", "symlink", "move"):
                ops[e["dst"]] = e
            elif e.get("op") == "done":
                finished.add(e["dst"])
            elif e.get("op") == "undone":
                finished.discard(e["dst"])
                ops.pop(e["dst"], None)
        return {dst: e for dst, e in ops.items() if dst in finished}

    def started(self) -> dict[str, dict[str, Any]]:
        """Operations written but not marked done (an interrupted run), by target path."""
        done = self.completed()
        out: dict[str, dict[str, Any]] = {}
        for e in self.entries:
            if e.get("op") in ("copy", "hardlink", "symlink", "move") and e["dst"] not in done:
                out[e["dst"]] = e
            elif e.get("op") in ("undone", "abandoned"):
                out.pop(e["dst"], None)
        return out


# -- planning --------------------------------------------------------------------------------------------
def _companions(source: Path) -> list[Path]:
    """Same-stem sidecars in the image's folder: .xmp (both namings), .txt captions, the RAW of a RAW+JPEG."""
    found = []
    try:
        siblings = list(source.parent.iterdir())
    except OSError:
        return []
    for other in siblings:
        if other == source or not other.is_file():
            continue
        ext = other.suffix.lower()
        if other.name.lower() == source.name.lower() + ".xmp":
            found.append(other)
        elif other.stem == source.stem and (ext in (".xmp", ".txt") or ext in RAW_EXTENSIONS):
            found.append(other)
    return sorted(found)


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
    """What goes where. Targets never collide with each other or with files already in DEST; sources the
    journal says were already exported (and are still there, unchanged) are marked ``done``."""
    names = _check_groups(result, options)
    analysis = result.analysis
    dest = Path(dest)
    previous = Journal(dest).completed() if dest.exists() else {}
    exported_from = {(e["src"], str(Path(e["dst"]).parent)): dst for dst, e in previous.items()}
    taken: set[str] = set()
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
    folders: dict[int, Path] = {}
    for row, item, label in chosen:
        if options.companions and item.caption_of and item.caption_of in exported_images:
            continue  # a caption travels with its picture (below)
        source = Path(item.path)
        if source in planned_sources:
            continue  # already on its way as another picture's companion (the RAW of a RAW+JPEG pair)
        if label not in folders:
            folders[label] = dest / group_folder(label, names.get(label, ""))
        folder = folders[label]
        group = names.get(label, UNSORTED)
        main = _place(source, folder, taken, exported_from)
        plan.append(Planned(source, main[0], label, group, row, main[1]))
        planned_sources.add(source)
        extras = [Path(item.raw)] if getattr(item, "raw", None) else []  # a RAW+JPEG pair always travels together
        if options.companions and item.kind == "image":
            extras += _companions(source)
        for extra in extras:
            if extra in planned_sources:
                continue
            # Companions follow the main file's (possibly numbered) stem: IMG_1 (2).jpg + IMG_1 (2).xmp.
            stem = main[0].name[: -len(source.suffix)] if source.suffix else main[0].name
            tail = extra.name[len(source.stem):] if extra.name.startswith(source.stem) else extra.suffix
            target = folder / safe_name(stem + tail)
            done = exported_from.get((str(extra), str(folder))) is not None
            if done:
                target = Path(exported_from[(str(extra), str(folder))])
            elif str(target) in taken or target.exists() or target.is_symlink():
                target = _place(extra, folder, taken, {})[0]
            taken.add(str(target))
            planned_sources.add(extra)
            plan.append(Planned(extra, target, label, group, -1, done))
    return plan


def _place(source: Path, folder: Path, taken: set[str], exported_from: dict[tuple[str, str], str],
           ) -> tuple[Path, bool]:
    """A target in ``folder`` for ``source`` that collides with nothing (strings inside: pathlib costs
    more than the filesystem check at 10k files)."""
    folder_s = str(folder)
    earlier = exported_from.get((str(source), folder_s))
    if earlier is not None and os.path.lexists(earlier):
        taken.add(earlier)
        return Path(earlier), True
    name = safe_name(source.name)
    n = 1
    candidate = os.path.join(folder_s, name)
    while candidate in taken or os.path.lexists(candidate):
        n += 1
        candidate = os.path.join(folder_s, _with_suffix_number(name, n))
    taken.add(candidate)
    return Path(candidate), False


# -- doing -----------------------------------------------------------------------------------------------
def _link_into_place(tmp: Path, target: Path) -> None:
    """Give ``tmp`` its final name without ever replacing an existing file."""
    try:
        os.link(tmp, target)  # fails with EEXIST rather than replacing
        os.unlink(tmp)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            os.unlink(tmp)
            raise
        if target.exists() or target.is_symlink():  # pragma: no cover - raced by someone else
            raise FileExistsError(errno.EEXIST, "exists", str(target)) from None
        os.rename(tmp, target)  # filesystems without hard links (FAT, some network shares)


def _copy_verified(source: Path, target: Path, verify: bool) -> None:
    tmp = target.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{target.name}"[:200])
    try:
        with open(source, "rb") as src, open(tmp, "xb") as dst:
            if hasattr(os, "sendfile"):  # kernel-side copy (Linux): no trip through Python's buffers
                size, offset = os.fstat(src.fileno()).st_size, 0
                while offset < size:
                    sent = os.sendfile(dst.fileno(), src.fileno(), offset, min(size - offset, 1 << 30))
                    if sent == 0:
                        break
                    offset += sent
            else:
                shutil.copyfileobj(src, dst, CHUNK)
            dst.flush()
            os.fsync(dst.fileno())
        shutil.copystat(source, tmp)
        if tmp.stat().st_size != source.stat().st_size:
            raise ExportError(f"copy of {source} came out the wrong size; nothing was replaced")
        if verify and sha256_file(tmp) != sha256_file(source):
            raise ExportError(f"copy of {source} differs from the original; nothing was replaced")
        _link_into_place(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _do(p: Planned, mode: Mode, verify: bool) -> str:
    """Carry out one planned operation (its folder exists); returns the method actually used."""
    if mode in ("hardlink", "symlink"):
        try:
            if mode == "hardlink":
                os.link(p.source, p.target)
            else:
                os.symlink(os.path.relpath(p.source, p.target.parent), p.target)
            return mode
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise
            # Across filesystems, or where links are not supported / not permitted.
            _copy_verified(p.source, p.target, verify)
            return f"{mode}->copy"
    if mode == "move":
        if p.source.stat().st_dev == p.target.parent.stat().st_dev:
            if p.target.exists() or p.target.is_symlink():
                raise FileExistsError(errno.EEXIST, "exists", str(p.target))
            os.rename(p.source, p.target)  # one atomic step: the file is always in exactly one place
            return "move"
        _copy_verified(p.source, p.target, verify)
        os.unlink(p.source)  # only now: the copy is in place and verified
        return "move (copy, verify, delete)"
    _copy_verified(p.source, p.target, verify)
    return "copy"


def _finish_interrupted(journal: Journal) -> None:
    """Complete or clean up what a killed run left: temporary files go; a verified cross-device move whose
    source still exists gets its source deleted only if the target is the same size."""
    for dst, e in journal.started().items():
        target, source = Path(dst), Path(e["src"])
        present = target.exists() or target.is_symlink()
        if present and e["op"] == "move" and source.exists() and target.stat().st_size == e["size"] and \
                source.stat().st_size == e["size"] and os.path.getmtime(source) == os.path.getmtime(target):
            os.unlink(source)
        if present:
            journal.write(op="done", dst=dst)
        else:
            journal.write(op="abandoned", dst=dst)


def _clean_temporaries(dest: Path) -> None:
    for tmp in dest.rglob(f"{TMP_PREFIX}*"):
        tmp.unlink(missing_ok=True)


def run_export(result: Any, dest: str | os.PathLike[str], options: ExportOptions | None = None,
               cancel: CancelToken | None = None) -> Generator[ProgressEvent, None, ExportSummary]:
    """Export the groups of ``result`` into ``dest``; yields progress, returns an ``ExportSummary``.

    One file that cannot be exported is reported in the summary and the rest go on; a destination that
    cannot be written at all (read-only, full) stops the export with ``ExportError``.
    """
    options = options or ExportOptions()
    cancel = cancel or CancelToken()
    dest = Path(dest).expanduser().resolve()
    summary = ExportSummary(dest=dest, dry_run=options.dry_run)
    if not options.dry_run:
        _check_groups(result, options)  # a bad group id fails before anything is written
        try:
            dest.mkdir(parents=True, exist_ok=True)
            journal = Journal(dest)
            _finish_interrupted(journal)  # settle what an interrupted run left, so the plan below knows it
            _clean_temporaries(dest)
            journal.write(op="begin", mode=options.mode)  # also proves DEST is writable
        except OSError as exc:
            raise ExportError(f"cannot write to {dest}: {exc.strerror or exc}") from None
    plan = plan_export(result, dest, options)
    summary.planned = len(plan)
    yield ProgressEvent("export", 0, len(plan), f"{options.mode} into {dest}")
    if options.dry_run:
        summary.skipped_existing = sum(p.done for p in plan)
        summary.done = len(plan) - summary.skipped_existing
        return summary
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="photoatlas-export")
    made: set[Path] = set()
    try:
        summary.skipped_existing = sum(p.done for p in plan)
        todo = [p for p in plan if not p.done]
        for start in range(0, len(todo), BATCH):
            cancel.raise_if_cancelled()
            batch: list[Planned] = []
            for p in todo[start:start + BATCH]:
                try:
                    st = p.source.stat()
                except OSError as exc:
                    summary.failed.append((str(p.source), exc.strerror or str(exc)))
                    continue
                journal.write(sync=False, op=options.mode, src=str(p.source), dst=str(p.target), size=st.st_size,
                              mtime_ns=st.st_mtime_ns, group=p.group_id)
                batch.append(p)
                if p.target.parent not in made:
                    p.target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(p.target.parent)
            journal.sync()  # every entry of the batch is on disk before any of its operations runs
            outcomes = list(pool.map(lambda p: _attempt(p, options), batch)) if options.mode in (
                "copy", "move") else [_attempt(p, options) for p in batch]
            fatal = None
            for p, outcome in zip(batch, outcomes):
                if isinstance(outcome, OSError):
                    journal.write(sync=False, op="abandoned", dst=str(p.target))
                    if outcome.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG):
                        fatal = fatal or (p, outcome)
                    else:
                        summary.failed.append((str(p.source), outcome.strerror or str(outcome)))
                    continue
                journal.write(sync=False, op="done", dst=str(p.target))
                summary.done += 1
                if "->" in outcome or "(" in outcome:
                    summary.fallbacks[outcome] = summary.fallbacks.get(outcome, 0) + 1
            journal.sync()
            if fatal is not None:
                raise ExportError(f"stopped: {fatal[1].strerror} while writing {fatal[0].target}; nothing was "
                                  f"lost, {summary.done} files were exported (run the export again to finish)")
            yield ProgressEvent("export", summary.skipped_existing + start + len(batch), len(plan),
                                batch[-1].target.name if batch else "")
        write_manifests(result, dest, plan)
        if options.writes_sidecars:
            summary.xmp_written = _write_xmp(result, dest, plan, options, journal)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        journal.close()
    yield ProgressEvent("export", len(plan), len(plan), "done")
    return summary


def _attempt(p: Planned, options: ExportOptions) -> str | OSError:
    """One operation on a worker thread: the method used, or the OSError that stopped it."""
    try:
        return _do(p, options.mode, options.verify)
    except OSError as exc:
        return exc


def _write_xmp(result: Any, dest: Path, plan: list[Planned], options: ExportOptions, journal: Journal) -> int:
    """Keywords into sidecars; each one journaled (with a backup of a sidecar that existed) so undo can
    remove what it created and restore what it changed."""
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
        image = p.target if (options.xmp_on_copies or options.mode == "move") else p.source
        sidecar = sidecar_path(image, options.xmp_naming)
        backup = None
        if sidecar.exists():
            backups.mkdir(exist_ok=True)
            backup = backups / f"{uuid.uuid4().hex}.xmp"
            shutil.copy2(sidecar, backup)
        journal.write(op="xmp", dst=str(sidecar), backup=str(backup) if backup else None)
        keywords = [p.group_name] if options.xmp else []
        if write_keywords(image, keywords, options.xmp_naming, rating=options.best_rating if is_best else None,
                          label=options.best_label if is_best else None) is None:
            journal.write(op="xmp-failed", dst=str(sidecar))
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
    but only files the export created and that have not changed since."""
    dest = Path(dest).expanduser().resolve()
    if not (dest / JOURNAL).exists():
        raise BadArgument(f"{dest} has no PhotoAtlas export journal; nothing to undo")
    journal = Journal(dest)
    _finish_interrupted(journal)
    summary = UndoSummary()
    done = journal.completed()
    yield ProgressEvent("undo", 0, len(done), str(dest))
    try:
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
                if target.stat().st_dev == source.parent.stat().st_dev:
                    os.rename(target, source)
                else:
                    _copy_verified(target, source, verify=True)
                    os.unlink(target)
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
    finally:
        journal.close()
    yield ProgressEvent("undo", len(done), len(done), "done")
    return summary


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
    if e["op"] == "symlink":
        return "" if target.is_symlink() else "no longer the link PhotoAtlas made"
    if not target.exists():
        return "no longer there"
    st = target.stat()
    if st.st_size != e["size"] or (e["op"] != "hardlink" and st.st_mtime_ns != e["mtime_ns"]):
        return "changed since it was exported; left alone"
    if e["op"] == "move" and (source.exists() or source.is_symlink()):
        return f"something else now lives at {source}; left alone"
    return ""
