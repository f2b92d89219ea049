"""The Library: one Qt-free object that is a photographer's library — its folders, its settings, the current
analysis, the duplicate sets, the last export, and every decision (marks, group names, merges, moves, hidden
groups, best frames) kept in its catalogue the moment it is made.

    library = Library.open(Path("Wedding.photoatlas-library"))        # or Library() for one in memory only
    library.add_folders(["~/Pictures/Wedding"])
    library.analysis_job().drive(print)                                # the window runs jobs on a worker thread
    library.state.rate([0, 3], 5)                                      # on disk now; undoable, also after a restart
    library.rename_group(library.analysis.clusters[0].id, "Ceremony")
    library.export_job(Path("~/Sorted"), ExportOptions(min_rating=3)).drive(print)

napari's ``ViewerModel`` is the model: the window (``gui.main_window``) and the command line (``cli``) act on the
library through these methods and listen to its signals; neither holds a copy of what it owns. Signals:

* ``foldersChanged()`` — folders added or removed;
* ``resultChanging(result)`` — a new analysis is about to be swapped in (views holding rows let go of the old ones);
* ``resultChanged()`` — a new analysis was swapped in: rows changed, every view reads everything again;
* ``groupsChanged()`` — the groups changed (an edit, undo, re-grouping): same rows, new ``analysis``;
* ``setsChanged()`` — duplicate/burst sets found, or a best frame changed;
* ``settingsChanged()``, ``lastExportChanged()``, ``metadataChanged()`` (capture dates and cameras read).

The selection, the filter, the marks' arrays and the picture in the loupe are ``state`` (``LibraryState``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from desktop_app.core.analysis.edits import GroupEdits, apply_edits
from desktop_app.core.analysis.groupings import REGROUPINGS, grouping_params
from desktop_app.core.analysis.model import Analysis, AnalysisSettings
from desktop_app.core.analysis.search import Ranking, rank
from desktop_app.core.app_dirs import default_library_dir
from desktop_app.core.documents.document import EmbedResult
from desktop_app.core.documents.project import Project
from desktop_app.core.embedding.settings import EmbedSettings
from desktop_app.core.errors import BadArgument
from desktop_app.core.export.plan import ExportOptions, select_rows
from desktop_app.core.library.catalogue import SUFFIX, Catalogue, CatalogueError, read_name_and_folders
from desktop_app.core.library.decisions import GROUP_KINDS, Change, Decisions
from desktop_app.core.library.history import History
from desktop_app.core.library.jobs import Job, analyse_with_sidecars
from desktop_app.core.library.state import LibraryState
from desktop_app.core.metadata.photo_meta import PhotoMeta
from desktop_app.core.model_names import DEFAULT_MODEL
from desktop_app.core.progress import CancelToken, ProgressEvent
from desktop_app.core.review.duplicates import CullSettings, SimilarSet, apply_picks, sets_from_json, sets_to_json
from desktop_app.core.review.marks import MarkFilter


@dataclass
class LibrarySettings:
    """How the library is analysed: the model, the map and the grouping (a regrouping, "prompts" or "events",
    applies after a map made with the default clusterer), and how duplicates are found."""

    model: str = DEFAULT_MODEL
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    cull: CullSettings = field(default_factory=CullSettings)

    def analysis_to_run(self) -> AnalysisSettings:
        """What the analysis itself runs with (a regrouping runs afterwards on the default clusterer's map)."""
        chosen = self.analysis
        if chosen.clusterer in REGROUPINGS:
            return replace(chosen, clusterer="hdbscan", cluster_params={})
        return chosen

    def to_json(self) -> dict[str, Any]:
        analysis = dataclasses.asdict(self.analysis)
        analysis["vocabulary"] = str(self.analysis.vocabulary) if self.analysis.vocabulary else None
        analysis.pop("relayout", None)  # a one-off request, not a setting
        return {"model": self.model, "analysis": analysis, "cull": self.cull.to_json()}

    @classmethod
    def from_json(cls, data: Any) -> LibrarySettings:
        """Read ``to_json`` back; unknown or mistyped fields fall back to the defaults (never a crash)."""
        if not isinstance(data, dict):
            return cls()
        raw: dict[str, Any] = data["analysis"] if isinstance(data.get("analysis"), dict) else {}
        defaults = AnalysisSettings()
        known: dict[str, Any] = {}
        for name in AnalysisSettings.__dataclass_fields__:
            if name in raw and name != "relayout":
                value = raw[name]
                default = getattr(defaults, name)
                if name == "vocabulary":
                    known[name] = Path(value) if isinstance(value, str) and value else None
                elif isinstance(default, bool):
                    known[name] = value if isinstance(value, bool) else default
                elif isinstance(default, (int, float)):
                    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
                    known[name] = type(default)(value) if is_number else default
                elif isinstance(default, (str, dict)) and isinstance(value, type(default)):
                    known[name] = value
        known = _checked_analysis(known)
        cull_raw: dict[str, Any] = data["cull"] if isinstance(data.get("cull"), dict) else {}
        cull = CullSettings(**{k: float(v) for k, v in cull_raw.items()
                               if k in CullSettings.__dataclass_fields__ and isinstance(v, (int, float))})
        model = data["model"] if isinstance(data.get("model"), str) and data["model"] else DEFAULT_MODEL
        return cls(model=model, analysis=AnalysisSettings(**known), cull=cull)


class Library:
    """See the module's docstring. ``catalogue`` None: a library in memory only (a script; nothing is saved)."""

    foldersChanged = Signal()
    resultChanging = Signal(object)
    resultChanged = Signal()
    groupsChanged = Signal()
    setsChanged = Signal()
    settingsChanged = Signal()
    lastExportChanged = Signal()
    metadataChanged = Signal()

    def __init__(self, catalogue: Catalogue | None = None, *, embed: EmbedSettings | None = None) -> None:
        self.catalogue = catalogue
        # How this computer embeds (device, batch size, cache folder): the front end's, not the library's.
        self.embed = embed or EmbedSettings()
        decisions = Decisions()
        if catalogue is not None:
            decisions.load(catalogue.decisions())
        self.history = History(decisions, catalogue)
        self.history.applied.connect(self._applied)
        self.state = LibraryState(history=self.history)
        self.folders: list[str] = catalogue.folders() if catalogue is not None else []
        self.settings = LibrarySettings.from_json(catalogue.meta("settings") if catalogue is not None else None)
        if catalogue is None and embed is not None:
            self.settings.model = embed.model  # a library in memory analyses with the model it is handed
        self.result: EmbedResult | None = None
        self.base: Analysis | None = None  # what the clusterer found
        self.analysis: Analysis | None = None  # ... with the user's edits on top
        self._saved_sets = catalogue.meta("sets") if catalogue is not None else None
        last = catalogue.meta("last_export") if catalogue is not None else None
        self.last_export: Path | None = Path(last) if isinstance(last, str) else None
        view = catalogue.meta("view") if catalogue is not None else None
        self.view: dict[str, Any] = view if isinstance(view, dict) else {}

    # -- opening and closing -----------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, *, name: str | None = None, embed: EmbedSettings | None = None) -> Library:
        """A new library with its catalogue at ``path`` (``*.photoatlas-library``)."""
        return cls(Catalogue.create(Path(path), name=name), embed=embed)

    @classmethod
    def open(cls, path: Path, *, embed: EmbedSettings | None = None, writable: bool = True,
             wait: float = 0.0) -> Library:
        """Open a library's catalogue for changes (``CatalogueBusy`` when another window has it open, after waiting
        ``wait`` seconds), or only to read it (``writable`` False: also while a window has it open; every decision
        raises ``CatalogueError``)."""
        return cls(Catalogue.open(Path(path), writable=writable, wait=wait), embed=embed)

    @classmethod
    def for_folders(cls, folders: Sequence[str], *, library_dir: Path | None = None,
                    embed: EmbedSettings | None = None) -> Library:
        """The library of exactly these folders in ``library_dir`` (the default libraries folder), opened — or a new
        one named after the first folder. Dropping the same folder again next week brings back its decisions."""
        wanted = sorted(os.path.abspath(f) for f in folders)
        where = library_dir or default_library_dir()
        for path, _name, its_folders in list_libraries(where):
            if sorted(its_folders) == wanted:
                return cls.open(path, embed=embed)
        library = cls.create(new_library_path(where, Path(wanted[0]).name if wanted else "Library"), embed=embed)
        library.add_folders(wanted)
        return library

    @property
    def path(self) -> Path | None:
        return self.catalogue.path if self.catalogue is not None else None

    @property
    def name(self) -> str:
        if self.catalogue is None:
            return "Untitled"
        return str(self.catalogue.meta("name") or self.catalogue.path.name.removesuffix(SUFFIX))

    def close(self) -> None:
        """Close the catalogue (everything is saved already) and release the library's lock."""
        if self.catalogue is not None:
            self.catalogue.close()

    # -- folders and settings (saved at once) ------------------------------------------------------
    def add_folders(self, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
        """Add folders or files (existing, not already in); returns those added."""
        added: list[str] = []
        for p in paths:
            p = os.path.abspath(os.fspath(p))
            if os.path.exists(p) and p not in self.folders and p not in added:
                added.append(p)
        if added:
            folders = [*self.folders, *added]
            self._save("folders", folders)  # saved first: a disk that refuses leaves the library as it was
            self.folders = folders
            self.foldersChanged.emit()
        return added

    def remove_folder(self, folder: str) -> None:
        if folder in self.folders:
            folders = [f for f in self.folders if f != folder]
            self._save("folders", folders)
            self.folders = folders
            self.foldersChanged.emit()

    def set_model(self, model: str) -> None:
        if model and model != self.settings.model:
            self._use_settings(replace(self.settings, model=model))

    def set_reducer(self, reducer: str) -> None:
        if reducer != self.settings.analysis.reducer:
            self._use_settings(replace(self.settings, analysis=replace(self.settings.analysis, reducer=reducer)))

    def set_grouping(self, clusterer: str, params: dict[str, Any]) -> None:
        """How groups are found; ``regroup_job`` applies it to the current map (no new embedding)."""
        if (clusterer, params) != (self.settings.analysis.clusterer, self.settings.analysis.cluster_params):
            analysis = replace(self.settings.analysis, clusterer=clusterer, cluster_params=dict(params))
            self._use_settings(replace(self.settings, analysis=analysis))

    def _use_settings(self, settings: LibrarySettings) -> None:
        self._save("settings", settings.to_json())  # saved first, then used
        self.settings = settings
        self.settingsChanged.emit()

    def set_view(self, **view: Any) -> None:
        """Remember how the user looks at the library (which view, the filter, collapsed sets); not undoable."""
        if any(self.view.get(k) != v for k, v in view.items()):
            new = {**self.view, **view}
            self._save("view", new)
            self.view = new

    def set_filter(self, f: MarkFilter) -> None:
        """The filter of the map and the grid (``state.set_filter``), remembered with the view."""
        self.set_view(filter=f.to_json())
        self.state.set_filter(f)

    def _save(self, what: str, value: Any) -> None:
        """Keep a setting, the folders or the view in the catalogue (a library open for reading only keeps them in
        memory: they are not decisions, and a read-only library refuses those)."""
        if self.catalogue is None or not self.catalogue.writable:
            return
        if what == "folders":
            self.catalogue.set_folders(list(value))
        else:
            self.catalogue.set_meta(what, value)

    # -- what the views read -----------------------------------------------------------------------
    @property
    def edits(self) -> GroupEdits:
        return self.history.decisions.edits

    @property
    def paths(self) -> list[str]:
        return self.state.paths

    @property
    def similar_sets(self) -> list[SimilarSet] | None:
        return self.result.similar_sets if self.result is not None else None

    def group_name_of(self, row: int) -> str:
        a = self.analysis
        if a is None or row >= len(a.labels) or a.labels[row] < 0:
            return "no group"
        return a.cluster(int(a.labels[row])).name

    def members(self, cid: int) -> np.ndarray:
        """Rows of a group or a sub-group; -1: the items in no group."""
        assert self.analysis is not None
        if cid < 0:
            return np.flatnonzero(self.analysis.labels < 0)
        return self.analysis.members(cid)

    def group_title(self, cid: int) -> str:
        assert self.analysis is not None
        return "No group" if cid < 0 else self.analysis.cluster(cid).name

    def hidden_groups(self) -> set[int]:
        assert self.analysis is not None
        return {c.id for c in self.analysis.clusters if c.name in self.edits.hidden}

    def set_of(self, row: int) -> tuple[int, SimilarSet] | None:
        """The duplicate/burst set holding ``row`` and its number, if any."""
        for number, s in enumerate(self.similar_sets or []):
            if row in s.members:
                return number, s
        return None

    def document(self) -> EmbedResult:
        """The results document as the user sees it now — the groups with their edits, the marks, the sets with the
        chosen best frames — as a new object (what an export or a saved document takes; the library's own stays)."""
        if self.result is None:
            raise BadArgument("nothing is analysed yet; analyse the library first")
        sets = self.result.similar_sets
        return replace(self.result, analysis=self.analysis, marks=self.state.marks.copy(),
                       similar_sets=None if sets is None else [replace(s, members=list(s.members),
                                                                       qualities=list(s.qualities)) for s in sets])

    # -- decisions (each one saved and undoable) ---------------------------------------------------
    def undo(self) -> str | None:
        return self.history.undo()

    def redo(self) -> str | None:
        return self.history.redo()

    def mark(self, paths: Iterable[str], *, rating: int | None = None, flag: str | None | bool = False,
             label: str | None | bool = False, text: str | None = None) -> int:
        """Set one part of the marks of pictures given by path (the command line; the views go through ``state``
        by row): ``rating`` 0-5, ``flag`` "pick"/"reject"/None (False: leave), ``label`` a colour/None (False:
        leave). One undoable change; returns how many pictures it changed."""
        return self.state.mark_paths(paths, text or "Mark", rating=rating, flag=flag, label=label)

    def _edit_groups(self, text: str, change: Any) -> bool:
        return self.history.commit(self.history.decisions.edits_change(text, change))

    def rename_group(self, cid: int, name: str) -> str | None:
        """Name a group or a sub-group (names survive re-clustering: ``analysis.edits``); returns the name given.

        A name another group (or, for a sub-group, a sibling) already has gets a number, "Beach (2)": hidden groups
        and moved pictures go by name, so two groups of one name would hide and fill as one."""
        name = " ".join(name.split())
        analysis, paths = self._need_analysis(), self.paths
        if not name or cid < 0 or analysis.cluster(cid).name == name:
            return None
        renamed = analysis.cluster(cid)
        peers = analysis.clusters if renamed.parent is None else analysis.children(renamed.parent)
        taken = {c.name.casefold() for c in peers if c.id != cid}
        wanted, n = name, 2
        while name.casefold() in taken:
            name, n = f"{wanted} ({n})", n + 1
        self._edit_groups(f"Rename to “{name}”", lambda e: e.rename(analysis, paths, cid, name))
        return name

    def merge_groups(self, ids: Sequence[int]) -> None:
        ids = [int(i) for i in ids if i >= 0]
        if len(ids) < 2:
            return
        analysis, paths = self._need_analysis(), self.paths
        self._edit_groups(f"Merge {len(ids)} Groups", lambda e: e.merge(analysis, paths, ids))

    def move_rows(self, rows: Sequence[int], cid: int) -> None:
        """Move ``rows`` into the top-level group ``cid``."""
        rows = sorted({int(r) for r in rows})
        if not rows or cid < 0:
            return
        name, paths = self._need_analysis().cluster(cid).name, self.paths
        what = "1 Item" if len(rows) == 1 else f"{len(rows):,} Items"
        self._edit_groups(f"Move {what} to “{name}”", lambda e: e.move(paths, rows, name))

    def new_group(self, rows: Sequence[int]) -> str | None:
        """A new group made of ``rows``; returns its name."""
        rows = sorted({int(r) for r in rows})
        if not rows:
            return None
        taken = {c.name for c in self._need_analysis().clusters}
        n = 1
        while f"New group {n}" in taken:
            n += 1
        name, paths = f"New group {n}", self.paths
        what = "1 Item" if len(rows) == 1 else f"{len(rows):,} Items"
        self._edit_groups(f"New Group from {what}", lambda e: e.move(paths, rows, name))
        return name

    def set_group_visible(self, cid: int, visible: bool) -> None:
        """Show or hide a top-level group on the map (an undoable decision like the others)."""
        if cid < 0:
            return
        name = self._need_analysis().cluster(cid).name
        if visible == (name not in self.edits.hidden):
            return
        self._edit_groups(f"{'Show' if visible else 'Hide'} “{name}”",
                          lambda e: (e.hidden.discard if visible else e.hidden.add)(name))

    def choose_best(self, row: int) -> bool:
        """``row`` becomes the best frame of its duplicate/burst set; False when it is in none."""
        found = self.set_of(row)
        if found is None:
            return False
        paths = self.paths
        members = {paths[m] for m in found[1].members}

        def change(e: GroupEdits) -> None:
            e.picks -= members
            e.picks.add(paths[row])

        return self._edit_groups(f"Make {Path(paths[row]).name} the Best Frame", change)

    def _need_analysis(self) -> Analysis:
        if self.analysis is None:
            raise BadArgument("nothing is analysed yet; analyse the library first")
        return self.analysis

    def _applied(self, change: Change, _undone: bool) -> None:
        """A change was made, undone or redone: what depends on its kind follows."""
        kinds = change.kinds
        if kinds & GROUP_KINDS and self.base is not None and self.result is not None:
            self._refresh_analysis()
            self.groupsChanged.emit()
        if "pick" in kinds and self.result is not None and self.result.similar_sets:
            apply_picks(self.result.similar_sets, self.result.paths, self.edits.picks)
            self.setsChanged.emit()

    def _refresh_analysis(self) -> None:
        assert self.result is not None and self.base is not None
        self.analysis = apply_edits(self.base, self.result.vectors, self.result.paths, self.edits)

    # -- jobs --------------------------------------------------------------------------------------
    def analysis_job(self, *, relayout: bool = False) -> Job[EmbedResult]:
        """Scan, embed (cache first), map and group the library's folders, and read sidecar marks."""
        if not self.folders:
            raise BadArgument("the library has no folders yet; add a folder first")
        folders = list(self.folders)
        embed = replace(self.embed, model=self.settings.model)
        settings = replace(self.settings.analysis_to_run(), relayout=relayout)
        return Job("Analyzing", lambda token: analyse_with_sidecars(folders, embed, settings, token),
                   self.take_result)

    def take_result(self, result: EmbedResult) -> EmbedResult:
        """A new analysis swapped in: rows renumbered, decisions (by path) applied on top."""
        self.resultChanging.emit(result)
        self.result = result
        self.base = result.analysis
        complete = all(i.meta is not None for i in result.items if i.kind == "image")
        self.state.reset(result.paths, [PhotoMeta.from_json(i.meta) for i in result.items] if complete else None)
        found = result.marks  # what the sidecars say: for the pictures not decided on here
        marks = self.state.marks.copy()
        if not found.is_empty() and marks.fill_from(found):
            self.state.replace_marks(marks)
        if result.similar_sets is None and self._saved_sets:
            # The sets found before, while they were found among exactly these pictures (added or removed
            # pictures may make or break sets: then Find Duplicates looks again).
            found_in = self._saved_sets.get("library")
            if found_in is None or found_in == _paths_digest(result.paths):
                result.similar_sets = sets_from_json(self._saved_sets, result.paths)
        if result.similar_sets:
            apply_picks(result.similar_sets, result.paths, self.edits.picks)
        self._refresh_analysis()
        self.resultChanged.emit()
        return result

    def needs_regroup(self) -> bool:
        """Whether the groups on screen were made with other settings than the library's now (a regrouping is
        chosen, or the toolbar changed while the analysis ran)."""
        if self.base is None:
            return False
        chosen = self.settings.analysis
        if chosen.clusterer in REGROUPINGS:
            return self.base.params.get("regrouping") != {"name": chosen.clusterer, **chosen.cluster_params}
        used = self.base.params.get("clusterer", {})
        return used.get("name") != chosen.clusterer or any(used.get(k) != v for k, v in chosen.cluster_params.items())

    def regroup_job(self) -> Job[Analysis]:
        """Find the groups again with the library's grouping settings, on the current map (no new embedding)."""
        from desktop_app.core.analysis.analyze import recluster
        from desktop_app.core.embedding.pipeline import group_by_events, group_by_prompts, photo_metas

        if self.result is None or self.base is None:
            raise BadArgument("nothing is analysed yet; analyse the library first")
        result, base, embed = self.result, self.base, replace(self.embed, model=self.settings.model)
        name, params = self.settings.analysis.clusterer, dict(self.settings.analysis.cluster_params)
        if name == "prompts" and not params.get("prompts"):
            raise BadArgument("type prompts, e.g. “ceremony, portraits, food”, to group by them")
        kinds = [i.kind for i in result.items]
        texts = [None if i.kind != "text" else (i.snippet or "") for i in result.items]
        metas = self.state.metas or None

        def run(token: CancelToken) -> Generator[ProgressEvent, None, Analysis]:
            yield ProgressEvent("cluster", 0, 1, f"finding groups ({name})")
            if name == "prompts":
                analysis = group_by_prompts(result, params["prompts"], embed, base=base, cancel=token)
            elif name == "events":
                analysis = group_by_events(result, base=base, metas=metas or photo_metas(result))
            else:
                return recluster(base, result.vectors, kinds, texts, name, params)
            return replace(analysis, params={**analysis.params, "regrouping": {"name": name, **params}})

        return Job("Finding groups", run, self._take_groups)

    def _take_groups(self, analysis: Analysis) -> Analysis:
        self.base = analysis
        self._refresh_analysis()
        self.groupsChanged.emit()
        return analysis

    def duplicates_job(self) -> Job[Any]:
        """Near-duplicates and bursts, each with its best frame (the user's choices kept)."""
        from desktop_app.core.embedding.pipeline import find_duplicates

        if self.result is None:
            raise BadArgument("nothing is analysed yet; analyse the library first")
        result, settings, picks = self.result, self.settings.cull, set(self.edits.picks)
        return Job("Finding duplicates", lambda token: find_duplicates(result, settings, token, picks),
                   self._take_sets)

    def _take_sets(self, found: Any) -> list[SimilarSet]:
        from desktop_app.core.embedding.pipeline import keep_metas

        assert self.result is not None
        self.result.similar_sets, self.result.cull_settings = found.sets, found.settings
        self._take_metas(found.metas)
        keep_metas(self.result, found.metas)
        apply_picks(found.sets, self.result.paths, self.edits.picks)
        self._saved_sets = {**sets_to_json(found.sets, self.result.paths, found.settings),
                            "library": _paths_digest(self.result.paths)}
        self._save("sets", self._saved_sets)
        self.setsChanged.emit()
        return list(found.sets)

    def metadata_job(self) -> Job[list[PhotoMeta]]:
        """Capture dates, cameras and places of every picture (for the filter bar and bursts)."""
        from desktop_app.core.embedding.pipeline import photo_metas

        if self.result is None:
            raise BadArgument("nothing is analysed yet; analyse the library first")
        result = self.result

        def run(_token: CancelToken) -> Generator[ProgressEvent, None, list[PhotoMeta]]:
            yield ProgressEvent("metadata", 0, None, "reading capture dates and cameras")
            return photo_metas(result)

        return Job("Reading dates and cameras", run, self._take_metas)

    def _take_metas(self, metas: list[PhotoMeta]) -> list[PhotoMeta]:
        from desktop_app.core.embedding.pipeline import keep_metas

        if self.result is None or len(metas) != len(self.state.paths):
            return metas  # a new analysis replaced the library meanwhile
        keep_metas(self.result, metas)
        self.state.metas = list(metas)
        self.metadataChanged.emit()
        return metas

    def search_job(self, query: str, top: int | None = None) -> Job[Ranking]:
        """Rank every item by a text query (CLIP's text tower; cached per model)."""
        from desktop_app.core.embedding.pipeline import query_vector

        if self.result is None:
            raise BadArgument("nothing is analysed yet; analyse the library first")
        if not query.strip():
            raise BadArgument("the search query is empty")
        result, embed = self.result, replace(self.embed, model=self.settings.model)

        def run(token: CancelToken) -> Generator[ProgressEvent, None, Ranking]:
            yield ProgressEvent("search", 0, 1, f"“{query}”")
            return rank(result.vectors, query_vector(result.model, query, embed, cancel=token), top=top)

        return Job("Searching", run, lambda ranking: ranking)

    def similar(self, row: int, top: int | None = None) -> Ranking:
        """Every other item ranked by similarity to ``row`` (instant: one matrix product)."""
        if self.result is None:
            raise BadArgument("nothing is analysed yet; analyse the library first")
        return rank(self.result.vectors, self.result.vectors[row], top=top, exclude=row)

    def export_count(self, options: ExportOptions) -> tuple[int, int]:
        """(files, bytes) the export with ``options`` takes — the export's own rule (``export.plan.select_rows``),
        so the dialog's count is what is exported (companions aside)."""
        if self.result is None:
            raise BadArgument("nothing is analysed yet; analyse the library first")
        # Read-only use: the library's own objects, not the copies ``document`` makes (this runs at every change
        # of the dialog); the marks go in as the arrays the state keeps up to date.
        doc = replace(self.result, analysis=self.analysis, marks=self.state.marks)
        keep, _ = select_rows(doc, replace(options, marks=None), self.state.mark_arrays())
        sizes = np.fromiter((i.size for i in doc.items), np.int64, len(doc.items))
        return int(keep.sum()), int(sizes[keep].sum())

    def export_job(self, dest: Path, options: ExportOptions) -> Job[Any]:
        """Export the groups as the user sees them now (edits, marks and best frames as they are when it starts)."""
        from desktop_app.core.export.run import run_export

        doc = self.document()
        # The document's marks: the library's, as they are now. Its folders: the library's own, the ones the user
        # chose (an export takes files from under them only), whatever the document says.
        # (A library opened from a results document alone has no folders of its own: then the document's.)
        folders = [os.path.abspath(f) for f in self.folders] or None
        options = replace(options, marks=None, folders=folders)
        return Job("Exporting", lambda token: run_export(doc, dest, options, token),
                   lambda summary: self._exported(Path(dest), summary))

    def _exported(self, dest: Path, summary: Any) -> Any:
        if not getattr(summary, "dry_run", False):
            self._set_last_export(Path(dest).expanduser().resolve())
        return summary

    def undo_export_job(self) -> Job[Any]:
        """Reverse the last export (it stays undoable after a restart: the catalogue remembers where it went)."""
        from desktop_app.core.export.undo import undo_export

        if self.last_export is None:
            raise BadArgument("there is no export to undo")
        dest = self.last_export
        return Job("Undoing the export", lambda _token: undo_export(dest), self._export_undone)

    def _export_undone(self, summary: Any) -> Any:
        self._set_last_export(None)
        return summary

    def _set_last_export(self, dest: Path | None) -> None:
        self.last_export = dest
        self._save("last_export", str(dest) if dest is not None else None)
        self.lastExportChanged.emit()

    # -- project files: a portable copy of a library -----------------------------------------------
    def to_project(self) -> Project:
        sets = self.result.similar_sets if self.result is not None else None
        saved = (sets_to_json(sets, self.result.paths, self.result.cull_settings)
                 if sets is not None and self.result is not None else self._saved_sets)
        return Project(folders=list(self.folders), model=self.settings.model, analysis=self.settings.analysis,
                       edits=self.edits, marks=self.state.marks.copy(), similar_sets=saved)

    def save_project(self, path: Path) -> None:
        """Write the library as a project file (``*.photoatlas``: JSON, to move a library to another computer)."""
        self.to_project().save(Path(path))

    def take_project(self, project: Project) -> list[str]:
        """Fill this (new, empty) library from a project file: folders, settings, decisions and sets. Returns the
        project's folders that are not there (moved, or on a disk that is not connected).

        A project comes from outside: its settings go through the same checks as the catalogue's (anything out of
        shape falls back to the defaults), it names no vocabulary file of its own (a path elsewhere on this
        computer), and its decisions about pictures outside its folders are left out."""
        folders = [f for f in project.folders if os.path.exists(f)]
        settings = LibrarySettings.from_json({"model": project.model, "analysis": {
            **LibrarySettings(analysis=project.analysis).to_json()["analysis"], "vocabulary": None}})
        roots = [f.rstrip("/\\") for f in project.folders]

        def inside(path: str) -> bool:
            return any(path == r or path.startswith((r + "/", r + "\\")) for r in roots)

        source = Decisions(project.marks.copy(), project.edits)
        rows = [(kind, key, value) for kind, key, value in source.rows()
                if kind in ("hidden", "rename") or inside(key)]
        decisions = Decisions()
        decisions.load(rows)
        if decisions.edits.renames:  # a rename's members: only pictures inside the folders
            decisions.edits.renames = [(name, frozenset(m for m in members if inside(m)))
                                       for name, members in decisions.edits.renames]
            decisions.load(list(decisions.rows()))
        if self.catalogue is not None:  # all of it saved before any of it is used
            self.catalogue.set_meta("settings", settings.to_json())
            self.catalogue.replace_decisions(decisions.rows())
            self.catalogue.set_meta("sets", project.similar_sets)
            self.catalogue.set_folders(folders)
        self.settings = settings
        self.history.decisions.load(decisions.rows())
        self.history.clear()
        self._saved_sets = project.similar_sets
        self.folders = folders
        self.settingsChanged.emit()
        self.foldersChanged.emit()
        return [f for f in project.folders if f not in folders]


def _checked_analysis(known: dict[str, Any]) -> dict[str, Any]:
    """Analysis settings read from a file (catalogue or project) that an analysis can run with: a way of grouping
    PhotoAtlas knows with parameters of the right types (else the default grouping), a seed in NumPy's range, a
    known reducer with no parameters of its own (the map's are PhotoAtlas's)."""
    from desktop_app.core.analysis.layout import REDUCERS

    checked = dict(known)
    if checked.get("reducer") not in REDUCERS:
        checked.pop("reducer", None)
    checked.pop("reducer_params", None)
    if not 0 <= int(checked.get("seed", 0)) < 2**32:
        checked.pop("seed")
    params = checked.get("cluster_params", {})
    try:
        clusterer = checked.get("clusterer", "hdbscan")
        allowed = {"k", "min_samples", "min_cluster_size", "subgroups", "eps", "prompts"}
        if set(params) - allowed:
            raise BadArgument("unknown grouping parameters")
        checked["cluster_params"] = grouping_params(clusterer, **params)
    except (BadArgument, TypeError):
        checked.pop("clusterer", None)
        checked.pop("cluster_params", None)
    outlier = checked.get("outlier_threshold")
    if outlier is not None and not (isinstance(outlier, float) and 0.0 <= outlier <= 1.0):
        checked.pop("outlier_threshold")
    return checked


def _paths_digest(paths: Sequence[str]) -> str:
    """Which pictures, in which order, a set of duplicates was found among."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:24]


def list_libraries(library_dir: Path | None = None) -> list[tuple[Path, str, list[str]]]:
    """The libraries in ``library_dir`` (default: the platform's libraries folder): (catalogue, name, folders)."""
    where = library_dir or default_library_dir()
    out = []
    try:
        candidates = sorted(where.glob(f"*{SUFFIX}"))
    except OSError:
        return []
    for path in candidates:
        read = read_name_and_folders(path)
        if read is not None:
            out.append((path, read[0], read[1]))
    return out


def new_library_path(library_dir: Path, name: str) -> Path:
    """A free catalogue name in ``library_dir`` for a library called ``name`` ("Wedding", "Wedding 2", …)."""
    from desktop_app.core.filenames import safe_name

    base = safe_name(name.strip() or "Library").rstrip(". ") or "Library"
    candidate = library_dir / f"{base}{SUFFIX}"
    n = 2
    while candidate.exists():
        candidate = library_dir / f"{base} {n}{SUFFIX}"
        n += 1
    return candidate


__all__ = ["CatalogueError", "Library", "LibrarySettings", "list_libraries", "new_library_path"]
