"""The pipeline end to end on real files, with the real cache and the tiny real model."""

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, TINY_MODEL_DIR, save_shape
from PIL import Image

from desktop_app.core.embedding.cache import CACHE_FILENAME, EmbeddingCache
from desktop_app.core.embedding.pipeline import CancelToken, EmbedResult, EmbedSettings, drive, run_embedding
from desktop_app.core.errors import Cancelled


def _library(root: Path, n: int = 6) -> Path:
    for i in range(n):
        colour, shape = [("red", "circle"), ("blue", "square"), ("green", "triangle")][i % 3]
        save_shape(root / "pics" / f"{i:02d}-{colour}.jpg", colour, shape, seed=i)
    (root / "note.txt").write_text("a red circle")
    return root


def _run(paths, cache: Path, model: str = TINY_MODEL, **kw) -> EmbedResult:
    events = []
    result = drive(run_embedding(paths, EmbedSettings(model=model, cache_dir=cache, batch_size=4, **kw)),
                   events.append)
    result.events = events  # type: ignore[attr-defined]
    return result


def test_one_bad_file_never_fails_the_batch(tmp_path: Path) -> None:
    lib = _library(tmp_path / "lib")
    (lib / "pics" / "00b-zero.jpg").write_bytes(b"")
    (lib / "pics" / "00c-fake.jpg").write_text("not a picture at all")
    Image.new("RGB", (3000, 3000)).save(lib / "pics" / "00d-bomb.png")
    (lib / "empty.md").write_text("")
    result = _run([lib], tmp_path / "cache", max_pixels=1_000_000)
    assert len(result.items) == 7
    reasons = {p.name: r for p, r in ((s.path, s.reason) for s in result.skipped)}
    assert set(reasons) == {"00b-zero.jpg", "00c-fake.jpg", "00d-bomb.png", "empty.md"}
    assert "1,000,000" in reasons["00d-bomb.png"]
    assert result.vectors.shape == (7, 64)
    assert result.stats["skipped"] == 4


def test_rerun_embeds_nothing_and_a_touched_file_is_embedded_again(tmp_path: Path) -> None:
    lib = _library(tmp_path / "lib")
    first = _run([lib], tmp_path / "cache")
    assert first.stats["embedded"] == 7 and first.stats["from_cache"] == 0
    second = _run([lib], tmp_path / "cache")
    assert second.stats["embedded"] == 0 and second.stats["from_cache"] == 7
    assert not any(e.stage == "load-model" for e in second.events)  # an unchanged folder never loads torch models
    np.testing.assert_allclose(first.vectors, second.vectors)
    touched = lib / "pics" / "01-blue.jpg"
    save_shape(touched, "red", "circle", seed=99)
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    third = _run([lib], tmp_path / "cache")
    assert third.stats["embedded"] == 1 and third.stats["from_cache"] == 6


def test_another_model_keeps_separate_vectors(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    other = tmp_path / "other-model"
    shutil.copytree(TINY_MODEL_DIR, other)
    weights = load_file(str(other / "open_clip_model.safetensors"))
    torch.manual_seed(0)
    weights = {k: (v + 0.05 * torch.randn_like(v)).contiguous() for k, v in weights.items()}
    save_file(weights, str(other / "open_clip_model.safetensors"))
    lib = _library(tmp_path / "lib")
    a = _run([lib], tmp_path / "cache")
    b = _run([lib], tmp_path / "cache", model=f"local-dir:{other}")
    assert b.stats["embedded"] == 7 and b.model["key"] != a.model["key"]
    assert not np.allclose(a.vectors, b.vectors)
    with EmbeddingCache(tmp_path / "cache") as cache:
        assert cache.count() == 14
    assert _run([lib], tmp_path / "cache").stats["from_cache"] == 7


def test_truncated_cache_is_moved_aside_with_a_warning_and_rebuilt(tmp_path: Path) -> None:
    lib = _library(tmp_path / "lib")
    _run([lib], tmp_path / "cache")
    db = tmp_path / "cache" / CACHE_FILENAME
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    result = _run([lib], tmp_path / "cache")
    warnings = [e.message for e in result.events if e.stage == "warning"]
    assert len(warnings) == 1 and "moved it to" in warnings[0]
    assert result.stats["embedded"] == 7
    assert any(p.name.startswith(CACHE_FILENAME + ".corrupt-") for p in db.parent.iterdir())


def test_cancel_stops_between_batches_and_keeps_finished_work(tmp_path: Path) -> None:
    lib = _library(tmp_path / "lib", n=12)
    cancel = CancelToken()
    gen = run_embedding([lib], EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path / "cache", batch_size=4),
                        cancel)
    with pytest.raises(Cancelled):
        for event in gen:
            if event.stage == "embed" and event.message == "pictures":
                cancel.cancel()
    rerun = _run([lib], tmp_path / "cache")
    assert 0 < rerun.stats["from_cache"] < 13


