"""Clusterers: HDBSCAN, K-Means, agglomerative, DBSCAN (and "none"), each a config + an implementation.

They run on a ``ClusterSpace``: the items' normalised CLIP vectors, each item's nearest neighbours, and a
reduced space made for clustering (PCA to 50, then UMAP to 10 dimensions with ``min_dist=0`` so groups pack
tightly). HDBSCAN, the default, works on the neighbour graph of the vectors themselves (a 3-picture series
survives there; UMAP glues it onto a bigger group), chooses its density smoothing from the data and joins
groups that belong together into families: groups within groups. K-Means and agglomerative work in the
reduced space; DBSCAN's ``eps`` is a cosine distance, so it runs on the normalised vectors. docs/ANALYSIS.md
says why and what was measured.

Every clusterer returns a ``Clustering``: labels (-1 = noise), an outlier score in [0, 1] per item and a
membership strength in [0, 1]. The outlier score is ``1 - median_distance / distance`` to the item's group
centroid in the reduced space (0 for a typical member, 0.5 at twice the typical distance, towards 1 far
away); ungrouped items are scored against the nearest group.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from desktop_app.core.analysis.layout import is_degenerate
from desktop_app.core.errors import BadArgument

AGGLOMERATIVE_MAX_ITEMS = 30_000  # its memory grows with n^2


@dataclass
class ClusterSpace:
    """What clusterers see: ``reduced`` (n, d) for centroid methods, ``vectors`` normalised (n, D), and
    ``neighbours`` (n, k): each row's nearest rows, itself first (None: found when needed)."""

    reduced: np.ndarray
    vectors: np.ndarray
    neighbours: np.ndarray | None = None
    graphs: dict[str, Any] = field(default_factory=dict)  # built on first need, kept for re-clustering
    auto_choices: dict[str, Any] = field(default_factory=dict)  # "space", "min_samples" the data chose

    def neighbour_graph(self, which: str = "vectors") -> Any:
        """The sparse neighbour graph of the CLIP vectors ("vectors") or of the clustering space ("reduced")."""
        if which not in self.graphs:
            if which == "vectors":
                self.graphs[which] = neighbour_graph(self.vectors, self.neighbours)
            else:
                from desktop_app.core.analysis.layout import nearest_neighbours

                x = np.ascontiguousarray(self.reduced, np.float32)
                knn = nearest_neighbours(x, min(NEIGHBOURS, len(x)), algorithm="auto")  # 10-D: a tree is faster
                self.graphs[which] = neighbour_graph(x, knn.indices)
        return self.graphs[which]

    def __len__(self) -> int:
        return len(self.reduced)


@dataclass
class Clustering:
    labels: np.ndarray  # (n,) int, -1 = noise, clusters numbered 0.. by decreasing size
    outlier_scores: np.ndarray  # (n,) float32 in [0, 1]
    membership: np.ndarray  # (n,) float32 in [0, 1]: how firmly the item belongs to its cluster
    warnings: list[str] = field(default_factory=list)
    # Groups within groups: sub_labels[i] is the sub-group of item i (-1: none), sub_parents[s] the cluster
    # (a value of ``labels``) that sub-group s belongs to. Empty when the clusterer has no hierarchy.
    sub_labels: np.ndarray | None = None
    sub_parents: list[int] = field(default_factory=list)
    chosen: dict[str, Any] = field(default_factory=dict)  # settings the clusterer chose from the data


SMALLEST_GROUP = 3  # pictures: a series of three is a group, a pair is not (two are a duplicate or a burst)
MIN_SAMPLES_CANDIDATES = (1, 2)  # below the smallest group of 3 (see choose_settings)
FAMILY_CLOSENESS = 3.0  # groups this many times closer than groups typically are form one family
SILHOUETTE_SAMPLE = 3000


@dataclass
class HDBSCANConfig:
    """HDBSCAN: finds as many groups as there are, leaves one-off pictures as noise, and joins groups that belong
    together under one parent (``families``). ``min_samples`` None and ``space`` auto: chosen from the data
    (``choose_settings``)."""

    min_cluster_size: int = SMALLEST_GROUP
    min_samples: int | None = None
    selection: Literal["eom", "leaf"] = "eom"
    subgroups: bool = True
    # Which neighbour graph: of the CLIP vectors, of the reduced clustering space, or whichever groups better.
    space: Literal["auto", "vectors", "reduced"] = "auto"


