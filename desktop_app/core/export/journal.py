"""The export journal in DEST (what was done, for resuming and undo) and the lock that keeps one export per DEST.

The journal is append-only JSON lines, ``DEST/.photoatlas-journal.jsonl``. Its name is also how a scan
recognises a folder of exported copies (and leaves it out of the next analysis), so it never changes.

A journal is read as untrusted input: anyone who can write DEST (a shared or synced drive, a folder received from
someone else) can write it. So (docs/EXPORT.md, "What undo will never do"):

* **Paths inside DEST are written relative to DEST** (``01 beach/IMG_1.jpg``): a DEST that was copied, renamed or
  moved undoes itself, never the folder it was copied from. Only what lies outside DEST (a moved photo's original
  place, a sidecar beside an original) is absolute. A relative path with ``..`` or an empty part is refused.
* **Every line is signed**: an HMAC-SHA256 over the journal's random id, the line's number and its content, with
  a key kept in this user's settings folder (``export-journal.key``, readable by the user only). A journal that
  was edited, spliced from another journal or written by another user reads as ``tampered`` and nothing acts on
  it. Lines may go missing (a crash cuts the tail; deleting a line is harmless, undo checks every file anyway) but
  never be changed, added or reordered.
* Journals written before signing (``legacy``) are still read, and undo acts on them only inside DEST.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from filelock import FileLock, Timeout

from desktop_app.core.export.placing import ExportError
from desktop_app.core.ingest.items import EXPORT_JOURNAL as JOURNAL  # the scan skips folders holding it
from desktop_app.core.ingest.opening import NotAFile, open_regular

LOCK = ".photoatlas-export.lock"
OPS = ("copy", "hardlink", "symlink", "move")
VERSION = 2
KEY_FILE = "export-journal.key"
PATH_FIELDS = ("dst", "src", "backup")  # entries' paths: relative to DEST on disk where they lie inside it
# Errors after which the disk will take no more: undo goes on without noting its progress (it is read back from
# the files themselves), an export stops.
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
Trust = Literal["new", "signed", "legacy", "tampered"]


def journal_key() -> bytes:
    """This user's key for signing journals, made on first use (32 random bytes, readable by the user only)."""
    from desktop_app.core.app_dirs import default_config_dir

    path = default_config_dir() / KEY_FILE
    for _ in range(2):
        try:
            return bytes.fromhex(path.read_text(encoding="ascii").strip())
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            raise ExportError(f"cannot read the key that signs export journals, {path}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue  # another process made it a moment ago: read theirs
        except OSError as exc:
            raise ExportError(f"cannot create the key that signs export journals, {path}: "
                              f"{exc.strerror or exc}") from None
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
    raise ExportError(f"cannot read the key that signs export journals, {path}")


def _signature(key: bytes, journal_id: str, body: str) -> str:
    """The signature of one line's JSON ``body`` (as written, without its mac) in the journal ``journal_id``."""
    data = f"{journal_id}\n{body}".encode("utf-8", "surrogateescape")
    return hmac.new(key, data, hashlib.sha256).hexdigest()[:32]


_MAC_TAIL = re.compile(r',"mac":"([0-9a-f]{32})"\}$')  # how a signed line ends: its body is the rest, closed


def _signed(line: str) -> tuple[str, str] | None:
    """(body as it was signed, mac) of a signed line; None for a line without a signature."""
    m = _MAC_TAIL.search(line)
    return None if m is None else (line[:m.start()] + "}", m.group(1))


MAX_JOURNAL = 1 << 30  # bytes: a journal of a million files is about 500 MB; anything larger is not one of ours
_TEXT, _WHOLE = (str,), (int,)
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {  # what each kind of entry must carry, and of which type
    **{op: {"src": _TEXT, "dst": _TEXT, "size": _WHOLE, "mtime_ns": _WHOLE} for op in OPS},
    "ready": {"dst": _TEXT, "dev": _WHOLE, "ino": _WHOLE, "size": _WHOLE},
    "reserved": {"dst": _TEXT, "dev": _WHOLE, "ino": _WHOLE, "size": _WHOLE},
    "xmp-done": {"dst": _TEXT, "size": _WHOLE, "mtime_ns": _WHOLE},
    "manifest": {"dst": _TEXT, "size": _WHOLE, "mtime_ns": _WHOLE},
    **{op: {"dst": _TEXT} for op in ("done", "abandoned", "undo", "undone", "xmp", "xmp-failed", "xmp-undone",
                                     "manifest-undone")},
}


def _well_formed(entry: dict[str, Any]) -> bool:
    """Whether ``entry`` carries the fields its kind needs, with their types (an unknown kind is ignored by every
    reader, so it passes)."""
    needs = _FIELDS.get(entry.get("op"), {})  # type: ignore[arg-type]
    return all(isinstance(entry.get(k), t) and not isinstance(entry.get(k), bool) for k, t in needs.items())


def _relative(prefix: str, value: str) -> str:
    """``value`` (absolute) as written in the journal: relative to DEST (``prefix``: DEST and a separator), with "/",
    when it lies inside DEST. Plain string work: an export journals three paths per file."""
    if value.startswith(prefix):
        rel = value[len(prefix):]
        return rel.replace(os.sep, "/") if os.sep != "/" else rel
    return value


def _absolute(dest: Path, value: Any) -> str | None:
    """A journaled path as an absolute path (inside DEST when relative); None when it is no possible path."""
    if not isinstance(value, str) or not value or "\0" in value:
        return None
    if os.path.isabs(value):
        return value if os.path.normpath(value) == value else None
    parts = PurePosixPath(value).parts
    if not parts or any(p in ("", ".", "..") or "\\" in p for p in parts) or value.startswith("/"):
        return None
    return str(dest.joinpath(*parts))


class DestLock:
    """One export or undo at a time per DEST, across processes (the window and the CLI): an OS file lock
    (``filelock``) on ``DEST/.photoatlas-export.lock``, released when the process ends, even by a kill."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self._lock = FileLock(dest / LOCK, timeout=0)

    def __enter__(self) -> DestLock:
        if os.path.islink(self.dest / LOCK):  # the lock is opened for writing (and truncated): never through a link
            raise ExportError(f"{self.dest / LOCK} is a symbolic link; remove it (PhotoAtlas makes that file itself)")
        try:
            self._lock.acquire()
        except Timeout:
            raise ExportError(f"another export or undo into {self.dest} is running (in this window, another "
                              "window or the command line); wait for it to finish") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class Journal:
    """Append-only JSON lines in DEST; each line is fsynced before the operation it describes runs.

    In memory every path is absolute (inside DEST: under the DEST this journal was opened in, wherever the journal
    was written); ``trust`` says whether the file can be believed (see the module's docstring) and ``problem`` why
    not. ``tolerate_full``: a write that finds the disk full is dropped (``unwritten`` says so) instead of raising —
    undo's way of going on when DEST is full."""

    def __init__(self, dest: Path) -> None:
        self.dest = Path(dest)
        self.path = self.dest / JOURNAL
        self._prefix = os.path.join(str(self.dest), "")  # DEST and a separator: what a path inside DEST starts with
        self.entries: list[dict[str, Any]] = []
        self.trust: Trust = "new"
        self.problem = ""
        self.tolerate_full = False
        self.unwritten = False
        self._id = ""
        self._next = 0
        self._key: bytes | None = None
        if self.path.exists():
            self._read()
        self._file: Any = None
        self._lock = threading.Lock()  # export workers note their copies and reservations from their threads

    def _read(self) -> None:
        raw: list[tuple[int, str, dict[str, Any]]] = []
        if os.path.islink(self.path):  # appending through it would write wherever it points
            return self._tampered(0, "it is a symbolic link")
        try:
            with open_regular(self.path) as f:  # a FIFO or a device is refused, never waited on
                if os.fstat(f.fileno()).st_size > MAX_JOURNAL:
                    return self._tampered(0, f"it is larger than {MAX_JOURNAL >> 30} GB, more than any journal holds")
                data = f.read(MAX_JOURNAL + 1)
        except NotAFile as exc:
            return self._tampered(0, f"it is {exc.reason}")
        for number, line in enumerate(data.decode("utf-8", "surrogateescape").splitlines(), 1):
            try:
                entry = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                continue  # a line cut short by a crash: its operation never started
            if isinstance(entry, dict):
                raw.append((number, line, entry))
        if not raw:
            return
        first = raw[0][2]
        if first.get("op") == "journal":
            self._verify(raw)
        elif any("mac" in e or e.get("op") == "journal" for _, _, e in raw):
            self._tampered(raw[0][0], "signed lines after unsigned ones")
        else:
            self.trust = "legacy"
        if self.trust == "tampered":
            self.entries = []
            return
        for number, _, entry in (raw[1:] if self.trust == "signed" else raw):
            entry.pop("mac", None)
            if not _well_formed(entry):
                if self.trust == "signed":  # signed by us, yet not an entry we write
                    self._tampered(number, "an entry PhotoAtlas does not write")
                    self.entries = []
                    return
                continue  # an unsigned entry missing what it needs: ignored
            for key in PATH_FIELDS:
                if key in entry and entry[key] is not None:
                    path = _absolute(self.dest, entry[key])
                    if path is None:
                        if self.trust == "signed":  # signed by us, yet no path we write: refuse it whole
                            self._tampered(0, f"an impossible path {entry[key]!r}")
                            self.entries = []
                            return
                        break  # a legacy entry naming no possible path: ignored
                    entry[key] = path
            else:
                self.entries.append(entry)

    def _verify(self, raw: list[tuple[int, str, dict[str, Any]]]) -> None:
        """Every line signed in this journal (its header's id), in order (``n`` strictly increasing)."""
        header = raw[0][2]
        key = self.key()
        journal_id = header.get("id")
        if not isinstance(journal_id, str) or header.get("version") != VERSION:
            return self._tampered(raw[0][0], "its first line is not a journal header PhotoAtlas wrote")
        last = -1
        for number, line, entry in raw:
            n = entry.get("n")
            signed = _signed(line)
            # Numbered without gaps: a crash cuts only the tail (the next run goes on from the last whole line), so a
            # gap is a line taken out — which could make an old move look interrupted.
            if not isinstance(n, int) or isinstance(n, bool) or n != last + 1 or signed is None \
                    or signed[1] != entry.get("mac") \
                    or not hmac.compare_digest(signed[1], _signature(key, journal_id, signed[0])):
                return self._tampered(number, "it does not match its signature")
            last = n
        self.trust = "signed"
        self._id = journal_id
        self._next = last + 1

    def _tampered(self, number: int, why: str) -> None:
        self.trust = "tampered"
        where = f"line {number}: " if number else ""
        self.problem = (f"{self.path} was not written by PhotoAtlas for this user, or was changed since "
                        f"({where}{why}); PhotoAtlas will not act on it")

    def inside(self, path: Path) -> bool:
        """Whether ``path`` lies inside DEST: by its name, and by its folder on disk (a group folder that is a
        symbolic link leading out of DEST does not count)."""
        try:
            rel = Path(os.path.normpath(path)).relative_to(self.dest)
            real_dest = Path(os.path.realpath(self.dest))
            real_folder = Path(os.path.realpath(Path(path).parent))
        except (ValueError, OSError):
            return False
        return bool(rel.parts) and (real_folder == real_dest or real_dest in real_folder.parents)

    def key(self) -> bytes:
        if self._key is None:
            self._key = journal_key()
        return self._key

    def refuse_if_unsigned(self) -> None:
        """``ExportError`` for an export into a DEST whose journal is not signed: adding signed lines to it would make
        it unreadable, adding unsigned ones would leave the new export's moves to be put back by hand."""
        if self.trust == "legacy":
            raise ExportError(f"{self.path} is an export journal PhotoAtlas did not sign (an older version, or someone "
                              "else, wrote it); undo that export first (photoatlas undo), or choose another folder")

    def refuse_if_tampered(self) -> None:
        """``ExportError`` with one line when the journal cannot be believed."""
        if self.trust == "tampered":
            raise ExportError(self.problem + "; choose another folder, or move the journal away if you trust "
                              "what is in this one")

    def open(self) -> None:
        """Create the journal file now (an export's first act), so DEST is recognisable before any file lands.

        A line cut short by a kill is ended first: the next entry would otherwise be appended to it and be
        lost with it on the next read. A new journal starts with its signed header."""
        if self._file is None:
            self.refuse_if_tampered()
            if os.path.islink(self.path):  # made a link since it was read: never append through it
                raise ExportError(f"{self.path} is a symbolic link; PhotoAtlas will not write its journal there")
            self._file = open(self.path, "a+b")  # noqa: SIM115 (kept open for the run)
            if self._file.tell() > 0:
                self._file.seek(-1, os.SEEK_END)
                if self._file.read(1) != b"\n":
                    self._guard(lambda: self._file.write(b"\n"))
            if self.trust == "new":
                self.trust = "signed"
                self._id = secrets.token_hex(16)
                self._next = 0
                header = {"op": "journal", "version": VERSION, "id": self._id, "time": round(time.time(), 3)}
                self._guard(lambda: self._append(header, sync=True))

    def write(self, sync: bool = True, **entry: Any) -> None:
        """Append an entry, fsynced at once unless the caller batches entries and calls ``sync()`` before
        the operations they describe (a killed process loses only entries of operations that never ran,
        or "done" marks that recovery re-derives from what is on disk). Paths are given absolute."""
        entry.setdefault("time", round(time.time(), 3))
        with self._lock:
            self.open()
            if self._guard(lambda: self._append(entry, sync)):
                self.entries.append(entry)

    def _append(self, entry: dict[str, Any], sync: bool) -> None:
        prefix = self._prefix
        stored = {k: (_relative(prefix, v) if k in PATH_FIELDS and isinstance(v, str) else v)
                  for k, v in entry.items()}
        if self.trust == "signed":
            stored["n"] = self._next
        text = json.dumps(stored, ensure_ascii=False)
        if self.trust == "signed":  # the line as written is what is signed: one dump per line, none to check it
            text = f'{text[:-1]},"mac":"{_signature(self.key(), self._id, text)}"}}'
        line = (text + "\n").encode("utf-8", "surrogateescape")
        self._file.write(line)  # append mode: always at the end, whatever open() read
        if sync:
            self._sync()
        self._next += 1

    def _guard(self, write: Any) -> bool:
        """Run ``write``; with ``tolerate_full``, a full disk drops it (False) instead of raising."""
        try:
            write()
            return True
        except OSError as exc:
            if not (self.tolerate_full and exc.errno in FULL_ERRNOS):
                raise
            self.unwritten = True
            return False

    def flush(self) -> None:
        """Hand what was written to the OS (no fsync): another process reading the journal now sees it, and a
        kill of this process no longer loses it."""
        with self._lock:
            if self._file is not None:
                self._guard(self._file.flush)

    def sync(self) -> None:
        """Flush and fsync: called after a batch of entries and before the operations they describe."""
        with self._lock:
            self._sync()

    def _sync(self) -> None:
        if self._file is not None:
            self._guard(self._file.flush)
            self._guard(lambda: os.fsync(self._file.fileno()))

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                file, self._file = self._file, None
                self._guard(file.close)  # closes the file even when its last flush fails

    def completed(self) -> dict[str, dict[str, Any]]:
        """Finished operations that were not undone, by target path (with ``placed_mtime_ns``, the time the
        target got, from the "done" mark when it has one)."""
        return self._settle()[0]

    def started(self) -> dict[str, dict[str, Any]]:
        """Operations written but neither done, abandoned nor undone (an interrupted run), by target path, each
        with what the run noted before placing it: ``ready`` (the finished copy's identity) and ``reserved``
        (the empty file holding the name where there are no hard links)."""
        return self._settle()[1]

    def _settle(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """One pass over the entries: (completed, started), both by target path."""
        done: dict[str, dict[str, Any]] = {}
        open_: dict[str, dict[str, Any]] = {}
        for e in self.entries:
            op, dst = e.get("op"), e.get("dst")
            if not isinstance(dst, str):
                continue  # not an entry about a file (begin, end)
            if op in OPS:
                open_[dst] = dict(e)
                done.pop(dst, None)
            elif op in ("ready", "reserved") and dst in open_:
                open_[dst][op] = e
            elif op == "done" and dst in open_:
                entry = open_.pop(dst)
                for key in ("placed_mtime_ns", "method"):
                    if key in e:
                        entry[key] = e[key]
                done[dst] = entry
            elif op in ("undone", "abandoned"):
                open_.pop(dst, None)
                if op == "undone":
                    done.pop(dst, None)
        return done, open_
