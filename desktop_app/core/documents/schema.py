"""The results document's schema, defined once: the writer builds these types, the reader reads them, the checks are
these types (msgspec) plus the few rules a type cannot say, and ``docs/results-schema.json`` is generated from them.

    document = parse_results(json.loads(text), path)   # typed, checked; a damaged file is one BadArgument line
    data = msgspec.to_builtins(document)               # what ``EmbedResult.save`` writes

Why msgspec: typed structs with JSON Schema for free, and it checks a million items in well under a second. A field
added here appears in the writer, the reader, the checks and the published schema at once. Unknown fields are
ignored on reading (a newer PhotoAtlas may add some); known ones must have their type. Numbers must be finite.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from desktop_app.core.errors import BadArgument

RESULTS_SCHEMA = 2  # 2: items gain x, y, cluster, outlier_score; a clusters list. Schema 1 still reads.

_BIG = 1.7e308
Number = Annotated[float, Meta(ge=-_BIG, le=_BIG, description="a finite number")]


class PhotoMetaDoc(Struct, omit_defaults=True, kw_only=True):
    """What the EXIF header said: capture time (seconds on the camera's clock), camera, GPS position."""

    taken: Number | None = None
    camera: str | None = None
    lat: Number | None = None
    lon: Number | None = None


class ItemDoc(Struct, kw_only=True):
    """One picture or note, in scan order (row i of the vectors); the map's fields once it is analysed."""

    path: str
    kind: str  # "image" or "text"
    status: str  # "ok", or "partial": a truncated image embedded from what could be decoded
    size: int
    mtime_ns: int
    caption_of: str | None = None  # a note that is a picture's caption: that picture's path
    snippet: str | None = None  # a note's first words
    raw: str | None = None  # the RAW file of a RAW+JPEG pair (this item is the JPEG)
    meta: PhotoMetaDoc | None = None
    x: Number | UnsetType = UNSET
    y: Number | UnsetType = UNSET
    cluster: int | UnsetType = UNSET  # -1: in no group
    subcluster: int | UnsetType = UNSET  # -1: in no sub-group
    outlier_score: Number | UnsetType = UNSET
    outlier: bool | UnsetType = UNSET


class SkippedDoc(Struct):
    path: str
    reason: str


class ModelDoc(Struct, kw_only=True):
    name: str | UnsetType = UNSET  # what --model said: ARCH:TAG, hf-hub:…, local-dir:…
    key: str | UnsetType = UNSET  # a digest of the weights (the cache keeps models apart by it)
    dim: int | UnsetType = UNSET
    preprocess: dict[str, Any] | UnsetType = UNSET


class ClusterDoc(Struct, kw_only=True):
    """A group (``parent`` null) or a sub-group (``parent``: its group's id); groups come first."""

    id: int
    name: str
    size: int
    representatives: list[str] = []
    cohesion: Number = 0.0
    named_by: str = "vocabulary"
    parent: int | None = None


class AnalysisDoc(Struct, kw_only=True):
    params: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    warnings: list[str] = []
    outlier_threshold: Number = 0.75


class SetMemberDoc(Struct, kw_only=True):
    path: str
    sharpness: Number = 0.0
    highlights: Number = 0.0
    shadows: Number = 0.0
    megapixels: Number = 0.0
    readable: bool = True
    score: Number | None = None


class SimilarSetDoc(Struct, kw_only=True):
    kind: str = "duplicates"  # or "burst"
    best: str | UnsetType = UNSET
    chosen_by: str = "quality"  # or "user"
    members: list[SetMemberDoc] = []


class CullParamsDoc(Struct, kw_only=True, forbid_unknown_fields=True):
    threshold: Number | UnsetType = UNSET
    burst_seconds: Number | UnsetType = UNSET
    burst_similarity: Number | UnsetType = UNSET


class SimilarSetsDoc(Struct, kw_only=True):
    params: CullParamsDoc = msgspec.field(default_factory=CullParamsDoc)
    sets: list[SimilarSetDoc] = []


class MarksDoc(Struct, kw_only=True):
    """The photographer's marks by path: stars 1-5, "pick"/"reject", a colour label; ``decided``: marked here."""

    rating: dict[str, int] = {}
    flag: dict[str, str] = {}
    label: dict[str, str] = {}
    decided: list[str] = []


class ResultsDocument(Struct, kw_only=True):
    """A PhotoAtlas results document (``photoatlas analyze``, File > Export Results)."""

    schema: int = 1
    generator: str | UnsetType = UNSET
    model: ModelDoc = msgspec.field(default_factory=ModelDoc)
    items: list[ItemDoc]
    skipped: list[SkippedDoc] = []
    stats: dict[str, Any] = {}
    clusters: list[ClusterDoc] | UnsetType = UNSET
    analysis: AnalysisDoc | UnsetType = UNSET
    similar_sets: SimilarSetsDoc | None | UnsetType = UNSET
    marks: MarksDoc | UnsetType = UNSET
    vectors_file: str | UnsetType = UNSET  # the arrays beside the document (a file name, never a path)
    folders: list[str] = []  # the library folders the user named (export takes files from under them only)


def schema_json() -> dict[str, Any]:
    """The JSON Schema of the results document (published as docs/results-schema.json)."""
    return msgspec.json.schema(ResultsDocument)


# -- checking a document read from outside --------------------------------------------------------------------------
_WORDS = {"int": "a whole number", "float": "a number", "str": "text", "bool": "true or false", "object": "an object",
          "array": "a list", "null": "null"}


def json_kind(value: Any) -> str:
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


def _at(doc: Any, where: str) -> Any:
    """The value at ``items[3].size`` in ``doc`` (None when it is not there)."""
    node = doc
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", where):
        try:
            node = node[int(index)] if index else node[name]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _message(error: msgspec.ValidationError, doc: Any) -> str:
    """msgspec's words as ours: ``items[0].size must be a whole number, not text``."""
    text = str(error)
    where = ""
    if " - at `$" in text:
        text, where = text.rsplit(" - at `$", 1)
        where = where.rstrip("`").lstrip(".")
    missing = re.fullmatch(r"Object missing required field `(.+)`", text)
    if missing:
        return f"{where + '.' if where else ''}{missing.group(1)} is missing"
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", text)
    if unknown:
        return f"{where + '.' if where else ''}{unknown.group(1)} is not a setting PhotoAtlas knows"
    expected = re.match(r"Expected `([^`]+)`", text)
    if expected:
        wanted = " or ".join(_WORDS.get(t.strip(), t.strip()) for t in expected.group(1).split("|"))
        return f"{where or 'the document'} must be {wanted}, not {json_kind(_at(doc, where) if where else doc)}"
    return f"{where or 'the document'}: {text}"


def parse_results(doc: Any, path: Path | str) -> ResultsDocument:
    """The typed document in ``doc`` (parsed JSON), after every check: one ``BadArgument`` line naming the file and
    the field (``r.json: items[3].size must be a whole number, not text``) — never a ``TypeError`` from deep inside
    the loader."""
    try:
        typed = msgspec.convert(doc, ResultsDocument, strict=True)
    except msgspec.ValidationError as exc:
        raise BadArgument(f"the results document {path} is damaged: {_message(exc, doc)}") from None
    _check_rules(typed, path)
    return typed


def impossible_path(path: str | None) -> str:
    """Why ``path`` (an item's file, from a document) cannot name a file on this computer ("" when it can): empty,
    holding a NUL (no file system takes one; the OS call would fail half way through an export), or relative (it
    would be read against whatever folder the program runs in)."""
    if path is None:
        return ""
    if not path:
        return "is empty"
    if "\0" in path:
        return "holds a NUL character, which no file name can"
    if not os.path.isabs(path):
        return "must be an absolute path"
    return ""


def _check_rules(doc: ResultsDocument, path: Path | str) -> None:
    """What the types cannot say: the vectors file is a name beside the document, a mapped item has both
    coordinates, group ids are unique, sizes are counts, every grouped item is in a listed group, a sub-group's
    parent is a group and an item's sub-group belongs to the item's group."""

    def fail(message: str) -> BadArgument:
        return BadArgument(f"the results document {path} is damaged: {message}")

    vectors_file = doc.vectors_file
    if vectors_file is not UNSET and (Path(vectors_file).name != vectors_file or vectors_file in ("", ".", "..")):
        raise fail("vectors_file must be a file name beside the document, not a path")
    for i, item in enumerate(doc.items):
        if (item.x is UNSET) != (item.y is UNSET):
            raise fail(f"items[{i}].{'y' if item.y is UNSET else 'x'} is missing")
        for key in ("path", "raw", "caption_of"):
            why = impossible_path(getattr(item, key))
            if why:
                raise fail(f"items[{i}].{key} {why}")
    for i, folder in enumerate(doc.folders):
        why = impossible_path(folder)
        if why:
            raise fail(f"folders[{i}] {why}")
    clusters = doc.clusters if doc.clusters is not UNSET else []
    ids: set[int] = set()
    parents: dict[int, int] = {}
    for i, cluster in enumerate(clusters):
        if cluster.id < 0 or cluster.id in ids:
            raise fail(f"clusters[{i}].id {cluster.id} is {'negative' if cluster.id < 0 else 'used twice'}")
        if cluster.size < 0:
            raise fail(f"clusters[{i}].size must not be negative")
        ids.add(cluster.id)
        if cluster.parent is not None:
            parents[cluster.id] = cluster.parent
    groups = ids - set(parents)
    for sub, parent in parents.items():
        if parent not in groups:
            raise fail(f"sub-group {sub} has parent {parent}, which is not a group in clusters")
    for i, item in enumerate(doc.items):
        label = item.cluster if item.cluster is not UNSET else -1
        if label != -1 and label not in groups:
            raise fail(f"items[{i}].cluster is {label}, but there is no group {label} in clusters")
        sub = item.subcluster if item.subcluster is not UNSET else -1
        if sub != -1 and parents.get(sub) != label:
            raise fail(f"items[{i}].subcluster is {sub}, but that is not a sub-group of its group {label}")


def main() -> None:
    """``python -m desktop_app.core.documents.schema > docs/results-schema.json``"""
    import json

    print(json.dumps(schema_json(), indent=1, sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    main()
