"""The embedding cache under concurrent use: it is moved aside only when really damaged and nobody else has it open.

Other processes are real subprocesses; they are started together with a file barrier (no timers), and locks are
real SQLite and file locks.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, TINY_MODEL

from desktop_app.core.embedding import cache as cache_module
from desktop_app.core.embedding.cache import (
    CACHE_FILENAME,
    CHECK_EVERY_DAYS,
    SCHEMA_VERSION,
    CacheBusy,
    CacheUnavailable,
    EmbeddingCache,
)
from desktop_app.core.errors import Cancelled
from desktop_app.core.progress import CancelToken

MODEL = "tiny"


def _row(name: str, value: float = 1.0, dim: int = 8) -> tuple[Path, int, int, str, None, np.ndarray]:
    return Path(f"/photos/{name}.jpg"), 100, 7, "ok", None, np.full(dim, value, np.float32)


def _moved_aside(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".corrupt-" in p.name)


def _filled_cache(folder: Path, n: int = 3, dim: int = 8) -> None:
    with EmbeddingCache(folder) as cache:
        cache.store(MODEL, [_row(f"p{i}", i, dim) for i in range(n)])


class Holder:
    """A second process that runs ``code`` (with ``db`` and ``folder`` defined), says "ready", and waits."""

    def __init__(self, code: str, folder: Path) -> None:
        script = ("import sqlite3, sys\nfrom pathlib import Path\nfolder = Path(sys.argv[1])\n"
                  f"db = folder / {CACHE_FILENAME!r}\n{code}\nprint('ready', flush=True)\nsys.stdin.readline()\n")
        self.proc = subprocess.Popen([sys.executable, "-c", script, str(folder)], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        assert line.strip() == "ready", self.proc.communicate(timeout=60)[1]

    def finish(self, epilogue: str = "") -> None:
        _, err = self.proc.communicate(epilogue + "\n", timeout=120)
        assert self.proc.returncode == 0, err


# -- many processes opening at the same instant -----------------------------------------------------------

_OPENER = """
import json, sys, time
from pathlib import Path
import numpy as np
from desktop_app.core.embedding.cache import EmbeddingCache
base, me, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for r in range(rounds):
    folder = base / ("shared" if r % 2 else f"fresh-{r}")
    (base / f"ready-{r}-{me}").touch()
    while not (base / f"go-{r}").exists():
        time.sleep(0.0005)
    for k in range(3):  # open and close again: a last close (WAL clean-up) meets the others' opens
        report = {"round": r, "warnings": [], "error": None}
        try:
            with EmbeddingCache(folder) as cache:
                report["warnings"] = cache.warnings
                cache.store("tiny", [(Path(f"/photos/{r}-{me}-{k}.jpg"), 1, 2, "ok", None, np.ones(8, np.float32))])
        except Exception as exc:
            report["error"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(report), flush=True)
