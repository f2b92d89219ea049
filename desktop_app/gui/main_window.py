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
    QDockWidget,
    QFileDialog,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
)

from desktop_app.core.analysis.groupings import grouping_params
from desktop_app.core.analysis.model import Analysis
from desktop_app.core.embedding.downloads import Download, needed_download
from desktop_app.core.embedding.settings import EmbedSettings
from desktop_app.core.errors import BadArgument, PhotoAtlasError
from desktop_app.core.filenames import printable
from desktop_app.core.ingest.thumbnails import thumbnail_folder
from desktop_app.core.library.decisions import GROUP_KINDS
from desktop_app.core.library.jobs import Job
from desktop_app.core.library.library import Library
from desktop_app.core.model_names import DEFAULT_MODEL
from desktop_app.core.progress import ProgressEvent, StageTimes
from desktop_app.gui import actions
from desktop_app.gui.compare import CompareView
from desktop_app.gui.culling import CullingPanel
from desktop_app.gui.download_dialog import ask_to_download
from desktop_app.gui.empty_state import EMPTY_TITLE, EmptyState  # noqa: F401  (EMPTY_TITLE: re-exported)
from desktop_app.gui.grid_view import GridView
from desktop_app.gui.jobs import JobRunner
from desktop_app.gui.library_files import FilesMixin
from desktop_app.gui.loupe import LoupeView
from desktop_app.gui.map_view import THUMB_PX, MapView
from desktop_app.gui.models_menu import record_speed
from desktop_app.gui.panels import GroupsPanel, LibraryPanel
from desktop_app.gui.review_window import ReviewMixin
from desktop_app.gui.thumbs import ThumbnailService
from desktop_app.gui.tooltips import plain_tip
from desktop_app.resources import icon_files

GUI_BATCH = 8  # CPU batches of 8 keep Cancel well under a second with a ViT-B model
MAX_RECENT = 8
REGROUP_DELAY_MS = 350  # typing "25" in the parameter box is one re-grouping, not two


class MainWindow(FilesMixin, ReviewMixin, QMainWindow):
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
        self.empty = EmptyState()
        self.empty.button.clicked.connect(self.choose_folder)
        self.stack.addWidget(self.empty)
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
    def _show_first_progress(self, text: str | None, done: int = 0, total: int | None = None) -> None:
        """Before there is a map, the map area says what the analysis is doing (None: back to the invitation)."""
        if self.stack.currentIndex() == 0:
            self.empty.show_progress(text, done, total)

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
                             (library.history.applied, self._decision_made),
                             (state.selectionChanged, self.state_selection_changed),
                             (state.marksChanged, self.marks_changed), (state.filterChanged, self.filter_changed)):
            signal.connect(slot)
            self._connections.append((signal, slot))
        named = library.catalogue is not None
        self.setWindowTitle(f"PhotoAtlas — {printable(library.name)}" if named else "PhotoAtlas")
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

    def _decision_made(self, change: Any, undone: bool) -> None:
        """A group decision says what it did in the status bar (marks are seen on the pictures themselves)."""
        if not undone and change.kinds & GROUP_KINDS:
            self.idle(change.text)

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
        return ask_to_download(self, download)

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

    # -- messages ----------------------------------------------------------------------------------
    def idle(self, message: str) -> None:
        """A job ended (or nothing runs): ``message`` is its outcome, kept until the next job says otherwise (one line,
        a file name in it shown escaped: ``filenames.printable``)."""
        message = printable(message)
        self.progress.hide()
        self.stage_label.setText(message)
        self.stage_label.setToolTip(plain_tip(message))
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

    # -- settings and lifecycle --------------------------------------------------------------------

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

