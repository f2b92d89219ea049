"""What an export puts where: the options (``ExportOptions``), which items they take (``select_rows``, the one
rule the Export dialog counts with too) and the plan of targets (``plan_export``).

Names are planned as if DEST were case-insensitive and Unicode-normalising (macOS, Windows, memory cards):
``IMG_1.JPG`` and ``img_1.jpg`` never get the same place; names fit 255 bytes (``core.filenames``); a rerun into
the same DEST lands where the journal says the earlier run put each file.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from desktop_app.core.documents.schema import impossible_path
from desktop_app.core.errors import BadArgument
from desktop_app.core.export.journal import JOURNAL, Journal
from desktop_app.core.filenames import UNSORTED, NamePlanner, group_folder, name_key, safe_name
from desktop_app.core.files import file_kind
from desktop_app.core.ingest.items import RAW_EXTENSIONS, kind_of, looks_like_picture
from desktop_app.core.review.marks import MarkFilter, Marks

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
    # The library folders an export may take files from (None: the results document's ``folders``). The window
    # passes its library's, which the user chose; a document's own may say anything.
    folders: list[str] | None = None

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


def best_frames(result: Any) -> set[int]:
    return {s.best for s in result.similar_sets or []}


def marks_for(result: Any, options: ExportOptions) -> Marks:
    """The marks that filter the export and go into sidecars: the options', else the results document's."""
    if options.marks is not None:
        return options.marks
    return getattr(result, "marks", None) or Marks()


def check_groups(result: Any, options: ExportOptions) -> dict[int, str]:
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
    if (options.picks_only or options.min_rating) and marks_for(result, options).is_empty():
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
    return plan_targets(result, Path(dest), options, check_groups(result, options))


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


def plan_targets(result: Any, dest: Path, options: ExportOptions, names: dict[int, str],
                 refused: list[tuple[str, str]] | None = None) -> list[Planned]:
    """The plan (see ``plan_export``); an item the document names that is not one of its library's pictures or
    notes (``untrusted_item``) is left out and listed in ``refused`` as (path, reason)."""
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
    roots = [os.path.normpath(f) for f in export_roots(result, options)]
    sniff = options.mode == "move"  # a move takes the file away: it must be a picture by its content too
    for row, item, label in chosen:
        if options.companions and item.caption_of and item.caption_of in exported_images:
            continue  # a caption travels with its picture (below)
        why = untrusted_item(item.path, item.kind, roots, sniff=sniff)
        if why:
            if refused is not None:
                refused.append((item.path, why))
            continue
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
        raw = getattr(item, "raw", None)
        extras = []  # a RAW+JPEG pair always travels together
        if raw:
            why = untrusted_raw(raw, source)
            if why and refused is not None:
                refused.append((raw, why))
            elif not why:
                extras.append(Path(raw))
                # The scan pairs every RAW of the stem with the picture (IMG_1.jpg with IMG_1.CR2 and IMG_1.dng); the
                # document names the first, the others are the same-stem RAW files beside it.
                extras += [p for p in companions(source) if p.suffix.lower() in RAW_EXTENSIONS
                           and p != Path(raw) and not untrusted_raw(str(p), source)]
        if options.companions and item.kind == "image":
            extras += companions(source)
        for extra in extras:
            if extra in planned_sources:
                continue
            earlier, done = _earlier(extra, folder, key, planner, exported_from)
            if earlier is not None:
                name = earlier
            else:
                # Companions follow the main file's (possibly numbered) stem: IMG_1 (2).jpg + IMG_1 (2).xmp.
                stem = main[: -len(source.suffix)] if source.suffix and main.endswith(source.suffix) else main
                tail = extra.name[len(source.stem):] if extra.name.startswith(source.stem) else extra.suffix
                wanted = safe_name(stem + tail)
                name = planner.take(folder, wanted if planner.is_free(folder, wanted) else safe_name(extra.name))
            planned_sources.add(extra)
            plan.append(Planned(extra, Path(folder, name), label, group, -1, done, sub, sub_name))
    return plan


def export_roots(result: Any, options: ExportOptions) -> list[str]:
    """The folders the export may take files from: the options' (the library's), else the document's."""
    return list(options.folders) if options.folders is not None else list(getattr(result, "folders", None) or [])


