"""Open a file from the user's folders for reading only when it is a regular file.

A folder of pictures can hold other things under a picture's name: a named pipe (FIFO) ``IMG_1.xmp`` whose read
waits forever for a writer, a device (``/dev/zero`` behind a symlink) whose read never ends, a socket. Such an entry
is never read. ``open_regular`` makes that hold by construction, also when the entry is swapped between a check and
the open:

1. ``os.stat`` first (following symlinks): anything but a regular file is refused before it is opened at all, so a
   device's open, which can have effects of its own (a tape rewinds), never happens in the usual case;
2. the open itself is ``O_NONBLOCK`` (and ``O_NOCTTY``): a FIFO put there after the check opens at once instead of
   waiting for a writer;
3. ``os.fstat`` of what was opened: anything but a regular file is closed unread. Blocking is switched back on for
   the regular file (on Linux and macOS it has no effect on a regular file's reads either way).

A refusal is ``NotAFile``, an ``OSError``, so every reader that already treats an unreadable file as data (a
``Skipped``, an absent sidecar) treats these the same way, with ``reason`` as its one line.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from desktop_app.core.files import file_kind

_FLAGS = (os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
          | getattr(os, "O_CLOEXEC", 0))


class NotAFile(OSError):
    """The path is something other than a regular file (``reason``: "a named pipe (FIFO), not a file")."""

    def __init__(self, path: str | os.PathLike[str], st: os.stat_result) -> None:
        self.reason = not_a_file(st) or "not a regular file"
        super().__init__(errno.EINVAL, self.reason, os.fspath(path))


def not_a_file(st: os.stat_result) -> str:
    """``""`` for a regular file, else the one-line reason it is not read: ``a named pipe (FIFO), not a file``,
    ``a device, not a file``, ``a socket, not a file``, ``a folder, not a file``."""
    return "" if stat.S_ISREG(st.st_mode) else f"{file_kind(st)}, not a file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for binary reading (like ``open(path, "rb")``), only if it is a regular file (a symlink to
    one is fine). Raises ``NotAFile`` (an ``OSError``) for a FIFO, socket, device or folder, and ``OSError`` as
    ``open`` does (missing, permission denied). Never blocks on a FIFO and never reads a device."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotAFile(path, st)
    fd = os.open(path, _FLAGS)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):  # swapped since the stat: closed unread
            raise NotAFile(path, opened)
        if hasattr(os, "set_blocking") and _FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
