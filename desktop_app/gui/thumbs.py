"""Thumbnails for the map and the groups panel: made off the GUI thread, kept on disk and in a small LRU.

Worker threads (a QThreadPool) read or make the JPEG (core.thumbnails) and load it into a QImage; the GUI
thread turns it into a QPixmap (QPixmaps may only be made there) and says which item is ready.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap

from desktop_app.core.ingest.thumbnails import THUMBNAIL_SIDE, get_thumbnail

MAX_PIXMAPS = 3000  # ~6 thumbnails' worth of screens; older ones are dropped (they are still on disk)


class _Relay(QObject):
    done = Signal(int, int, QImage)  # generation, item index, image (null when unreadable)


def display_image(image: QImage, side: int) -> QImage:
    """Scale once, off the GUI thread, to the size the map draws (so painting never rescales)."""
    if image.isNull() or max(image.width(), image.height()) <= side:
        return image
    return image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


class _Job(QRunnable):
    def __init__(self, relay: _Relay, generation: int, index: int, path: str, folder: Path, side: int,
                 source_side: int = THUMBNAIL_SIDE) -> None:
        super().__init__()
        self.relay, self.generation, self.index, self.path, self.folder = relay, generation, index, path, folder
        self.side, self.source_side = side, source_side

    def run(self) -> None:
        thumb = get_thumbnail(Path(self.path), self.folder, self.source_side)
        image = display_image(QImage(str(thumb)), self.side) if thumb else QImage()
        self.relay.done.emit(self.generation, self.index, image)


class ThumbnailService(QObject):
    """``request`` indices; ``ready(index)`` fires when ``pixmap(index)`` has something to show."""

    ready = Signal(int)

    def __init__(self, folder: Path, parent: QObject | None = None, side: int = 144,
                 source_side: int = THUMBNAIL_SIDE, max_pixmaps: int = MAX_PIXMAPS) -> None:
        super().__init__(parent)
        self.folder = folder
        self.side = side  # pixels of the stored pixmaps: the view's thumbnail size x the screen's pixel ratio
        self.source_side = source_side  # pixels of the JPEGs on disk they are made from (core.thumbnails)
        self.max_pixmaps = max_pixmaps  # kept in memory (big ones cost more: a 512-px pixmap is 1 MB)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._relay = _Relay(self)
        self._relay.done.connect(self._done)
        self._paths: Sequence[str] = []
        self._kinds: Sequence[str] = []
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._pending: set[int] = set()
        self._failed: set[int] = set()
        self._generation = 0
        self._closed = False

    def set_items(self, paths: Sequence[str], kinds: Sequence[str]) -> None:
        self.pool.clear()
        self._generation += 1
        self._paths, self._kinds = list(paths), list(kinds)
        self._pixmaps.clear()
        self._pending.clear()
        self._failed.clear()

    def pixmap(self, index: int) -> QPixmap | None:
        pm = self._pixmaps.get(index)
        if pm is not None:
            self._pixmaps.move_to_end(index)
        return pm

    def request(self, indices: Iterable[int], replace_queue: bool = True) -> None:
        """Queue thumbnails for ``indices`` (first ones first); drops older queued requests by default."""
        if self._closed:
            return  # a repaint after the window closed must not start threads that outlive it
        if replace_queue:
            self.pool.clear()  # what was queued for a previous view is no longer wanted
            self._pending.clear()  # duplicates of jobs already running are harmless (atomic writes)
        for i in indices:
            if i in self._pixmaps or i in self._pending or i in self._failed or self._kinds[i] != "image":
                continue
            self._pending.add(i)
            self.pool.start(_Job(self._relay, self._generation, i, self._paths[i], self.folder, self.side,
                                self.source_side))

    @property
    def closed(self) -> bool:
        """Closed with the window: no new work starts."""
        return self._closed

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)

    def close(self) -> None:
        """Drop the queue, let the running decodes finish, and start nothing after this."""
        self._closed = True
        self.pool.clear()
        self.pool.waitForDone(-1)

    def _done(self, generation: int, index: int, image: QImage) -> None:
        if generation != self._generation:
            return
        self._pending.discard(index)
        if image.isNull():
            self._failed.add(index)
            return
        self._pixmaps[index] = QPixmap.fromImage(image)
        while len(self._pixmaps) > self.max_pixmaps:
            self._pixmaps.popitem(last=False)
        self.ready.emit(index)
