"""Untrusted pictures are decoded in sandbox worker processes (ingest/sandbox.py): a file that asks for too much
memory or time, or kills its decoder, is skipped with its reason while the run goes on, and the verdict is
remembered until the file changes. Real files and real processes; the caps are small so that each test is quick,
and every bomb is far beyond its cap by construction (never a race against the clock)."""

from __future__ import annotations

import threading
from pathlib import Path

import psutil
import pytest
from bombs import ico_holding, scan_bomb, zero_png
from conftest import TINY_MODEL, save_shape
from PIL import Image

from desktop_app.core.embedding import settings as embedding_settings
from desktop_app.core.embedding.pipeline import EmbedSettings, drive, run_embedding
from desktop_app.core.errors import Cancelled, UnreadableFile
from desktop_app.core.ingest import sandbox
from desktop_app.core.ingest.images import PILLOW_DEFAULT_MAX_PIXELS

MB = 1 << 20
SMALL = sandbox.DecodeLimits(memory=128 * MB, seconds=2)
MEMORY_BOMB = (9000, 9000)  # 81 MP, under the pixel limit: 324 MB for Pillow, well over a 128 MB cap
TIME_BOMB_SCANS = 20_000  # about 45 s of decoding here, against a limit of 2 s


def _run(folder: Path, cache: Path):
    events: list = []
    settings = EmbedSettings(model=TINY_MODEL, cache_dir=cache, batch_size=4, decode_memory=SMALL.memory,
                             decode_seconds=SMALL.seconds)
    result = drive(run_embedding([folder], settings), events.append)
    return result, events


def test_bombs_among_good_pictures_are_skipped_with_their_reasons_and_remembered(tmp_path: Path, monkeypatch) -> None:
    lib = tmp_path / "lib"
    for i, (colour, shape) in enumerate([("red", "circle"), ("blue", "square"), ("green", "triangle")]):
        save_shape(lib / f"{i}-{colour}.jpg", colour, shape, seed=i)
    (lib / "memory.png").write_bytes(zero_png(*MEMORY_BOMB))
    (lib / "slow.jpg").write_bytes(scan_bomb(TIME_BOMB_SCANS))

    first, _ = _run(lib, tmp_path / "cache")
    assert sorted(Path(i.path).name for i in first.items) == ["0-red.jpg", "1-blue.jpg", "2-green.jpg"]
    reasons = {s.path.name: s.reason for s in first.skipped}
    assert reasons == {"memory.png": "needs more than 128 MB to decode", "slow.jpg": "took over 2 s to decode"}

    def must_not_decode(*args, **kwargs):
        raise AssertionError("a remembered file was decoded again")

    monkeypatch.setattr(embedding_settings, "decode_picture", must_not_decode)
    again, events = _run(lib, tmp_path / "cache")
    assert {s.path.name: s.reason for s in again.skipped} == reasons
    assert again.stats["embedded"] == 0 and not any(e.stage == "load-model" for e in events)


def test_an_ico_holding_a_huge_png_is_refused_on_its_declared_size_before_decoding(tmp_path: Path) -> None:
    """Pillow decodes an ICO's icon while opening it; its decompression-bomb guard (on again) checks the embedded
    PNG's declared size first. Decoding this PNG would take 3.6 GB: under a 128 MB cap the refusal can only be the
    pixel check's."""
    path = tmp_path / "favicon.ico"
    path.write_bytes(ico_holding(zero_png(30000, 30000)))  # 2.7 MB on disk
    with pytest.raises(UnreadableFile) as err:
        sandbox.decode(path, min_side=224, limits=SMALL)
    assert not isinstance(err.value, sandbox.DecodeRefused)
    assert "900,000,000 pixels" in err.value.user_message and f"{PILLOW_DEFAULT_MAX_PIXELS:,}" in err.value.user_message
    assert Image.MAX_IMAGE_PIXELS is not None  # and the guard is on in this process too


