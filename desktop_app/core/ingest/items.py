"""What was found on disk: ``Item`` (an image or a text file) and ``Skipped`` (with a one-line reason).

``scan`` walks folders deterministically, skips hidden entries, detects symlink loops and never raises for
a bad entry: problems become ``Skipped`` records. Only regular files are ever opened: a named pipe (FIFO), socket
or device in a folder, or a symlink to one (``/dev/zero``), is a ``Skipped`` that says what it is ("a named pipe
(FIFO), not a file"), and the few reads the scan does go through ``opening.open_regular``. Names are kept exactly
as the file system gives them: bytes that are not UTF-8 stay Python's surrogate escapes (``os.fsdecode``), which
name the same file again (``filenames.printable`` shows them).

Which files are pictures (decided here from the name and, for unknown names, the first bytes; ``images``
then decodes them and turns a file it cannot read into a ``Skipped`` with the decoder's reason):

1. RAW files (``RAW_EXTENSIONS``) and common picture formats (``IMAGE_EXTENSIONS``: JPEG and its variants,
   PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF, AVIF, JPEG XL, JPEG 2000, PSD, MPO) are images.
2. So is any other extension Pillow registers for a format it can open (``pillow_extensions``: QOI, TGA,
   FITS, ICO, PPM...), except formats that are not photos: documents (PDF, EPS), vector clip art (WMF/EMF),
   videos (MPEG) and data containers Pillow only names (HDF5, GRIB, BUFR, IPTC).
3. Videos (``VIDEO_EXTENSIONS``) are listed as ``Skipped(path, "video (not supported)")`` so the user knows
   why they are not on the map, except a clip with the same stem as a picture beside it (a Live Photo's
   ``IMG_0001.MOV`` beside ``IMG_0001.HEIC``): that is part of the picture and not worth a line.
4. Sidecars, catalogues and documents (``NOT_PICTURES``: .xmp, .json, .aae, .pdf...) and backup copies
   (exiftool's ``*.jpg_original``, ``*.bak``) are ignored without a word.
5. Any other file (unknown extension or none) is an image when its first bytes are the signature of a photo
   format Pillow reads (``SNIFFED_FORMATS``, checked with Pillow's own signature tests), else ignored.

RAW+JPEG pairs (rule 1's RAW files beside a picture of the same stem in the same folder, ``IMG_1.jpg`` with
``IMG_1.dng`` and ``IMG_1.cr2``) are one item, the picture, with every RAW in ``raws``: they travel with it. Whether
the picture can be decoded is only known when it is decoded, not here; for a picture that cannot be, its RAWs are
items of their own (``standalone_raws``), for the pipeline to embed in its place, so that no RAW is lost with it.

A sub-folder holding ``EXPORT_JOURNAL`` is a PhotoAtlas export destination: its copies are not new photos, so
it is skipped with a reason, unless the user named that folder itself as one of the folders to scan.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from PIL import Image

from desktop_app.core.files import file_kind
from desktop_app.core.ingest.opening import not_a_file, open_regular

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".jif", ".jfi", ".png", ".apng", ".webp", ".bmp", ".dib", ".gif", ".tif",
     ".tiff", ".heic", ".heif", ".heics", ".heifs", ".hif", ".avif", ".avifs", ".jxl", ".jp2", ".j2k", ".j2c",
     ".jpc", ".jpf", ".jpx", ".psd", ".mpo"}
)
RAW_EXTENSIONS = frozenset(
    {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".rwl",
     ".pef", ".srw", ".raw", ".3fr", ".fff", ".erf", ".kdc", ".dcr", ".mrw", ".x3f", ".iiq", ".mos", ".mef",
     ".gpr"}
)
TEXT_EXTENSIONS = frozenset({".txt", ".md"})
VIDEO_EXTENSIONS = frozenset(
    {".mov", ".mp4", ".m4v", ".avi", ".mts", ".m2ts", ".mkv", ".webm", ".wmv", ".3gp", ".mpg", ".mpeg", ".insv",
     ".braw", ".crm", ".r3d"}
)
VIDEO_REASON = "video (not supported)"
# Not pictures, known without opening them: sidecars of photo editors and phones, catalogues, documents.
NOT_PICTURES = frozenset(
    {".xmp", ".json", ".aae", ".thm", ".lrv", ".pp3", ".dop", ".on1", ".cos", ".cof", ".arp", ".lrcat", ".lrdata",
     ".db", ".ini", ".log", ".csv", ".html", ".htm", ".xml", ".pdf", ".doc", ".docx", ".zip", ".exe", ".dll"}
)
# Pillow formats that are never photos (or that Pillow only identifies without decoding).
NOT_PHOTO_FORMATS = frozenset({"PDF", "EPS", "WMF", "MPEG", "HDF5", "GRIB", "BUFR", "IPTC"})
# Photo formats recognised by their first bytes when the file name does not say what it is.
SNIFFED_FORMATS = ("JPEG", "PNG", "GIF", "TIFF", "BMP", "WEBP", "AVIF", "HEIF", "JXL", "JPEG2000", "PSD")
EXPORT_JOURNAL = ".photoatlas-journal.jsonl"  # core.journal writes it into every export destination
EXPORT_REASON = "a PhotoAtlas export (its copies are not new photos)"

Kind = Literal["image", "text"]


@dataclass(frozen=True)
class Item:
    """A file PhotoAtlas can embed. ``caption_of`` links ``IMG_1.txt`` to ``IMG_1.jpg`` in the same folder;
    ``raws`` are the RAW files shot together with this JPEG (``IMG_1.CR3`` beside ``IMG_1.jpg``; a camera writing
    to two cards or a converted ``IMG_1.dng`` makes more than one), in name order: the pair is one item, embedded
    from the JPEG, and travels together in an export."""

    path: Path
    kind: Kind
    size: int
    mtime_ns: int
    caption_of: Path | None = None
    raws: tuple[Path, ...] = ()

    @property
    def raw(self) -> Path | None:
        """The first of ``raws`` (the results document names this one; the export takes the others by their stem)."""
        return self.raws[0] if self.raws else None

    @property
    def is_raw(self) -> bool:
        return self.path.suffix.lower() in RAW_EXTENSIONS


@dataclass(frozen=True)
class Skipped:
    """A file or folder that was not used, and why (one line, for the user)."""

    path: Path
    reason: str


@functools.cache
def register_pillow_plugins() -> None:
    """Register the openers Pillow does not have built in (HEIC/HEIF, JPEG XL), once per process."""
    import pillow_heif
    import pillow_jxl  # noqa: F401 — registers the JPEG XL plugin on import

    pillow_heif.register_heif_opener()


@functools.cache
def pillow_extensions() -> frozenset[str]:
    """Every extension Pillow (with the registered plugins) opens as a photo format (rule 2 of the module)."""
    register_pillow_plugins()
    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items()
                     if fmt in Image.OPEN and fmt not in NOT_PHOTO_FORMATS)


def kind_of(path: Path) -> Kind | None:
    """``"image"``, ``"text"`` or ``None`` (not a type PhotoAtlas reads), from the file extension."""
    return _kind_of_extension(_suffix(path.name).lower())


def _suffix(name: str) -> str:
    """``Path(name).suffix``, without making a path (the scan asks once per file)."""
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def _kind_of_extension(ext: str) -> Kind | None:
    if ext in IMAGE_EXTENSIONS or ext in RAW_EXTENSIONS or ext in pillow_extensions():
        return "image"
    if ext in TEXT_EXTENSIONS:
        return "text"
    return None


def looks_like_picture(path: Path) -> bool:
    """Whether the file starts with the signature of a photo format Pillow reads (``SNIFFED_FORMATS``).
    Pillow's own tests of each format are used; a file that cannot be read is not a picture here."""
    register_pillow_plugins()
    Image.init()
    try:
        with open_regular(path) as f:  # a FIFO or a device is never read (and is no picture)
            prefix = f.read(32)
    except OSError:
        return False
    for fmt in SNIFFED_FORMATS:
        accept = Image.OPEN.get(fmt, (None, None))[1]
        if accept is not None and accept(prefix) is True:
            return True
    return False