"""


def test_processes_opening_one_cache_at_the_same_instant_never_move_it_aside(tmp_path: Path) -> None:
    procs, rounds = 4, 20
    children = [subprocess.Popen([sys.executable, "-c", _OPENER, str(tmp_path), str(i), str(rounds)], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(procs)]
    try:
        for r in range(rounds):
            if r % 4 == 3:  # an unclean shutdown before this round: the first opener checks while the rest wait
                sessions = tmp_path / "shared" / f"{CACHE_FILENAME}.sessions"
                sessions.mkdir(parents=True, exist_ok=True)
                (sessions / "12345-deadprocess.lock").touch()
            while not all((tmp_path / f"ready-{r}-{i}").exists() for i in range(procs)):
                assert all(c.poll() is None for c in children), "an opener died"
                time.sleep(0.001)
            (tmp_path / f"go-{r}").touch()  # the barrier: all of them are waiting for this file
        outputs = [c.communicate(timeout=300) for c in children]
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
    reports = []
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        reports += [json.loads(line) for line in out.splitlines()]
    assert len(reports) == procs * rounds * 3
    assert [r for r in reports if r["error"] or r["warnings"]] == []
    assert _moved_aside(tmp_path) == []
    for r in range(0, rounds, 2):
        with EmbeddingCache(tmp_path / f"fresh-{r}") as cache:
            assert cache.count() == procs * 3  # every process's rows are there: nobody started over
    with EmbeddingCache(tmp_path / "shared") as cache:
        assert cache.count() == procs * 3 * rounds // 2


# -- locks held by another process ------------------------------------------------------------------------

def test_a_cache_locked_by_another_process_is_reported_not_moved(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    # An exclusive lock stops even readers (an older PhotoAtlas, a backup tool, sqlite3 in a terminal).
    holder = Holder("c = sqlite3.connect(db, isolation_level=None)\nc.execute('PRAGMA locking_mode=EXCLUSIVE')\n"
                    "c.execute('BEGIN EXCLUSIVE')\nc.execute(\"INSERT INTO meta VALUES ('holder', '1')\")", tmp_path)
    with pytest.raises(CacheBusy) as caught:
        EmbeddingCache(tmp_path, timeout=1)
    assert "locked by another program" in caught.value.user_message and "\n" not in caught.value.user_message
    assert (tmp_path / CACHE_FILENAME).exists() and _moved_aside(tmp_path) == []
    holder.finish()
    with EmbeddingCache(tmp_path) as cache:
        assert cache.warnings == [] and cache.count() == 3


def test_a_writer_holding_its_lock_does_not_stop_an_open(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    holder = Holder("c = sqlite3.connect(db, isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\n"
                    "c.execute(\"INSERT INTO meta VALUES ('holder', '1')\")", tmp_path)
    try:
        with EmbeddingCache(tmp_path, timeout=5) as cache:  # opening only reads: the writer's lock is no obstacle
            assert cache.warnings == [] and cache.count() == 3
            assert len(cache.lookup(MODEL, [(Path("/photos/p1.jpg"), 100, 7)])) == 1
    finally:
        holder.finish()
    assert _moved_aside(tmp_path) == []


# -- damage -----------------------------------------------------------------------------------------------

def _break_header(db: Path) -> None:
    with db.open("r+b") as f:
        f.write(b"definitely not SQLite")


def test_a_damaged_cache_is_moved_aside_with_a_warning(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    _break_header(tmp_path / CACHE_FILENAME)
    damaged = (tmp_path / CACHE_FILENAME).read_bytes()
    with EmbeddingCache(tmp_path) as cache:
        assert len(cache.warnings) == 1 and "moved it to" in cache.warnings[0]
        cache.store(MODEL, [_row("new")])
        assert cache.count() == 1
    [aside] = _moved_aside(tmp_path)
    assert (tmp_path / aside).read_bytes() == damaged  # kept as it was, for the user or a bug report


def test_a_damaged_cache_that_another_process_has_open_is_not_moved(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    holder = Holder("from desktop_app.core.embedding.cache import EmbeddingCache\n"
                    "cache = EmbeddingCache(folder)", tmp_path)
    _break_header(tmp_path / CACHE_FILENAME)
    with pytest.raises(CacheUnavailable) as caught:
        EmbeddingCache(tmp_path)
    assert "another PhotoAtlas" in caught.value.user_message
    assert (tmp_path / CACHE_FILENAME).exists() and _moved_aside(tmp_path) == []
    holder.finish("")
    with EmbeddingCache(tmp_path) as cache:  # now nobody else has it: the careful path moves it
        assert "moved it to" in cache.warnings[0]
    assert len(_moved_aside(tmp_path)) == 1


def _break_a_data_page(db: Path) -> None:
    """Overwrite the last page (vector data, which a plain open never reads) with garbage."""
    page = 4096
    with sqlite3.connect(db) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    with db.open("r+b") as f:
        f.seek(-page, os.SEEK_END)
        f.write(b"\xff" * page)


def _exit_without_closing(folder: Path) -> None:
    """A real process that opens the cache and dies without closing it (a crash, a power cut)."""
    code = ("import os, sys\nfrom desktop_app.core.embedding.cache import EmbeddingCache\n"
            "cache = EmbeddingCache(sys.argv[1])\nos._exit(0)")
    subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT, check=True, timeout=120)


def test_the_integrity_check_runs_after_an_unclean_shutdown_only(tmp_path: Path) -> None:
    _filled_cache(tmp_path, n=200, dim=512)
    _break_a_data_page(tmp_path / CACHE_FILENAME)
    with EmbeddingCache(tmp_path) as cache:  # clean shutdown last time: opening reads a few pages only
        assert not cache.integrity_checked and cache.warnings == []
    assert _moved_aside(tmp_path) == []
    _exit_without_closing(tmp_path)
    assert len(list((tmp_path / f"{CACHE_FILENAME}.sessions").iterdir())) == 1  # the dead process's session
    with EmbeddingCache(tmp_path) as cache:
        assert len(cache.warnings) == 1 and "moved it to" in cache.warnings[0]  # found by the check
        assert cache.count() == 0
    assert len(_moved_aside(tmp_path)) == 1
    assert list((tmp_path / f"{CACHE_FILENAME}.sessions").iterdir()) == []


def test_a_healthy_cache_is_checked_after_an_unclean_shutdown_and_on_schedule_and_kept(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    with EmbeddingCache(tmp_path) as cache:
        assert not cache.integrity_checked
    _exit_without_closing(tmp_path)
    with EmbeddingCache(tmp_path) as cache:
        assert cache.integrity_checked and cache.warnings == [] and cache.count() == 3
    with sqlite3.connect(tmp_path / CACHE_FILENAME) as conn:
        old = time.time() - (CHECK_EVERY_DAYS + 1) * 86400
        conn.execute("UPDATE meta SET value = ? WHERE key = 'last_check'", (str(old),))
    with EmbeddingCache(tmp_path) as cache:
        assert cache.integrity_checked and cache.count() == 3
    with EmbeddingCache(tmp_path) as cache:  # the check was recorded
        assert not cache.integrity_checked
    assert _moved_aside(tmp_path) == []


def test_a_move_aside_that_fails_halfway_is_undone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows refuses to rename a file another program holds open; a -wal left behind would be replayed into
    the fresh database, so either everything moves or nothing does."""
    _filled_cache(tmp_path)
    db = tmp_path / CACHE_FILENAME
    _break_header(db)
    (tmp_path / f"{CACHE_FILENAME}-wal").write_bytes(b"")  # as left by a program that still has it open
    real_replace = os.replace

    def windows_replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if str(src).endswith("-wal"):
            raise PermissionError(13, "The process cannot access the file because it is being used by another "
                                      "process", str(src))
        real_replace(src, dst)

    monkeypatch.setattr(cache_module.os, "replace", windows_replace)
    with pytest.raises(CacheUnavailable) as caught:
        EmbeddingCache(tmp_path)
    assert "could not be moved aside" in caught.value.user_message
    assert db.exists() and (tmp_path / f"{CACHE_FILENAME}-wal").exists() and _moved_aside(tmp_path) == []


