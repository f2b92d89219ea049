"""Small file helpers every part of core shares: writing a file so that a crash never leaves half of it
(``atomic_file``), recognisable temporary names (``temporary_name``) and a file's SHA-256 (``sha256_file``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TMP_PREFIX = ".photoatlas-tmp-"  # what a run after a kill recognises (and the scan skips) as ours


def temporary_name(folder: Path) -> Path:
    """A fresh temporary name in ``folder``: short (a long final name never has to fit twice), unique (two writers
    never share it) and recognisable, so a run after a kill finds and removes what was left."""
    return Path(folder) / f"{TMP_PREFIX}{uuid.uuid4().hex[:16]}"


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb", *, durable: bool = True,
                **open_args: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; when the block ends without an exception the file is
    flushed to the disk (fsync) and renamed over ``path`` in one step, so ``path`` holds either the old content or
    the new, never a mix — also after a crash or a power cut. On an exception the temporary file is removed and
    ``path`` is left as it was. ``mode`` is "wb" or "w" (then pass ``encoding``, ``newline`` as for ``open``).
    ``durable`` False skips the fsyncs (a cache that can be made again: still never half a file)."""
    target = Path(path)
    tmp = temporary_name(target.parent)
    try:
        with open(tmp, mode.replace("w", "x"), **open_args) as f:  # "x": the temporary name is never shared
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _sync_folder(target.parent)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(value: Any, indent: int | None = 1) -> str:
    """``value`` as readable JSON text (non-ASCII letters as they are) that can always be written as UTF-8: a file
    name that is not UTF-8 (Python keeps its bytes as lone surrogates, ``surrogateescape``) is written as a
    ``\\udcXX`` escape, which ``json.loads`` reads back to the same name, byte for byte."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically (see ``atomic_file``)."""
    with atomic_file(path, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: fsync the directory; Windows has no such call and needs none)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (network shares) refuse to sync a directory; the rename itself is done
    finally:
        os.close(fd)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_kind(st: os.stat_result) -> str:
    """What a directory entry that is not a regular file is, in words, for a one-line reason ("a named pipe
    (FIFO)"): such entries are never opened (reading a FIFO waits forever, a device never ends)."""
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a regular file" if stat.S_ISREG(mode) else "a special file"
