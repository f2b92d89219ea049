"""Embedding on Ray (``--ray``): a local Ray with 2 CPUs and the tiny model, real files, real worker processes.

What a user relies on: the vectors are the desktop's own, the cache the cluster fills is the one the app opens
(a second run embeds nothing), an interrupted run resumes, and a worker that dies mid-run loses no file and
embeds none twice.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, TINY_MODEL_DIR, save_shape

ray = pytest.importorskip("ray")  # the cluster extra; the test command installs it

from desktop_app.core.embedding.pipeline import EmbedSettings, drive, run_embedding  # noqa: E402
from desktop_app.core.embedding.ray_embed import RayOptions, map_path, ray_batches  # noqa: E402
from desktop_app.core.errors import BadArgument, Cancelled  # noqa: E402
from desktop_app.core.progress import CancelToken  # noqa: E402

pytestmark = pytest.mark.slow

# The hooks below run inside Ray's worker processes, which cannot import this test module: ship them by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


class KillOnce:
    """Kills the worker process that takes the first batch of ``stage`` (SIGKILL, as the OOM killer or a lost
    node would), once: the marker file is claimed by unlinking it, which exactly one worker can do."""

    def __init__(self, stage: str, marker: Path) -> None:
        self.stage, self.marker = stage, str(marker)

    def __call__(self, stage: str, paths: list[str]) -> None:
        if stage != self.stage:
            return
        try:
            os.unlink(self.marker)
        except FileNotFoundError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


class KillOn:
    """Kills every worker that is given ``path`` to decode, on every try: a file that crashes the decoder."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __call__(self, stage: str, paths: list[str]) -> None:
        if stage == "decode" and self.path in paths:
            os.kill(os.getpid(), signal.SIGKILL)


