"""From embeddings to what the map shows: the 2-D layout, clusters, their names, and outliers.

    gen = analyze(vectors, kinds, texts, AnalysisSettings(), cache=cache, encode_texts=encoder)
    analysis = drive(gen, print)
    analysis = recluster(analysis, vectors, kinds, texts, "kmeans", {"k": 8})   # ~1 s at 10k items

Two reduced spaces are built from the same PCA-50 projection and one exact kNN graph: the 2-D map (the
``reducer``: UMAP by default) and a 10-D UMAP space made for clustering (``min_dist=0``). Both are stored in
the embedding cache, keyed by the items' vectors and every parameter, so an unchanged library is drawn
again without recomputing. When items are added, the newest stored layout with the same parameters is
extended: known items keep their coordinates exactly, new ones are placed among their nearest neighbours
(``layout.place_by_neighbours``); ``relayout=True`` refits from scratch.

Re-clustering reuses the stored spaces; it never re-embeds and never recomputes a reduction.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop_app.core.analysis.cluster import (
    NEIGHBOURS,
    Clustering,
    ClusterSpace,
    assign_noise_to_nearest,
    clusterer_params,
    make_clusterer,
    renumber_by_size,
)
from desktop_app.core.analysis.isolated import run_isolated, warm_up
from desktop_app.core.analysis.layout import (
    make_reducer,
    nearest_neighbours,
    normalise,
    pca_space,
    place_by_neighbours,
    reducer_params,
)
from desktop_app.core.analysis.model import (
    Analysis,
    AnalysisSettings,
    ClusterInfo,
    describe_clusters,
    layout_key,
    params_key,
    row_ids,
)
from desktop_app.core.analysis.naming import (
    TextEncoder,
    concept_vectors,
    keyword_names,
    load_vocabulary,
    zero_shot_names,
)
from desktop_app.core.progress import CancelToken, ProgressEvent

if TYPE_CHECKING:  # only a type here: the analysis sits below the embedding cache (see pyproject's layers)
    from desktop_app.core.embedding.cache import EmbeddingCache

CLUSTER_SPACE: dict[str, Any] = {"name": "umap", "n_components": 10, "n_neighbors": 15, "min_dist": 0.0,
                                 "n_epochs": 100}
ISOLATION_NEIGHBOURS = 2  # a 3-picture series has two close neighbours; a one-off has none
EXTEND_MIN_OVERLAP = 0.5  # extend an old layout when at least half of today's items were in it
ISOLATE_ABOVE = 24  # items: from here UMAP / t-SNE really run (and numba compiles) — in the helper process


@dataclass
class _Shared:
    """The PCA projection and kNN graph both spaces start from, computed at most once per analysis."""

    vectors: np.ndarray
    seed: int
    _pca: np.ndarray | None = None
    _knn: Any = None

    @property
    def pca(self) -> np.ndarray:
        if self._pca is None:
            self._pca = pca_space(self.vectors, seed=self.seed)
        return self._pca

    def neighbours(self, k: int) -> Any:
        if self._knn is None or self._knn.indices.shape[1] < k:
            self._knn = nearest_neighbours(self.pca, k)
        return self._knn


def _reduced_space(space: str, compute: Any, shared: _Shared, ids: np.ndarray, cache: EmbeddingCache | None,
                   params: dict[str, Any], relayout: bool, extendable: bool = True) -> tuple[np.ndarray, str]:
    """Coordinates of every row in one space, and how they were obtained: stored, extended or fitted."""
    pkey = params_key(space, params)
    key = layout_key(pkey, ids)
    if cache is not None and not relayout:
        stored = cache.load_layout(key)
        if stored is not None and len(stored) == len(ids):
            return stored, "stored"
        previous = cache.latest_layout(pkey) if extendable else None
        if previous is not None:
            extended = _extend(previous, shared.vectors, ids)
            if extended is not None:
                cache.store_layout(key, pkey, ids, extended)
                return extended, "extended"
    coords = np.asarray(compute(), np.float32)
    if coords.ndim == 1:
        coords = coords[:, None]
    if cache is not None:
        cache.store_layout(key, pkey, ids, coords)
    return coords, "fitted"


def _fit(reducer: Any, shared: _Shared, cancel: CancelToken) -> np.ndarray:
    k = getattr(reducer.config, "n_neighbors", None)
    neighbours = shared.neighbours(min(k, max(1, len(shared.vectors) - 1))) if k else None
    if reducer.name == "pca" or len(shared.vectors) < ISOLATE_ABOVE:
        return _fit_here(reducer, shared.pca, neighbours)
    # UMAP / t-SNE hold the GIL for seconds: a helper process keeps the GUI fluid and Cancel immediate.
    return run_isolated(_fit_here, reducer, shared.pca, neighbours, cancel=cancel)


def _fit_here(reducer: Any, x: np.ndarray, neighbours: Any) -> np.ndarray:
    """Module level so the helper process can run it."""
    return np.asarray(reducer.fit_transform(x, neighbours), np.float32)


def warm_up_layout() -> None:
    """Start the layout helper and compile UMAP's numba code in it, in the background (returns at once).

    Called when the window opens: a session's first analysis then finds the helper running and compiled
    (measured: ~20 s of "Drawing the map" on a 2-core laptop otherwise; benchmarks/first_map.py)."""
    warm_up(_warm_here)


def _warm_here() -> None:
    """Module level so the helper process can run it: both UMAPs an analysis fits (map and clustering space)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((ISOLATE_ABOVE * 3, 16)).astype(np.float32)
    for reducer in (make_reducer("umap"), make_reducer("umap", CLUSTER_SPACE["n_components"])):
        reducer.fit_transform(x, None)


