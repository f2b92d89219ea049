"""Reopening an unchanged library reads the groups back from the cache instead of running HDBSCAN again (10-20 s
at 60-100k items, benchmarks/open_million.py), and gets exactly the analysis it would have computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.analysis import cluster
from desktop_app.core.analysis.analyze import analyze
from desktop_app.core.analysis.model import AnalysisSettings
from desktop_app.core.embedding.cache import EmbeddingCache
from desktop_app.core.progress import drive


@pytest.fixture
def kinds_of_vectors() -> np.ndarray:
    """300 unit vectors in 5 kinds, a few of them far from everything (outliers)."""
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((5, 32)).astype(np.float32)
    x = centres[np.repeat(np.arange(5), 60)] + 0.25 * rng.standard_normal((300, 32)).astype(np.float32)
    x[:4] = rng.standard_normal((4, 32)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _fits(monkeypatch) -> list[int]:
    """Counts every real HDBSCAN fit."""
    calls: list[int] = []
    original = cluster.HDBSCANClusterer._fit

    def counted(self, space):
        calls.append(len(space))
        return original(self, space)

    monkeypatch.setattr(cluster.HDBSCANClusterer, "_fit", counted)
    return calls


def _analyse(x: np.ndarray, cache: EmbeddingCache, **settings):
    return drive(analyze(x, ["image"] * len(x), [None] * len(x), AnalysisSettings(reducer="pca", **settings),
                         cache=cache, model_key="m"))


@pytest.mark.slow  # the first analysis of the run starts the layout helper (numba compiles UMAP)
def test_an_unchanged_library_gets_its_groups_back_without_clustering(kinds_of_vectors, monkeypatch,
                                                                      tmp_path: Path) -> None:
    fits = _fits(monkeypatch)
    with EmbeddingCache(tmp_path) as cache:
        first = _analyse(kinds_of_vectors, cache)
        assert fits == [300] and first.stats["clustering"] == "computed"
        again = _analyse(kinds_of_vectors, cache)
    assert fits == [300] and again.stats["clustering"] == "stored"
    assert np.array_equal(first.labels, again.labels) and len(first.clusters) >= 2
    for name in ("outlier_scores", "membership", "isolation"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    assert [(c.id, c.name, c.size, c.representatives) for c in first.clusters] == \
        [(c.id, c.name, c.size, c.representatives) for c in again.clusters]
    assert (first.sublabels is None) == (again.sublabels is None)
    assert first.params == again.params and first.warnings == again.warnings
    assert again._space.auto_choices == first._space.auto_choices  # re-clustering skips the choice as before


def test_other_settings_or_other_vectors_cluster_again(kinds_of_vectors, monkeypatch, tmp_path: Path) -> None:
    fits = _fits(monkeypatch)
    with EmbeddingCache(tmp_path) as cache:
        _analyse(kinds_of_vectors, cache)
        changed = _analyse(kinds_of_vectors, cache, cluster_params={"min_samples": 4})
        assert changed.stats["clustering"] == "computed" and len(fits) == 2
        fewer = _analyse(kinds_of_vectors[:250], cache)
        assert fewer.stats["clustering"] == "computed" and len(fits) == 3 and len(fewer.labels) == 250
        refitted = _analyse(kinds_of_vectors, cache, relayout=True)  # a new map: everything computed again
        assert "clustering" not in refitted.stats and len(fits) == 4


def test_a_note_lives_and_goes_with_its_layout(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path) as cache:
        cache.store_layout("k", "p", np.zeros(0, np.uint64), np.ones((3, 2), np.float32), note={"a": [1, 2]})
        assert cache.load_note("k") == {"a": [1, 2]}
        cache.store_layout("k", "p", np.zeros(0, np.uint64), np.ones((3, 2), np.float32))
        assert cache.load_note("k") is None  # a layout stored again without a note has none
        cache.store_layout("k", "p", np.zeros(0, np.uint64), np.ones((3, 2), np.float32), note={"b": 1})
        for i in range(30):  # pushed out of the kept layouts: its note goes too
            cache.store_layout(f"other{i}", "p", np.zeros(0, np.uint64), np.ones((1, 1), np.float32))
        assert cache.load_layout("k") is None and cache.load_note("k") is None
        assert cache._conn.execute("SELECT COUNT(*) FROM layout_notes").fetchone()[0] == 0


def test_a_big_library_with_one_vector_changed_is_placed_again(monkeypatch, tmp_path: Path) -> None:
    from desktop_app.core.analysis import sampled

    monkeypatch.setattr(sampled, "SAMPLE_ABOVE", 500)
    monkeypatch.setattr(sampled, "SAMPLE_SIZE", 400)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((900, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    changed = x.copy()
    placed = np.setdiff1d(np.arange(900), sampled.sample_rows(900, ["image"] * 900, 400, 0))
    changed[placed[-1]] = changed[placed[0]]  # a picture edited since: its vector moved (the sample is the same)
    with EmbeddingCache(tmp_path) as cache:
        for vectors, how in ((x, "computed"), (x, "stored"), (changed, "computed"), (changed, "stored")):
            a = drive(analyze(vectors, ["image"] * 900, [None] * 900, AnalysisSettings(reducer="pca"),
                              cache=cache, model_key="m"))
            assert a.params["sampled"]["placing"] == how
    assert a.labels[placed[-1]] == a.labels[placed[0]]


def test_groups_are_described_as_one_pass_per_group_would() -> None:
    from desktop_app.core.analysis.model import REPRESENTATIVES, describe_clusters

    rng = np.random.default_rng(2)
    x = rng.standard_normal((2000, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = rng.integers(-1, 40, 2000)
    labels[labels == 7] = -1  # a gap in the numbers
    described = describe_clusters(x, labels, normalised=True)
    assert [c.id for c in described] == sorted(set(labels.tolist()) - {-1})
    for c in described:
        members = np.nonzero(labels == c.id)[0]
        centroid = x[members].mean(axis=0)
        centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
        sims = x[members] @ centroid
        assert c.size == len(members) and np.array_equal(c.centroid, centroid.astype(np.float32))
        assert c.representatives == members[np.argsort(-sims, kind="stable")[:REPRESENTATIVES]].tolist()
        assert c.cohesion == round(float(sims.mean()), 4)
