"""The tiny real CLIP proves real behaviour: pictures sit near their captions, notes near their pictures."""

from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, save_shape

from desktop_app.core.embedding.embed import ModelSpec, resolve_model
from desktop_app.core.errors import BadArgument, ModelUnavailable
from desktop_app.core.ingest.images import load_image


def test_images_sit_nearest_their_own_caption(embedder, tmp_path: Path) -> None:
    pics = [save_shape(tmp_path / f"rc{i}.png", "red", "circle", px=128, seed=i) for i in range(3)]
    pics += [save_shape(tmp_path / f"bs{i}.png", "blue", "square", px=128, seed=i) for i in range(3)]
    vecs = embedder.embed_images([load_image(p).image for p in pics])
    texts = embedder.embed_texts(["a red circle", "a blue square"])
    assert vecs.dtype == np.float32 and texts.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    sims = vecs @ texts.T
    assert (sims[:3, 0] > sims[:3, 1]).all()
    assert (sims[3:, 1] > sims[3:, 0]).all()


def test_a_note_describing_a_shape_sits_near_that_shapes_pictures(embedder, tmp_path: Path) -> None:
    red = embedder.embed_images([load_image(save_shape(tmp_path / "r.png", "red", "circle")).image])
    blue = embedder.embed_images([load_image(save_shape(tmp_path / "b.png", "blue", "square")).image])
    note = embedder.embed_texts(["A red circle, bright like a tomato."])
    assert (note @ red.T).item() > (note @ blue.T).item()


def test_long_text_is_windowed_and_every_part_counts(embedder) -> None:
    filler = "a red circle. " * 60  # far more than 77 tokens
    assert len(embedder._windows(filler + "a blue square. " * 60)) >= 4
    (mixed,) = embedder.embed_texts([filler + "a blue square. " * 60])
    red, blue = embedder.embed_texts(["a red circle", "a blue square"])
    # Both halves of the note are seen: it is closer to "a blue square" than a red-only note is.
    (red_only,) = embedder.embed_texts([filler * 2])
    assert float(mixed @ blue) > float(red_only @ blue) + 0.05
    assert np.isclose(np.linalg.norm(mixed), 1, atol=1e-5)


def test_model_spec_parsing() -> None:
    assert ModelSpec.parse("ViT-B-32:laion2b_s34b_b79k") == ModelSpec("pretrained", "ViT-B-32", "laion2b_s34b_b79k")
    assert ModelSpec.parse("hf-hub:laion/x").kind == "hf-hub"
    assert ModelSpec.parse(TINY_MODEL).kind == "local-dir"
    for bad in ("ViT-B-32", "hf-hub:nope", ":tag"):
        with pytest.raises(BadArgument):
            ModelSpec.parse(bad)


def test_missing_pretrained_weights_offline_give_a_clear_message() -> None:
    with pytest.raises(ModelUnavailable) as err:
        resolve_model(ModelSpec.parse("ViT-B-32:laion2b_s34b_b79k"), offline=True)
    msg = err.value.user_message
    assert "not downloaded" in msg and "local-dir:" in msg


def test_unknown_tag_is_a_bad_argument_listing_known_tags() -> None:
    with pytest.raises(BadArgument, match="laion2b_s34b_b79k"):
        resolve_model(ModelSpec.parse("ViT-B-32:no_such_tag"), offline=True)


def test_local_dir_without_weights_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "open_clip_config.json").write_text("{}")
    with pytest.raises(ModelUnavailable, match="no weights"):
        resolve_model(ModelSpec.parse(f"local-dir:{tmp_path}"))


def test_download_bytes_reach_the_progress_callback() -> None:
    # huggingface_hub drives a tqdm-like class during downloads; ours forwards bytes done / total.
    from desktop_app.core.embedding.embed import _ByteProgress

    seen: list[tuple[int, int | None]] = []
    progress = type("P", (_ByteProgress,), {"callback": staticmethod(lambda d, t: seen.append((d, t)))})
    with progress(total=1000, unit="B", desc="open_clip_model.safetensors") as bar:
        bar.update(400)
        bar.set_postfix(speed="fast")
        bar.update(600)
    assert seen == [(400, 1000), (1000, 1000)]


def test_needed_download_answers_from_the_disk_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The question the window asks before a job: what would be fetched, from where, how big — and nothing for
    weights already in the Hugging Face cache, local folders or names the job itself will reject."""
    from huggingface_hub import constants

    from desktop_app.core.embedding.downloads import needed_download
    from desktop_app.core.embedding.embed import DEFAULT_MODEL, HF_HUB_WEIGHTS

    hub = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    wanted = needed_download(DEFAULT_MODEL)
    assert wanted is not None and wanted.repo.startswith("laion/") and wanted.size_mb == 605
    assert needed_download("hf-hub:someone/some-clip") is not None
    assert needed_download(TINY_MODEL) is None
    assert needed_download("NoSuchArch:nothing") is None

    # The weights as huggingface_hub lays them out in its cache: the model is on disk, nothing to ask.
    snapshot = hub / "models--someone--some-clip" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for name in ("open_clip_config.json", HF_HUB_WEIGHTS[0]):
        (snapshot / name).write_text("{}")
    (hub / "models--someone--some-clip" / "refs").mkdir()
    (hub / "models--someone--some-clip" / "refs" / "main").write_text("0" * 40)
    assert needed_download("hf-hub:someone/some-clip") is None
