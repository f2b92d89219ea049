"""The right groups without being told how many, and groups within groups, with the tiny real CLIP.

A library shaped like a real one: kinds of 3 to 60 pictures, a few blurred twins, and one-off pictures of
kinds seen nowhere else. The kinds are colour-and-shape classes the tiny model keeps apart (no two class
centres closer than 0.52 cosine, measured; within a class pictures are ~0.95 alike; blue circles are left
out because a few of them look like blue squares to it, and red circles are no one-offs because a few look
like red squares), so the groups are determined by the data and the assertions are exact; checked on nine
differently generated libraries.
"""

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL
from PIL import Image, ImageFilter
from shapes import draw_shape
from sklearn.metrics import adjusted_rand_score

from desktop_app.core.analysis.analyze import recluster
from desktop_app.core.analysis.edits import GroupEdits, apply_edits
from desktop_app.core.analysis.model import AnalysisSettings
from desktop_app.core.documents.document import load_results
from desktop_app.core.embedding.pipeline import EmbedSettings, drive, run_analysis

KINDS = [("red", "square"), ("green", "circle"), ("green", "square"), ("green", "triangle"), ("blue", "square"),
         ("yellow", "triangle"), ("purple", "circle"), ("purple", "triangle"),
         ("orange", "circle"), ("orange", "square"), ("orange", "triangle")]
SIZES = [int(s) for s in np.round(np.geomspace(3, 60, len(KINDS)))]  # 3, 4, 5, 8, ... 60
ONE_OFFS = [("yellow", "circle"), ("yellow", "square"), ("blue", "triangle")]


@pytest.fixture(scope="module")
def uneven(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("uneven")
    rng = random.Random(16)
    truth: dict[str, str] = {}
    for (colour, shape), size in zip(KINDS, SIZES):
        for i in range(size):
            path = root / f"{colour}-{shape}" / f"{i:02d}.png"
            path.parent.mkdir(exist_ok=True)
            draw_shape(colour, shape, "large", 64, rng).save(path)
            truth[str(path)] = f"{colour} {shape}"
    for colour, shape in KINDS[-3:]:  # a blurred twin in three of the bigger kinds
        original = root / f"{colour}-{shape}" / "00.png"
        twin = original.with_name("00-blurred.png")
        Image.open(original).filter(ImageFilter.GaussianBlur(1.2)).save(twin)
        truth[str(twin)] = f"{colour} {shape}"
    for colour, shape in ONE_OFFS:
        path = root / "misc" / f"{colour}-{shape}.png"
        path.parent.mkdir(exist_ok=True)
        draw_shape(colour, shape, "large", 64, rng).save(path)
        truth[str(path)] = "one-off"
    settings = EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path_factory.mktemp("cache"))
    result = drive(run_analysis([root], settings, AnalysisSettings()))
    return result, truth


def test_defaults_find_small_series_and_big_shoots_alike(uneven) -> None:
    result, truth = uneven
    analysis = result.analysis
    kinds = [truth[it.path] for it in result.items]
    real = np.array([k != "one-off" for k in kinds])
    # Every kind is one group of its own, the 3-picture series as much as the 60-picture shoot...
    groups: dict[int, Counter] = {}
    for kind, label in zip(kinds, analysis.labels):
        if kind != "one-off":
            groups.setdefault(int(label), Counter())[kind] += 1
    assert -1 not in groups, "a picture of a kind was left ungrouped"
    assert all(len(c) == 1 for c in groups.values()), f"a group mixes kinds: {groups}"
    assert sorted(c.most_common(1)[0][0] for c in groups.values()) == sorted(f"{c} {s}" for c, s in KINDS)
    assert adjusted_rand_score(np.array(kinds)[real], analysis.labels[real]) == 1.0
    # ... and the pictures of kinds seen nowhere else stay out of the groups or are flagged for review.
    lone = ~real
    assert (analysis.outliers[lone] | (analysis.labels[lone] == -1)).all()
    # A short series is a group, not three outliers (its pictures' 5th neighbours lie outside it; the 2nd don't).
    smallest = f"{KINDS[SIZES.index(3)][0]} {KINDS[SIZES.index(3)][1]}"
    assert not analysis.outliers[np.array([k == smallest for k in kinds])].any()
    assert analysis.params["chosen"]["min_samples"] >= 1  # chosen from the data, and recorded
    # Unrelated kinds never become one family (a kind that splintered may come back as one, with sub-groups).
    for sub in analysis.subclusters:
        assert len({kinds[i] for i in analysis.members(sub.parent)}) == 1


