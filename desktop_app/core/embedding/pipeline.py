"""The embedding pipeline as a generator of progress events, with a cancel token.

    gen = run_embedding(["~/Pictures"], EmbedSettings(model="local-dir:..."), cancel)
    result = drive(gen, print)          # or let a GUI worker iterate it

Steps: scan → look vectors up in the cache → (only for misses) fetch and load the model → decode images in
a pool of worker threads that feeds batches to the model while it runs → store vectors batch by batch (so a
killed run keeps what it did) → an ``EmbedResult`` with explicit JSON / npz save and load.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core.analysis.analyze import analyze
from desktop_app.core.analysis.groupings import EVENT_GAP_HOURS, EVENT_MAX_KM, PROMPT_MARGIN
from desktop_app.core.analysis.model import Analysis, AnalysisSettings
from desktop_app.core.documents.document import RESULTS_SCHEMA, EmbedResult, ItemRecord  # noqa: F401  (re-exported)
from desktop_app.core.embedding.cache import EmbeddingCache
from desktop_app.core.embedding.cpu_batches import cpu_batches
from desktop_app.core.embedding.embed import (
    Embedder,
    ModelSpec,
    ResolvedModel,
    resolve_model,
    sha256_file,
)
from desktop_app.core.embedding.settings import Batch, EmbedSettings, decode_item  # noqa: F401  (re-exported)
from desktop_app.core.errors import BadArgument, FileAccessError, UnreadableFile
from desktop_app.core.ingest import sandbox
from desktop_app.core.ingest.items import Item, Skipped, scan, standalone_raws
from desktop_app.core.ingest.sandbox import DEFAULT_MEMORY, DEFAULT_SECONDS
from desktop_app.core.ingest.texts import read_text
from desktop_app.core.metadata.photo_meta import PhotoMeta, read_all
from desktop_app.core.progress import CancelToken, ProgressEvent, drive  # noqa: F401  (drive: re-exported)
from desktop_app.core.review.duplicates import CullSettings, SimilarSet, find_sets

Progress = Generator[ProgressEvent, None, EmbedResult]


def _resolve(spec: ModelSpec, settings: EmbedSettings, cache: EmbeddingCache,
             cancel: CancelToken) -> Generator[ProgressEvent, None, ResolvedModel]:
    """Resolve (and if needed download) the model in a thread, turning byte counts into events."""
    events: queue.Queue[tuple[int, int | None]] = queue.Queue()
    outcome: dict[str, Any] = {}

    def on_bytes(done: int, total: int | None) -> None:
        cancel.raise_if_cancelled()  # the download itself stops (at its next 256 KiB piece) and drops its temp file
        events.put((done, total))

    def work() -> None:
        try:
            outcome["value"] = resolve_model(spec, offline=settings.offline, on_bytes=on_bytes,
                                             digest=lambda p: cache.file_digest(p, sha256_file))
        except BaseException as exc:  # handed back to the generator's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="photoatlas-model-fetch", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.1)
        latest = None
        while not events.empty():
            latest = events.get_nowait()
        if latest:
            yield ProgressEvent("download", latest[0], latest[1], f"downloading {spec}")
        if cancel.cancelled:
            thread.join(CANCEL_GRACE_S)  # let the download stop and clean up; a stalled line is not waited for
            cancel.raise_if_cancelled()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


CANCEL_GRACE_S = 2.0  # how long Cancel waits for a download to stop by itself before giving up on it
_NO_VECTOR = np.zeros(0, np.float32)  # what an unreadable file's row in the cache holds




def _decode_workers(settings: EmbedSettings) -> int:
    return settings.decode_workers or max(1, os.cpu_count() or 1)


def _caps_key(settings: EmbedSettings) -> str:
    """The decoding caps in the key of remembered unreadable files, when they are not the defaults."""
    if (settings.decode_memory, settings.decode_seconds) == (DEFAULT_MEMORY, DEFAULT_SECONDS):
        return ""
    return f"/{settings.decode_memory}/{settings.decode_seconds:g}"


def _image_batches(items: Sequence[Item], embedder: Embedder, resolved: ResolvedModel, settings: EmbedSettings,
                   ) -> Generator[Batch, None, None]:
    """Where the pictures are embedded: on a Ray cluster (``settings.ray``), batches decoded on the GPU (a CUDA
    model), or decode threads on this machine's CPU. Every way yields the same batches, and the caller stores
    each one in the cache as it comes, so an interrupted run keeps what was done."""
    workers = _decode_workers(settings)
    if settings.ray is not None:
        from desktop_app.core.embedding.ray_embed import ray_batches

        return ray_batches(items, embedder, resolved, settings)
    if embedder.device == "cuda":
        from desktop_app.core.embedding.gpu_decode import gpu_batches

        return gpu_batches(items, embedder, settings, workers)
    return cpu_batches(items, embedder, settings, workers)


def run_embedding(paths: Iterable[str | os.PathLike[str]], settings: EmbedSettings | None = None,
                  cancel: CancelToken | None = None) -> Progress:
    """Scan ``paths``, embed what the cache lacks, and return an ``EmbedResult`` (as StopIteration value).

    Raises ``ModelUnavailable``, ``BadArgument`` or ``Cancelled``; bad files never raise, they are skipped.
    """
    result, _, _ = yield from _embed(paths, settings or EmbedSettings(), cancel or CancelToken())
    return result


def run_analysis(paths: Iterable[str | os.PathLike[str]], settings: EmbedSettings | None = None,
                 analysis_settings: AnalysisSettings | None = None, cancel: CancelToken | None = None) -> Progress:
    """``run_embedding``, then the map, clusters, names and outliers (``EmbedResult.analysis``)."""
    settings = settings or EmbedSettings()
    cancel = cancel or CancelToken()
    embedding = _embed(paths, settings, cancel)
    while True:  # the same events, except that embedding's "done" is not the end of this job
        try:
            event = next(embedding)
        except StopIteration as stop:
            result, resolved, embedder = stop.value
            break
        yield replace(event, stage="embed") if event.stage == "done" else event
    texts = [_text_of(item) for item in result.items]
    with EmbeddingCache(settings.cache_dir, cancel=cancel) as cache:
        encoder = CachedTextEncoder(resolved, cache, settings, embedder)
        result.analysis = yield from analyze(result.vectors, [i.kind for i in result.items], texts,
                                             analysis_settings, cache=cache, model_key=resolved.key,
                                             encode_texts=encoder, cancel=cancel)
    result.stats["seconds"] = round(result.stats["seconds"] + result.analysis.stats.get("seconds", 0.0), 3)
    yield ProgressEvent("done", len(result.items), len(result.items), f"{len(result.analysis.clusters)} groups")
    return result


def _text_of(item: ItemRecord) -> str | None:
    if item.kind != "text":
        return None
    try:
        return read_text(Path(item.path)).text
    except UnreadableFile:  # changed since it was embedded: its snippet is what we know
        return item.snippet


class CachedTextEncoder:
    """Text -> normalised vectors through the embedding cache; loads the model only for unseen texts."""

    def __init__(self, resolved: ResolvedModel, cache: EmbeddingCache, settings: EmbedSettings,
                 embedder: Embedder | None = None) -> None:
        self.resolved, self.cache, self.settings, self.embedder = resolved, cache, settings, embedder

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        found = self.cache.lookup_texts(self.resolved.key, texts)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            if self.embedder is None:
                # With --ray, --device names the cluster's device: notes are embedded here, on the CPU.
                device = "cpu" if self.settings.ray else self.settings.device
                self.embedder = Embedder.load(self.resolved, device, threads=self.settings.torch_threads)
            fresh = dict(zip(missing, self.embedder.embed_texts(missing)))
            self.cache.store_texts(self.resolved.key, fresh)
            found.update(fresh)
        return np.stack([found[t] for t in texts]).astype(np.float32) if texts else np.zeros((0, 0), np.float32)


@contextmanager
def document_encoder(model: dict[str, Any], settings: EmbedSettings, *,
                     cancel: CancelToken | None = None) -> Iterator[CachedTextEncoder]:
    """A cached text encoder for the model a results document was made with (``model``: its ``model``
    section); the model itself is loaded only for a text never seen before.

    Raises ``BadArgument`` when the model on this machine is not the one that made the document, and
    ``Cancelled`` when ``cancel`` is set while the cache waits for another process.
    """
    if not isinstance(model.get("name"), str) or not model["name"]:
        raise BadArgument("the results document does not say which model made it (model.name is missing); "
                          "run 'photoatlas analyze' again")
    spec = ModelSpec.parse(model["name"])
    with EmbeddingCache(settings.cache_dir, cancel=cancel) as cache:
        resolved = resolve_model(spec, offline=settings.offline)
        if model.get("key") and resolved.key != model["key"]:
            raise BadArgument(f"the model {spec} on this machine differs from the one that made these results; "
                              "analyze the library again")
        yield CachedTextEncoder(resolved, cache, settings)


def query_vector(model: dict[str, Any], text: str, settings: EmbedSettings, *,
                 cancel: CancelToken | None = None) -> np.ndarray:
    """The CLIP text vector of ``text`` in the space of a results document's model (see ``document_encoder``)."""
    with document_encoder(model, settings, cancel=cancel) as encode:
        return encode([text])[0]