def _extend(previous: tuple[np.ndarray, np.ndarray], vectors: np.ndarray, ids: np.ndarray) -> np.ndarray | None:
    """Known rows keep their stored coordinates; new rows are placed by their nearest known neighbours."""
    old_ids, old_coords = previous
    where = {int(i): r for r, i in enumerate(old_ids)}
    known_rows = np.array([r for r, i in enumerate(ids) if int(i) in where], np.int64)
    if len(ids) == 0 or len(known_rows) < max(1, EXTEND_MIN_OVERLAP * len(ids)):
        return None
    coords = np.empty((len(ids), old_coords.shape[1]), np.float32)
    coords[known_rows] = old_coords[[where[int(ids[r])] for r in known_rows]]
    new_rows = np.setdiff1d(np.arange(len(ids)), known_rows)
    coords[new_rows] = place_by_neighbours(vectors[known_rows], coords[known_rows], vectors[new_rows])
    return coords


# -- the analysis ----------------------------------------------------------------------------------
def analyze(vectors: np.ndarray, kinds: Sequence[str], texts: Sequence[str | None],
            settings: AnalysisSettings | None = None, *, cache: EmbeddingCache | None = None,
            model_key: str = "", encode_texts: TextEncoder | None = None,
            cancel: CancelToken | None = None) -> Generator[ProgressEvent, None, Analysis]:
    """Lay out, cluster and name ``vectors`` (row i = item i, ``kinds[i]`` "image"/"text", ``texts[i]`` its
    text or None). Returns an ``Analysis``; raises ``BadArgument`` for unknown names or settings."""
    settings = settings or AnalysisSettings()
    cancel = cancel or CancelToken()
    from desktop_app.core.analysis import sampled  # read at call time: tests lower the threshold

    if len(vectors) > sampled.SAMPLE_ABOVE:  # a big library: a sample in full, the rest placed by it
        return (yield from sampled.analyze_by_sample(vectors, kinds, texts, settings, analyze, cancel=cancel,
                                                     cache=cache, model_key=model_key, encode_texts=encode_texts))
    started = time.perf_counter()
    x = normalise(vectors)
    n = len(x)
    reducer = make_reducer(settings.reducer, 2, settings.seed, **settings.reducer_params)
    clusterer = make_clusterer(settings.clusterer, settings.seed, **settings.cluster_params)
    vocabulary = load_vocabulary(settings.vocabulary)
    shared = _Shared(x, settings.seed)
    ids = row_ids(x)
    timings: dict[str, float] = {}

    yield ProgressEvent("layout", 0, 2, "drawing the map")
    t = time.perf_counter()
    display_params = {"model": model_key, **reducer_params(reducer)}
    coords, how_display = _reduced_space("display", lambda: _fit(reducer, shared, cancel), shared, ids, cache,
                                         display_params, settings.relayout)
    timings["layout"] = time.perf_counter() - t
    cancel.raise_if_cancelled()
    yield ProgressEvent("layout", 1, 2, f"map {how_display}; preparing the clustering space")

    t = time.perf_counter()
    cluster_reducer = make_reducer("umap", CLUSTER_SPACE["n_components"], settings.seed,
                                   n_neighbors=CLUSTER_SPACE["n_neighbors"], min_dist=CLUSTER_SPACE["min_dist"],
                                   n_epochs=CLUSTER_SPACE["n_epochs"])
    space_params = {"model": model_key, **reducer_params(cluster_reducer)}
    space, how_space = _reduced_space("cluster", lambda: _fit(cluster_reducer, shared, cancel), shared, ids, cache,
                                      space_params, settings.relayout)
    timings["cluster_space"] = time.perf_counter() - t
    t = time.perf_counter()
    neighbours = None
    if n:  # an empty layout would be stored with no columns, which the cache cannot read back
        knn, _ = _reduced_space("neighbours", lambda: shared.neighbours(NEIGHBOURS).indices.astype(np.float32),
                                shared, ids, cache, {"model": model_key, "k": NEIGHBOURS}, settings.relayout,
                                extendable=False)
        neighbours = knn.astype(np.int64)
    timings["neighbours"] = time.perf_counter() - t
    cancel.raise_if_cancelled()
    yield ProgressEvent("layout", 2, 2, f"clustering space {how_space}")

    concepts = None
    if encode_texts is not None and n:
        yield ProgressEvent("name", 0, 1, f"reading the vocabulary ({len(vocabulary.concepts)} concepts)")
        t = time.perf_counter()
        concepts = (vocabulary.concepts, concept_vectors(vocabulary, encode_texts))
        timings["vocabulary"] = time.perf_counter() - t
        yield ProgressEvent("name", 1, 1, "vocabulary ready")

    yield ProgressEvent("cluster", 0, 1, f"finding groups ({clusterer.name})")
    stored = _StoredClustering(cache, model_key, ids) if cache is not None and not settings.relayout else None
    analysis = _cluster_and_name(x, kinds, texts, coords, space, clusterer, settings, concepts, timings,
                                 neighbours, stored=stored)
    analysis.params.update(display=display_params, cluster_space=space_params)
    analysis.stats.update(layout=how_display, cluster_space_source=how_space,
                          seconds=round(time.perf_counter() - started, 3))
    if stored is not None:
        analysis.stats["clustering"] = stored.how
    yield ProgressEvent("cluster", 1, 1, f"{len(analysis.clusters)} groups, {int((analysis.labels < 0).sum())} "
                                         f"ungrouped, {int(analysis.outliers.sum())} outliers")
    return analysis