class RecordPaths:
    """Writes the paths a worker was given to a file of its own (one per process and batch)."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)

    def __call__(self, stage: str, paths: list[str]) -> None:
        if stage != "decode":
            return
        name = f"{os.getpid()}-{abs(hash(tuple(paths)))}.txt"
        Path(self.folder, name).write_text("\n".join(paths), encoding="utf-8")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (2 CPUs) for the module: starting one costs seconds. ``ray_batches`` uses a running Ray
    as it is and leaves it running."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """14 pictures in two folders, a note, and a file that only looks like a JPEG."""
    root = tmp_path / "library"
    colours, shapes = ["red", "green", "blue", "yellow", "purple", "orange", "red"], ["circle", "square"]
    for i, colour in enumerate(colours):
        for j, shape in enumerate(shapes):
            save_shape(root / f"roll{j}" / f"{colour}-{shape}-{i}.jpg", colour, shape, seed=i)
    (root / "notes.txt").write_text("a red circle and a green square", encoding="utf-8")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


def _settings(cache: Path, **ray_options) -> EmbedSettings:
    return EmbedSettings(model=TINY_MODEL, cache_dir=cache, batch_size=4, ray=RayOptions(**ray_options))


def _by_path(result) -> dict[str, np.ndarray]:
    return {item.path: vec for item, vec in zip(result.items, result.vectors)}


def test_ray_gives_the_desktop_vectors_and_fills_the_cache_the_app_opens(local_ray, library, tmp_path):
    local = drive(run_embedding([library], EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path / "here")))
    on_ray = drive(run_embedding([library], _settings(tmp_path / "cluster")))

    assert on_ray.stats["embedded"] == local.stats["embedded"] == 15  # 14 pictures and the note
    mine, theirs = _by_path(local), _by_path(on_ray)
    assert mine.keys() == theirs.keys()
    cosines = [float(mine[p] @ theirs[p]) for p in mine]
    assert min(cosines) >= 0.9999
    # The broken file is skipped with the same one-line reason either way.
    assert [(s.path, s.reason) for s in on_ray.skipped] == [(s.path, s.reason) for s in local.skipped]
    assert [s.path.name for s in on_ray.skipped] == ["broken.jpg"]

    # The desktop (no Ray) opening the same cache embeds nothing: every file comes from what the cluster wrote.
    again = drive(run_embedding([library], EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path / "cluster")))
    assert again.stats["embedded"] == 0 and again.stats["from_cache"] == 15
    assert all(float(_by_path(again)[p] @ theirs[p]) > 0.99999 for p in theirs)


def test_an_interrupted_run_resumes_where_it_stopped(local_ray, library, tmp_path):
    cancel = CancelToken()
    stored = []

    def on_event(event) -> None:
        if event.stage == "embed" and event.message == "pictures" and event.done:
            stored.append(event.done)
            cancel.cancel()  # after the first batch the driver stored: the user pressed Cancel

    with pytest.raises(Cancelled):
        drive(run_embedding([library], _settings(tmp_path / "cache"), cancel), on_event)
    assert stored, "no batch came back before the cancel"
    second = drive(run_embedding([library], _settings(tmp_path / "cache")))
    # The first run kept the note and the pictures of its first batch; the second embedded only the rest.
    assert second.stats["from_cache"] + second.stats["embedded"] == 15
    assert 1 < second.stats["from_cache"] < 15


needs_posix = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and symlinks as on Linux and macOS")


@needs_posix
@pytest.mark.parametrize("stage", ["decode", "embed"])  # a decoding task's worker; a model actor
def test_a_worker_killed_mid_run_still_ends_with_every_file_once(local_ray, library, tmp_path, embedder,
                                                                 tiny_resolved, stage):
    from desktop_app.core.ingest.items import Item, scan

    marker = tmp_path / f"kill-the-first-{stage}-worker"
    marker.touch()
    items = [r for r in scan([library]) if isinstance(r, Item) and r.kind == "image"]
    settings = _settings(tmp_path / "cache", on_batch=KillOnce(stage, marker))
    seen: list[str] = []
    for rows, failed in ray_batches(items, embedder, tiny_resolved, settings):
        seen += [str(item.path) for item, _, _ in rows] + [str(item.path) for item, _ in failed]

    assert not marker.exists(), "no worker was killed: the test did not test anything"
    assert sorted(seen) == sorted(str(i.path) for i in items)  # every file, each exactly once


@needs_posix
def test_a_file_that_crashes_its_worker_every_time_costs_only_that_file(local_ray, library, tmp_path, embedder,
                                                                       tiny_resolved):
    from desktop_app.core.errors import FileAccessError
    from desktop_app.core.ingest.items import Item, scan

    poison = library / "roll0" / "green-circle-1.jpg"
    items = [r for r in scan([library]) if isinstance(r, Item) and r.kind == "image"]
    rows, failed = [], []
    for got, bad in ray_batches(items, embedder, tiny_resolved, _settings(tmp_path / "cache", on_batch=KillOn(poison))):
        rows += got
        failed += bad
    assert sorted(str(item.path) for item, _, _ in rows) == sorted(
        str(i.path) for i in items if i.path not in (poison, library / "broken.jpg"))
    lost = [(item.path, exc) for item, exc in failed if item.path != library / "broken.jpg"]
    assert [path for path, _ in lost] == [poison]
    assert isinstance(lost[0][1], FileAccessError) and "tried again next run" in lost[0][1].user_message


def test_each_file_is_yielded_once_and_what_did_not_come_back_is_sent_again(monkeypatch, library, tmp_path,
                                                                            embedder, tiny_resolved):
    """The driver's bookkeeping, with Ray's answers made up: a block answered twice (a retried block), a file
    that a round never returned (sent again, alone), and one that never comes back (skipped for now)."""
    import desktop_app.core.embedding.ray_embed as ray_embed
    from desktop_app.core.ingest.items import Item, scan

    items = sorted((r for r in scan([library]) if isinstance(r, Item) and r.kind == "image"), key=lambda i: i.path)
    paths = [str(i.path) for i in items]
    never = paths[-1]
    rounds: list[tuple[list[str], int | None]] = []

    def answer(batch: list[str]) -> dict[str, np.ndarray]:
        return {"path": np.array(batch, dtype=object), "status": np.array(["ok"] * len(batch), dtype=object),
                "reason": np.array([""] * len(batch), dtype=object), "vector": np.ones((len(batch), 3), np.float32)}

    def fake_stream(ray, sent, embedder, resolved, settings, rows_per_block=None):
        rounds.append((list(sent), rows_per_block))
        if len(rounds) == 1:
            yield answer(sent[:4])
            yield answer(sent[:2])  # the same files again
            yield answer(sent[4:-3])  # the last three are not returned
        else:
            yield answer([p for p in sent if p != never])

    monkeypatch.setattr(ray_embed, "_stream", fake_stream)
    monkeypatch.setattr(ray_embed, "connect", lambda options: False)
    seen, failed = [], []
    for rows, bad in ray_batches(items, embedder, tiny_resolved, _settings(tmp_path / "cache")):
        seen += [str(item.path) for item, _, _ in rows]
        failed += [str(item.path) for item, _ in bad]
    assert sorted(seen) == paths[:-1] and failed == [never]  # each file once
    assert rounds[1] == (paths[-3:], 1)  # the three that did not come back, one file per block


def test_a_path_map_that_matches_no_file_is_refused(local_ray, library, tmp_path, embedder, tiny_resolved):
    from desktop_app.core.ingest.items import Item, scan

    items = [r for r in scan([library]) if isinstance(r, Item)]
    settings = _settings(tmp_path / "cache", path_map=[("/Volumes/Archive", "/mnt/archive")])
    with pytest.raises(BadArgument, match="nor any file of this run is under /Volumes/Archive"):
        list(ray_batches(items, embedder, tiny_resolved, settings))


def test_a_path_map_the_workers_find_nothing_under_stops_the_run(monkeypatch, local_ray, library, tmp_path,
                                                                 embedder, tiny_resolved):
    import desktop_app.core.embedding.ray_embed as ray_embed
    from desktop_app.core.ingest.items import Item, scan

    monkeypatch.setattr(ray_embed, "MAPPED_MISSES_STOP", 8)  # the library has 15 files
    items = [r for r in scan([library]) if isinstance(r, Item) and r.kind == "image"]
    settings = _settings(tmp_path / "cache", path_map=[(str(library), str(tmp_path / "not-mounted"))])
    with pytest.raises(BadArgument, match="the workers find none of the files.*not-mounted.*check --path-map"):
        list(ray_batches(items, embedder, tiny_resolved, settings))


@needs_posix
def test_paths_are_mapped_to_the_workers_names(local_ray, library, tmp_path, embedder, tiny_resolved):
    from desktop_app.core.ingest.items import Item, scan

    mount = tmp_path / "mnt" / "archive"  # the same folder under the name the workers know it by
    mount.parent.mkdir()
    mount.symlink_to(library, target_is_directory=True)
    record = tmp_path / "record"
    record.mkdir()
    items = [r for r in scan([library]) if isinstance(r, Item) and r.kind == "image"]
    settings = _settings(tmp_path / "cache", path_map=[(str(library), str(mount))], on_batch=RecordPaths(record))
    rows = [row for batch, _ in ray_batches(items, embedder, tiny_resolved, settings) for row in batch]

    asked = {line for f in record.iterdir() for line in f.read_text(encoding="utf-8").splitlines()}
    assert asked == {str(mount / i.path.relative_to(library)) for i in items}
    assert {str(item.path) for item, _, _ in rows} == {str(i.path) for i in items} - {str(library / "broken.jpg")}


def test_a_worker_with_other_weights_refuses_to_embed(local_ray, library, tmp_path, embedder, tiny_resolved):
    """The cache never mixes two models: workers whose copy of the model differs stop the run with one line."""
    import shutil

    from safetensors.torch import load_file, save_file

    from desktop_app.core.errors import ModelUnavailable
    from desktop_app.core.ingest.items import Item, scan

    other = tmp_path / "their-model"
    shutil.copytree(TINY_MODEL_DIR, other)
    weights = load_file(other / "open_clip_model.safetensors")
    first = sorted(weights)[0]
    weights[first] = weights[first] + 0.01  # retrained, say: the same architecture, other weights
    save_file(weights, other / "open_clip_model.safetensors")
    items = [r for r in scan([library]) if isinstance(r, Item) and r.kind == "image"]
    settings = _settings(tmp_path / "cache", path_map=[(str(TINY_MODEL_DIR), str(other))])
    with pytest.raises(ModelUnavailable, match="not the one on the driver"):
        list(ray_batches(items, embedder, tiny_resolved, settings))


def test_path_map_replaces_whole_folder_names_only():
    pairs = RayOptions.parse_path_map(["/Volumes/Archive=/mnt/archive", "/Volumes/Archive/2019=/fast/2019"])
    assert map_path("/Volumes/Archive/a.jpg", pairs) == "/mnt/archive/a.jpg"
    assert map_path("/Volumes/Archive/2019/b.jpg", pairs) == "/fast/2019/b.jpg"  # the longest prefix wins
    assert map_path("/Volumes/Archive2/c.jpg", pairs) == "/Volumes/Archive2/c.jpg"
    windows = RayOptions.parse_path_map(["D:\\Photos=/mnt/photos"])
    assert map_path("D:\\Photos\\d.jpg", windows) == "/mnt/photos/d.jpg"
    assert map_path("d:\\photos\\2019\\e.jpg", windows) == "/mnt/photos/2019/e.jpg"  # Windows ignores case
    assert map_path("D:\\Photos2\\f.jpg", windows) == "D:\\Photos2\\f.jpg"
    with pytest.raises(BadArgument, match="FROM=TO"):
        RayOptions.parse_path_map(["/Volumes/Archive"])
