"""Clustering through ``analyze`` / ``recluster`` on generated blobs (no model): accuracy, noise, edge cases."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from desktop_app.core.analysis import analyze as analysis_module
from desktop_app.core.analysis.analyze import analyze, recluster
from desktop_app.core.analysis.cluster import CLUSTERERS, make_clusterer
from desktop_app.core.analysis.model import AnalysisSettings
from desktop_app.core.errors import BadArgument
from desktop_app.core.progress import drive

N_NOISE = 15


@pytest.fixture(scope="module")
def planted() -> tuple[np.ndarray, np.ndarray]:
    """8 groups of 512-d points plus uniformly scattered noise rows at the end (label -1)."""
    x, y = make_blobs(n_samples=800, n_features=512, centers=8, cluster_std=5.0, center_box=(-10, 10),
                      random_state=1)
    noise = np.random.default_rng(0).uniform(-15, 15, size=(N_NOISE, 512))
    return np.vstack([x, noise]), np.concatenate([y, -np.ones(N_NOISE, int)])


@pytest.fixture(scope="module")
def analysed(planted):
    x, _ = planted
    return drive(analyze(x, ["image"] * len(x), [None] * len(x)))


def run(x: np.ndarray, **settings) -> analysis_module.Analysis:
    return drive(analyze(x, ["image"] * len(x), [None] * len(x), AnalysisSettings(**settings)))


def test_hdbscan_defaults_recover_the_groups_and_flag_planted_noise(planted, analysed) -> None:
    x, y = planted
    real = y >= 0
    assert adjusted_rand_score(y[real], analysed.labels[real]) >= 0.95
    lone = ~real
    assert ((analysed.labels[lone] == -1) | analysed.outliers[lone]).all()
    assert analysed.outliers[real].mean() < 0.02  # real members are rarely flagged


def test_kmeans_auto_recovers_the_groups_without_recomputing_the_map(planted, analysed, monkeypatch) -> None:
    x, y = planted
    monkeypatch.setattr(analysis_module, "make_reducer", lambda *a, **k: pytest.fail("re-clustering refitted a map"))
    again = recluster(analysed, x, ["image"] * len(x), [None] * len(x), "kmeans")
    real = y >= 0
    assert adjusted_rand_score(y[real], again.labels[real]) >= 0.95
    assert len(again.clusters) == 8 and again.coords is analysed.coords
    assert again.outliers[~real].all()


@pytest.mark.parametrize("name, params", [("kmeans", {"k": 5}), ("agglomerative", {"k": 5}),
                                          ("agglomerative", {"linkage": "average", "k": 8})])
def test_fixed_k_gives_k_groups(planted, analysed, name, params) -> None:
    x, _ = planted
    result = recluster(analysed, x, ["image"] * len(x), [None] * len(x), name, params)
    assert len(result.clusters) == params["k"] and (result.labels >= 0).all()
    assert sum(c.size for c in result.clusters) == len(x)
    assert [c.size for c in result.clusters] == sorted((c.size for c in result.clusters), reverse=True)


def test_dbscan_eps_is_a_cosine_distance(planted, analysed) -> None:
    x, y = planted
    tight = recluster(analysed, x, ["image"] * len(x), [None] * len(x), "dbscan", {"eps": 0.001})
    assert (tight.labels == -1).all()  # nothing is that close
    loose = recluster(analysed, x, ["image"] * len(x), [None] * len(x), "dbscan", {"eps": 0.5})
    real = y >= 0
    assert adjusted_rand_score(y[real], loose.labels[real]) >= 0.9


def test_assign_noise_leaves_nobody_ungrouped(planted, analysed) -> None:
    x, _ = planted
    strict = {"selection": "leaf"}  # leaf selection leaves many items ungrouped here
    plain = recluster(analysed, x, ["image"] * len(x), [None] * len(x), "hdbscan", strict)
    assert (plain.labels == -1).any()
    result = recluster(analysed, x, ["image"] * len(x), [None] * len(x), "hdbscan", strict, assign_noise=True)
    assert (result.labels >= 0).all() and len(result.clusters) == len(plain.clusters)


def test_k_larger_than_the_library_is_clamped_with_a_warning() -> None:
    x = np.random.default_rng(0).normal(size=(6, 32))
    result = run(x, clusterer="kmeans", cluster_params={"k": 50})
    assert len(result.clusters) == 6 and any("only 6" in w for w in result.warnings)


@pytest.mark.parametrize("n", [0, 1, 2, 5])
@pytest.mark.parametrize("clusterer", sorted(CLUSTERERS))
def test_tiny_libraries_never_fail(n: int, clusterer: str) -> None:
    x = np.random.default_rng(n).normal(size=(n, 32))
    result = run(x, clusterer=clusterer)
    assert result.coords.shape == (n, 2) and result.labels.shape == (n,)
    for arr in (result.coords, result.cluster_space, result.outlier_scores, result.membership):
        assert np.isfinite(arr).all()
    if 0 < n <= 2:
        assert (result.labels == 0).all()  # one or two photos are one group


@pytest.mark.parametrize("n", [0, 2, 40])
def test_a_cached_library_analysed_twice_reads_its_stored_spaces_back(n: int, tmp_path) -> None:
    from desktop_app.core.embedding.cache import EmbeddingCache

    x = np.random.default_rng(n).normal(size=(n, 32))
    with EmbeddingCache(tmp_path) as cache:
        first = drive(analyze(x, ["image"] * n, [None] * n, cache=cache))
        again = drive(analyze(x, ["image"] * n, [None] * n, cache=cache))  # an empty library used to fail here
    assert np.array_equal(first.labels, again.labels)
    if n > 2:
        assert again.stats["layout"] == "stored" and np.array_equal(first.neighbours, again.neighbours)


def test_identical_items_form_one_group_without_nan() -> None:
    result = run(np.tile(np.arange(32, dtype=float), (30, 1)))
    assert (result.labels == 0).all() and len(result.clusters) == 1
    assert np.isfinite(result.coords).all() and np.isfinite(result.outlier_scores).all()
    assert result.clusters[0].cohesion == pytest.approx(1.0, abs=1e-4)


def test_cluster_facts(planted, analysed) -> None:
    x, y = planted
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    for c in analysed.clusters:
        members = analysed.labels == c.id
        assert c.size == members.sum() and len(c.representatives) == 5
        assert all(analysed.labels[r] == c.id for r in c.representatives)
        sims = xn[members] @ c.centroid
        assert sims.max() == pytest.approx(float(xn[c.representatives[0]] @ c.centroid), abs=1e-5)
        assert c.cohesion == pytest.approx(sims.mean(), abs=1e-3)
    assert len({c.name for c in analysed.clusters}) == len(analysed.clusters)  # no model: "Group N", distinct


def test_unknown_clusterer_or_setting_is_a_bad_argument() -> None:
    with pytest.raises(BadArgument, match="unknown clusterer"):
        make_clusterer("spectral")
    with pytest.raises(BadArgument, match="min_cluster_size"):
        make_clusterer("hdbscan", k=3)
    with pytest.raises(BadArgument, match="cosine distance"):
        run(np.random.default_rng(0).normal(size=(40, 16)), clusterer="dbscan", cluster_params={"eps": 5})