def recluster(analysis: Analysis, vectors: np.ndarray, kinds: Sequence[str], texts: Sequence[str | None],
              clusterer: str, cluster_params: dict[str, Any] | None = None, *, assign_noise: bool = False,
              seed: int | None = None, outlier_threshold: float | None = None) -> Analysis:
    """Cluster again with other settings, reusing the map and the clustering space (no model, no UMAP)."""
    seed = analysis.params.get("seed", 0) if seed is None else seed
    settings = AnalysisSettings(clusterer=clusterer, cluster_params=dict(cluster_params or {}), seed=seed,
                                assign_noise=assign_noise,
                                outlier_threshold=analysis.outlier_threshold if outlier_threshold is None
                                else outlier_threshold)
    model = make_clusterer(clusterer, seed, **settings.cluster_params)
    timings: dict[str, float] = {}
    result = _cluster_and_name(normalise(vectors), kinds, texts, analysis.coords, analysis.cluster_space,
                               model, settings, analysis._concepts, timings, analysis.neighbours,
                               analysis._space)
    result.params.update({k: v for k, v in analysis.params.items() if k in ("display", "cluster_space")})
    result.stats.update({k: v for k, v in analysis.stats.items() if k in ("layout", "cluster_space_source")})
    return result


class _StoredClustering:
    """The clusterer's answer kept in the cache with the layouts, keyed by everything it depends on (the settings,
    the vectors, the clustering space and the neighbours, the last two by their bytes: a refitted space is another
    key): reopening an unchanged library does not run HDBSCAN again (10-20 s at 60-100k items)."""

    def __init__(self, cache: EmbeddingCache, model_key: str, ids: np.ndarray) -> None:
        self.cache, self.model_key, self.ids = cache, model_key, ids
        self.how = "computed"

    def fit(self, clusterer: Any, space: ClusterSpace) -> Clustering:
        pkey = params_key("clustering", {"model": self.model_key, "clusterer": clusterer_params(clusterer)})
        digest = hashlib.sha256(self.ids.tobytes())
        digest.update(np.ascontiguousarray(space.reduced, np.float32).tobytes())
        if space.neighbours is not None:
            digest.update(np.ascontiguousarray(space.neighbours, np.int64).tobytes())
        key = layout_key(pkey, np.frombuffer(digest.digest(), np.uint64))
        note = self.cache.load_note(key)
        columns = self.cache.load_layout(key) if note is not None else None
        if note is not None and columns is not None and columns.shape == (len(space), 4):
            self.how = "stored"
            space.auto_choices.update(note["auto_choices"])  # what re-clustering would otherwise choose again
            return Clustering(labels=columns[:, 0].astype(np.int64), outlier_scores=columns[:, 1].copy(),
                              membership=columns[:, 2].copy(), warnings=list(note["warnings"]),
                              sub_labels=columns[:, 3].astype(np.int64) if note["sub_labels"] else None,
                              sub_parents=[int(p) for p in note["sub_parents"]], chosen=dict(note["chosen"]))
        clustering = clusterer.fit(space)
        note = {"warnings": list(clustering.warnings), "sub_labels": clustering.sub_labels is not None,
                "sub_parents": [int(p) for p in clustering.sub_parents], "chosen": clustering.chosen,
                "auto_choices": space.auto_choices}
        try:
            json.dumps(note)
        except TypeError:  # something this store cannot write: computed again next time, as before
            return clustering
        # Group numbers are exact in float32 (below 2^24); the scores are float32 wherever they are used.
        columns = np.column_stack([clustering.labels, clustering.outlier_scores, clustering.membership,
                                   clustering.sub_labels if clustering.sub_labels is not None
                                   else np.full(len(space), -1)]).astype(np.float32)
        self.cache.store_layout(key, pkey, np.zeros(0, np.uint64), columns, note=note)
        return clustering


