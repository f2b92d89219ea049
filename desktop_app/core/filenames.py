"""Names of exported files and folders: legal on every platform, and never the same name twice on any filesystem.

Two names are the same file on macOS (APFS, HFS+), Windows (NTFS) and memory cards (exFAT, FAT) when they differ
only in case (``IMG_1.JPG`` / ``img_1.jpg``) or in Unicode normalisation (``é`` as one code point or as
``e`` + combining accent). So names are planned by a key that folds both, whatever filesystem DEST is on
today: a folder that holds ``IMG_1.JPG`` gets ``img_1 (2).jpg``, never a second file that replaces the first.

Length limits are bytes, not characters: ext4, Btrfs, APFS allow 255 bytes of UTF-8 per name (NTFS and exFAT
allow 255 UTF-16 units, which 255 UTF-8 bytes never exceed); HFS+ stores names decomposed (NFD), which can
take more bytes than the composed form, so a name must fit in both.

Names are also *shown* (a terminal, a status bar, a list of skipped files): ``printable`` makes any name or
reason one harmless line (an ESC sequence in a name cannot set a terminal's title, a newline cannot forge a line,
a byte that is not UTF-8 is seen as ``\\xe9`` instead of crashing the print or vanishing).
"""

from __future__ import annotations

import os
import re
import unicodedata

MAX_NAME = 120  # characters of a name we create: long enough for any camera's, short enough for deep paths
# Bytes of UTF-8 (composed and decomposed) of a name we create: a filesystem's 255, less room for the ".xmp" a
# darktable sidecar adds to the whole name (IMG_1.jpg.xmp), so an exported picture can always get its sidecar.
SIDECAR_SUFFIX_BYTES = len(".xmp")
MAX_NAME_BYTES = 255 - SIDECAR_SUFFIX_BYTES
UNSORTED = "Unsorted"
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
# Characters Windows forbids, control characters, and lone surrogates (bytes of a Linux name that were not
# UTF-8: APFS, NTFS and exFAT cannot store them).
_ILLEGAL = re.compile(r'[<>:"/\\|?*\x00-\x1f\ud800-\udfff]')
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ ()+,-]*(\.[A-Za-z0-9]{1,10})?")


# ``printable`` escapes what ``str.isprintable`` calls unprintable: control characters (Cc: C0, DEL, C1),
# surrogates (Cs), line and paragraph separators (Zl, Zp), unassigned code points and the format characters that
# reorder or hide text (Cf: a bidi override makes ``\u202egpj.exe`` read as ``exe.jpg``), except these joiners
# (emoji sequences need them); spaces other than " " (Zs) and private-use glyphs (Co) are harmless and kept.
_HIDDEN_FORMAT_KEPT = frozenset("\u200c\u200d")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str | os.PathLike[str]) -> str:
    """``text`` (a name, a path, a reason quoting one) as one line that is safe to print or show: control
    characters (C0, DEL, C1: an ESC sequence, a newline, a carriage return) escaped as ``\\x1b``, ``\\n``, ``\\r``;
    bytes that were not UTF-8 (Python's surrogate escapes, ``os.fsdecode``) shown as the byte, ``\\xe9``; other
    invisible or reordering characters (bidi overrides, line separators) as ``\\u202e``. Everything else,
    accents and emoji included, is left as it is. A backslash is not doubled (Windows paths stay readable), so
    the result is for people: the exact name is the one the program holds."""
    text = os.fspath(text)
    if text.isprintable():
        return text  # the common case: no character to look at
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def _escaped(c: str) -> str:
    code = ord(c)
    if c in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[c]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte 0x80-0xFF that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if c in _HIDDEN_FORMAT_KEPT or unicodedata.category(c) in ("Zs", "Co"):
        return c  # a joiner inside an emoji, a no-break space, a private-use glyph: harmless, and meant
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def name_key(name: str) -> str:
    """What a case-insensitive, normalisation-insensitive filesystem sees of ``name``: two names with the same
    key are one file there. (``casefold`` may leave a decomposed sequence, hence NFC once more.)"""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def _bytes(name: str) -> int:
    encoded = len(name.encode("utf-8", "surrogateescape"))
    if name.isascii():
        return encoded
    return max(encoded, len(unicodedata.normalize("NFD", name).encode("utf-8", "surrogateescape")))


