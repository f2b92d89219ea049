"""Checks for the files PhotoAtlas reads back from outside: results documents (``*.json`` + ``.vectors.npz``)
and projects (``*.photoatlas``).

Those files can be edited by hand, written by another program, cut short or tampered with. Every field
that the loaders use is checked here first, so a wrong type or a missing key is one ``BadArgument`` line
naming the file and the field (``r.json: items[3].size must be a whole number, not text``) — never a
``TypeError`` or ``KeyError`` from deep inside the loader. The CLI exits 2 on it; the window shows it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from desktop_app.core.errors import BadArgument


def _kind(value: Any) -> str:
    """How a JSON value is called in a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "infinite"
    if isinstance(value, float):
        return f"{value:g}"  # 1e+30 is not a whole number; 2.5 is not one either
    if isinstance(value, int):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# name shown in the message -> test
TEXT = ("text", lambda v: isinstance(v, str))
WHOLE = ("a whole number", _is_int)
NUMBER = ("a number", _is_number)
FLAG = ("true or false", lambda v: isinstance(v, bool))
OBJECT = ("an object", lambda v: isinstance(v, dict))
LIST = ("a list", lambda v: isinstance(v, list))
Type = tuple[str, Callable[[Any], bool]]


def _or_null(t: Type) -> Type:
    return (f"{t[0]} or null", lambda v: v is None or t[1](v))


# The types of the analysis settings a project stores (AnalysisSettings' fields).
PROJECT_SETTINGS: dict[str, Type] = {
    "reducer": TEXT, "reducer_params": OBJECT, "clusterer": TEXT, "cluster_params": OBJECT, "seed": WHOLE,
    "assign_noise": FLAG, "outlier_threshold": NUMBER, "vocabulary": _or_null(TEXT), "relayout": FLAG,
}


class Checker:
    """Walks one document; every complaint names the file and the field."""

    def __init__(self, path: Path | str, what: str) -> None:
        self.path = path
        self.what = what

    def fail(self, message: str) -> BadArgument:
        return BadArgument(f"{self.what} {self.path} is damaged: {message}")

    def field(self, obj: dict[str, Any], key: str, t: Type, where: str, *, required: bool = True) -> Any:
        """``obj[key]`` when it has type ``t``; a missing optional field gives None."""
        name = f"{where}.{key}" if where else key
        if key not in obj:
            if required:
                raise self.fail(f"{name} is missing")
            return None
        value = obj[key]
        if not t[1](value):
            raise self.fail(f"{name} must be {t[0]}, not {_kind(value)}")
        return value

    def each(self, obj: dict[str, Any], key: str, t: Type, where: str, *, required: bool = False) -> list[Any]:
        """The list ``obj[key]`` (empty when missing and optional), each element of type ``t``."""
        values = self.field(obj, key, LIST, where, required=required) or []
        name = f"{where}.{key}" if where else key
        for i, v in enumerate(values):
            if not t[1](v):
                raise self.fail(f"{name}[{i}] must be {t[0]}, not {_kind(v)}")
        return values


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path``; ``BadArgument`` when the file cannot be read, is not JSON or is not an object."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = (str(exc) or type(exc).__name__).splitlines()[0]
        raise BadArgument(f"cannot read the {what} {path}: {reason}") from None
    if not isinstance(doc, dict):
        raise BadArgument(f"{path} is not a PhotoAtlas {what} (it holds {_kind(doc)}, not an object)")
    return doc