def _cluster_and_name(x: np.ndarray, kinds: Sequence[str], texts: Sequence[str | None], coords: np.ndarray,
                      space: np.ndarray, clusterer: Any, settings: AnalysisSettings,
                      concepts: tuple[list[str], np.ndarray] | None, timings: dict[str, float],
                      neighbours: np.ndarray | None = None, previous: ClusterSpace | None = None,
                      stored: _StoredClustering | None = None) -> Analysis:
    t = time.perf_counter()
    if neighbours is None and len(x) > 1:
        # A results document from before neighbours were stored: found as analyze finds them, and kept.
        neighbours = nearest_neighbours(pca_space(x), NEIGHBOURS).indices
    cluster_space = ClusterSpace(space, x, neighbours)
    if previous is not None and len(previous) == len(x) and previous.reduced is space:
        cluster_space.graphs, cluster_space.auto_choices = previous.graphs, previous.auto_choices
    clustering = stored.fit(clusterer, cluster_space) if stored is not None else clusterer.fit(cluster_space)
    labels = clustering.labels
    if settings.assign_noise:
        labels = assign_noise_to_nearest(space, labels)
    labels, renamed = renumber_by_size(labels, with_mapping=True)
    timings["clustering"] = time.perf_counter() - t

    t = time.perf_counter()
    clusters = describe_clusters(x, labels)
    _name(clusters, x, labels, kinds, texts, concepts)
    subclusters, sublabels = _subgroups(clustering, renamed, clusters, x, labels, concepts)
    timings["naming"] = time.perf_counter() - t
    params = {"seed": settings.seed, "clusterer": clusterer_params(clusterer), "assign_noise": settings.assign_noise,
              "outlier_threshold": settings.outlier_threshold}
    if clustering.chosen:
        params["chosen"] = dict(clustering.chosen)
    # An outlier is either a straggler of its group (centroid distance, in the clustering space) or
    # a lone item unlike anything else (isolation, measured on the vectors, where UMAP cannot hide it).
    isolation = (group_isolation(x, cluster_space.neighbours, labels, settings.seed)
                 if cluster_space.neighbours is not None else np.zeros(len(x), np.float32))
    outlier_scores = np.maximum(clustering.outlier_scores, isolation).astype(np.float32)
    result = Analysis(coords=coords, cluster_space=space, labels=labels, outlier_scores=outlier_scores,
                      membership=clustering.membership.astype(np.float32), isolation=isolation.astype(np.float32),
                      clusters=clusters, params=params,
                      stats={"timings": {k: round(v, 3) for k, v in timings.items()}},
                      warnings=list(clustering.warnings), outlier_threshold=settings.outlier_threshold,
                      subclusters=subclusters, sublabels=sublabels, neighbours=neighbours, _concepts=concepts,
                      _space=cluster_space)
    for name, arr in (("coords", result.coords), ("cluster_space", result.cluster_space),
                      ("outlier_scores", result.outlier_scores), ("membership", result.membership)):
        if not np.all(np.isfinite(arr)):  # never hand NaN to the map or the document
            result.warnings.append(f"non-finite values in {name} were replaced by 0")
            setattr(result, name, np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0))
    return result


