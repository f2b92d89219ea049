"""The export journal in DEST (what was done, for resuming and undo) and the lock that keeps one export per DEST.

The journal is append-only JSON lines, ``DEST/.photoatlas-journal.jsonl``. Its name is also how a scan
recognises a folder of exported copies (and leaves it out of the next analysis), so it never changes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from desktop_app.core.export.placing import ExportError
from desktop_app.core.ingest.items import EXPORT_JOURNAL as JOURNAL  # the scan skips folders holding it

LOCK = ".photoatlas-export.lock"
OPS = ("copy", "hardlink", "symlink", "move")


class DestLock:
    """One export or undo at a time per DEST, across processes (the window and the CLI): an OS file lock
    (``filelock``) on ``DEST/.photoatlas-export.lock``, released when the process ends, even by a kill."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self._lock = FileLock(dest / LOCK, timeout=0)

    def __enter__(self) -> DestLock:
        try:
            self._lock.acquire()
        except Timeout:
            raise ExportError(f"another export or undo into {self.dest} is running (in this window, another "
                              "window or the command line); wait for it to finish") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class Journal:
    """Append-only JSON lines in DEST; each line is fsynced before the operation it describes runs."""

    def __init__(self, dest: Path) -> None:
        self.path = dest / JOURNAL
        self.entries: list[dict[str, Any]] = []
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
                try:
                    self.entries.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash: its operation never started
        self._file: Any = None
        self._lock = threading.Lock()  # export workers note their copies and reservations from their threads

    def open(self) -> None:
        """Create the journal file now (an export's first act), so DEST is recognisable before any file lands.

        A line cut short by a kill is ended first: the next entry would otherwise be appended to it and be
        lost with it on the next read."""
        if self._file is None:
            self._file = open(self.path, "a+b")  # noqa: SIM115 (kept open for the run)
            if self._file.tell() > 0:
                self._file.seek(-1, os.SEEK_END)
                if self._file.read(1) != b"\n":
                    self._file.write(b"\n")

    def write(self, sync: bool = True, **entry: Any) -> None:
        """Append an entry, fsynced at once unless the caller batches entries and calls ``sync()`` before
        the operations they describe (a killed process loses only entries of operations that never ran,
        or "done" marks that recovery re-derives from what is on disk)."""
        entry.setdefault("time", round(time.time(), 3))
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8", "surrogateescape")
        with self._lock:
            self.open()
            self._file.write(line)  # append mode: always at the end, whatever open() read
            if sync:
                self._sync()
            self.entries.append(entry)

    def flush(self) -> None:
        """Hand what was written to the OS (no fsync): another process reading the journal now sees it, and a
        kill of this process no longer loses it."""
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def sync(self) -> None:
        """Flush and fsync: called after a batch of entries and before the operations they describe."""
        with self._lock:
            self._sync()

    def _sync(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

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
                if "placed_mtime_ns" in e:
                    entry["placed_mtime_ns"] = e["placed_mtime_ns"]
                done[dst] = entry
            elif op in ("undone", "abandoned"):
                open_.pop(dst, None)
                if op == "undone":
                    done.pop(dst, None)
        return done, open_