def _ignored_silently(path: Path) -> bool:
    """Sidecars, documents and backup copies (rule 4 of the module docstring)."""
    ext = path.suffix.lower()
    return ext in NOT_PICTURES or ext.endswith("_original") or ext in (".bak", ".tmp") or path.name.endswith("~")


_HIDDEN_ATTRIBUTE = getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0) if os.name == "nt" else 0  # 0: no such attribute


def _is_hidden(entry: os.DirEntry[str]) -> bool:
    if entry.name.startswith("."):
        return True
    if not _HIDDEN_ATTRIBUTE:
        return False  # no such attribute here: no stat just to find that out
    # Windows marks hidden files with an attribute rather than a leading dot.
    attrs = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
    return bool(attrs & _HIDDEN_ATTRIBUTE)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "file vanished while scanning"
    return exc.strerror or type(exc).__name__


def _file_record(path: Path, st: os.stat_result, explicit: bool) -> Item | Skipped | None:
    kind = _kind_of_extension(_suffix(path.name).lower())
    if kind is None and path.suffix.lower() in VIDEO_EXTENSIONS:
        return Skipped(path, VIDEO_REASON)
    if kind is None and st.st_size > 0 and not _ignored_silently(path) and looks_like_picture(path):
        kind = "image"
    if kind is None:
        # Inside folders, unknown files (sidecars, PDFs, .DS_Store) are simply not ours; a file the user
        # named explicitly deserves an answer.
        return Skipped(path, f"unsupported file type '{path.suffix or path.name}'") if explicit else None
    if st.st_size == 0:
        return Skipped(path, "empty file (0 bytes)")
    return Item(path=path, kind=kind, size=st.st_size, mtime_ns=st.st_mtime_ns)