def test_results_save_and_load_round_trip(tmp_path: Path) -> None:
    lib = _library(tmp_path / "lib")
    (lib / "pics" / "00-red.txt").write_text("caption: a red circle")
    result = _run([lib], tmp_path / "cache")
    out = tmp_path / "out" / "results.json"
    out.parent.mkdir()
    result.save(out)
    loaded = EmbedResult.load(out)
    assert [i.path for i in loaded.items] == [i.path for i in result.items]
    np.testing.assert_array_equal(loaded.vectors, result.vectors)
    caption = next(i for i in loaded.items if i.path.endswith("00-red.txt"))
    assert caption.caption_of and caption.caption_of.endswith("00-red.jpg")
    assert caption.snippet == "caption: a red circle"


def test_unreadable_files_are_remembered_so_an_unchanged_library_loads_no_model(tmp_path: Path, monkeypatch) -> None:
    """A corrupt RAW, a fake JPEG or an empty note is skipped again on the next run without being read, so a rerun
    on an unchanged library neither reads them nor loads the model; a file that changes is tried again, and so
    is one the disk refused (a permission, an I/O error), since that may pass."""
    from desktop_app.core.embedding import settings as pipeline  # where the CPU path decodes
    from desktop_app.core.errors import FileAccessError

    lib = _library(tmp_path / "lib")
    (lib / "pics" / "bad.CR3").write_bytes(b"\x00\x01garbage" * 100)
    (lib / "pics" / "fake.jpg").write_text("not a picture at all")
    (lib / "empty.md").write_text("")
    flaky = lib / "pics" / "04-blue.jpg"
    real_load = pipeline.decode_picture

    def disk_refuses_one(path, **kw):
        if path == flaky:
            raise FileAccessError("cannot read file (Input/output error)")
        return real_load(path, **kw)

    monkeypatch.setattr(pipeline, "decode_picture", disk_refuses_one)
    first = _run([lib], tmp_path / "cache")
    reasons = {s.path.name: s.reason for s in first.skipped}
    assert set(reasons) == {"bad.CR3", "fake.jpg", "empty.md", "04-blue.jpg"}

    monkeypatch.setattr(pipeline, "decode_picture", real_load)
    second = _run([lib], tmp_path / "cache")  # the disk reads 04-blue.jpg now: only it is embedded
    assert second.stats["embedded"] == 1 and {s.path.name: s.reason for s in second.skipped} == {
        k: v for k, v in reasons.items() if k != "04-blue.jpg"}

    third = _run([lib], tmp_path / "cache")
    assert not any(e.stage == "load-model" for e in third.events)
    assert third.stats["embedded"] == 0 and {s.path.name for s in third.skipped} == {"bad.CR3", "fake.jpg", "empty.md"}

    save_shape(lib / "pics" / "fake.jpg", "red", "circle", seed=9)  # fixed: a real picture now
    fourth = _run([lib], tmp_path / "cache")
    assert fourth.stats["embedded"] == 1 and "fake.jpg" not in {s.path.name for s in fourth.skipped}
    assert not any(s.path.name == "fake.jpg" for s in _run([lib], tmp_path / "cache", max_pixels=10**9).skipped)


def test_a_save_cut_short_never_leaves_new_vectors_beside_the_old_document(tmp_path: Path, monkeypatch) -> None:
    """The vectors go first, under a name of their own; the JSON that names them replaces the old one last. A save
    that dies between the two (a full disk, a kill) leaves the old document readable with its own vectors."""
    from desktop_app.core.documents import document

    result = _run([_library(tmp_path / "lib")], tmp_path / "cache")
    out = tmp_path / "r.json"
    result.save(out)
    first = sorted(p.name for p in tmp_path.glob("r.vectors*.npz"))
    changed = EmbedResult(model=result.model, items=result.items, vectors=result.vectors[::-1].copy())
    real, calls = document.atomic_write, []

    def full_disk_at_the_json(path, data):
        calls.append(Path(path).name)
        if Path(path) == out:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(document, "atomic_write", full_disk_at_the_json)
    with pytest.raises(OSError):
        changed.save(out)
    assert calls[0].startswith("r.vectors-") and calls[0] not in first  # new vectors went to a name of their own
    np.testing.assert_array_equal(EmbedResult.load(out).vectors, result.vectors)  # the old pair, intact
    monkeypatch.setattr(document, "atomic_write", real)
    changed.save(out)
    np.testing.assert_array_equal(EmbedResult.load(out).vectors, changed.vectors)
    assert len(list(tmp_path.glob("r.vectors*.npz"))) == 1  # the saves before are cleaned up


def test_two_documents_of_one_stem_keep_their_own_vectors(tmp_path: Path) -> None:
    """wedding.json and wedding.2024 share the stem "wedding": saving one never removes the other's vectors."""
    result = _run([_library(tmp_path / "lib")], tmp_path / "cache")
    result.save(tmp_path / "wedding.json")
    other = EmbedResult(model=result.model, items=result.items, vectors=result.vectors[::-1].copy())
    other.save(tmp_path / "wedding.2024")
    other.save(tmp_path / "wedding.2024")  # saved again: its own earlier vectors go, nobody else's
    np.testing.assert_array_equal(EmbedResult.load(tmp_path / "wedding.json").vectors, result.vectors)
    np.testing.assert_array_equal(EmbedResult.load(tmp_path / "wedding.2024").vectors, other.vectors)
    assert len(list(tmp_path.glob("wedding.vectors-*.npz"))) == 2
