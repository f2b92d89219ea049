"""Embedding a library on a Ray cluster (``photoatlas embed PATH... --ray [ADDRESS]``; the ``cluster`` extra).

Where a library outgrows one machine, the pictures are embedded by Ray Data, an existing distributed engine, not
a home-made one. The split of the work:

* the **driver** (this process) scans, looks every file up in the embedding cache and sends only the misses; it
  stays the only writer of the same SQLite cache the desktop app opens, batch by batch as rows stream back, so
  an interrupted run keeps what was done and the next run sends only the rest;
* **decode tasks** on the cluster's CPUs read each file and turn it into the model's input with the very code
  the desktop uses (``images.load_image`` + the model's own preprocessing), so the vectors are the same;
* a pool of **model actors** (one per GPU where the cluster has GPUs, else CPU actors) embeds the batches.

Ray retries a task whose worker died and restarts a dead actor (Ray Data's defaults for ``map_batches``); the
driver keeps each file's first row only and sends any file that did not come back once more, so every file is
stored exactly once. Paths are the same on every node (shared storage) or mapped with ``--path-map A=B``.

Ray is imported inside the functions, so the desktop app never needs it.
"""

from __future__ import annotations

import math
import ntpath
import os
import re
import warnings
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop_app.core.embedding.embed import Embedder, ModelSpec, ResolvedModel, resolve_model
from desktop_app.core.errors import BadArgument, FileAccessError, ModelUnavailable, PhotoAtlasError, UnreadableFile
from desktop_app.core.ingest.images import load_image
from desktop_app.core.ingest.items import Item

if TYPE_CHECKING:
    from desktop_app.core.embedding.settings import Batch, EmbedSettings

MAX_BLOCKS = 10_000  # a Ray block is one batch of files, or more where a library has millions
# What a decode worker takes (measured ~520 MB: the process with torch, a 24-MP JPEG in draft mode, a batch of
# model inputs), with room. Also keeps Ray Data from fusing decoding into the model actors (fused, one CPU would
# decode and embed by turns).
DECODE_MEMORY = 1024 * 1024 * 1024
MAX_DRIVER_BATCH = 512  # vectors the driver stores in one transaction at most (what an interruption may lose)
DECODE_RETRIES = 2  # more tries of a decode task whose worker died, before its files are sent again one by one
MAPPED_MISSES_STOP = 16  # the first files all missing on the workers under --path-map: stop, the map is wrong
ACTORS_WAIT_S = 600  # how long a run waits for its model copies to be placed (a cluster may be adding nodes)
RESEND_ROUNDS = 1  # files a round did not return are sent this many more times before they count as skipped
# In a checkout (bootstrap.py made .venv); where PhotoAtlas is installed as a package: pip install 'photoatlas[cluster]'
INSTALL_HINT = "install the cluster extra: .venv/bin/pip install -e '.[cluster]' in the PhotoAtlas folder"


@dataclass
class RayOptions:
    """How to reach the cluster and how to use it."""

    address: str | None = None  # None: start a Ray on this machine for this run; else "auto" or "ray://host:10001"
    path_map: Sequence[tuple[str, str]] = ()  # (prefix on this machine, the same folder on the workers)
    actors: int | None = None  # model actors (default: one per GPU, else one per 4 CPUs of the cluster)
    actor_cpus: float = 1.0  # CPUs a CPU model actor takes (also its torch threads)
    local_cpus: int | None = None  # the local Ray's CPUs (default: this machine's)
    # Called on the worker as ``on_batch("decode" | "embed", paths)`` before each batch is decoded or embedded:
    # tracing, and the fault-injection tests (a worker that kills itself mid-run). Must be picklable.
    on_batch: Callable[[str, list[str]], None] | None = field(default=None, repr=False)

    @staticmethod
    def parse_path_map(values: Sequence[str]) -> list[tuple[str, str]]:
        """``["/Volumes/Archive=/mnt/archive", ...]`` -> pairs; raises ``BadArgument`` on a value without ``=``."""
        pairs = []
        for value in values:
            here, sep, there = value.partition("=")
            if not sep or not here or not there:
                raise BadArgument(f"--path-map needs FROM=TO (a folder here = the same folder on the workers), "
                                  f"got {value!r}")
            pairs.append((here, there))
        return pairs


