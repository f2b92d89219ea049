"""SQLite store of embedding vectors, keyed by file identity (path, size, mtime_ns) AND model identity.

A rerun on an unchanged folder embeds nothing; a changed file is embedded again; vectors of two models
never mix. A path is kept as its text, or, when its name is not UTF-8 (a Latin-1 camera card), as its exact bytes
(``_path_key``): such a file is found again like any other, and caches written before read as they are. The
database runs in WAL mode with a busy timeout so several processes (the GUI, a CLI run, two windows) can share it.

A user's cache can be hours of work, so it is only ever moved aside when it is really damaged, and only when
no other process has it open:

- *Damaged* means SQLite said ``SQLITE_CORRUPT`` or ``SQLITE_NOTADB`` (read from the exception's
  ``sqlite_errorcode``, never from its message), or ``PRAGMA quick_check`` did not answer ``ok``. A busy or
  locked database, a full disk, an I/O error or a file that cannot be opened is raised as ``CacheUnavailable``
  (``CacheBusy`` for busy/locked, after retrying until the timeout) and the file stays where it is.
- *Nobody else has it open* is proven with two kinds of lock file, both taken through ``filelock`` (``flock``
  on Linux and macOS, ``LockFileEx``/``msvcrt.locking`` on Windows; the OS drops them when a process dies):
  ``embeddings.sqlite3.lock`` is a gate held only while a cache is being opened (connect, WAL, schema,
  integrity check, moving aside), so openers never race each other; and each open ``EmbeddingCache`` holds
  its own lock file in ``embeddings.sqlite3.sessions/`` for as long as it is open. filelock has no shared
  lock, so "shared" is many exclusive locks on many files. Under the gate, a session file whose lock can be
  taken belongs to a process that died without closing the cache; one whose lock cannot be taken belongs to
  a live user. A damaged cache is moved aside only while holding the gate and finding no live session but
  our own; otherwise opening fails with a message and nothing moves.
- ``PRAGMA quick_check`` reads the whole file (seconds for a million vectors), so it runs only after an
  unclean shutdown (a stale session file was found) or when the last check is ``CHECK_EVERY_DAYS`` old.
  A plain open reads a few pages. Corruption met during a normal open still takes the careful path above.
- A cache written by a newer PhotoAtlas is used as it is: newer schemas only add tables and columns, our
  tables are created ``IF NOT EXISTS`` and every insert names its columns, and its ``schema_version`` is left
  alone. So two installed versions never evict each other's cache. Only if a table lacks a column this
  version needs does opening fail (``CacheUnavailable``), again without moving anything.

After opening, every public method maps SQLite's errors the same way (``_guarded``): a busy/locked database is
retried until ``timeout`` and then raised as ``CacheBusy``; a full disk, an I/O error and the like as
``CacheUnavailable``. Damage met mid-run (hours into an embedding run, with other processes maybe using the
file) is reported, never moved aside while open: this cache's session file is left behind on ``close``, so
the next open takes it for an unclean shutdown, runs ``quick_check`` and sets the file aside if it is damaged.

No wait blocks a cancel: with a ``CancelToken``, the opening gate and other processes' SQLite locks are waited
for in slices of ``WAIT_SLICE_S`` that check the token, and the opening's ``quick_check`` is interrupted
(``Connection.interrupt`` from a watcher thread: the check is one SQLite step, so a progress handler never runs
inside it); all of them raise ``Cancelled``. A statement that got its lock runs to the end (a store of one batch
takes milliseconds), so work already done is kept.

A file system without ``flock`` (some network shares): filelock 3.x raises ``NotImplementedError`` there, which
becomes ``CacheUnavailable`` (choose a local folder). We do not run without locks, because then nothing proves
that nobody else has the cache open before it is moved aside. (Newer filelock versions fall back to soft lock
files by themselves, which break a dead owner's lock by its pid; that keeps the design's promises.)
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import numpy as np
from filelock import FileLock, Timeout

from desktop_app.core.app_dirs import default_cache_dir
from desktop_app.core.errors import PhotoAtlasError
from desktop_app.core.progress import CancelToken

SCHEMA_VERSION = 1  # tables added since (texts, layouts) are created on open; older readers ignore them
CACHE_FILENAME = "embeddings.sqlite3"
LAYOUTS_KEPT = 24  # most recent layouts kept per cache (each is a few MB at 100k items)
CHECK_EVERY_DAYS = 30  # a full integrity check this often even without an unclean shutdown
OPEN_TIMEOUT_S = 120.0  # how long opening (or a read/write) waits for other processes' locks before giving up
WAIT_SLICE_S = 0.1  # one wait for another process's lock; the cancel token is checked between slices
BULK_LOOKUP_FROM = 20_000  # files looked up at once: from here in one pass over the model's rows (see lookup)
BULK_MMAP_BYTES = 1 << 40  # what that pass may map (SQLite caps it at its own maximum, 2 GB in most builds)

# Primary SQLite result codes (the low byte of ``sqlite_errorcode``), see https://sqlite.org/rescode.html
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 11, 13, 14, 26
_SQLITE_IOERR_WRITE = _SQLITE_IOERR | (3 << 8)  # an extended code: a write failed (EFBIG, ENOSPC on some systems)
_DAMAGED = {_SQLITE_CORRUPT, _SQLITE_NOTADB}
_BUSY = {_SQLITE_BUSY, _SQLITE_LOCKED}

# The columns this version reads and writes; a newer schema may add more (see the module docstring).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "models": ("model_key", "identity"),
    "vectors": ("model_key", "path", "size", "mtime_ns", "status", "snippet", "vector"),
    "file_digests": ("path", "size", "mtime_ns", "sha256"),
    "texts": ("model_key", "text", "vector"),
    "layouts": ("key", "params_key", "created", "dims", "row_ids", "coords"),
    "layout_notes": ("key", "note"),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (model_key TEXT PRIMARY KEY, identity TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vectors (
    model_key TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    snippet TEXT,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_key, path)
);
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS texts (
    model_key TEXT NOT NULL, text TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model_key, text)
);
CREATE TABLE IF NOT EXISTS layouts (
    key TEXT PRIMARY KEY,
    params_key TEXT NOT NULL,
    created REAL NOT NULL,
    dims INTEGER NOT NULL,
    row_ids BLOB NOT NULL,
    coords BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS layouts_by_params ON layouts (params_key, created);
CREATE TABLE IF NOT EXISTS layout_notes (key TEXT PRIMARY KEY, note TEXT NOT NULL);
"""
_SCHEMA_OBJECTS = {*_COLUMNS, "layouts_by_params"}


