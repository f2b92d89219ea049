"""The window's actions, toolbars, menus and status bar: what the user can do and where it sits.

Every action calls a method of the window (``MainWindow``), which acts on the library; nothing here holds state.
Shortcuts are Lightroom's where there is one (G grid, E loupe, C compare, \\ filter bar, 0-5/P/X/U/6-9 marks).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QProgressBar, QSpinBox, QToolBar

from desktop_app.core.analysis.groupings import REGROUPINGS
from desktop_app.core.analysis.layout import REDUCERS
from desktop_app.core.model_names import DEFAULT_MODEL, FASTER_MODEL, MORE_ACCURATE_MODEL
from desktop_app.gui.filter_bar import FilterBar
from desktop_app.gui.models_menu import ModelsMenu
from desktop_app.gui.review_actions import PhotoMenu

if TYPE_CHECKING:
    from desktop_app.gui.main_window import MainWindow

MODELS = [("Default", DEFAULT_MODEL), ("Faster", FASTER_MODEL), ("More accurate", MORE_ACCURATE_MODEL)]
CLUSTERER_LABELS = [("HDBSCAN", "hdbscan"), ("K-Means", "kmeans"),
                    ("Agglomerative", "agglomerative"), ("By prompts", "prompts"), ("By events", "events")]
VIEWS = (("map", "Map", "M", "The map of the library (M)"),
         ("grid", "Grid", "G", "The pictures as a grid: a group, the selection, search results (G)"),
         ("loupe", "Loupe", "E", "One picture large, with its details; ←/→ for the next (E)"),
         ("compare", "Compare", "C", "Near-duplicates and bursts side by side: keep the best frame (C)"))


def model_label(name: str) -> str:
    """How a model is named in the toolbar's box (a local folder by its folder's name)."""
    return f"Folder: {Path(name[len('local-dir:'):]).name}" if name.startswith("local-dir:") else name


def _action(w: MainWindow, text: str, slot: Any, shortcut: Any = None, checkable: bool = False,
            tip: str = "") -> QAction:
    action = QAction(text, w)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setCheckable(checkable)
    action.setStatusTip(tip or text.replace("…", ""))
    (action.toggled if checkable else action.triggered).connect(slot)
    return action


def build_actions(w: MainWindow) -> None:
    """The window's ``act_*`` actions and ``view_actions``."""
    S = QKeySequence.StandardKey
    w.act_add = _action(w, "Add Folder…", w.choose_folder, "Ctrl+Shift+O", tip="Add a folder to the library")
    w.act_new_library = _action(w, "New Library", w.new_library, S.New,
                                tip="Start an empty library (the current one stays as it is, saved)")
    w.act_open_library = _action(w, "Open Library…", w.choose_library, S.Open,
                                 tip="Open a library (a .photoatlas-library catalogue)")
    w.act_import = _action(w, "Import Project…", w.choose_project,
                           tip="Make a library from a project file (.photoatlas) saved here or on another computer")
    w.act_save_as = _action(w, "Export Library as Project…", w.save_project, S.SaveAs,
                            tip="Write the library (folders, settings, every decision) to a portable project file")
    w.act_export_groups = _action(w, "Export Groups…", w.export_groups, "Ctrl+E",
                                  tip="Copy, link or move the groups into folders; XMP keywords")
    w.act_undo_export = _action(w, "Undo Last Export", w.undo_last_export,
                                tip="Reverse the last export (moved files go back)")
    w.act_export = _action(w, "Export Results…", w.export_results, "Ctrl+Shift+E",
                           tip="Write the results document (JSON) and a table (CSV)")
    w.act_quit = _action(w, "Quit", w.close, S.Quit)
    w.act_analyze = _action(w, "Analyze", w.analyze, "Ctrl+R", tip="Read, embed and map the library")
    w.act_cancel = _action(w, "Cancel", w.cancel, "Esc", tip="Stop the running job")
    w.act_fit = _action(w, "Fit All", w.map.fit_all, "Ctrl+0")
    w.act_zoom_sel = _action(w, "Zoom to Selection", lambda: w.map.zoom_to(sorted(w.map.selected)), "Ctrl+2")
    w.act_outliers = _action(w, "Highlight Outliers", w.toggle_outliers, "Ctrl+Shift+L", checkable=True)
    w.act_tidy = _action(w, "Tidy", w.map.set_tidy, "Ctrl+T", checkable=True,
                         tip="Lay each group's pictures on a grid around its place, none hidden under another (Ctrl+T)")
    w.act_more = _action(w, "More Like This", w.more_like_this, "Ctrl+M",
                         tip="Rank everything by similarity to the selected item")
    w.act_select_all = _action(w, "Select All", w.select_all, S.SelectAll)
    w.act_new_group = _action(w, "New Group from Selection", w.new_group_from_selection, "Ctrl+G")
    w.act_merge = _action(w, "Merge Selected Groups", lambda: w.merge_groups(w.groups.selected_groups()),
                          "Ctrl+Shift+M")
    w.act_search = _action(w, "Search", lambda: w.search_box.setFocus(), S.Find)
    w.act_find_dups = _action(w, "Find Duplicates && Bursts", w.find_duplicates, "Ctrl+D",
                              tip="Group near-identical shots and bursts; pick the best frame of each")
    w.act_collapse = _action(w, "Collapse Duplicates && Bursts", w.show_collapsed, "Ctrl+Shift+D", checkable=True,
                             tip="Show each set as its best frame with a count")
    w.view_actions = {}
    w.view_group = QActionGroup(w)
    for name, text, key, tip in VIEWS:
        action = _action(w, text, lambda _c=False, n=name: w.show_view(n), key, tip=tip)
        action.setCheckable(True)
        w.view_group.addAction(action)
        w.view_actions[name] = action
    w.view_actions["map"].setChecked(True)
    w.act_undo = _action(w, "Undo", w.undo, S.Undo)
    w.act_redo = _action(w, "Redo", w.redo, S.Redo)
    w.act_make_best = _action(w, "Make Best Frame", w.make_best_frame, "Ctrl+B",
                              tip="Make the selected picture the best frame of its set")


