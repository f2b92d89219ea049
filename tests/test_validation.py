"""Files from outside are checked before they are used: a damaged results document or project is one line on
stderr and exit 2 through the real command line — never a traceback."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT

from desktop_app.core.documents.document import load_results
from desktop_app.core.documents.project import Project
from desktop_app.core.errors import BadArgument

CLI = [sys.executable, "-m", "desktop_app"]


def _document(folder: Path) -> dict[str, Any]:
    """A small, valid schema-2 results document (three pictures, one group, one duplicate set) and its vectors."""
    paths = [str(folder / f"p{i}.jpg") for i in range(3)]
    items = [{"path": p, "kind": "image", "status": "ok", "size": 10, "mtime_ns": 1, "caption_of": None,
              "snippet": None, "raw": None, "meta": {"taken": 1.5e9, "camera": "Canon EOS"}, "x": float(i), "y": 0.5,
              "cluster": 0 if i < 2 else -1, "outlier_score": 0.1, "outlier": False} for i, p in enumerate(paths)]
    vectors = np.eye(3, 4, dtype=np.float32)
    np.savez(folder / "r.vectors.npz", vectors=vectors, centroids=vectors[:1])
    return {"schema": 2, "model": {"spec": "local-dir", "dim": 4}, "items": items, "skipped": [], "stats": {},
            "clusters": [{"id": 0, "name": "red", "size": 2, "representatives": paths[:2], "cohesion": 0.9,
                          "named_by": "vocabulary"}],
            "analysis": {"params": {}, "stats": {}, "warnings": [], "outlier_threshold": 0.8},
            "similar_sets": {"params": {"threshold": 0.9},
                             "sets": [{"kind": "duplicates", "best": paths[0], "chosen_by": "quality",
                                       "members": [{"path": p, "sharpness": 1.0, "readable": True}
                                                   for p in paths[:2]]}]},
            "vectors_file": "r.vectors.npz"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})


def _assert_one_line(run: subprocess.CompletedProcess[str], *words: str) -> None:
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and run.stderr.count("\n") == 1, run.stderr
    for word in words:
        assert word in run.stderr, run.stderr


def _drop(path: str):
    """A change that deletes ``a.b[0].c`` from the document."""
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            name, _, index = part.partition("[")
            node = node[name] if not index else node[name][int(index[:-1])]
        del node[last]
    return change


def _set(path: str, value: Any):
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            name, _, index = part.partition("[")
            node = node[name] if not index else node[name][int(index[:-1])]
        node[last] = value
    return change


# (what is wrong, how to break the document, words the one line must contain)
DAMAGED = [
    ("an item without its path", _drop("items[1].path"), ["items[1].path is missing"]),
    ("an item without its size", _drop("items[0].size"), ["items[0].size is missing"]),
    ("a size that is text", _set("items[0].size", "big"), ["items[0].size must be a whole number, not text"]),
    ("items as an object", _set("items", {"a": 1}), ["items must be a list, not an object"]),
    ("an x without its y", _drop("items[2].y"), ["items[2].y is missing"]),
    ("a group id that is text", _set("clusters[0].id", "0"), ["clusters[0].id must be a whole number"]),
    ("a group without a name", _drop("clusters[0].name"), ["clusters[0].name is missing"]),
    ("warnings as text", _set("analysis.warnings", "none"), ["analysis.warnings must be a list"]),
    ("an unknown duplicate setting", _set("similar_sets.params.speed", 3), ["similar_sets.params.speed"]),
    ("a set member without a path", _drop("similar_sets.sets[0].members[0].path"), ["members[0].path is missing"]),
    ("a capture time that is text", _set("items[0].meta.taken", "yesterday"), ["items[0].meta.taken"]),
    ("the model as text", _set("model", "ViT"), ["model must be an object"]),
    ("vectors somewhere else", _set("vectors_file", "../elsewhere.npz"), ["vectors_file"]),
    ("a position that is NaN", _set("items[0].x", float("nan")), ["items[0].x must be a number, not NaN"]),
    ("a size too big to be whole", _set("items[0].size", 1e30), ["items[0].size must be a whole number, not 1e+30"]),
    ("an item in a group that is not listed", _set("items[0].cluster", 99), ["items[0].cluster is 99, but there is"]),
    ("a negative group size", _set("clusters[0].size", -2), ["clusters[0].size must not be negative"]),
]


@pytest.mark.parametrize("what, change, words", DAMAGED, ids=[d[0] for d in DAMAGED])
def test_a_damaged_results_document_is_one_line_and_exit_2(tmp_path: Path, what, change, words) -> None:
    doc = _document(tmp_path)
    change(doc)
    (tmp_path / "r.json").write_text(json.dumps(doc))
    with pytest.raises(BadArgument) as raised:  # the same check in-process, for the message
        load_results(tmp_path / "r.json")
    assert "\n" not in raised.value.user_message and str(tmp_path / "r.json") in raised.value.user_message
    run = _cli("similar", str(tmp_path / "r.json"), str(tmp_path / "p0.jpg"))
    _assert_one_line(run, *words)


def test_the_intact_document_is_accepted(tmp_path: Path) -> None:
    """The control: the document the cases above break loads, so each failure is the damage, not the fixture."""
    (tmp_path / "r.json").write_text(json.dumps(_document(tmp_path)))
    run = _cli("similar", str(tmp_path / "r.json"), str(tmp_path / "p0.jpg"), "--json")
    assert run.returncode == 0, run.stderr
    assert [hit["path"] for hit in json.loads(run.stdout)] == [str(tmp_path / "p1.jpg"), str(tmp_path / "p2.jpg")]
    result = load_results(tmp_path / "r.json")
    assert len(result.similar_sets) == 1 and result.analysis.clusters[0].name == "red"


@pytest.mark.parametrize("what", ["not JSON", "a JSON list", "fewer vectors than items", "a cut-short npz",
                                  "vectors as text", "a centroid of another size", "map positions of the wrong shape",
                                  "pickled objects"])
def test_damaged_files_around_the_document_are_one_line_and_exit_2(tmp_path: Path, what: str) -> None:
    doc = _document(tmp_path)
    text = json.dumps(doc)
    npz = tmp_path / "r.vectors.npz"
    words = []
    if what == "not JSON":
        text, words = text[: len(text) // 2], ["cannot read the results document"]
    elif what == "a JSON list":
        text, words = json.dumps([doc]), ["is not a PhotoAtlas results document"]
    elif what == "fewer vectors than items":
        np.savez(npz, vectors=np.eye(2, 4, dtype=np.float32))
        words = ["vectors has 2 rows for 3 items"]
    elif what == "a cut-short npz":
        npz.write_bytes(npz.read_bytes()[:100])
        words = ["cannot read the vectors beside"]
    elif what == "vectors as text":
        np.savez(npz, vectors=np.array([["a"] * 4] * 3))
        words = ["vectors must be a table of numbers"]
    elif what == "a centroid of another size":
        np.savez(npz, vectors=np.eye(3, 4, dtype=np.float32), centroids=np.ones((1, 7), np.float32))
        words = ["centroid of group 0 has 7 values"]
    elif what == "pickled objects":  # numpy's own message would suggest loading it "unsafely"
        np.savez(npz, vectors=np.array([object()] * 3, dtype=object))
        words = ["it holds Python objects, not plain arrays"]
    else:  # one number per item where the map needs two: an export would fail after copying every file
        np.savez(npz, vectors=np.eye(3, 4, dtype=np.float32), coords=np.ones(3, np.float32))
        words = ["coords is float32 of shape (3,) for 3 items"]
    (tmp_path / "r.json").write_text(text)
    _assert_one_line(_cli("similar", str(tmp_path / "r.json"), str(tmp_path / "p0.jpg")), *words)
    # export reads the same documents (without needing the vectors): the same one line.
    _assert_one_line(_cli("export", str(tmp_path / "r.json"), str(tmp_path / "out"), "--dry-run"), *words)


def _project(folder: Path) -> dict[str, Any]:
    return {"format": "photoatlas-project", "version": 1, "folders": [str(folder)], "model": "local-dir:/nowhere",
            "analysis": {"reducer": "umap", "clusterer": "prompts", "cluster_params": {"prompts": ["red circle"]},
                         "seed": 0, "vocabulary": None},
            "edits": {"renames": [{"name": "Tomatoes", "members": ["a.jpg"]}], "assignments": {"b.jpg": "Tomatoes"},
                      "hidden": [], "picks": []}}


PROJECTS = [
    ("folders as text", _set("folders", "/photos"), "folders must be a list, not text"),
    ("a rename without members", _drop("edits.renames[0].members"), "edits.renames[0].members is missing"),
    ("a seed that is text", _set("analysis.seed", "0"), "analysis.seed must be a whole number, not text"),
    ("prompts as a number", _set("analysis.cluster_params.prompts", 3), "analysis.cluster_params.prompts must be"),
    ("an assignment to a number", lambda doc: doc["edits"]["assignments"].update({"b.jpg": 1}),
     "edits.assignments.b.jpg must be text"),
    ("the analysis as a list", _set("analysis", []), "analysis must be an object, not a list"),
    ("an unknown clusterer", _set("analysis.clusterer", "bogus"), "analysis.clusterer 'bogus' is not one PhotoAtlas"),
    ("an unknown reducer", _set("analysis.reducer", "magic"), "analysis.reducer 'magic' is not one PhotoAtlas"),
]


@pytest.mark.parametrize("what, change, words", PROJECTS, ids=[p[0] for p in PROJECTS])
def test_a_damaged_project_is_one_clear_line(tmp_path: Path, what, change, words) -> None:
    doc = copy.deepcopy(_project(tmp_path))
    change(doc)
    path = tmp_path / "p.photoatlas"
    path.write_text(json.dumps(doc))
    with pytest.raises(BadArgument) as raised:
        Project.load(path)
    assert words in raised.value.user_message and str(path) in raised.value.user_message


def test_the_intact_project_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.photoatlas"
    path.write_text(json.dumps(_project(tmp_path)))
    project = Project.load(path)
    assert project.analysis.cluster_params == {"prompts": ["red circle"]} and project.edits.assignments


@pytest.mark.parametrize("content, words", [("{not json", "cannot read the project"),
                                            ("[1, 2]", "not a PhotoAtlas project"),
                                            ('{"format": "photoatlas-project", "folders": 7}', "folders must be")])
def test_the_app_started_on_a_damaged_project_exits_2_with_one_line(tmp_path: Path, content: str, words: str) -> None:
    """``photoatlas gui --project BAD --quit-when-done``: exit 2 and one line, not a window waiting forever."""
    pytest.importorskip("PySide6")
    path = tmp_path / "bad.photoatlas"
    path.write_text(content)
    run = _cli("gui", "--project", str(path), "--quit-when-done", "--cache-dir", str(tmp_path / "c"))
    _assert_one_line(run, words)


def test_a_document_that_does_not_name_its_model_says_so(tmp_path: Path) -> None:
    """search needs the model that made the document; without its name, say that (not "unknown model ''")."""
    (tmp_path / "r.json").write_text(json.dumps(_document(tmp_path)))  # its model section has no name
    run = _cli("search", str(tmp_path / "r.json"), "red", "--cache-dir", str(tmp_path / "c"))
    _assert_one_line(run, "does not say which model made it (model.name is missing)")


def test_the_published_schema_is_the_one_the_reader_checks_with() -> None:
    """docs/results-schema.json is generated from the types the writer, the reader and the checks use
    (python -m desktop_app.core.documents.schema > docs/results-schema.json)."""
    from desktop_app.core.documents.schema import schema_json

    assert json.loads((ROOT / "docs" / "results-schema.json").read_text(encoding="utf-8")) == schema_json()


def test_a_document_the_writer_makes_passes_the_schema_it_publishes(tmp_path: Path) -> None:
    import jsonschema

    from desktop_app.core.documents.schema import schema_json

    doc = _document(tmp_path)
    (tmp_path / "r.json").write_text(json.dumps(doc))
    result = load_results(tmp_path / "r.json")
    result.save(tmp_path / "again.json")
    written = json.loads((tmp_path / "again.json").read_text())
    jsonschema.validate(written, schema_json())  # another program's validator agrees
    assert written["items"][0]["meta"] == {"taken": 1.5e9, "camera": "Canon EOS"} and "x" in written["items"][0]
