"""The catalogue: one SQLite file per library that holds every decision the moment it is made.

    catalogue = Catalogue.create(Path("~/…/Libraries/Wedding.photoatlas-library"), name="Wedding")
    catalogue.commit(change)          # one transaction: the decisions' rows and the undo history
    catalogue.close()

What it holds: the library's folders, its settings (model, map, grouping), the view (which view, the filter), the
decisions (marks, group edits, best frames — ``decisions.py``), the undo history (the last ``HISTORY_LIMIT``
changes, so Undo works after a restart), the duplicate sets found and the last export. Vectors and maps are not in
it: they come back from the embedding cache.

Why SQLite in WAL mode with ``synchronous=FULL``: a transaction is on the disk when ``commit`` returns (a killed app,
a crash or a power cut loses at most the action in flight); a reader never sees half a change. It is one file (plus
its ``-wal`` while open, or after a crash until it is opened again: a backup copies both, or is made after closing).
One window at a time may change a library: it holds a lock file beside the real file (released by the system if the
app dies).

Every key and value is stored as JSON text (``ensure_ascii``): paths that are not valid UTF-8 (surrogate escapes
from old cards) are kept exactly.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from desktop_app.core.errors import PhotoAtlasError
from desktop_app.core.files import temporary_name
from desktop_app.core.library.decisions import Change, Edit

SUFFIX = ".photoatlas-library"
FORMAT = "photoatlas-library"
SCHEMA_VERSION = 1
HISTORY_LIMIT = 200  # undoable changes kept (the Edit menu's Undo goes back this far, across restarts)
BUSY_TIMEOUT_S = 5.0

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders (position INTEGER NOT NULL, path TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS decisions (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                                      PRIMARY KEY (kind, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL,
                                    edits TEXT NOT NULL, undone INTEGER NOT NULL DEFAULT 0,
                                    made REAL NOT NULL);
"""


class CatalogueError(PhotoAtlasError):
    """The catalogue cannot be opened or written (its ``user_message`` says why, in one line)."""


class NotALibrary(CatalogueError):
    """The file is not a PhotoAtlas library, is damaged, or is from a newer PhotoAtlas (exit code 2)."""

    exit_code = 2


class CatalogueBusy(CatalogueError):
    """Another PhotoAtlas window (or command) has this library open for changes."""


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _load(text: Any) -> Any:
    """A stored JSON value (``ValueError`` for anything that is not one, nested too deep included)."""
    if not isinstance(text, str):
        raise ValueError("not JSON text")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deep") from None