def build_toolbars(w: MainWindow) -> None:
    """Two rows, each fitting a 1,024-px window: what the user does all the time (views, search, the map's tools),
    then how the library is analysed (model, map, grouping), set once and then left alone; the filter bar below."""
    main = QToolBar("Main")
    main.setObjectName("main-toolbar")
    main.setMovable(False)
    w.addToolBar(main)
    main.addAction(w.act_add)
    main.addSeparator()
    for action in w.view_actions.values():
        main.addAction(action)
    main.addSeparator()
    w.addToolBarBreak()
    bar = QToolBar("Analysis")
    bar.setObjectName("analysis-toolbar")
    bar.setMovable(False)
    w.addToolBar(bar)
    w.model_box = QComboBox()
    w.model_box.setMaximumWidth(220)
    w.model_box.setToolTip("CLIP model that reads pictures and notes")
    for label, name in MODELS:
        w.model_box.addItem(f"{label} ({name.split(':')[0]})", name)
    w.model_box.addItem("Local model folder…", "")
    w.model_box.activated.connect(w.model_chosen)
    bar.addWidget(QLabel(" Model "))
    bar.addWidget(w.model_box)
    w.reducer_box = QComboBox()
    for name in REDUCERS:
        w.reducer_box.addItem({"umap": "UMAP", "tsne": "t-SNE", "pca": "PCA"}.get(name, name), name)
    w.reducer_box.setToolTip("How the map is drawn (changing it redraws the map on the next Analyze)")
    w.reducer_box.currentIndexChanged.connect(w.reducer_chosen)
    bar.addWidget(QLabel("  Map "))
    bar.addWidget(w.reducer_box)
    w.clusterer_box = QComboBox()
    for label, name in CLUSTERER_LABELS:
        w.clusterer_box.addItem(label, name)
    w.clusterer_box.currentIndexChanged.connect(w.clusterer_changed)
    bar.addWidget(QLabel("  Groups "))
    bar.addWidget(w.clusterer_box)
    w.param_box = QSpinBox()
    w.param_box.setRange(0, 10000)
    w.param_box.setSpecialValueText("auto")
    w.param_box.valueChanged.connect(lambda _v: w.regroup_soon())
    w.param_label = QLabel()
    bar.addWidget(w.param_label)
    w.param_action = bar.addWidget(w.param_box)
    w.prompts_edit = QLineEdit()
    w.prompts_edit.setPlaceholderText("ceremony, portraits, food, landscape")
    w.prompts_edit.setToolTip("One group per prompt (comma-separated); items matching none go to “Other”")
    w.prompts_edit.setMinimumWidth(220)
    w.prompts_edit.returnPressed.connect(w.regroup)
    w.prompts_action = bar.addWidget(w.prompts_edit)
    bar.addSeparator()
    bar.addAction(w.act_analyze)
    bar.addAction(w.act_cancel)
    w.search_box = QLineEdit()
    w.search_box.setPlaceholderText("Search, e.g. “dog on a beach”")
    w.search_box.setClearButtonEnabled(True)
    w.search_box.setMinimumWidth(200)
    w.search_box.returnPressed.connect(w.search)
    w.search_box.textChanged.connect(lambda t: None if t else w.clear_search())
    main.addWidget(w.search_box)
    main.addAction(w.act_more)
    main.addSeparator()
    main.addAction(w.act_fit)
    main.addAction(w.act_outliers)
    main.addAction(w.act_tidy)
    # The filter bar: a second row, shown with View > Filter Bar (or "\\", Lightroom's key for it).
    w.addToolBarBreak()
    w.filter_bar = FilterBar()
    w.filter_bar.filterChanged.connect(w.filter_chosen)
    w.filter_bar.metadataWanted.connect(w.read_metadata)
    w.addToolBar(w.filter_bar)
    w.filter_bar.hide()