def _needs_map(result: EmbedResult) -> Analysis:
    if result.analysis is None:
        raise BadArgument("the results document has no map yet; run 'photoatlas analyze' first")
    if len(result.vectors) != len(result.items):
        raise BadArgument("the vectors of this results document are missing; run 'photoatlas analyze' again")
    return result.analysis


def group_by_prompts(result: EmbedResult, prompts: Sequence[str], settings: EmbedSettings,
                     margin: float = PROMPT_MARGIN, vocabulary: Path | None = None, *,
                     base: Analysis | None = None, cancel: CancelToken | None = None) -> Analysis:
    """``result``'s items regrouped by typed prompts (zero-shot, with "Other"), keeping the map of ``base`` (default
    ``result.analysis``); returns the new analysis and changes nothing (the caller keeps it where it belongs).

    The prompts and the vocabulary's reference concepts are embedded with the document's model (cached).
    """
    from desktop_app.core.analysis import groupings
    from desktop_app.core.analysis.naming import concept_vectors, load_vocabulary

    base = base if base is not None else _needs_map(result)
    with document_encoder(result.model, settings, cancel=cancel) as encode:
        prompt_vecs = groupings.prompt_vectors(prompts, encode)
        reference = concept_vectors(load_vocabulary(vocabulary), encode)
    return groupings.group_by_prompts(base, result.vectors, prompts, prompt_vecs, reference, margin)