# -- errors that are not damage ---------------------------------------------------------------------------

def test_a_cache_that_cannot_be_opened_is_reported_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / CACHE_FILENAME).mkdir()  # SQLITE_CANTOPEN, as for a file without permission
    (tmp_path / CACHE_FILENAME / "keep.txt").write_text("mine")
    with pytest.raises(CacheUnavailable) as caught:
        EmbeddingCache(tmp_path)
    assert "cannot open the embedding cache" in caught.value.user_message
    assert (tmp_path / CACHE_FILENAME / "keep.txt").read_text() == "mine" and _moved_aside(tmp_path) == []


def test_full_disk_and_busy_errors_become_one_line_messages(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "small.sqlite3", isolation_level=None)
    conn.execute("CREATE TABLE t (b BLOB)")
    conn.execute("PRAGMA max_page_count = 3")
    with pytest.raises(sqlite3.OperationalError) as full:  # a real SQLITE_FULL from SQLite
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    message = cache_module._unavailable(full.value, tmp_path)
    assert type(message) is CacheUnavailable and "is full" in message.user_message
    other = sqlite3.connect(tmp_path / "small.sqlite3", timeout=0, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError) as busy:
        other.execute("BEGIN EXCLUSIVE")
    assert isinstance(cache_module._unavailable(busy.value, tmp_path), CacheBusy)
    conn.execute("ROLLBACK")
    conn.close()
    other.close()