class Catalogue:
    """An open catalogue. ``writable`` catalogues hold the library's lock until ``close``."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: FileLock | None) -> None:
        self.path = path
        self._conn = conn
        self._lock = lock
        self.writable = lock is not None  # opened for changes (holding the library's lock)

    # -- opening -----------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, *, name: str | None = None) -> Catalogue:
        """A new, empty catalogue at ``path`` (which must not exist yet), opened for changes.

        It is made under a temporary name and given its own only when complete: a crash while creating leaves no
        half-made library behind (only a temporary file that is not a library)."""
        path = Path(path)
        if path.exists() or path.is_symlink():
            raise CatalogueError(f"there is already a library at {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temporary_name(path.parent)
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_TABLES)
                conn.execute("BEGIN")
                conn.executemany("INSERT INTO meta VALUES (?, ?)",
                                 [("format", _dump(FORMAT)), ("schema", _dump(SCHEMA_VERSION)),
                                  ("name", _dump(name or path.name.removesuffix(SUFFIX))),
                                  ("created", _dump(time.time()))])
                conn.execute("COMMIT")
            finally:
                conn.close()  # the last connection: SQLite folds the -wal back in and removes it
            if path.exists() or path.is_symlink():
                raise CatalogueError(f"there is already a library at {path}")
            os.replace(tmp, path)
        except (OSError, RuntimeError, sqlite3.Error) as exc:
            with contextlib.suppress(OSError, UnboundLocalError):
                for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                    leftover.unlink(missing_ok=True)
            if isinstance(exc, CatalogueError):
                raise
            raise CatalogueError(f"cannot create the library {path}: {getattr(exc, 'strerror', None) or exc}") \
                from None
        return cls.open(path)

    @classmethod
    def open(cls, path: Path, *, writable: bool = True, wait: float = 0.0) -> Catalogue:
        """Open an existing catalogue; raises ``NotALibrary`` (exit 2) when it is not one, is damaged or is from a
        newer PhotoAtlas — and then leaves the file exactly as it was — or ``CatalogueBusy`` when it is open for
        changes elsewhere (``wait``: seconds to wait for that to end)."""
        path = Path(path)
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise NotALibrary(f"no PhotoAtlas library at {path}") from None
        if not real.is_file():
            raise NotALibrary(f"no PhotoAtlas library at {path}")
        if not writable:
            return cls(path, cls._reader(real, path), None)
        cls._check(real, path)
        if real.stat().st_nlink > 1:
            # Another name for the same file would be another lock: two windows changing one catalogue at once.
            raise CatalogueError(f"the library {path.name} has other names (hard links); open a copy of it instead")
        lock = FileLock(str(real) + ".lock")  # the real file's, whatever name (symlink) it was opened by
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise CatalogueBusy(f"the library {path.name} is open in another PhotoAtlas window; close it there "
                                "first") from None
        except OSError as exc:
            raise CatalogueError(f"cannot open the library {path}: {exc.strerror or exc}") from None
        try:
            conn = sqlite3.connect(real.as_uri(), uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")  # committed = on the disk (a power cut included)
                conn.executescript(_TABLES)
            except BaseException:
                conn.close()
                raise
        except sqlite3.Error as exc:
            lock.release()
            raise CatalogueError(f"cannot open the library {path} for changes: {exc}") from None
        except BaseException:
            lock.release()
            raise
        return cls(path, conn, lock)

    @staticmethod
    def _check(real: Path, path: Path) -> None:
        """Is ``real`` a catalogue this PhotoAtlas can use? Only reads (a foreign or damaged file is left as it was)."""
        try:
            conn = sqlite3.connect(real.as_uri(), uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('format', 'schema')").fetchall())
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise NotALibrary(f"{path} is not a PhotoAtlas library or is damaged ({exc})") from None
        try:
            fmt, schema = (_load(rows[k]) if k in rows else None for k in ("format", "schema"))
        except (ValueError, RecursionError):
            fmt = schema = None
        if fmt != FORMAT:
            raise NotALibrary(f"{path} is not a PhotoAtlas library")
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise NotALibrary(f"{path} is damaged: it does not say which version of PhotoAtlas made it")
        if schema > SCHEMA_VERSION:
            raise NotALibrary(f"{path} was made by a newer PhotoAtlas; update PhotoAtlas to open it")

    @classmethod
    def _reader(cls, real: Path, path: Path) -> sqlite3.Connection:
        """A connection that only reads (beside a window that changes the library). A catalogue on read-only media
        without its -shm file cannot be read the usual way: it is then read as it stands (``immutable``)."""
        cls._check(real, path)
        for mode in ("?mode=ro", "?immutable=1"):
            try:
                conn = sqlite3.connect(real.as_uri() + mode, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("SELECT count(*) FROM meta").fetchone()
                return conn
            except sqlite3.Error as exc:
                error = exc
        raise NotALibrary(f"cannot read the library {path} ({error})")

    def close(self) -> None:
        """Close the file and release the library's lock (what was committed stays)."""
        conn, self._conn = self._conn, None  # type: ignore[assignment]
        if conn is not None:
            conn.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def closed(self) -> bool:
        return self._conn is None

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------------
    class _Tx:
        def __init__(self, catalogue: Catalogue) -> None:
            self.catalogue = catalogue

        def __enter__(self) -> sqlite3.Connection:
            conn = self.catalogue._conn
            if conn is None:
                raise CatalogueError(f"the library {self.catalogue.path.name} is closed")
            conn.execute("BEGIN IMMEDIATE")
            return conn

        def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
            conn = self.catalogue._conn
            if kind is None:
                conn.execute("COMMIT")
            elif conn.in_transaction:  # SQLite may have rolled back already (a full disk): keep the first error
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")

    def _transaction(self) -> Catalogue._Tx:
        return Catalogue._Tx(self)

    def _write(self, what: str, work: Any) -> Any:
        """Run ``work(conn)`` in one transaction; a disk that refuses is one line naming the library."""
        if not self.writable:
            raise CatalogueError(f"the library {self.path.name} is open for reading only; {what} was not saved")
        try:
            with self._transaction() as conn:
                return work(conn)
        except sqlite3.Error as exc:
            raise CatalogueError(f"could not save {what} in the library {self.path.name}: {exc}") from None

    @staticmethod
    def _set_rows(conn: sqlite3.Connection, edits: Iterable[Edit], side: str) -> None:
        for e in edits:
            value = e.after if side == "after" else e.before
            if value is None:
                conn.execute("DELETE FROM decisions WHERE kind = ? AND key = ?", (e.kind, _dump(e.key)))
            else:
                conn.execute("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?)", (e.kind, _dump(e.key), _dump(value)))

    def commit(self, change: Change) -> int:
        """Save a new change: its rows, and it as the newest step of the history (what was undone before it is
        forgotten, as in every editor). Returns the change's sequence number."""
        def work(conn: sqlite3.Connection) -> int:
            self._set_rows(conn, change.edits, "after")
            conn.execute("DELETE FROM history WHERE undone = 1")
            cur = conn.execute("INSERT INTO history (text, edits, undone, made) VALUES (?, ?, 0, ?)",
                               (change.text, _dump([e.to_json() for e in change.edits]), time.time()))
            conn.execute("DELETE FROM history WHERE seq NOT IN (SELECT seq FROM history ORDER BY seq DESC LIMIT ?)",
                         (HISTORY_LIMIT,))
            return int(cur.lastrowid or 0)
        return int(self._write(change.text, work))

    def step(self, seq: int, change: Change, undo: bool) -> None:
        """Undo (or redo) the history's change ``seq``: its rows go back to ``before`` (or to ``after``)."""
        def work(conn: sqlite3.Connection) -> None:
            self._set_rows(conn, change.edits, "before" if undo else "after")
            conn.execute("UPDATE history SET undone = ? WHERE seq = ?", (1 if undo else 0, seq))
        self._write(("undo of " if undo else "redo of ") + change.text, work)

    def clear_history(self) -> None:
        self._write("the history", lambda conn: conn.execute("DELETE FROM history"))

    def replace_decisions(self, rows: Iterable[tuple[str, str, Any]]) -> None:
        """All decisions at once (a project imported into a new library)."""
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM decisions")
            conn.executemany("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?)",
                             [(kind, _dump(key), _dump(value)) for kind, key, value in rows])
        self._write("the decisions", work)

    def set_meta(self, key: str, value: Any) -> None:
        """A setting (JSON value; None removes it)."""
        def work(conn: sqlite3.Connection) -> None:
            if value is None:
                conn.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, _dump(value)))
        self._write(key, work)

    def set_folders(self, folders: list[str]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM folders")
            conn.executemany("INSERT INTO folders VALUES (?, ?)", [(i, _dump(f)) for i, f in enumerate(folders)])
        self._write("the folders", work)

    # -- reading -----------------------------------------------------------------------------------
    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._conn is None:
            raise CatalogueError(f"the library {self.path.name} is closed")
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise CatalogueError(f"cannot read the library {self.path.name}: {exc}") from None
            raise NotALibrary(f"the library {self.path} is damaged ({exc})") from None
        except sqlite3.Error as exc:
            raise NotALibrary(f"the library {self.path} is damaged ({exc})") from None

    def meta(self, key: str, default: Any = None) -> Any:
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        if not rows:
            return default
        try:
            return _load(rows[0][0])
        except ValueError:
            return default

    def folders(self) -> list[str]:
        out = []
        for (text,) in self._rows("SELECT path FROM folders ORDER BY position"):
            try:
                value = _load(text)
            except ValueError:
                continue
            if isinstance(value, str):
                out.append(value)
        return out

    def decisions(self) -> Iterator[tuple[str, str, Any]]:
        """Every decision as (kind, key, value); rows that are not JSON are skipped."""
        for kind, key, value in self._rows("SELECT kind, key, value FROM decisions"):
            try:
                k, v = _load(key), _load(value)
            except ValueError:
                continue
            if isinstance(k, str):
                yield kind, k, v

    def history(self) -> list[tuple[int, str, bool]]:
        """The saved history's newest steps, oldest first: (sequence number, text, undone). The changes themselves
        are read when they are undone or redone (``change``): opening a library never parses the whole history."""
        rows = self._rows("SELECT seq, text, undone FROM history ORDER BY seq DESC LIMIT ?", (2 * HISTORY_LIMIT,))
        return [(int(seq), str(text), bool(undone)) for seq, text, undone in reversed(rows)]

    def change(self, seq: int) -> Change | None:
        """The change saved as history step ``seq`` (None: gone, or damaged — then it is dropped from the history)."""
        rows = self._rows("SELECT text, edits FROM history WHERE seq = ?", (seq,))
        if not rows:
            return None
        try:
            return Change(str(rows[0][0]), [Edit.from_json(e) for e in _load(rows[0][1])])
        except (ValueError, TypeError):
            if self.writable:
                self._write("the history", lambda conn: conn.execute("DELETE FROM history WHERE seq = ?", (seq,)))
            return None


def read_name_and_folders(path: Path) -> tuple[str, list[str]] | None:
    """A catalogue's name and folders, read without taking its lock (the library list); None when unreadable."""
    try:
        with Catalogue.open(path, writable=False) as catalogue:
            return str(catalogue.meta("name") or path.stem), catalogue.folders()
    except CatalogueError:
        return None
