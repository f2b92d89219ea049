"""The main window: a skin over the ``Library`` (core). It shows the library — the map, the groups, the four
views — and turns what the user does into the library's methods and jobs; the library keeps every decision in its
catalogue the moment it is made, so there is nothing to save and nothing lost on a crash.

What lives where: actions, toolbars and menus in ``actions``; running jobs and showing their progress in ``jobs``;
the review side (views, marks, selection, sets, search) in ``review_window``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.analysis.groupings import grouping_params
from desktop_app.core.analysis.model import Analysis
from desktop_app.core.documents.project import PROJECT_SUFFIX, Project
from desktop_app.core.documents.results import write_csv
from desktop_app.core.embedding.downloads import Download, Recommended, needed_download, remove_download
from desktop_app.core.embedding.settings import EmbedSettings
from desktop_app.core.errors import BadArgument, PhotoAtlasError
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.ingest.thumbnails import thumbnail_folder
from desktop_app.core.library.catalogue import SUFFIX
from desktop_app.core.library.jobs import Job
from desktop_app.core.library.library import Library, new_library_path
from desktop_app.core.model_names import DEFAULT_MODEL
from desktop_app.core.progress import ProgressEvent, StageTimes
from desktop_app.gui import actions
from desktop_app.gui.compare import CompareView
from desktop_app.gui.culling import CullingPanel
from desktop_app.gui.download_dialog import hub_host
from desktop_app.gui.export_dialog import ExportDialog
from desktop_app.gui.grid_view import GridView
from desktop_app.gui.jobs import JobRunner
from desktop_app.gui.loupe import LoupeView
from desktop_app.gui.map_view import THUMB_PX, MapView
from desktop_app.gui.models_menu import record_speed
from desktop_app.gui.panels import GroupsPanel, LibraryPanel
from desktop_app.gui.review_window import ReviewMixin
from desktop_app.gui.thumbs import ThumbnailService
from desktop_app.resources import icon_files

EMPTY_TITLE = "Drop folders here, or Add Folder…"
EMPTY_HINT = ("PhotoAtlas reads the pictures and notes inside, puts similar ones together on a map, and finds the "
              "groups. Every rating, name and choice is kept as you make it. Nothing leaves this computer.")
GUI_BATCH = 8  # CPU batches of 8 keep Cancel well under a second with a ViT-B model
MAX_RECENT = 8
REGROUP_DELAY_MS = 350  # typing "25" in the parameter box is one re-grouping, not two


class MainWindow(ReviewMixin, QMainWindow):
    """``analysisFinished`` fires when a map is on screen (tests and --screenshot wait for it)."""

    analysisFinished = Signal()
    jobFailed = Signal(str)
    exportFinished = Signal(object)  # ExportSummary or UndoSummary

    def __init__(self, library: Library | None = None, *, model: str | None = None, cache_dir: Path | None = None,
                 offline: bool = False, interactive_errors: bool = True, remember_layout: bool = True,
                 ask_before_download: bool = True, warm_start: bool = False,
                 library_dir: Path | None = None) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.cache_dir = cache_dir
        self.offline = offline
        self.library_dir = library_dir  # where new libraries go (None: the platform's libraries folder)
        self.interactive_errors = interactive_errors
        self.remember_layout = remember_layout  # off for --screenshot: the same picture on every machine
        self.ask_before_download = ask_before_download  # off for --quit-when-done: the command line was the ask
        self._download_agreed: set[str] = set()  # models the user said yes to in this session
        self.settings = QSettings("PhotoAtlas", "PhotoAtlas")
        self.library = library if library is not None else Library(embed=self.embed_settings())
        self._closing = False
        self._connections: list[tuple[Any, Any]] = []

        side = round(THUMB_PX * max(1.0, self.devicePixelRatioF()))
        self.thumbnails = ThumbnailService(thumbnail_folder(cache_dir), self, side=side)
        self.map = MapView(self.thumbnails)
        self.grid = GridView(thumbnail_folder(cache_dir))
        self.loupe = LoupeView()
        self.compare = CompareView()
        self.stack = QStackedWidget()
        self.stack.addWidget(self._empty_state())
        for view in (self.map, self.grid, self.loupe, self.compare):
            self.stack.addWidget(view)
        self.setCentralWidget(self.stack)
        self.library_panel = LibraryPanel()
        self.groups = GroupsPanel(self.thumbnails)
        self.groups.colour_of = self.map.colour_of  # swatches in the map's own colours
        self.culling = CullingPanel()
        self.hits = QListWidget()
        self._build_docks()
        self.setup_review()
        actions.build_status(self)
        self.jobs = JobRunner(self, self.stage_label, self.progress,
                              StageTimes.from_json(_json_setting(self.settings.value("eta/stage_times", ""))))
        self.jobs.failed.connect(self._failed)
        self.jobs.cancelled.connect(lambda: self.idle("Cancelled"))
        self.jobs.ended.connect(self.update_actions)
        self.jobs.progressText.connect(self._show_first_progress)
        actions.build_actions(self)
        actions.build_toolbars(self)
        actions.build_menus(self)
        self._regroup_timer = QTimer(self, singleShot=True, interval=REGROUP_DELAY_MS)
        self._regroup_timer.timeout.connect(self.regroup)
        self.groups.groupActivated.connect(self.group_activated)
        self.groups.groupRenamed.connect(lambda cid, name: self.decide(self.library.rename_group, cid, name))
        self.groups.visibilityChanged.connect(lambda cid, on: self.decide(self.library.set_group_visible, cid, on))
        self.groups.mergeRequested.connect(self.merge_groups)
        self.groups.moveSelectionRequested.connect(lambda cid: self.move_rows_to(cid, sorted(self.map.selected)))
        self.groups.rowsDropped.connect(self.move_rows_to)
        self._restore_settings(model)
        self._bind(self.library)
        if warm_start:  # the app (not tests): the layout helper starts and compiles while the user picks a folder
            from desktop_app.core.analysis.analyze import warm_up_layout

            warm_up_layout()

    # -- what the window shows: the library's ------------------------------------------------------
    @property
    def state(self) -> Any:
        return self.library.state

    @property
    def result(self) -> Any:
        return self.library.result

    @property
    def analysis(self) -> Analysis | None:
        return self.library.analysis

    @property
    def base(self) -> Analysis | None:
        return self.library.base

    @property
    def folders(self) -> list[str]:
        return self.library.folders

    @property
    def edits(self) -> Any:
        return self.library.edits

    def busy(self) -> bool:
        return self.jobs.busy()

    @property
    def stage_times(self) -> StageTimes:
        """How long each stage took per item on this computer (the time left of the next job's stages)."""
        return self.jobs.stage_times

    @stage_times.setter
    def stage_times(self, times: StageTimes) -> None:
        self.jobs.stage_times = times

    def embed_settings(self) -> EmbedSettings:
        """How this computer embeds in the window: small batches (Cancel stays quick), one core left to the GUI."""
        return EmbedSettings(cache_dir=self.cache_dir, offline=self.offline, batch_size=GUI_BATCH,
                             torch_threads=max(1, (os.cpu_count() or 2) - 1))

    # -- construction ------------------------------------------------------------------------------
    def _empty_state(self) -> QWidget:
        """"Drop folders here" — and, while the first analysis runs, what it is doing (instead of the invitation)."""
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addStretch(2)
        self.empty_title = QLabel(EMPTY_TITLE)
        self.empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_title.setWordWrap(True)
        font = self.empty_title.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        self.empty_title.setFont(font)
        self.empty_hint = QLabel(EMPTY_HINT)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setEnabled(False)
        self.empty_progress = QProgressBar()
        self.empty_progress.setMaximumWidth(420)
        self.empty_progress.hide()
        self.empty_button = QPushButton("Add Folder…")
        self.empty_button.clicked.connect(self.choose_folder)
        self.empty_button.setFixedWidth(180)
        layout.addWidget(self.empty_title)
        layout.addWidget(self.empty_hint)
        layout.addSpacing(12)
        layout.addWidget(self.empty_progress, alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.empty_button, alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addStretch(3)
        return page

    def _show_first_progress(self, text: str | None, done: int = 0, total: int | None = None) -> None:
        """Before there is a map, the map area says what the analysis is doing (None: back to the invitation)."""
        if self.stack.currentIndex() != 0:
            return
        working = text is not None
        self.empty_title.setText("Reading your library…" if working else EMPTY_TITLE)
        self.empty_hint.setText(text if working else EMPTY_HINT)
        self.empty_button.setVisible(not working)
        self.empty_progress.setVisible(working)
        if working:
            self.empty_progress.setRange(0, total or 0)
            if total:
                self.empty_progress.setValue(min(done, total))

    def _build_docks(self) -> None:
        self.docks: dict[str, QDockWidget] = {}
        right = Qt.DockWidgetArea.RightDockWidgetArea
        for title, widget in (("Groups", self.groups), ("Library", self.library_panel),
                              ("Search Results", self.hits), ("Duplicates and Bursts", self.culling)):
            dock = QDockWidget(title, self)
            dock.setObjectName(title)
            dock.setWidget(widget)
            self.addDockWidget(right, dock)
            self.docks[title] = dock
        # The library (a few folder rows) sits under the groups, not in a column of its own beside the map; the
        # search results and the sets share the groups' place as tabs when shown.
        self.splitDockWidget(self.docks["Groups"], self.docks["Library"], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["Groups"], self.docks["Library"]], [600, 110], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["Groups"]], [360], Qt.Orientation.Horizontal)  # room for the names
        self.tabifyDockWidget(self.docks["Groups"], self.docks["Search Results"])
        self.tabifyDockWidget(self.docks["Groups"], self.docks["Duplicates and Bursts"])
        self.docks["Search Results"].hide()
        self.docks["Duplicates and Bursts"].hide()

    # -- the library -------------------------------------------------------------------------------
    def _bind(self, library: Library) -> None:
        """Show ``library`` and follow its signals (the previous library's are let go)."""
        for signal, slot in self._connections:
            signal.disconnect(slot)
        self._connections = []
        self.library = library
        library.embed = self.embed_settings()
        state = library.state
        for signal, slot in ((library.resultChanging, self.result_changing),
                             (library.groupsChanged, self.groups_changed),
                             (library.setsChanged, self.sets_changed), (library.lastExportChanged, self.update_actions),
                             (library.metadataChanged, self.metadata_changed),
                             (library.foldersChanged, self._show_folders),
                             (library.history.changed, self.update_undo_actions),
                             (state.selectionChanged, self.state_selection_changed),
                             (state.marksChanged, self.marks_changed), (state.filterChanged, self.filter_changed)):
            signal.connect(slot)
            self._connections.append((signal, slot))
        self.setWindowTitle(f"PhotoAtlas — {library.name}" if library.catalogue is not None else "PhotoAtlas")
        self._show_settings()
        self._show_folders()
        self.clear_views()
        if library.path is not None:
            self._remember("recent/libraries", str(library.path))
            self.settings.setValue("last/library", str(library.path))
        self.update_actions()

    def _use_library(self, library: Library, analyze: bool = True) -> None:
        """Close the library shown and show ``library`` instead (everything of the old one is saved already)."""
        old = self.library
        self._bind(library)
        if old is not library:
            old.close()
        if analyze and library.folders:
            self.analyze()

    def _open_library(self, make: Any, analyze: bool = True) -> bool:
        """``make()`` opens or creates a library, shown (and analysed); one message (and False) when it cannot."""
        if self.busy():
            self.show_error("Wait for the running job to finish (or cancel it) before opening another library")
            return False
        try:
            library = make()
        except PhotoAtlasError as exc:
            self.show_error(exc.user_message)
            return False
        self._use_library(library, analyze)
        return True

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
        from desktop_app.core.app_dirs import default_library_dir

        return self.library_dir or default_library_dir()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add Folder", self._last_dir())
        if folder:
            self.add_paths([folder], analyze=True)

    def add_paths(self, paths: list[str], analyze: bool = False) -> None:
        """Add folders or files to the library (a window without one opens the library of exactly these folders,
        or starts it); optionally analyse."""
        existing = [os.path.abspath(p) for p in paths if os.path.exists(p)]
        if not existing or (self.busy() and self.library.catalogue is None):
            return
        for p in existing:
            self._remember("recent/folders", p)
        if self.library.catalogue is None and not self.library.folders:
            def make() -> Library:
                library = Library.for_folders(existing, library_dir=self.library_dir, embed=self.embed_settings())
                if library.catalogue is not None and library.catalogue.meta("settings") is None:
                    self._toolbar_to(library)  # a new library starts with the toolbar's model and grouping
                return library

            self._open_library(make, analyze)
            return
        added = self.library.add_folders(existing)
        if analyze and (added or self.result is None):
            self.analyze()
        self.update_actions()

    def _show_folders(self) -> None:
        result = self.library.result
        self.library_panel.show_library(self.library.folders, result.paths if result is not None else [],
                                        result.skipped if result is not None else [])
        self.update_actions()

    def dragEnterEvent(self, event: Any) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths, analyze=True)

    def decide(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call one of the library's decisions; a catalogue that cannot be written is one message (the decision
        was not made), never a crash."""
        try:
            return method(*args, **kwargs)
        except PhotoAtlasError as exc:
            self.show_error(exc.user_message)
            return None

    # -- settings of the library: the toolbar ------------------------------------------------------
    def _show_settings(self) -> None:
        """The toolbar shows the library's model, map and grouping."""
        s = self.library.settings
        boxes = (self.model_box, self.reducer_box, self.clusterer_box, self.param_box, self.prompts_edit)
        for box in boxes:
            box.blockSignals(True)
        if self.library.catalogue is not None:
            self._show_model(s.model)
            self.reducer_box.setCurrentIndex(max(0, self.reducer_box.findData(s.analysis.reducer)))
            self.clusterer_box.setCurrentIndex(max(0, self.clusterer_box.findData(s.analysis.clusterer)))
            params = s.analysis.cluster_params
            knob = "min_samples" if s.analysis.clusterer == "hdbscan" else "k"
            value = params.get(knob, 0)
            self.param_box.setValue(value if isinstance(value, int) else 0)
            self.prompts_edit.setText(", ".join(params.get("prompts", [])))
        for box in boxes:
            box.blockSignals(False)
        actions.show_clusterer_controls(self)
        self._regroup_timer.stop()

    def _toolbar_to(self, library: Library) -> None:
        """The toolbar's choices become ``library``'s settings (a new library takes what the user set up)."""
        library.set_model(self.model_box.currentData() or DEFAULT_MODEL)
        library.set_reducer(self.reducer_box.currentData())
        params = self.chosen_params()
        if params is not None:
            library.set_grouping(self.clusterer_box.currentData(), params)

    def chosen_params(self) -> dict[str, Any] | None:
        """The grouping parameters the toolbar shows, by the same rule as the command line's (None: "By prompts"
        with no prompts typed yet)."""
        name, value = self.clusterer_box.currentData(), self.param_box.value() or None
        try:
            return grouping_params(name, k=value if name in ("kmeans", "agglomerative") else None,
                                   min_samples=value if name == "hdbscan" else None,
                                   prompts=self.prompts_edit.text() if name == "prompts" else None)
        except BadArgument:
            return None

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

    def reducer_chosen(self) -> None:
        self.library.set_reducer(self.reducer_box.currentData())

    def clusterer_changed(self) -> None:
        actions.show_clusterer_controls(self)
        self.regroup_soon()

    def regroup_soon(self) -> None:
        self._regroup_timer.start()

    def regroup(self) -> None:
        """The groups again with the toolbar's grouping, on the map already drawn (no new embedding)."""
        self._regroup_timer.stop()  # Enter in the prompts box and a pending parameter change: one job, not two
        params = self.chosen_params()
        name = self.clusterer_box.currentData()
        if params is None:
            if self.result is not None:
                self.idle("Type prompts, e.g. “ceremony, portraits, food”, and press Enter")
            return
        self.library.set_grouping(name, params)
        if self.result is None or self.busy() or self._closing or not self.library.needs_regroup():
            return
        self.run_job(self.library.regroup_job(), lambda analysis: self.idle(_groups_text(analysis)))

    # -- analysis ----------------------------------------------------------------------------------
    def run_job(self, job: Job[Any] | None, done: Any = None) -> bool:
        """Start one of the library's jobs (one at a time); False when another runs."""
        if job is None or self._closing:
            return False
        started = self.jobs.start(job, done, items=len(self.result.items) if self.result is not None else 0)
        self.update_actions()
        return started

    def analyze(self) -> None:
        """Analyse the library — after asking, when the model would have to be downloaded first."""
        if not self.folders or self.busy():
            return
        model = self.library.settings.model
        if self.offline or not self.ask_before_download or model in self._download_agreed:
            self._run_analysis()
            return
        # Opening a library must never start a ~600 MB download by itself. Whether the weights are on disk is
        # checked on the worker thread: for open_clip's names that imports torch.
        self.run_job(Job("Checking the model", lambda _token: _check_model(model), lambda d: d),
                     lambda download: self._model_checked(download))

    def _model_checked(self, download: Download | None) -> None:
        if download is not None:
            if not self.confirm_download(download):
                self.idle(f"Not analysed: the model {download.model} is not downloaded. Analyze asks again; "
                          "Model ▸ Local Model Folder… uses one you have")
                return
            self._download_agreed.add(download.model)
        self._run_analysis()

    def confirm_download(self, download: Download) -> bool:
        """Ask the user whether to download the model (tests replace this method)."""
        size = f"about {download.size_mb} MB" if download.size_mb else "size not known in advance"
        box = QMessageBox(QMessageBox.Icon.Question, "Download the model?",
                          f"The model {download.model} is not on this computer yet.", parent=self)
        box.setInformativeText(f"Download it once ({size}) from {hub_host()}, repository {download.repo}? It is "
                               "kept for next time.\n\nTo use a model folder you already have instead, choose Not "
                               "Now and then Model ▸ Local Model Folder…")
        download_button = box.addButton("Download", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(box.addButton("Not Now", QMessageBox.ButtonRole.RejectRole))
        box.exec()
        return box.clickedButton() is download_button

    def _run_analysis(self) -> None:
        self.jobs.model_name = self.library.settings.model
        job = self._try(self.library.analysis_job)
        self.run_job(job, self.analysis_done)

    def _try(self, make: Any, *args: Any) -> Any:
        """A job from the library, or one message saying why there is none (None)."""
        try:
            return make(*args)
        except PhotoAtlasError as exc:
            self.idle(exc.user_message[:1].upper() + exc.user_message[1:])
            return None

    def cancel(self) -> None:
        self.jobs.cancel()

    def analysis_done(self, result: Any) -> None:
        """A new analysis is in the library (the analysis job, or ``library.take_result``): show it."""
        if len(self.jobs.embed_span) == 2:  # how fast this model read new items on this computer (the Model menu)
            record_speed(self.settings, result.model.get("name", ""), result.stats.get("embedded", 0),
                         self.jobs.embed_span[1] - self.jobs.embed_span[0])
        if self.stack.currentIndex() == 0:
            self.stack.setCurrentWidget(self.map)
        self.show_result()
        s = result.stats
        self.idle(f"{s['items']:,} items ({s['embedded']:,} read now, {s['from_cache']:,} from cache, "
                  f"{s['skipped']:,} skipped) · {_groups_text(self.analysis)} · {s['seconds']:.1f} s")
        self._show_folders()
        if self.library.needs_regroup():
            self.regroup_soon()  # a regrouping is chosen, or the settings were changed while the analysis ran
        if os.environ.get("PHOTOATLAS_TIMING"):  # benchmarks/first_map.py reads this line
            from desktop_app import STARTED

            print(f"photoatlas: map drawn after {time.monotonic() - STARTED:.2f} s", file=sys.stderr)
        self.analysisFinished.emit()

    # -- models ------------------------------------------------------------------------------------
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

    # -- messages ----------------------------------------------------------------------------------
    def idle(self, message: str) -> None:
        """A job ended (or nothing runs): ``message`` is its outcome, kept until the next job says otherwise."""
        self.progress.hide()
        self.stage_label.setText(message)
        self.stage_label.setToolTip(message)
        self._show_first_progress(None)

    def _failed(self, message: str, details: str) -> None:
        self.idle(f"Failed: {(message.strip().splitlines() or [''])[0]}")  # one line; the details are in the box
        self.show_error(message, details)
        self.jobFailed.emit(message)

    def show_error(self, message: str, details: str = "") -> None:
        """One clear message; the details (a traceback) are there to copy, not in the user's face."""
        print(f"photoatlas: error: {message}", file=sys.stderr)
        if not self.interactive_errors:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "PhotoAtlas", message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()

    def about(self) -> None:
        from desktop_app import __version__

        where = f"\n\nThis library: {self.library.path}" if self.library.path is not None else ""
        QMessageBox.about(self, "About PhotoAtlas", f"PhotoAtlas {__version__}\n\nA map of your photos and notes, "
                          f"made with CLIP on this computer.{where}")

    # -- projects and export -----------------------------------------------------------------------
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
        if dialog.exec() == QDialog.DialogCode.Accepted:
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
        self.idle(f"Undid the export: {summary.reversed} files reversed{kept}")
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

    # -- settings and lifecycle --------------------------------------------------------------------
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

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        """Closing mid-run cancels the job and waits until its thread has really ended. Nothing is asked: every
        decision is in the library's catalogue already."""
        self._closing = True
        self._regroup_timer.stop()
        self.jobs.shut_down()
        self.thumbnails.close()  # running decodes (a picture each) finish; nothing new starts after this
        self.map.close_thumbnails()
        self.grid.shutdown()
        self.loupe.shutdown()
        self.compare.shutdown()
        self._save_settings()
        self.library.close()
        event.accept()


def _json_setting(value: Any) -> Any:
    """A JSON value kept in QSettings (None when absent or damaged: a setting never stops the app)."""
    try:
        return json.loads(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _check_model(model: str) -> Any:
    """The job behind "Checking the model": what using ``model`` would download (None: nothing)."""
    yield ProgressEvent("load-model", 0, None, "checking whether the model is on this computer")
    return needed_download(model)


def application() -> QApplication:
    """The QApplication (created once), named so QSettings and the cache find their folders."""
    existing = QApplication.instance()
    app = existing or QApplication(sys.argv[:1])
    app.setOrganizationName("PhotoAtlas")
    app.setApplicationName("PhotoAtlas")
    if existing is None:
        icon = QIcon()
        for png in icon_files():
            icon.addFile(str(png))
        app.setWindowIcon(icon)
        app.setDesktopFileName("photoatlas")  # Wayland/X11 match the window to photoatlas.desktop's icon
    return app  # type: ignore[return-value]


def _groups_text(analysis: Analysis | None) -> str:
    """"12 groups", or "12 groups (3 with sub-groups)" where groups open into sub-groups."""
    if analysis is None:
        return "no groups"
    families = len({c.parent for c in analysis.subclusters})
    return f"{len(analysis.clusters)} groups" + (f" ({families} with sub-groups)" if families else "")

