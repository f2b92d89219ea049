"""Big libraries (hundreds of thousands to millions of items): analyse a sample, then place everything else.

UMAP, the neighbour graph and HDBSCAN grow faster than the library (a million items would take hours on a
laptop). Above ``SAMPLE_ABOVE`` items, ``analyze`` runs on an evenly drawn sample of ``SAMPLE_SIZE`` items (the
map, the groups, their names, sub-groups and outliers, exactly as for a small library) and every other item then
takes its place from its nearest sampled items, found exactly in a 64-dimensional PCA of the vectors (tiles of
matrix products with a top-k per row, in torch):

* map position and clustering-space position: the similarity-weighted mean of its 10 nearest sampled items'
  (sharpened, as ``layout.place_by_neighbours`` does, so the nearest dominates);
* group and sub-group: those of its nearest sampled item; membership and outlier score: the weighted mean;
* neighbours (for the map and re-clustering): itself, then its nearest sampled items.

Groups are the sample's, with sizes, representatives and cohesion counted again over the whole library. The
placing (each item's nearest sampled items) is stored with the layouts in the cache, keyed by a digest of every
item's vector and the settings, so reopening an unchanged big library does not place anything again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np

from desktop_app.core.analysis.layout import normalise
from desktop_app.core.progress import CancelToken, ProgressEvent

SAMPLE_ABOVE = 200_000  # items: from here the analysis runs on a sample
SAMPLE_SIZE = 60_000  # items analysed in full (about a minute on 2 cores)
PCA_DIMS = 64  # where the nearest sampled items are looked for
PLACE_K = 10  # sampled items a placed item takes its position from
TILE = 2048  # query rows per product: 2048 x 60k similarities = 0.5 GB at a time


def sample_rows(n: int, kinds: Sequence[str], size: int, seed: int) -> np.ndarray:
    """Sorted rows to analyse in full: every note (they are few and name groups) and an even random draw of the
    pictures up to ``size``."""
    rng = np.random.default_rng(seed)
    kinds_arr = np.asarray(kinds)
    notes = np.flatnonzero(kinds_arr == "text")[:size // 2]
    pictures = np.flatnonzero(kinds_arr != "text")
    take = max(0, min(len(pictures), size - len(notes)))
    return np.sort(np.concatenate([notes, rng.choice(pictures, take, replace=False)])).astype(np.int64)


def pca_basis(x: np.ndarray, dims: int = PCA_DIMS) -> tuple[np.ndarray, np.ndarray]:
    """(mean, components (d, dims)) of ``x``'s principal axes."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean.astype(np.float32), np.ascontiguousarray(vt[:dims].T, np.float32)