# -- a cache from a newer PhotoAtlas ----------------------------------------------------------------------

def test_a_cache_from_a_newer_version_is_used_as_it_is(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    with sqlite3.connect(tmp_path / CACHE_FILENAME) as conn:  # what a newer version may do: add, never change
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
        conn.execute("ALTER TABLE vectors ADD COLUMN quality REAL DEFAULT 0")
        conn.execute("CREATE TABLE faces (path TEXT, box BLOB)")
    with EmbeddingCache(tmp_path) as cache:
        assert cache.warnings == [] and cache.schema_version == SCHEMA_VERSION + 1
        assert cache.count() == 3
        cache.store(MODEL, [_row("from-the-older-version")])
        cache.store_texts(MODEL, {"a cat": np.ones(8, np.float32)})
        assert len(cache.lookup(MODEL, [(Path("/photos/from-the-older-version.jpg"), 100, 7)])) == 1
    with sqlite3.connect(tmp_path / CACHE_FILENAME) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == \
            str(SCHEMA_VERSION + 1)
        assert conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 0
    assert _moved_aside(tmp_path) == []


def test_a_newer_cache_this_version_cannot_use_is_reported_not_moved(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    with sqlite3.connect(tmp_path / CACHE_FILENAME) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
        conn.execute("ALTER TABLE texts RENAME COLUMN vector TO embedding")
    with pytest.raises(CacheUnavailable) as caught:
        EmbeddingCache(tmp_path)
    assert "newer PhotoAtlas" in caught.value.user_message
    assert _moved_aside(tmp_path) == []
    with sqlite3.connect(tmp_path / CACHE_FILENAME) as conn:
        assert conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == 3


# -- errors after opening: typed, one line, nothing lost --------------------------------------------------

_WRITER = "c = sqlite3.connect(db, isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\n" \
          "c.execute(\"INSERT INTO meta VALUES ('holder', '1')\")"


def test_a_store_while_another_process_keeps_the_write_lock_is_cache_busy_and_loses_nothing(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    with EmbeddingCache(tmp_path, timeout=1) as cache:
        holder = Holder(_WRITER, tmp_path)  # another process writing, and not letting go for longer than 1 s
        try:
            with pytest.raises(CacheBusy) as caught:
                cache.store(MODEL, [_row("late")])
            assert "locked by another program" in caught.value.user_message
            assert "\n" not in caught.value.user_message
            assert cache.count() == 3  # reading still works while the other process writes (WAL)
        finally:
            holder.finish()
        cache.store(MODEL, [_row("late")])  # the same cache object works again once the lock is gone
        assert cache.count() == 4
    assert _moved_aside(tmp_path) == []


_FULL_DISK = """
import json, os, resource, signal, sys
from pathlib import Path
import numpy as np
from desktop_app.core.embedding.cache import EmbeddingCache
folder = Path(sys.argv[1])
cache = EmbeddingCache(folder)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
limit = max(p.stat().st_size for p in folder.glob("embeddings.sqlite3*")) + 16 * 1024
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
rows = [(Path(f"/photos/big{i}.jpg"), 1, 2, "ok", None, np.ones(512, np.float32)) for i in range(200)]  # 400 KB
try:
    cache.store("tiny", rows)
except Exception as exc:
    print(json.dumps({"type": type(exc).__name__, "message": exc.user_message}))
cache.close()
"""


def test_a_full_disk_during_a_store_is_one_line_and_keeps_what_was_stored(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    run = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    # 400 KB cannot fit under a limit of 16 KB past the largest file: SQLite answers SQLITE_FULL (a short write)
    # or SQLITE_IOERR_WRITE (a write that failed whole); both are a one-line CacheUnavailable, not a traceback.
    report = json.loads(run.stdout)
    assert report["type"] == "CacheUnavailable" and "\n" not in report["message"]
    assert "is full" in report["message"] or "has free space" in report["message"]
    with EmbeddingCache(tmp_path) as cache:
        assert cache.warnings == [] and cache.count() == 3  # the failed batch rolled back, the rest is intact
    assert _moved_aside(tmp_path) == []


def test_the_cli_reports_a_full_disk_during_embedding_in_one_line(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    notes = 1000
    for i in range(notes):
        (lib / f"note-{i:03}.txt").write_text(f"note number {i} about a red circle")
    cache_dir = tmp_path / "c"
    with EmbeddingCache(cache_dir):  # the tables exist; the limit leaves room for the lock files and a little more
        pass
    limit = max(p.stat().st_size for p in cache_dir.glob(f"{CACHE_FILENAME}*")) + 32 * 1024
    assert notes * 64 * 4 > 2 * limit  # the vectors alone (64 floats each) cannot fit in the database or its WAL
    limiter = ("import resource, signal, runpy, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
               f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
               "sys.argv = ['photoatlas', *sys.argv[1:]]; runpy.run_module('desktop_app', run_name='__main__')")
    run = subprocess.run([sys.executable, "-c", limiter, "embed", str(lib), "--model", TINY_MODEL,
                          "--cache-dir", str(cache_dir), "--quiet"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("photoatlas: error:")]
    assert len(errors) == 1 and "embedding cache" in errors[0], run.stderr
    assert "is full" in errors[0] or "has free space" in errors[0]  # SQLITE_FULL or SQLITE_IOERR_WRITE, as above


def test_damage_found_after_opening_is_reported_and_set_aside_on_the_next_open(tmp_path: Path) -> None:
    _filled_cache(tmp_path, n=200, dim=512)
    _break_a_data_page(tmp_path / CACHE_FILENAME)
    every = [(Path(f"/photos/p{i}.jpg"), 100, 7) for i in range(200)]
    with EmbeddingCache(tmp_path) as cache:  # a clean last shutdown: opening does not read the broken page
        assert cache.warnings == []
        with pytest.raises(CacheUnavailable) as caught:
            cache.lookup(MODEL, every)
        assert "damaged" in caught.value.user_message and "next time" in caught.value.user_message
        assert (tmp_path / CACHE_FILENAME).exists() and _moved_aside(tmp_path) == []  # not while it is open
    assert _moved_aside(tmp_path) == []
    sessions = tmp_path / f"{CACHE_FILENAME}.sessions"
    assert len(list(sessions.iterdir())) == 1  # left behind on purpose: the next open takes it for a crash
    with EmbeddingCache(tmp_path) as cache:  # so it checks the whole file (the plain open above did not notice)
        assert len(cache.warnings) == 1 and "moved it to" in cache.warnings[0] and cache.count() == 0
    assert list(sessions.iterdir()) == []
    assert len(_moved_aside(tmp_path)) == 1
    with EmbeddingCache(tmp_path) as cache:  # and only once
        assert cache.warnings == [] and not cache.integrity_checked


# -- cancelling a wait for another process ----------------------------------------------------------------

class _WaitingToken(CancelToken):
    """A cancel token that tells the test when the code under test has asked it ``checks`` times."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.checks, self.asked, self.waiting = checks, 0, threading.Event()

    def raise_if_cancelled(self) -> None:
        self.asked += 1
        if self.asked >= self.checks:
            self.waiting.set()
        super().raise_if_cancelled()


def _cancel_when_waiting(token: _WaitingToken) -> threading.Thread:
    thread = threading.Thread(target=lambda: (token.waiting.wait(), token.cancel()), daemon=True)
    thread.start()
    return thread


_GATE = "from filelock import FileLock\ngate = FileLock(str(folder / 'embeddings.sqlite3.lock'))\ngate.acquire()"


def test_cancel_stops_an_open_that_waits_for_another_process(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    holder = Holder(_GATE, tmp_path)  # another process opening the cache, for ever (longer than OPEN_TIMEOUT_S)
    token = _WaitingToken(checks=2)  # the second check comes after a wait for the gate has timed out
    thread = _cancel_when_waiting(token)
    try:
        with pytest.raises(Cancelled):  # before the fix: waited OPEN_TIMEOUT_S, then CacheBusy
            EmbeddingCache(tmp_path, cancel=token)
        assert holder.proc.poll() is None  # returned while the other process still holds the gate
    finally:
        holder.finish()
    thread.join()
    with EmbeddingCache(tmp_path) as cache:  # the cancelled open left nothing locked
        assert cache.warnings == [] and not cache.integrity_checked and cache.count() == 3


def test_an_open_that_waits_too_long_for_another_process_is_cache_busy(tmp_path: Path) -> None:
    holder = Holder(_GATE, tmp_path)
    try:
        with pytest.raises(CacheBusy) as caught:
            EmbeddingCache(tmp_path, timeout=0.5, cancel=CancelToken())
        assert "busy" in caught.value.user_message
    finally:
        holder.finish()


def test_cancel_stops_a_store_that_waits_for_another_process(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    token = _WaitingToken(checks=1)  # a store checks the token only after a wait for the lock has failed
    with EmbeddingCache(tmp_path, cancel=token) as cache:
        holder = Holder(_WRITER, tmp_path)
        thread = _cancel_when_waiting(token)
        try:
            with pytest.raises(Cancelled):  # before the fix: waited OPEN_TIMEOUT_S, then a raw OperationalError
                cache.store(MODEL, [_row("late")])
            assert holder.proc.poll() is None  # returned while the other process still holds the write lock
        finally:
            holder.finish()
        thread.join()
        assert cache.count() == 3
    assert _moved_aside(tmp_path) == []


def test_cancelling_an_embedding_run_stops_its_wait_for_the_cache(tmp_path: Path) -> None:
    from desktop_app.core.embedding.pipeline import EmbedSettings, run_embedding
    from desktop_app.core.progress import drive

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "note.txt").write_text("a red circle")
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    holder = Holder(_GATE, cache_dir)  # another process is opening the cache, for longer than OPEN_TIMEOUT_S
    token = _WaitingToken(checks=1)
    thread = _cancel_when_waiting(token)
    try:
        with pytest.raises(Cancelled):  # before the fix: CacheBusy after OPEN_TIMEOUT_S, whatever the token said
            drive(run_embedding([tmp_path / "lib"], EmbedSettings(model=TINY_MODEL, cache_dir=cache_dir), token))
        assert holder.proc.poll() is None
    finally:
        holder.finish()
    thread.join()


def test_cancelling_a_search_stops_its_wait_for_the_cache(tmp_path: Path) -> None:
    from desktop_app.core.embedding.pipeline import EmbedSettings, query_vector

    holder = Holder(_GATE, tmp_path)
    token = _WaitingToken(checks=2)
    thread = _cancel_when_waiting(token)
    try:
        with pytest.raises(Cancelled):
            query_vector({"name": TINY_MODEL}, "a red circle", EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path),
                         cancel=token)
        assert holder.proc.poll() is None
    finally:
        holder.finish()
    thread.join()


class _CancelledByAnotherThread(CancelToken):
    """A cancel token that is cancelled as soon as another thread than the test's asks it."""

    @property
    def cancelled(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            self.cancel()
        return super().cancelled


def test_cancel_during_the_integrity_check_stops_the_open_and_the_next_open_checks(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    _exit_without_closing(tmp_path)  # so the next open runs quick_check, watched by a thread that checks the token
    with pytest.raises(Cancelled):
        EmbeddingCache(tmp_path, cancel=_CancelledByAnotherThread())
    with EmbeddingCache(tmp_path) as cache:  # the check that was cut short runs now, and the cache is kept
        assert cache.integrity_checked and cache.warnings == [] and cache.count() == 3
    assert _moved_aside(tmp_path) == []


# -- a file system without flock --------------------------------------------------------------------------

def test_a_file_system_without_file_locks_is_cache_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """filelock 3.x raises NotImplementedError when flock() answers ENOSYS (some network shares)."""

    class NoFlock(cache_module.FileLock):  # type: ignore[misc,valid-type]
        def acquire(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            raise NotImplementedError("FileSystem does not appear to support flock; use SoftFileLock instead")

    monkeypatch.setattr(cache_module, "FileLock", NoFlock)
    with pytest.raises(CacheUnavailable) as caught:
        EmbeddingCache(tmp_path)
    assert "cannot lock files" in caught.value.user_message and "\n" not in caught.value.user_message
    assert not (tmp_path / CACHE_FILENAME).exists()  # nothing was opened without the lock


# -- names that are not UTF-8 -----------------------------------------------------------------------------

def test_a_name_that_is_not_utf8_is_stored_by_its_exact_bytes_and_never_meets_its_utf8_look_alike(
        tmp_path: Path) -> None:
    latin = Path(os.fsdecode(b"/photos/caf\xe9.jpg"))  # a Latin-1 card's name, as the scan holds it
    utf8 = Path("/photos/café.jpg")  # the same letters written as UTF-8: another file
    # An unreadable file's reason may quote its name: kept, escaped, rather than failing the whole batch.
    reason = f"cannot decode image ({latin.name})"
    with EmbeddingCache(tmp_path) as cache:
        cache.store(MODEL, [(latin, 1, 2, "ok", None, np.full(8, 1, np.float32)),
                            (utf8, 1, 2, "ok", None, np.full(8, 2, np.float32))])
        cache.store("bad", [(latin, 1, 2, "unreadable", reason, np.zeros(0, np.float32))])
        found = cache.lookup(MODEL, [(latin, 1, 2), (utf8, 1, 2)])
        bad = cache.lookup("bad", [(latin, 1, 2)])
    assert set(found) == {latin, utf8}
    assert found[latin].vector[0] == 1 and found[utf8].vector[0] == 2
    assert bad[latin].snippet == "cannot decode image (caf\\udce9.jpg)"
    with sqlite3.connect(tmp_path / CACHE_FILENAME) as conn:
        stored = conn.execute("SELECT path, typeof(path) FROM vectors WHERE model_key = ? ORDER BY 2",
                              (MODEL,)).fetchall()
    # The UTF-8 name is TEXT, as every cache before kept paths (they still read as they are); the other is a BLOB of
    # the name's bytes, which no TEXT equals.
    assert stored == [(b"/photos/caf\xe9.jpg", "blob"), ("/photos/caf\u00e9.jpg", "text")]


def test_a_cache_written_before_names_were_bytes_is_read_as_it_is(tmp_path: Path) -> None:
    _filled_cache(tmp_path)  # paths as TEXT, as earlier versions wrote them
    with sqlite3.connect(tmp_path / CACHE_FILENAME) as conn:
        assert {t for (t,) in conn.execute("SELECT typeof(path) FROM vectors")} == {"text"}
    with EmbeddingCache(tmp_path) as cache:
        found = cache.lookup(MODEL, [(p, size, mtime) for p, size, mtime, *_ in (_row(f"p{i}") for i in range(3))])
    assert len(found) == 3


def test_the_weights_digest_of_a_model_folder_not_named_in_utf8_is_memoised(tmp_path: Path) -> None:
    weights = tmp_path / os.fsdecode(b"mod\xe8les") / "w.bin"
    weights.parent.mkdir()
    weights.write_bytes(b"weights")
    calls: list[Path] = []
    with EmbeddingCache(tmp_path / "c") as cache:
        for _ in range(2):
            assert cache.file_digest(weights, lambda p: calls.append(p) or "digest") == "digest"
    assert calls == [weights]