def show_clusterer_controls(w: MainWindow) -> None:
    """The parameter box or the prompts field, as the chosen way of grouping needs."""
    name = w.clusterer_box.currentData()
    w.prompts_action.setVisible(name == "prompts")
    w.param_action.setVisible(name not in REGROUPINGS)
    w.param_label.setText({"hdbscan": "  coarseness ", "prompts": "  ", "events": ""}.get(name, "  groups "))
    w.param_box.setToolTip("How coarsely HDBSCAN reads the library (its min_samples): auto is chosen from the data; "
                           "higher makes fewer, larger groups" if name == "hdbscan"
                           else "Number of groups (auto for K-Means: as many as HDBSCAN finds)")


def build_menus(w: MainWindow) -> None:
    menus = w.menuBar()
    file = menus.addMenu("&File")
    for a in (w.act_new_library, w.act_open_library):
        file.addAction(a)
    w.recent_libraries_menu = file.addMenu("Recent Libraries")
    file.addSeparator()
    file.addAction(w.act_add)
    w.recent_menu = file.addMenu("Recent Folders")
    file.addSeparator()
    for a in (w.act_import, w.act_save_as):
        file.addAction(a)
    file.addSeparator()
    for a in (w.act_export_groups, w.act_undo_export, w.act_export):
        file.addAction(a)
    file.addSeparator()
    file.addAction(w.act_quit)
    edit = menus.addMenu("&Edit")
    edit.addAction(w.act_undo)
    edit.addAction(w.act_redo)
    edit.addSeparator()
    edit.addAction(w.act_select_all)
    edit.addAction(w.act_search)
    view = menus.addMenu("&View")
    for a in w.view_actions.values():
        view.addAction(a)
    view.addSeparator()
    for a in (w.act_fit, w.act_zoom_sel, w.act_outliers, w.act_tidy):
        view.addAction(a)
    view.addSeparator()
    filters = w.filter_bar.toggleViewAction()
    filters.setText("Filter Bar")
    filters.setShortcut(QKeySequence("\\"))
    view.addAction(filters)
    view.addSeparator()
    for dock in w.docks.values():
        view.addAction(dock.toggleViewAction())
    w.photo_menu = PhotoMenu(lambda: w.state, w.mark_targets, w)
    menus.addMenu(w.photo_menu)
    cull = menus.addMenu("&Cull")
    for a in (w.act_find_dups, w.act_collapse, w.act_make_best):
        cull.addAction(a)
    groups = menus.addMenu("&Groups")
    for a in (w.act_analyze, w.act_cancel, w.act_new_group, w.act_merge, w.act_more):
        groups.addAction(a)
    w.models_menu = ModelsMenu(w)
    menus.addMenu(w.models_menu)
    help_ = menus.addMenu("&Help")
    help_.addAction("About PhotoAtlas", w.about)


def build_status(w: MainWindow) -> None:
    """The outcome of the last job (``stage_label``) and the selection (``selection_label``) have places of their
    own: selecting a picture never hides "exported 120 files" or "undid the export"."""
    w.selection_label = QLabel()
    w.selection_label.setMaximumWidth(360)
    w.stage_label = QLabel("Ready")
    for label in (w.selection_label, w.stage_label):  # they quote file names: text, never markup
        label.setTextFormat(Qt.TextFormat.PlainText)
    w.stage_label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
    w.progress = QProgressBar()
    w.progress.setMaximumWidth(260)
    w.progress.setTextVisible(True)
    w.progress.hide()
    w.statusBar().addWidget(w.stage_label, 1)
    w.statusBar().addPermanentWidget(w.selection_label)
    w.statusBar().addPermanentWidget(w.progress)
