"""Would using a model download it? Answered from the disk alone, so the app can ask before anything touches
the network (a project names its model; opening it on a new machine must not start a 600 MB download).

Mirrors how ``embed.resolve_model`` finds the weights, but never fetches, never sets ``HF_HUB_OFFLINE`` and
never raises: a model it cannot judge (an unknown name) is left to the job, which reports it properly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from desktop_app.core.embed import DEFAULT_MODEL, FASTER_MODEL, MORE_ACCURATE_MODEL, ModelSpec
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
        files = _cached(spec.name, ["open_clip_config.json"]) and _cached(
            spec.name, ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"])
        return None if files else Download(model, spec.name, KNOWN_SIZES_MB.get(model))
    import open_clip  # torch comes with it: call this off the GUI thread

    if spec.name not in open_clip.list_models():
        return None
    hub = (open_clip.get_pretrained_cfg(spec.name, spec.tag) or {}).get("hf_hub", "")
    if not hub:
        return None
    repo, filename = os.path.split(hub)
    filename = filename or "open_clip_pytorch_model.bin"
    names = [filename, filename.replace("pytorch_model.bin", "model.safetensors")]
    return None if _cached(repo, names) else Download(model, repo, KNOWN_SIZES_MB.get(model))