@dataclass
class KMeansConfig:
    """K-Means: exactly k groups (or ``auto``: as many as HDBSCAN finds in the same library)."""

    k: int | Literal["auto"] = "auto"
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
        n = len(space)
        mcs = max(2, min(int(self.config.min_cluster_size), n))
        # Same vectors, same graphs: what the data chose at the first clustering still holds, so re-clustering
        # fits once instead of trying and scoring every candidate.
        choices = space.auto_choices
        spaces = [self.config.space]
        if self.config.space == "auto":
            spaces = [choices["space"]] if "space" in choices else ["vectors", "reduced"]
        samples = [self.config.min_samples] if self.config.min_samples else None
        if samples is None and "min_samples" in choices:
            samples = [min(choices["min_samples"], max(1, mcs - 1))]
        model, chosen = choose_settings(space, spaces, mcs, samples, self.config.selection, self.seed)
        if self.config.space == "auto":
            choices.setdefault("space", chosen["space"])
        if self.config.min_samples is None:
            choices.setdefault("min_samples", chosen["min_samples"])
        labels = np.asarray(model.labels_, np.int64)
        if self.config.subgroups:
            labels, sub_labels, sub_parents = families(space.vectors, labels)
        else:
            sub_labels, sub_parents = None, []
        scores, _ = centroid_scores(space.reduced, labels)
        membership = np.nan_to_num(np.asarray(model.probabilities_, np.float32))
        return Clustering(labels, scores, membership, chosen=chosen, sub_labels=sub_labels, sub_parents=sub_parents)


NEIGHBOURS = 15  # as the map's UMAP graph, so an analysis computes the neighbours once
ISLAND_CANDIDATES = 16


def neighbour_graph(vectors: np.ndarray, neighbours: np.ndarray | None) -> Any:
    """The k-nearest-neighbour graph as a sparse matrix of Euclidean distances between the rows (for unit
    vectors: the square root of 2 x cosine distance), made symmetric and connected.

    HDBSCAN on this graph is HDBSCAN on the CLIP vectors themselves, restricted to each picture's nearest
    neighbours: it sees a 3-picture series that the 10-D clustering space (UMAP pulls every point towards
    15 neighbours) glues onto a bigger group, and it runs in a second at 10k items, where HDBSCAN over all
    pairs in 50 dimensions took 11 s per setting. Parts of the graph that no neighbour links (islands of
    similar pictures) are joined to the 3 nearest islands (by centroid) through their closest pair of
    pictures (among the 16 of each nearest the other's centre), so the tree above them keeps real distances.
    """
    from scipy import sparse
    from scipy.sparse import csgraph

    n = len(vectors)
    if neighbours is None:
        from desktop_app.core.analysis.layout import nearest_neighbours

        neighbours = nearest_neighbours(vectors, min(NEIGHBOURS, n)).indices
    idx = np.asarray(neighbours, np.int64)[:, 1:]
    rows = np.repeat(np.arange(n), idx.shape[1])
    # Distances on the full vectors, whatever space found the neighbours. Zero (exact duplicates) would read
    # as "no edge" in a sparse matrix.
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, column by column: one (n, D) gather at a time instead of k of them at
    # once (100k x 14 x 512 floats).
    squares = np.einsum("ij,ij->i", vectors, vectors).astype(np.float64)
    dots = np.stack([np.einsum("ij,ij->i", vectors, vectors[idx[:, j]]) for j in range(idx.shape[1])], axis=1)
    d = np.sqrt(np.maximum(squares[:, None] + squares[idx] - 2.0 * dots.astype(np.float64), 0.0)).ravel()
    graph = sparse.csr_matrix((np.maximum(d, 1e-9), (rows, idx.ravel())), shape=(n, n))
    graph = graph.maximum(graph.T).tocsr()
    count, component = csgraph.connected_components(graph, directed=False)
    if count > 1:
        graph = _join_islands(graph, vectors, component, count)
    return graph


