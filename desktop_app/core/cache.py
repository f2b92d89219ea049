"""SQLite store of embedding vectors, keyed by file identity (path, size, mtime_ns) AND model identity.

A rerun on an unchanged folder embeds nothing; a changed file is embedded again; vectors of two models
never mix. The database runs in WAL mode with a busy timeout so two processes can share it. A corrupt file,
or one written by a newer PhotoAtlas, is moved aside with a warning and a fresh cache is started.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1  # tables added since (texts, layouts) are created on open; older readers ignore them
CACHE_FILENAME = "embeddings.sqlite3"
LAYOUTS_KEPT = 24  # most recent layouts kept per cache (each is a few MB at 100k items)

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
"""


def default_cache_dir() -> Path:
    """The platform's cache folder for PhotoAtlas (e.g. ~/.cache/PhotoAtlas on Linux)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("PhotoAtlas", appauthor=False))


@dataclass
class CachedVector:
    vector: np.ndarray
    status: str
    snippet: str | None


class EmbeddingCache:
    """Open (or create) the cache in ``folder``. Problems found on opening end up in ``warnings``."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder else default_cache_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / CACHE_FILENAME
        self.warnings: list[str] = []
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            self._move_aside("corrupt", f"the embedding cache was unreadable ({exc})")
            self._conn = self._open()

    # -- opening ----------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 60000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is None:
                    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                version = int(row[0]) if row else SCHEMA_VERSION
        except BaseException:
            conn.close()
            raise
        if version > SCHEMA_VERSION:
            conn.close()
            self._move_aside(f"v{version}", f"the embedding cache was written by a newer PhotoAtlas (schema {version})")
            return self._open()
        return conn

    def _move_aside(self, label: str, why: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.{label}-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                os.replace(src, Path(str(target) + suffix))
        self.warnings.append(f"{why}; moved it to {target.name} and started a new one")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- vectors ----------------------------------------------------------------------------------
    def register_model(self, model_key: str, identity: dict) -> None:
        self._conn.execute("INSERT OR IGNORE INTO models VALUES (?, ?)",
                           (model_key, json.dumps(identity, sort_keys=True)))

    def lookup(self, model_key: str, files: Iterable[tuple[Path, int, int]]) -> dict[Path, CachedVector]:
        """Vectors for ``(path, size, mtime_ns)`` triples whose size and mtime still match."""
        found: dict[Path, CachedVector] = {}
        wanted = list(files)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            by_path = {str(p): (p, size, mtime) for p, size, mtime in chunk}
            marks = ",".join("?" * len(by_path))
            rows = self._conn.execute(
                f"SELECT path, size, mtime_ns, status, snippet, vector FROM vectors "
                f"WHERE model_key = ? AND path IN ({marks})", (model_key, *by_path))
            for path, size, mtime, status, snippet, blob in rows:
                p, want_size, want_mtime = by_path[path]
                if size == want_size and mtime == want_mtime:
                    found[p] = CachedVector(np.frombuffer(blob, dtype=np.float32).copy(), status, snippet)
        return found

    def store(self, model_key: str, rows: Sequence[tuple[Path, int, int, str, str | None, np.ndarray]]) -> None:
        """Insert or replace ``(path, size, mtime_ns, status, snippet, vector)`` rows in one transaction."""
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(model_key, str(p), size, mtime, status, snippet,
                  np.ascontiguousarray(vec, dtype=np.float32).tobytes())
                 for p, size, mtime, status, snippet, vec in rows])

    def count(self, model_key: str | None = None) -> int:
        if model_key is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        return int(self._conn.execute("SELECT COUNT(*) FROM vectors WHERE model_key = ?", (model_key,)).fetchone()[0])

    # -- weights digests (hashing a 600 MB checkpoint on every run would cost a second or two) ------
    def file_digest(self, path: Path, compute) -> str:  # type: ignore[no-untyped-def]
        """SHA-256 of ``path``, memoised by (path, size, mtime_ns); ``compute(path)`` does the hashing."""
        st = path.stat()
        row = self._conn.execute("SELECT size, mtime_ns, sha256 FROM file_digests WHERE path = ?",
                                 (str(path),)).fetchone()
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return str(row[2])
        digest = str(compute(path))
        self._conn.execute("INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?, ?)",
                           (str(path), st.st_size, st.st_mtime_ns, digest))
        return digest

    # -- text vectors (vocabulary prompts, search queries) -----------------------------------------
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

    def store_texts(self, model_key: str, vectors: dict[str, np.ndarray]) -> None:
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("INSERT OR REPLACE INTO texts VALUES (?, ?, ?)",
                                   [(model_key, t, np.ascontiguousarray(v, np.float32).tobytes())
                                    for t, v in vectors.items()])

    # -- layouts (the 2-D map and the clustering space, so an unchanged library opens instantly) ----
    def load_layout(self, key: str) -> np.ndarray | None:
        row = self._conn.execute("SELECT dims, coords FROM layouts WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return np.frombuffer(row[1], dtype=np.float32).reshape(-1, int(row[0])).copy()

    def latest_layout(self, params_key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(row_ids, coords)`` of the newest layout made with these parameters, if any."""
        row = self._conn.execute("SELECT dims, row_ids, coords FROM layouts WHERE params_key = ? "
                                 "ORDER BY created DESC LIMIT 1", (params_key,)).fetchone()
        if row is None:
            return None
        ids = np.frombuffer(row[1], dtype=np.uint64).copy()
        return ids, np.frombuffer(row[2], dtype=np.float32).reshape(len(ids), int(row[0])).copy()

    def store_layout(self, key: str, params_key: str, row_ids: np.ndarray, coords: np.ndarray) -> None:
        coords = np.ascontiguousarray(coords, np.float32)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("INSERT OR REPLACE INTO layouts VALUES (?, ?, ?, ?, ?, ?)",
                               (key, params_key, time.time(), coords.shape[1],
                                np.ascontiguousarray(row_ids, np.uint64).tobytes(), coords.tobytes()))
            self._conn.execute("DELETE FROM layouts WHERE key NOT IN "
                               "(SELECT key FROM layouts ORDER BY created DESC LIMIT ?)", (LAYOUTS_KEPT,))