def test_kmeans_auto_counts_the_groups_as_hdbscan_does(uneven) -> None:
    result, truth = uneven
    analysis = result.analysis
    again = recluster(analysis, result.vectors, *_kinds_texts(result), "kmeans")
    # Every group HDBSCAN tells apart, the pieces of a family included (K-Means has no families): at least one
    # per kind, where the best silhouette over k = 2..30 used to undershoot by a third.
    leaves = len(analysis.clusters) - len({c.parent for c in analysis.subclusters}) + len(analysis.subclusters)
    assert again.params["chosen"]["k"] == len(again.clusters) == leaves >= len(KINDS)


def _kinds_texts(result) -> tuple[list[str], list[str | None]]:
    return [i.kind for i in result.items], [None if i.kind != "text" else (i.snippet or "") for i in result.items]


def _shoot(colour: str, shape: str, seed: int, count: int, root: Path, rng: np.random.Generator) -> list[Path]:
    """``count`` frames of one scene: the same picture with fresh sensor noise each time."""
    base = np.asarray(draw_shape(colour, shape, "large", 64, random.Random(seed)), np.int16)
    paths = []
    for i in range(count):
        frame = np.clip(base + rng.integers(-12, 13, base.shape), 0, 255).astype(np.uint8)
        paths.append(root / f"{colour}-{shape}-scene{seed}-{i:02d}.png")
        Image.fromarray(frame).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory):
    """Two scenes of red circles (12 frames each: far closer to each other than to anything else) and four
    other kinds."""
    root = tmp_path_factory.mktemp("family")
    noise = np.random.default_rng(0)
    scenes = {str(p): "scene 1" for p in _shoot("red", "circle", 1, 12, root, noise)}
    scenes |= {str(p): "scene 2" for p in _shoot("red", "circle", 2, 12, root, noise)}
    rng = random.Random(4)
    for colour, shape, count in (("blue", "square", 15), ("green", "triangle", 10), ("yellow", "triangle", 8),
                                 ("orange", "triangle", 5)):
        for i in range(count):
            draw_shape(colour, shape, "large", 64, rng).save(root / f"{colour}-{shape}-{i:02d}.png")
    cache = tmp_path_factory.mktemp("cache")
    result = drive(run_analysis([root], EmbedSettings(model=TINY_MODEL, cache_dir=cache), AnalysisSettings()))
    return result, scenes, cache


def test_a_group_of_two_scenes_opens_into_those_two(family) -> None:
    result, scenes, _ = family
    analysis = result.analysis
    rows = {it.path: i for i, it in enumerate(result.items)}
    red = {int(analysis.labels[rows[p]]) for p in scenes}
    assert len(red) == 1 and -1 not in red, "the two scenes should be one group"
    group = red.pop()
    assert analysis.cluster(group).size == 24
    children = analysis.children(group)
    assert len(children) == 2
    opened = {c.id: {scenes[result.items[i].path] for i in analysis.members(c.id)} for c in children}
    assert sorted(map(sorted, opened.values())) == [["scene 1"], ["scene 2"]]
    assert all(analysis.cluster(c.id).size == 12 for c in children)
    # Every other kind stays a group of its own (one that splintered may come back as a family of its parts).
    assert len(analysis.clusters) == 5
    for sub in analysis.subclusters:
        if sub.parent != group:
            assert not {result.items[i].path for i in analysis.members(sub.parent)} & set(scenes)


