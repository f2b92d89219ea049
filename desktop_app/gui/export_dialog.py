"""The Export Groups dialog: which groups, where, how (copy / link / move), companions, XMP keywords."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.analysis import Analysis
from desktop_app.core.export import ExportOptions

MODES = [("Copy (originals stay where they are)", "copy"), ("Hard links (no extra space, same disk)", "hardlink"),
         ("Symbolic links", "symlink"), ("Move (originals leave their folders)", "move")]


class ExportDialog(QDialog):
    def __init__(self, analysis: Analysis, start_dir: str, parent: QWidget | None = None, *,
                 has_sets: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export Groups")
        layout = QVBoxLayout(self)
        self.groups = QListWidget()
        for c in analysis.clusters:
            row = QListWidgetItem(f"{c.id + 1:02d}  {c.name}  ({c.size})")
            row.setData(Qt.ItemDataRole.UserRole, c.id)
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            row.setCheckState(Qt.CheckState.Checked)
            self.groups.addItem(row)
        layout.addWidget(self.groups)
        form = QFormLayout()
        self.dest = QLineEdit(str(Path(start_dir) / "PhotoAtlas export"))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.dest, 1)
        where.addWidget(browse)
        form.addRow("Into folder", where)
        self.mode = QComboBox()
        for label, mode in MODES:
            self.mode.addItem(label, mode)
        form.addRow("How", self.mode)
        self.noise = QCheckBox("Also export ungrouped items (to “Unsorted”)")
        self.companions = QCheckBox("Take sidecars along (.xmp, .txt captions, the RAW of a RAW+JPEG pair)")
        self.companions.setChecked(True)
        self.verify = QCheckBox("Verify every copy by checksum (slower)")
        self.xmp = QCheckBox("Write group names as keywords into XMP sidecars (for Lightroom, darktable…)")
        self.xmp_naming = QComboBox()
        self.xmp_naming.addItem("IMG_0001.xmp (Lightroom, Capture One, Bridge)", "lightroom")
        self.xmp_naming.addItem("IMG_0001.jpg.xmp (darktable, digiKam)", "darktable")
        self.xmp_naming.setEnabled(False)
        self.xmp.toggled.connect(self.xmp_naming.setEnabled)
        # Only offered once near-duplicates and bursts were looked for (Cull > Find Duplicates & Bursts).
        self.best_only = QCheckBox("Only the best frame of each near-duplicate or burst set")
        self.best_rating = QCheckBox("Mark each set's best frame with 5 stars (XMP rating)")
        for box in (self.best_only, self.best_rating):
            box.setEnabled(has_sets)
            box.setToolTip("" if has_sets else "Find duplicates and bursts first (Cull menu)")
        self.nested = QCheckBox("Sub-groups as folders inside their group")
        self.nested.setToolTip("01 wedding/03 dinner/ for a group's sub-groups; items in none stay in the group's "
                               "folder")
        for box in (self.noise, self.companions, self.verify, self.xmp, self.best_only, self.best_rating,
                    self.nested):
            form.addRow("", box)
        form.addRow("Sidecar names", self.xmp_naming)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(620, 520)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into", self.dest.text())
        if folder:
            self.dest.setText(folder)

    def destination(self) -> Path:
        return Path(self.dest.text()).expanduser()

    def options(self) -> ExportOptions:
        chosen = {self.groups.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.groups.count())
                  if self.groups.item(i).checkState() == Qt.CheckState.Checked}
        return ExportOptions(mode=self.mode.currentData(), groups=chosen, include_noise=self.noise.isChecked(),
                             companions=self.companions.isChecked(), verify=self.verify.isChecked(),
                             xmp=self.xmp.isChecked(), xmp_naming=self.xmp_naming.currentData(),
                             best_only=self.best_only.isChecked(),
                             best_rating=5 if self.best_rating.isChecked() else None,
                             nested=self.nested.isChecked())