def check_results_document(doc: dict[str, Any], path: Path | str) -> None:
    """Raise ``BadArgument`` unless every field the loader reads has the right type (optional ones may be absent)."""
    c = Checker(path, "the results document")
    c.field(doc, "schema", WHOLE, "", required=False)
    model = c.field(doc, "model", OBJECT, "", required=False) or {}
    c.field(model, "dim", WHOLE, "model", required=False)
    c.field(doc, "stats", OBJECT, "", required=False)
    vectors_file = c.field(doc, "vectors_file", TEXT, "", required=False)
    if vectors_file is not None and (Path(vectors_file).name != vectors_file or vectors_file in ("", ".", "..")):
        # Written by ``save`` as a bare name beside the document: a path elsewhere is not ours to open.
        raise c.fail("vectors_file must be a file name beside the document, not a path")
    items = c.each(doc, "items", OBJECT, "", required=True)
    for i, item in enumerate(items):
        where = f"items[{i}]"
        for key in ("path", "kind", "status"):
            c.field(item, key, TEXT, where)
        for key in ("size", "mtime_ns"):
            c.field(item, key, WHOLE, where)
        c.field(item, "cluster", WHOLE, where, required=False)
        c.field(item, "subcluster", WHOLE, where, required=False)
        for key in ("caption_of", "snippet", "raw"):
            c.field(item, key, _or_null(TEXT), where, required=False)
        meta = c.field(item, "meta", _or_null(OBJECT), where, required=False) or {}
        for key in ("taken", "lat", "lon"):
            c.field(meta, key, _or_null(NUMBER), f"{where}.meta", required=False)
        c.field(meta, "camera", _or_null(TEXT), f"{where}.meta", required=False)
        c.field(item, "x", NUMBER, where, required=False)
        c.field(item, "y", NUMBER, where, required="x" in item)  # a mapped item has both coordinates
        c.field(item, "outlier_score", NUMBER, where, required=False)
        c.field(item, "outlier", FLAG, where, required=False)
    for i, skipped in enumerate(c.each(doc, "skipped", OBJECT, "")):
        c.field(skipped, "path", TEXT, f"skipped[{i}]")
        c.field(skipped, "reason", TEXT, f"skipped[{i}]")
    for i, cluster in enumerate(c.each(doc, "clusters", OBJECT, "")):
        where = f"clusters[{i}]"
        c.field(cluster, "id", WHOLE, where)
        c.field(cluster, "name", TEXT, where)
        c.field(cluster, "size", WHOLE, where)
        c.each(cluster, "representatives", TEXT, where)
        c.field(cluster, "cohesion", NUMBER, where, required=False)
        c.field(cluster, "named_by", TEXT, where, required=False)
        c.field(cluster, "parent", _or_null(WHOLE), where, required=False)
    _check_groups_agree(c, items, c.each(doc, "clusters", OBJECT, ""))
    analysis = c.field(doc, "analysis", OBJECT, "", required=False) or {}
    for key in ("params", "stats"):
        c.field(analysis, key, OBJECT, "analysis", required=False)
    c.each(analysis, "warnings", TEXT, "analysis")
    c.field(analysis, "outlier_threshold", NUMBER, "analysis", required=False)
    sets = c.field(doc, "similar_sets", _or_null(OBJECT), "", required=False) or {}
    params = c.field(sets, "params", OBJECT, "similar_sets", required=False) or {}
    for key in params:
        if key not in ("threshold", "burst_seconds", "burst_similarity"):
            raise c.fail(f"similar_sets.params.{key} is not a setting PhotoAtlas knows")
        c.field(params, key, NUMBER, "similar_sets.params")
    for i, entry in enumerate(c.each(sets, "sets", OBJECT, "similar_sets")):
        where = f"similar_sets.sets[{i}]"
        for key in ("kind", "best", "chosen_by"):
            c.field(entry, key, TEXT, where, required=False)
        for j, member in enumerate(c.each(entry, "members", OBJECT, where)):
            c.field(member, "path", TEXT, f"{where}.members[{j}]")
            for key in ("sharpness", "highlights", "shadows", "megapixels"):
                c.field(member, key, NUMBER, f"{where}.members[{j}]", required=False)
            c.field(member, "readable", FLAG, f"{where}.members[{j}]", required=False)


