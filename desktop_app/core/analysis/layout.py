"""Reducers: from CLIP vectors to a low-dimensional space (the 2-D map, or the space clusters are found in).

Each reducer is one config dataclass plus one class with ``fit_transform`` / ``transform``, looked up by
name in ``REDUCERS`` (the CLI's ``--reducer`` and the GUI's menu both go through ``make_reducer``).

All reducers work on L2-normalised vectors, first projected to at most 50 principal components: there,
Euclidean distance ranks neighbours as cosine similarity does on the original vectors (distances don't
change under centring, and 50 components keep almost all of it), and UMAP's neighbour search is ~10x
cheaper than in 512 dimensions. The k-nearest-neighbour graph is computed once, exactly (scikit-learn's
brute-force kernel), and shared by the 2-D map and the clustering space.

Small inputs never fail: fewer than 3 items, or items that are all the same, get a fixed spiral; UMAP and
t-SNE need a couple of dozen points and fall back to PCA below that.

umap-learn (and numba) and scikit-learn are imported inside the functions that need them: importing
numba costs seconds and must never happen on the GUI thread.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from desktop_app.core.errors import BadArgument

PCA_DIMS = 50
MIN_POINTS_FOR_MANIFOLD = 24  # below this UMAP / t-SNE are unreliable; PCA gives a fine picture


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); always float32."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def spiral(n: int, scale: float = 1.0) -> np.ndarray:
    """A sunflower spiral of ``n`` points: the layout for 0–2 items or identical ones (all stay visible)."""
    if n == 0:
        return np.zeros((0, 2), np.float32)
    i = np.arange(n, dtype=np.float64)
    r = scale * np.sqrt((i + 0.5) / n)
    theta = i * np.pi * (3 - np.sqrt(5))
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1).astype(np.float32)


def is_degenerate(x: np.ndarray) -> bool:
    """True when there is no spread to lay out (fewer than 3 rows, or all rows the same)."""
    return len(x) < 3 or float(np.ptp(x, axis=0).max(initial=0.0)) < 1e-6


@dataclass
class Neighbours:
    """Exact k nearest neighbours of every row; column 0 is the row itself (as UMAP expects)."""

    indices: np.ndarray  # (n, k) int64
    distances: np.ndarray  # (n, k) float32


def pca_space(vectors: np.ndarray, dims: int = PCA_DIMS, seed: int = 0) -> np.ndarray:
    """Project normalised vectors onto their top ``dims`` principal components (fewer when n is small)."""
    x = normalise(vectors)
    dims = min(dims, x.shape[0] - 1, x.shape[1]) if len(x) > 1 else 0
    if dims < 1 or is_degenerate(x):
        return np.zeros((len(x), max(dims, 1)), np.float32)
    from sklearn.decomposition import PCA

    solver = "randomized" if x.shape[0] > 2000 else "full"
    return PCA(dims, svd_solver=solver, random_state=seed).fit_transform(x).astype(np.float32)


def nearest_neighbours(x: np.ndarray, k: int, algorithm: str = "brute") -> Neighbours:
    """Exact Euclidean kNN (scikit-learn's brute-force kernel: ~25 s for 100k x 50 on 2 cores, no index;
    ``algorithm="auto"`` lets it build a tree, which wins in a few dimensions)."""
    from sklearn.neighbors import NearestNeighbors

    n = len(x)
    if n == 0:
        return Neighbours(np.zeros((0, 0), np.int64), np.zeros((0, 0), np.float32))
    k = max(1, min(k, n))
    x = np.ascontiguousarray(x, dtype=np.float32)
    dist, idx = NearestNeighbors(n_neighbors=k, algorithm=algorithm, n_jobs=-1).fit(x).kneighbors(x)
    # UMAP expects each row itself in column 0; among exact duplicates the order is arbitrary, so fix it.
    rows = np.arange(n)
    for r in np.nonzero(idx[:, 0] != rows)[0]:
        where = np.nonzero(idx[r] == r)[0]
        pos = int(where[0]) if len(where) else k - 1
        idx[r, 1:pos + 1], dist[r, 1:pos + 1] = idx[r, :pos].copy(), dist[r, :pos].copy()
        idx[r, 0], dist[r, 0] = r, 0.0
    return Neighbours(idx.astype(np.int64), dist.astype(np.float32))


def place_by_neighbours(known_vectors: np.ndarray, known_coords: np.ndarray, new_vectors: np.ndarray,
                        k: int = 10) -> np.ndarray:
    """Positions for new items: the similarity-weighted mean position of their ``k`` most similar known items.

    This is how UMAP's own ``transform`` initialises new points; it needs no stored model, so a library
    analysed yesterday can take new photos today without moving any existing point.
    """
    if len(new_vectors) == 0:
        return np.zeros((0, known_coords.shape[1]), np.float32)
    if len(known_vectors) == 0:
        return np.zeros((len(new_vectors), known_coords.shape[1]), np.float32)
    known = normalise(known_vectors)
    new = normalise(new_vectors)
    k = min(k, len(known))
    out = np.empty((len(new), known_coords.shape[1]), np.float32)
    for start in range(0, len(new), 2048):
        sims = new[start:start + 2048] @ known.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        w = np.take_along_axis(sims, top, axis=1)
        # Sharpened softmax of similarity: the nearest neighbour dominates, ties share.
        w = np.exp(20.0 * (w - w.max(axis=1, keepdims=True)))
        w /= w.sum(axis=1, keepdims=True)
        out[start:start + 2048] = np.einsum("nk,nkd->nd", w, known_coords[top])
    return out


def isolation_scores(neighbours: Neighbours, k: int = 5) -> np.ndarray:
    """How unlike its nearest neighbours each item is, in [0, 1]: ``1 - typical / own`` cosine distance
    to the k-th nearest neighbour (0.75 = four times as far as a typical item is from its neighbours).

    Measured before UMAP, which pulls every point towards some neighbours and hides lone items.
    """
    n, cols = neighbours.distances.shape
    if n < 3 or cols < 2:
        return np.zeros(n, np.float32)
    d = neighbours.distances[:, min(k, cols - 1)].astype(np.float64)
    cos = d * d / 2  # Euclidean distance between unit vectors -> cosine distance
    typical = float(np.median(cos))
    if typical <= 1e-12:
        return np.zeros(n, np.float32)
    scores = np.where(cos > 0, 1.0 - typical / np.maximum(cos, 1e-12), 0.0)
    return np.clip(scores, 0.0, 1.0).astype(np.float32)


class Reducer(Protocol):
    """A step from normalised vectors (already in PCA space) to ``n_components`` dimensions."""

    name: str

    def fit_transform(self, x: np.ndarray, neighbours: Neighbours | None = None) -> np.ndarray: ...

    def transform(self, x: np.ndarray) -> np.ndarray: ...


@dataclass
class PCAConfig:
    """Principal components: instant, faithful to global distances, crowded for big libraries."""


@dataclass
class UMAPConfig:
    """UMAP (umap-learn): neighbourhoods kept, clusters separated; the default map."""

    n_neighbors: int = 15
    min_dist: float = 0.1
    n_epochs: int = 200  # UMAP's own choice above 10k items; also used below for a predictable time


@dataclass
class TSNEConfig:
    """t-SNE (scikit-learn, Barnes-Hut): tight local groups; slow above ~20k items."""

    perplexity: float = 30.0


@dataclass
class _Base:
    n_components: int = 2
    seed: int = 0
    _fit_x: np.ndarray | None = field(default=None, repr=False)
    _fit_y: np.ndarray | None = field(default=None, repr=False)

    def _remember(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self._fit_x, self._fit_y = x, y
        return y

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Place new rows among the fitted ones without moving them."""
        if self._fit_x is None or self._fit_y is None:
            raise RuntimeError("fit_transform first")
        return place_by_neighbours(self._fit_x, self._fit_y, x)

    def _fallback(self, x: np.ndarray) -> np.ndarray | None:
        """Spiral or PCA result when the input is too small for the real method, else None."""
        if is_degenerate(x):
            return self._remember(x, _pad(spiral(len(x)), self.n_components))
        if len(x) < MIN_POINTS_FOR_MANIFOLD:
            return self._remember(x, _pca(x, self.n_components, self.seed))
        return None