def check_move_roots(result: Any, options: ExportOptions) -> None:
    """A move takes files away: it needs to know which folders they may come from. ``BadArgument`` for a document
    that names none (written before documents recorded them, or emptied by hand) or names a whole disk."""
    if options.mode != "move" or options.dry_run:
        return
    roots = export_roots(result, options)
    if not roots:
        raise BadArgument("this results document does not say which folders it was made from (it was written "
                          "before PhotoAtlas recorded them, or edited); analyze the folders again, or export with "
                          "--mode copy")
    for root in roots:
        if os.path.dirname(os.path.normpath(root)) == os.path.normpath(root):  # "/", "C:\\": a whole disk
            raise BadArgument(f"the results document names {root}, a whole disk, as a library folder; a move "
                              "takes files from the folders that were analysed only")


def untrusted_item(path: str, kind: str, roots: list[str], *, sniff: bool = False) -> str:
    """Why an export must not take the file ``path`` that a results document lists as a ``kind`` item ("" when it
    may): a document is untrusted input (edited, received from someone), and ``--mode move`` would otherwise
    carry any file it names — a key file, a device — into DEST. Only a regular file that lies under one of the
    document's library folders (``roots``, when it names them) and is a picture or note by its name (or, for a
    picture without a known extension, by its first bytes, as the scan admitted it) is taken. With ``sniff`` (a move)
    a picture must be one by its first bytes too: a text file named ``id_rsa.jpg`` is not moved."""
    why = impossible_path(path)
    if why:
        return f"the path {why}; not exported"
    if os.path.normpath(path) != path:
        return "the path is not written plainly (it holds . or .. or doubled separators); not exported"
    if roots and not any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
        return "not under the library's folders; not exported"
    try:
        st = os.stat(path)
    except OSError:
        return ""  # missing or unreadable: the export itself says so, in its own words
    if not stat.S_ISREG(st.st_mode):
        return f"{file_kind(st)}, not a file; not exported"
    found = kind_of(Path(path))
    if found != kind and not (found is None and kind == "image" and looks_like_picture(Path(path))):
        return f"not a {'picture' if kind == 'image' else 'note'} PhotoAtlas reads (by its name); not exported"
    if sniff and kind == "image" and Path(path).suffix.lower() not in RAW_EXTENSIONS \
            and not looks_like_picture(Path(path)):
        # RAW formats are mostly not Pillow's to recognise; every other picture is, by its first bytes.
        return "not a picture by its content (only its name says so); not moved"
    return ""


def untrusted_raw(raw: str, picture: Path) -> str:
    """Why the RAW a document pairs with ``picture`` must not travel with it ("" when it may): a pair's RAW lies in
    the picture's folder, has the picture's name and a RAW extension (``IMG_1.jpg`` + ``IMG_1.dng``)."""
    why = impossible_path(raw)
    path = Path(raw)
    if why or path.parent != picture.parent or path.suffix.lower() not in RAW_EXTENSIONS \
            or path.stem.casefold() != picture.stem.casefold():
        return "not the RAW file of its picture (another folder, name or kind); not exported"
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return "" if stat.S_ISREG(st.st_mode) else f"{file_kind(st)}, not a file; not exported"


def _chosen(result: Any, options: ExportOptions) -> list[tuple[int, Any, int]]:
    """(row, item, group) of every item the options export, in row order."""
    return select_items(result, options)[0]


def select_rows(result: Any, options: ExportOptions,
                mark_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, int]:
    """Which rows of ``result`` the options export (companions aside) as a mask, and how many of the chosen groups'
    items the marks filter left out. The one rule: the Export dialog counts with it, and the export takes it.
    ``mark_arrays``: ``Marks.arrays`` of the items, when the caller keeps them (the dialog, at every change)."""
    labels = np.asarray(result.analysis.labels)
    keep = (labels >= 0) if options.groups is None else np.isin(labels, sorted(options.groups))
    if options.include_noise:
        keep |= labels < 0
    if options.best_only:
        keep[sorted(_not_best(result))] = False
    wanted = options.mark_filter
    filtered = 0
    if wanted.active:
        marks = marks_for(result, options)
        arrays = mark_arrays if mark_arrays is not None and options.marks is None else None
        passes = wanted.mask([i.path for i in result.items], marks, arrays=arrays)
        filtered = int((keep & ~passes).sum())
        keep &= passes
    return keep, filtered


def select_items(result: Any, options: ExportOptions) -> tuple[list[tuple[int, Any, int]], int]:
    """The chosen items as (row, item, group), in row order, and how many the marks filter left out."""
    keep, filtered = select_rows(result, options)
    labels = result.analysis.labels
    return [(int(r), result.items[r], int(labels[r])) for r in np.flatnonzero(keep)], filtered


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