def group_by_events(result: EmbedResult, gap_hours: float = EVENT_GAP_HOURS,
                    max_km: float = EVENT_MAX_KM, *, base: Analysis | None = None,
                    metas: Sequence[PhotoMeta] | None = None) -> Analysis:
    """``result``'s pictures regrouped into events by capture time and place, keeping the map of ``base`` (default
    ``result.analysis``); returns the new analysis and changes nothing. ``metas``: the items' capture data when
    known (else read from the files)."""
    from desktop_app.core.analysis import groupings

    base = base if base is not None else _needs_map(result)
    metas = metas if metas is not None else photo_metas(result)
    return groupings.group_by_events(base, result.vectors, metas, gap_hours, max_km)


def _embed(paths: Iterable[str | os.PathLike[str]], settings: EmbedSettings, cancel: CancelToken,
           ) -> Generator[ProgressEvent, None, tuple[EmbedResult, ResolvedModel, Embedder | None]]:
    started = time.perf_counter()
    spec = ModelSpec.parse(settings.model)
    paths = list(paths)

    items: list[Item] = []
    skipped: list[Skipped] = []
    for rec in scan(paths):
        (items if isinstance(rec, Item) else skipped).append(rec)  # type: ignore[arg-type]
        if len(items) % 500 == 0:
            yield ProgressEvent("scan", len(items), None, "looking for pictures and notes")
            cancel.raise_if_cancelled()
    yield ProgressEvent("scan", len(items), len(items), f"found {len(items)} items, {len(skipped)} skipped")

    with EmbeddingCache(settings.cache_dir, cancel=cancel) as cache:
        for warning in cache.warnings:
            yield ProgressEvent("warning", 0, None, warning)
        resolved = yield from _resolve(spec, settings, cache, cancel)
        cache.register_model(resolved.key, resolved.identity)
        # As arrays, not an object per file: a million cached files are one matrix read straight from the cache.
        cached = cache.lookup_rows(resolved.key, [(i.path, i.size, i.mtime_ns) for i in items])
        found = cached.found.tolist()
        from_cache = sum(found)
        misses = [i for i, hit in zip(items, found) if not hit]
        # Files found unreadable before and unchanged since: skipped again without reading them (or loading the
        # model for them). Kept apart from vectors, per pixel limit and per decoding cap (memory, time: when not the
        # defaults), since a higher limit may read them.
        unreadable_key = f"{resolved.key}/unreadable/{settings.max_pixels}{_caps_key(settings)}"
        known_bad = cache.lookup(unreadable_key, ((i.path, i.size, i.mtime_ns) for i in misses)) if misses else {}
        skipped.extend(Skipped(path, bad.snippet or "unreadable") for path, bad in known_bad.items())
        misses = [i for i in misses if i.path not in known_bad]

        def remember(failed: list[tuple[Item, UnreadableFile]]) -> None:
            skipped.extend(Skipped(item.path, exc.user_message) for item, exc in failed)
            lasting = [(item.path, item.size, item.mtime_ns, "unreadable", exc.user_message, _NO_VECTOR)
                       for item, exc in failed if not isinstance(exc, FileAccessError)]
            if lasting:
                cache.store(unreadable_key, lasting)
        vectors: dict[Path, tuple[str, str | None, np.ndarray]] = {}  # embedded by this run
        dim = cached.vectors.shape[1] if from_cache else 0

        def load_model(misses: list[Item]) -> Generator[ProgressEvent, None, Embedder]:
            cancel.raise_if_cancelled()
            yield ProgressEvent("load-model", 0, 1, f"loading {spec}")
            if settings.ray is None and any(i.kind == "image" for i in misses):
                # The sandbox's decoder processes start while the model loads (about 0.3 s each, in parallel).
                sandbox.warm(min(_decode_workers(settings), len(misses)))
            # With Ray, --device is the model actors' device: this copy embeds the notes and lends the workers its
            # preprocessing, on the CPU, leaving a GPU on this machine to an actor.
            loaded = Embedder.load(resolved, "cpu" if settings.ray else settings.device, threads=settings.torch_threads)
            yield ProgressEvent("load-model", 1, 1, f"loaded {spec} on {loaded.device}")
            return loaded

        def embed_images(images: list[Item], model: Embedder, done: int, total: int, what: str,
                         ) -> Generator[ProgressEvent, None, int]:
            with closing(_image_batches(images, model, resolved, settings)) as batches:
                for rows_, bad in batches:
                    remember(bad)
                    if rows_:
                        cache.store(resolved.key, [(it.path, it.size, it.mtime_ns, status, None, v)
                                                   for it, status, v in rows_])
                        vectors.update({it.path: (status, None, v) for it, status, v in rows_})
                    done += len(rows_) + len(bad)
                    yield ProgressEvent("embed", done, total, what)
                    cancel.raise_if_cancelled()
            return done

        embedder: Embedder | None = None
        if misses:
            embedder = yield from load_model(misses)
            dim = embedder.dim
            total = len(misses)
            done = 0
            yield ProgressEvent("embed", 0, total, f"{from_cache} from cache, {total} to embed")

            texts = [i for i in misses if i.kind == "text"]
            readable: list[tuple[Item, str, str]] = []
            unreadable_texts: list[tuple[Item, UnreadableFile]] = []
            for item in texts:
                try:
                    content = read_text(item.path)
                except UnreadableFile as exc:
                    unreadable_texts.append((item, exc))
                    done += 1
                    continue
                readable.append((item, content.text, content.snippet))
            remember(unreadable_texts)
            for start in range(0, len(readable), settings.batch_size):
                cancel.raise_if_cancelled()
                chunk = readable[start:start + settings.batch_size]
                vecs = embedder.embed_texts([t for _, t, _ in chunk])
                rows = [(it.path, it.size, it.mtime_ns, "ok", snip, v) for (it, _, snip), v in zip(chunk, vecs)]
                cache.store(resolved.key, rows)
                vectors.update({r[0]: ("ok", r[4], r[5]) for r in rows})
                done += len(chunk)
                yield ProgressEvent("embed", done, total, "notes")

            images = [i for i in misses if i.kind == "image"]
            if images and settings.ray is not None:
                yield ProgressEvent("embed", done, total, "starting Ray and its workers")
            done = yield from embed_images(images, embedder, done, total, "pictures")

        # A RAW+JPEG pair is embedded from its picture. When the picture cannot be read (found now, or remembered by
        # the cache), the pair's RAWs are the pictures, each an item of its own embedded from the RAW: a RAW is never
        # lost with its JPEG (the scan cannot tell; only decoding does). They come after the scanned items.
        lost = {s.path for s in skipped}
        alone = [r for i in items if i.raws and i.path in lost for r in standalone_raws(i)]
        skipped.extend(r for r in alone if isinstance(r, Skipped))
        raws = [r for r in alone if isinstance(r, Item)]
        raw_hits = cache.lookup(resolved.key, ((r.path, r.size, r.mtime_ns) for r in raws)) if raws else {}
        vectors.update({p: (hit.status, hit.snippet, hit.vector) for p, hit in raw_hits.items()})
        raws_left = [r for r in raws if r.path not in raw_hits]
        raws_bad = cache.lookup(unreadable_key, ((r.path, r.size, r.mtime_ns) for r in raws_left)) if raws_left else {}
        skipped.extend(Skipped(path, bad.snippet or "unreadable") for path, bad in raws_bad.items())
        raws_left = [r for r in raws_left if r.path not in raws_bad]
        if raws_left:
            if embedder is None:
                embedder = yield from load_model(raws_left)
            yield from embed_images(raws_left, embedder, 0, len(raws_left), "RAW files of unreadable pictures")

    records: list[ItemRecord] = []
    keep: list[int] = []  # the rows of ``items`` that have a vector
    fresh: list[tuple[int, np.ndarray]] = []  # (row of the result, vector) embedded by this run
    for k, item in enumerate(items):
        if found[k]:
            status, snippet = cached.status[k], cached.snippet[k]
        elif item.path in vectors:
            status, snippet, vec = vectors[item.path]
            fresh.append((len(keep), vec))
        else:
            continue
        keep.append(k)
        records.append(ItemRecord(path=str(item.path), kind=item.kind, status=status or "ok", size=item.size,
                                  mtime_ns=item.mtime_ns, caption_of=str(item.caption_of) if item.caption_of else None,
                                  snippet=snippet, raw=str(item.raw) if item.raw else None))
    if from_cache == len(items):  # everything from the cache: its matrix as it is
        matrix = cached.vectors
    elif from_cache:  # one copy of the kept rows (zeros where not cached), then the fresh vectors written in
        matrix = cached.vectors[np.asarray(keep, np.intp)]
    else:
        matrix = np.zeros((len(keep), dim), np.float32)
    for j, vec in fresh:
        matrix[j] = vec
    standing_in = [r for r in raws if r.path in vectors]  # the RAWs of unreadable pictures (above)
    if standing_in:
        records += [ItemRecord(path=str(r.path), kind=r.kind, status=vectors[r.path][0] or "ok", size=r.size,
                               mtime_ns=r.mtime_ns) for r in standing_in]
        more = np.stack([vectors[r.path][2] for r in standing_in]).astype(np.float32, copy=False)
        matrix = np.vstack([matrix.reshape(len(matrix), more.shape[1]), more])
        dim = more.shape[1]
    bad_paths = {s.path for s in skipped}
    skipped.sort(key=lambda s: str(s.path))
    stats = {
        "items": len(records),
        "embedded": len(records) - from_cache - len(raw_hits),
        "from_cache": from_cache + len(raw_hits),
        "skipped": len(bad_paths),
        "seconds": round(time.perf_counter() - started, 3),
    }
    model_doc = {"name": str(spec), "key": resolved.key, "dim": dim,
                 "preprocess": resolved.identity.get("preprocess", {})}
    # The folders the user named: an export takes files from under them only (a document is untrusted input).
    folders = [os.path.abspath(os.fspath(p)) for p in paths]
    result = EmbedResult(model=model_doc, items=records, vectors=matrix, skipped=skipped, stats=stats,
                         folders=folders)
    yield ProgressEvent("done", len(records), len(records),
                        f"{stats['embedded']} embedded, {stats['from_cache']} from cache, {stats['skipped']} skipped")
    return result, resolved, embedder


