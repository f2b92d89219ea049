"""Clusterers: HDBSCAN, K-Means, agglomerative, DBSCAN (and "none"), each a config + an implementation.

They run on a ``ClusterSpace``: the items' normalised CLIP vectors plus a reduced space made for
clustering (PCA to 50, then UMAP to 10 dimensions with ``min_dist=0`` so groups pack tightly — see
docs/ANALYSIS.md for why, and what it changes). Density and centroid methods work in the reduced space;
DBSCAN's ``eps`` is a cosine distance, so it runs on the normalised vectors.

Every clusterer returns a ``Clustering``: labels (-1 = noise), an outlier score in [0, 1] per item and a
membership strength in [0, 1]. HDBSCAN supplies GLOSH outlier scores itself; for the others the score is
``1 - median_distance / distance`` to the item's cluster centroid, the same shape as GLOSH (0 for a typical
member, 0.5 at twice the typical distance, towards 1 far away).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from desktop_app.core.errors import BadArgument
from desktop_app.core.layout import is_degenerate

AGGLOMERATIVE_MAX_ITEMS = 30_000  # its memory grows with n^2


@dataclass
class ClusterSpace:
    """What clusterers see: ``reduced`` (n, d) for density/centroid methods, ``vectors`` normalised (n, D)."""

    reduced: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.reduced)


@dataclass
class Clustering:
    labels: np.ndarray  # (n,) int, -1 = noise, clusters numbered 0.. by decreasing size
    outlier_scores: np.ndarray  # (n,) float32 in [0, 1]
    membership: np.ndarray  # (n,) float32 in [0, 1]: how firmly the item belongs to its cluster
    warnings: list[str] = field(default_factory=list)


def default_min_cluster_size(n: int) -> int:
    """Grows with the library: 3 for a few dozen photos, ~33 for 10k, ~105 for 100k."""
    return max(3, round(math.sqrt(max(n, 1)) / 3))


@dataclass
class HDBSCANConfig:
    """HDBSCAN: finds as many groups as there are, leaves stragglers as noise."""

    min_cluster_size: int | None = None  # None: default_min_cluster_size(n)
    min_samples: int | None = None  # None: half of min_cluster_size (fewer points called noise)
    selection: Literal["eom", "leaf"] = "eom"


@dataclass
class KMeansConfig:
    """K-Means: exactly k groups (or ``auto``: the k in 2..k_max with the best silhouette)."""

    k: int | Literal["auto"] = "auto"
    k_max: int = 30
    minibatch_above: int = 20_000


@dataclass
class AgglomerativeConfig:
    """Agglomerative: k groups, or cut the tree at ``distance_threshold``."""

    k: int | None = None
    distance_threshold: float | None = None
    linkage: Literal["ward", "average"] = "ward"


@dataclass
class DBSCANConfig:
    """DBSCAN: groups of items within ``eps`` cosine distance of each other."""

    eps: float = 0.15
    min_samples: int = 5


@dataclass
class NoneConfig:
    """No clustering: every item in one group."""


@dataclass
class _Clusterer:
    seed: int = 0

    def fit(self, space: ClusterSpace) -> Clustering:
        n = len(space)
        if n == 0:
            empty = np.zeros(0, np.float32)
            return Clustering(np.zeros(0, np.int64), empty, empty)
        if is_degenerate(space.vectors):
            # Too few, or nothing to tell apart: one group (a user who drops two photos sees one group).
            return Clustering(np.zeros(n, np.int64), np.zeros(n, np.float32), np.ones(n, np.float32))
        return self._fit(space)

    def _fit(self, space: ClusterSpace) -> Clustering:
        raise NotImplementedError


@dataclass
class HDBSCANClusterer(_Clusterer):
    name: ClassVar[str] = "hdbscan"
    config: HDBSCANConfig = field(default_factory=HDBSCANConfig)

    def _fit(self, space: ClusterSpace) -> Clustering:
        import hdbscan

        n = len(space)
        mcs = self.config.min_cluster_size or default_min_cluster_size(n)
        mcs = max(2, min(mcs, n))
        ms = self.config.min_samples or max(1, mcs // 2)
        model = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=min(ms, n - 1),
                                cluster_selection_method=self.config.selection, core_dist_n_jobs=1)
        labels = model.fit_predict(space.reduced.astype(np.float64))
        scores = np.nan_to_num(np.asarray(model.outlier_scores_, np.float32), nan=0.0, posinf=1.0)
        return Clustering(labels.astype(np.int64), np.clip(scores, 0, 1),
                          np.nan_to_num(np.asarray(model.probabilities_, np.float32)))


@dataclass
class KMeansClusterer(_Clusterer):
    name: ClassVar[str] = "kmeans"
    config: KMeansConfig = field(default_factory=KMeansConfig)

    def _model(self, k: int, n: int) -> Any:
        from sklearn.cluster import KMeans, MiniBatchKMeans

        if n > self.config.minibatch_above:
            return MiniBatchKMeans(k, random_state=self.seed, n_init=3, batch_size=4096)
        return KMeans(k, random_state=self.seed, n_init=3)

    def _fit(self, space: ClusterSpace) -> Clustering:
        from sklearn.metrics import silhouette_score

        x, n = space.reduced, len(space)
        warnings: list[str] = []
        distinct = len(np.unique(x.round(6), axis=0))
        if self.config.k == "auto":
            best: tuple[float, Any] | None = None
            for k in range(2, min(self.config.k_max, distinct - 1, n - 1) + 1):
                model = self._model(k, n).fit(x)
                score = silhouette_score(x, model.labels_, sample_size=min(n, 3000), random_state=self.seed)
                if best is None or score > best[0]:
                    best = (score, model)
            if best is None:  # 3 distinct points or fewer
                model = self._model(max(1, min(distinct, n)), n).fit(x)
            else:
                model = best[1]
        else:
            k = int(self.config.k)
            if k > distinct:
                warnings.append(f"asked for {k} groups but there are only {distinct} different items; made {distinct}")
                k = distinct
            model = self._model(k, n).fit(x)
        labels = np.asarray(model.labels_, np.int64)
        scores, membership = centroid_scores(x, labels)
        return Clustering(labels, scores, membership, warnings)


@dataclass
class AgglomerativeClusterer(_Clusterer):
    name: ClassVar[str] = "agglomerative"
    config: AgglomerativeConfig = field(default_factory=AgglomerativeConfig)

    def _fit(self, space: ClusterSpace) -> Clustering:
        from sklearn.cluster import AgglomerativeClustering

        n = len(space)
        if n > AGGLOMERATIVE_MAX_ITEMS:
            raise BadArgument(f"agglomerative clustering handles up to {AGGLOMERATIVE_MAX_ITEMS:,} items "
                              f"(this library has {n:,}); use hdbscan or kmeans")
        warnings: list[str] = []
        k, threshold = self.config.k, self.config.distance_threshold
        if k is None and threshold is None:
            k = min(default_k(n), n)
        if k is not None:
            if k > n:
                warnings.append(f"asked for {k} groups but there are only {n} items; made {n}")
            k, threshold = min(k, n), None
        model = AgglomerativeClustering(n_clusters=k, distance_threshold=threshold, linkage=self.config.linkage)
        labels = model.fit_predict(space.reduced).astype(np.int64)
        scores, membership = centroid_scores(space.reduced, labels)
        return Clustering(labels, scores, membership, warnings)


@dataclass
class DBSCANClusterer(_Clusterer):
    name: ClassVar[str] = "dbscan"
    config: DBSCANConfig = field(default_factory=DBSCANConfig)

    def _fit(self, space: ClusterSpace) -> Clustering:
        from sklearn.cluster import DBSCAN

        if not 0 < self.config.eps <= 2:
            raise BadArgument(f"eps is a cosine distance between 0 and 2, got {self.config.eps}")
        model = DBSCAN(eps=self.config.eps, min_samples=self.config.min_samples, metric="cosine",
                       algorithm="brute")
        labels = model.fit_predict(space.vectors).astype(np.int64)
        scores, membership = centroid_scores(space.reduced, labels)
        return Clustering(labels, scores, membership)


@dataclass
class NoneClusterer(_Clusterer):
    name: ClassVar[str] = "none"
    config: NoneConfig = field(default_factory=NoneConfig)

    def _fit(self, space: ClusterSpace) -> Clustering:
        labels = np.zeros(len(space), np.int64)
        scores, membership = centroid_scores(space.reduced, labels)
        return Clustering(labels, scores, membership)


def default_k(n: int) -> int:
    """A fixed-k fallback for agglomerative clustering without k: about sqrt(n/2), at most 40."""
    return max(2, min(40, round(math.sqrt(n / 2))))


def centroid_scores(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GLOSH-shaped outlier scores and memberships from distances to cluster centroids.

    Noise (-1) is scored against the nearest cluster and gets membership 0.
    """
    n = len(x)
    scores = np.zeros(n, np.float32)
    membership = np.zeros(n, np.float32)
    ids = [c for c in np.unique(labels) if c >= 0]
    if not ids:
        return np.ones(n, np.float32), membership
    from scipy.spatial.distance import cdist

    centroids = np.stack([x[labels == c].mean(axis=0) for c in ids])
    noise = labels == -1
    nearest = np.argmin(cdist(x[noise], centroids), axis=1) if noise.any() else np.zeros(0, np.int64)
    noise_rows = np.nonzero(noise)[0]
    for j, c in enumerate(ids):
        members = labels == c
        d_members = np.linalg.norm(x[members] - centroids[j], axis=1)
        typical = float(np.median(d_members))
        if typical <= 1e-9:
            typical = float(d_members.max(initial=0.0)) or 1e-9
        scores[members] = np.clip(1.0 - typical / np.maximum(d_members, 1e-12), 0.0, 1.0)
        membership[members] = 1.0 - scores[members]
        near = noise_rows[nearest == j]
        d_noise = np.linalg.norm(x[near] - centroids[j], axis=1)
        scores[near] = np.clip(1.0 - typical / np.maximum(d_noise, 1e-12), 0.0, 1.0)
    return scores, membership


