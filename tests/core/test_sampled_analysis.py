"""Big libraries: a sample analysed in full, every other item placed by its nearest sampled items."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.core.analysis import sampled
from desktop_app.core.analysis.analyze import analyze
from desktop_app.core.analysis.model import AnalysisSettings
from desktop_app.core.progress import drive


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """1,200 unit vectors in 4 well separated kinds (cosine ~0.9 within, ~0 between)."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((4, 64)).astype(np.float32)
    truth = np.repeat(np.arange(4), 300)
    x = centres[truth] + 0.12 * rng.standard_normal((1200, 64)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), truth


def test_a_big_library_is_analysed_on_a_sample_and_everything_is_placed(blobs, monkeypatch) -> None:
    monkeypatch.setattr(sampled, "SAMPLE_ABOVE", 500)
    monkeypatch.setattr(sampled, "SAMPLE_SIZE", 400)
    x, truth = blobs
    a = drive(analyze(x, ["image"] * len(x), [None] * len(x), AnalysisSettings(reducer="pca")))
    assert a.params["sampled"]["sample"] == 400 and a.params["sampled"]["of"] == 1200
    assert a.coords.shape == (1200, 2) and a.labels.shape == (1200,) and a.neighbours.shape[0] == 1200
    assert np.all(np.isfinite(a.coords)) and np.all(np.isfinite(a.outlier_scores))
    # Every kind is one group, placed and labelled with its sampled members (by construction: each item's
    # nearest sampled item is of its own kind, 0.9 alike against ~0).
    groups = {int(a.labels[truth == k][0]) for k in range(4)}
    assert len(groups) == 4 and -1 not in groups
    for k in range(4):
        assert set(a.labels[truth == k].tolist()) == {int(a.labels[truth == k][0])}
        members = a.coords[truth == k]
        others = a.coords[truth != k]
        own = np.linalg.norm(members - np.median(members, axis=0), axis=1).max()
        nearest_other = np.linalg.norm(others - np.median(members, axis=0), axis=1).min()
        assert own < nearest_other  # a placed item lands inside its kind's part of the map
    # Sizes are counted over the whole library; names come from the sample.
    assert sorted(c.size for c in a.clusters) == [300, 300, 300, 300]
    # The neighbours of a placed item are itself, then sampled items of its own kind.
    placed = np.setdiff1d(np.arange(1200), sampled.sample_rows(1200, ["image"] * 1200, 400, 0))
    row = int(placed[0])
    assert a.neighbours[row, 0] == row and set(truth[a.neighbours[row, 1:]]) == {truth[row]}


def test_nearest_rows_are_exact() -> None:
    rng = np.random.default_rng(0)
    known, queries = rng.standard_normal((500, 8)), rng.standard_normal((3000, 8))
    rows, sims = sampled.nearest_rows(known, queries, 3)
    expected = np.argsort(-(queries @ known.T), axis=1)[:, :3]
    assert np.array_equal(rows, expected)
    assert np.allclose(sims, np.take_along_axis(queries @ known.T, expected, axis=1), atol=1e-4)


def test_reopening_an_unchanged_big_library_places_nothing_again(blobs, monkeypatch, tmp_path) -> None:
    from desktop_app.core.embedding.cache import EmbeddingCache

    monkeypatch.setattr(sampled, "SAMPLE_ABOVE", 500)
    monkeypatch.setattr(sampled, "SAMPLE_SIZE", 400)
    x, _ = blobs
    kinds, texts = ["image"] * len(x), [None] * len(x)
    with EmbeddingCache(tmp_path) as cache:
        first = drive(analyze(x, kinds, texts, AnalysisSettings(reducer="pca"), cache=cache, model_key="m"))
        again = drive(analyze(x, kinds, texts, AnalysisSettings(reducer="pca"), cache=cache, model_key="m"))
    assert first.params["sampled"]["placing"] == "computed" and again.params["sampled"]["placing"] == "stored"
    assert np.array_equal(first.labels, again.labels) and np.allclose(first.coords, again.coords)
    assert np.array_equal(first.neighbours, again.neighbours)
