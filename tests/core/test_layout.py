"""Reducers: deterministic maps, small and degenerate inputs, exact neighbours, stable placement."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from desktop_app.core.analysis.layout import (
    REDUCERS,
    isolation_scores,
    make_reducer,
    nearest_neighbours,
    pca_space,
    place_by_neighbours,
)
from desktop_app.core.errors import BadArgument


def blobs(n: int = 150, seed: int = 0) -> np.ndarray:
    x, _ = make_blobs(n_samples=n, n_features=64, centers=3, cluster_std=2.0, random_state=seed)
    return pca_space(x)


@pytest.mark.parametrize("name", sorted(REDUCERS))
def test_same_seed_same_map(name: str) -> None:
    x = blobs(60)
    a = make_reducer(name, seed=3).fit_transform(x)
    b = make_reducer(name, seed=3).fit_transform(x)
    assert a.shape == (60, 2) and np.array_equal(a, b)


def test_umap_map_separates_the_groups() -> None:
    x, y = make_blobs(n_samples=150, n_features=64, centers=3, cluster_std=1.0, random_state=1)
    coords = make_reducer("umap").fit_transform(pca_space(x))
    centres = np.stack([coords[y == g].mean(axis=0) for g in range(3)])
    spread = max(np.linalg.norm(coords[y == g] - centres[g], axis=1).mean() for g in range(3))
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > 3 * spread


@pytest.mark.parametrize("name", sorted(REDUCERS))
@pytest.mark.parametrize("n", [0, 1, 2, 5, 30])
def test_small_inputs_give_distinct_finite_points(name: str, n: int) -> None:
    x = pca_space(np.random.default_rng(0).normal(size=(n, 32)))
    coords = make_reducer(name).fit_transform(x)
    assert coords.shape == (n, 2) and np.isfinite(coords).all()
    assert len({tuple(c) for c in coords.round(6)}) == n  # nobody hides behind someone else


@pytest.mark.parametrize("name", sorted(REDUCERS))
def test_identical_items_are_spread_so_each_stays_visible(name: str) -> None:
    x = pca_space(np.ones((40, 16)))
    coords = make_reducer(name).fit_transform(x)
    assert np.isfinite(coords).all() and len({tuple(c) for c in coords.round(6)}) == 40


def test_unknown_reducer_or_setting_is_a_bad_argument() -> None:
    with pytest.raises(BadArgument, match="unknown reducer 'isomap'"):
        make_reducer("isomap")
    with pytest.raises(BadArgument, match="n_neighbors"):
        make_reducer("umap", perplexity=5)


def test_neighbours_are_exact_and_self_comes_first_even_for_duplicates() -> None:
    from sklearn.neighbors import NearestNeighbors

    x = np.random.default_rng(1).normal(size=(300, 8)).astype(np.float32)
    x[10] = x[11] = x[12]  # three identical rows
    ours = nearest_neighbours(x, 6)
    dist, _ = NearestNeighbors(n_neighbors=6).fit(x).kneighbors(x)
    assert np.allclose(ours.distances, dist, atol=1e-4)
    assert (ours.indices[:, 0] == np.arange(300)).all()


def test_a_new_item_lands_next_to_its_twin() -> None:
    known = np.random.default_rng(2).normal(size=(50, 16))
    coords = np.random.default_rng(3).normal(size=(50, 2)).astype(np.float32)
    placed = place_by_neighbours(known, coords, known[[7, 21]] * 1.0001)
    assert np.allclose(placed, coords[[7, 21]], atol=1e-3)


def test_transform_places_new_rows_without_moving_fitted_ones() -> None:
    x = blobs(80)
    reducer = make_reducer("tsne")
    fitted = reducer.fit_transform(x[:70]).copy()
    placed = reducer.transform(x[70:])
    assert placed.shape == (10, 2) and np.array_equal(reducer._fit_y, fitted)


def test_a_lone_item_is_isolated() -> None:
    x = np.random.default_rng(4).normal(scale=0.05, size=(100, 16)) + 1
    x = np.vstack([x, -np.ones((1, 16))])
    scores = isolation_scores(nearest_neighbours(pca_space(x), 6))
    assert scores[-1] >= 0.75 and np.quantile(scores[:-1], 0.95) < 0.5
