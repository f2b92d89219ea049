"""The whole analysis with the tiny real CLIP on a generated folder of shapes and notes."""

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL
from shapes import COLOURS, SHAPES, draw_shape
from sklearn.metrics import adjusted_rand_score

from desktop_app.core.analysis.model import AnalysisSettings
from desktop_app.core.analysis.search import rank
from desktop_app.core.documents.document import load_results
from desktop_app.core.embedding.pipeline import EmbedResult, EmbedSettings, drive, run_analysis
from desktop_app.core.errors import BadArgument

# Six classes that differ in colour or shape from each other class, eight pictures each. The tiny model keeps
# them far apart (every picture is nearest its own class centroid, every class centroid is nearest its own
# vocabulary concept by >= 0.2 cosine), so the groups, the notes and the names below are determined by the
# data and not by the last bits of a float: the assertions are exact, no "90 % right" budget that one
# borderline item on another CPU can use up. (With all 18 colour-shape classes at five pictures, HDBSCAN
# split some classes in two, and which ones depended on the machine.)
CLASSES = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "circle"), ("purple", "triangle"),
           ("orange", "square")]
PER_GROUP = 8


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Six colour-and-shape groups of pictures (small and large shapes), and one note per group describing it."""
    root = tmp_path_factory.mktemp("shapes")
    rng = random.Random(3)
    truth: dict[str, str] = {}
    for colour, shape in CLASSES:
        for i in range(PER_GROUP):
            path = root / "pictures" / f"{colour}-{shape}-{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            draw_shape(colour, shape, rng.choice(["small", "large"]), 64, rng).save(path)
            truth[str(path)] = f"{colour} {shape}"
        note = root / "notes" / f"{colour}-{shape}.txt"
        note.parent.mkdir(exist_ok=True)
        note.write_text(f"a {colour} {shape}\n")
        truth[str(note)] = f"{colour} {shape}"
    return root, truth


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vocab") / "shapes.txt"
    # All 18 colour-shape concepts and three others, not only the six classes in the library.
    words = [f"{c} {s}" for c in COLOURS for s in SHAPES] + ["beach", "portrait", "wedding ceremony"]
    path.write_text("# the tiny model was trained on 'a <colour> <shape>'\n@template a {}\n" + "\n".join(words))
    return path


@pytest.fixture(scope="module")
def analysed(library, vocabulary, tmp_path_factory):
    root, _ = library
    cache = tmp_path_factory.mktemp("cache")
    settings = EmbedSettings(model=TINY_MODEL, cache_dir=cache)
    result = drive(run_analysis([root], settings, AnalysisSettings(vocabulary=vocabulary)))
    return result, settings


def _groups(result: EmbedResult, truth: dict[str, str]) -> dict[int, Counter]:
    """Group id -> how many members of each true class it holds."""
    groups: dict[int, Counter] = {}
    for item, label in zip(result.items, result.analysis.labels):
        if label >= 0:
            groups.setdefault(int(label), Counter())[truth[item.path]] += 1
    return groups


def test_default_settings_recover_the_groups_without_being_told_how_many(library, analysed) -> None:
    _, truth = library
    result, _ = analysed
    groups = _groups(result, truth)
    # Every group holds one class only, and every class is exactly one group. HDBSCAN may leave a straggler
    # ungrouped (that is its right), but never so many that a class has no group: the six checks below fail
    # for a merge, a split, a mixed group or an all-noise result.
    assert all(len(classes) == 1 for classes in groups.values()), groups
    owners = Counter(next(iter(classes)) for classes in groups.values())
    assert owners == Counter({f"{c} {s}": 1 for c, s in CLASSES}), groups
    # And nearly everything is grouped: one straggler costs ~0.03 of this score, so no single item decides it.
    assert adjusted_rand_score([truth[i.path] for i in result.items], result.analysis.labels) > 0.8


def test_notes_land_in_their_shapes_group(library, analysed) -> None:
    _, truth = library
    result, _ = analysed
    group_of = {next(iter(classes)): gid for gid, classes in _groups(result, truth).items() if len(classes) == 1}
    notes = [(truth[i.path], int(lab)) for i, lab in zip(result.items, result.analysis.labels) if i.kind == "text"]
    assert len(notes) == len(CLASSES)
    # Each note is nearer its own pictures than any other class by >= 0.3 cosine: every one is in their group.
    assert all(label == group_of.get(cls) for cls, label in notes), notes


def test_groups_are_named_from_the_vocabulary(library, analysed) -> None:
    """Every group whose members are all red circles is named "red circle" (out of 21 concepts, so names
    handed out at random, or by group order, would fail), and no two groups share a name."""
    _, truth = library
    result, _ = analysed
    a = result.analysis
    named = {}
    for cluster in a.clusters:
        classes = {truth[result.items[i].path] for i in np.nonzero(a.labels == cluster.id)[0]}
        if len(classes) == 1:
            named[classes.pop()] = cluster.name
    assert named == {f"{c} {s}": f"{c} {s}" for c, s in CLASSES}
    assert len({c.name for c in a.clusters}) == len(a.clusters)


def test_a_red_circle_query_ranks_red_circles_first(analysed) -> None:
    from desktop_app.core.embedding.pipeline import query_vector

    result, settings = analysed
    query = query_vector(result.model, "a red circle", settings)
    top = rank(result.vectors, query, top=PER_GROUP).top(PER_GROUP)
    assert all("red-circle" in Path(result.items[i].path).name for i, _ in top)


def test_reopening_draws_the_stored_map_and_new_items_do_not_move_old_ones(library, vocabulary, analysed,
                                                                           tmp_path) -> None:
    root, _ = library
    first, settings = analysed
    settings_ = AnalysisSettings(vocabulary=vocabulary)
    again = drive(run_analysis([root], settings, settings_))
    assert again.analysis.stats["layout"] == "stored"
    assert np.array_equal(again.analysis.coords, first.analysis.coords)

    extra = tmp_path / "more"
    extra.mkdir()
    rng = random.Random(9)
    for i in range(4):
        draw_shape("red", "circle", "large", 64, rng).save(extra / f"new-{i}.png")
    grown = drive(run_analysis([root, extra], settings, settings_))
    assert grown.analysis.stats["layout"] == "extended"
    old = {item.path: xy for item, xy in zip(first.items, first.analysis.coords)}
    for item, xy in zip(grown.items, grown.analysis.coords):
        if item.path in old:
            assert np.array_equal(xy, old[item.path])
    # The new red circles are placed among the old red circles.
    reds = np.array([xy for it, xy in zip(first.items, first.analysis.coords) if "red-circle" in it.path])
    news = np.array([xy for it, xy in zip(grown.items, grown.analysis.coords) if "new-" in it.path])
    span = np.ptp(first.analysis.coords, axis=0).max()
    assert np.linalg.norm(news.mean(axis=0) - reds.mean(axis=0)) < 0.1 * span

    refit = drive(run_analysis([root, extra], settings, AnalysisSettings(vocabulary=vocabulary, relayout=True)))
    assert refit.analysis.stats["layout"] == "fitted"


def test_results_document_round_trip_and_older_schema(analysed, tmp_path) -> None:
    result, _ = analysed
    out = tmp_path / "r.json"
    result.save(out)
    doc = json.loads(out.read_text())
    assert doc["schema"] == 2
    item = doc["items"][0]
    assert {"x", "y", "cluster", "outlier_score", "outlier"} <= set(item)
    names = {c["name"] for c in doc["clusters"]}
    assert len(names) == len(doc["clusters"]) and all(Path(p).exists() for p in doc["clusters"][0]["representatives"])
    loaded = load_results(out)  # what the CLI uses: the checks accept every document PhotoAtlas writes
    assert np.array_equal(loaded.analysis.labels, result.analysis.labels)
    assert np.allclose(loaded.analysis.coords, result.analysis.coords)
    assert np.array_equal(loaded.analysis.cluster_space, result.analysis.cluster_space)
    assert [c.name for c in loaded.analysis.clusters] == [c.name for c in result.analysis.clusters]

    # A schema-1 document (before the map existed) still loads, without an analysis.
    old = {k: v for k, v in doc.items() if k not in ("clusters", "analysis")}
    old["schema"] = 1
    old["items"] = [{k: v for k, v in it.items() if k not in ("x", "y", "cluster", "outlier_score", "outlier")}
                    for it in doc["items"]]
    out.write_text(json.dumps(old))
    legacy = EmbedResult.load(out)
    assert legacy.analysis is None and len(legacy.items) == len(result.items)

    out.write_text(json.dumps({**doc, "schema": 99}))
    with pytest.raises(BadArgument, match="newer PhotoAtlas"):
        EmbedResult.load(out)
    out.write_text("{not json")
    with pytest.raises(BadArgument, match="cannot read"):
        EmbedResult.load(out)


def test_cancel_stops_the_analysis(library, vocabulary, tmp_path) -> None:
    from desktop_app.core.errors import Cancelled
    from desktop_app.core.progress import CancelToken

    root, _ = library
    token = CancelToken()
    gen = run_analysis([root], EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path),
                       AnalysisSettings(vocabulary=vocabulary, relayout=True), token)
    stages = []
    with pytest.raises(Cancelled):
        for event in gen:
            stages.append(event.stage)
            if event.stage == "layout":
                token.cancel()
    assert "cluster" not in stages and "done" not in stages
