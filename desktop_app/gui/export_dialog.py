"""The Export Groups dialog: which groups and pictures, where, how (copy / link / move), sidecars.

Laid out in two columns (groups on the left, options on the right) so it fits a 1,024 x 700 screen. A line
under the options says how many files (and how many bytes) the current choices would export, updated as they
change; the marks filters (picks only, N stars or more, not rejected) are offered once any picture is marked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.analysis.model import Analysis
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.metadata.photo_info import human_size

MODES = [("Copy (originals stay where they are)", "copy"), ("Hard links (no extra space, same disk)", "hardlink"),
         ("Symbolic links", "symlink"), ("Move (originals leave their folders)", "move")]
EXPORT_FOLDER = "PhotoAtlas export"
NO_MARKS_TIP = ("No picture is rated, picked or rejected yet: mark them in the grid or the loupe "
                "(keys 0-5, P, X) to export by rating")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def default_destination(library_folders: Sequence[str | os.PathLike[str]] = (), home: Path | None = None) -> Path:
    """Where an export goes unless the user says otherwise: never inside a library folder (the next analysis
    would skip it, and the copies would sit beside their originals). ``~/Pictures/PhotoAtlas export`` (or
    ``~/PhotoAtlas export`` where there is no Pictures folder) when that is outside every library folder; else
    ``<library> (PhotoAtlas export)`` beside the first library folder (say the library is ``~/Pictures``)."""
    home = Path(home) if home is not None else Path.home()
    folders = [Path(os.path.abspath(f)) for f in library_folders]
    candidates = [home / "Pictures" / EXPORT_FOLDER if (home / "Pictures").is_dir() else home / EXPORT_FOLDER]
    for folder in folders:
        if folder.parent != folder:  # a library at the filesystem root has no beside
            candidates.append(folder.parent / f"{folder.name} ({EXPORT_FOLDER})")
    for candidate in candidates:
        if not any(_inside(candidate, f) for f in folders):
            return candidate
    return candidates[-1]


class ExportDialog(QDialog):
    """Asks what to export where. ``count(options)`` says how many files (and bytes) an export with ``options`` would
    take — the library's ``export_count``, the export's own rule, so the number shown is the number exported;
    ``marked``: some picture is rated, flagged or labelled (the rating filters are offered); ``library_folders``
    keep the default destination out of the library."""

    def __init__(self, analysis: Analysis, start_dir: str, parent: QWidget | None = None, *,
                 has_sets: bool = False, count: Callable[[ExportOptions], tuple[int, int]] | None = None,
                 marked: bool = False, library_folders: Sequence[str | os.PathLike[str]] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export Groups")
        self._start_dir = start_dir
        self._count = count
        self._marked = marked

        columns = QHBoxLayout()
        columns.addLayout(self._groups_column(analysis), 1)
        columns.addLayout(self._options_column(has_sets, library_folders), 2)
        layout = QVBoxLayout(self)
        layout.addLayout(columns, 1)
        self.count = QLabel()
        self.count.setToolTip("Pictures and notes of the chosen groups that pass the filters; sidecars, captions "
                              "and RAW files taken along are not counted")
        font = self.count.font()
        font.setBold(True)
        self.count.setFont(font)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.count, 1)  # beside Export: what the button will do
        bottom.addWidget(self.buttons)
        layout.addLayout(bottom)
        self._update()
        self.resize(900, 560)

    # -- building ------------------------------------------------------------------------------------------
    def _groups_column(self, analysis: Analysis) -> QVBoxLayout:
        column = QVBoxLayout()
        column.addWidget(QLabel("Groups"))
        self.groups = QListWidget()
        self.groups.setToolTip("Folders are numbered 01, 02, 03… over the groups exported (a rerun into the same "
                               "folder keeps the folders it made)")
        for c in analysis.clusters:
            row = QListWidgetItem(f"{c.name}  ({c.size})")
            row.setData(Qt.ItemDataRole.UserRole, c.id)
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            row.setCheckState(Qt.CheckState.Checked)
            self.groups.addItem(row)
        self.groups.itemChanged.connect(self._update)
        column.addWidget(self.groups, 1)
        buttons = QHBoxLayout()
        self.select_all = QPushButton("Select all")
        self.select_none = QPushButton("Select none")
        self.select_all.clicked.connect(lambda: self._check_all(True))
        self.select_none.clicked.connect(lambda: self._check_all(False))
        buttons.addWidget(self.select_all)
        buttons.addWidget(self.select_none)
        buttons.addStretch(1)
        column.addLayout(buttons)
        self.noise = QCheckBox("Also ungrouped items (to “Unsorted”)")
        self.nested = QCheckBox("Sub-groups as folders inside their group")
        self.nested.setToolTip("01 wedding/03 dinner/ for a group's sub-groups; items in none stay in the group's "
                               "folder")
        for box in (self.noise, self.nested):
            column.addWidget(box)
        self.noise.toggled.connect(self._update)
        return column

    def _options_column(self, has_sets: bool, library_folders: Sequence[str | os.PathLike[str]]) -> QVBoxLayout:
        column = QVBoxLayout()
        form = QFormLayout()
        self.dest = QLineEdit(str(default_destination(library_folders)))
        self.dest.setToolTip("Outside the library folders by default: the next analysis skips an export folder")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.dest, 1)
        where.addWidget(browse)
        form.addRow("Into folder", where)
        self.mode = QComboBox()
        for label, mode in MODES:
            self.mode.addItem(label, mode)
        self.mode.currentIndexChanged.connect(self._update)
        form.addRow("How", self.mode)
        column.addLayout(form)

        which = QGroupBox("Which pictures")
        box = QVBoxLayout(which)
        self.picks_only = QCheckBox("Picks only")
        stars = QHBoxLayout()
        self.min_rating_on = QCheckBox("Rated")
        self.min_rating = QSpinBox()
        self.min_rating.setRange(1, 5)
        self.min_rating.setValue(3)
        self.min_rating.setSuffix(" stars or more")
        self.min_rating.setEnabled(False)
        self.min_rating_on.toggled.connect(self.min_rating.setEnabled)
        stars.addWidget(self.min_rating_on)
        stars.addWidget(self.min_rating)
        stars.addStretch(1)
        self.not_rejected = QCheckBox("Not rejected")
        marked = self._marked
        for widget in (self.picks_only, self.min_rating_on, self.not_rejected):
            widget.setEnabled(marked)
            widget.setToolTip("" if marked else NO_MARKS_TIP)
        self.min_rating.setToolTip("" if marked else NO_MARKS_TIP)
        box.addWidget(self.picks_only)
        box.addLayout(stars)
        box.addWidget(self.not_rejected)
        # Only offered once near-duplicates and bursts were looked for (Cull > Find Duplicates & Bursts).
        self.best_only = QCheckBox("Only the best frame of each near-duplicate or burst set")
        box.addWidget(self.best_only)
        column.addWidget(which)

        sidecars = QGroupBox("Sidecars")
        side = QVBoxLayout(sidecars)
        self.companions = QCheckBox("Take existing sidecars along (.xmp, .txt captions, the RAW of RAW+JPEG)")
        self.companions.setChecked(True)
        self.xmp = QCheckBox("Write group names, ratings and colour labels into XMP sidecars")
        self.xmp.setToolTip("dc:subject keywords, xmp:Rating (a reject as -1) and xmp:Label, as Lightroom, "
                            "darktable and digiKam read them")
        self.best_rating = QCheckBox("Mark each set's best frame with 5 stars (unless you rated it)")
        for widget in (self.best_only, self.best_rating):
            widget.setEnabled(has_sets)
            widget.setToolTip("" if has_sets else "Find duplicates and bursts first (Cull menu)")
        where_row = QHBoxLayout()
        self.on_copies = QRadioButton("On the copies")
        self.on_copies.setChecked(True)
        self.on_originals = QRadioButton("Next to the originals")
        self.sidecar_place = QButtonGroup(self)
        self.sidecar_place.addButton(self.on_copies)
        self.sidecar_place.addButton(self.on_originals)
        where_row.addWidget(QLabel("Write them"))
        where_row.addWidget(self.on_copies)
        where_row.addWidget(self.on_originals)
        where_row.addStretch(1)
        self.xmp_naming = QComboBox()
        self.xmp_naming.addItem("IMG_0001.xmp (Lightroom, Capture One, Bridge)", "lightroom")
        self.xmp_naming.addItem("IMG_0001.jpg.xmp (darktable, digiKam)", "darktable")
        naming = QHBoxLayout()
        naming.addWidget(QLabel("Named"))
        naming.addWidget(self.xmp_naming, 1)
        for widget in (self.companions, self.xmp, self.best_rating):
            side.addWidget(widget)
        side.addLayout(where_row)
        side.addLayout(naming)
        column.addWidget(sidecars)
        for widget in (self.xmp, self.best_rating, self.picks_only, self.min_rating_on, self.not_rejected,
                       self.best_only):
            widget.toggled.connect(self._update)
        self.min_rating.valueChanged.connect(self._update)

        self.verify = QCheckBox("Verify every copy by checksum (slower)")
        column.addWidget(self.verify)
        column.addStretch(1)
        return column

    # -- behaviour -----------------------------------------------------------------------------------------
    def _check_all(self, on: bool) -> None:
        state = Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
        self.groups.blockSignals(True)  # one update for the lot, not one per group
        for i in range(self.groups.count()):
            self.groups.item(i).setCheckState(state)
        self.groups.blockSignals(False)
        self._update()

    def _browse(self) -> None:
        start = self.dest.text() if Path(self.dest.text()).parent.is_dir() else self._start_dir
        folder = QFileDialog.getExistingDirectory(self, "Export into", start)
        if folder:
            self.dest.setText(folder)

    def chosen_groups(self) -> set[int]:
        return {self.groups.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.groups.count())
                if self.groups.item(i).checkState() == Qt.CheckState.Checked}

    def _update(self, *_: object) -> None:
        writes = self.xmp.isChecked() or self.best_rating.isChecked()
        moving = self.mode.currentData() == "move"
        for widget in (self.on_copies, self.on_originals):
            widget.setEnabled(writes and not moving)
            widget.setToolTip("A move takes the pictures along: their sidecars are written beside them in the "
                              "export folder" if moving else "")
        self.xmp_naming.setEnabled(writes)
        files, size = self._count(self.options()) if self._count is not None else (0, 0)
        if files == 0:
            text = "Nothing to export with these choices"
        else:
            text = f"{files:,} file{'s' if files != 1 else ''} · {human_size(size)}"
        self.count.setText(text)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(files > 0)

    # -- answers -------------------------------------------------------------------------------------------
    def destination(self) -> Path:
        return Path(self.dest.text()).expanduser()

    def options(self) -> ExportOptions:
        marked = self._marked
        return ExportOptions(mode=self.mode.currentData(), groups=self.chosen_groups(),
                             include_noise=self.noise.isChecked(), companions=self.companions.isChecked(),
                             verify=self.verify.isChecked(), xmp=self.xmp.isChecked(),
                             xmp_on_copies=self.on_copies.isChecked(), xmp_naming=self.xmp_naming.currentData(),
                             best_only=self.best_only.isChecked(),
                             best_rating=5 if self.best_rating.isChecked() else None,
                             nested=self.nested.isChecked(),
                             picks_only=marked and self.picks_only.isChecked(),
                             min_rating=self.min_rating.value() if marked and self.min_rating_on.isChecked() else 0,
                             not_rejected=marked and self.not_rejected.isChecked())