def _subgroups(clustering: Any, renamed: dict[int, int], clusters: list[ClusterInfo], x: np.ndarray,
               labels: np.ndarray, concepts: tuple[list[str], np.ndarray] | None
               ) -> tuple[list[ClusterInfo], np.ndarray | None]:
    """The clusterer's sub-groups as ``ClusterInfo``s: ids after the groups', largest first within each group,
    named like groups but distinct only among siblings."""
    if clustering.sub_labels is None or not clustering.sub_parents:
        return [], None
    sublabels = np.full(len(labels), -1, np.int64)
    families: list[tuple[ClusterInfo, list[int]]] = []
    next_id = max((c.id for c in clusters), default=-1) + 1
    subs_of: dict[int, list[int]] = {}
    for sub, parent in enumerate(clustering.sub_parents):
        if parent in renamed:
            subs_of.setdefault(renamed[parent], []).append(sub)
    for group in clusters:
        own = subs_of.get(group.id, [])
        # Items moved by --assign-noise or cleared as noise keep no sub-group.
        sizes = {s: int(((clustering.sub_labels == s) & (labels == group.id)).sum()) for s in own}
        own = sorted((s for s in own if sizes[s] > 0), key=lambda s: -sizes[s])
        if len(own) < 2:
            continue
        ids = []
        for s in own:
            sublabels[(clustering.sub_labels == s) & (labels == group.id)] = next_id
            ids.append(next_id)
            next_id += 1
        families.append((group, ids))
    described = {c.id: c for c in describe_clusters(x, sublabels)}  # one pass for every sub-group
    subclusters: list[ClusterInfo] = []
    for group, ids in families:
        children = [described[i] for i in ids]
        for child in children:
            child.parent = group.id
        if concepts is not None:
            # Distinct among siblings and from the group's own name ("bread" > "bread" says nothing).
            taken = set(group.name.split(", "))  # a group named "beach, sunset" took both concepts
            keep = [i for i, concept in enumerate(concepts[0]) if concept not in taken]
            names = zero_shot_names(np.stack([c.centroid for c in children]), [concepts[0][i] for i in keep],
                                    concepts[1][keep])
            for child, name in zip(children, names):
                child.name, child.named_by = name, "vocabulary"
        subclusters += children
    return subclusters, (sublabels if subclusters else None)


