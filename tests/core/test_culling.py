"""Culling tools on real files with the tiny CLIP: near-duplicates, bursts from EXIF times, the best-frame
pick, RAW+JPEG pairs, groups from typed prompts, events, and the export of best frames only."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, TINY_MODEL
from near_dups import DISTINCT, blurred, near_duplicate_library, save_photo
from shapes import draw_shape

from desktop_app.core.analysis.groupings import OTHER, UNDATED, event_labels
from desktop_app.core.analysis.model import AnalysisSettings
from desktop_app.core.embedding.pipeline import (
    EmbedResult,
    EmbedSettings,
    group_by_events,
    group_by_prompts,
    run_analysis,
    run_duplicates,
    run_embedding,
)
from desktop_app.core.errors import BadArgument
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.export.run import run_export
from desktop_app.core.ingest.items import Item, scan
from desktop_app.core.metadata.photo_meta import PhotoMeta, read_meta
from desktop_app.core.progress import drive
from desktop_app.core.review.duplicates import CullSettings, similar_pairs
from desktop_app.core.review.quality import focus, measure

TINY_DUPLICATE_THRESHOLD = 0.75  # see test_near_duplicates_are_grouped_and_distinct_pictures_are_not


def _settings(tmp_path: Path) -> EmbedSettings:
    return EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path / "cache", batch_size=8)


def test_exact_pair_search_matches_brute_force_and_has_no_self_pairs() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 64)).astype(np.float32)
    x[1500:1600] = x[:100] + rng.normal(scale=0.05, size=(100, 64))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    i, j, sims = drive(similar_pairs(x, 0.95, tile=1024))  # several tiles, diagonal and off-diagonal ones
    full = x @ x.T
    want = {(a, b) for a, b in zip(*np.nonzero(np.triu(full >= 0.95, k=1)))}
    assert set(zip(i.tolist(), j.tolist())) == want and len(want) >= 100
    assert (i < j).all() and np.allclose(sims, full[i, j], atol=1e-5)


def test_near_duplicates_are_grouped_and_distinct_pictures_are_not(tmp_path: Path) -> None:
    expected = near_duplicate_library(tmp_path / "lib")
    result = drive(run_embedding([tmp_path / "lib"], _settings(tmp_path)))
    # To the tiny model, copies of one picture are >= 0.91 alike and different pictures <= 0.60: a threshold in
    # the middle of that gap finds exactly the true sets on any CPU. (0.94, the default for real CLIP models,
    # sits above the least-alike copy, so the answer hung on a chain of borderline links.)
    sets = drive(run_duplicates(result, CullSettings(threshold=TINY_DUPLICATE_THRESHOLD)))
    found = sorted(sorted(result.items[m].path for m in s.members) for s in sets)
    assert found == sorted(sorted(paths) for paths in expected.values())
    assert all(s.kind == "duplicates" for s in sets)
    # The best frame is the untouched original: not the half-size, recompressed, cropped or brightened copy.
    # (Its score leads the runner-up, the cropped copy, by 0.02-0.25; these scores come from decoded pixels,
    # not from the model, so they do not drift between CPUs.)
    assert sorted(Path(result.items[s.best].path).name for s in sets) == sorted(
        f"{colour}-{shape}.jpg" for colour, shape in DISTINCT)


def test_best_frame_is_the_sharp_one_and_the_scores_say_why(tmp_path: Path) -> None:
    original = draw_shape("red", "circle", "large", 400, random.Random(3))
    sharp = save_photo(original, tmp_path / "lib" / "b-sharp.jpg")
    soft = save_photo(blurred(original), tmp_path / "lib" / "a-blurred.jpg")  # first in scan order: no lucky tie
    assert measure(sharp).sharpness > 3 * measure(soft).sharpness
    result = drive(run_embedding([tmp_path / "lib"], _settings(tmp_path)))
    sets = drive(run_duplicates(result, CullSettings(threshold=0.9)))
    assert len(sets) == 1
    assert result.items[sets[0].best].path == str(sharp)
    assert focus(np.full((10, 10), 7.0)) == 0.0


def test_user_pick_overrides_and_survives_a_rerun(tmp_path: Path) -> None:
    original = draw_shape("blue", "square", "large", 300, random.Random(4))
    sharp = save_photo(original, tmp_path / "lib" / "sharp.jpg")
    soft = save_photo(blurred(original), tmp_path / "lib" / "soft.jpg")
    result = drive(run_embedding([tmp_path / "lib"], _settings(tmp_path)))
    drive(run_duplicates(result, CullSettings(threshold=0.9), picks={str(soft)}))
    assert result.items[result.similar_sets[0].best].path == str(soft)
    result.save(tmp_path / "r.json")
    again = EmbedResult.load(tmp_path / "r.json")
    assert again.similar_sets[0].chosen_by == "user"
    drive(run_duplicates(again))  # the pick made before is kept
    assert again.items[again.similar_sets[0].best].path == str(soft)
    assert str(sharp) in {again.items[m].path for m in again.similar_sets[0].members}


def test_bursts_come_from_capture_times_of_one_camera(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for n in range(3):  # three shots in 1.2 s: a burst
        save_photo(draw_shape("green", "triangle", "large", 200, random.Random(10 + n)), lib / f"burst-{n}.jpg",
              taken="2026:06:14 15:02:07", subsec=f"{n * 6}0")
    save_photo(draw_shape("green", "triangle", "large", 200, random.Random(20)), lib / "later.jpg",
          taken="2026:06:14 16:30:00")  # same subject, an hour and a half later: not part of it
    save_photo(draw_shape("green", "triangle", "large", 200, random.Random(21)), lib / "other-camera.jpg",
          taken="2026:06:14 15:02:08", camera=("Nikon", "Z8"))  # same second, another photographer
    save_photo(draw_shape("red", "circle", "large", 200, random.Random(22)), lib / "unlike.jpg",
          taken="2026:06:14 15:02:08")  # same camera, same second, different picture
    assert read_meta(lib / "burst-1.jpg").taken == pytest.approx(read_meta(lib / "burst-0.jpg").taken + 0.6)
    result = drive(run_embedding([lib], _settings(tmp_path)))
    # A threshold near 1 leaves only the time-based links: to the tiny model these green triangles are 0.96-0.994
    # alike, far enough below 0.999 that float drift between CPUs (~1e-6) cannot link them.
    sets = drive(run_duplicates(result, CullSettings(threshold=0.999, burst_seconds=2.0)))
    assert [(s.kind, sorted(Path(result.items[m].path).name for m in s.members)) for s in sets] == [
        ("burst", ["burst-0.jpg", "burst-1.jpg", "burst-2.jpg"])]


def test_raw_and_jpeg_with_one_stem_are_one_item_and_travel_together(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    save_photo(draw_shape("red", "circle", "large", 128, random.Random(1)), lib / "IMG_0001.JPG")
    (lib / "IMG_0001.CR3").write_bytes(b"stand-in RAW: rawpy is not needed, the JPEG is embedded")
    (lib / "IMG_0002.NEF").write_bytes(b"a RAW on its own stays an item of its own")
    items = [r for r in scan([lib]) if isinstance(r, Item)]
    assert [(i.path.name, i.raw.name if i.raw else None) for i in items] == [
        ("IMG_0001.JPG", "IMG_0001.CR3"), ("IMG_0002.NEF", None)]

    result = drive(run_analysis([lib], _settings(tmp_path), AnalysisSettings(clusterer="none")))
    assert [Path(i.path).name for i in result.items] == ["IMG_0001.JPG"]  # the lone NEF cannot be read here
    assert result.items[0].raw == str(lib / "IMG_0001.CR3")
    result.save(tmp_path / "r.json")
    loaded = EmbedResult.load(tmp_path / "r.json")
    drive(run_export(loaded, tmp_path / "out", ExportOptions(include_noise=True)))
    exported = sorted(p.name for p in (tmp_path / "out").rglob("IMG_*"))
    assert exported == ["IMG_0001.CR3", "IMG_0001.JPG"]


def test_prompts_send_red_circles_to_red_circle_and_the_rest_to_other(tmp_path: Path) -> None:
    sample = ROOT / "resources" / "sample"
    result = drive(run_analysis([sample], _settings(tmp_path), AnalysisSettings()))
    coords = result.analysis.coords.copy()
    analysis = group_by_prompts(result, ["red circle", "blue square"], _settings(tmp_path))
    # Only the classes far from the margin (2 sd) are asserted: red circles stand >= 3.0 sd above the reference
    # concepts, blue squares >= 2.7, green squares and yellow circles <= 0.7. Orange circles (1.8-2.9) may go
    # either way, and are not checked.
    names = {c.id: c.name for c in analysis.clusters}
    group = {Path(it.path).name: names[int(analysis.labels[i])] for i, it in enumerate(result.items)}
    assert {group[f"red-circle-{n}.jpg"] for n in (1, 2, 3)} == {"red circle"}
    assert {group[f"blue-square-{n}.jpg"] for n in (1, 2, 3)} == {"blue square"}
    assert {group[f"green-square-{n}.jpg"] for n in (1, 2, 3)} == {OTHER}
    assert {group[f"yellow-circle-{n}.jpg"] for n in (1, 2, 3)} == {OTHER}
    assert np.array_equal(analysis.coords, coords)  # the map stays
    assert analysis.params["clusterer"]["name"] == "prompts"


def test_events_split_on_long_pauses_and_name_their_dates(tmp_path: Path) -> None:
    day = [PhotoMeta(taken=1_781_420_000.0 + 600 * n, lat=48.86, lon=2.35) for n in range(4)]
    next_day = [PhotoMeta(taken=1_781_420_000.0 + 86_400 + 60 * n, lat=48.8, lon=2.3) for n in range(3)]
    far_away = [PhotoMeta(taken=next_day[-1].taken + 7200, lat=41.9, lon=12.5)]  # type: ignore[operator]
    labels, names = event_labels([*day, *next_day, *far_away, PhotoMeta()])
    assert labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 3]
    assert names[0].startswith("14 Jun 2026") and "48.86°N 2.35°E" in names[0]
    assert names[3] == UNDATED

    lib = tmp_path / "lib"
    for n, when in enumerate(["2026:06:14 10:00:00", "2026:06:14 11:00:00", "2026:06:20 09:00:00"]):
        save_photo(draw_shape("red", "circle", "large", 96, random.Random(n)), lib / f"p{n}.jpg", taken=when)
    result = drive(run_analysis([lib], _settings(tmp_path), AnalysisSettings(clusterer="none")))
    analysis = group_by_events(result)
    assert [c.name for c in analysis.clusters] == ["14 Jun 2026", "20 Jun 2026"]
    assert analysis.labels.tolist() == [0, 0, 1]


def test_export_best_only_with_a_rating_read_back_by_exiftool(tmp_path: Path) -> None:
    original = draw_shape("purple", "circle", "large", 300, random.Random(5))
    sharp = save_photo(original, tmp_path / "lib" / "keep.jpg")
    save_photo(blurred(original), tmp_path / "lib" / "drop.jpg")
    save_photo(draw_shape("green", "triangle", "large", 300, random.Random(6)), tmp_path / "lib" / "single.jpg")
    result = drive(run_analysis([tmp_path / "lib"], _settings(tmp_path), AnalysisSettings(clusterer="none")))
    with pytest.raises(BadArgument, match="duplicates"):
        drive(run_export(result, tmp_path / "out", ExportOptions(include_noise=True, best_only=True)))
    drive(run_duplicates(result, CullSettings(threshold=0.9)))
    summary = drive(run_export(result, tmp_path / "out", ExportOptions(include_noise=True, best_only=True,
                                                                       best_rating=5, best_label="Green")))
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.jpg")) == ["keep.jpg", "single.jpg"]
    assert summary.xmp_written == 1
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool is installed by 'python3 bootstrap.py test'")
    out = subprocess.run([exiftool, "-j", "-Rating", "-Label", str(sharp.with_suffix(".xmp"))],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)[0] | {"SourceFile": ""} == {"SourceFile": "", "Rating": 5, "Label": "Green"}


def test_cli_duplicates_classify_and_events(tmp_path: Path) -> None:
    near_duplicate_library(tmp_path / "lib")
    env_cli = [sys.executable, "-m", "desktop_app"]
    results = tmp_path / "r.json"
    cache = ["--cache-dir", str(tmp_path / "cache")]
    subprocess.run([*env_cli, "analyze", str(tmp_path / "lib"), "--model", TINY_MODEL, "--quiet", "--output",
                    str(results), *cache], check=True, capture_output=True)
    # duplicates needs no model and no cache: the document's vectors are all it compares
    out = subprocess.run([*env_cli, "duplicates", str(results), "--threshold", str(TINY_DUPLICATE_THRESHOLD), "--json"],
                         capture_output=True, text=True, check=True)
    sets = json.loads(out.stdout)
    assert len(sets) == 5 and all(len(s["members"]) == 5 and "sharpness" in s["members"][0] for s in sets)
    text = subprocess.run([*env_cli, "duplicates", str(results)], capture_output=True, text=True, check=True)
    assert "5 sets" in text.stdout and "leave out 20 of 25" in text.stdout
    out = subprocess.run([*env_cli, "classify", str(results), "--prompts", "red circle, blue square", "--offline",
                          *cache], capture_output=True, text=True, check=True)
    assert "red circle" in out.stdout and OTHER in out.stdout
    assert {c["name"] for c in json.loads(results.read_text())["clusters"]} == {"red circle", "blue square", OTHER}
    bad = subprocess.run([*env_cli, "classify", str(results), "--prompts", " , "], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    out = subprocess.run([*env_cli, "events", str(results), "--json"], capture_output=True, text=True, check=True)
    assert [g["name"] for g in json.loads(out.stdout)] == [UNDATED]  # no EXIF times in these files