def nearest_rows(known: np.ndarray, queries: np.ndarray, k: int, cancel: CancelToken | None = None,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, its ``k`` nearest ``known`` rows by dot product (exact): (rows, products), best first."""
    import torch

    k = min(k, len(known))
    kt = torch.from_numpy(np.ascontiguousarray(known, np.float32))
    rows = np.empty((len(queries), k), np.int64)
    sims = np.empty((len(queries), k), np.float32)
    with torch.inference_mode():
        for start in range(0, len(queries), TILE):
            q = torch.from_numpy(np.ascontiguousarray(queries[start:start + TILE], np.float32))
            values, idx = torch.topk(q @ kt.T, k, dim=1)
            rows[start:start + len(q)] = idx.numpy()
            sims[start:start + len(q)] = values.numpy()
            if cancel is not None:
                cancel.raise_if_cancelled()
    return rows, sims


def analyze_by_sample(vectors: np.ndarray, kinds: Sequence[str], texts: Sequence[str | None], settings: Any,
                      analyze_fn: Any, *, cancel: CancelToken, **kwargs: Any,
                      ) -> Generator[ProgressEvent, None, Any]:
    """``analyze_fn`` (``analysis.analyze``) on a sample, then everything else placed by its nearest sampled items.

    Returns an ``Analysis`` for all rows (see the module docstring)."""
    from desktop_app.core.analysis.model import describe_clusters

    x = _unit_rows(vectors)
    n = len(x)
    sample = sample_rows(n, kinds, SAMPLE_SIZE, settings.seed)
    yield ProgressEvent("layout", 0, None, f"a big library: analysing {len(sample):,} of {n:,} items in full")
    part = yield from analyze_fn(x[sample], [kinds[i] for i in sample], [texts[i] for i in sample], settings,
                                 cancel=cancel, **kwargs)
    started = time.perf_counter()
    rest = np.setdiff1d(np.arange(n), sample)
    yield ProgressEvent("layout", 1, 2, f"placing the other {len(rest):,} items by their nearest sampled items")
    width = part.neighbours.shape[1] if part.neighbours is not None else PLACE_K + 1
    k = max(PLACE_K, width - 1)
    # Stored with the layouts: reopening an unchanged big library places nothing again.
    cache, key, pkey = kwargs.get("cache"), "", ""
    if cache is not None:
        from desktop_app.core.analysis.model import layout_key, params_key

        pkey = params_key("placing", {"model": kwargs.get("model_key", ""), "sample": int(len(sample)), "k": k,
                                       "pca": PCA_DIMS, "seed": settings.seed})
        key = layout_key(pkey, _digest(x))
    stored = cache.load_layout(key) if cache is not None and not settings.relayout else None
    if stored is not None and stored.shape == (len(rest), 2 * k):
        near, sims, how = stored[:, :k].astype(np.int64), stored[:, k:], "stored"
    else:
        near, sims = yield from _place(x, sample, rest, k, cancel)
        how = "computed"
        if cache is not None:
            from desktop_app.core.analysis.model import row_ids

            # Row ids a chunk at a time: x[rest] at once would copy ~2 GB of vectors at a million items.
            ids = np.concatenate([row_ids(x[rest[i:i + 65536]]) for i in range(0, len(rest), 65536)]
                                 or [np.zeros(0, np.uint64)])
            cache.store_layout(key, pkey, ids, np.hstack([near.astype(np.float32), sims]))
    top, top_sims = near[:, :PLACE_K], sims[:, :PLACE_K]  # row numbers below 2^24 are exact in float32
    # Sharpened softmax of similarity, as layout.place_by_neighbours: the nearest dominates, ties share.
    w = np.exp(20.0 * (top_sims - top_sims[:, :1]))
    w /= w.sum(axis=1, keepdims=True)

    def spread(values: np.ndarray) -> np.ndarray:
        """All rows of ``values`` (given for the sample): the sample's own, the rest weighted from neighbours."""
        out = np.empty((n, *values.shape[1:]), np.float32)
        out[sample] = values
        out[rest] = np.einsum("nk,nk...->n...", w, values[top]) if len(rest) else out[rest]
        return out

    labels = np.full(n, -1, np.int64)
    labels[sample] = part.labels
    labels[rest] = part.labels[top[:, 0]]
    sublabels = None
    if part.sublabels is not None:
        sublabels = np.full(n, -1, np.int64)
        sublabels[sample] = part.sublabels
        sublabels[rest] = part.sublabels[top[:, 0]]
    neighbours = None
    if part.neighbours is not None:
        neighbours = np.empty((n, width), np.int64)
        neighbours[sample] = sample[part.neighbours]
        neighbours[rest, 0] = rest
        neighbours[rest, 1:] = sample[near[:, :width - 1]]
    clusters = _recount(describe_clusters(x, labels, normalised=True), part.clusters)
    subclusters = (_recount(describe_clusters(x, sublabels, normalised=True), part.subclusters)
                   if sublabels is not None else [])
    params = {**part.params, "sampled": {"sample": int(len(sample)), "of": int(n), "pca_dims": PCA_DIMS,
                                         "k": PLACE_K, "placing": how}}
    stats = dict(part.stats)
    stats.setdefault("timings", {})["placing"] = round(time.perf_counter() - started, 3)
    yield ProgressEvent("layout", 2, 2, f"placed {len(rest):,} items")
    return dataclasses.replace(
        part, coords=spread(part.coords), cluster_space=spread(part.cluster_space), labels=labels,
        outlier_scores=spread(part.outlier_scores), membership=spread(part.membership),
        isolation=spread(part.isolation), clusters=clusters, subclusters=subclusters, sublabels=sublabels,
        neighbours=neighbours, params=params, stats=stats, _space=None)


def _place(x: np.ndarray, sample: np.ndarray, rest: np.ndarray, k: int, cancel: CancelToken,
           ) -> Generator[ProgressEvent, None, tuple[np.ndarray, np.ndarray]]:
    """Each ``rest`` row's ``k`` nearest ``sample`` rows (positions in ``sample``) and their similarities, in the
    sample's PCA."""
    mean, basis = pca_basis(x[sample])
    reduced_sample = (x[sample] - mean) @ basis
    near = np.empty((len(rest), k), np.int64)
    sims = np.empty(near.shape, np.float32)
    for start in range(0, len(rest), 8 * TILE):  # the reduced queries are made a slice at a time (memory)
        chunk = rest[start:start + 8 * TILE]
        near[start:start + len(chunk)], sims[start:start + len(chunk)] = nearest_rows(
            reduced_sample, (x[chunk] - mean) @ basis, k, cancel)
        yield ProgressEvent("layout", 1, 2, f"placed {min(start + 8 * TILE, len(rest)):,} of {len(rest):,}")
    return near, sims


def _digest(x: np.ndarray) -> np.ndarray:
    """A digest of every vector, in order (what the placing is stored under): one SHA-256 pass over the rows, three
    times faster than a digest per row (``analysis.row_ids``: 3.5 s for a million here)."""
    digest = hashlib.sha256(f"{x.shape}".encode())
    rows = max(1, (64 << 20) // max(1, x.strides[0]))
    for start in range(0, len(x), rows):  # a slice at a time: no 2 GB copy of the data
        digest.update(np.ascontiguousarray(x[start:start + rows], np.float32).tobytes())
    return np.frombuffer(digest.digest(), np.uint64)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` as unit float32 rows — the array itself when it is already (CLIP vectors from the cache are):
    a million rows are 2 GB, and a copy is what would break the memory budget."""
    v = np.asarray(vectors, np.float32)
    squares = np.einsum("ij,ij->i", v, v)  # row by row: no temporary the size of the data
    if len(v) and np.all(np.abs(squares - 1) < 2e-3):
        return v
    return normalise(v)


def _recount(counted: list[Any], named: list[Any]) -> list[Any]:
    """Groups counted over the whole library (``counted``) with the names and parents the sample gave them."""
    by_id = {c.id: c for c in named}
    out = []
    for c in counted:
        source = by_id.get(c.id)
        if source is not None:
            c.name, c.named_by, c.parent = source.name, source.named_by, source.parent
        out.append(c)
    order = {c.id: i for i, c in enumerate(named)}
    return sorted(out, key=lambda c: order.get(c.id, len(order)))
