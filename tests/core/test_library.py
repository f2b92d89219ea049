"""The Library and its catalogue, Qt-free, with the tiny real CLIP on real files: every decision is on disk the
moment it is made (another connection sees it at once), comes back after a reopen with its undo history, and a disk
that refuses a decision means the decision was not made."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, save_shape

from desktop_app.core.embedding.settings import EmbedSettings
from desktop_app.core.errors import BadArgument
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.library.catalogue import HISTORY_LIMIT, Catalogue, CatalogueBusy, CatalogueError, NotALibrary
from desktop_app.core.library.decisions import Change, Decisions, Edit
from desktop_app.core.library.library import Library, list_libraries
from desktop_app.core.review.marks import Mark, MarkFilter
from desktop_app.core.review.sidecar_marks import write_mark

GROUPS = [("red", "circle"), ("blue", "square"), ("green", "triangle")]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pictures")
    for n in range(4):
        for colour, shape in GROUPS:
            save_shape(root / f"{colour}-{shape}-{n}.jpg", colour, shape, seed=n)
    return root


def _embed(tmp_path: Path) -> EmbedSettings:
    return EmbedSettings(cache_dir=tmp_path / "cache")


def _analysed(tmp_path: Path, pictures: Path, library: Library | None = None) -> Library:
    library = library or Library.for_folders([str(pictures)], library_dir=tmp_path / "libraries",
                                             embed=_embed(tmp_path))
    library.set_model(TINY_MODEL)
    library.analysis_job().drive()
    return library


def _rows(library: Library, *stems: str) -> list[int]:
    return [i for i, p in enumerate(library.paths) if Path(p).stem in stems]


def _saved_marks(catalogue: Path) -> dict[str, object]:
    """What the catalogue file holds now, read by a connection of its own (not the library's)."""
    with sqlite3.connect(catalogue) as conn:
        rows = conn.execute("SELECT kind, key, value FROM decisions").fetchall()
    return {json.loads(k): json.loads(v) for kind, k, v in rows if kind == "mark"}


def test_every_decision_is_on_disk_when_made_and_comes_back_with_its_history(tmp_path, pictures) -> None:
    library = _analysed(tmp_path, pictures)
    path = library.path
    assert path is not None and path.parent == tmp_path / "libraries" and library.name == pictures.name
    library.state.rate(_rows(library, "red-circle-0", "red-circle-1"), 4)
    assert len(_saved_marks(path)) == 2  # committed: another connection reads it before anything is closed
    red = library.analysis.cluster(int(library.analysis.labels[_rows(library, "red-circle-0")[0]]))
    library.rename_group(red.id, "Tomatoes")
    blue = library.analysis.labels[_rows(library, "blue-square-0")[0]]
    green = library.analysis.labels[_rows(library, "green-triangle-0")[0]]
    library.merge_groups([int(blue), int(green)])
    library.set_group_visible(red.id, False)
    library.state.flag(_rows(library, "green-triangle-3"), "reject")
    names = sorted(c.name for c in library.analysis.clusters)
    assert "Tomatoes" in names and len(library.analysis.clusters) == 2
    library.undo()  # the reject: undone, and the undo is saved too
    assert library.history.redo_text == "Reject (picture)"
    library.close()

    again = _analysed(tmp_path, pictures, Library.open(path, embed=_embed(tmp_path)))
    try:
        marks = again.state.marks
        assert marks.get(str(pictures / "red-circle-0.jpg")) == Mark(4) and marks.get(
            str(pictures / "green-triangle-3.jpg")) == Mark()
        assert sorted(c.name for c in again.analysis.clusters) == names
        assert again.hidden_groups() == {next(c.id for c in again.analysis.clusters if c.name == "Tomatoes")}
        assert again.history.undo_text == "Hide “Tomatoes”" and again.history.redo_text == "Reject (picture)"
        again.redo()  # the history goes on across the restart
        assert again.state.marks.get(str(pictures / "green-triangle-3.jpg")).flag == "reject"
        for _ in range(4):
            again.undo()
        assert "Tomatoes" not in {c.name for c in again.analysis.clusters} and len(again.analysis.clusters) == 3
        assert again.undo() == "Rate ★4 (2 pictures)" and again.undo() is None
        assert _saved_marks(path) == {}
    finally:
        again.close()


def test_the_same_folders_open_the_same_library_and_one_window_at_a_time(tmp_path, pictures) -> None:
    first = Library.for_folders([str(pictures)], library_dir=tmp_path / "libs")
    with pytest.raises(CatalogueBusy, match="open in another PhotoAtlas window"):
        Library.for_folders([str(pictures)], library_dir=tmp_path / "libs")
    reader = Library.open(first.path, writable=False)  # reading beside the window is fine
    try:
        with pytest.raises(CatalogueError, match="open for reading only"):
            reader.mark([str(pictures / "red-circle-0.jpg")], rating=3)
        assert reader.state.marks.get(str(pictures / "red-circle-0.jpg")) == Mark()  # not made, not shown
    finally:
        reader.close()
    first.close()
    second = Library.for_folders([str(pictures)], library_dir=tmp_path / "libs")
    assert second.path == first.path
    second.close()
    assert [(p.name, folders) for p, _, folders in list_libraries(tmp_path / "libs")] == [
        (first.path.name, [str(pictures)])]


def test_a_disk_that_refuses_a_decision_leaves_it_unmade(tmp_path, pictures) -> None:
    library = Library.create(tmp_path / "l.photoatlas-library")
    try:
        library.add_folders([str(pictures)])
        library.catalogue._conn.execute("PRAGMA query_only = ON")  # the disk says no, as a full one would
        with pytest.raises(CatalogueError, match="could not save"):
            library.mark([str(pictures / "red-circle-0.jpg")], rating=5)
        assert library.state.marks.is_empty() and library.history.undo_text is None
    finally:
        library.close()


def test_odd_paths_and_a_long_history_are_kept_exactly(tmp_path) -> None:
    odd = "/cards/DCIM/\udcff\udcfeIMG_0001.JPG"  # a name that is not UTF-8 (Latin-1 from an old camera)
    library = Library.create(tmp_path / "l.photoatlas-library")
    library.mark([odd], rating=2, label="Red")
    for n in range(HISTORY_LIMIT + 5):
        library.mark([f"/p/{n}.jpg"], flag="pick")
    library.close()
    again = Library.open(tmp_path / "l.photoatlas-library")
    try:
        assert again.state.marks.get(odd) == Mark(2, None, "Red")
        assert len(again.catalogue.history()) == HISTORY_LIMIT  # the oldest steps go
    finally:
        again.close()


def test_a_file_that_is_not_a_library_is_one_line(tmp_path) -> None:
    bad = tmp_path / "x.photoatlas-library"
    bad.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(NotALibrary) as raised:
        Library.open(bad)
    assert "\n" not in raised.value.user_message and raised.value.exit_code == 2
    empty = tmp_path / "other.db"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(NotALibrary, match="is not a PhotoAtlas library"):
        Library.open(empty)
    with pytest.raises(CatalogueError, match="already a library"):
        Catalogue.create(bad)


def test_changes_are_rows_that_undo_exactly() -> None:
    decisions = Decisions()
    change = decisions.edits_change("Hide", lambda e: e.hidden.add("beach"))
    assert change.edits == [Edit("hidden", "beach", None, True)]
    decisions.apply(change.edits)
    rename = decisions.edits_change("Rename", lambda e: e.renames.append(("Sea", frozenset({"/a"}))))
    decisions.apply(rename.edits)
    assert decisions.edits.renames == [("Sea", frozenset({"/a"}))] and decisions.edits.hidden == {"beach"}
    decisions.apply(rename.edits, "before")
    decisions.apply(change.edits, "before")
    assert decisions.edits.is_empty()
    again = Decisions()
    again.load([("rename", "0000000003", {"name": "B", "members": ["/b"]}),
                ("rename", "0000000001", {"name": "A", "members": ["/a"]}), ("mark", "/x", {"rating": 9})])
    assert [n for n, _ in again.edits.renames] == ["A", "B"]  # in sequence order, whatever order the rows came in
    assert again.marks.get("/x") == Mark()  # a rating out of range is dropped, never a crash
    assert Change("x", []).kinds == set()


def test_sidecar_marks_are_read_on_analysis_but_the_librarys_own_decisions_win(tmp_path, pictures) -> None:
    lib = tmp_path / "rated"
    lib.mkdir()
    for name in ("red-circle-0.jpg", "blue-square-0.jpg", "green-triangle-0.jpg"):
        (lib / name).write_bytes((pictures / name).read_bytes())
    write_mark(lib / "red-circle-0.jpg", Mark(4, None, "Green"))  # as Lightroom left it
    write_mark(lib / "blue-square-0.jpg", Mark(5))
    library = _analysed(tmp_path, lib)
    try:
        library.state.rate(_rows(library, "blue-square-0"), 1)  # decided here: the sidecar's 5 no longer counts
        library.analysis_job().drive()
        marks = library.state.marks
        assert marks.get(str(lib / "red-circle-0.jpg")) == Mark(4, None, "Green")
        assert marks.get(str(lib / "blue-square-0.jpg")).rating == 1
        assert set(_saved_marks(library.path)) == {str(lib / "blue-square-0.jpg")}  # sidecars' stay theirs
    finally:
        library.close()


def test_the_export_count_is_what_the_export_takes_for_every_filter(tmp_path, pictures) -> None:
    library = _analysed(tmp_path, pictures)
    try:
        library.state.rate(_rows(library, "red-circle-0", "red-circle-1", "blue-square-0"), 4)
        library.state.flag(_rows(library, "red-circle-1"), "reject")  # rated, then rejected: never "3 stars or more"
        library.state.flag(_rows(library, "green-triangle-2", "blue-square-3"), "pick")
        library.state.label(_rows(library, "green-triangle-2"), "Red")
        library.duplicates_job().drive()
        first = int(library.analysis.clusters[0].id)
        cases = [ExportOptions(), ExportOptions(min_rating=3), ExportOptions(picks_only=True),
                 ExportOptions(not_rejected=True), ExportOptions(groups={first}, include_noise=True),
                 ExportOptions(min_rating=4, not_rejected=True), ExportOptions(best_only=True, picks_only=True)]
        for n, options in enumerate(cases):
            files, size = library.export_count(options)
            dest = tmp_path / f"out{n}"
            summary = library.export_job(dest, options).drive()
            exported = [p for p in dest.rglob("*.jpg")]
            assert summary.done == files == len(exported), options
            assert size == sum(p.stat().st_size for p in exported)
        # red-circle-0 and blue-square-0 (if grouped); the rejected red-circle-1 never
        rated = [r for r in _rows(library, "red-circle-0", "blue-square-0") if library.analysis.labels[r] >= 0]
        assert library.export_count(ExportOptions(min_rating=3))[0] == len(rated) > 0
        assert library.last_export == (tmp_path / f"out{len(cases) - 1}").resolve()
    finally:
        library.close()


def test_undo_last_export_works_after_the_library_is_reopened(tmp_path, pictures) -> None:
    library = _analysed(tmp_path, pictures)
    dest = tmp_path / "sorted"
    library.export_job(dest, ExportOptions()).drive()
    assert len(list(dest.rglob("*.jpg"))) == len(library.paths)
    path = library.path
    library.close()
    again = Library.open(path)
    try:
        assert again.last_export == dest.resolve()
        summary = again.undo_export_job().drive()
        assert summary.reversed == len(list(pictures.glob("*.jpg"))) and not list(dest.rglob("*.jpg"))
        assert again.last_export is None
        with pytest.raises(BadArgument, match="no export to undo"):
            again.undo_export_job()
    finally:
        again.close()
    assert Library.open(path, writable=False).last_export is None


def test_the_filter_and_the_view_are_remembered(tmp_path) -> None:
    library = Library.create(tmp_path / "v.photoatlas-library")
    wanted = MarkFilter(min_rating=3, hide_rejected=True, labels=frozenset({"Red"}))
    library.set_filter(wanted)
    library.set_view(view="grid")
    library.close()
    again = Library.open(tmp_path / "v.photoatlas-library", writable=False)
    assert MarkFilter.from_json(again.view["filter"]) == wanted and again.view["view"] == "grid"
    again.close()


def test_a_project_file_becomes_a_library_with_every_decision(tmp_path, pictures) -> None:
    library = _analysed(tmp_path, pictures)
    library.state.rate(_rows(library, "red-circle-2"), 3)
    library.rename_group(library.analysis.clusters[0].id, "Firsts")
    library.save_project(tmp_path / "trip.photoatlas")
    library.close()
    from desktop_app.core.documents.project import Project

    copy = Library.create(tmp_path / "copy.photoatlas-library", embed=_embed(tmp_path))
    copy.take_project(Project.load(tmp_path / "trip.photoatlas"))
    _analysed(tmp_path, pictures, copy)
    try:
        assert copy.settings.model == TINY_MODEL and copy.folders == [str(pictures)]
        assert copy.state.marks.get(str(pictures / "red-circle-2.jpg")).rating == 3
        assert "Firsts" in {c.name for c in copy.analysis.clusters}
        assert copy.history.undo_text is None  # imported, not done here
    finally:
        copy.close()


def test_jobs_leave_what_the_views_read_alone_until_they_finish(tmp_path, pictures) -> None:
    library = _analysed(tmp_path, pictures)
    try:
        before, items = library.result, list(library.result.items)
        job = library.duplicates_job()
        from desktop_app.core.progress import CancelToken, drive

        found = drive(job.run(CancelToken()))
        assert library.result is before and library.result.similar_sets is None  # nothing swapped in yet
        assert all(i.meta is None for i in items)  # capture data read, not written into the shared items
        job.finish(found)
        assert library.result.similar_sets is not None
        assert all(i.meta is not None for i in library.result.items)
        regroup = library.regroup_job()
        library.set_grouping("kmeans", {"k": 2})
        analysis = drive(regroup.run(CancelToken()))  # the settings when the job was made
        assert library.base is not analysis and np.array_equal(library.base.labels, library.analysis.labels)
    finally:
        library.close()


def test_a_library_in_memory_saves_nothing(tmp_path, pictures) -> None:
    library = Library(embed=_embed(tmp_path))
    library.add_folders([str(pictures), str(tmp_path / "missing")])
    assert library.folders == [str(pictures)] and library.path is None and library.name == "Untitled"
    library.mark([str(pictures / "red-circle-0.jpg")], rating=2)
    assert library.undo() == "Mark (picture)"
    assert not os.listdir(tmp_path) or set(os.listdir(tmp_path)) <= {"cache"}


@pytest.mark.parametrize("folder", ["a#b", "q?x", "100% sure", "Cafe\u0301 ☕"])
def test_a_library_kept_in_a_folder_with_odd_characters_opens(tmp_path, folder) -> None:
    """The catalogue is opened by URI: '#', '?', '%' and decomposed accents in its folder's name must not change
    which file is opened (a percent-encoding slip would open, and make, another one)."""
    where = tmp_path / folder / "Trip.photoatlas-library"
    where.parent.mkdir()
    library = Library.create(where)
    library.mark(["/p.jpg"], rating=3)
    library.close()
    again = Library.open(where)
    try:
        assert again.state.marks.get("/p.jpg").rating == 3 and again.name == "Trip"
    finally:
        again.close()
    assert sorted(p.name for p in where.parent.iterdir() if not p.name.endswith((".lock", "-wal", "-shm"))) == [
        "Trip.photoatlas-library"]


def test_another_name_for_a_library_is_not_a_way_around_its_lock(tmp_path) -> None:
    """A symlink shares the lock of the file it names; a hard link (another name, no way to tell) is refused for
    changes — two writers would otherwise lose each other's decisions."""
    real = tmp_path / "Real.photoatlas-library"
    window = Library.create(real)
    try:
        (tmp_path / "Link.photoatlas-library").symlink_to(real)
        with pytest.raises(CatalogueBusy):
            Library.open(tmp_path / "Link.photoatlas-library")
    finally:
        window.close()
    os.link(real, tmp_path / "Hard.photoatlas-library")
    for name in ("Real", "Hard"):
        with pytest.raises(CatalogueError, match="other names"):
            Library.open(tmp_path / f"{name}.photoatlas-library")
    Library.open(tmp_path / "Hard.photoatlas-library", writable=False).close()  # reading is fine


def test_a_file_that_is_refused_is_left_exactly_as_it_was(tmp_path) -> None:
    import hashlib

    foreign = tmp_path / "places.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE moz_places (url TEXT)")
    conn.commit()
    conn.close()
    empty = tmp_path / "empty.photoatlas-library"
    empty.write_bytes(b"")
    for victim in (foreign, empty):
        before = hashlib.sha256(victim.read_bytes()).hexdigest()
        with pytest.raises(NotALibrary):
            Library.open(victim)
        assert hashlib.sha256(victim.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.photoatlas-library", "places.sqlite"]


def test_damaged_rows_and_history_steps_are_left_out_not_fatal(tmp_path) -> None:
    path = tmp_path / "d.photoatlas-library"
    library = Library.create(path)
    library.mark(["/a.jpg"], rating=4)
    library.mark(["/b.jpg"], rating=2)
    library.close()
    with sqlite3.connect(path) as conn:
        deep = "[" * 100_000 + "]" * 100_000
        conn.executemany("INSERT INTO decisions VALUES (?, ?, ?)", [
            ("rename", '"0000000000"', '{"name": "X", "members": 5}'),  # members not a list
            ("rename", '"zz"', '{"name": "Y", "members": []}'),  # a key that is no sequence number
            ("mark", '"/c.jpg"', deep), ("pick", '"/d.jpg"', '"yes"')])
        newest = conn.execute("SELECT max(seq) FROM history").fetchone()[0]
        conn.execute("UPDATE history SET edits = ? WHERE seq = ?",
                     ('[["rename", "0000000005", {"name": "X", "members": 5}, null]]', newest))
    again = Library.open(path)
    try:
        assert again.state.marks.get("/a.jpg").rating == 4 and not again.edits.renames and not again.edits.picks
        assert again.history.undo_text == "Mark (picture)"  # the damaged step is still listed…
        assert again.undo() == "Mark (picture)"  # …and skipped when reached: the step before it is undone
        assert again.state.marks.get("/a.jpg").rating == 0
    finally:
        again.close()
    Library.open(path, writable=False).close()  # and it still opens afterwards


def test_what_a_refusing_disk_refuses_is_not_shown_as_done(tmp_path, pictures) -> None:
    library = Library.create(tmp_path / "l.photoatlas-library")
    try:
        library.catalogue._conn.execute("PRAGMA query_only = ON")
        for change in (lambda: library.add_folders([str(pictures)]), lambda: library.set_model("other:model"),
                       lambda: library.set_filter(MarkFilter(min_rating=2)), lambda: library.set_view(view="grid")):
            with pytest.raises(CatalogueError):
                change()
        assert library.folders == [] and library.settings.model != "other:model"
        assert not library.state.filter.active and library.view == {}
    finally:
        library.close()


def test_an_imported_project_brings_decisions_about_its_own_folders_only(tmp_path, pictures) -> None:
    from desktop_app.core.documents.project import Project

    doc = {"format": "photoatlas-project", "version": 1, "folders": ["pictures", "/nowhere/else"],
           "model": "local-dir:x",
           "analysis": {"clusterer": "kmeans", "cluster_params": {"k": "many"}, "seed": 2 ** 70,
                        "vocabulary": "/etc/passwd"},
           "marks": {"rating": {str(tmp_path / "pictures" / "a.jpg"): 4, "/etc/passwd": 5}}}
    (tmp_path / "pictures").mkdir()
    (tmp_path / "trip.photoatlas").write_text(json.dumps(doc))
    project = Project.load(tmp_path / "trip.photoatlas")
    assert project.folders[0] == str(tmp_path / "pictures")  # relative to the project file, not to the program
    library = Library.create(tmp_path / "t.photoatlas-library")
    try:
        missing = library.take_project(project)
        assert missing == ["/nowhere/else"] and library.folders == [str(tmp_path / "pictures")]
        assert dict(library.state.marks.rating) == {str(tmp_path / "pictures" / "a.jpg"): 4}
        analysis = library.settings.analysis
        assert analysis.clusterer == "hdbscan" and analysis.seed == 0 and analysis.vocabulary is None
    finally:
        library.close()


def test_a_move_takes_only_files_under_the_librarys_own_folders(tmp_path, pictures) -> None:
    """The library's folders (chosen by the user) decide what an export may take, not the document it hands the
    export: a document that claims a wider folder and lists a picture elsewhere moves the library's pictures only."""
    library = _analysed(tmp_path, pictures)
    try:
        elsewhere = tmp_path / "elsewhere" / "stray.jpg"
        elsewhere.parent.mkdir()
        elsewhere.write_bytes((pictures / "red-circle-0.jpg").read_bytes())
        library.result.items[0].path = str(elsewhere)  # as a tampered document would list it
        library.result.folders = [str(tmp_path)]
        summary = library.export_job(tmp_path / "sorted", ExportOptions(mode="move", include_noise=True)).drive()
        assert elsewhere.exists() and summary.failed == [(str(elsewhere), "not under the library's folders; "
                                                                          "not exported")]
        assert summary.done == len(library.paths) - 1
    finally:
        library.close()
