"""Duplicate and burst sets never chain: every member is alike to its set's best frame, bursts are one camera's
consecutive shots, and a picture is in one set at most. Vectors and ``PhotoMeta`` are made directly (no model);
the few frames that get measured are tiny JPEGs in tmp_path (``find_sets`` reads them for the best-frame pick)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from desktop_app.core.metadata.photo_meta import PhotoMeta
from desktop_app.core.progress import drive
from desktop_app.core.review.duplicates import CullSettings, find_sets, star_sets

DIM = 64


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _chain(n: int, step_degrees: float = 15.0) -> np.ndarray:
    """Unit vectors walking from axis to axis in quarter circles of ``step_degrees`` steps: neighbours are
    cos(15°) = 0.966 alike, frames two steps apart at most 0.933, and the ends unrelated (orthogonal)."""
    per_arc = round(90 / step_degrees)
    x = np.zeros((n, DIM), np.float32)
    for k in range(n):
        arc, step = divmod(k, per_arc)
        angle = np.radians(step * step_degrees)
        x[k, arc], x[k, arc + 1] = np.cos(angle), np.sin(angle)
    return x


def _files(folder: Path, n: int, sharp: set[int] = frozenset()) -> list[str]:
    """Tiny JPEGs; the ``sharp`` ones have edges (a higher sharpness score), the others are flat grey."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        pixels = np.full((48, 48, 3), 128, np.uint8)
        if k in sharp:
            pixels[::4] = 20
        path = folder / f"f{k:05d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(str(path))
    return paths


def _check_star(sets, vectors: np.ndarray, threshold: float) -> None:
    seen: set[int] = set()
    for s in sets:
        assert s.best in s.members and len(s.members) >= 2
        assert (vectors[s.members] @ vectors[s.best] >= threshold - 1e-6).all()
        assert seen.isdisjoint(s.members)  # one set per picture
        seen.update(s.members)


def test_a_chain_of_alike_vectors_does_not_join_its_unrelated_ends(tmp_path: Path) -> None:
    x = _chain(26)  # a~b~…~z: neighbours 0.966 alike, a and z orthogonal
    assert abs(x[0] @ x[-1]) < 1e-6 and (np.einsum('ij,ij->i', x[:-1], x[1:]) > 0.96).all()
    paths = _files(tmp_path, 26, sharp={10})
    sets = drive(find_sets(x, ["image"] * 26, paths, [PhotoMeta()] * 26, CullSettings(threshold=0.94)))
    assert sets and max(len(s.members) for s in sets) == 3  # a star: a frame and its two neighbours
    assert not any(0 in s.members and 25 in s.members for s in sets)
    _check_star(sets, x, 0.94)
    assert any(s.best == 10 and s.members == [9, 10, 11] for s in sets)  # the sharp frame leads


def test_star_sets_follow_the_leaders_order() -> None:
    i, j = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 4])  # a path 0-1-2-3-4
    assert star_sets(5, i, j, [2, 0, 1, 3, 4]) == [[2, 1, 3]]  # 0 and 4: their partners are taken
    assert star_sets(5, i, j, [0, 1, 2, 3, 4]) == [[0, 1], [2, 3]]
    assert star_sets(5, i[:0], j[:0], [0, 1]) == []


def test_bursts_never_mix_cameras_shooting_at_the_same_seconds(tmp_path: Path) -> None:
    # Two cameras at one event, shooting the same subject every 0.5 s: every picture is alike to every other.
    rng = np.random.default_rng(3)
    base = rng.normal(size=DIM)
    x = _unit(base + rng.normal(scale=0.05, size=(12, DIM)))
    assert (x @ x.T).min() > 0.9
    metas = [PhotoMeta(taken=1000.0 + 0.5 * (k // 2), camera="Canon EOS R5 #1" if k % 2 else "Nikon Z8 #2")
             for k in range(12)]
    paths = _files(tmp_path, 12)
    # A threshold above every similarity leaves only bursts.
    sets = drive(find_sets(x, ["image"] * 12, paths, metas, CullSettings(threshold=0.9999)))
    assert sorted(sorted(s.members) for s in sets) == [[0, 2, 4, 6, 8, 10], [1, 3, 5, 7, 9, 11]]
    assert all(s.kind == "burst" for s in sets)
    # Near-duplicate links across the cameras do not join the bursts either: each picture stays in one set.
    sets = drive(find_sets(x, ["image"] * 12, paths, metas, CullSettings(threshold=0.5)))
    assert [s.kind for s in sets] == ["burst", "burst"]
    for s in sets:
        assert len({metas[m].camera for m in s.members}) == 1
    _check_star(sets, x, 0.80)
    # No camera known: no burst, whatever the times say.
    unknown = [PhotoMeta(taken=m.taken) for m in metas]
    assert drive(find_sets(x, ["image"] * 12, paths, unknown, CullSettings(threshold=0.9999))) == []


def test_a_long_run_of_one_camera_is_cut_into_bursts_alike_to_their_best_frame(tmp_path: Path) -> None:
    x = _chain(30)  # a pan: each shot like the one before, the first unlike the last
    metas = [PhotoMeta(taken=100.0 + k, camera="Fuji X-T5") for k in range(30)]
    paths = _files(tmp_path, 30)
    sets = drive(find_sets(x, ["image"] * 30, paths, metas, CullSettings(threshold=0.9999, burst_similarity=0.8)))
    assert len(sets) > 1 and all(s.kind == "burst" for s in sets)
    _check_star(sets, x, 0.8)
    for s in sets:  # consecutive shots
        assert s.members == list(range(s.members[0], s.members[-1] + 1))


def test_planted_duplicates_in_a_large_library_are_found_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 3000
    x = _unit(rng.normal(size=(n, DIM)))  # random 64-d vectors: never 0.94 alike by chance
    planted = [list(range(100 + 300 * c, 100 + 300 * c + size)) for c, size in enumerate([2, 3, 4, 5, 6, 3, 2])]
    for members in planted:
        x[members] = _unit(x[members[0]] + rng.normal(scale=0.01, size=(len(members), DIM)))
    # Plant a chain too: 8 frames, neighbours 0.966 alike, ends unrelated.
    chain = list(range(2900, 2908))
    x[chain] = _chain(8) @ np.linalg.qr(rng.normal(size=(DIM, DIM)))[0].astype(np.float32)
    paths = [str(tmp_path / f"never-read-{k}.jpg") for k in range(n)]  # unlinked pictures are not measured
    linked = [m for members in [*planted, chain] for m in members]
    for m, path in zip(linked, _files(tmp_path, len(linked))):
        paths[m] = path
    sets = drive(find_sets(x, ["image"] * n, paths, [PhotoMeta()] * n, CullSettings(threshold=0.94)))
    found = [s.members for s in sets]
    assert [m for m in found if m[0] < 2900] == planted
    assert max(len(m) for m in found) == 6
    assert all(len(m) <= 3 for m in found if m[0] >= 2900)  # the chain: stars of at most 3
    _check_star(sets, x, 0.94)
