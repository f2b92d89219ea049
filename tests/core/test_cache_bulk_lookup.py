"""A big lookup (a library of a million files reopened) reads the model's rows in one pass; it must answer exactly
as the lookup of 500 paths at a time does: changed files missed, other models' rows and unknown files absent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.embedding import cache as cache_module
from desktop_app.core.embedding.cache import EmbeddingCache


def _stored(cache: EmbeddingCache, n: int, model: str = "m", seed: int = 0) -> list[tuple[Path, int, int]]:
    rng = np.random.default_rng(seed)
    files = [(Path(f"/lib/{i // 100:03d}/IMG_{i:05d}.jpg"), 1000 + i, 10**18 + i) for i in range(n)]
    cache.store(model, [(p, size, mtime, "partial" if i % 7 == 0 else "ok", f"s{i}" if i % 5 == 0 else None,
                         rng.standard_normal(8).astype(np.float32)) for i, (p, size, mtime) in enumerate(files)])
    return files


@pytest.mark.parametrize("extra_rows", [0, 5000])  # the cache holds other pictures too: asked 500 at a time
def test_a_big_lookup_answers_as_the_small_one(tmp_path: Path, monkeypatch, extra_rows: int) -> None:
    monkeypatch.setattr(cache_module, "BULK_LOOKUP_FROM", 50)
    calls: list[int] = []
    one_pass = EmbeddingCache._use_one_pass
    monkeypatch.setattr(EmbeddingCache, "_use_one_pass",
                        lambda self, *a: (used := one_pass(self, *a)) and (calls.append(1) or used))
    with EmbeddingCache(tmp_path) as cache:
        files = _stored(cache, 1200)
        _stored(cache, 300, model="other", seed=1)  # the same paths under another model
        if extra_rows:
            cache.store("m", [(Path(f"/elsewhere/{i}.jpg"), 1, 1, "ok", None, np.ones(8, np.float32))
                              for i in range(extra_rows)])
        wanted = list(files)
        wanted[3] = (wanted[3][0], wanted[3][1] + 1, wanted[3][2])  # grew since: embedded again
        wanted[4] = (wanted[4][0], wanted[4][1], wanted[4][2] + 1)  # touched since
        wanted.append((Path("/lib/new.jpg"), 5, 5))  # never embedded
        big = cache.lookup("m", wanted)
        assert calls == ([1] if not extra_rows else [])
        monkeypatch.setattr(cache_module, "BULK_LOOKUP_FROM", 10**9)
        small = cache.lookup("m", wanted)
    assert set(big) == set(small) == {p for p, _, _ in files} - {files[3][0], files[4][0]}
    for path, hit in small.items():
        other = big[path]
        assert np.array_equal(hit.vector, other.vector) and hit.vector.dtype == np.float32
        assert (hit.status, hit.snippet) == (other.status, other.snippet)
    assert big[files[7][0]].status == "partial" and big[files[10][0]].snippet == "s10"
    assert all(type(p) is type(files[0][0]) for p in big)  # the caller's own paths come back as keys


@pytest.mark.parametrize("bulk_from", [50, 10**9])  # one pass over the model's rows, or 500 paths a query
def test_rows_in_the_order_asked_answer_as_the_lookup(tmp_path: Path, monkeypatch, bulk_from: int) -> None:
    monkeypatch.setattr(cache_module, "BULK_LOOKUP_FROM", bulk_from)
    with EmbeddingCache(tmp_path) as cache:
        files = _stored(cache, 700)
        _stored(cache, 100, model="other", seed=1)
        asked = [files[5], (Path("/lib/new.jpg"), 1, 1), (files[6][0], files[6][1] + 1, files[6][2]), *files[100:],
                 files[5]]  # one path asked twice
        asked = [(str(p) if k % 2 else p, size, mtime) for k, (p, size, mtime) in enumerate(asked)]
        rows = cache.lookup_rows("m", asked)
        hits = cache.lookup("m", [(Path(p), size, mtime) for p, size, mtime in asked])
    assert rows.vectors.shape == (len(asked), 8) and rows.vectors.dtype == np.float32
    assert rows.found.tolist() == [Path(p) in hits for p, _, _ in asked]
    assert rows.found[0] and not rows.found[1] and not rows.found[2] and rows.found[-1]
    for k, (p, _, _) in enumerate(asked):
        if rows.found[k]:
            hit = hits[Path(p)]
            assert np.array_equal(rows.vectors[k], hit.vector) and (rows.status[k], rows.snippet[k]) == \
                (hit.status, hit.snippet)
        else:
            assert not rows.vectors[k].any() and rows.status[k] is None and rows.snippet[k] is None


def test_rows_when_nothing_is_cached(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path) as cache:
        rows = cache.lookup_rows("m", [(Path("/a.jpg"), 1, 1)])
    assert rows.found.tolist() == [False] and rows.vectors.shape == (1, 0) and rows.status == [None]


def test_the_one_pass_lookup_finds_names_that_are_not_utf8(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(cache_module, "BULK_LOOKUP_FROM", 2)
    names = [Path(os.fsdecode(b"/lib/caf\xe9-%d.jpg" % i)) for i in range(3)] + [Path("/lib/caf\u00e9-0.jpg")]
    with EmbeddingCache(tmp_path) as cache:
        cache.store("m", [(p, 1, 1, "ok", None, np.full(8, i, np.float32)) for i, p in enumerate(names)])
        assert cache._use_one_pass("m", len(names))
        rows = cache.lookup_rows("m", [(p, 1, 1) for p in names])
    assert rows.found.all() and rows.vectors[:, 0].tolist() == [0, 1, 2, 3]
