"""CLIP models through open_clip: naming them, fetching their weights, and embedding images and text.

Model names (``--model``):
  * ``ARCH:TAG``         an open_clip architecture with a published pretrained tag (``ViT-B-32-256:datacomp_s34b_b86k``)
  * ``hf-hub:org/repo``  an open_clip model on the Hugging Face hub
  * ``local-dir:PATH``   a folder with ``open_clip_config.json`` + ``open_clip_model.safetensors``

torch and open_clip are imported inside the functions that need them, so importing this module is cheap.
Weights are only ever read as safetensors or with ``torch.load(weights_only=True)`` (open_clip's default).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from desktop_app.core.errors import BadArgument, ModelUnavailable, PhotoAtlasError
from desktop_app.core.files import sha256_file  # noqa: F401  (re-exported: the pipeline hashes weights)
from desktop_app.core.model_names import DEFAULT_MODEL, FASTER_MODEL, MORE_ACCURATE_MODEL  # noqa: F401

# Chosen from open_clip's published zero-shot results and our CPU measurement (README, "Choosing the model").

MAX_TEXT_WINDOWS = 16  # a long note is embedded from at most this many 77-token windows
# Bump when the way vectors are computed changes, so old cached vectors are not mixed with new ones.
EMBEDDING_RECIPE = 1

ProgressCallback = Callable[[int, int | None], None]  # (bytes done, bytes total)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``--model`` value."""

    kind: Literal["pretrained", "hf-hub", "local-dir"]
    name: str  # architecture, hub repo id, or folder
    tag: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """Parse ``ARCH:TAG``, ``hf-hub:org/repo`` or ``local-dir:PATH``; raises ``BadArgument``."""
        text = text.strip()
        if text.startswith("local-dir:"):
            folder = Path(text[len("local-dir:"):]).expanduser()
            if not str(folder):
                raise BadArgument("local-dir: needs a folder, e.g. local-dir:/path/to/model")
            return cls("local-dir", str(folder.resolve()))
        if text.startswith("hf-hub:"):
            repo = text[len("hf-hub:"):]
            if repo.count("/") != 1:
                raise BadArgument(f"hf-hub: needs org/repo, got {repo!r}")
            return cls("hf-hub", repo)
        arch, sep, tag = text.partition(":")
        if not sep or not arch or not tag:
            raise BadArgument(
                f"unknown model {text!r}: use ARCH:TAG (e.g. {DEFAULT_MODEL}), hf-hub:org/repo or local-dir:PATH"
            )
        return cls("pretrained", arch, tag)

    def __str__(self) -> str:
        if self.kind == "pretrained":
            return f"{self.name}:{self.tag}"
        return f"{self.kind}:{self.name}"


def _local_weights(folder: Path) -> Path:
    for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                 "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth"):
        if (folder / name).is_file():
            return folder / name
    raise ModelUnavailable(
        f"no weights in {folder}: expected open_clip_model.safetensors next to open_clip_config.json")


