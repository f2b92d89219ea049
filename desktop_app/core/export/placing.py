"""Putting a file at a name without ever replacing what is there, on every platform and filesystem.

Three building blocks for the export:
  * ``copy_verified``: the bytes go to a temporary name in the target folder, are fsynced and checked, and only
    then get their final name; a source that changes while it is copied is refused (``SourceChanged``);
  * ``place``: give a file (our temporary copy, or the source of a move on the same filesystem) its final name
    with an operation that fails on an existing name — including a name that differs only in case or Unicode
    normalisation on filesystems that treat those as the same;
  * ``copy_bytes``: the data copy itself, kernel-side where the platform has one for files, and cancellable
    between chunks so closing the window never waits for a 4 GB video.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from desktop_app.core.errors import PhotoAtlasError
from desktop_app.core.files import (  # noqa: F401  (TMP_PREFIX, file_kind: re-exported)
    TMP_PREFIX,
    file_kind,
    sha256_file,
    temporary_name,
)
from desktop_app.core.ingest.opening import open_regular
from desktop_app.core.progress import CancelToken

CHUNK = 1 << 20  # bytes per read/write where there is no kernel copy
STEP = 16 << 20  # bytes per kernel copy call: the cancel token is checked between steps (well under a second)
# Errors after which nothing else will work either: the export stops (and says so) instead of going on.
FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG})
_FALLBACK_LOCK = threading.Lock()
# Told what is about to get a final name, before it does ("ready": our finished temporary copy; "reserved": the
# empty file that holds the name where there are no hard links), so recovery after a kill adopts or removes only
# a file that is provably ours (same device and inode), never something another program put there.
Note = Callable[[str, os.stat_result], None]


class ExportError(PhotoAtlasError):
    """The export cannot go on (destination not writable, disk full), or one file could not be exported (then it
    is listed in the summary and the rest go on); what was done is in the journal."""


class SourceChanged(ExportError):
    """The source's size or modification time is not what was journaled, or changed while it was copied."""


def _kernel_copies_to_files() -> bool:
    """``os.sendfile`` writes to regular files on Linux only: macOS and the BSDs have it but send only to
    sockets (ENOTSOCK), Windows has none."""
    return sys.platform.startswith("linux")


def copy_bytes(src: Any, dst: BinaryIO, size: int, cancel: CancelToken | None = None) -> None:
    """Copy ``size`` bytes from the start of ``src`` to ``dst``; raises ``Cancelled`` between chunks.

    Not ``shutil.copyfile``: its fast paths (fcopyfile on macOS, sendfile on Linux) copy a whole file in one call
    that cannot be cancelled, and it opens the target with "wb" where we need our exclusively created temp file.
    """
    offset = 0
    if _kernel_copies_to_files():
        try:
            while offset < size:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                sent = os.sendfile(dst.fileno(), src.fileno(), offset, min(size - offset, STEP))
                if sent == 0:
                    break  # the source got shorter: the caller's size check reports it
                offset += sent
            return
        except OSError as exc:
            # Some filesystems (FUSE, a few network ones) refuse sendfile: copy through Python's buffers
            # instead, as shutil does; nothing was written yet, so start from the beginning.
            if offset or exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP,
                                           errno.ENOTSOCK):
                raise
    src.seek(0)
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    since_check = STEP
    while True:
        if cancel is not None and since_check >= STEP:
            cancel.raise_if_cancelled()
            since_check = 0
        n = src.readinto(buffer)
        if not n:
            break
        dst.write(view[:n])
        since_check += n


def identity(st: os.stat_result) -> tuple[int, int]:
    """What "unchanged" means for a source: same size and same modification time (to the nanosecond)."""
    return st.st_size, st.st_mtime_ns


QUICK_HASH_SPAN = 64 << 10  # bytes read from the start of a file for ``quick_hash``


def quick_hash(path: str | os.PathLike[str]) -> str:
    """A content fingerprint that costs one small read, not a read of the whole file: SHA-256 of the size and the
    first 64 KiB (a photo's headers: its EXIF with the capture time to the second, its embedded preview). With
    the size and modification time it tells "the file the journal recorded" from another one put in its place
    (undo moves a file out of DEST only when all three match), and a move on one disk stays as fast as it was
    even on a spinning disk (one read at the start of the file, no seek to its end)."""
    h = hashlib.sha256()
    with open_regular(path) as f:
        h.update(str(os.fstat(f.fileno()).st_size).encode())
        h.update(f.read(QUICK_HASH_SPAN))
    return h.hexdigest()[:32]


