"""The window's files: libraries (open, new, recent), project files (import, export), the export of the groups and
its undo, the results document, and the models on disk. A mixin of ``MainWindow``: each action asks the user where,
then calls the window's ``library``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from desktop_app.core.app_dirs import default_library_dir
from desktop_app.core.documents.project import PROJECT_SUFFIX, Project
from desktop_app.core.documents.results import write_csv
from desktop_app.core.embedding.downloads import Recommended, remove_download
from desktop_app.core.errors import BadArgument
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.library.catalogue import SUFFIX
from desktop_app.core.library.library import Library, new_library_path
from desktop_app.core.model_names import DEFAULT_MODEL
from desktop_app.gui import actions
from desktop_app.gui.export_dialog import ExportDialog

MAX_RECENT = 8


class FilesMixin:
    """Methods of ``MainWindow`` (see there for the attributes they use)."""

    def open_library(self, path: Path) -> bool:
        """Open the library whose catalogue is ``path`` and draw its map."""
        if self.library.path is not None and Path(path).resolve() == self.library.path.resolve():
            return True
        return self._open_library(lambda: Library.open(Path(path), embed=self.embed_settings()))

    def choose_library(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open Library", str(self._library_folder()),
                                              f"PhotoAtlas libraries (*{SUFFIX})")
        if name:
            self.open_library(Path(name))

    def new_library(self) -> None:
        """An empty window: the next folder added starts a new library (the current one is saved as it is)."""
        if not self.busy():
            self._use_library(Library(embed=self.embed_settings()), analyze=False)
            self.idle("New library: add folders to it")

    def _library_folder(self) -> Path:
        return self.library_dir or default_library_dir()

    def remove_model(self, rec: Recommended) -> None:
        """Delete a downloaded model from the Hugging Face cache, after asking. The next analysis with it asks
        before downloading it again."""
        if self.busy():
            self.show_error("Wait for the running job to finish (or cancel it) before removing a model")
            return
        if not self.confirm_remove(rec):
            return
        try:
            freed = remove_download(rec.repo)
        except OSError as exc:
            self.show_error(f"Could not remove the model {rec.model}: {exc}")
            return
        self._download_agreed.discard(rec.model)
        self.models_menu.refresh()
        self.idle(f"Removed the model {rec.model} ({freed / 1e6:,.0f} MB freed)")

    def confirm_remove(self, rec: Recommended) -> bool:
        """Ask before deleting a downloaded model (tests replace this method)."""
        answer = QMessageBox.question(
            self, "Remove the downloaded model?",
            f"Delete {rec.model} from this computer's Hugging Face cache?\n\nIt is downloaded again "
            f"(about {rec.size_mb} MB) the next time an analysis uses it; other programs that use the same "
            "cache lose it too.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def choose_project(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Import Project", self._last_dir(),
                                              f"PhotoAtlas projects (*{PROJECT_SUFFIX})")
        if name:
            self.open_project(Path(name))

    def open_project(self, path: Path) -> bool:
        """Make a library from a project file (its folders, settings and decisions) and draw its map; False, after
        one clear message, when the file cannot be read."""
        try:
            project = Project.load(path)
        except BadArgument as exc:  # also a damaged file: a wrong type or a missing key is named, never a crash
            self.show_error(exc.user_message)
            return False

        def make() -> Library:
            library = Library.create(new_library_path(self._library_folder(), Path(path).stem),
                                     embed=self.embed_settings())
            library.take_project(project)
            return library

        missing = [f for f in project.folders if not os.path.exists(f)]
        if not self._open_library(make):
            return False
        if missing:
            self.show_error(f"{len(missing)} folder(s) of this project are not there any more "
                            f"(moved, or on a disk that is not connected): {missing[0]}", "\n".join(missing))
        return True

    def save_project(self) -> bool:
        suggested = str(Path(self._last_dir()) / f"{self.library.name}{PROJECT_SUFFIX}")
        name, _ = QFileDialog.getSaveFileName(self, "Export Library as Project", suggested,
                                              f"PhotoAtlas projects (*{PROJECT_SUFFIX})")
        if not name:
            return False
        return self.save_project_to(Path(name if name.endswith(PROJECT_SUFFIX) else name + PROJECT_SUFFIX))

    def save_project_to(self, path: Path) -> bool:
        """Write the library as a portable project file (its catalogue already holds everything)."""
        try:
            self.library.save_project(path)
        except OSError as exc:
            self.show_error(f"Could not write the project: {exc}")
            return False
        self.idle(f"Wrote the project {path}")
        return True

    def export_groups(self) -> None:
        if self.result is None or self.analysis is None or self.busy():
            return
        dialog = ExportDialog(self.analysis, self._last_dir(), self, has_sets=bool(self.result.similar_sets),
                              count=self.library.export_count, marked=not self.state.marks.is_empty(),
                              library_folders=self.folders)
        last = self.library.view.get("export_to")
        if isinstance(last, str) and last:
            dialog.dest.setText(last)  # where this library was exported to last time
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.decide(self.library.set_view, export_to=str(dialog.destination()))
            self.export_groups_to(dialog.destination(), dialog.options())

    def export_groups_to(self, dest: Path, options: ExportOptions) -> None:
        """Run the export on the worker thread; a summary (with any fallbacks or failures) follows."""
        if self.busy():
            self.show_error("Wait for the running job to finish (or cancel it) before exporting")
            return
        self.run_job(self._try(self.library.export_job, dest, options), self._export_done)

    def _export_done(self, summary: Any) -> None:
        self.idle(summary.lines()[0])
        self.exportFinished.emit(summary)
        if self.interactive_errors:
            QMessageBox.information(self, "Export finished", "\n".join(summary.lines()))

    def undo_last_export(self) -> None:
        if self.library.last_export is not None and not self.busy():
            self.run_job(self._try(self.library.undo_export_job), self._undo_done)

    def _undo_done(self, summary: Any) -> None:
        kept = (f"; kept {len(summary.refused)} files (changed, not ours, or their original is gone)"
                if summary.refused else "")
        self.idle(f"Undid the export: {summary.reversed:,} file{'' if summary.reversed == 1 else 's'} reversed{kept}")
        self.exportFinished.emit(summary)

    def export_results(self) -> None:
        if self.result is None or self.busy():
            return
        suggested = str(Path(self._last_dir()) / "photoatlas-results.json")
        name, _ = QFileDialog.getSaveFileName(self, "Export Results", suggested, "Results document (*.json)")
        if name:
            self.export_to(Path(name))

    def export_to(self, path: Path) -> None:
        """Results document (JSON, with the user's group edits and marks) and a CSV table beside it."""
        if self.result is None or self.busy():
            self.show_error("Wait for the running job to finish (or cancel it) before exporting the results")
            return
        document = self.library.document()
        try:
            document.save(path)
            write_csv(document, path.with_suffix(".csv"))
        except OSError as exc:
            self.show_error(f"Could not export: {exc}")
            return
        self.idle(f"Wrote {path} and {path.with_suffix('.csv').name}")

    def _remember(self, key: str, path: str) -> None:
        recent = [p for p in self._recent(key) if p != path]
        self.settings.setValue(key, [path, *recent][:MAX_RECENT])
        self.refresh_recent()

    def _recent(self, key: str = "recent/folders") -> list[str]:
        value = self.settings.value(key, [])
        return [value] if isinstance(value, str) else list(value or [])

    def refresh_recent(self) -> None:
        if not hasattr(self, "recent_menu"):
            return
        self.recent_menu.clear()
        for path in self._recent():
            self.recent_menu.addAction(path, lambda p=path: self.add_paths([p], analyze=True))
        self.recent_menu.setEnabled(bool(self._recent()))
        self.recent_libraries_menu.clear()
        libraries = [p for p in self._recent("recent/libraries") if os.path.exists(p)]
        for path in libraries:
            self.recent_libraries_menu.addAction(Path(path).name.removesuffix(SUFFIX),
                                                 lambda p=path: self.open_library(Path(p)))
        self.recent_libraries_menu.setEnabled(bool(libraries))

    def _last_dir(self) -> str:
        recent = self._recent()
        return recent[0] if recent else str(Path.home())

    # -- models and what the window remembers ----------------------------------------------------

    def _show_model(self, model: str) -> None:
        if self.model_box.findData(model) < 0:
            self.model_box.insertItem(0, actions.model_label(model), model)
        self.model_box.setCurrentIndex(self.model_box.findData(model))

    def model_chosen(self) -> None:
        if self.model_box.currentData() == "":
            self.choose_local_model()
        else:
            self.library.set_model(self.model_box.currentData())

    def choose_model(self, model: str) -> None:
        """Use ``model`` for the next analysis (the toolbar's box follows)."""
        self._show_model(model)
        self.library.set_model(model)

    def choose_local_model(self) -> None:
        """Ask for a model folder (open_clip's layout) and use it."""
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder (open_clip_config.json + weights)")
        if folder:
            self.choose_model(f"local-dir:{folder}")
        else:
            self._show_model(self.library.settings.model)

    def _restore_settings(self, model: str | None) -> None:
        geometry = self.settings.value("window/geometry") if self.remember_layout else None
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.settings.value("window/state") if self.remember_layout else None
        if state is not None:
            self.restoreState(state)
        # A window without a library offers the model chosen last time, unless the caller names one (--model).
        self._show_model(model or str(self.settings.value("last/model", "") or "") or DEFAULT_MODEL)
        self.reducer_box.setCurrentIndex(max(0, self.reducer_box.findData(self.settings.value("last/reducer", "umap"))))
        self.clusterer_box.setCurrentIndex(max(0, self.clusterer_box.findData(
            self.settings.value("last/clusterer", "hdbscan"))))
        self.param_box.blockSignals(True)
        self.param_box.setValue(int(self.settings.value("last/param", 0)))
        self.param_box.blockSignals(False)
        actions.show_clusterer_controls(self)
        self._regroup_timer.stop()
        self.refresh_recent()

    def _save_settings(self) -> None:
        if self.remember_layout:
            self.settings.setValue("window/geometry", self.saveGeometry())
            self.settings.setValue("window/state", self.saveState())
        if self.model_box.currentData():
            self.settings.setValue("last/model", self.model_box.currentData())
        self.settings.setValue("last/reducer", self.reducer_box.currentData())
        self.settings.setValue("last/clusterer", self.clusterer_box.currentData())
        self.settings.setValue("last/param", self.param_box.value())
        self.settings.setValue("eta/stage_times", json.dumps(self.stage_times.to_json()))
        self.settings.sync()