def _pad(y: np.ndarray, dims: int) -> np.ndarray:
    out = np.zeros((len(y), dims), np.float32)
    out[:, :min(dims, y.shape[1])] = y[:, :dims]
    return out


def _pca(x: np.ndarray, dims: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    usable = min(dims, x.shape[0] - 1, x.shape[1])
    y = PCA(usable, svd_solver="full", random_state=seed).fit_transform(x).astype(np.float32)
    return _pad(y, dims)


@dataclass
class PCAReducer(_Base):
    name: ClassVar[str] = "pca"
    config: PCAConfig = field(default_factory=PCAConfig)

    def fit_transform(self, x: np.ndarray, neighbours: Neighbours | None = None) -> np.ndarray:
        fallback = self._fallback(x) if is_degenerate(x) else None
        return fallback if fallback is not None else self._remember(x, _pca(x, self.n_components, self.seed))


@dataclass
class UMAPReducer(_Base):
    name: ClassVar[str] = "umap"
    config: UMAPConfig = field(default_factory=UMAPConfig)

    def fit_transform(self, x: np.ndarray, neighbours: Neighbours | None = None) -> np.ndarray:
        small = self._fallback(x)
        if small is not None:
            return small
        import umap  # numba compiles on first use: seconds, so only here

        k = min(self.config.n_neighbors, len(x) - 1)
        if neighbours is None or neighbours.indices.shape[1] < k:
            neighbours = nearest_neighbours(x, k)
        model = umap.UMAP(n_neighbors=k, min_dist=self.config.min_dist, n_components=self.n_components,
                          metric="euclidean", n_epochs=self.config.n_epochs, init="pca",
                          random_state=self.seed, n_jobs=1,
                          precomputed_knn=(neighbours.indices[:, :k], neighbours.distances[:, :k]))
        with warnings.catch_warnings():
            # "n_jobs overridden by random_state" and "transform unavailable without a search index":
            # both expected — a seed buys a reproducible map, and new items are placed by neighbours.
            warnings.simplefilter("ignore")
            y = model.fit_transform(x)
        return self._remember(x, np.nan_to_num(np.asarray(y, np.float32)))


@dataclass
class TSNEReducer(_Base):
    name: ClassVar[str] = "tsne"
    config: TSNEConfig = field(default_factory=TSNEConfig)

    def fit_transform(self, x: np.ndarray, neighbours: Neighbours | None = None) -> np.ndarray:
        small = self._fallback(x)
        if small is not None:
            return small
        from sklearn.manifold import TSNE

        perplexity = min(self.config.perplexity, (len(x) - 1) / 3)
        method = "barnes_hut" if self.n_components <= 3 else "exact"
        y = TSNE(self.n_components, perplexity=perplexity, init="pca", random_state=self.seed,
                 method=method).fit_transform(x)
        return self._remember(x, np.asarray(y, np.float32))


REDUCERS: dict[str, tuple[type, type]] = {
    "umap": (UMAPConfig, UMAPReducer),
    "tsne": (TSNEConfig, TSNEReducer),
    "pca": (PCAConfig, PCAReducer),
}


def make_reducer(name: str, n_components: int = 2, seed: int = 0, **params: Any) -> Any:
    """The reducer called ``name`` (``umap``, ``tsne``, ``pca``) with its config built from ``params``."""
    try:
        config_cls, reducer_cls = REDUCERS[name]
    except KeyError:
        raise BadArgument(f"unknown reducer {name!r}; choose one of {', '.join(REDUCERS)}") from None
    try:
        config = config_cls(**params)
    except TypeError:
        known = ", ".join(f.name for f in dataclasses.fields(config_cls)) or "none"
        raise BadArgument(f"reducer {name!r} takes these settings: {known}; got {sorted(params)}") from None
    return reducer_cls(n_components=n_components, seed=seed, config=config)


def reducer_params(reducer: Any) -> dict[str, Any]:
    """Everything that changes a reducer's output (for cache keys and the results document)."""
    return {"name": reducer.name, "n_components": reducer.n_components, "seed": reducer.seed,
            **asdict(reducer.config)}
