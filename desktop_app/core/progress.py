"""Progress events and cancellation shared by every long-running step (embedding, layout, clustering).

Long work is a generator: it yields ``ProgressEvent``s, checks a ``CancelToken`` between chunks and returns
its result as the generator's return value. ``drive`` runs one to the end from a script or the CLI; the
GUI's worker iterates the same generator on a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from desktop_app.core.errors import Cancelled

T = TypeVar("T")


@dataclass
class ProgressEvent:
    """One step of progress. ``total`` is None when unknown (e.g. while scanning)."""

    stage: str  # "scan", "download", "load-model", "embed", "layout", "cluster", "name", "warning", "done"
    done: int
    total: int | None
    message: str = ""


class CancelToken:
    """Set from any thread; the pipeline checks it between batches and raises ``Cancelled``."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


def drive(gen: Generator[ProgressEvent, None, T], on_event: Callable[[ProgressEvent], Any] | None = None) -> T:
    """Run a step's generator to the end, passing each event to ``on_event``; return its result."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if on_event:
            on_event(event)