def _check_groups_agree(c: Checker, items: list[dict[str, Any]], clusters: list[dict[str, Any]]) -> None:
    """Group ids are unique, sizes are counts, every grouped item belongs to a listed group (-1: none), a
    sub-group's parent is a group (not a sub-group), and an item's sub-group belongs to the item's group."""
    ids: set[int] = set()
    parents: dict[int, int] = {}
    for i, cluster in enumerate(clusters):
        if cluster["id"] < 0 or cluster["id"] in ids:
            raise c.fail(f"clusters[{i}].id {cluster['id']} is {'negative' if cluster['id'] < 0 else 'used twice'}")
        if cluster["size"] < 0:
            raise c.fail(f"clusters[{i}].size must not be negative")
        ids.add(cluster["id"])
        if cluster.get("parent") is not None:
            parents[cluster["id"]] = cluster["parent"]
    groups = ids - set(parents)
    for sub, parent in parents.items():
        if parent not in groups:
            raise c.fail(f"sub-group {sub} has parent {parent}, which is not a group in clusters")
    for i, item in enumerate(items):
        label = item.get("cluster", -1)
        if label != -1 and label not in groups:
            raise c.fail(f"items[{i}].cluster is {label}, but there is no group {label} in clusters")
        sub = item.get("subcluster", -1)
        if sub != -1 and parents.get(sub, None) != label:
            raise c.fail(f"items[{i}].subcluster is {sub}, but that is not a sub-group of its group {label}")




def check_project(doc: dict[str, Any], path: Path | str) -> None:
    """Raise ``BadArgument`` unless the project's fields have the right types (optional ones may be absent)."""
    c = Checker(path, "the project")
    c.field(doc, "version", WHOLE, "", required=False)
    c.each(doc, "folders", TEXT, "")
    c.field(doc, "model", TEXT, "", required=False)
    analysis = c.field(doc, "analysis", OBJECT, "", required=False) or {}
    for key, t in PROJECT_SETTINGS.items():
        c.field(analysis, key, t, "analysis", required=False)
    from desktop_app.core.analysis.cluster import CLUSTERERS
    from desktop_app.core.analysis.groupings import REGROUPINGS
    from desktop_app.core.analysis.layout import REDUCERS

    for key, known in (("clusterer", [*CLUSTERERS, *REGROUPINGS]), ("reducer", list(REDUCERS))):
        if key in analysis and analysis[key] not in known:
            raise c.fail(f"analysis.{key} {analysis[key]!r} is not one PhotoAtlas knows ({', '.join(known)})")
    params = analysis.get("cluster_params") or {}
    if "prompts" in params:
        c.each(params, "prompts", TEXT, "analysis.cluster_params", required=True)
    edits = c.field(doc, "edits", OBJECT, "", required=False) or {}
    for i, rename in enumerate(c.each(edits, "renames", OBJECT, "edits")):
        c.field(rename, "name", TEXT, f"edits.renames[{i}]")
        c.each(rename, "members", TEXT, f"edits.renames[{i}]", required=True)
    assignments = c.field(edits, "assignments", OBJECT, "edits", required=False) or {}
    for key in assignments:
        c.field(assignments, key, TEXT, "edits.assignments")
    c.each(edits, "hidden", TEXT, "edits")
    c.each(edits, "picks", TEXT, "edits")
    sets = c.field(doc, "similar_sets", OBJECT, "", required=False) or {}
    for i, entry in enumerate(c.each(sets, "sets", OBJECT, "similar_sets")):
        for j, member in enumerate(c.each(entry, "members", OBJECT, f"similar_sets.sets[{i}]")):
            c.field(member, "path", TEXT, f"similar_sets.sets[{i}].members[{j}]")
    marks = c.field(doc, "marks", OBJECT, "", required=False) or {}
    for key in ("rating", "flag", "label"):
        c.field(marks, key, OBJECT, "marks", required=False)  # values out of range are dropped on reading