def map_path(path: str, path_map: Sequence[tuple[str, str]]) -> str:
    """The worker's name for a path of this machine: the longest matching prefix is replaced (whole folder
    names only, so ``/a/b=/x`` does not touch ``/a/bc``). A Windows path mapped onto a POSIX folder gets ``/``."""
    for here, there in sorted(path_map, key=lambda p: len(p[0]), reverse=True):
        stem = here.rstrip("/\\")
        # A Windows folder (D:\Photos, \\server\share) matches as Windows matches names: any case, either slash.
        same = ntpath.normcase if re.match(r"^([A-Za-z]:|\\\\)", stem) else str
        head = same(path[:len(stem) + 1])
        if head == same(stem) or head in (same(stem + "/"), same(stem + "\\")):
            rest = path[len(stem):]
            return there.rstrip("/\\") + (rest.replace("\\", "/") if there.startswith("/") else rest)
    return path


# -- on the workers ------------------------------------------------------------------------------------------


def decode_batch(batch: dict[str, np.ndarray], *, preprocess: Any, image_size: int, pixel_shape: tuple[int, ...],
                 max_pixels: int | None, on_batch: Callable[[str, list[str]], None] | None = None,
                 ) -> dict[str, np.ndarray]:
    """Ray Data task: read and preprocess each file exactly as the desktop does. A bad file becomes a row with
    status ``unreadable`` (the content) or ``access`` (the disk: retried next run) and its one-line reason."""
    paths = [str(p) for p in batch["path"]]
    if on_batch is not None:
        on_batch("decode", paths)
    pixels = np.zeros((len(paths), *pixel_shape), np.float32)
    status, reason = [], []
    for i, path in enumerate(paths):
        try:
            decoded = load_image(Path(path), min_side=image_size, max_pixels=max_pixels)
            pixels[i] = preprocess(decoded.image).numpy()
        except FileAccessError as exc:
            status.append("access")
            reason.append(exc.user_message)
            continue
        except UnreadableFile as exc:
            status.append("unreadable")
            reason.append(exc.user_message)
            continue
        status.append("partial" if decoded.partial else "ok")
        reason.append("")
    return {"path": np.array(paths, dtype=object), "status": np.array(status, dtype=object),
            "reason": np.array(reason, dtype=object), "pixels": pixels}