def _local_config(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise ModelUnavailable(f"model folder not found: {folder}")
    cfg_path = folder / "open_clip_config.json"
    try:
        return json.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelUnavailable(f"{folder} is not an open_clip model folder (no open_clip_config.json)") from None
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot read {cfg_path}: {exc}") from None


def _offline_message(spec: ModelSpec | str, endpoint: str | None = None) -> str:
    where = "huggingface.co"
    if endpoint:
        where = urlsplit(endpoint).netloc or endpoint
        proxy = _proxy_for(endpoint)
        if proxy:
            where += f" through the proxy {proxy}"
    return (
        f"model {spec} is not downloaded and PhotoAtlas is offline (or cannot reach {where}). "
        f"Download it once while online (photoatlas embed --model {spec} on any folder), "
        f"or pass a local model folder: --model local-dir:PATH"
    )


def _proxy_for(url: str) -> str | None:
    """The proxy the environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY) sends ``url`` through, if any:
    named in the offline message, since a wrong proxy setting looks just like being offline."""
    import urllib.request

    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    # The environment's NO_PROXY rule (urllib has it, undocumented; the platform's own proxy_bypass also reads the
    # system settings, which the download does not use).
    bypass: Callable[[str, dict[str, str]], bool] = vars(urllib.request)["proxy_bypass_environment"]
    if not proxy or bypass(parts.netloc, proxies):
        return None
    return proxy


class _ByteProgress:
    """A tqdm stand-in handed to huggingface_hub so download bytes reach our progress events.

    ``callback`` may raise (``Cancelled``): huggingface_hub then stops reading, closes the connection and deletes
    its temporary file, so a cancelled download stops at the next chunk and leaves nothing a later run trusts.
    """

    callback: ProgressCallback | None = None

    def __init__(self, *args: Any, total: int | None = None, initial: int = 0, **kwargs: Any) -> None:
        self.total = total
        self.n = initial

    def update(self, n: int | float | None = 1) -> None:
        self.n += int(n or 0)  # negative after a server ignored a Range request and the download restarted
        if self.callback:
            self.callback(self.n, self.total)

    def __enter__(self) -> _ByteProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None

    def set_description(self, *args: Any, **kwargs: Any) -> None:
        return None

    def refresh(self) -> None:
        return None

    def __getattr__(self, name: str) -> Callable[..., None]:
        # Any other tqdm method huggingface_hub may call (set_postfix, clear, ...) is a no-op here.
        return lambda *args, **kwargs: None


# huggingface_hub reads the body in 10 MB pieces, so progress and Cancel would move in 10 MB steps (seconds on a
# slow line). 256 KiB keeps both responsive and costs nothing measurable (a few thousand calls per model).
_DOWNLOAD_CHUNK = 256 * 1024


def _hf_download(repo: str, filenames: Sequence[str], *, offline: bool,
                 on_bytes: ProgressCallback | None, label: str | None = None) -> Path:
    """Fetch the first of ``filenames`` that exists in ``repo`` into the standard Hugging Face cache (shared with
    other tools; ``HF_HOME``/``HF_HUB_CACHE`` move it) and return its path.

    A file already in the cache is returned without any request. Otherwise huggingface_hub downloads it through
    its own HTTP client, which honours ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``; it resumes a connection that
    drops mid-file with a ``Range`` request, and moves the file into the cache only once it is complete.
    Raises ``ModelUnavailable`` with one line naming ``label`` (the model) and what went wrong; ``on_bytes``
    may raise ``Cancelled``, which is passed on.
    """
    label = label or repo
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    import huggingface_hub
    from huggingface_hub import constants as hf_constants

    if offline:
        hf_constants.HF_HUB_OFFLINE = True
    # Already downloaded? Then no network at all: no HEAD request on every run, and works without a network.
    # (try_to_load_from_cache, not hf_hub_download(local_files_only=True): the latter builds request headers,
    # and that alone fetches the hub's agent registry once a day.)
    for filename in filenames:
        cached = huggingface_hub.try_to_load_from_cache(repo, filename)
        if isinstance(cached, str):
            return Path(cached)
    if offline or hf_constants.is_offline_mode():
        raise ModelUnavailable(_offline_message(label), details=f"{repo} is not in the local Hugging Face cache")
    _check_reachable(hf_constants.ENDPOINT, label)
    hf_constants.DOWNLOAD_CHUNK_SIZE = min(hf_constants.DOWNLOAD_CHUNK_SIZE, _DOWNLOAD_CHUNK)
    progress = type("Progress", (_ByteProgress,), {"callback": staticmethod(on_bytes) if on_bytes else None})
    missing: list[str] = []
    for filename in filenames:
        try:
            return Path(huggingface_hub.hf_hub_download(repo, filename, tqdm_class=progress))
        except huggingface_hub.errors.RemoteEntryNotFoundError:
            missing.append(filename)  # the repo exists but not this file name: try the next one
        except PhotoAtlasError:
            raise  # Cancelled, from on_bytes
        except Exception as exc:
            raise ModelUnavailable(_download_failure(label, hf_constants.ENDPOINT, exc), details=repr(exc)) from None
    raise ModelUnavailable(f"model {label}: {repo} on {hf_constants.ENDPOINT} has no {' or '.join(missing)}")


def _download_failure(label: str, endpoint: str, exc: BaseException) -> str:
    """One line for a failed download: offline/unreachable, the server's error, a full disk, or a dropped line."""
    import errno

    import httpx2
    from huggingface_hub import errors as hf_errors

    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 10:  # huggingface_hub wraps the cause (LocalEntryNotFoundError)
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    for err in chain:
        if isinstance(err, hf_errors.RepositoryNotFoundError):
            return f"model {label}: no such repository on {host} (or it is private)"
        if isinstance(err, hf_errors.HfHubHTTPError) and err.response is not None:
            return (f"model {label} could not be downloaded: {host} answered HTTP {err.response.status_code}; "
                    f"nothing was kept, try again later")
        if isinstance(err, httpx2.ProxyError):
            return f"model {label} could not be downloaded: the proxy refused the connection ({err})"
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return (f"model {label} could not be saved: {err.strerror} in the Hugging Face cache "
                    f"({_hf_cache_dir()}); free some space and try again")
    for err in chain:
        if isinstance(err, (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.ReadTimeout)):
            return f"model {label} could not be downloaded: the connection to {host} kept dropping; try again"
        if isinstance(err, (httpx2.ConnectError, httpx2.TimeoutException, hf_errors.LocalEntryNotFoundError)):
            return _offline_message(label, endpoint)
    return f"model {label} could not be downloaded from {host}: {exc}"


def _check_reachable(endpoint: str, label: str, timeout: float = 5.0) -> None:
    """Fail fast with the offline message: huggingface_hub retries an unreachable hub for about 25 s.

    One HEAD request through huggingface_hub's own HTTP client, so it goes where the download will go:
    through ``HTTPS_PROXY``/``HTTP_PROXY`` unless ``NO_PROXY`` names the host (a raw socket probe ignored
    them and told people behind a company proxy that they were offline). Any HTTP answer means reachable.
    """
    import httpx2
    from huggingface_hub.utils import get_session

    try:
        get_session().head(endpoint, timeout=timeout, follow_redirects=False)
    except httpx2.ProxyError as exc:
        raise ModelUnavailable(f"model {label} could not be downloaded: the proxy refused the connection ({exc})",
                               details=repr(exc)) from None
    except httpx2.TransportError as exc:  # refused, no route, DNS, timeout
        raise ModelUnavailable(_offline_message(label, endpoint), details=repr(exc)) from None


def _hf_cache_dir() -> str:
    from huggingface_hub import constants as hf_constants

    return str(hf_constants.HF_HUB_CACHE)


@dataclass
class ResolvedModel:
    """Where a model's weights are and what identifies its output (the cache key)."""

    spec: ModelSpec
    identity: dict[str, Any]
    key: str


HF_HUB_CONFIG = ["open_clip_config.json"]  # an hf-hub: model's files, by the names open_clip publishes them
HF_HUB_WEIGHTS = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]