def copy_verified(source: Path, target: Path, *, verify: bool = False, cancel: CancelToken | None = None,
                  expect: tuple[int, int] | None = None, note: Note | None = None) -> None:
    """Copy ``source`` to ``target``, which must not exist; never leaves a partial file under ``target``.

    ``expect`` is the source's (size, mtime_ns) as journaled: a source that differs, or changes while it is
    copied, raises ``SourceChanged`` and nothing is placed. With ``verify`` the copy's SHA-256 is compared too.
    ``note`` is told the finished copy's stat ("ready") before it gets its name (see ``Note``).
    """
    tmp = temporary_name(target.parent)
    try:
        with open_regular(source) as src:  # a FIFO swapped in since the plan is refused, never waited on
            before = os.fstat(src.fileno())
            if expect is not None and identity(before) != tuple(expect):
                raise SourceChanged(f"{source} changed after it was planned (size or time differs); not exported")
            with open(tmp, "xb") as dst:
                copy_bytes(src, dst, before.st_size, cancel)
                dst.flush()
                os.fsync(dst.fileno())
            if identity(os.fstat(src.fileno())) != identity(before):
                raise SourceChanged(f"{source} changed while it was copied; not exported")
        _copy_times(source, tmp, before)
        if tmp.stat().st_size != before.st_size:
            raise ExportError(f"copy of {source} came out the wrong size; nothing was replaced")
        if verify and sha256_file(tmp) != sha256_file(source):
            raise ExportError(f"copy of {source} differs from the original; nothing was replaced")
        if note is not None:
            note("ready", os.stat(tmp))
        place(tmp, target, note)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy_times(source: Path, tmp: Path, st: os.stat_result) -> None:
    """The source's times (those of the bytes that were copied, ``st``, which undo and reruns compare against) and
    permission bits, with owner-write on.

    Not ``shutil.copystat``: it also copies macOS flags (a Finder-locked photo's ``UF_IMMUTABLE``) and the
    read-only bit Windows keeps in the mode, and a locked or read-only temporary copy can then be neither given
    its times, nor unlinked after ``os.link``, nor cleaned up by the next run. A copy in DEST stays writable
    by its owner even when the original was locked: locking is the user's decision about the original, and a
    read-only copy would block undo on Windows. exFAT and FAT refuse chmod (EPERM) on Linux unless mounted
    "quiet"; that costs nothing worth failing a copy for.
    """
    try:
        os.chmod(tmp, stat.S_IMODE(st.st_mode) | stat.S_IWUSR | stat.S_IRUSR)
    except OSError as exc:
        if exc.errno in FATAL_ERRNOS:
            raise
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))


def make_removable(path: Path) -> None:
    """Clear what keeps ``path`` from being deleted by its owner: the macOS flags (``chflags``: Finder's lock)
    and the read-only bit (Windows' read-only attribute is the mode's write bit in Python). Best effort."""
    if hasattr(os, "chflags"):
        try:
            os.chflags(path, 0, follow_symlinks=False)
        except (OSError, NotImplementedError):
            pass
    try:
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    except OSError:
        pass


def _no_hard_links(exc: OSError) -> bool:
    """Whether ``os.link`` failed because this filesystem has no hard links (FAT, exFAT, some network shares:
    EPERM, ENOTSUP, EOPNOTSUPP, ENOSYS, EINVAL on Windows…), rather than because of the name or the disk."""
    return not isinstance(exc, FileExistsError) and \
        exc.errno not in FATAL_ERRNOS | {errno.ENOENT, errno.EACCES, errno.EXDEV}


def _renames_refuse_existing() -> bool:
    """Windows' rename (MoveFileEx without MOVEFILE_REPLACE_EXISTING) fails on an existing target, also one that
    differs only in case; POSIX rename silently replaces it."""
    return sys.platform == "win32"


def place(path: Path, target: Path, note: Note | None = None) -> None:
    """Give the file at ``path`` the name ``target`` (same folder or same filesystem) without ever replacing a
    file: raises ``FileExistsError`` when ``target`` (or a name the filesystem treats as the same) exists.

    ``os.link`` is the primary tool: it fails on an existing name, atomically, and the case-insensitive
    filesystems apply their own rules to it. Where there are no hard links, ``_rename_exclusive`` takes over.
    """
    try:
        if os.link in os.supports_follow_symlinks:
            os.link(path, target, follow_symlinks=False)  # a symlink moves as itself, not as what it points to
        else:
            os.link(path, target)
    except OSError as exc:
        if not _no_hard_links(exc):
            raise
        _rename_exclusive(path, target, note)
        return
    try:
        os.unlink(path)
    except OSError:
        # The old name cannot go (its folder is read-only, or Windows has the file open): take the new name
        # back, so a move never leaves the file in two places or a copy half-registered.
        os.unlink(target)
        raise


def _rename_exclusive(path: Path, target: Path, note: Note | None = None) -> None:
    """Rename without replacing, on filesystems without hard links.

    Windows: rename refuses an existing target by itself. Elsewhere, POSIX rename replaces its target, so the
    name is first reserved with ``O_CREAT | O_EXCL`` (which fails on any existing file, case- and
    normalisation-insensitively where the filesystem is) and the rename then replaces only that empty
    reservation, after checking it is still ours (same inode, still empty). Why that is safe:
      * PhotoAtlas holds DEST's lock for the whole export, so no other export writes there; within this process
        the planner gave every operation a different name, and one thread at a time does this (the lock below);
      * what is left is another program deleting our reservation and creating the same name in the
        microseconds between the check and the rename;
      * a crash between reservation and rename leaves an empty file whose journal entry is not done: recovery
        removes it when it is the reservation ``note`` was told about (same device and inode, still empty), so
        nothing half-made keeps a final name and nobody else's file is taken for ours.
    """
    if _renames_refuse_existing():
        os.rename(path, target)
        return
    with _FALLBACK_LOCK:
        fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            reserved = os.fstat(fd)
        finally:
            os.close(fd)
        try:
            if note is not None:
                note("reserved", reserved)
            now = os.lstat(target)
            if (now.st_dev, now.st_ino, now.st_size) != (reserved.st_dev, reserved.st_ino, 0):
                raise FileExistsError(errno.EEXIST, "taken while it was reserved", str(target))
            os.rename(path, target)
        except BaseException:
            _remove_reservation(target, reserved)
            raise


def _remove_reservation(target: Path, reserved: os.stat_result) -> None:
    try:
        now = os.lstat(target)
    except OSError:
        return
    if (now.st_dev, now.st_ino, now.st_size) == (reserved.st_dev, reserved.st_ino, 0):
        os.unlink(target)
