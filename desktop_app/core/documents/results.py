"""The analysis part of the results document (schema 2) and of its ``.vectors.npz`` companion.

JSON (what people and other programs read): per item ``x``, ``y``, ``cluster`` (-1 = noise), ``subcluster``
(its sub-group, -1 = none), ``outlier_score`` and ``outlier``; a ``clusters`` list with ``id``, ``name``,
``size``, ``representatives`` (paths), ``cohesion``, ``named_by`` and ``parent`` (null for a group, the
group's id for a sub-group: groups come first, then sub-groups); and ``analysis`` with the parameters,
timings and warnings.
npz (what PhotoAtlas needs to re-cluster without recomputing): the clustering space, memberships,
isolation scores and centroids. Schema-1 documents have none of this and load with ``analysis = None``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from msgspec import UNSET

from desktop_app.core.analysis.model import Analysis, ClusterInfo
from desktop_app.core.documents.schema import AnalysisDoc, ResultsDocument
from desktop_app.core.errors import BadArgument
from desktop_app.core.files import atomic_file


def add_analysis(doc: dict[str, Any], analysis: Analysis) -> None:
    """Add the analysis to a results document in place (items must be in the analysis's row order)."""
    items = doc["items"]
    for i, item in enumerate(items):
        item["x"] = round(float(analysis.coords[i, 0]), 5)
        item["y"] = round(float(analysis.coords[i, 1]), 5)
        item["cluster"] = int(analysis.labels[i])
        item["subcluster"] = int(analysis.sublabels[i]) if analysis.sublabels is not None else -1
        item["outlier_score"] = round(float(analysis.outlier_scores[i]), 4)
        item["outlier"] = bool(analysis.outlier_scores[i] >= analysis.outlier_threshold)
    doc["clusters"] = [
        {"id": c.id, "name": c.name, "size": c.size, "representatives": [items[r]["path"] for r in c.representatives],
         "cohesion": c.cohesion, "named_by": c.named_by, "parent": c.parent}
        for c in [*analysis.clusters, *analysis.subclusters]]
    doc["analysis"] = {"params": analysis.params, "stats": analysis.stats, "warnings": analysis.warnings,
                       "outlier_threshold": analysis.outlier_threshold}


def analysis_arrays(analysis: Analysis) -> dict[str, np.ndarray]:
    """Arrays stored beside the vectors so a loaded document can be re-clustered."""
    dim = analysis.clusters[0].centroid.shape[0] if analysis.clusters else 0
    every = [*analysis.clusters, *analysis.subclusters]  # the order of the document's ``clusters``
    return {
        "coords": analysis.coords,
        "cluster_space": analysis.cluster_space,
        "membership": analysis.membership,
        "isolation": analysis.isolation,
        "centroids": np.stack([c.centroid for c in every]) if every else np.zeros((0, dim), np.float32),
        **({"neighbours": analysis.neighbours.astype(np.int32)} if analysis.neighbours is not None else {}),
    }


def read_analysis(doc: ResultsDocument, arrays: dict[str, np.ndarray]) -> Analysis | None:
    """The ``Analysis`` in a loaded (checked) document, or None for schema-1 documents (no map yet)."""
    items = doc.items
    if doc.clusters is UNSET or any(it.x is UNSET for it in items):
        return None
    n = len(items)
    index = {it.path: i for i, it in enumerate(items)}
    coords = np.array([[it.x, it.y] for it in items], np.float32).reshape(n, 2)
    labels = np.array([it.cluster if it.cluster is not UNSET else -1 for it in items], np.int64)
    scores = np.array([it.outlier_score if it.outlier_score is not UNSET else 0.0 for it in items], np.float32)
    centroids = arrays.get("centroids")
    clusters = []
    for pos, c in enumerate(doc.clusters):
        centroid = centroids[pos] if centroids is not None and pos < len(centroids) else np.zeros(0, np.float32)
        clusters.append(ClusterInfo(id=c.id, name=c.name, size=c.size,
                                    representatives=[index[p] for p in c.representatives if p in index],
                                    cohesion=float(c.cohesion), centroid=centroid, named_by=c.named_by,
                                    parent=c.parent))
    groups = [c for c in clusters if c.parent is None]
    subclusters = [c for c in clusters if c.parent is not None]
    sublabels = (np.array([it.subcluster if it.subcluster is not UNSET else -1 for it in items], np.int64)
                 if subclusters else None)
    meta = doc.analysis if doc.analysis is not UNSET else AnalysisDoc()

    def arr(name: str, default: np.ndarray) -> np.ndarray:
        value = arrays.get(name)
        if value is None:
            return default
        # Same number of dimensions and rows as the default, at least as many columns (the clustering space may
        # have more than 2), numbers: anything else would fail far from here, in the map or an export.
        if (value.ndim != default.ndim or len(value) != n or value.shape[1:] < default.shape[1:]
                or value.dtype.kind not in "fiu"):
            raise BadArgument(f"the vectors file does not belong to this document: {name} is {value.dtype} of shape "
                              f"{value.shape} for {n} items (run 'photoatlas analyze' again)")
        return value

    neighbours = arrays.get("neighbours")
    if neighbours is not None and (neighbours.ndim != 2 or len(neighbours) != n or neighbours.dtype.kind not in "iu"
                                   or (neighbours.size and (neighbours.min() < 0 or neighbours.max() >= n))):
        raise BadArgument(f"the vectors file does not belong to this document: neighbours is {neighbours.dtype} of "
                          f"shape {neighbours.shape} for {n} items (run 'photoatlas analyze' again)")
    return Analysis(coords=arr("coords", coords), cluster_space=arr("cluster_space", coords), labels=labels,
                    outlier_scores=scores, membership=arr("membership", np.ones(n, np.float32)),
                    isolation=arr("isolation", np.zeros(n, np.float32)), clusters=groups,
                    subclusters=subclusters, sublabels=sublabels,
                    neighbours=None if neighbours is None else neighbours.astype(np.int64),
                    params=meta.params, stats=meta.stats, warnings=list(meta.warnings),
                    outlier_threshold=float(meta.outlier_threshold))


def write_csv(result: Any, path: Path) -> None:
    """One row per item: path, kind, group id and name, x, y, outlier score and flag (spreadsheet-friendly)."""
    analysis = result.analysis
    names = {c.id: c.name for c in analysis.clusters} if analysis else {}
    with atomic_file(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "kind", "group_id", "group", "x", "y", "outlier_score", "outlier"])
        for i, item in enumerate(result.items):
            if analysis is None:
                writer.writerow([item.path, item.kind, "", "", "", "", "", ""])
                continue
            label = int(analysis.labels[i])
            writer.writerow([item.path, item.kind, label, names.get(label, ""), f"{analysis.coords[i, 0]:.5f}",
                             f"{analysis.coords[i, 1]:.5f}", f"{analysis.outlier_scores[i]:.4f}",
                             int(analysis.outlier_scores[i] >= analysis.outlier_threshold)])