def _join_islands(graph: Any, vectors: np.ndarray, component: np.ndarray, count: int, near: int = 3) -> Any:
    from scipy import sparse
    from scipy.sparse import csgraph
    from scipy.spatial.distance import cdist

    n = len(vectors)
    members = [np.nonzero(component == c)[0] for c in range(count)]
    centroids = np.stack([vectors[m].mean(axis=0) for m in members])
    nearest = np.argsort(cdist(centroids, centroids), axis=1)[:, 1:near + 1]
    squares = np.einsum("ij,ij->i", vectors, vectors)
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    for a in range(count):
        for b in nearest[a]:
            # The closest pair is looked for among the few members of each island nearest the other's centre.
            ma, mb = members[a], members[b]
            ma = ma[np.argsort(squares[ma] - 2 * vectors[ma] @ centroids[b])[:ISLAND_CANDIDATES]]
            mb = mb[np.argsort(squares[mb] - 2 * vectors[mb] @ centroids[a])[:ISLAND_CANDIDATES]]
            d = cdist(vectors[ma], vectors[mb])
            i, j = np.unravel_index(int(np.argmin(d)), d.shape)
            rows += [int(ma[i]), int(mb[j])]
            cols += [int(mb[j]), int(ma[i])]
            values += [max(float(d[i, j]), 1e-9)] * 2
    graph = graph.maximum(sparse.csr_matrix((values, (rows, cols)), shape=(n, n))).tocsr()
    count, component = csgraph.connected_components(graph, directed=False)
    if count > 1:  # still apart: join what is left far above everything else
        far = float(graph.data.max()) * 4 + 1
        first = np.array([np.nonzero(component == c)[0][0] for c in range(count)])
        links = sparse.csr_matrix((np.full(count - 1, far), (first[:-1], first[1:])), shape=(n, n))
        graph = graph.maximum(links).maximum(links.T).tocsr()
    return graph


def _hdbscan(graph: Any, mcs: int, ms: int, selection: str) -> Any:
    from sklearn.cluster import HDBSCAN

    n = graph.shape[0]
    # With a sparse precomputed graph the diagonal is not stored, so min_samples counts other points; it cannot
    # exceed the fewest neighbours any row has (14 here), and a larger request is read as that.
    fewest = int(np.diff(graph.indptr).min()) if n else 1
    return HDBSCAN(min_cluster_size=mcs, min_samples=max(1, min(ms, fewest, n - 1)), metric="precomputed",
                   cluster_selection_method=selection, copy=True).fit(graph)