class EmbedActor:
    """Ray Data actor: one model, loaded once, embedding decoded batches. It resolves the model on its own node
    and refuses to work if that is not the driver's model (same key), so the cache never mixes two models."""

    def __init__(self, spec: str, key: str, device: str, threads: int, offline: bool,
                 on_batch: Callable[[str, list[str]], None] | None = None) -> None:
        self.on_batch = on_batch
        resolved = resolve_model(ModelSpec.parse(spec), offline=offline)
        if resolved.key != key:
            raise ModelUnavailable(f"the model {spec} on this Ray worker is not the one on the driver; "
                                   "install the same weights on every node")
        self.embedder = Embedder.load(resolved, device, threads=threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        if self.on_batch is not None:
            self.on_batch("embed", [str(p) for p in batch["path"]])
        good = np.isin(batch["status"], ["ok", "partial"])
        vectors = np.zeros((len(good), self.embedder.dim), np.float32)
        if good.any():
            vectors[good] = self.embedder.embed_pixels(torch.from_numpy(np.ascontiguousarray(batch["pixels"][good])))
        return {"path": batch["path"], "status": batch["status"], "reason": batch["reason"], "vector": vectors}


# -- on the driver -------------------------------------------------------------------------------------------


def require_ray() -> None:
    """Raise ``BadArgument`` (with how to install it) unless Ray and Ray Data can be imported."""
    _ray()


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data is what --ray uses)
    except ImportError:
        raise BadArgument(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def connect(options: RayOptions) -> bool:
    """Join the cluster at ``options.address``, or start a Ray on this machine. Returns whether this call
    started (and so must stop) it; an already connected driver (a test, a notebook) is used as it is."""
    import logging

    ray = _ray()
    # Ray Data's plan, timings and "progress bars disabled": our own progress events say what the run does.
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    # "Token authentication is enabled for this Ray cluster": Ray's default for a local Ray, nothing to act on.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    # A decode task or file the cluster drops is logged by Ray Data with a traceback; the files come back as
    # skipped ones (ray_batches), and Ray's own log files keep the details.
    logging.getLogger("ray.data._internal.execution").setLevel(logging.CRITICAL)
    # More model copies than a small run has blocks: Ray Data says so as a UserWarning with its own path in it.
    warnings.filterwarnings("ignore", message="The minimum number of concurrent actors", category=UserWarning)
    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING, "include_dashboard": False}
    try:
        if options.address:
            ray.init(address=options.address, **quiet)
        else:
            # "local": a new Ray for this run even where one runs already (ray start leaves its address behind).
            # Logical CPUs for every model actor plus one for decoding, or the decode tasks would never start on
            # a machine with fewer cores (the OS shares the real cores among them).
            cpus = options.local_cpus or os.cpu_count() or 1
            actors = options.actors or max(1, cpus // 4)
            ray.init(address="local", num_cpus=max(cpus, math.ceil(actors * options.actor_cpus) + 1), **quiet)
    except ConnectionError as exc:
        if options.address == "auto":
            raise BadArgument("--ray auto: no Ray cluster runs on this machine (start one with 'ray start --head', "
                              "or give --ray no address for a Ray of this run only)", details=repr(exc)) from None
        raise BadArgument(f"cannot reach the Ray cluster at {options.address}: {exc}".splitlines()[0]) from None
    except Exception as exc:  # no room in /dev/shm, a port taken, a version mismatch, ray[client] missing...
        what = f"cannot connect to the Ray cluster at {options.address}" if options.address else "Ray could not start"
        raise PhotoAtlasError(f"{what}: {exc}".splitlines()[0], details=repr(exc)) from None
    return True


def _cluster_failure(exc: BaseException) -> PhotoAtlasError:
    """One line for a Ray run that failed: our own error raised on a worker (a model that differs from the
    driver's, say) keeps its class and message; anything else is named by its first line."""
    from desktop_app.core import errors

    seen: BaseException | None = exc
    texts = []
    for _ in range(10):  # Ray wraps a worker's exception (RayTaskError, UserCodeException, ActorDiedError...)
        if seen is None:
            break
        if isinstance(seen, PhotoAtlasError):  # Ray's own wrappers may subclass it too: take our class
            ours = next(c for c in type(seen).__mro__ if c.__module__ == errors.__name__)
            return ours(getattr(seen, "user_message", str(seen)), details=repr(exc))
        texts.append(str(seen))
        seen = getattr(seen, "cause", None) or seen.__cause__ or seen.__context__
    # An actor that failed in __init__ reaches the driver as text only (the worker's traceback in the message).
    found = re.search(rf"{re.escape(errors.__name__)}\.(\w+): (.+)", "\n".join(texts))
    if found and isinstance(getattr(errors, found[1], None), type) and issubclass(getattr(errors, found[1]),
                                                                                 PhotoAtlasError):
        return getattr(errors, found[1])(found[2].strip(), details=repr(exc))
    first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return PhotoAtlasError(f"the Ray run failed: {first}", details=repr(exc))


def _model_spec_for_workers(resolved: ResolvedModel, path_map: Sequence[tuple[str, str]]) -> str:
    spec = resolved.spec
    if spec.kind == "local-dir":
        return f"local-dir:{map_path(spec.name, path_map)}"
    return str(spec)


def _actor_pool(ray: Any, options: RayOptions, device: str) -> tuple[int, dict[str, Any], str]:
    """(actors, their resources, their device): one per GPU where the cluster has GPUs and the device allows,
    else CPU actors."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus and device in ("auto", "cuda"):
        if options.actors and options.actors > gpus:
            raise BadArgument(f"--ray-actors {options.actors}: the Ray cluster has {gpus} GPU(s), one per model copy")
        return options.actors or gpus, {"num_gpus": 1}, "cuda"
    if device == "cuda":
        raise BadArgument("--device cuda: the Ray cluster has no GPU (start its GPU nodes first)")
    cpus = resources.get("CPU", 1)
    actors = options.actors or max(1, int(cpus // 4))
    if actors * options.actor_cpus > cpus - 1:  # the model copies would leave no CPU to decode: it would wait forever
        raise BadArgument(f"--ray-actors {actors}: the Ray cluster has {cpus:g} CPUs; {actors} model copies would "
                          "leave none for decoding")
    return actors, {"num_cpus": options.actor_cpus}, "cpu"


def _stream(ray: Any, paths: list[str], embedder: Embedder, resolved: ResolvedModel, settings: EmbedSettings,
            rows_per_block: int | None = None) -> Generator[dict[str, np.ndarray], None, None]:
    """One pass of Ray Data over ``paths`` (the workers' names), yielding finished batches as they come.
    ``rows_per_block``: files per Ray block (default: a batch, more for millions)."""
    import pyarrow as pa
    import torch
    from PIL import Image

    options = settings.ray
    assert options is not None
    actors, actor_resources, actor_device = _actor_pool(ray, options, settings.device)
    # The model's input shape, from the model's own preprocessing, so a failed row is a block of zeros alike.
    pixel_shape = tuple(embedder.preprocess(Image.new("RGB", (embedder.image_size,) * 2)).shape)
    # The blocks are made here (a repartition would be a shuffle across the cluster).
    step = rows_per_block or max(settings.batch_size, math.ceil(len(paths) / MAX_BLOCKS))
    dataset = ray.data.from_arrow([pa.table({"path": paths[i:i + step]}) for i in range(0, len(paths), step)])
    # A decode task whose worker dies is tried DECODE_RETRIES more times (Ray Data's default is forever: one file
    # that crashes the decoder would stall the run); model actors are restarted and their lost calls retried.
    # Ray 2.60 takes max_retries only as a "ray_remote_args" keyword, deprecated for 2.64 with no named
    # replacement yet: the extra pins ray < 2.64, and the notice is not shown to the user.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        decoded = dataset.map_batches(
            decode_batch, batch_size=min(step, settings.batch_size), num_cpus=1, memory=DECODE_MEMORY,
            fn_kwargs={"preprocess": embedder.preprocess, "image_size": embedder.image_size,
                       "pixel_shape": pixel_shape, "max_pixels": settings.max_pixels,
                       "on_batch": options.on_batch},
            max_retries=DECODE_RETRIES)
    threads = max(1, int(options.actor_cpus)) if actor_device == "cpu" else torch.get_num_threads()
    embedded = decoded.map_batches(
        EmbedActor, batch_size=settings.batch_size, compute=ray.data.ActorPoolStrategy(size=actors),
        **actor_resources,
        fn_constructor_kwargs={"spec": _model_spec_for_workers(resolved, options.path_map), "key": resolved.key,
                               "device": actor_device, "threads": threads, "offline": settings.offline,
                               "on_batch": options.on_batch})
    # Batch by batch to the driver, which stores each one before asking for the next. Bigger batches for big runs:
    # a cluster returns thousands of vectors a second, and each stored batch is one SQLite transaction.
    driver_batch = max(settings.batch_size, min(MAX_DRIVER_BATCH, len(paths) // 100))
    yield from embedded.iter_batches(batch_size=driver_batch, batch_format="numpy", prefetch_batches=2)


def _failures_named(blocks: Generator[dict[str, np.ndarray], None, None],
                    ) -> Generator[dict[str, np.ndarray], None, None]:
    try:
        yield from blocks
    except PhotoAtlasError:
        raise
    except Exception as exc:
        raise _cluster_failure(exc) from None


def ray_batches(items: Sequence[Item], embedder: Embedder, resolved: ResolvedModel, settings: EmbedSettings,
                ) -> Generator[Batch, None, None]:
    """The pipeline's picture step on Ray: yields (embedded rows, unreadable items) as blocks come back.

    Each file is yielded once: a row for a file already seen (a retried block) is dropped, and files a round did
    not return are sent again (``RESEND_ROUNDS``), then reported as skipped for now (``FileAccessError``: not
    remembered, so the next run tries them again).
    """
    options = settings.ray
    assert options is not None
    if not items:
        return
    ray = _ray()
    from ray.data import DataContext

    waiting: dict[str, Item] = {map_path(str(i.path), options.path_map): i for i in items}
    maps_model = _model_spec_for_workers(resolved, options.path_map) != str(resolved.spec)
    if options.path_map and not maps_model and all(sent == str(item.path) for sent, item in waiting.items()):
        folders = ", ".join(here for here, _ in options.path_map)
        raise BadArgument(f"--path-map: neither the model nor any file of this run is under {folders} (the paths "
                          f"as this machine sees them, e.g. {items[0].path})")
    started = connect(options)
    context = DataContext.get_current()
    saved = (context.enable_progress_bars, context.max_errored_blocks, context.wait_for_min_actors_s)
    context.enable_progress_bars = False  # the pipeline's own progress events say it
    # A block whose task failed for good (its worker crashed on every try: a file that crashes the decoder, say)
    # is dropped instead of failing the run; its files are sent again one by one, so only that file is lost.
    context.max_errored_blocks = -1
    context.wait_for_min_actors_s = ACTORS_WAIT_S  # a model copy that cannot be placed: an error, not a hang
    answered = mapped_misses = 0
    try:
        for round_ in range(1 + RESEND_ROUNDS):
            if not waiting:
                break
            rows_per_block = None if round_ == 0 else 1
            for block in _failures_named(_stream(ray, list(waiting), embedder, resolved, settings, rows_per_block)):
                rows: list[tuple[Item, str, np.ndarray]] = []
                failed: list[tuple[Item, UnreadableFile]] = []
                for path, status, reason, vector in zip(block["path"], block["status"], block["reason"],
                                                        block["vector"]):
                    item = waiting.pop(str(path), None)
                    if item is None:  # a retried block's second answer, or a path this run never sent
                        continue
                    if status in ("ok", "partial"):
                        rows.append((item, str(status), np.asarray(vector, np.float32)))
                    elif status == "access":
                        if str(path) != str(item.path):  # mapped: say where the worker looked
                            reason = f"{reason} (the worker looked for {path}: check --path-map and the mount)"
                            mapped_misses += 1
                        failed.append((item, FileAccessError(str(reason))))
                    else:
                        failed.append((item, UnreadableFile(str(reason))))
                answered += len(rows) + len(failed)
                if mapped_misses == answered >= MAPPED_MISSES_STOP:
                    example = failed[0][1].user_message
                    raise BadArgument(f"--path-map: the workers find none of the files ({example})")
                if rows or failed:
                    yield rows, failed
        if waiting:
            yield [], [(item, FileAccessError("the Ray cluster did not return this file (a worker failed on it; see "
                                              "Ray's logs); it is tried again next run")) for item in waiting.values()]
    finally:
        context.enable_progress_bars, context.max_errored_blocks, context.wait_for_min_actors_s = saved
        if started:
            ray.shutdown()