class _Walker:
    def __init__(self, roots: frozenset[tuple[int, int]] = frozenset()) -> None:
        self.roots = roots  # (device, inode) of the folders the user named: never skipped as exports
        self.seen_dirs: set[tuple[int, int]] = set()
        self.seen_files: set[str] = set()  # real paths of the files found

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
        if key not in self.roots and _is_export(folder):
            yield Skipped(folder, EXPORT_REASON)
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
        # A file that is not a symlink, in this folder, has the real path ``real_folder/name``: one realpath per
        # folder instead of one per file (realpath stats every component: 6 system calls a file, a minute at 1M).
        real_prefix = os.path.join(os.path.realpath(folder), "")  # the real folder and a separator
        child = getattr(folder, "_make_child_relpath", folder.joinpath)  # the fast join pathlib uses itself
        for entry in entries:
            path = child(entry.name)
            try:
                if _is_hidden(entry):
                    continue
                if entry.is_dir(follow_symlinks=True):
                    subfolders.append(path)
                    continue
                if not entry.is_file(follow_symlinks=True):
                    records.append(_not_a_file_record(entry, path))
                    continue
                rec = _file_record(path, entry.stat(follow_symlinks=True), explicit=False)
                real = None if entry.is_symlink() else real_prefix + entry.name
            except OSError as exc:
                rec, real = Skipped(path, _os_reason(exc)), None
            if rec is not None and self._first_time(rec, real):
                records.append(rec)
        yield from _pair_companions(records)
        for sub in subfolders:
            yield from self.walk(sub, ancestors | {key})

    def _first_time(self, rec: Item | Skipped, real: str | None = None) -> bool:
        """Whether ``rec`` is the first path to its file (``real``: its real path, when already known)."""
        if isinstance(rec, Skipped):
            return True
        key = os.path.normcase(real if real is not None else os.path.realpath(rec.path))  # as Path compares
        if key in self.seen_files:
            return False
        self.seen_files.add(key)
        return True


def _not_a_file_record(entry: os.DirEntry[str], path: Path) -> Skipped:
    """An entry that is neither a folder nor a regular file, never opened: a named pipe, socket or device (or a
    symlink to one, or to nothing), with what it is as the reason."""
    try:
        st = entry.stat(follow_symlinks=True)
    except OSError:  # a link to nothing, or a link loop
        return Skipped(path, "broken symbolic link" if entry.is_symlink() else "cannot be read")
    return Skipped(path, _special_reason(path, st, entry.is_symlink()))


