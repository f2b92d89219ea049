"""Would using a model download it? Answered from the disk alone, so the app can ask before anything touches
the network (a project names its model; opening it on a new machine must not start a 600 MB download).

Looks where ``embed.resolve_model`` looks (``embed.pretrained_weights``), but never fetches, never sets
``HF_HUB_OFFLINE`` and never raises: a model it cannot judge (an unknown name) is left to the job, which
reports it properly.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop_app.core.embed import (
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
