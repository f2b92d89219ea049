"""The filter bar: show only pictures with N stars or more, picks, not rejected, some colour labels, taken between
two dates or with some camera — on the map and in the grid alike (it sets the shared state's ``MarkFilter``).

Capture dates and cameras come from the pictures' EXIF headers, read once per library the first time the user
reaches for those controls (``metadataWanted``); until then they say so instead of offering nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QLabel,
    QPushButton,
    QToolBar,
    QToolButton,
    QWidget,
)

from desktop_app.core.metadata.photo_meta import PhotoMeta
from desktop_app.core.review.marks import COLOUR_LABELS, MarkFilter
from desktop_app.gui.palette import LABEL_COLOURS

ANY_CAMERA = "Any camera"


def label_icon(name: str, side: int = 12) -> QIcon:
    pm = QPixmap(side, side)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(LABEL_COLOURS[name])
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(0, 0, side, side, 3, 3)
    p.end()
    return QIcon(pm)


def _day_start(d: QDate) -> float:
    """Seconds on the camera's clock (PhotoMeta.taken is naive time stored as UTC) at the start of ``d``."""
    return dt.datetime(d.year(), d.month(), d.day(), tzinfo=dt.UTC).timestamp()


class FilterBar(QToolBar):
    """``filterChanged(MarkFilter)`` on every change; ``metadataWanted()`` when dates/cameras are needed.

    A toolbar of its own: in a narrow window what does not fit goes into its » menu (the window stays 1,024 px
    wide)."""

    filterChanged = Signal(object)
    metadataWanted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Filter", parent)
        self.setObjectName("filter-toolbar")
        self.setMovable(False)
        row = self
        row.addWidget(QLabel(" Show: "))
        self.stars = QComboBox()
        self.stars.addItem("Any rating", 0)
        for n in range(1, 6):
            self.stars.addItem("★" * n + (" or more" if n < 5 else ""), n)
        self.stars.setToolTip("Only pictures rated this many stars or more (keys 0-5 rate)")
        self.picks = QCheckBox("Picks")
        self.picks.setToolTip("Only pictures flagged as picks (P picks, X rejects, U unflags)")
        self.not_rejected = QCheckBox("Not rejected")
        self.labels: dict[str, QToolButton] = {}
        for w in (self.stars, self.picks, self.not_rejected):
            row.addWidget(w)
        for name in COLOUR_LABELS:
            b = QToolButton()
            b.setCheckable(True)
            b.setIcon(label_icon(name))
            b.setToolTip(f"Only pictures labelled {name} (any of the chosen labels)")
            b.setAutoRaise(True)
            b.toggled.connect(self._emit)
            self.labels[name] = b
            row.addWidget(b)
        self.camera = QComboBox()
        self.camera.addItem(ANY_CAMERA)
        self.camera.setToolTip("Only pictures from this camera (read from the pictures' EXIF)")
        self.camera.setMinimumContentsLength(12)
        self.date_on = QCheckBox("Taken")
        self.date_on.setToolTip("Only pictures taken between these days (the camera's clock)")
        self.date_from = QDateEdit(calendarPopup=True)
        self.date_to = QDateEdit(calendarPopup=True)
        for d in (self.date_from, self.date_to):
            d.setDisplayFormat("yyyy-MM-dd")
            d.setEnabled(False)
        self.read_meta = QPushButton("Dates && cameras…")
        self.read_meta.setToolTip("Read capture dates and cameras from the pictures (once per library)")
        self.read_meta.clicked.connect(self.metadataWanted.emit)
        for w in (self.camera, self.date_on, self.date_from, QLabel("–"), self.date_to, self.read_meta):
            row.addWidget(w)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Show every picture again")
        self.clear_button.clicked.connect(self.clear)
        row.addWidget(self.clear_button)
        self.count = QLabel()
        row.addWidget(self.count)
        self.stars.currentIndexChanged.connect(self._emit)
        self.picks.toggled.connect(self._emit)
        self.not_rejected.toggled.connect(self._emit)
        self.camera.currentIndexChanged.connect(self._emit)
        self.date_on.toggled.connect(self._dates_toggled)
        self.date_from.dateChanged.connect(self._emit)
        self.date_to.dateChanged.connect(self._emit)
        self._quiet = False
        self.set_metadata(None)

    def set_metadata(self, metas: Sequence[PhotoMeta] | None) -> None:
        """The library's capture data (None: not read yet — camera and dates wait for ``metadataWanted``)."""
        known = metas is not None
        self._quiet = True
        self.camera.clear()
        self.camera.addItem(ANY_CAMERA)
        if metas:
            for cam in sorted({m.camera for m in metas if m.camera}):
                self.camera.addItem(cam)
            times = [m.taken for m in metas if m.taken is not None]
            if times:
                first, last = (dt.datetime.fromtimestamp(t, dt.UTC).date() for t in (min(times), max(times)))
                self.date_from.setDate(QDate(first.year, first.month, first.day))
                self.date_to.setDate(QDate(last.year, last.month, last.day))
        self.camera.setEnabled(known and self.camera.count() > 1)
        self.date_on.setEnabled(known)
        self.date_on.setChecked(False)
        self.read_meta.setVisible(not known)
        self._quiet = False
        self._emit()

    def _dates_toggled(self, on: bool) -> None:
        self.date_from.setEnabled(on)
        self.date_to.setEnabled(on)
        self._emit()

    def current(self) -> MarkFilter:
        """The filter the controls describe."""
        camera = self.camera.currentText()
        dates = self.date_on.isChecked() and self.date_on.isEnabled()
        return MarkFilter(
            min_rating=int(self.stars.currentData() or 0), picks_only=self.picks.isChecked(),
            hide_rejected=self.not_rejected.isChecked(),
            labels=frozenset(n for n, b in self.labels.items() if b.isChecked()),
            taken_from=_day_start(self.date_from.date()) if dates else None,
            taken_to=_day_start(self.date_to.date().addDays(1)) - 0.001 if dates else None,
            cameras=frozenset({camera}) if camera and camera != ANY_CAMERA else frozenset())

    def show_filter(self, f: MarkFilter) -> None:
        """Set the controls to ``f`` (a library reopened with the filter it was left with); emits once."""
        self._quiet = True
        self.stars.setCurrentIndex(max(0, self.stars.findData(f.min_rating)))
        self.picks.setChecked(f.picks_only)
        self.not_rejected.setChecked(f.hide_rejected)
        for name, b in self.labels.items():
            b.setChecked(name in f.labels)
        if len(f.cameras) == 1 and self.camera.findText(next(iter(f.cameras))) >= 0:
            self.camera.setCurrentIndex(self.camera.findText(next(iter(f.cameras))))
        self._quiet = False
        self._emit()

    def clear(self) -> None:
        self._quiet = True
        self.stars.setCurrentIndex(0)
        for b in (self.picks, self.not_rejected, self.date_on, *self.labels.values()):
            b.setChecked(False)
        self.camera.setCurrentIndex(0)
        self._quiet = False
        self._emit()

    def show_count(self, shown: int, total: int) -> None:
        self.count.setText(f"{shown:,} of {total:,} shown" if shown != total else "")

    def _emit(self, *_args) -> None:
        if not self._quiet:
            f = self.current()
            self.clear_button.setEnabled(f.active)
            self.filterChanged.emit(f)
