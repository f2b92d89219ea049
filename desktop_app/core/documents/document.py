"""The results document: what an analysis produced, as one object with explicit JSON + npz save and load.

``EmbedResult`` holds the items in scan order, their vectors (row i is item i), what was skipped, the analysis
(map, groups), the duplicate/burst sets and the photographer's marks (ratings, flags, colour labels). The JSON
layout of the analysis part is ``results.py``'s; the validation of a document read from disk is ``validate.py``'s.
``pipeline.py`` makes these; everything else (CLI, GUI, export) reads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from msgspec import UNSET

from desktop_app import __version__
from desktop_app.core.analysis.model import Analysis
from desktop_app.core.documents.results import add_analysis, analysis_arrays, read_analysis
from desktop_app.core.documents.schema import RESULTS_SCHEMA, ResultsDocument, parse_results
from desktop_app.core.documents.validate import Checker, read_json_object
from desktop_app.core.errors import BadArgument
from desktop_app.core.files import atomic_write, json_text
from desktop_app.core.ingest.items import Skipped
from desktop_app.core.review.duplicates import CullSettings, SimilarSet, sets_from_json, sets_to_json
from desktop_app.core.review.marks import Marks
from desktop_app.core.review.quality import Quality


@dataclass
class ItemRecord:
    """One embedded item as written to the results document."""

    path: str
    kind: str
    status: str  # "ok" or "partial" (a truncated image, embedded from what could be decoded)
    size: int
    mtime_ns: int
    caption_of: str | None = None
    snippet: str | None = None
    raw: str | None = None  # the RAW file of a RAW+JPEG pair (this record is the JPEG)
    meta: dict[str, Any] | None = None  # PhotoMeta.to_json(): EXIF time, camera, GPS (read on first need)


@dataclass
class EmbedResult:
    """What a run produced: items in scan order, their vectors (row i is item i), what was skipped."""

    model: dict[str, Any]
    items: list[ItemRecord]
    vectors: np.ndarray
    skipped: list[Skipped] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    analysis: Analysis | None = None
    similar_sets: list[SimilarSet] | None = None  # near-duplicates and bursts (None: not looked for yet)
    cull_settings: CullSettings = field(default_factory=CullSettings)
    marks: Marks = field(default_factory=Marks)  # ratings, flags, colour labels (by path)
    folders: list[str] = field(default_factory=list)  # the folders the user analysed (export stays under them)

    @property
    def paths(self) -> list[str]:
        return [i.path for i in self.items]

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schema": RESULTS_SCHEMA,
            "generator": f"photoatlas {__version__}",
            "model": self.model,
            "items": [asdict(i) for i in self.items],
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
            "stats": self.stats,
        }
        if self.folders:
            doc["folders"] = list(self.folders)
        if self.analysis is not None:
            add_analysis(doc, self.analysis)
        if self.similar_sets is not None:
            doc["similar_sets"] = sets_to_json(self.similar_sets, self.paths, self.cull_settings)
        if not self.marks.is_empty():
            doc["marks"] = self.marks.to_json()
        # Through the schema: what is written is exactly what the reader and the checks expect (a field the schema
        # does not know is not written; a wrong type fails here, in the writer, not in someone's reader).
        return msgspec.to_builtins(msgspec.convert(doc, ResultsDocument, strict=True))

    def save(self, path: Path, *, with_vectors: bool = True) -> None:
        """Write the JSON document to ``path`` and the arrays beside it, as ``<stem>.vectors-<digest>.npz``.

        The arrays get a name of their own (a digest of their bytes) and are on disk before the JSON that names them
        replaces the old one: a crash at any point leaves the old document with its own vectors, or the new one with
        its own — never new vectors beside an old JSON. Vectors files of earlier saves are removed afterwards."""
        path = Path(path)
        doc = self.to_document()
        before = _named_vectors(path)
        npz = None
        if with_vectors:
            buffer = io.BytesIO()
            arrays: dict[str, Any] = {"vectors": self.vectors,
                                      **(analysis_arrays(self.analysis) if self.analysis else {})}
            np.savez_compressed(buffer, **arrays)
            data = buffer.getvalue()
            npz = path.with_name(f"{path.stem}.vectors-{hashlib.sha256(data).hexdigest()[:12]}.npz")
            atomic_write(npz, data)
            doc["vectors_file"] = npz.name
        atomic_write(path, json_text(doc) + "\n")
        if before is not None and before != npz:
            with contextlib.suppress(OSError):
                before.unlink()

    @classmethod
    def load(cls, path: Path) -> EmbedResult:
        """Read a document written by ``save`` (any schema up to ours; vectors empty when the npz is missing).

        Raises ``BadArgument`` (one line naming the file and the field) when the file is not a PhotoAtlas results
        document, is damaged, does not match its vectors or is from a newer version.
        """
        return load_results(Path(path))

    @classmethod
    def from_document(cls, doc: ResultsDocument, path: Path, raw_model: dict[str, Any] | None = None) -> EmbedResult:
        """The result a checked document holds (``schema.parse_results``), with the vectors beside it. ``raw_model``:
        the document's model section as written (fields a newer PhotoAtlas added are kept)."""
        if doc.schema > RESULTS_SCHEMA:
            raise BadArgument(f"{path} was written by a newer PhotoAtlas (schema {doc.schema}); update PhotoAtlas")
        items = [ItemRecord(path=it.path, kind=it.kind, status=it.status, size=it.size, mtime_ns=it.mtime_ns,
                            caption_of=it.caption_of, snippet=it.snippet, raw=it.raw,
                            meta=None if it.meta is None else msgspec.to_builtins(it.meta)) for it in doc.items]
        arrays: dict[str, np.ndarray] = {}
        if doc.vectors_file is not UNSET and doc.vectors_file and (path.parent / doc.vectors_file).exists():
            with np.load(path.parent / doc.vectors_file, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        dim = doc.model.dim if doc.model.dim is not UNSET else 0
        vectors = arrays.get("vectors", np.zeros((0, dim), np.float32))
        skipped = [Skipped(Path(s.path), s.reason) for s in doc.skipped]
        cull = msgspec.to_builtins(doc.similar_sets) if doc.similar_sets not in (UNSET, None) else {}
        marks = msgspec.to_builtins(doc.marks) if doc.marks is not UNSET else None
        model = raw_model if raw_model is not None else msgspec.to_builtins(doc.model)
        return cls(model=model, items=items, vectors=vectors, skipped=skipped, stats=doc.stats,
                   analysis=read_analysis(doc, arrays), similar_sets=sets_from_json(cull, [i.path for i in items]),
                   cull_settings=CullSettings(**cull.get("params", {})), marks=Marks.from_json(marks),
                   folders=list(doc.folders))

    def qualities(self) -> list[Quality | None]:
        """Each item's measured quality where a duplicate search measured it (None elsewhere)."""
        out: list[Quality | None] = [None] * len(self.items)
        for s in self.similar_sets or []:
            for m, q in zip(s.members, s.qualities):
                out[m] = q
        return out

_VECTORS_NAME = re.compile(r".+\.vectors(?:-[0-9a-f]{12})?\.npz")  # the names ``save`` gives vectors files


def _named_vectors(document: Path) -> Path | None:
    """The vectors file the document at ``document`` names now, if it is one ``save`` made beside it: after the new
    document is written, that file is the old one's and is removed (only it: another document in the same folder,
    even of the same stem, keeps its own)."""
    try:
        if document.stat().st_size > 1 << 30:
            return None
        with open(document, "rb") as f:
            found = re.search(rb'"vectors_file"\s*:\s*"([^"\\/]+)"', f.read())
    except OSError:
        return None
    if found is None:
        return None
    name = found.group(1).decode("utf-8", "replace")
    return document.with_name(name) if _VECTORS_NAME.fullmatch(name) else None


def load_results(path: Path) -> EmbedResult:
    """``EmbedResult.load`` behind the checks: a damaged document, or vectors that do not belong to it, are one
    ``BadArgument`` line; vectors missing altogether load as an empty table (the caller decides)."""
    path = Path(path)
    if not path.is_file():
        raise BadArgument(f"no such results document: {path}")
    doc = read_json_object(path, "results document")
    if "items" not in doc:
        raise BadArgument(f"{path} is not a PhotoAtlas results document (it has no items)")
    typed = parse_results(doc, path)
    try:
        raw_model = doc.get("model") if isinstance(doc.get("model"), dict) else None
        result = EmbedResult.from_document(typed, path, raw_model)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # a cut-short or foreign .npz
        # numpy's own words for an npz holding pickled objects invite loading it "unsafely": say what it is.
        reason = "it holds Python objects, not plain arrays" if "pickle" in str(exc) else str(exc).splitlines()[0]
        raise BadArgument(f"cannot read the vectors beside {path}: {reason}") from None
    c = Checker(path.with_name(str(doc.get("vectors_file", path.name))), "the vectors file")
    vectors = result.vectors
    if vectors.ndim != 2 or vectors.dtype.kind not in "fiu":
        raise c.fail(f"vectors must be a table of numbers, not {vectors.ndim}-D {vectors.dtype}")
    if len(vectors) and len(vectors) != len(result.items):
        raise c.fail(f"vectors has {len(vectors)} rows for {len(result.items)} items (the document and its "
                     "vectors do not belong together; run 'photoatlas analyze' again)")
    for cluster in result.analysis.clusters if result.analysis else []:
        if cluster.centroid.size and cluster.centroid.shape != (vectors.shape[1],):
            raise c.fail(f"the centroid of group {cluster.id} has {cluster.centroid.size} values, "
                         f"the vectors {vectors.shape[1]}")
    return result