def grouping_quality(vectors: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """Mean silhouette (cosine, on the CLIP vectors) of the grouped items times the share of items grouped.

    How alike each picture is to its own group compared with the next nearest group; the share grouped stops
    it rewarding a tidy few groups with most pictures left out. -1 when there are fewer than two groups.
    """
    from sklearn.metrics import silhouette_score

    grouped = labels >= 0
    if len(np.unique(labels[grouped])) < 2 or grouped.sum() < 3:
        return -1.0
    x, y = vectors[grouped], labels[grouped]
    sample = SILHOUETTE_SAMPLE if len(y) > SILHOUETTE_SAMPLE else None
    try:
        score = silhouette_score(x, y, metric="cosine", sample_size=sample, random_state=seed)
    except ValueError:  # a sample that holds a single group
        return -1.0
    return float(score) * float(grouped.mean())


def choose_settings(space: ClusterSpace, spaces: Sequence[str], mcs: int, samples: list[int] | None, selection: str,
                    seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """HDBSCAN fitted on the neighbour graph and with the ``min_samples`` (its density smoothing) whose groups
    score best by ``grouping_quality``; returns the fitted model and what was chosen.

    ``min_cluster_size`` stays at the smallest group a user wants to see (3 pictures), so small series are
    found, and ``min_samples`` stays below it (a density read over more neighbours than a series has members,
    itself excluded, measures a 3-picture series by pictures outside it and folds it into its neighbour).
    The graph: of the CLIP vectors, where a small series keeps its own identity, or of the 10-D clustering
    space, where UMAP has pulled groups apart — which is what a library of faint, overlapping kinds needs
    (seen on generated blobs: ARI 0.99 there against 0.02 on the vectors) and what glues a 3-picture series
    onto a bigger group in a library of clear kinds. The same quality measure decides, per library.
    Splinters of one kind are joined again by ``families``.
    """
    best: tuple[float, Any, dict[str, Any]] | None = None
    n = len(space)
    candidates = [(which, ms) for which in spaces
                  for ms in samples or [m for m in MIN_SAMPLES_CANDIDATES if m < mcs] or [1] if ms < n]
    for which, ms in candidates:
        model = _hdbscan(space.neighbour_graph(which), mcs, ms, selection)
        if len(candidates) == 1:  # nothing to choose between: no need to score it
            return model, {"space": which, "min_samples": ms}
        score = grouping_quality(space.vectors, np.asarray(model.labels_), seed)
        if best is None or score > best[0] + 1e-9:
            best = (score, model, {"space": which, "min_samples": ms})
    if best is None:
        return _hdbscan(space.neighbour_graph(spaces[0]), mcs, 1, selection), {"space": spaces[0], "min_samples": 1}
    return best[1], best[2]


def families(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Groups that belong together, joined under one parent: groups within groups.

    Groups are linked (average linkage on their centroids' cosine distances) while they are at least
    ``FAMILY_CLOSENESS`` times closer than the library's groups typically are to each other (the median
    distance between centroids, counting anything unrelated, similarity <= 0, as distance 1): a wedding's
    ceremony, portraits and dinner, or two bursts of one subject, are far closer to each other than to the
    rest of a library. Returns the parents' labels (a group alone is its own parent), the sub-group label of
    every item (-1: none) and each sub-group's parent; only parents with two or more groups have sub-groups.
    """
    n = len(labels)
    ids = [int(c) for c in np.unique(labels) if c >= 0]
    none: tuple[np.ndarray, np.ndarray, list[Any]] = (labels.copy(), np.full(n, -1, np.int64), [])
    if len(ids) < 3:  # "typical" needs a few groups to mean anything
        return none
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    centroids = np.stack([vectors[labels == c].mean(axis=0) for c in ids])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    distances = np.clip(pdist(centroids, metric="cosine"), 0.0, 2.0)
    # Unrelated is unrelated: a negative similarity (seen with small models) says no more than 0 does.
    cut = float(np.median(np.minimum(distances, 1.0))) / FAMILY_CLOSENESS
    family = fcluster(linkage(distances, "average"), t=cut, criterion="distance")
    if len(np.unique(family)) == len(ids):
        return none
    parent_of = {c: int(f) - 1 for c, f in zip(ids, family)}
    parents = np.array([parent_of.get(int(v), -1) for v in labels], np.int64)
    sub_labels = np.full(n, -1, np.int64)
    sub_parents: list[int] = []
    for f in sorted(set(parent_of.values())):
        members = [c for c in ids if parent_of[c] == f]
        if len(members) < 2:
            continue
        for c in members:
            sub_labels[labels == c] = len(sub_parents)
            sub_parents.append(f)
    return parents, sub_labels, sub_parents


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
        x, n = space.reduced, len(space)
        warnings: list[str] = []
        chosen: dict[str, Any] = {}
        distinct = len(np.unique(x.round(6), axis=0))
        if self.config.k == "auto":
            # The best-silhouette k over 2..30 undershot by a third on uneven libraries (a 3-picture series
            # is worth little silhouette next to a 60-picture shoot). HDBSCAN, whose resolution is chosen from
            # the data, counts the groups instead: every group it tells apart, the pieces of a family included,
            # since K-Means has no families to put them in.
            found = HDBSCANClusterer(self.seed, HDBSCANConfig(subgroups=False))._fit(space)
            k = max(1, min(int(found.labels.max()) + 1, distinct, n))
            chosen["k"] = k
            model = self._model(k, n).fit(x)
        else:
            k = int(self.config.k)
            if k > distinct:
                warnings.append(f"asked for {k} groups but there are only {distinct} different items; made {distinct}")
                k = distinct
            model = self._model(k, n).fit(x)
        labels = np.asarray(model.labels_, np.int64)
        scores, membership = centroid_scores(x, labels)
        return Clustering(labels, scores, membership, warnings, chosen=chosen)


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


def renumber_by_size(labels: np.ndarray, with_mapping: bool = False) -> Any:
    """Cluster ids 0, 1, 2… from the largest group down (ties by first appearance); noise stays -1.
    With ``with_mapping``, also the old id -> new id mapping."""
    ids, first, counts = np.unique(labels[labels >= 0], return_index=True, return_counts=True)
    order = sorted(range(len(ids)), key=lambda i: (-counts[i], first[i]))
    mapping = {int(ids[i]): new for new, i in enumerate(order)}
    renumbered = np.array([mapping.get(int(v), -1) for v in labels], np.int64)
    return (renumbered, mapping) if with_mapping else renumbered


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
        known = ", ".join(f.name for f in dataclasses.fields(config_cls)) or "none"
        raise BadArgument(f"clusterer {name!r} takes these settings: {known}; got {sorted(params)}") from None
    return clusterer_cls(seed=seed, config=config)


def clusterer_params(clusterer: Any) -> dict[str, Any]:
    """Everything that changes a clusterer's output (for the results document)."""
    return {"name": clusterer.name, "seed": clusterer.seed, **asdict(clusterer.config)}