def group_isolation(x: np.ndarray, neighbours: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """How lone each item is, in [0, 1], from the cosine distance to its 2nd nearest neighbour compared with
    what is typical in its own group: the larger of ``1 - typical / own`` (0.75: four times as far) and where
    it lies between typical (0) and the distance between unrelated pictures of this library (1; 0.75: three
    quarters of the way to unrelated).

    Typical is the median over the item's group (over the whole library for ungrouped items): pictures of a
    3-picture series lie farther apart than those of a 60-picture shoot, and measured against the library's
    median every picture of a short series read as lone. The 2nd neighbour, because a series of three has
    two close neighbours and a one-off has none. Unrelated is the median distance of random pairs (at most
    1: a negative similarity says no more than 0 does); a ratio such as "four times the typical distance"
    cannot be reached where all distances lie between 0.2 and 0.7, as CLIP's do.
    """
    n = len(x)
    if n < 3 or neighbours.shape[1] <= ISOLATION_NEIGHBOURS:
        return np.zeros(n, np.float32)
    other = neighbours[:, ISOLATION_NEIGHBOURS]
    own = np.clip(1.0 - np.einsum("ij,ij->i", x, x[other]).astype(np.float64), 0.0, 2.0)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, 4000), rng.integers(0, n, 4000)
    pairs = a != b
    unrelated = min(1.0, float(np.median(1.0 - np.einsum("ij,ij->i", x[a[pairs]], x[b[pairs]])))) if pairs.any() \
        else 1.0
    typical = np.full(n, float(np.median(own)))
    for g in np.unique(labels[labels >= 0]):
        rows = np.nonzero(labels == g)[0]
        if len(rows) >= 20:
            typical[rows] = float(np.median(own[rows]))
        elif len(rows) >= 3:  # small groups: the others' median, or a lone picture taken in sets its own bar
            typical[rows] = [float(np.median(np.delete(own[rows], j))) for j in range(len(rows))]
    towards_unrelated = (own - typical) / np.maximum(unrelated - typical, 1e-6)
    times_typical = np.where(own > 1e-12, 1.0 - typical / np.maximum(own, 1e-12), 0.0)  # 0.75: 4x as far
    return np.clip(np.maximum(towards_unrelated, times_typical), 0.0, 1.0).astype(np.float32)



def _name(clusters: list[ClusterInfo], x: np.ndarray, labels: np.ndarray, kinds: Sequence[str],
          texts: Sequence[str | None], concepts: tuple[list[str], np.ndarray] | None) -> None:
    """Notes-mostly clusters get keywords; the rest get distinct vocabulary names (when a model is at hand)."""
    if not clusters:
        return
    kinds_arr = np.asarray(kinds)
    text_heavy = [c.id for c in clusters if (kinds_arr[labels == c.id] == "text").mean() >= 0.5]
    docs = [" ".join(texts[int(i)] or "" for i in np.nonzero(labels == c.id)[0]) for c in clusters]
    position = {c.id: i for i, c in enumerate(clusters)}
    keywords = keyword_names(docs, [position[cid] for cid in text_heavy]) if text_heavy else {}
    for cid in text_heavy:
        if position[cid] in keywords:
            clusters[position[cid]].name = keywords[position[cid]]
            clusters[position[cid]].named_by = "keywords"
    rest = [c for c in clusters if c.named_by == "number"]
    if concepts is not None and rest:
        names = zero_shot_names(np.stack([c.centroid for c in rest]), concepts[0], concepts[1])
        taken = {c.name for c in clusters if c.named_by == "keywords"}
        for cluster, name in zip(rest, names):
            cluster.name = name if name not in taken else f"{name} ({cluster.id + 1})"
            cluster.named_by = "vocabulary"