def fit_name(stem: str, tail: str = "") -> str:
    """``stem + tail`` cut at the end of ``stem`` so it has at most ``MAX_NAME`` characters and ``MAX_NAME_BYTES``
    bytes (``tail`` is the extension, or `` (2).jpg``, and is always kept whole)."""
    whole = stem
    stem = stem[:max(1, MAX_NAME - len(tail))]
    if _bytes(stem + tail) > MAX_NAME_BYTES:
        # The longest start of the stem that fits (a character takes 1 to 4 bytes, up to 9 decomposed).
        low, high = 1, len(stem)
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if _bytes(stem[:mid] + tail) <= MAX_NAME_BYTES else (low, mid - 1)
        stem = stem[:low]
    if stem != whole:
        stem = stem.rstrip(". ") or stem  # a cut may end on a dot or space, which Windows drops
    return stem + tail


def _split_extension(name: str) -> tuple[str, str]:
    """``("IMG_1", ".jpg")``; an "extension" longer than 10 characters is part of the stem."""
    stem, dot, ext = name.rpartition(".")
    if dot and stem and len(ext) <= 10:
        return stem, dot + ext
    return name, ""


def safe_name(name: str, fallback: str = "untitled") -> str:
    """A file or folder name that is legal on Windows, macOS and Linux, fits every filesystem's length limit
    and cannot point elsewhere."""
    if len(name) <= MAX_NAME and _PLAIN.fullmatch(name) and not name.endswith(" ") and \
            name.split(".")[0].upper() not in _WINDOWS_RESERVED:
        return name  # the common case (IMG_0001.jpg) needs no rewriting
    cleaned = re.sub(r"\.{2,}", "_", _ILLEGAL.sub("_", name))  # no "..", so never a parent folder
    cleaned = cleaned.strip().strip(". ")  # no trailing dot/space (Windows), no leading dot (hidden)
    if not cleaned or set(cleaned) <= {".", "_", " "}:
        cleaned = fallback
    if cleaned.split(".")[0].upper() in _WINDOWS_RESERVED:
        cleaned = f"_{cleaned}"
    if len(cleaned) > MAX_NAME or _bytes(cleaned) > MAX_NAME_BYTES:
        cleaned = fit_name(*_split_extension(cleaned))
    return cleaned


def numbered(name: str, n: int) -> str:
    """``IMG_1 (2).jpg``: the ``n``-th candidate for ``name`` (still within the length limits)."""
    stem, ext = _split_extension(name)
    return fit_name(stem, f" ({n}){ext}")


def group_folder(group_id: int, name: str) -> str:
    """``03 beach sunset``: number first so folders sort like the groups; noise goes to ``Unsorted``."""
    if group_id < 0:
        return UNSORTED
    return safe_name(f"{group_id + 1:02d} {name}".replace(",", ""), fallback=f"{group_id + 1:02d}")


class NamePlanner:
    """Hands out names in folders so that no two are the same on any filesystem: the names already in a folder
    (listed once per folder) and the ones handed out before all count, compared by ``name_key``."""

    def __init__(self) -> None:
        self._keys: dict[str, set[str]] = {}  # folder -> keys of names present or handed out
        self._present: dict[str, dict[str, str]] = {}  # folder -> key -> a name on disk when first asked
        self._exact: dict[str, set[str]] = {}  # folder -> names on disk when first asked

    def _folder(self, folder: str) -> set[str]:
        keys = self._keys.get(folder)
        if keys is None:
            try:
                names = os.listdir(folder)
            except OSError:  # not there yet (the usual case for a new group folder)
                names = []
            self._exact[folder] = set(names)
            self._present[folder] = {name_key(n): n for n in sorted(names, reverse=True)}
            keys = self._keys[folder] = set(self._present[folder])
        return keys

    def present(self, folder: str, name: str) -> str | None:
        """The name on disk that is ``name`` as the strictest filesystem sees it (a link counts, even a broken
        one), when the folder was listed; None when there is none. HFS+ lists ``Café.jpg`` decomposed, however
        it was written, so an exact comparison would miss every name with an accent."""
        self._folder(folder)
        if name in self._exact[folder]:  # Linux may hold IMG_1.JPG and img_1.jpg both: the exact one first
            return name
        return self._present[folder].get(name_key(name))

    def is_free(self, folder: str, name: str) -> bool:
        return name_key(name) not in self._folder(folder)

    def claim(self, folder: str, name: str) -> None:
        """Mark ``name`` as used (a file this export keeps in place, e.g. from an earlier run)."""
        self._folder(folder).add(name_key(name))

    def take(self, folder: str, name: str) -> str:
        """The first free name of ``name``, ``name (2)``, ``name (3)``… in ``folder``; marks it used."""
        keys = self._folder(folder)
        candidate, n = name, 1
        while name_key(candidate) in keys:
            n += 1
            candidate = numbered(name, n)
        keys.add(name_key(candidate))
        return candidate
