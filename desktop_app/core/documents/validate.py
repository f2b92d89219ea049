"""Checks for the project files PhotoAtlas reads back from outside (``*.photoatlas``), and reading any JSON file
safely. (The results document's checks are its schema's: ``schema.parse_results``.)

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

from desktop_app.core.documents.schema import json_kind
from desktop_app.core.errors import BadArgument


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
            raise self.fail(f"{name} must be {t[0]}, not {json_kind(value)}")
        return value

    def each(self, obj: dict[str, Any], key: str, t: Type, where: str, *, required: bool = False) -> list[Any]:
        """The list ``obj[key]`` (empty when missing and optional), each element of type ``t``."""
        values = self.field(obj, key, LIST, where, required=required) or []
        name = f"{where}.{key}" if where else key
        for i, v in enumerate(values):
            if not t[1](v):
                raise self.fail(f"{name}[{i}] must be {t[0]}, not {json_kind(v)}")
        return values


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path``; ``BadArgument`` when the file cannot be read, is not JSON or is not an object."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = (str(exc) or type(exc).__name__).splitlines()[0]
        raise BadArgument(f"cannot read the {what} {path}: {reason}") from None
    if not isinstance(doc, dict):
        raise BadArgument(f"{path} is not a PhotoAtlas {what} (it holds {json_kind(doc)}, not an object)")
    return doc


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
