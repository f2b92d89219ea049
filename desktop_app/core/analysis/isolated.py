"""Run a slow, GIL-holding step (UMAP, t-SNE) in a helper process that Cancel can stop at once.

numba-compiled UMAP holds Python's GIL for its whole optimisation, so in-process it freezes the GUI thread
for a third of a second at a time and cannot be interrupted: Cancel would wait for it to finish (a minute
and a half at 100k items). In a helper process the GUI stays fluid and Cancel terminates the helper.

The helper is started with "spawn" (safe with threads and Qt on every platform) and kept for the next call,
so numba's compilation is paid once per session, not per analysis.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from desktop_app.core.progress import CancelToken

T = TypeVar("T")
_pool: Any = None
_lock = threading.Lock()


def _get_pool() -> Any:
    global _pool
    if _pool is None:
        _pool = mp.get_context("spawn").Pool(1)
    return _pool


def _drop_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.terminate()
        _pool.join()
        _pool = None


def run_isolated(fn: Callable[..., T], *args: Any, cancel: CancelToken | None = None, poll: float = 0.05) -> T:
    """``fn(*args)`` in the helper process; raises ``Cancelled`` (after stopping the helper) on cancel.

    ``fn`` must be a module-level function and its arguments picklable. Exceptions raised by ``fn`` are
    raised here.
    """
    cancel = cancel or CancelToken()
    with _lock:  # one job at a time in the single helper
        pending = _get_pool().apply_async(fn, args)
        while not pending.ready():
            if cancel.cancelled:
                _drop_pool()  # the only way to stop numba mid-loop; a fresh helper starts next time
                cancel.raise_if_cancelled()
            pending.wait(poll)
        return pending.get()


def warm_up(fn: Callable[..., Any], *args: Any) -> None:
    """Start the helper now and have it run ``fn(*args)`` (say, a tiny UMAP fit that makes numba compile),
    without waiting: the first real job queues behind it in the same process, so a session's first map does not
    pay the helper's start and compilation while the user watches. Errors of ``fn`` are ignored."""
    with _lock:
        _get_pool().apply_async(fn, args, error_callback=lambda _exc: None)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (run in the helper: the helper's own peak, which the parent's
    RUSAGE_CHILDREN overstates — a child forked from a big parent counts the parent's pages)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def shutdown() -> None:
    """Stop the helper (at exit; also safe to call when none is running)."""
    with _lock:
        _drop_pool()


atexit.register(shutdown)
