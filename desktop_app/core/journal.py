"""The export journal in DEST (what was done, for resuming and undo) and the lock that keeps one export per DEST.

The journal is append-only JSON lines, ``DEST/.photoatlas-journal.jsonl``. Its name is also how a scan
recognises a folder of exported copies (and leaves it out of the next analysis), so it never changes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from desktop_app.core.items import EXPORT_JOURNAL as JOURNAL  # the scan skips folders holding it
from desktop_app.core.placing import ExportError

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
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    self.entries.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash: its operation never started
        self._file: Any = None

    def open(self) -> None:
        """Create the journal file now (an export's first act), so DEST is recognisable before any file lands."""
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open for the run)

    def write(self, sync: bool = True, **entry: Any) -> None:
        """Append an entry, fsynced at once unless the caller batches entries and calls ``sync()`` before
        the operations they describe (a killed process loses only entries of operations that never ran,
        or "done" marks that recovery re-derives from what is on disk)."""
        self.open()
        entry.setdefault("time", round(time.time(), 3))
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        if sync:
            self.sync()
        self.entries.append(entry)

    def flush(self) -> None:
        """Hand what was written to the OS (no fsync): another process reading the journal now sees it."""
        if self._file is not None:
            self._file.flush()

    def sync(self) -> None:
        """Flush and fsync: called after a batch of entries and before the operations they describe."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def completed(self) -> dict[str, dict[str, Any]]:
        """Finished operations that were not undone, by target path (with ``placed_mtime_ns``, the time the
        target got, from the "done" mark when it has one)."""
        ops: dict[str, dict[str, Any]] = {}
        finished: set[str] = set()
        for e in self.entries:
            if e.get("op") in OPS:
                ops[e["dst"]] = e
            elif e.get("op") == "done":
                finished.add(e["dst"])
                if "placed_mtime_ns" in e and e["dst"] in ops:
                    ops[e["dst"]] = {**ops[e["dst"]], "placed_mtime_ns": e["placed_mtime_ns"]}
            elif e.get("op") == "undone":
                finished.discard(e["dst"])
                ops.pop(e["dst"], None)
        return {dst: e for dst, e in ops.items() if dst in finished}

    def started(self) -> dict[str, dict[str, Any]]:
        """Operations written but not marked done (an interrupted run), by target path."""
        done = self.completed()
        out: dict[str, dict[str, Any]] = {}
        for e in self.entries:
            if e.get("op") in OPS and e["dst"] not in done:
                out[e["dst"]] = e
            elif e.get("op") in ("undone", "abandoned"):
                out.pop(e["dst"], None)
        return out