def pretrained_weights(spec: ModelSpec) -> tuple[str, list[str], dict[str, Any]]:
    """Where an open_clip ``ARCH:TAG`` model's weights live on the Hugging Face hub: ``(repo, file names to try,
    the tag's config)``. Raises ``BadArgument`` for an unknown architecture or tag, ``ModelUnavailable`` for
    weights published only as a direct download. Imports open_clip (and torch): call it off the GUI thread."""
    import open_clip

    if spec.name not in open_clip.list_models():
        raise BadArgument(f"unknown open_clip architecture {spec.name!r} (see open_clip.list_models())")
    tag_cfg = open_clip.get_pretrained_cfg(spec.name, spec.tag)
    if not tag_cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(spec.name)) or "none"
        raise BadArgument(f"{spec.name} has no pretrained tag {spec.tag!r}; known tags: {tags}")
    hub = tag_cfg.get("hf_hub", "")
    if not hub:
        raise ModelUnavailable(f"{spec} is only published as a direct download; use hf-hub: or local-dir:")
    # Same convention as open_clip: "org/repo/file" names a file, "org/repo/" means the default name.
    repo, filename = os.path.split(hub)
    filename = filename or "open_clip_pytorch_model.bin"
    names = [filename]
    if filename.endswith(".bin"):
        names.insert(0, filename.replace("pytorch_model.bin", "model.safetensors"))
    return repo, names, tag_cfg


