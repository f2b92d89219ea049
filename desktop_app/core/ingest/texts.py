"""Read a text item: detect its encoding, refuse binary or empty files, keep a short snippet for display."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.errors import FileAccessError, UnreadableFile
from desktop_app.core.ingest.opening import NotAFile, open_regular

MAX_TEXT_BYTES = 1_000_000  # a note longer than this is read up to here; CLIP sees only a few windows anyway
SNIPPET_CHARS = 160
_COMMON_ENCODINGS = ("utf_16", "utf_32", "cp1252", "latin_1", "iso8859_15", "cp1251", "shift_jis", "gb18030")


@dataclass
class TextContent:
    text: str
    snippet: str
    encoding: str


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return False  # a BOM: UTF-16/UTF-8 text, where NUL bytes are normal
    return b"\x00" in head


def snippet_of(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The first ``limit`` characters of ``text`` with whitespace collapsed, ending in … when cut."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def read_text(path: Path) -> TextContent:
    """Read ``path`` as text. UTF-8 first (the common case), then charset-normalizer's best guess.

    Raises ``UnreadableFile`` for empty, binary or undecodable files, or ones that cannot be opened (a named pipe
    or a device under a note's name is never read: ``opening.open_regular``).
    """
    try:
        with open_regular(path) as fh:
            data = fh.read(MAX_TEXT_BYTES)
    except NotAFile as exc:
        raise FileAccessError(exc.reason) from None  # not about its content: not remembered as unreadable
    except FileNotFoundError:
        raise FileAccessError("file vanished before it could be read") from None
    except PermissionError:
        raise FileAccessError("permission denied") from None
    except OSError as exc:
        raise FileAccessError(f"cannot read file ({exc.strerror or type(exc).__name__})") from None
    if not data.strip():
        raise UnreadableFile("empty text file")
    if _looks_binary(data):
        raise UnreadableFile("binary data, not text")
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        matches = from_bytes(data)
        best = matches.best()
        if best is None:
            raise UnreadableFile("unknown text encoding (not UTF-8 and no other encoding fits)") from None
        # Western single-byte code pages often tie exactly (same chaos, same coherence); the tie is then
        # broken by the first candidate, which may be Baltic or Central European. Prefer the commonest.
        tied = [m for m in matches if m.chaos == best.chaos and m.coherence == best.coherence]
        for preferred in _COMMON_ENCODINGS:
            found = next((m for m in tied if m.encoding == preferred), None)
            if found is not None:
                best = found
                break
        text, encoding = str(best), best.encoding
    if not text.strip():
        raise UnreadableFile("empty text file")
    return TextContent(text=text, snippet=snippet_of(text), encoding=encoding)
