"""The Model menu's facts, from a Hugging Face cache laid out in tmp_path the way huggingface_hub writes it:
which recommended models are on disk, and removing one deletes that model's files and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hf_cache import fake_download

from desktop_app.core.embedding.downloads import RECOMMENDED, downloaded, remove_download
from desktop_app.core.embedding.embed import HF_HUB_WEIGHTS, ModelSpec, pretrained_weights


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    folder = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(folder))
    return folder


def test_the_recommended_list_names_the_repositories_open_clip_downloads_from() -> None:
    """The menu reads the repo from this list (no open_clip import on the GUI thread): it must be open_clip's."""
    for rec in RECOMMENDED:
        repo, names, _ = pretrained_weights(ModelSpec.parse(rec.model))
        assert rec.repo == repo and set(names) <= set(HF_HUB_WEIGHTS)
        assert 300 < rec.size_mb < 700 and 50 < rec.imagenet_top1 < 90


def test_only_models_with_weights_count_as_downloaded(hub: Path) -> None:
    assert downloaded() == {}  # no cache folder at all yet: nothing downloaded, no error
    default, faster = RECOMMENDED[0], RECOMMENDED[1]
    fake_download(hub, default.repo, {"open_clip_config.json": b"{}", HF_HUB_WEIGHTS[0]: b"w" * 5000})
    fake_download(hub, faster.repo, {"open_clip_config.json": b"{}"})  # cancelled before the weights
    found = downloaded()
    assert list(found) == [default.repo] and found[default.repo] >= 5000


def test_removing_a_model_deletes_exactly_its_files(hub: Path) -> None:
    default, accurate = RECOMMENDED[0], RECOMMENDED[2]
    gone = fake_download(hub, default.repo, {"open_clip_config.json": b"{}", HF_HUB_WEIGHTS[0]: b"w" * 5000})
    fake_download(hub, default.repo, {HF_HUB_WEIGHTS[1]: b"old" * 100}, commit="1" * 40)  # an older revision
    kept = fake_download(hub, accurate.repo, {"open_clip_config.json": b"{}", HF_HUB_WEIGHTS[0]: b"k" * 3000})
    kept_files = sorted(p.relative_to(hub) for p in kept.rglob("*"))
    other = hub / "unrelated.txt"
    other.write_text("not a model")

    assert remove_download(default.repo) >= 5000
    assert not gone.exists()
    assert sorted(p.relative_to(hub) for p in kept.rglob("*")) == kept_files and other.exists()
    assert list(downloaded()) == [accurate.repo]
    assert remove_download(default.repo) == 0  # already gone: nothing to do, no error


def test_removing_a_download_cancelled_before_its_first_snapshot(hub: Path) -> None:
    """A half-fetched file (``.incomplete``, no snapshot yet) is in no revision; removing still frees it."""
    folder = hub / ("models--" + RECOMMENDED[0].repo.replace("/", "--"))
    (folder / "blobs").mkdir(parents=True)
    (folder / "blobs" / "abc.incomplete").write_bytes(b"x" * 2000)
    assert downloaded() == {}
    assert remove_download(RECOMMENDED[0].repo) == 2000 and not folder.exists()


def test_removing_one_model_leaves_another_at_the_same_commit(hub: Path) -> None:
    """Two repositories at one commit hash (a mirror, the test hub): removing either leaves the other whole."""
    default, accurate = RECOMMENDED[0], RECOMMENDED[2]
    for gone, kept in ((default, accurate), (accurate, default)):
        for rec in (gone, kept):
            if not (hub / ("models--" + rec.repo.replace("/", "--"))).exists():
                fake_download(hub, rec.repo, {HF_HUB_WEIGHTS[0]: rec.repo.encode() * 100})
        kept_folder = hub / ("models--" + kept.repo.replace("/", "--"))
        kept_files = sorted(kept_folder.rglob("*"))
        assert remove_download(gone.repo) > 0
        assert sorted(kept_folder.rglob("*")) == kept_files and list(downloaded()) == [kept.repo]