def resolve_model(spec: ModelSpec, *, offline: bool = False, on_bytes: ProgressCallback | None = None,
                  digest: Callable[[Path], str] = sha256_file) -> ResolvedModel:
    """Make sure the weights are on disk (downloading them unless ``offline``) and compute the model's
    identity: architecture, weights (tag or checkpoint hash) and preprocessing. Does not build the model.

    Raises ``ModelUnavailable`` with a message that says what to download or which folder to pass.
    """
    identity: dict[str, Any] = {"recipe": EMBEDDING_RECIPE, "spec": str(spec)}
    if spec.kind == "local-dir":
        folder = Path(spec.name)
        cfg = _local_config(folder)
        identity.update(model_cfg=cfg.get("model_cfg", cfg), preprocess=cfg.get("preprocess_cfg", {}),
                        weights_sha256=digest(_local_weights(folder)))
        identity["spec"] = "local-dir"  # the same weights moved to another folder give the same vectors
    elif spec.kind == "hf-hub":
        cfg_file = _hf_download(spec.name, HF_HUB_CONFIG, offline=offline, on_bytes=None, label=str(spec))
        weights = _hf_download(spec.name, HF_HUB_WEIGHTS, offline=offline, on_bytes=on_bytes, label=str(spec))
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
        # weights_file (not part of the key): Embedder.load builds from the cached snapshot folder, so a model
        # in the cache loads without asking the hub again.
        identity.update(preprocess=cfg.get("preprocess_cfg", {}), weights_sha256=digest(weights),
                        weights_file=str(weights))
    else:
        repo, names, tag_cfg = pretrained_weights(spec)
        weights = _hf_download(repo, names, offline=offline, on_bytes=on_bytes, label=str(spec))
        identity.update(weights_file=str(weights),
                        preprocess={k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode")
                                    if k in tag_cfg})
    canonical = json.dumps({k: v for k, v in identity.items() if k != "weights_file"}, sort_keys=True)
    return ResolvedModel(spec=spec, identity=identity, key=hashlib.sha256(canonical.encode()).hexdigest()[:20])