def test_a_raised_pixel_limit_raises_pillows_guard_in_the_worker(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    path.write_bytes(zero_png(30000, 3100))  # 93 MP: over Pillow's default, 372 MB to decode
    with pytest.raises(UnreadableFile, match="93,000,000 pixels"):
        sandbox.decode(path, min_side=32, limits=sandbox.DecodeLimits())
    decoded = sandbox.decode(path, min_side=32, limits=sandbox.DecodeLimits(max_pixels=100_000_000), fit=64)
    assert decoded.original_size == (30000, 3100) and max(decoded.image.size) == 64


def test_the_watchdog_alone_holds_the_memory_cap(tmp_path: Path) -> None:
    """macOS and Windows have no kernel cap: the parent's sampling of the worker's memory must hold it alone."""
    path = tmp_path / "memory.png"
    path.write_bytes(zero_png(*MEMORY_BOMB))
    good = save_shape(tmp_path / "good.png", "red", "circle")
    pool = sandbox._Pool(kernel_cap=False)
    try:
        with pytest.raises(sandbox.TooMuchMemory, match="needs more than 128 MB to decode"):
            pool.decode(path, 32, SMALL, (None, None), None)
        assert pool.decode(good, 32, SMALL, (None, None), None).image.size == (96, 96)  # a fresh worker took over
    finally:
        pool.close()


def _one_worker(pool: sandbox._Pool) -> psutil.Process:
    """The process of the pool's one worker, started and idle (the next file goes to it)."""
    pool.warm(1)
    with pool._ready:
        pool._ready.wait_for(lambda: pool._idle)
        return psutil.Process(pool._idle[0].proc.pid)


def _wait_until_busy(proc: psutil.Process, cpu_seconds: float = 1.0) -> None:
    """Until ``proc`` has spent ``cpu_seconds`` more of CPU (it is decoding what it was sent)."""
    start = sum(proc.cpu_times()[:2])
    while sum(proc.cpu_times()[:2]) - start < cpu_seconds:
        threading.Event().wait(0.05)


@pytest.mark.parametrize("how", ["killed", "cancelled"])
def test_a_worker_that_dies_or_is_stopped_mid_file(tmp_path: Path, how: str) -> None:
    """A decoder that dies is "the decoder crashed on this file" (here it is killed from outside, as a segfault
    would end it); a caller that stops waiting (Cancel) gets ``Cancelled`` at once, its worker killed."""
    path = tmp_path / "slow.jpg"
    path.write_bytes(scan_bomb(TIME_BOMB_SCANS))
    pool, stop = sandbox._Pool(), threading.Event()
    outcome: dict = {}

    def decode() -> None:
        try:
            pool.decode(path, 224, sandbox.DecodeLimits(seconds=600), (None, None), stop)
        except Exception as exc:  # noqa: BLE001 - handed to the test's thread
            outcome["error"] = exc

    worker = _one_worker(pool)
    waiting = threading.Thread(target=decode)
    waiting.start()
    try:
        _wait_until_busy(worker)
        if how == "killed":
            worker.kill()
        else:
            stop.set()
        waiting.join(30)
        assert not waiting.is_alive()
    finally:
        stop.set()
        pool.close()
    if how == "killed":
        assert isinstance(outcome["error"], sandbox.DecoderCrashed)
        assert outcome["error"].user_message == "the decoder crashed on this file"
    else:
        assert isinstance(outcome["error"], Cancelled) and not worker.is_running()


def test_thumbnails_and_quality_go_through_the_sandbox(tmp_path: Path, monkeypatch) -> None:
    from desktop_app.core.ingest.thumbnails import get_thumbnail
    from desktop_app.core.review.quality import measure

    bomb = tmp_path / "memory.png"
    bomb.write_bytes(zero_png(*MEMORY_BOMB))
    monkeypatch.setattr(sandbox, "DEFAULT_LIMITS", SMALL)
    assert get_thumbnail(bomb, tmp_path / "thumbs") is None
    assert not measure(bomb).readable
    good = save_shape(tmp_path / "good.jpg", "red", "circle", px=400)
    thumb = get_thumbnail(good, tmp_path / "thumbs", side=160)
    assert thumb is not None and Image.open(thumb).size == (160, 160)
    assert measure(good).megapixels == pytest.approx(0.16)


def test_the_gpu_path_sends_a_progressive_jpeg_of_many_scans_the_cpu_way(tmp_path: Path) -> None:
    """nvJPEG would decode it in this process, with no time limit; the CPU way has the sandbox's."""
    from desktop_app.core.embedding.gpu_decode import MAX_DEVICE_SCANS, JpegHeader, read_jpeg_header

    assert isinstance(read_jpeg_header(tmp_path / "a.jpg", scan_bomb(0, side=256), None), JpegHeader)
    why = read_jpeg_header(tmp_path / "a.jpg", scan_bomb(MAX_DEVICE_SCANS, side=256), None)
    assert why == f"a progressive JPEG of more than {MAX_DEVICE_SCANS} scans"


@pytest.mark.parametrize("name, size", [("wide.jpg", (300, 97)), ("tall.png", (61, 250)), ("tiny.png", (20, 13)),
                                        ("square.webp", (128, 128))])
def test_the_models_input_is_the_same_as_decoded_in_process(tmp_path: Path, embedder, name: str, size) -> None:
    """The worker does the model's Resize (less through the pipe); the model's input must not change by a bit."""
    import torch

    from desktop_app.core.ingest.images import load_image
    from desktop_app.core.ingest.items import Item

    path = tmp_path / name
    save_shape(tmp_path / "drawn.png", "purple", "triangle", px=max(size))
    Image.open(tmp_path / "drawn.png").resize(size).save(path)
    assert embedding_settings.worker_resize(embedder) is not None  # the tiny model's transform is the plain one
    item = Item(path=path, kind="image", size=path.stat().st_size, mtime_ns=path.stat().st_mtime_ns)
    sandboxed, partial = embedding_settings.decode_item(item, embedder, sandbox.DecodeLimits())
    assert not partial
    assert torch.equal(sandboxed, embedder.preprocess(load_image(path, min_side=embedder.image_size).image))