def assign_noise_to_nearest(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Labels with every noise item moved to the cluster whose centroid is nearest (in ``x``)."""
    ids = [c for c in np.unique(labels) if c >= 0]
    noise = labels == -1
    if not ids or not noise.any():
        return labels.copy()
    from scipy.spatial.distance import cdist

    centroids = np.stack([x[labels == c].mean(axis=0) for c in ids])
    d = cdist(x[noise], centroids)
    out = labels.copy()
    out[noise] = np.asarray(ids)[np.argmin(d, axis=1)]
    return out


def renumber_by_size(labels: np.ndarray) -> np.ndarray:
    """Cluster ids 0, 1, 2… from the largest group down (ties by first appearance); noise stays -1."""
    ids, first, counts = np.unique(labels[labels >= 0], return_index=True, return_counts=True)
    order = sorted(range(len(ids)), key=lambda i: (-counts[i], first[i]))
    mapping = {int(ids[i]): new for new, i in enumerate(order)}
    return np.array([mapping.get(int(v), -1) for v in labels], np.int64)


CLUSTERERS: dict[str, tuple[type, type]] = {
    "hdbscan": (HDBSCANConfig, HDBSCANClusterer),
    "kmeans": (KMeansConfig, KMeansClusterer),
    "agglomerative": (AgglomerativeConfig, AgglomerativeClusterer),
    "dbscan": (DBSCANConfig, DBSCANClusterer),
    "none": (NoneConfig, NoneClusterer),
}


def make_clusterer(name: str, seed: int = 0, **params: Any) -> Any:
    """The clusterer called ``name`` with its config built from ``params`` (``None`` values are dropped)."""
    try:
        config_cls, clusterer_cls = CLUSTERERS[name]
    except KeyError:
        raise BadArgument(f"unknown clusterer {name!r}; choose one of {', '.join(CLUSTERERS)}") from None
    params = {k: v for k, v in params.items() if v is not None}
    try:
        config = config_cls(**params)
    except TypeError:
        known = ", ".join(config_cls.__dataclass_fields__) or "none"
        raise BadArgument(f"clusterer {name!r} takes these settings: {known}; got {sorted(params)}") from None
    return clusterer_cls(seed=seed, config=config)


def clusterer_params(clusterer: Any) -> dict[str, Any]:
    """Everything that changes a clusterer's output (for the results document)."""
    return {"name": clusterer.name, "seed": clusterer.seed, **asdict(clusterer.config)}
