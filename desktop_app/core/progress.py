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
            return stop.value
        if on_event:
            on_event(event)


PER_RUN_STAGES = frozenset({"load-model", "search"})  # take about as long whatever the library's size


@dataclass
class StageTimes:
    """How long each stage took per item on this computer, learned from earlier jobs: an ETA for the stages that
    report no steps of their own (drawing the map, finding groups, loading the model) and for the first seconds
    of those that do. Stages in ``PER_RUN_STAGES`` are timed per run, not per item."""

    rates: dict[str, float]

    def learn(self, stage: str, seconds: float, items: int) -> None:
        """Remember a finished stage (an average with what was known, so one odd run does not rule)."""
        if seconds < 0.2 or (items <= 0 and stage not in PER_RUN_STAGES):
            return  # too short to say anything (a map read from the cache)
        rate = seconds if stage in PER_RUN_STAGES else seconds / items
        old = self.rates.get(stage)
        self.rates[stage] = rate if old is None else 0.5 * (old + rate)

    def remaining(self, stage: str, items: int, elapsed: float) -> float | None:
        """Seconds left in ``stage`` after ``elapsed`` (None: never timed here). Never below a second while the
        stage runs: an overrun says "a moment" rather than a negative time."""
        rate = self.rates.get(stage)
        if rate is None or (items <= 0 and stage not in PER_RUN_STAGES):
            return None
        expected = rate if stage in PER_RUN_STAGES else rate * items
        return max(1.0, expected - elapsed)

    def to_json(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in self.rates.items()}

    @classmethod
    def from_json(cls, data: Any) -> StageTimes:
        rates = data if isinstance(data, dict) else {}
        return cls({str(k): float(v) for k, v in rates.items() if isinstance(v, (int, float)) and v > 0})