def _path_key(path: Path | str) -> str | bytes:
    """How a file's path is stored: its text when the name is UTF-8 (every cache written before kept paths so, and
    reads them back unchanged), else its exact bytes (``os.fsencode``: a Latin-1 camera card's ``caf\\xe9.jpg``), as a
    BLOB. SQLite never finds a BLOB equal to a TEXT, so the two forms cannot collide, and no migration is needed."""
    text = os.fspath(path)
    if text.isascii():  # most names, known without encoding them (a lookup asks about a million at once)
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8 (Python's surrogateescape)
        return os.fsencode(text)
    return text


def _path_of(stored: str | bytes) -> str:
    """The path ``_path_key`` stored, as the scan names it (``os.fsdecode``: the same surrogate escapes)."""
    return os.fsdecode(stored) if isinstance(stored, bytes) else stored


def _storable(text: str | None) -> str | None:
    """A status or snippet SQLite can keep as TEXT: lone surrogates (a name's stray bytes quoted in a reason)
    written as ``\\udce9`` instead of failing the whole batch."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _insert(table: str, verb: str = "INSERT OR REPLACE") -> str:
    """An insert that names its columns, so a newer schema's extra columns (with defaults) do not break it."""
    columns = _COLUMNS[table]
    return f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class CacheUnavailable(PhotoAtlasError):
    """The embedding cache cannot be used now (disk full, I/O error, no permission, in use while damaged).

    Nothing was moved or deleted; ``details`` holds SQLite's own error when there is one.
    """


class CacheBusy(CacheUnavailable):
    """Another process kept the embedding cache locked for longer than the open timeout."""


P = ParamSpec("P")
R = TypeVar("R")


class _Damaged(Exception):
    """``PRAGMA quick_check`` found a problem (SQLite itself raised nothing)."""


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _unavailable(exc: sqlite3.Error, folder: Path) -> CacheUnavailable:
    """The typed error (with a one-line message) for an SQLite error that is not damage."""
    code = _primary_code(exc)
    details = f"{getattr(exc, 'sqlite_errorname', 'SQLite error')}: {exc}"
    if code in _BUSY:
        return CacheBusy(f"the embedding cache in {folder} is locked by another program ({exc}); "
                         "close other PhotoAtlas windows or commands and try again", details=details)
    if code == _SQLITE_FULL:
        return CacheUnavailable(f"the disk holding the embedding cache ({folder}) is full; free some space and "
                                "try again", details=details)
    if getattr(exc, "sqlite_errorcode", None) == _SQLITE_IOERR_WRITE:  # e.g. past a FAT32 disk's 4 GB file limit
        return CacheUnavailable(f"could not write to the embedding cache in {folder} ({exc}); check that the disk "
                                "has free space and takes files this large", details=details)
    if code == _SQLITE_IOERR:
        return CacheUnavailable(f"could not read or write the embedding cache in {folder} ({exc}); check the disk",
                                details=details)
    if code in (_SQLITE_CANTOPEN, _SQLITE_PERM, _SQLITE_READONLY):
        return CacheUnavailable(f"cannot open the embedding cache in {folder} ({exc}); check that the folder is "
                                "writable, or choose another cache folder", details=details)
    return CacheUnavailable(f"the embedding cache in {folder} cannot be used ({exc})", details=details)


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Run a public ``EmbeddingCache`` method with SQLite's errors mapped as when opening (see ``_error``).

    A busy/locked database is retried (each try waits ``WAIT_SLICE_S`` inside SQLite) until the cache's timeout or
    a cancel; so a method wrapped here must be safe to run again: one transaction, arguments not consumed.
    """

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        cache: EmbeddingCache = args[0]  # type: ignore[assignment]
        deadline = time.monotonic() + cache._timeout
        while True:
            try:
                return method(*args, **kwargs)
            except sqlite3.ProgrammingError:  # a bug (e.g. used after close), not the user's disk
                raise
            except sqlite3.DatabaseError as exc:
                if _primary_code(exc) in _BUSY and time.monotonic() < deadline:
                    cache._raise_if_cancelled()  # only a wait is cut short: work that got its lock is kept
                    time.sleep(0.01)  # some busy answers come at once, without SQLite's own wait
                    continue
                raise cache._error(exc) from exc

    return wrapper


class _Sessions:
    """One lock file per open cache in ``folder``, held for as long as that cache is open.

    Only probed while the opening gate is held, so a probe never races another opener.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._own: FileLock | None = None
        self._own_path: Path | None = None

    def join(self) -> None:
        self.folder.mkdir(exist_ok=True)
        # The pid helps a person reading the folder; the random part makes the name unique even if a pid is reused.
        self._own_path = self.folder / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.lock"
        self._own = FileLock(self._own_path, thread_local=False)  # closed maybe from another thread than opened
        self._own.acquire(timeout=0)

    def probe_others(self) -> tuple[int, int]:
        """``(live, stale)``: other open caches, and lock files of processes that died (those are removed)."""
        live = stale = 0
        for path in self.folder.glob("*.lock"):
            if path == self._own_path:
                continue
            probe = FileLock(path, thread_local=False)
            try:
                probe.acquire(timeout=0)
            except Timeout:
                live += 1
                continue
            except OSError:  # vanished between glob and open (its owner closed): neither live nor stale
                continue
            probe.release()
            with contextlib.suppress(OSError):
                path.unlink()
            stale += 1
        return live, stale

    def leave(self, keep_file: bool = False) -> None:
        """Give up the session lock; ``keep_file`` leaves its file, so the next opener takes it for a crash."""
        if self._own is not None:
            self._own.release()
            self._own = None
        if self._own_path is not None and not keep_file:  # filelock 3.x keeps Unix lock files on release
            with contextlib.suppress(OSError):
                self._own_path.unlink()
            self._own_path = None


@dataclass
class CachedVector:
    vector: np.ndarray
    status: str
    snippet: str | None


@dataclass
class CachedRows:
    """``lookup_rows``' answer, row ``i`` being the ``i``-th file asked about: ``found[i]`` whether the cache holds
    its vector (its size and mtime still match), then ``vectors[i]`` (zeros where not found), ``status[i]`` and
    ``snippet[i]`` (None where not found)."""

    found: np.ndarray  # (n,) bool
    vectors: np.ndarray  # (n, dim) float32
    status: list[str | None]
    snippet: list[str | None]


class EmbeddingCache:
    """Open (or create) the cache in ``folder``; problems that were dealt with end up in ``warnings``.

    Raises ``CacheUnavailable`` (``CacheBusy`` when other processes keep it locked for ``timeout`` seconds)
    when the cache cannot be used; a cache is moved aside only when it is damaged and nobody else has it open.
    Every method raises the same errors later on, and ``Cancelled`` when ``cancel`` is set while it waits for
    another process (see the module docstring).
    """

    def __init__(self, folder: Path | None = None, *, timeout: float = OPEN_TIMEOUT_S,
                 cancel: CancelToken | None = None) -> None:
        self.folder = Path(folder) if folder else default_cache_dir()
        self.path = self.folder / CACHE_FILENAME
        self.warnings: list[str] = []
        self.schema_version = SCHEMA_VERSION  # as found in the file: higher when a newer PhotoAtlas made it
        self.integrity_checked = False  # whether this open ran PRAGMA quick_check
        self._closed = False
        self._sessions = _Sessions(self.path.with_name(CACHE_FILENAME + ".sessions"))
        self._timeout = timeout
        self._cancel = cancel
        self._damage_seen = False  # SQLite reported damage after opening: the next open checks the file
        deadline = time.monotonic() + timeout
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            gate = FileLock(self.path.with_name(CACHE_FILENAME + ".lock"), thread_local=False)
            self._wait_for_gate(gate, deadline)
        except Timeout as exc:
            raise CacheBusy(f"another PhotoAtlas kept the embedding cache in {self.folder} busy for {timeout:.0f} s; "
                            "try again when it has opened") from exc
        except (OSError, NotImplementedError) as exc:
            raise self._folder_error(exc) from exc
        stale = 0
        try:
            self._sessions.join()
            _, stale = self._sessions.probe_others()  # a stale session: some process died with the cache open
            self._conn = self._open(deadline, check=stale > 0)
        except BaseException as exc:
            # The stale sessions are gone; if the check they asked for did not finish (a cancel, an error),
            # leaving ours behind asks the next open to check instead.
            self._sessions.leave(keep_file=stale > 0)
            if isinstance(exc, (OSError, NotImplementedError)):  # the sessions folder or a lock file failed
                raise self._folder_error(exc) from exc
            raise
        finally:
            gate.release()

    def _folder_error(self, exc: OSError | NotImplementedError) -> CacheUnavailable:
        if isinstance(exc, NotImplementedError):  # filelock 3.x on a file system without flock
            return CacheUnavailable(f"the file system of the embedding cache folder {self.folder} cannot lock files "
                                    "(a network share?); choose a cache folder on a local disk",
                                    details=f"NotImplementedError: {exc}")
        return CacheUnavailable(f"cannot use the embedding cache folder {self.folder} ({exc.strerror or exc}); "
                                "choose another cache folder", details=str(exc))

    # -- cancelling and errors -----------------------------------------------------------------------
    def _cancel_requested(self) -> bool:
        return self._cancel is not None and self._cancel.cancelled

    def _raise_if_cancelled(self) -> None:
        if self._cancel is not None:
            self._cancel.raise_if_cancelled()

    def _wait_for_gate(self, gate: FileLock, deadline: float) -> None:
        """Take the opening gate, waiting in short slices so a cancel is noticed; ``Timeout`` at ``deadline``."""
        while True:
            self._raise_if_cancelled()
            try:
                gate.acquire(timeout=max(min(WAIT_SLICE_S, deadline - time.monotonic()), 0.0))
                return
            except Timeout:
                if time.monotonic() >= deadline:
                    raise

    def _error(self, exc: sqlite3.DatabaseError) -> CacheUnavailable:
        """The typed error for SQLite's ``exc`` after opening: as when opening, except for damage."""
        if _primary_code(exc) in _DAMAGED:
            # Other processes may be using the file right now: moving it is the next open's job (see close).
            self._damage_seen = True
            return CacheUnavailable(f"the embedding cache in {self.folder} is damaged ({exc}); PhotoAtlas will check "
                                    "it and set it aside the next time it opens the cache",
                                    details=f"{getattr(exc, 'sqlite_errorname', 'SQLite error')}: {exc}")
        return _unavailable(exc, self.folder)

    # -- opening (the gate is held) -----------------------------------------------------------------
    def _open(self, deadline: float, check: bool) -> sqlite3.Connection:
        moved = False
        while True:
            try:
                return self._connect(deadline, check)
            except (sqlite3.DatabaseError, _Damaged) as exc:
                self._raise_if_cancelled()  # an interrupted statement, or a cancel during a wait
                code = None if isinstance(exc, _Damaged) else _primary_code(exc)
                damaged = isinstance(exc, _Damaged) or code in _DAMAGED
                if damaged and not moved:
                    self._move_aside(str(exc))
                    moved, check = True, False  # the new file is empty: nothing to check
                    continue
                if damaged:
                    raise CacheUnavailable(f"the embedding cache in {self.folder} stays unreadable after moving the "
                                           f"damaged one aside ({exc})", details=str(exc)) from exc
                if code in _BUSY and time.monotonic() < deadline:
                    time.sleep(0.01)  # SQLite waited one slice, or not at all (e.g. WAL recovery by another process)
                    continue
                assert isinstance(exc, sqlite3.DatabaseError)  # a _Damaged one was moved aside or raised above
                raise _unavailable(exc, self.folder) from exc

    def _connect(self, deadline: float, check: bool) -> sqlite3.Connection:
        """Connect, switch to WAL, create missing tables; ``quick_check`` when ``check`` or when it is due.

        SQLite waits for other processes' locks one slice at a time; the callers retry until their deadline.
        """
        conn = sqlite3.connect(self.path, timeout=WAIT_SLICE_S, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(WAIT_SLICE_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
            if not _SCHEMA_OBJECTS <= present:  # a new file, or one from before a table was added
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        conn.execute(statement)
                    conn.execute(_insert("meta", "INSERT OR IGNORE"), ("schema_version", str(SCHEMA_VERSION)))
                    if "meta" not in present:  # a brand-new cache has nothing to check yet
                        conn.execute(_insert("meta", "INSERT OR IGNORE"), ("last_check", str(time.time())))
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('schema_version', 'last_check')"))
            self.schema_version = int(meta.get("schema_version", SCHEMA_VERSION))
            if self.schema_version > SCHEMA_VERSION:
                self._require_columns(conn)
            if check or time.time() - float(meta.get("last_check", 0)) > CHECK_EVERY_DAYS * 86400:
                verdict = self._quick_check(conn)
                if verdict != ["ok"]:
                    raise _Damaged(f"integrity check failed: {'; '.join(verdict)}")
                self.integrity_checked = True
                try:
                    conn.execute(_insert("meta"), ("last_check", str(time.time())))
                except sqlite3.OperationalError as exc:  # a writer kept the lock: the next open checks again
                    if _primary_code(exc) not in _BUSY:
                        raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _quick_check(self, conn: sqlite3.Connection) -> list[str]:
        """``PRAGMA quick_check`` (it reads the whole file: seconds for a big cache), stopped by a cancel."""
        done = threading.Event()

        def interrupt_on_cancel() -> None:
            while True:  # asks at once, then once a slice, until the check is over
                if self._cancel_requested():
                    conn.interrupt()  # the check fails with SQLITE_INTERRUPT; a no-op if it has just ended
                    return
                if done.wait(WAIT_SLICE_S):
                    return

        watcher = threading.Thread(target=interrupt_on_cancel, daemon=True) if self._cancel is not None else None
        if watcher is not None:
            watcher.start()
        try:
            verdict = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        finally:
            done.set()
            if watcher is not None:
                watcher.join()
        self._raise_if_cancelled()  # cancelled just as the check ended: stop all the same
        return verdict

    def _require_columns(self, conn: sqlite3.Connection) -> None:
        """A newer schema is fine as long as it kept every column this version uses."""
        for table, needed in _COLUMNS.items():
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if missing := [c for c in needed if c not in have]:
                raise CacheUnavailable(
                    f"the embedding cache in {self.folder} was written by a newer PhotoAtlas (schema "
                    f"{self.schema_version}) that this version cannot use; update PhotoAtlas or choose another "
                    "cache folder", details=f"table {table} lacks {', '.join(missing)}")

    def _move_aside(self, why: str) -> None:
        """Rename the damaged database (and its -wal/-shm) so a fresh one can start; the gate is held."""
        live, _ = self._sessions.probe_others()
        if live:
            raise CacheUnavailable(f"the embedding cache in {self.folder} looks damaged ({why}), but another "
                                   "PhotoAtlas window or command has it open; close them and try again", details=why)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{CACHE_FILENAME}.corrupt-{stamp}")
        n = 1
        while any(Path(f"{target}{s}").exists() for s in ("", "-wal", "-shm", "-journal")):
            n += 1
            target = self.path.with_name(f"{CACHE_FILENAME}.corrupt-{stamp}-{n}")
        moved: list[tuple[Path, Path]] = []
        try:
            # All or nothing: a -wal left behind would be replayed into the fresh database.
            for suffix in ("", "-wal", "-shm", "-journal"):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    os.replace(src, Path(f"{target}{suffix}"))
                    moved.append((src, Path(f"{target}{suffix}")))
        except OSError as exc:
            for src, dst in reversed(moved):
                with contextlib.suppress(OSError):
                    os.replace(dst, src)
            raise CacheUnavailable(f"the embedding cache in {self.folder} looks damaged ({why}) and could not be "
                                   f"moved aside ({exc.strerror or exc})", details=str(exc)) from exc
        self.warnings.append(f"the embedding cache was unreadable ({why}); moved it to {target.name} "
                             "and started a new one")

    def close(self) -> None:
        """Close the database and give up this cache's session lock (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.close()
        finally:
            self._sessions.leave(keep_file=self._damage_seen)  # a left file makes the next open check

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- vectors ----------------------------------------------------------------------------------
    @_guarded
    def register_model(self, model_key: str, identity: dict) -> None:
        self._conn.execute(_insert("models", "INSERT OR IGNORE"),
                           (model_key, json.dumps(identity, sort_keys=True)))

    def lookup(self, model_key: str, files: Iterable[tuple[Path, int, int]]) -> dict[Path, CachedVector]:
        """Vectors for ``(path, size, mtime_ns)`` triples whose size and mtime still match, keyed by the caller's
        paths (``lookup_rows``, as a dict)."""
        wanted = list(files)
        rows = self.lookup_rows(model_key, wanted)
        return {p: CachedVector(rows.vectors[i].copy(), rows.status[i] or "ok", rows.snippet[i])
                for i, (p, _, _) in enumerate(wanted) if rows.found[i]}

    def _use_one_pass(self, model_key: str, n: int) -> bool:
        """Whether ``n`` files are most of the model's rows: then one pass over them is twice as fast as asking
        500 paths at a time (a library of a million reopened)."""
        return n >= BULK_LOOKUP_FROM and self._conn.execute(
            "SELECT COUNT(*) FROM vectors WHERE model_key = ?", (model_key,)).fetchone()[0] <= 2 * n

    def lookup_rows(self, model_key: str, files: Sequence[tuple[Path | str, int, int]]) -> CachedRows:
        """``lookup`` as arrays in the order of ``files``: no object per vector, and the vectors already one matrix
        (a million cached files: what the caller would otherwise stack from a million small arrays)."""
        return self._lookup_rows(model_key, list(files))

    @_guarded
    def _lookup_rows(self, model_key: str, files: list[tuple[Path | str, int, int]]) -> CachedRows:
        n = len(files)
        position = {os.fspath(p): i for i, (p, _, _) in enumerate(files)}  # the last of repeated paths
        found = np.zeros(n, bool)
        status: list[str | None] = [None] * n
        snippet: list[str | None] = [None] * n
        vectors = np.zeros((n, 0), np.float32)  # made at the first vector found, when its length is known
        width, into, made = 0, memoryview(b""), False  # bytes a row, the matrix's bytes
        queries: list[tuple[str, tuple[str | bytes, ...]]]
        if self._use_one_pass(model_key, n):
            # Read through a memory map, for this pass only: half the time of SQLite's reads (1M rows are 4 GB).
            self._conn.execute(f"PRAGMA mmap_size = {BULK_MMAP_BYTES}")
            queries = [("SELECT path, size, mtime_ns, status, snippet, vector FROM vectors WHERE model_key = ?",
                        (model_key,))]
        else:
            paths = [_path_key(p) for p in position]
            queries = [
                (f"SELECT path, size, mtime_ns, status, snippet, vector FROM vectors WHERE model_key = ? "
                 f"AND path IN ({','.join('?' * len(paths[s:s + 500]))})", (model_key, *paths[s:s + 500]))
                for s in range(0, len(paths), 500)]
        try:
            for sql, args in queries:
                for path, size, mtime, row_status, row_snippet, blob in self._conn.execute(sql, args):
                    i = position.get(_path_of(path))
                    if i is None or files[i][1] != size or files[i][2] != mtime:
                        continue
                    if not made:
                        vectors = np.zeros((n, len(blob) // 4), np.float32)
                        # (a row of no vector, an unreadable file's: nothing to copy, and no view to cast)
                        into = vectors.data.cast("B") if len(blob) else memoryview(bytearray())
                        width, made = len(blob), True
                    found[i] = True
                    status[i], snippet[i] = row_status, row_snippet
                    if len(blob) == width:
                        into[i * width:(i + 1) * width] = blob  # a copy in C, no array per vector
                    else:  # a row of another length than the first (not written by this version)
                        vectors[i, :min(len(blob), width) // 4] = np.frombuffer(blob, np.float32)[:width // 4]
        finally:
            self._conn.execute("PRAGMA mmap_size = 0")
        # Repeated paths: each copy answered like the one that was looked up.
        if len(position) < n:
            for i, (p, size, mtime) in enumerate(files):
                j = position[os.fspath(p)]
                if j != i and found[j] and (size, mtime) == (files[j][1], files[j][2]):
                    found[i], status[i], snippet[i] = True, status[j], snippet[j]
                    vectors[i] = vectors[j]
        return CachedRows(found, vectors, status, snippet)

    @_guarded
    def store(self, model_key: str, rows: Sequence[tuple[Path, int, int, str, str | None, np.ndarray]]) -> None:
        """Insert or replace ``(path, size, mtime_ns, status, snippet, vector)`` rows in one transaction."""
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                _insert("vectors"),
                [(model_key, _path_key(p), size, mtime, _storable(status), _storable(snippet),
                  np.ascontiguousarray(vec, dtype=np.float32).tobytes())
                 for p, size, mtime, status, snippet, vec in rows])

    @_guarded
    def count(self, model_key: str | None = None) -> int:
        if model_key is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        return int(self._conn.execute("SELECT COUNT(*) FROM vectors WHERE model_key = ?", (model_key,)).fetchone()[0])

    # -- weights digests (hashing a 600 MB checkpoint on every run would cost a second or two) ------
    def file_digest(self, path: Path, compute: Callable[[Path], str]) -> str:
        """SHA-256 of ``path``, memoised by (path, size, mtime_ns); ``compute(path)`` does the hashing."""
        st = path.stat()
        row = self._digest_row(path)
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return str(row[2])
        digest = str(compute(path))  # outside the guarded calls: a busy retry must not hash again
        self._store_digest(path, st.st_size, st.st_mtime_ns, digest)
        return digest

    @_guarded
    def _digest_row(self, path: Path) -> tuple[int, int, str] | None:
        return self._conn.execute("SELECT size, mtime_ns, sha256 FROM file_digests WHERE path = ?",
                                  (_path_key(path),)).fetchone()

    @_guarded
    def _store_digest(self, path: Path, size: int, mtime_ns: int, digest: str) -> None:
        self._conn.execute(_insert("file_digests"), (_path_key(path), size, mtime_ns, digest))

    # -- text vectors (vocabulary prompts, search queries) -----------------------------------------
    @_guarded
    def lookup_texts(self, model_key: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(texts))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for text, blob in self._conn.execute(
                    f"SELECT text, vector FROM texts WHERE model_key = ? AND text IN ({marks})", (model_key, *chunk)):
                found[text] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    @_guarded
    def store_texts(self, model_key: str, vectors: dict[str, np.ndarray]) -> None:
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(_insert("texts"),
                                   [(model_key, t, np.ascontiguousarray(v, np.float32).tobytes())
                                    for t, v in vectors.items()])

    # -- layouts (the 2-D map and the clustering space, so an unchanged library opens instantly) ----
    @_guarded
    def load_layout(self, key: str) -> np.ndarray | None:
        row = self._conn.execute("SELECT dims, coords FROM layouts WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return np.frombuffer(row[1], dtype=np.float32).reshape(-1, int(row[0])).copy()

    @_guarded
    def latest_layout(self, params_key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(row_ids, coords)`` of the newest layout made with these parameters, if any."""
        row = self._conn.execute("SELECT dims, row_ids, coords FROM layouts WHERE params_key = ? "
                                 "ORDER BY created DESC LIMIT 1", (params_key,)).fetchone()
        if row is None:
            return None
        ids = np.frombuffer(row[1], dtype=np.uint64).copy()
        return ids, np.frombuffer(row[2], dtype=np.float32).reshape(len(ids), int(row[0])).copy()

    @_guarded
    def store_layout(self, key: str, params_key: str, row_ids: np.ndarray, coords: np.ndarray,
                     note: dict | None = None) -> None:
        """Store ``coords`` under ``key`` (the newest ``LAYOUTS_KEPT`` are kept), with an optional JSON ``note``
        that ``load_note`` gives back for as long as the layout is kept."""
        coords = np.ascontiguousarray(coords, np.float32)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(_insert("layouts"),
                               (key, params_key, time.time(), coords.shape[1],
                                np.ascontiguousarray(row_ids, np.uint64).tobytes(), coords.tobytes()))
            self._conn.execute("DELETE FROM layout_notes WHERE key = ?", (key,))
            if note is not None:
                self._conn.execute(_insert("layout_notes"), (key, json.dumps(note, sort_keys=True)))
            self._conn.execute("DELETE FROM layouts WHERE key NOT IN "
                               "(SELECT key FROM layouts ORDER BY created DESC LIMIT ?)", (LAYOUTS_KEPT,))
            self._conn.execute("DELETE FROM layout_notes WHERE key NOT IN (SELECT key FROM layouts)")

    @_guarded
    def load_note(self, key: str) -> dict | None:
        """The note stored with the layout ``key`` (None: no such layout, or it has no note)."""
        row = self._conn.execute("SELECT n.note FROM layout_notes n JOIN layouts l ON l.key = n.key "
                                 "WHERE n.key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])