def _special_reason(path: Path, st: os.stat_result, is_link: bool) -> str:
    """"a named pipe (FIFO), not a file"; for a link, where it leads: "a symbolic link to a device (/dev/zero), not
    a file"."""
    if not is_link:
        return not_a_file(st)
    try:
        target = f" ({os.readlink(path)})"
    except OSError:
        target = ""
    return f"a symbolic link to {file_kind(st)}{target}, not a file"


def _is_export(folder: Path) -> bool:
    """Whether ``folder`` is a PhotoAtlas export destination (it holds the export journal)."""
    try:
        return (folder / EXPORT_JOURNAL).is_file()
    except OSError:
        return False


def _pair_companions(records: list[Item | Skipped]) -> Iterator[Item | Skipped]:
    """Within one folder: RAW files and a picture with the same stem become one item (the picture, with ``raws``
    set to all of them), text items sharing a stem with a picture get ``caption_of``, and a video sharing a stem
    with a picture (a Live Photo's clip) is dropped rather than listed as skipped."""
    # Each file's stem and RAW-ness worked out once (pathlib recomputes them on every access).
    files = [(r, *_stem_and_raw(r.path.name)) for r in records if isinstance(r, Item)]
    raws: dict[str, tuple[Path, ...]] = {}
    for r, stem, raw in files:  # in name order, as the records are
        if raw:
            raws[stem] = (*raws.get(stem, ()), r.path)
    viewable = {stem for r, stem, raw in files if r.kind == "image" and not raw}
    images = {stem: r.path for r, stem, raw in files if r.kind == "image" and not (raw and stem in viewable)}
    known = {id(r): (stem, raw) for r, stem, raw in files}
    for rec in records:
        if isinstance(rec, Skipped) and rec.reason == VIDEO_REASON and rec.path.stem in images:
            continue
        if isinstance(rec, Item):
            stem, raw = known[id(rec)]
            if raw and stem in viewable:
                continue  # shown and embedded through its JPEG
            if rec.kind == "image" and not raw and stem in raws:
                rec = replace(rec, raws=raws[stem])
            elif rec.kind == "text" and stem in images:
                rec = replace(rec, caption_of=images[stem])
        yield rec


def _stem_and_raw(name: str) -> tuple[str, bool]:
    """``Path(name).stem`` and whether its suffix is a RAW extension (``Item.is_raw``), as pathlib splits names."""
    ext = _suffix(name)
    return name[:len(name) - len(ext)], ext.lower() in RAW_EXTENSIONS


def _folder_key(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a folder, None for anything else (or a path that cannot be read)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def scan(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Item | Skipped]:
    """Yield ``Item``s and ``Skipped``s for folders (recursively) and single files, in a stable order.

    Folders are walked in name order, files of a folder before its subfolders. Hidden files and folders
    are ignored, symlink loops and duplicate paths to the same file are reported once, sub-folders that are
    PhotoAtlas exports are skipped (a folder named in ``paths`` never is), and nothing here raises for a
    bad entry.
    """
    absolute = [Path(os.path.abspath(os.fspath(p))) for p in paths]
    walker = _Walker(frozenset(key for key in map(_folder_key, absolute) if key is not None))
    for path in absolute:
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
            yield Skipped(path, _special_reason(path, st, path.is_symlink()))


def standalone_raws(item: Item) -> list[Item | Skipped]:
    """The RAW files of the pair ``item`` heads, each as an item of its own (looked at again now: one that is no
    longer a regular file is a ``Skipped``). For the pipeline, when the pair's picture turns out unreadable: the
    RAWs are then the pictures, on the map and in an export, rather than lost with it."""
    out: list[Item | Skipped] = []
    for raw in item.raws:
        try:
            st = raw.stat()
        except OSError as exc:
            out.append(Skipped(raw, _os_reason(exc)))
            continue
        if not stat.S_ISREG(st.st_mode):
            out.append(Skipped(raw, _special_reason(raw, st, raw.is_symlink())))
            continue
        rec = _file_record(raw, st, explicit=True)
        if rec is not None:
            out.append(rec)
    return out