def _family_of(result, scenes: dict[str, str]) -> int:
    rows = [i for i, it in enumerate(result.items) if it.path in scenes]
    return int(result.analysis.labels[rows[0]])


def test_the_tree_survives_save_and_reopen(family, tmp_path) -> None:
    result, scenes, _ = family
    out = tmp_path / "results.json"
    result.save(out)
    doc = json.loads(out.read_text())
    parents = {c["id"]: c["parent"] for c in doc["clusters"]}
    group = _family_of(result, scenes)
    assert [c["id"] for c in doc["clusters"] if c["parent"] == group] == \
        [c.id for c in result.analysis.children(group)]
    assert all(it["subcluster"] == -1 or parents[it["subcluster"]] == it["cluster"] for it in doc["items"])
    loaded = load_results(out).analysis
    assert [(c.id, c.name, c.size, c.parent) for c in loaded.subclusters] == \
        [(c.id, c.name, c.size, c.parent) for c in result.analysis.subclusters]
    assert np.array_equal(loaded.sublabels, result.analysis.sublabels)
    assert [c.id for c in loaded.clusters] == [c.id for c in result.analysis.clusters]


def test_reclustering_keeps_the_users_names_for_groups_and_sub_groups(family) -> None:
    result, scenes, _ = family
    analysis, paths = result.analysis, [it.path for it in result.items]
    group = _family_of(result, scenes)
    first, second = analysis.children(group)
    edits = GroupEdits()
    edits.rename(analysis, paths, group, "Red circles")
    edits.rename(analysis, paths, first.id, "Morning")
    first_members = set(analysis.members(first.id).tolist())
    again = apply_edits(recluster(analysis, result.vectors, *_kinds_texts(result), "hdbscan"), result.vectors, paths,
                        edits)
    renamed = {c.name: c for c in [*again.clusters, *again.subclusters]}
    assert renamed["Red circles"].parent is None and renamed["Morning"].parent == renamed["Red circles"].id
    assert set(again.members(renamed["Morning"].id).tolist()) == first_members
    assert renamed["Morning"].named_by == "user"
    # Moving a picture out of the family takes it out of its sub-group too, and the tree stays consistent.
    moved = int(analysis.members(second.id)[0])
    edits.move(paths, [moved], again.clusters[-1].name)
    after = apply_edits(again, result.vectors, paths, edits)
    assert after.sublabels is not None and after.sublabels[moved] == -1
    assert all(after.labels[after.sublabels == c.id].tolist() == [c.parent] * c.size for c in after.subclusters)


def test_renaming_a_sub_group_named_like_its_group_leaves_the_group_alone(family) -> None:
    """Moves and hidden groups are kept by group name; a sub-group may share its group's name, and renaming
    the sub-group must not take the pictures moved into the group along."""
    result, scenes, _ = family
    analysis, paths = result.analysis, [it.path for it in result.items]
    group = _family_of(result, scenes)
    first = analysis.children(group)[0]
    other = next(c for c in analysis.clusters if c.id != group)
    moved = int(analysis.members(other.id)[0])
    edits = GroupEdits()
    edits.rename(analysis, paths, group, "Red circles")
    edits.move(paths, [moved], "Red circles")
    edits.rename(analysis, paths, first.id, "Red circles")  # the sub-group now shares its group's name
    named = apply_edits(analysis, result.vectors, paths, edits)
    edits.rename(named, paths, first.id, "Morning")
    after = apply_edits(analysis, result.vectors, paths, edits)
    by_name = {c.name: c for c in [*after.clusters, *after.subclusters]}
    assert by_name["Morning"].parent == by_name["Red circles"].id
    assert after.labels[moved] == by_name["Red circles"].id  # still in the group it was moved to
    assert "Morning" not in {c.name for c in after.clusters}

