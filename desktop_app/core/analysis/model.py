"""What an analysis is: its settings, its groups (``ClusterInfo``) and the ``Analysis`` itself, plus the helpers
every part of the analysis shares (describing groups from labels, identifying rows by their vectors for the stored
layouts). Data only: the work that makes an analysis is in ``analysis.analyze``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop_app.core.analysis.layout import normalise

if TYPE_CHECKING:
    from desktop_app.core.analysis.cluster import ClusterSpace

LAYOUT_VERSION = 1  # bump when a change in this module changes coordinates, so stale layouts aren't reused
OUTLIER_THRESHOLD = 0.75  # score from which an item is flagged for review (see docs/ANALYSIS.md)
REPRESENTATIVES = 5


@dataclass
class AnalysisSettings:
    """How to lay out and cluster. ``cluster_params`` go to the clusterer's config (e.g. ``{"k": 8}``)."""

    reducer: str = "umap"
    reducer_params: dict[str, Any] = field(default_factory=dict)
    clusterer: str = "hdbscan"
    cluster_params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    assign_noise: bool = False
    outlier_threshold: float = OUTLIER_THRESHOLD
    vocabulary: Path | None = None
    relayout: bool = False


@dataclass
class ClusterInfo:
    """One group: ``representatives`` are item indices nearest the centroid, best first."""

    id: int
    name: str
    size: int
    representatives: list[int]
    cohesion: float  # mean cosine similarity of members to the centroid (1 = identical items)
    centroid: np.ndarray = field(repr=False)
    named_by: str = "vocabulary"  # "vocabulary", "keywords", "number" or "user"
    parent: int | None = None  # a sub-group's group (groups within groups); None for a top-level group


@dataclass
class Analysis:
    """Everything the map and the export need, row i being item i of the embedding result."""

    coords: np.ndarray  # (n, 2) float32
    cluster_space: np.ndarray  # (n, d) float32
    labels: np.ndarray  # (n,) int64, -1 = noise
    outlier_scores: np.ndarray  # (n,) float32 in [0, 1]
    membership: np.ndarray  # (n,) float32 in [0, 1]
    isolation: np.ndarray  # (n,) float32 in [0, 1]: how unlike its nearest neighbours, for its group (part of
    #                        outlier_scores; see group_isolation)
    clusters: list[ClusterInfo]
    params: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    outlier_threshold: float = OUTLIER_THRESHOLD
    # Groups within groups: sub-groups (each with ``parent`` set; ids continue after the groups' ids) and
    # the sub-group of every item (-1: none). A group has either no sub-groups or at least two.
    subclusters: list[ClusterInfo] = field(default_factory=list)
    sublabels: np.ndarray | None = None
    neighbours: np.ndarray | None = field(default=None, repr=False)  # (n, k) nearest rows, itself first
    # Kept so re-clustering can name new groups without loading the model again.
    _concepts: tuple[list[str], np.ndarray] | None = field(default=None, repr=False)
    # Kept so re-clustering neither rebuilds the neighbour graph nor chooses HDBSCAN's settings again.
    _space: ClusterSpace | None = field(default=None, repr=False)

    @property
    def outliers(self) -> np.ndarray:
        """Boolean mask of items flagged for review."""
        return self.outlier_scores >= self.outlier_threshold

    def cluster(self, cluster_id: int) -> ClusterInfo:
        """A group or a sub-group, by id."""
        return next(c for c in [*self.clusters, *self.subclusters] if c.id == cluster_id)

    def members(self, cluster_id: int) -> np.ndarray:
        """Row indices of a group's or a sub-group's items."""
        if any(c.id == cluster_id for c in self.subclusters) and self.sublabels is not None:
            return np.nonzero(self.sublabels == cluster_id)[0]
        return np.nonzero(self.labels == cluster_id)[0]

    def children(self, cluster_id: int) -> list[ClusterInfo]:
        """The sub-groups of a group, largest first."""
        return [c for c in self.subclusters if c.parent == cluster_id]


# -- stored layouts --------------------------------------------------------------------------------
def row_ids(vectors: np.ndarray) -> np.ndarray:
    """A 64-bit digest per row: identifies an item by its vector, whatever its path or order."""
    v = np.ascontiguousarray(vectors, np.float32)
    return np.array([int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8).digest(), "little") for r in v],
                    dtype=np.uint64)


def params_key(space: str, params: dict[str, Any]) -> str:
    text = json.dumps({"v": LAYOUT_VERSION, "space": space, **params}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def layout_key(params_key: str, ids: np.ndarray) -> str:
    return hashlib.sha256(params_key.encode() + ids.tobytes()).hexdigest()[:40]



def describe_clusters(vectors: np.ndarray, labels: np.ndarray, *, normalised: bool = False) -> list[ClusterInfo]:
    """Size, centroid, representatives and cohesion of every group in ``labels`` (named "Group N").
    ``normalised``: the rows are unit vectors already (no copy of a million rows is made)."""
    x = vectors if normalised else normalise(vectors)
    clusters = []
    # Each group's rows from one stable sort (ascending, as np.nonzero gives them) instead of a pass over every
    # label per group: a million items in 800 groups were 800 passes.
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    for cid in sorted(int(c) for c in np.unique(labels) if c >= 0):
        members = order[np.searchsorted(ordered, cid, "left"):np.searchsorted(ordered, cid, "right")]
        centroid = x[members].mean(axis=0)
        centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
        sims = x[members] @ centroid
        best = members[np.argsort(-sims, kind="stable")[:REPRESENTATIVES]]
        clusters.append(ClusterInfo(id=cid, name=f"Group {cid + 1}", size=len(members),
                                    representatives=[int(i) for i in best], cohesion=round(float(sims.mean()), 4),
                                    centroid=centroid.astype(np.float32), named_by="number"))
    return clusters