def pick_device(requested: str = "auto") -> str:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit device must be available."""
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise BadArgument("--device cuda: no CUDA GPU is available (torch.cuda.is_available() is False)")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BadArgument("--device mps: Apple's Metal backend is not available on this machine")
    if requested not in ("cpu", "cuda", "mps"):
        raise BadArgument(f"unknown device {requested!r}: use auto, cpu, cuda or mps")
    return requested


_torch_threads_lock = threading.Lock()


class Embedder:
    """One open_clip model for images and text; every output row is L2-normalised float32."""

    def __init__(self, model: Any, preprocess: Callable[[Any], Any], tokenizer: Any, device: str,
                 resolved: ResolvedModel) -> None:
        self.model = model
        self.preprocess = preprocess  # the model's own transform: PIL image -> tensor
        self.tokenizer = tokenizer
        self.device = device
        self.resolved = resolved
        self.dtype: Any = None  # torch.float16 on CUDA, else the model's own
        vis = getattr(model, "visual", None)
        size = getattr(vis, "image_size", 224)
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.context_length = int(getattr(tokenizer, "context_length", 77))

    @classmethod
    def load(cls, resolved: ResolvedModel, device: str = "auto", threads: int | None = None) -> Embedder:
        """Build the model on ``device`` (fp16 on CUDA). ``threads`` caps torch's CPU threads."""
        import open_clip
        import torch

        dev = pick_device(device)
        if threads and dev == "cpu":
            with _torch_threads_lock:
                torch.set_num_threads(threads)
        spec = resolved.spec
        try:
            if spec.kind == "pretrained":
                pre = resolved.identity.get("preprocess", {})
                model, _, preprocess = open_clip.create_model_and_transforms(
                    spec.name, pretrained=resolved.identity["weights_file"], device=dev,
                    image_mean=pre.get("mean"), image_std=pre.get("std"),
                    image_interpolation=pre.get("interpolation"), image_resize_mode=pre.get("resize_mode"),
                    force_quick_gelu=bool(open_clip.get_pretrained_cfg(spec.name, spec.tag).get("quick_gelu")),
                )
                tokenizer = open_clip.get_tokenizer(spec.name)
            else:
                name = f"{spec.kind}:{spec.name}"
                if spec.kind == "hf-hub" and "weights_file" in resolved.identity:
                    # The snapshot folder in the Hugging Face cache holds the config and the weights (resolve_model
                    # fetched both): loading it as a local folder sends no request to the hub.
                    name = f"local-dir:{Path(resolved.identity['weights_file']).parent}"
                model, _, preprocess = open_clip.create_model_and_transforms(name, device=dev)
                tokenizer = open_clip.get_tokenizer(name)
        except Exception as exc:
            raise ModelUnavailable(f"cannot load model {spec}: {exc}".splitlines()[0], details=repr(exc)) from None
        model.eval()
        emb = cls(model, preprocess, tokenizer, dev, resolved)
        if dev == "cuda":
            model.half()
            emb.dtype = torch.float16
        return emb

    # -- images -----------------------------------------------------------------------------------
    def embed_pixels(self, batch: Any) -> np.ndarray:
        """Embed a stacked batch of preprocessed image tensors (N, 3, H, W)."""
        import torch

        with torch.inference_mode():
            x = batch.to(self.device, dtype=self.dtype or batch.dtype, non_blocking=True)
            feats = self.model.encode_image(x)
        return _normalise(feats.float().cpu().numpy())

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        """Embed PIL images (already RGB) with the model's own preprocessing."""
        import torch

        if not images:
            return np.zeros((0, self.dim), np.float32)
        return self.embed_pixels(torch.stack([self.preprocess(im) for im in images]))

    # -- text -------------------------------------------------------------------------------------
    def _windows(self, text: str) -> list[Any]:
        """Split a text into token windows that fit the text tower (context length, e.g. 77 tokens)."""
        import torch

        inner = getattr(self.tokenizer, "tokenizer", self.tokenizer)
        encode = getattr(inner, "encode", None)
        sot = getattr(inner, "sot_token_id", None)
        eot = getattr(inner, "eot_token_id", None)
        if encode is None or sot is None or eot is None:
            # Not open_clip's BPE tokenizer: window by words instead (about 1.3 tokens per word).
            words = text.split()
            step = max(1, int((self.context_length - 2) / 1.5))
            chunks = [" ".join(words[i:i + step]) for i in range(0, len(words), step)][:MAX_TEXT_WINDOWS]
            return list(self.tokenizer(chunks or [""]))
        ids = encode(text)
        width = self.context_length - 2
        rows = []
        for start in range(0, max(len(ids), 1), width):
            row = torch.zeros(self.context_length, dtype=torch.long)
            piece = [sot, *ids[start:start + width], eot]
            row[: len(piece)] = torch.tensor(piece)
            rows.append(row)
            if len(rows) == MAX_TEXT_WINDOWS:
                break
        return rows

    def embed_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed texts. A text longer than the context is split into windows whose normalised
        embeddings are averaged (then normalised again), so every part of a note counts."""
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        windows: list[Any] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            w = self._windows(text)
            windows.extend(w)
            owner.extend([i] * len(w))
        feats = []
        with torch.inference_mode():
            for start in range(0, len(windows), batch_size):
                tokens = torch.stack(windows[start:start + batch_size]).to(self.device)
                feats.append(_normalise(self.model.encode_text(tokens).float().cpu().numpy()))
        per_window = np.concatenate(feats)
        out = np.zeros((len(texts), per_window.shape[1]), np.float32)
        np.add.at(out, np.asarray(owner), per_window)
        return _normalise(out)

    @property
    def dim(self) -> int:
        return int(getattr(self.model, "embed_dim", 0) or self.model.text_projection.shape[1])


def _normalise(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32, copy=False)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)