def keep_metas(result: EmbedResult, metas: Sequence[PhotoMeta]) -> None:
    """Keep the capture data read by ``photo_metas`` in the results document (saved with it)."""
    for item, meta in zip(result.items, metas):
        if item.meta is None and item.kind == "image":
            item.meta = meta.to_json()


def photo_metas(result: EmbedResult) -> list[PhotoMeta]:
    """EXIF time, camera and place of every item, read from the files the first time and then kept in the
    results document (notes have none)."""
    todo = [i for i, it in enumerate(result.items) if it.meta is None and it.kind == "image"]
    metas = [PhotoMeta.from_json(it.meta) for it in result.items]
    for i, meta in zip(todo, read_all([result.items[i].path for i in todo])):
        metas[i] = meta
    return metas


@dataclass
class DuplicateSearch:
    """What ``find_duplicates`` found: the sets, the settings they were found with, and every item's capture data
    (read on the way; ``keep_metas`` stores it)."""

    sets: list[SimilarSet]
    settings: CullSettings
    metas: list[PhotoMeta]


def find_duplicates(result: EmbedResult, settings: CullSettings | None = None, cancel: CancelToken | None = None,
                    picks: set[str] | None = None) -> Generator[ProgressEvent, None, DuplicateSearch]:
    """Find near-duplicate and burst sets (with their best frames); changes nothing in ``result``.

    ``picks``: best frames the user chose; by default the ones chosen in the sets found before are kept.
    """
    settings = settings or result.cull_settings
    if picks is None:
        picks = {result.items[s.best].path for s in result.similar_sets or [] if s.chosen_by == "user"}
    yield ProgressEvent("duplicates", 0, None, "reading capture times")
    metas = photo_metas(result)
    sets = yield from find_sets(result.vectors, [i.kind for i in result.items], result.paths, metas, settings,
                                cancel, picks)
    yield ProgressEvent("done", len(sets), len(sets), f"{len(sets)} sets of near-duplicates or bursts")
    return DuplicateSearch(sets, settings, metas)


def run_duplicates(result: EmbedResult, settings: CullSettings | None = None, cancel: CancelToken | None = None,
                   picks: set[str] | None = None) -> Generator[ProgressEvent, None, list[SimilarSet]]:
    """``find_duplicates``, then the sets (and the capture data read) kept in ``result`` (the command line)."""
    found = yield from find_duplicates(result, settings, cancel, picks)
    result.similar_sets, result.cull_settings = found.sets, found.settings
    keep_metas(result, found.metas)
    return found.sets
