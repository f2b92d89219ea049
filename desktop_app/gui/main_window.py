"""The main window: library, controls, the map, groups, search. It translates between the user and core;
every slow call runs in a ``PipelineWorker`` off the GUI thread."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.analysis.analyze import recluster, warm_up_layout
from desktop_app.core.analysis.edits import GroupEdits, apply_edits
from desktop_app.core.analysis.groupings import REGROUPINGS, parse_prompts
from desktop_app.core.analysis.layout import REDUCERS
from desktop_app.core.analysis.model import Analysis, AnalysisSettings
from desktop_app.core.analysis.search import Ranking, rank
from desktop_app.core.documents.project import PROJECT_SUFFIX, Project
from desktop_app.core.documents.results import write_csv
from desktop_app.core.embedding.downloads import Download, Recommended, needed_download, remove_download
from desktop_app.core.embedding.pipeline import (
    EmbedResult,
    EmbedSettings,
    group_by_events,
    group_by_prompts,
    query_vector,
    run_analysis,
)
from desktop_app.core.errors import BadArgument
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.export.run import run_export
from desktop_app.core.export.undo import undo_export
from desktop_app.core.ingest.thumbnails import thumbnail_folder
from desktop_app.core.library.state import Command, LibraryState
from desktop_app.core.metadata.photo_meta import PhotoMeta
from desktop_app.core.model_names import DEFAULT_MODEL, FASTER_MODEL, MORE_ACCURATE_MODEL
from desktop_app.core.progress import CancelToken, ProgressEvent, StageTimes
from desktop_app.core.review.duplicates import apply_picks, sets_from_json, sets_to_json
from desktop_app.core.review.marks import Marks
from desktop_app.core.review.sidecar_marks import read_sidecar_marks
from desktop_app.gui.compare import CompareView
from desktop_app.gui.culling import CullingPanel
from desktop_app.gui.download_dialog import DownloadDialog, duration_text, hub_host
from desktop_app.gui.export_dialog import ExportDialog
from desktop_app.gui.filter_bar import FilterBar
from desktop_app.gui.grid_view import GridView
from desktop_app.gui.loupe import LoupeView
from desktop_app.gui.map_view import THUMB_PX, MapView
from desktop_app.gui.models_menu import ModelsMenu, record_speed
from desktop_app.gui.panels import GroupsPanel, LibraryPanel
from desktop_app.gui.review_actions import PhotoMenu
from desktop_app.gui.review_window import ReviewMixin
from desktop_app.gui.thumbs import ThumbnailService
from desktop_app.gui.worker import PipelineWorker
from desktop_app.resources import icon_files

MODELS = [("Default", DEFAULT_MODEL), ("Faster", FASTER_MODEL), ("More accurate", MORE_ACCURATE_MODEL)]
CLUSTERER_LABELS = [("HDBSCAN", "hdbscan"), ("K-Means", "kmeans"),
                    ("Agglomerative", "agglomerative"), ("By prompts", "prompts"), ("By events", "events")]
STAGE_LABELS = {"scan": "Looking for pictures and notes", "download": "Downloading the model",
                "load-model": "Loading the model", "embed": "Reading pictures and notes", "layout": "Drawing the map",
                "name": "Naming groups", "cluster": "Finding groups", "search": "Searching", "export": "Exporting",
                "undo": "Undoing the export", "marks": "Reading ratings", "metadata": "Reading dates and cameras",
                "duplicates": "Comparing pictures", "quality": "Measuring sharpness", "done": "Done"}
SEARCH_HITS = 50
EMPTY_TITLE = "Drop folders here, or Add Folder…"
EMPTY_HINT = ("PhotoAtlas reads the pictures and notes inside, puts similar ones together on a map, and finds the "
              "groups. Nothing leaves this computer.")
GUI_BATCH = 8  # CPU batches of 8 keep Cancel well under a second with a ViT-B model
MAX_RECENT = 8


class MainWindow(ReviewMixin, QMainWindow):
    """``analysisFinished`` fires when a map is on screen (tests and --screenshot wait for it)."""

    analysisFinished = Signal()
    jobFailed = Signal(str)
    exportFinished = Signal(object)  # ExportSummary or UndoSummary

    def __init__(self, *, model: str | None = None, cache_dir: Path | None = None, offline: bool = False,
                 interactive_errors: bool = True, remember_layout: bool = True, ask_before_download: bool = True,
                 warm_start: bool = False) -> None:
        super().__init__()
        self.setWindowTitle("PhotoAtlas[*]")
        self.setAcceptDrops(True)
        self.cache_dir = cache_dir
        self.offline = offline
        self.interactive_errors = interactive_errors
        self.remember_layout = remember_layout  # off for --screenshot: the same picture on every machine
        self.ask_before_download = ask_before_download  # off for --quit-when-done: the command line was the ask
        self._download_agreed: set[str] = set()  # models the user said yes to in this session
        self.settings = QSettings("PhotoAtlas", "PhotoAtlas")
        self.folders: list[str] = []
        self.result: EmbedResult | None = None
        self.base: Analysis | None = None  # what the clusterer found
        self.analysis: Analysis | None = None  # ... with the user's edits on top
        self.edits = GroupEdits()
        self.project_path: Path | None = None
        self.last_export: Path | None = None
        self.worker: PipelineWorker | None = None
        self._outcome: Any = None  # the finished job's handler, run once its thread has ended
        self._stage_started = (None, 0.0)
        self._embed_span: list[float] = []  # when the "embed" stage began and ended: the speed the Model menu shows
        self.download_dialog: DownloadDialog | None = None  # shown while a job downloads the model
        self._analysed_model = ""  # the model the running analysis uses (the box may change meanwhile)
        self._last_ranking: Ranking | None = None
        self._closing = False
        self._expanded: set[int] = set()  # duplicate/burst sets shown open while the others are collapsed
        # What every view shows and changes: selection, marks, filter, the current picture; edits are undoable.
        self.state = LibraryState()
        self.state.selectionChanged.connect(self._state_selection_changed)
        self.state.marksChanged.connect(self._marks_changed)
        self.state.undo_stack.changed.connect(self._update_undo_actions)

        side = round(THUMB_PX * max(1.0, self.devicePixelRatioF()))
        self.thumbnails = ThumbnailService(thumbnail_folder(cache_dir), self, side=side)
        self.map = MapView(self.thumbnails)
        self.map.selectionChanged.connect(self._selection_changed)
        self.map.itemActivated.connect(self._preview)
        self.map.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.map.customContextMenuRequested.connect(self._map_menu)
        # The views of the library: the map, the grid (lightbox), the loupe and compare. One shows at a time
        # in the central area; all of them observe the same state.
        self.grid = GridView(thumbnail_folder(cache_dir))
        self.grid.openLoupe.connect(lambda _row: self.show_view("loupe"))
        self.grid.contextMenuRequested.connect(lambda rows, pos: self._item_menu(rows, pos))
        self.loupe = LoupeView()
        self.loupe.closed.connect(lambda: self.show_view(self._before_loupe))
        self.compare = CompareView()
        self.compare.bestChosen.connect(self._best_chosen)
        self.compare.setChanged.connect(self._compare_set_changed)
        self._before_loupe = "grid"
        self._chrome: Any = None  # the window's toolbars and docks while the loupe is full screen
        self._collection: tuple[list[int] | None, str] = (None, "All pictures")  # what the grid shows
        self.stack = QStackedWidget()
        self.stack.addWidget(self._empty_state())
        for view in (self.map, self.grid, self.loupe, self.compare):
            self.stack.addWidget(view)
        self.setCentralWidget(self.stack)

        self.library = LibraryPanel()
        self.groups = GroupsPanel(self.thumbnails)
        self.groups.colour_of = self.map.colour_of  # swatches in the map's own colours
        self.groups.groupActivated.connect(self._group_activated)
        self.groups.groupRenamed.connect(self._group_renamed)
        self.groups.visibilityChanged.connect(self._visibility_changed)
        self.groups.mergeRequested.connect(self._merge_groups)
        self.groups.moveSelectionRequested.connect(self._move_selection_to)
        self.groups.rowsDropped.connect(self._move_rows_to)
        self.culling = CullingPanel()
        self.culling.setActivated.connect(self._set_activated)
        self.hits = QListWidget()
        self.hits.itemActivated.connect(self._hit_activated)
        self.hits.itemClicked.connect(self._hit_activated)
        self._docks = {}
        for title, widget, area in (("Groups", self.groups, Qt.DockWidgetArea.RightDockWidgetArea),
                                    ("Library", self.library, Qt.DockWidgetArea.RightDockWidgetArea),
                                    ("Search Results", self.hits, Qt.DockWidgetArea.RightDockWidgetArea),
                                    ("Duplicates and Bursts", self.culling, Qt.DockWidgetArea.RightDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(title)
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self._docks[title] = dock
        # The library (a few folder rows) sits under the groups, not in a column of its own beside the map; the
        # search results and the sets share the groups' place as tabs when shown.
        self.splitDockWidget(self._docks["Groups"], self._docks["Library"], Qt.Orientation.Vertical)
        self.resizeDocks([self._docks["Groups"], self._docks["Library"]], [600, 110], Qt.Orientation.Vertical)
        self.resizeDocks([self._docks["Groups"]], [360], Qt.Orientation.Horizontal)  # room for the names
        self.tabifyDockWidget(self._docks["Groups"], self._docks["Search Results"])
        self.tabifyDockWidget(self._docks["Groups"], self._docks["Duplicates and Bursts"])
        self._docks["Search Results"].hide()
        self._docks["Duplicates and Bursts"].hide()

        # Parameter changes re-cluster after a short pause (typing "25" is one re-cluster, not two).
        self._recluster_timer = QTimer(self, singleShot=True, interval=350)
        self._recluster_timer.timeout.connect(self._recluster)
        # The running stage's time left is refreshed every second, also while it reports nothing (drawing the map).
        self._progress_timer = QTimer(self, interval=1000)
        self._progress_timer.timeout.connect(self._show_progress)
        self._last_event: ProgressEvent | None = None
        self._job_items = 0
        self._filtered = False  # a filter was on (its end is worth a word in the status bar)
        self._project_sets: dict | None = None  # duplicate sets an opened project found before
        self.stage_times = StageTimes.from_json(_json_setting(self.settings.value("eta/stage_times", "")))
        self._build_actions()
        # The model chosen last time, unless the caller names one (--model, a project).
        self._build_toolbar(model or str(self.settings.value("last/model", "") or "") or None)
        self._build_menus()
        self._build_status()
        self._restore_settings()
        self._update_actions()
        if warm_start:  # the app (not tests): the layout helper starts and compiles while the user picks a folder
            warm_up_layout()

    # -- construction -------------------------------------------------------------------------------
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
        working = text is not None
        self.empty_title.setText("Reading your library…" if working else EMPTY_TITLE)
        self.empty_hint.setText(text if working else EMPTY_HINT)
        self.empty_button.setVisible(not working)
        self.empty_progress.setVisible(working)
        if working:
            self.empty_progress.setRange(0, total or 0)
            if total:
                self.empty_progress.setValue(min(done, total))

    def _action(self, text: str, slot: Any, shortcut: Any = None, checkable: bool = False, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.setStatusTip(tip or text.replace("…", ""))
        (action.toggled if checkable else action.triggered).connect(slot)
        return action

    def _build_actions(self) -> None:
        S = QKeySequence.StandardKey
        self.act_add = self._action("Add Folder…", self.choose_folder, "Ctrl+Shift+O",
                                    tip="Add a folder to the library")
        self.act_open = self._action("Open Project…", self.choose_project, S.Open)
        self.act_save = self._action("Save Project", self.save_project, S.Save)
        self.act_save_as = self._action("Save Project As…", lambda: self.save_project(ask=True), S.SaveAs)
        self.act_export_groups = self._action("Export Groups…", self.export_groups, "Ctrl+E",
                                              tip="Copy, link or move the groups into folders; XMP keywords")
        self.act_undo_export = self._action("Undo Last Export", self.undo_last_export,
                                            tip="Reverse the last export (moved files go back)")
        self.act_export = self._action("Export Results…", self.export_results, "Ctrl+Shift+E",
                                       tip="Write the results document (JSON) and a table (CSV)")
        self.act_quit = self._action("Quit", self.close, S.Quit)
        self.act_analyze = self._action("Analyze", self.analyze, "Ctrl+R", tip="Read, embed and map the library")
        self.act_cancel = self._action("Cancel", self.cancel, "Esc", tip="Stop the running job")
        self.act_fit = self._action("Fit All", self.map.fit_all, "Ctrl+0")
        self.act_zoom_sel = self._action("Zoom to Selection", lambda: self.map.zoom_to(sorted(self.map.selected)),
                                         "Ctrl+2")
        self.act_outliers = self._action("Highlight Outliers", self._toggle_outliers, "Ctrl+Shift+L",
                                         checkable=True)
        self.act_tidy = self._action("Tidy", self.map.set_tidy, "Ctrl+T", checkable=True,
                                     tip="Lay each group's pictures on a grid around its place, none hidden under "
                                         "another (Ctrl+T)")
        self.act_more = self._action("More Like This", self.more_like_this, "Ctrl+M",
                                     tip="Rank everything by similarity to the selected item")
        self.act_select_all = self._action("Select All", self.select_all, S.SelectAll)
        self.act_new_group = self._action("New Group from Selection", self._new_group_from_selection, "Ctrl+G")
        self.act_merge = self._action("Merge Selected Groups",
                                      lambda: self._merge_groups(self.groups.selected_groups()), "Ctrl+Shift+M")
        self.act_search = self._action("Search", lambda: self.search_box.setFocus(), S.Find)
        self.act_find_dups = self._action("Find Duplicates && Bursts", self.find_duplicates, "Ctrl+D",
                                          tip="Group near-identical shots and bursts; pick the best frame of each")
        self.act_collapse = self._action("Collapse Duplicates && Bursts", self._show_collapsed, "Ctrl+Shift+D",
                                         checkable=True, tip="Show each set as its best frame with a count")
        self.view_actions: dict[str, QAction] = {}
        self._view_group = QActionGroup(self)
        for name, text, key, tip in (
                ("map", "Map", "M", "The map of the library (M)"),
                ("grid", "Grid", "G", "The pictures as a grid: a group, the selection, search results (G)"),
                ("loupe", "Loupe", "E", "One picture large, with its details; ←/→ for the next (E)"),
                ("compare", "Compare", "C", "Near-duplicates and bursts side by side: keep the best frame (C)")):
            action = self._action(text, lambda _c=False, n=name: self.show_view(n), key, tip=tip)
            action.setCheckable(True)
            self._view_group.addAction(action)
            self.view_actions[name] = action
        self.view_actions["map"].setChecked(True)
        self.act_undo = self._action("Undo", self.undo, S.Undo)
        self.act_redo = self._action("Redo", self.redo, S.Redo)
        self.act_make_best = self._action("Make Best Frame", self.make_best_frame, "Ctrl+B",
                                          tip="Make the selected picture the best frame of its set")

    def _build_toolbar(self, model: str | None) -> None:
        # Two rows, each fitting a 1,024-px window: what the user does all the time (views, search, the map's
        # tools), then how the library is analysed (model, map, grouping), set once and then left alone.
        main = QToolBar("Main")
        main.setObjectName("main-toolbar")
        main.setMovable(False)
        self.addToolBar(main)
        main.addAction(self.act_add)
        main.addSeparator()
        for action in self.view_actions.values():
            main.addAction(action)
        main.addSeparator()
        self.addToolBarBreak()
        bar = QToolBar("Analysis")
        bar.setObjectName("analysis-toolbar")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.model_box = QComboBox()
        self.model_box.setMaximumWidth(220)
        self.model_box.setToolTip("CLIP model that reads pictures and notes")
        for label, name in MODELS:
            self.model_box.addItem(f"{label} ({name.split(':')[0]})", name)
        self.model_box.addItem("Local model folder…", "")
        if model and self.model_box.findData(model) < 0:
            self.model_box.insertItem(0, _model_label(model), model)
        if model:
            self.model_box.setCurrentIndex(self.model_box.findData(model))
        self.model_box.activated.connect(self._model_chosen)
        bar.addWidget(QLabel(" Model "))
        bar.addWidget(self.model_box)
        self.reducer_box = QComboBox()
        for name in REDUCERS:
            self.reducer_box.addItem({"umap": "UMAP", "tsne": "t-SNE", "pca": "PCA"}.get(name, name), name)
        self.reducer_box.setToolTip("How the map is drawn (changing it redraws the map on the next Analyze)")
        bar.addWidget(QLabel("  Map "))
        bar.addWidget(self.reducer_box)
        self.clusterer_box = QComboBox()
        for label, name in CLUSTERER_LABELS:
            self.clusterer_box.addItem(label, name)
        self.clusterer_box.currentIndexChanged.connect(self._clusterer_changed)
        bar.addWidget(QLabel("  Groups "))
        bar.addWidget(self.clusterer_box)
        self.param_box = QSpinBox()
        self.param_box.setRange(0, 10000)
        self.param_box.setSpecialValueText("auto")
        self.param_box.valueChanged.connect(lambda _v: self._recluster_timer.start())
        self.param_label = QLabel()
        bar.addWidget(self.param_label)
        self._param_action = bar.addWidget(self.param_box)
        self.prompts_edit = QLineEdit()
        self.prompts_edit.setPlaceholderText("ceremony, portraits, food, landscape")
        self.prompts_edit.setToolTip("One group per prompt (comma-separated); items matching none go to “Other”")
        self.prompts_edit.setMinimumWidth(220)
        self.prompts_edit.returnPressed.connect(self._recluster)
        self._prompts_action = bar.addWidget(self.prompts_edit)
        self._clusterer_changed()
        bar.addSeparator()
        bar.addAction(self.act_analyze)
        bar.addAction(self.act_cancel)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search, e.g. “dog on a beach”")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setMinimumWidth(200)
        self.search_box.returnPressed.connect(self.search)
        self.search_box.textChanged.connect(lambda t: None if t else self.clear_search())
        main.addWidget(self.search_box)
        main.addAction(self.act_more)
        main.addSeparator()
        main.addAction(self.act_fit)
        main.addAction(self.act_outliers)
        main.addAction(self.act_tidy)
        # The filter bar: a second row, shown with View > Filter Bar (or "\\", Lightroom's key for it).
        self.addToolBarBreak()
        self.filter_bar = self.filter_toolbar = FilterBar()
        self.filter_bar.filterChanged.connect(self.state.set_filter)
        self.filter_bar.metadataWanted.connect(self.read_metadata)
        self.addToolBar(self.filter_toolbar)
        self.filter_toolbar.hide()
        self.state.filterChanged.connect(self._filter_changed)

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file = menus.addMenu("&File")
        for a in (self.act_add, self.act_open):
            file.addAction(a)
        self.recent_menu = file.addMenu("Recent Folders")
        file.addSeparator()
        for a in (self.act_save, self.act_save_as, self.act_export_groups, self.act_undo_export, self.act_export):
            file.addAction(a)
        file.addSeparator()
        file.addAction(self.act_quit)
        edit = menus.addMenu("&Edit")
        edit.addAction(self.act_undo)
        edit.addAction(self.act_redo)
        edit.addSeparator()
        edit.addAction(self.act_select_all)
        edit.addAction(self.act_search)
        view = menus.addMenu("&View")
        for a in self.view_actions.values():
            view.addAction(a)
        view.addSeparator()
        for a in (self.act_fit, self.act_zoom_sel, self.act_outliers, self.act_tidy):
            view.addAction(a)
        view.addSeparator()
        filters = self.filter_toolbar.toggleViewAction()
        filters.setText("Filter Bar")
        filters.setShortcut(QKeySequence("\\"))
        view.addAction(filters)
        view.addSeparator()
        for dock in self._docks.values():
            view.addAction(dock.toggleViewAction())
        self.photo_menu = PhotoMenu(lambda: self.state, self.mark_targets, self)
        menus.addMenu(self.photo_menu)
        cull = menus.addMenu("&Cull")
        for a in (self.act_find_dups, self.act_collapse, self.act_make_best):
            cull.addAction(a)
        groups = menus.addMenu("&Groups")
        for a in (self.act_analyze, self.act_cancel, self.act_new_group, self.act_merge, self.act_more):
            groups.addAction(a)
        self.models_menu = ModelsMenu(self)
        menus.addMenu(self.models_menu)
        help_ = menus.addMenu("&Help")
        help_.addAction("About PhotoAtlas", self._about)
        self._refresh_recent()

    def _build_status(self) -> None:
        # The outcome of the last job (stage_label) and the selection (selection_label) have places of their own:
        # selecting a picture never hides "exported 120 files" or "undid the export".
        self.selection_label = QLabel()
        self.selection_label.setMaximumWidth(360)
        self.stage_label = QLabel("Ready")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.statusBar().addWidget(self.stage_label, 1)
        self.statusBar().addPermanentWidget(self.selection_label)
        self.statusBar().addPermanentWidget(self.progress)

    # -- library ------------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add Folder", self._last_dir())
        if folder:
            self.add_paths([folder], analyze=True)

    def add_paths(self, paths: list[str], analyze: bool = False) -> None:
        """Add folders or files to the library (duplicates ignored); optionally start the analysis."""
        added = False
        for p in paths:
            p = os.path.abspath(p)
            if os.path.exists(p) and p not in self.folders:
                self.folders.append(p)
                self._remember_recent(p)
                added = True
        self.library.show_library(self.folders, [], [])
        if analyze and (added or self.result is None):
            self.analyze()
        self._update_actions()

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths, analyze=True)

    # -- analysis -----------------------------------------------------------------------------------
    def chosen_settings(self) -> AnalysisSettings:
        """The toolbar as the user left it ("By prompts" with its prompts): what a project remembers."""
        return AnalysisSettings(reducer=self.reducer_box.currentData(), clusterer=self.clusterer_box.currentData(),
                                cluster_params=self._cluster_params())

    def analysis_settings(self) -> AnalysisSettings:
        """What the analysis runs with: a regrouping is applied after a map made with the default clusterer."""
        chosen = self.chosen_settings()
        return AnalysisSettings(reducer=chosen.reducer) if chosen.clusterer in REGROUPINGS else chosen

    def embed_settings(self) -> EmbedSettings:
        return EmbedSettings(model=self.model_box.currentData() or DEFAULT_MODEL, cache_dir=self.cache_dir,
                             offline=self.offline, batch_size=GUI_BATCH,
                             torch_threads=max(1, (os.cpu_count() or 2) - 1))  # one core stays with the GUI

    def analyze(self) -> None:
        """Analyse the library — after asking, when the model would have to be downloaded first."""
        if not self.folders or self.busy():
            return
        model = self.model_box.currentData() or DEFAULT_MODEL
        if self.offline or not self.ask_before_download or model in self._download_agreed:
            self._run_analysis(model)
            return
        # Opening a project (or a first Analyze) must never start a ~600 MB download by itself. Whether the
        # weights are on disk is checked on the worker thread: for open_clip's names that imports torch.
        self._start(lambda token: _check_model(model), lambda download: self._model_checked(model, download),
                    "Checking the model")

    def _model_checked(self, model: str, download: Download | None) -> None:
        if download is not None:
            if not self.confirm_download(download):
                self._idle(f"Not analysed: the model {download.model} is not downloaded. Analyze asks again; "
                           "Model ▸ Local Model Folder… uses one you have")
                return
            self._download_agreed.add(download.model)
        self._run_analysis(model)

    def confirm_download(self, download: Download) -> bool:
        """Ask the user whether to download the model (tests replace this method)."""
        host = hub_host()
        size = f"about {download.size_mb} MB" if download.size_mb else "size not known in advance"
        box = QMessageBox(QMessageBox.Icon.Question, "Download the model?",
                          f"The model {download.model} is not on this computer yet.", parent=self)
        box.setInformativeText(f"Download it once ({size}) from {host}, repository {download.repo}? It is kept "
                               "for next time.\n\nTo use a model folder you already have instead, choose Not Now "
                               "and then Model ▸ Local Model Folder…")
        download_button = box.addButton("Download", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(box.addButton("Not Now", QMessageBox.ButtonRole.RejectRole))
        box.exec()
        return box.clickedButton() is download_button

    def _run_analysis(self, model: str) -> None:
        # The model that was checked (and agreed to), even if the model box was changed during the check.
        folders, as_ = list(self.folders), self.analysis_settings()
        es = dataclasses.replace(self.embed_settings(), model=model)
        self._analysed_model = model
        self._start(lambda token: _analysis_with_sidecars(folders, es, as_, token), self._analysis_done, "Analyzing")

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.stage_label.setText("Cancelling…")

    def busy(self) -> bool:
        """A job is running or its thread has not yet been wound up (one job at a time)."""
        return self.worker is not None

    def _start(self, make: Any, on_success: Any, what: str) -> None:
        if self._closing or self.busy():
            return  # a timer that fires while the window closes must not start a thread nobody will wait for
        worker = PipelineWorker(make, self)
        worker.progress.connect(self._progress)
        # The outcome is handled once the thread has ended (``_worker_finished``): a handler may start the next
        # job, and whoever hears analysisFinished / exportFinished / jobFailed finds the window idle.
        worker.succeeded.connect(lambda value: self._set_outcome(lambda: on_success(value)))
        worker.failed.connect(lambda message, details: self._set_outcome(lambda: self._failed(message, details)))
        worker.cancelled.connect(lambda: self._set_outcome(lambda: self._idle("Cancelled")))
        worker.finished.connect(lambda: self._worker_finished(worker))
        self.worker = worker
        self._embed_span = []
        self._stage_started = (None, time.monotonic())
        self._last_event = None
        self._job_items = len(self.result.items) if self.result is not None else 0
        self._progress_timer.start()
        self.stage_label.setText(f"{what}…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self._update_actions()
        worker.start()

    def _set_outcome(self, handler: Any) -> None:
        self._outcome = handler

    def _worker_finished(self, worker: PipelineWorker) -> None:
        if self.worker is worker:
            self._stage_finished(time.monotonic())
            self._stage_started = (None, time.monotonic())
            self._progress_timer.stop()
            self.worker = None
        worker.deleteLater()
        self._close_download_dialog()
        self._update_actions()
        handler, self._outcome = self._outcome, None
        if handler is not None and not self._closing:
            handler()

    def _idle(self, message: str) -> None:
        """A job ended (or nothing runs): ``message`` is its outcome, kept until the next job says otherwise."""
        self.progress.hide()
        self.stage_label.setText(message)
        self.stage_label.setToolTip(message)
        if self.stack.currentIndex() == 0:
            self._show_first_progress(None)

    def _progress(self, event: ProgressEvent) -> None:
        if event.stage == "warning":
            self.statusBar().showMessage(event.message, 8000)
            return
        now = time.monotonic()
        if self._stage_started[0] != event.stage:
            self._stage_finished(now)
            self._stage_started = (event.stage, now)
            if event.stage == "embed" or (len(self._embed_span) == 1 and event.stage != "warning"):
                self._embed_span.append(now)
        if event.stage == "scan" and event.total:
            self._job_items = event.total
        if event.stage == "download":
            self._show_download(event, now)
        elif self.download_dialog is not None:
            self._close_download_dialog()  # the weights are here; the job goes on
        self._last_event = event
        self._show_progress(now)

    def _stage_finished(self, now: float) -> None:
        """Learn how long the stage that just ended took here (the next job's ETA for it)."""
        stage, started = self._stage_started
        if stage is not None and stage not in ("download", "done", "warning"):
            self.stage_times.learn(stage, now - started, self._job_items)

    def _show_progress(self, now: float | None = None) -> None:
        """The running stage, its progress and the time left: from its own steps when it has them (after two
        seconds), else from how long it took per item before on this computer. Refreshed every second."""
        event = self._last_event
        if event is None or not self.busy():
            return
        now = time.monotonic() if now is None else now
        label = STAGE_LABELS.get(event.stage, event.stage)
        said = event.message and event.message.lower() not in label.lower()
        text = f"{label}: {event.message}" if said else label
        elapsed = now - self._stage_started[1]
        remaining = None
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(min(event.done, event.total))
            if 0 < event.done < event.total and elapsed > 2 and event.total > 2:
                remaining = elapsed / event.done * (event.total - event.done)
            self.progress.setFormat(f"{event.done:,} / {event.total:,}" if event.stage != "download" else "%p%")
        else:
            self.progress.setRange(0, 0)
        if remaining is None and event.stage != "download":
            remaining = self.stage_times.remaining(event.stage, self._job_items, elapsed)
        if remaining is not None:
            text += f" — about {duration_text(remaining)} left"
        self.stage_label.setText(text)
        if self.stack.currentIndex() == 0 and event.stage != "download":
            self._show_first_progress(text, event.done, event.total)

    def _show_download(self, event: ProgressEvent, now: float) -> None:
        """The download dialog (bytes, time left, Cancel) for as long as the job downloads the model."""
        if self.download_dialog is None:
            self.download_dialog = DownloadDialog(self, self._analysed_model or "the model")
            self.download_dialog.canceled.connect(self.cancel)
            self.download_dialog.show()
        self.download_dialog.show_bytes(event.done, event.total, now)

    def _close_download_dialog(self) -> None:
        dialog, self.download_dialog = self.download_dialog, None
        if dialog is not None:
            dialog.canceled.disconnect(self.cancel)
            dialog.reset()  # hides it and stops QProgressDialog's own show timer
            dialog.deleteLater()

    def _analysis_done(self, result: EmbedResult) -> None:
        self.result = result
        if len(self._embed_span) == 2:  # how fast this model read new items on this computer (the Model menu)
            record_speed(self.settings, result.model.get("name", ""), result.stats.get("embedded", 0),
                         self._embed_span[1] - self._embed_span[0])
        self.culling.clear()
        self._expanded.clear()
        self.base = result.analysis
        # The views take the new rows before the state announces them (a grid holding the old rows would index
        # the new, maybe shorter, library); the last search's rows are the old library's.
        self.grid.set_state(self.state, result.paths, [i.kind for i in result.items])
        self.grid.show_rows([], "")
        if self._last_ranking is not None:
            self.search_box.blockSignals(True)
            self.search_box.clear()
            self.search_box.blockSignals(False)
            self.clear_search()
        self.state.reset(result.paths, [PhotoMeta.from_json(i.meta) for i in result.items]
                         if all(i.meta is not None for i in result.items if i.kind == "image") else None)
        self.filter_bar.set_metadata(self.state.metas or None)
        self._add_sidecar_marks(result.marks)
        if self.stack.currentIndex() == 0:
            self.stack.setCurrentWidget(self.map)
        sets, self._project_sets = self._project_sets, None
        if sets and result.similar_sets is None:  # a reopened project's sets: no need to look again
            result.similar_sets = sets_from_json(sets, result.paths)
            apply_picks(result.similar_sets or [], result.paths, self.edits.picks)
            self.culling.show_sets(result.similar_sets or [], result.paths)
        self._show_analysis(refit=True)
        self._views_follow_result()
        self.compare.show_sets(result.similar_sets or [], result.paths, self.state)
        s = result.stats
        self._idle(f"{s['items']:,} items ({s['embedded']:,} read now, {s['from_cache']:,} from cache, "
                   f"{s['skipped']:,} skipped) · {_groups_text(self.analysis)} · {s['seconds']:.1f} s")
        self.library.show_library(self.folders, [i.path for i in result.items], result.skipped)
        used = self.base.params.get("clusterer", {})
        if used.get("name") != self.clusterer_box.currentData() or any(
                used.get(k) != v for k, v in self._cluster_params().items()):
            self._recluster_timer.start()  # the settings were changed while the analysis ran
        if os.environ.get("PHOTOATLAS_TIMING"):  # benchmarks/first_map.py reads this line
            from desktop_app import STARTED

            print(f"photoatlas: map drawn after {time.monotonic() - STARTED:.2f} s", file=sys.stderr)
        self.analysisFinished.emit()

    def _add_sidecar_marks(self, found: Marks) -> None:
        """Ratings and labels found in sidecars, for the pictures not decided on here (the project's marks win:
        they are newer than anything in a sidecar, and a rating cleared here stays cleared)."""
        if not found.is_empty():
            marks = self.state.marks.copy()
            if marks.fill_from(found):
                self.state.replace_marks(marks)

    def _show_analysis(self, refit: bool = False) -> None:
        assert self.result is not None and self.base is not None
        paths = [i.path for i in self.result.items]
        self.analysis = apply_edits(self.base, self.result.vectors, paths, self.edits)
        names = {c.id: c.name for c in self.analysis.clusters}
        hidden = {c.id for c in self.analysis.clusters if c.name in self.edits.hidden}
        if refit:
            self.map.set_items(self.analysis.coords, self.analysis.labels, [i.kind for i in self.result.items],
                               paths, [i.snippet for i in self.result.items], names)
        else:
            self.map.set_labels(self.analysis.labels, names)
        self.map.set_hidden_groups(hidden)
        if refit:
            self._show_collapsed()
        self.groups.show_groups(self.analysis.clusters, int((self.analysis.labels < 0).sum()), hidden,
                                self.analysis.subclusters)
        if self.act_outliers.isChecked():
            self.map.set_highlight(self.analysis.outliers)
        self._update_actions()

    def _recluster(self) -> None:
        self._recluster_timer.stop()  # Enter in the prompts box and a pending parameter change: one job, not two
        if self.result is None or self.base is None or self.busy() or self._closing:
            return
        result, base = self.result, self.base
        name, params = self.clusterer_box.currentData(), self._cluster_params()
        kinds = [i.kind for i in result.items]
        texts = [None if i.kind != "text" else (i.snippet or "") for i in result.items]

        if name == "prompts" and not params.get("prompts"):
            self._idle("Type prompts, e.g. “ceremony, portraits, food”, and press Enter")
            return
        settings = self.embed_settings()

        def job(token: CancelToken):
            yield ProgressEvent("cluster", 0, 1, f"finding groups ({name})")
            if name in REGROUPINGS:
                result.analysis = base
                if name == "prompts":
                    return group_by_prompts(result, params["prompts"], settings, cancel=token)
                return group_by_events(result)
            return recluster(base, result.vectors, kinds, texts, name, params)

        def done(analysis: Analysis) -> None:
            self.base = analysis
            self._show_analysis()
            if not self._collection[1].startswith(("Best matches", "Burst", "Near-duplicates")):
                self._set_collection(None, "All pictures")  # the group the grid showed is gone
            self._idle(_groups_text(self.analysis))

        self._start(job, done, "Finding groups")

    def _cluster_params(self) -> dict[str, Any]:
        value = self.param_box.value()
        name = self.clusterer_box.currentData()
        if name == "prompts":
            try:
                return {"prompts": parse_prompts(self.prompts_edit.text())}
            except BadArgument:  # no prompts typed yet
                return {}
        if name == "events":
            return {}
        if name == "hdbscan":
            return {"min_samples": value} if value else {}
        if name == "kmeans":
            return {"k": value if value else "auto"}
        return {"k": value} if value else {}

    def _clusterer_changed(self) -> None:
        name = self.clusterer_box.currentData()
        self._prompts_action.setVisible(name == "prompts")
        self._param_action.setVisible(name not in REGROUPINGS)
        self.param_label.setText({"hdbscan": "  coarseness ", "prompts": "  ", "events": ""}.get(name, "  groups "))
        self.param_box.setToolTip("How coarsely HDBSCAN reads the library (its min_samples): auto is chosen from "
                                  "the data; higher makes fewer, larger groups"
                                  if name == "hdbscan" else "Number of groups (auto for K-Means: as many as HDBSCAN "
                                  "finds)")
        self.param_box.setMinimum(0 if name != "hdbscan" else 0)
        self._recluster_timer.start()

    def _model_chosen(self) -> None:
        if self.model_box.currentData() == "":
            self.choose_local_model()

    def choose_model(self, model: str) -> None:
        """Use ``model`` for the next analysis (the toolbar's box follows)."""
        if self.model_box.findData(model) < 0:
            self.model_box.insertItem(0, _model_label(model), model)
        self.model_box.setCurrentIndex(self.model_box.findData(model))

    def choose_local_model(self) -> None:
        """Ask for a model folder (open_clip's layout) and use it."""
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder (open_clip_config.json + weights)")
        if folder:
            self.choose_model(f"local-dir:{folder}")
        elif self.model_box.currentData() == "":
            self.model_box.setCurrentIndex(0)

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
        self._idle(f"Removed the model {rec.model} ({freed / 1e6:,.0f} MB freed)")

    def confirm_remove(self, rec: Recommended) -> bool:
        """Ask before deleting a downloaded model (tests replace this method)."""
        answer = QMessageBox.question(
            self, "Remove the downloaded model?",
            f"Delete {rec.model} from this computer's Hugging Face cache?\n\nIt is downloaded again "
            f"(about {rec.size_mb} MB) the next time an analysis uses it; other programs that use the same "
            "cache lose it too.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _failed(self, message: str, details: str) -> None:
        self._idle(f"Failed: {(message.strip().splitlines() or [''])[0]}")  # one line; the details are in the box
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

    # -- groups -------------------------------------------------------------------------------------
    def _paths(self) -> list[str]:
        return [i.path for i in self.result.items] if self.result else []

    def _group_activated(self, cid: int) -> None:
        """A group's or a sub-group's row was clicked: select its members on the map and zoom to them."""
        if self.analysis is None:
            return
        members = self.analysis.members(cid)
        self._set_collection(members.tolist(), self.analysis.cluster(cid).name)
        self.map.set_selection(members.tolist())
        self.map.zoom_to(members.tolist())
        sub = next((c for c in self.analysis.subclusters if c.id == cid), None)
        if sub is not None and sub.parent is not None:
            self.selection_label.setText(
                f"sub-group of {self.analysis.cluster(sub.parent).name}: {len(members):,} items")

    def _group_renamed(self, cid: int, name: str) -> None:
        if self.analysis is None:
            return
        analysis, paths = self.analysis, self._paths()
        self._edit_groups(f"Rename to “{name}”", lambda e: e.rename(analysis, paths, cid, name))

    def _edit_groups(self, text: str, change: Any) -> None:
        """Apply ``change(edits)`` as one undoable command (the edits before and after are kept whole)."""
        before = copy.deepcopy(self.edits)
        after = copy.deepcopy(self.edits)
        change(after)

        def use(edits: GroupEdits) -> None:
            self.edits = copy.deepcopy(edits)
            if self.base is not None and self.result is not None:
                self._show_analysis()
                if self.result.similar_sets:  # best frames chosen by the user are part of the edits
                    apply_picks(self.result.similar_sets, self.result.paths, self.edits.picks)
                    self.culling.show_sets(self.result.similar_sets, self.result.paths)
                    self.compare.refresh()
                    self._show_collapsed()

        self.state.undo_stack.push(Command(text, lambda: use(after), lambda: use(before)))

    def _visibility_changed(self, cid: int, visible: bool) -> None:
        if self.analysis is None:
            return
        name = self.analysis.cluster(cid).name
        if visible == (name not in self.edits.hidden):
            return
        # A command like the other group edits: an undo of an earlier rename must not bring this back.
        self._edit_groups(f"{'Show' if visible else 'Hide'} “{name}”",
                          lambda e: (e.hidden.discard if visible else e.hidden.add)(name))

    def _merge_groups(self, ids: list[int]) -> None:
        if self.analysis is None or len(ids) < 2:
            return
        analysis, paths = self.analysis, self._paths()
        self._edit_groups(f"Merge {len(ids)} Groups", lambda e: e.merge(analysis, paths, ids))

    def _new_group_from_selection(self) -> None:
        if self.analysis is None or not self.map.selected:
            return
        taken = {c.name for c in self.analysis.clusters}
        n = 1
        while f"New group {n}" in taken:
            n += 1
        rows, paths = sorted(self.map.selected), self._paths()
        self._edit_groups(f"New Group from {len(rows):,} Items", lambda e: e.move(paths, rows, f"New group {n}"))

    def _move_selection_to(self, cid: int) -> None:
        if self.analysis is None or not self.map.selected:
            return
        self._move_rows_to(cid, sorted(self.map.selected))

    def _move_rows_to(self, cid: int, rows: list[int]) -> None:
        """Move ``rows`` into the top-level group ``cid`` (a drop from the grid, or "Move selected items here")."""
        if self.analysis is None or not rows:
            return
        name, paths = self.analysis.cluster(cid).name, self._paths()
        self._edit_groups(f"Move {len(rows):,} Items to “{name}”", lambda e: e.move(paths, rows, name))

    # -- search -------------------------------------------------------------------------------------
    def search(self) -> None:
        query = self.search_box.text().strip()
        if not query:
            self.clear_search()
            return
        if self.result is None or self.busy():
            return
        result, settings = self.result, self.embed_settings()

        def job(token: CancelToken):
            yield ProgressEvent("search", 0, 1, f"“{query}”")
            return rank(result.vectors, query_vector(result.model, query, settings, cancel=token), top=SEARCH_HITS)

        self._start(job, lambda ranking: self._show_ranking(ranking, f"“{query}”"), "Searching")

    def more_like_this(self) -> None:
        if self.result is None or len(self.map.selected) != 1:
            return
        i = next(iter(self.map.selected))
        ranking = rank(self.result.vectors, self.result.vectors[i], top=SEARCH_HITS, exclude=i)
        self._show_ranking(ranking, f"like {Path(self.result.items[i].path).name}")

    def _show_ranking(self, ranking: Ranking, what: str) -> None:
        assert self.result is not None
        self._last_ranking = ranking
        self.act_outliers.setChecked(False)
        mask = np.zeros(len(self.result.items), bool)
        mask[ranking.order] = True
        self.map.scores = ranking.scores
        self.map.set_highlight(mask)
        self.hits.clear()
        for i, score in ranking.top(SEARCH_HITS):
            row = QListWidgetItem(f"{score:.2f}  {Path(self.result.items[i].path).name}")
            row.setData(Qt.ItemDataRole.UserRole, i)
            row.setToolTip(self.result.items[i].path)
            self.hits.addItem(row)
        self._set_collection(list(ranking.order), f"Best matches for {what}")
        self._docks["Search Results"].setWindowTitle(f"Search Results: {what}")
        self._docks["Search Results"].show()
        self._docks["Search Results"].raise_()
        self._idle(f"{len(ranking.order)} best matches for {what} highlighted")

    def clear_search(self) -> None:
        if self._last_ranking is not None and not self.busy():
            self._idle("Search cleared")
        self._last_ranking = None
        self.map.scores = None
        self.map.set_highlight(self.analysis.outliers if self.act_outliers.isChecked() and self.analysis else None)
        self.hits.clear()
        self._docks["Search Results"].hide()  # an empty results dock is only in the way
        if self._collection[1].startswith("Best matches"):
            self._set_collection(None, "All pictures")

    def _hit_activated(self, row: QListWidgetItem) -> None:
        i = row.data(Qt.ItemDataRole.UserRole)
        self.map.set_selection({i})
        self.map.zoom_to([i])

    def _toggle_outliers(self, on: bool) -> None:
        if self.analysis is None:
            return
        self.map.set_highlight(self.analysis.outliers if on else None)
        if on:
            self._idle(f"{int(self.analysis.outliers.sum())} outliers highlighted")

    # -- projects and export ------------------------------------------------------------------------
    def project(self) -> Project:
        sets = self.result.similar_sets if self.result is not None else None
        return Project(folders=list(self.folders), model=self.model_box.currentData() or DEFAULT_MODEL,
                       analysis=self.chosen_settings(), edits=self.edits, marks=self.state.marks.copy(),
                       similar_sets=None if sets is None else sets_to_json(sets, self.result.paths,
                                                                             self.result.cull_settings))

    def save_project(self, ask: bool = False) -> bool:
        path = self.project_path
        if ask or path is None:
            suggested = str(Path(self._last_dir()) / f"Library{PROJECT_SUFFIX}")
            name, _ = QFileDialog.getSaveFileName(self, "Save Project", suggested,
                                                  f"PhotoAtlas projects (*{PROJECT_SUFFIX})")
            if not name:
                return False
            path = Path(name if name.endswith(PROJECT_SUFFIX) else name + PROJECT_SUFFIX)
        return self.save_project_to(path)

    def save_project_to(self, path: Path) -> bool:
        try:
            self.project().save(path)
        except OSError as exc:
            self.show_error(f"Could not save the project: {exc}")
            return False
        self.project_path = Path(path)
        self.setWindowTitle(f"PhotoAtlas — {self.project_path.stem}[*]")
        self.state.undo_stack.set_clean()
        self._idle(f"Saved the project {path}")
        return True

    def choose_project(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open Project", self._last_dir(),
                                              f"PhotoAtlas projects (*{PROJECT_SUFFIX})")
        if name:
            self.open_project(Path(name))

    def open_project(self, path: Path) -> bool:
        """Open a project (False, after one clear message, when it cannot be read)."""
        try:
            project = Project.load(path)
        except BadArgument as exc:  # also a damaged file: a wrong type or a missing key is named, never a crash
            self.show_error(exc.user_message)
            return False
        self.project_path = Path(path)
        self.setWindowTitle(f"PhotoAtlas — {self.project_path.stem}[*]")
        if self.model_box.findData(project.model) < 0:
            self.model_box.insertItem(0, _model_label(project.model), project.model)
        self.model_box.setCurrentIndex(self.model_box.findData(project.model))
        self.reducer_box.setCurrentIndex(max(0, self.reducer_box.findData(project.analysis.reducer)))
        self.clusterer_box.blockSignals(True)
        self.param_box.blockSignals(True)
        self.clusterer_box.setCurrentIndex(max(0, self.clusterer_box.findData(project.analysis.clusterer)))
        self.prompts_edit.setText(", ".join(project.analysis.cluster_params.get("prompts", [])))
        self._clusterer_changed()
        # By key: projects saved before "coarseness" hold HDBSCAN's min_cluster_size, which is not the same knob.
        knob = "min_samples" if project.analysis.clusterer == "hdbscan" else "k"
        value = project.analysis.cluster_params.get(knob, 0)
        self.param_box.setValue(value if isinstance(value, int) else 0)
        self.clusterer_box.blockSignals(False)
        self.param_box.blockSignals(False)
        self._recluster_timer.stop()
        self.edits = project.edits
        self.state.undo_stack.clear()  # another library: nothing of the last one's to undo (and nothing unsaved)
        self.state.replace_marks(project.marks)
        self._project_sets = project.similar_sets  # shown again once the analysis has the rows
        self.folders = []
        self.result = None
        missing = [f for f in project.folders if not os.path.exists(f)]
        if missing:
            self.show_error(f"{len(missing)} folder(s) of this project are not there any more "
                            f"(moved, or on a disk that is not connected): {missing[0]}", "\n".join(missing))
        self.add_paths(project.folders, analyze=False)
        self.analyze()
        return True

    def export_groups(self) -> None:
        if self.result is None or self.analysis is None or self.busy():
            return
        dialog = ExportDialog(self.analysis, self._last_dir(), self, has_sets=bool(self.result.similar_sets),
                              paths=self.result.paths, sizes=[i.size for i in self.result.items],
                              marks=self.state.marks.copy(), library_folders=self.folders,
                              similar_sets=self.result.similar_sets)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export_groups_to(dialog.destination(), dialog.options())

    def export_groups_to(self, dest: Path, options: ExportOptions) -> None:
        """Run the export on the worker thread; a summary (with any fallbacks or failures) follows."""
        assert self.result is not None
        if self.busy():
            self.show_error("Wait for the running job to finish (or cancel it) before exporting")
            return
        self.result.analysis = self.analysis  # with the user's renames, merges and moves
        self.result.marks = self.state.marks.copy()  # as they are now: marking on during the export changes nothing

        result = self.result
        self._start(lambda token: run_export(result, dest, options, token),
                    lambda summary: self._export_done(dest, summary), "Exporting")

    def _export_done(self, dest: Path, summary: Any) -> None:
        self.last_export = dest
        self._idle(summary.lines()[0])
        self._update_actions()
        self.exportFinished.emit(summary)
        if self.interactive_errors:
            QMessageBox.information(self, "Export finished", "\n".join(summary.lines()))

    def undo_last_export(self) -> None:
        if self.last_export is None or self.busy():
            return
        dest = self.last_export
        self._start(lambda token: undo_export(dest), self._undo_done, "Undoing the export")

    def _undo_done(self, summary: Any) -> None:
        self.last_export = None
        kept = (f"; kept {len(summary.refused)} files (changed, not ours, or their original is gone)"
                if summary.refused else "")
        self._idle(f"Undid the export: {summary.reversed} files reversed{kept}")
        self._update_actions()
        self.exportFinished.emit(summary)

    def export_results(self) -> None:
        if self.result is None or self.busy():
            return  # a running job may be changing the document (groups, duplicate sets)
        suggested = str(Path(self._last_dir()) / "photoatlas-results.json")
        name, _ = QFileDialog.getSaveFileName(self, "Export Results", suggested, "Results document (*.json)")
        if name:
            self.export_to(Path(name))

    def export_to(self, path: Path) -> None:
        """Results document (JSON, with the user's group edits) and a CSV table beside it."""
        assert self.result is not None
        if self.busy():
            self.show_error("Wait for the running job to finish (or cancel it) before exporting the results")
            return
        self.result.analysis = self.analysis
        self.result.marks = self.state.marks.copy()
        try:
            self.result.save(path)
            write_csv(self.result, path.with_suffix(".csv"))
        except OSError as exc:
            self.show_error(f"Could not export: {exc}")
            return
        self._idle(f"Wrote {path} and {path.with_suffix('.csv').name}")

    # -- settings and lifecycle ---------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry") if self.remember_layout else None
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.settings.value("window/state") if self.remember_layout else None
        if state is not None:
            self.restoreState(state)
        self.reducer_box.setCurrentIndex(max(0, self.reducer_box.findData(self.settings.value("last/reducer", "umap"))))
        self.clusterer_box.setCurrentIndex(max(0, self.clusterer_box.findData(
            self.settings.value("last/clusterer", "hdbscan"))))
        self.param_box.blockSignals(True)
        self.param_box.setValue(int(self.settings.value("last/param", 0)))
        self.param_box.blockSignals(False)
        self._recluster_timer.stop()

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

    def _remember_recent(self, path: str) -> None:
        recent = [p for p in self._recent() if p != path]
        self.settings.setValue("recent/folders", [path, *recent][:MAX_RECENT])
        self._refresh_recent()

    def _recent(self) -> list[str]:
        value = self.settings.value("recent/folders", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _refresh_recent(self) -> None:
        if not hasattr(self, "recent_menu"):
            return
        self.recent_menu.clear()
        for path in self._recent():
            self.recent_menu.addAction(path, lambda p=path: self.add_paths([p], analyze=True))
        self.recent_menu.setEnabled(bool(self._recent()))

    def _last_dir(self) -> str:
        recent = self._recent()
        return recent[0] if recent else str(Path.home())

    def _update_actions(self) -> None:
        busy = self.busy()
        has_map = self.analysis is not None
        self.act_analyze.setEnabled(bool(self.folders) and not busy)
        self.act_cancel.setEnabled(busy)
        for a in (self.act_fit, self.act_outliers, self.act_tidy, self.act_select_all, self.act_save, self.act_save_as):
            a.setEnabled(has_map)
        self.act_export.setEnabled(has_map and not busy)  # a job may be changing the document
        self.act_export_groups.setEnabled(has_map and not busy)
        self.act_undo_export.setEnabled(self.last_export is not None and not busy)
        self.act_more.setEnabled(has_map and len(self.map.selected) == 1 and not busy)
        self.act_new_group.setEnabled(has_map and bool(self.map.selected))
        self.act_zoom_sel.setEnabled(has_map and bool(self.map.selected))
        self.search_box.setEnabled(has_map)
        self.act_find_dups.setEnabled(has_map and not busy)
        has_sets = self.result is not None and bool(self.result.similar_sets)
        self.act_collapse.setEnabled(has_sets)
        self.act_make_best.setEnabled(has_sets and self._set_of_selection() is not None)
        self.photo_menu.set_enabled(has_map)
        self._update_undo_actions()

    def _about(self) -> None:
        from desktop_app import __version__

        QMessageBox.about(self, "About PhotoAtlas", f"PhotoAtlas {__version__}\n\nA map of your photos and notes, "
                          "made with CLIP on this computer.")

    def confirm_unsaved(self) -> str:
        """Ratings or group edits not saved yet: "save", "discard" or "cancel" (tests replace this method;
        without interactive messages nothing is asked and nothing kept, as before)."""
        if not self.interactive_errors:
            return "discard"
        box = QMessageBox(QMessageBox.Icon.Question, "PhotoAtlas", "Save your ratings, flags, labels and group "
                          "edits before closing?", parent=self)
        box.setInformativeText("They are kept in a project file (.photoatlas); without it they are lost. The "
                               "pictures themselves are never changed.")
        save = box.addButton("Save…" if self.project_path is None else "Save",
                             QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Don't Save", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(save)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return "save" if box.clickedButton() is save else "discard" if box.clickedButton() is discard else "cancel"

    def closeEvent(self, event) -> None:  # noqa: N802
        """Closing mid-run cancels the job and waits until its thread has really ended — no time limit after
        which a thread still writing the cache or moving files would be abandoned (every job checks its
        cancel token at least every batch, so this is well under a second)."""
        if not self._closing and not self.state.undo_stack.is_clean and self.result is not None:
            answer = self.confirm_unsaved()
            if answer == "cancel" or (answer == "save" and not self.save_project()):
                event.ignore()
                return
        self._closing = True
        self._recluster_timer.stop()
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()
        self.thumbnails.close()  # running decodes (a picture each) finish; nothing new starts after this
        self.map.close_thumbnails()
        self.grid.shutdown()
        self.loupe.shutdown()
        self.compare.shutdown()
        self._save_settings()
        event.accept()


def _analysis_with_sidecars(folders: list[str], es: EmbedSettings, as_: AnalysisSettings, token: CancelToken):
    """The analysis, then the ratings and labels already in the pictures' XMP sidecars (Lightroom's, darktable's):
    ``result.marks`` holds what the sidecars say (the window adds them under the project's own marks)."""
    with fewer_collections():
        result = yield from run_analysis(folders, es, as_, token)
    yield ProgressEvent("marks", 0, None, "reading ratings and labels from XMP sidecars")
    result.marks = read_sidecar_marks(result.paths)
    return result


JOB_GC_THRESHOLD = 50_000  # objects allocated between young collections while a library opens (Python's: 700)


@contextlib.contextmanager
def fewer_collections():
    """Python's cycle collector runs less often while a library is read: a million files make millions of objects
    (paths, records, rows from the cache) that all live on, and each full collection walks every one of them
    (measured: scan and cache lookup of 1M files 3.4 s faster, 23 -> 20 s). Restored afterwards, also on cancel."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], JOB_GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _json_setting(value: Any) -> Any:
    """A JSON value kept in QSettings (None when absent or damaged: a setting never stops the app)."""
    try:
        return json.loads(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _check_model(model: str):
    """The job behind "Checking the model": what using ``model`` would download (None: nothing)."""
    yield ProgressEvent("load-model", 0, None, "checking whether the model is on this computer")
    return needed_download(model)


def _model_label(name: str) -> str:
    return f"Folder: {Path(name[len('local-dir:'):]).name}" if name.startswith("local-dir:") else name


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


def _groups_text(analysis: Analysis) -> str:
    """"12 groups", or "12 groups (3 with sub-groups)" where groups open into sub-groups."""
    families = len({c.parent for c in analysis.subclusters})
    return f"{len(analysis.clusters)} groups" + (f" ({families} with sub-groups)" if families else "")
