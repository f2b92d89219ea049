"""The GPU-decoding path's routing and results, run on the CPU (decode_device="cpu") with the tiny model.

On a CUDA machine benchmarks/gpu_embed.py runs the same checks with nvJPEG (and measures the speed)."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from jpeg_zoo import EXPECTED, make_zoo
from PIL import Image, ImageOps

from desktop_app.core.embedding import gpu_decode
from desktop_app.core.embedding.cpu_batches import cpu_batches as _embed_images
from desktop_app.core.embedding.gpu_decode import CPU, GPU, GPU_ALONE, Route, device_preprocess, gpu_batches, orient
from desktop_app.core.embedding.pipeline import EmbedSettings, _image_batches
from desktop_app.core.ingest.items import Item, scan

# torchvision 0.29 marks its image decoders deprecated (in favour of TorchCodec) on every call.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:torchvision.io.image")


def _items(folder: Path) -> list[Item]:
    return [i for i in scan([folder]) if isinstance(i, Item) and i.kind == "image"]


def _collect(batches) -> tuple[dict[str, tuple[str, np.ndarray]], dict[str, str], list[int]]:
    """name -> (status, vector); name -> unreadable reason; the number of pictures embedded per batch."""
    rows, failed, sizes = {}, {}, []
    for got, bad in batches:
        sizes.append(len(got))
        for item, status, vec in got:
            assert item.path.name not in rows, f"{item.path.name} embedded twice"
            rows[item.path.name] = (status, vec)
        for item, exc in bad:
            failed[item.path.name] = exc.user_message
    return rows, failed, sizes


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> list[Item]:
    folder = tmp_path_factory.mktemp("zoo")
    make_zoo(folder)
    return _items(folder)


@pytest.fixture(scope="module")
def cpu_way(zoo, embedder):
    return _collect(_embed_images(zoo, embedder, EmbedSettings(batch_size=5), 2))


def _assert_same_as_cpu(got, cpu_way) -> None:
    rows, failed, sizes = got
    cpu_rows, cpu_failed, cpu_sizes = cpu_way
    # Batches of batch_size pictures at most (the CPU path fills a batch up to batch_size readable ones; this
    # path takes batch_size files, unreadable ones included, as it cannot know them before decoding)
    assert max(sizes) <= max(cpu_sizes) and sum(sizes) == sum(cpu_sizes)
    assert failed == cpu_failed  # the same files, with the same reasons
    assert rows.keys() == cpu_rows.keys()
    for name, (status, vec) in rows.items():
        cpu_status, cpu_vec = cpu_rows[name]
        assert status == cpu_status, name
        assert float(vec @ cpu_vec) >= 0.999, (name, float(vec @ cpu_vec))


def test_jpegs_by_content_are_decoded_by_the_device_decoder_and_the_rest_the_cpu_way(zoo, embedder, cpu_way):
    routes: dict[Path, Route] = {}
    got = _collect(gpu_batches(zoo, embedder, EmbedSettings(batch_size=5), 2, decode_device="cpu", routes=routes))

    assert {name: status for name, (status, _) in got[0].items()} | {n: "failed" for n in got[1]} == {
        name: status for name, (status, _) in EXPECTED.items()}
    assert got[1]["corrupt.jpg"] == cpu_way[1]["corrupt.jpg"]
    _assert_same_as_cpu(got, cpu_way)
    assert {path.name: route.way for path, route in routes.items()} == {
        name: way for name, (_, way) in EXPECTED.items()}
    why = {path.name: route.why for path, route in routes.items()}
    assert why["cmyk.jpg"] == "CMYK JPEG"
    assert why["png-named.jpg"] == why["picture.png"] == "not a JPEG"
    assert why["truncated.jpg"] == "no end-of-image marker (truncated)"


def test_a_picture_over_the_pixel_limit_is_refused_with_the_cpu_paths_reason(zoo, embedder):
    settings = EmbedSettings(batch_size=5, max_pixels=1_000_000)
    routes: dict[Path, Route] = {}
    got = _collect(gpu_batches(zoo, embedder, settings, 2, decode_device="cpu", routes=routes))
    cpu = _collect(_embed_images(zoo, embedder, settings, 2))

    assert "big.jpg" in got[1] and "over the limit of 1,000,000 pixels" in got[1]["big.jpg"]
    _assert_same_as_cpu(got, cpu)
    assert next(r for p, r in routes.items() if p.name == "big.jpg") == Route(CPU, "over the pixel limit")


def test_a_file_the_batch_decoder_rejects_does_not_fail_the_others(zoo, embedder, cpu_way, monkeypatch):
    import torchvision.io

    real = torchvision.io.decode_jpeg
    bad = torch.frombuffer(bytearray(next(i for i in zoo if i.path.name == "plain.jpg").path.read_bytes()),
                           dtype=torch.uint8)
    calls = []

    def refuses_plain(data, **kw):
        calls.append(len(data) if isinstance(data, list) else 1)
        if any(torch.equal(t, bad) for t in (data if isinstance(data, list) else [data])):
            raise RuntimeError("nvjpeg: this one, no")
        return real(data, **kw)

    monkeypatch.setattr(torchvision.io, "decode_jpeg", refuses_plain)
    routes: dict[Path, Route] = {}
    got = _collect(gpu_batches(zoo, embedder, EmbedSettings(batch_size=5), 2, decode_device="cpu", routes=routes))

    _assert_same_as_cpu(got, cpu_way)  # every file still embedded, plain.jpg too (the CPU way)
    ways = {path.name: route for path, route in routes.items()}
    assert ways["plain.jpg"].way == CPU and "rejected" in ways["plain.jpg"].why
    start = [i.path.name for i in zoo].index("plain.jpg") // 5 * 5
    batch_of_plain = {i.path.name for i in zoo[start:start + 5]}
    for name, route in ways.items():
        expected_way = EXPECTED[name][1]
        if name in batch_of_plain and expected_way == GPU and name != "plain.jpg":
            assert route.way == GPU_ALONE, name  # retried alone after the batch call failed
        elif name != "plain.jpg":
            assert route.way == expected_way, name
    assert max(calls) > 1  # the batches were decoded in one call each


def test_orientation_matches_pillows_exif_transpose_for_all_eight():
    pattern = np.arange(5 * 3 * 3, dtype=np.uint8).reshape(5, 3, 3) * 5  # asymmetric: every turn shows
    for orientation in range(1, 9):
        im = Image.fromarray(pattern)
        im.getexif()[0x0112] = orientation
        want = np.asarray(ImageOps.exif_transpose(im))
        got = orient(torch.from_numpy(pattern).permute(2, 0, 1), orientation).permute(1, 2, 0).numpy()
        assert np.array_equal(got, want), orientation


def test_a_model_transform_other_than_resize_and_crop_sends_every_picture_the_cpu_way(zoo, embedder):
    from open_clip.transform import image_transform

    assert device_preprocess(embedder.preprocess) is not None
    squash = copy.copy(embedder)
    squash.preprocess = image_transform(32, is_train=False, resize_mode="squash")
    assert device_preprocess(squash.preprocess) is None
    routes: dict[Path, Route] = {}
    got = _collect(gpu_batches(zoo, squash, EmbedSettings(batch_size=5), 2, decode_device="cpu", routes=routes))

    assert {r.way for r in routes.values()} == {CPU}
    _assert_same_as_cpu(got, _collect(_embed_images(zoo, squash, EmbedSettings(batch_size=5), 2)))


def test_closing_early_stops_the_decode_thread(zoo, embedder):
    batches = gpu_batches(zoo, embedder, EmbedSettings(batch_size=2), 2, decode_device="cpu")
    next(batches)
    batches.close()
    assert not [t for t in threading.enumerate() if t.name == "photoatlas-gpu-decode"]


def test_a_cuda_model_embeds_through_gpu_batches(zoo, embedder, tiny_resolved, monkeypatch):
    seen = []
    monkeypatch.setattr(gpu_decode, "gpu_batches", lambda items, emb, settings, workers: seen.append(emb) or iter(()))
    on_cuda = copy.copy(embedder)
    on_cuda.device = "cuda"

    list(_image_batches(zoo, on_cuda, tiny_resolved, EmbedSettings()))
    list(_image_batches(zoo, embedder, tiny_resolved, EmbedSettings(batch_size=50)))
    assert seen == [on_cuda]  # and the CPU model still the CPU way


def test_without_a_device_jpeg_decoder_every_picture_goes_the_cpu_way(zoo, embedder, monkeypatch):
    assert gpu_decode.device_decoder_missing("cpu") is None
    monkeypatch.setattr(gpu_decode, "device_decoder_missing", lambda device: "built without nvJPEG")
    routes: dict[Path, Route] = {}
    got = _collect(gpu_batches(zoo, embedder, EmbedSettings(batch_size=5), 2, decode_device="cpu", routes=routes))

    assert set(routes.values()) == {Route(CPU, "built without nvJPEG")}
    assert len(got[0]) == sum(1 for status, _ in EXPECTED.values() if status != "failed")
