"""What was found on disk: ``Item`` (an image or a text file) and ``Skipped`` (with a one-line reason).

``scan`` walks folders deterministically, skips hidden entries, detects symlink loops and never raises for
a bad entry: problems become ``Skipped`` records.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif"}
)
RAW_EXTENSIONS = frozenset(
    {".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".pef", ".srw",
     ".raw", ".3fr", ".erf", ".kdc", ".mrw", ".x3f"}
)
TEXT_EXTENSIONS = frozenset({".txt", ".md"})

Kind = Literal["image", "text"]


@dataclass(frozen=True)
class Item:
    """A file PhotoAtlas can embed. ``caption_of`` links ``IMG_1.txt`` to ``IMG_1.jpg`` in the same folder;
    ``raw`` is the RAW file shot together with this JPEG (``IMG_1.CR3`` beside ``IMG_1.jpg``): the pair is one
    item, embedded from the JPEG, and travels together in an export."""

    path: Path
    kind: Kind
    size: int
    mtime_ns: int
    caption_of: Path | None = None
    raw: Path | None = None

    @property
    def is_raw(self) -> bool:
        return self.path.suffix.lower() in RAW_EXTENSIONS


@dataclass(frozen=True)
class Skipped:
    """A file or folder that was not used, and why (one line, for the user)."""

    path: Path
    reason: str


def kind_of(path: Path) -> Kind | None:
    """``"image"``, ``"text"`` or ``None`` (not a type PhotoAtlas reads), from the file extension."""
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS or ext in RAW_EXTENSIONS:
        return "image"
    if ext in TEXT_EXTENSIONS:
        return "text"
    return None


def _is_hidden(entry: os.DirEntry[str]) -> bool:
    if entry.name.startswith("."):
        return True
    # Windows marks hidden files with an attribute rather than a leading dot.
    attrs = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
    return bool(attrs & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0))


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "file vanished while scanning"
    return exc.strerror or type(exc).__name__


def _file_record(path: Path, st: os.stat_result, explicit: bool) -> Item | Skipped | None:
    kind = kind_of(path)
    if kind is None:
        # Inside folders, unknown files (sidecars, PDFs, .DS_Store) are simply not ours; a file the user
        # named explicitly deserves an answer.
        return Skipped(path, f"unsupported file type '{path.suffix or path.name}'") if explicit else None
    if st.st_size == 0:
        return Skipped(path, "empty file (0 bytes)")
    return Item(path=path, kind=kind, size=st.st_size, mtime_ns=st.st_mtime_ns)


class _Walker:
    def __init__(self) -> None:
        self.seen_dirs: set[tuple[int, int]] = set()
        self.seen_files: set[Path] = set()

    def walk(self, folder: Path, ancestors: frozenset[tuple[int, int]]) -> Iterator[Item | Skipped]:
        try:
            st = folder.stat()
        except OSError as exc:
            yield Skipped(folder, _os_reason(exc))
            return
        key = (st.st_dev, st.st_ino)
        if key in ancestors:
            yield Skipped(folder, "symlink loop (links back to a folder above it)")
            return
        if key in self.seen_dirs:
            yield Skipped(folder, "already scanned through another path")
            return
        self.seen_dirs.add(key)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Skipped(folder, _os_reason(exc))
            return

        records: list[Item | Skipped] = []
        subfolders: list[Path] = []
        for entry in entries:
            path = folder / entry.name
            try:
                if _is_hidden(entry):
                    continue
                if entry.is_dir(follow_symlinks=True):
                    subfolders.append(path)
                    continue
                if not entry.is_file(follow_symlinks=True):
                    if entry.is_symlink():
                        records.append(Skipped(path, "broken symbolic link"))
                    continue
                rec = _file_record(path, entry.stat(follow_symlinks=True), explicit=False)
            except OSError as exc:
                rec = Skipped(path, _os_reason(exc))
            if rec is not None and self._first_time(rec):
                records.append(rec)
        yield from _pair_companions(records)
        for sub in subfolders:
            yield from self.walk(sub, ancestors | {key})

    def _first_time(self, rec: Item | Skipped) -> bool:
        if isinstance(rec, Skipped):
            return True
        real = Path(os.path.realpath(rec.path))
        if real in self.seen_files:
            return False
        self.seen_files.add(real)
        return True


def _pair_companions(records: list[Item | Skipped]) -> Iterator[Item | Skipped]:
    """Within one folder: a RAW file and a picture with the same stem become one item (the picture, with
    ``raw`` set), and text items sharing a stem with a picture get ``caption_of``."""
    files = [r for r in records if isinstance(r, Item)]
    raws = {r.path.stem: r.path for r in files if r.is_raw}
    viewable = {r.path.stem for r in files if r.kind == "image" and not r.is_raw}
    images = {r.path.stem: r.path for r in files if r.kind == "image" and not (r.is_raw and r.path.stem in viewable)}
    for rec in records:
        if isinstance(rec, Item):
            stem = rec.path.stem
            if rec.is_raw and stem in viewable:
                continue  # shown and embedded through its JPEG
            if rec.kind == "image" and not rec.is_raw and stem in raws:
                rec = replace(rec, raw=raws[stem])
            elif rec.kind == "text" and stem in images:
                rec = replace(rec, caption_of=images[stem])
        yield rec


def scan(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Item | Skipped]:
    """Yield ``Item``s and ``Skipped``s for folders (recursively) and single files, in a stable order.

    Folders are walked in name order, files of a folder before its subfolders. Hidden files and folders
    are ignored, symlink loops and duplicate paths to the same file are reported once, and nothing here
    raises for a bad entry.
    """
    walker = _Walker()
    for raw in paths:
        path = Path(os.path.abspath(os.fspath(raw)))
        try:
            st = path.stat()
        except OSError as exc:
            yield Skipped(path, "not found" if isinstance(exc, FileNotFoundError) else _os_reason(exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from walker.walk(path, frozenset())
        elif stat.S_ISREG(st.st_mode):
            rec = _file_record(path, st, explicit=True)
            if rec is not None and walker._first_time(rec):
                yield rec
        else:
            yield Skipped(path, "not a regular file or folder")
