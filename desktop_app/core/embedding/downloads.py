"""Would using a model download it? Answered from the disk alone, so the app can ask before anything touches
the network (a project names its model; opening it on a new machine must not start a 600 MB download).

Also what the Model menu shows: the recommended models with their download size and published accuracy,
which of them are in the Hugging Face cache, and removing one from it (``scan_cache_dir`` reads only the
cache folder, so all of this is cheap enough for the GUI thread and never imports torch).

Looks where ``embed.resolve_model`` looks (``embed.pretrained_weights``), but never fetches, never sets
``HF_HUB_OFFLINE`` and never raises: a model it cannot judge (an unknown name) is left to the job, which
reports it properly.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.embedding.embed import (
    DEFAULT_MODEL,
    FASTER_MODEL,
    HF_HUB_CONFIG,
    HF_HUB_WEIGHTS,
    MORE_ACCURATE_MODEL,
    ModelSpec,
    pretrained_weights,
)
from desktop_app.core.errors import PhotoAtlasError

# Download sizes of the models the app offers (fp32 weights of ~150 M parameters each).
KNOWN_SIZES_MB = {DEFAULT_MODEL: 605, FASTER_MODEL: 605, MORE_ACCURATE_MODEL: 599}


@dataclass(frozen=True)
class Download:
    """What using the model would fetch: from which Hugging Face repository, and how much (when known)."""

    model: str
    repo: str
    size_mb: int | None = None


def _cached(repo: str, filenames: list[str]) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo, name), str) for name in filenames)


def needed_download(model: str) -> Download | None:
    """None when ``model``'s weights are on this machine (or it is a local folder); else what would be fetched."""
    try:
        spec = ModelSpec.parse(model)
    except PhotoAtlasError:
        return None
    if spec.kind == "local-dir":
        return None
    if spec.kind == "hf-hub":
        repo, files = spec.name, [HF_HUB_CONFIG, HF_HUB_WEIGHTS]
    else:
        try:
            repo, names, _ = pretrained_weights(spec)
        except PhotoAtlasError:  # unknown name or tag, or no hub copy: the job reports it properly
            return None
        files = [names]
    on_disk = all(_cached(repo, names) for names in files)
    return None if on_disk else Download(model, repo, KNOWN_SIZES_MB.get(model))


@dataclass(frozen=True)
class Recommended:
    """A model the app offers by name. ``imagenet_top1`` is quoted from open_clip's published zero-shot results
    table (ImageNet-1k top-1, %), not measured here; ``repo`` is where open_clip fetches its weights (a test
    checks it against ``pretrained_weights``, so this list can be read without importing open_clip)."""

    label: str
    model: str
    repo: str
    size_mb: int
    imagenet_top1: float


RECOMMENDED = (
    Recommended("Default", DEFAULT_MODEL, "laion/CLIP-ViT-B-32-256x256-DataComp-s34B-b86K",
                KNOWN_SIZES_MB[DEFAULT_MODEL], 72.8),
    Recommended("Faster", FASTER_MODEL, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", KNOWN_SIZES_MB[FASTER_MODEL], 66.6),
    Recommended("More accurate", MORE_ACCURATE_MODEL, "apple/DFN2B-CLIP-ViT-B-16",
                KNOWN_SIZES_MB[MORE_ACCURATE_MODEL], 76.2),
)

_WEIGHT_NAMES = frozenset(HF_HUB_WEIGHTS)  # open_clip's weight file names, for ARCH:TAG and hf-hub: alike


def _scan() -> Any:
    """The Hugging Face cache as huggingface_hub sees it, or None when there is no cache folder yet."""
    from huggingface_hub import constants, scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        # HF_HUB_CACHE read now (scan_cache_dir's default was fixed at import): HF_HOME set later still counts.
        return scan_cache_dir(constants.HF_HUB_CACHE)
    except CacheNotFound:
        return None


def downloaded() -> dict[str, int]:
    """The model repositories whose weights are in the Hugging Face cache: ``{repo id: bytes on disk}``.
    A download that was cancelled half-way (no weights file in any snapshot) does not count."""
    info = _scan()
    if info is None:
        return {}
    return {repo.repo_id: repo.size_on_disk for repo in info.repos if repo.repo_type == "model"
            and any(f.file_name in _WEIGHT_NAMES for rev in repo.revisions for f in rev.files)}


def remove_download(repo_id: str) -> int:
    """Delete everything the Hugging Face cache holds for ``repo_id`` (all revisions, and the partial file of a
    cancelled download); other repositories are untouched. Returns the bytes freed (0: it was not there).
    Raises ``OSError`` when a file cannot be deleted (say, open in another program on Windows)."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    info = _scan()
    repo = next((r for r in info.repos if r.repo_id == repo_id and r.repo_type == "model"), None) if info else None
    freed = 0
    if info is not None and repo is not None and repo.revisions:
        freed = repo.size_on_disk
        # delete_revisions matches commit hashes across every repo it was given, and two repos can share one (a
        # mirror, a test hub): give it this repo alone. All its revisions deleted, it removes the whole folder.
        only = dataclasses.replace(info, repos=frozenset({repo}))
        only.delete_revisions(*(rev.commit_hash for rev in repo.revisions)).execute()
    # What a scan does not list (a download cancelled before its first snapshot) goes too.
    folder = Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type="model")
    if folder.exists():
        freed += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
        shutil.rmtree(folder)
    return freed
