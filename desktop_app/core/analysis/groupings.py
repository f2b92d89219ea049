"""Groupings that are not found by a clusterer but asked for: by typed prompts, and by events in time.

Both keep the map (coordinates, clustering space, outlier scores) of an existing analysis and replace
its groups, so the result is shown, edited and exported like any clustering.

* Prompts: each item goes to the prompt it matches best (CLIP zero-shot with prompt templates) — if that
  match stands out. "Stands out" is measured against the item's similarities to the ~400 reference concepts
  of the vocabulary: the best prompt must lie at least ``margin`` standard deviations above their mean,
  otherwise the item goes to "Other". A relative test, because raw CLIP similarities differ a lot between
  models (0.2–0.35 for a good match in ViT-B models, 0.9 in the tiny test model).
* Events: pictures sorted by EXIF time; a gap of more than ``gap_hours``, or a jump of more than
  ``max_km`` between geotagged shots more than an hour apart, starts a new event. Events are named by
  their date range (and the middle of their GPS positions when they have any); undated items form
  "Undated".
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from desktop_app.core.analysis.model import Analysis, describe_clusters
from desktop_app.core.analysis.naming import DEFAULT_TEMPLATES, TextEncoder, Vocabulary, concept_vectors
from desktop_app.core.errors import BadArgument
from desktop_app.core.metadata.photo_meta import PhotoMeta

REGROUPINGS = ("prompts", "events")  # chosen like clusterers, but they regroup an existing map
OTHER = "Other"
PROMPT_MARGIN = 2.0  # standard deviations above the item's mean similarity to the reference concepts
EVENT_GAP_HOURS = 8.0
EVENT_MAX_KM = 50.0
UNDATED = "Undated"


def parse_prompts(text: str) -> list[str]:
    """``"ceremony, portraits; food"`` → ``["ceremony", "portraits", "food"]`` (commas, semicolons or lines)."""
    prompts = list(dict.fromkeys(p.strip() for p in re.split(r"[,;\n]", text) if p.strip()))
    if not prompts:
        raise BadArgument("give at least one prompt, e.g. --prompts \"ceremony, portraits, food\"")
    if any(p.lower() == OTHER.lower() for p in prompts):
        raise BadArgument(f"'{OTHER}' is where items matching no prompt go; leave it out of the prompts")
    return prompts


def grouping_params(clusterer: str, *, k: int | str | None = None, min_samples: int | None = None,
                    min_cluster_size: int | None = None, subgroups: bool | None = None, eps: float | None = None,
                    prompts: str | Sequence[str] | None = None) -> dict[str, Any]:
    """The parameters of a way of grouping, from what the user chose — the one rule the window's toolbar and the
    command line both go by. Only what was chosen is set (the clusterer's defaults are "auto"); a choice that does
    not apply to ``clusterer`` raises ``BadArgument`` naming it (``--k applies to kmeans and agglomerative``)."""
    from desktop_app.core.analysis.cluster import CLUSTERERS

    if clusterer not in CLUSTERERS and clusterer not in REGROUPINGS:
        raise BadArgument(f"unknown way of grouping {clusterer!r}; choose one of "
                          f"{', '.join([*CLUSTERERS, *REGROUPINGS])}")
    params: dict[str, Any] = {}

    def whole(value: Any, flag: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
            raise BadArgument(f"{flag} takes a whole number from 1, not {value!r}")
        return value

    if k is not None and k != "auto":
        k = whole(k, "--k")
    min_samples = None if min_samples is None else whole(min_samples, "--min-samples")
    min_cluster_size = None if min_cluster_size is None else whole(min_cluster_size, "--min-cluster-size")
    if subgroups is not None and not isinstance(subgroups, bool):
        raise BadArgument(f"subgroups is true or false, not {subgroups!r}")
    if eps is not None and (isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps <= 2):
        raise BadArgument(f"--eps is a cosine distance above 0 and at most 2, not {eps!r}")
    if k is not None:
        if clusterer not in ("kmeans", "agglomerative"):
            raise BadArgument(f"--k applies to kmeans and agglomerative, not {clusterer}")
        if k == "auto" and clusterer != "kmeans":
            raise BadArgument("--k auto applies to kmeans only; give agglomerative a number")
        if k != "auto":  # K-Means' own default is auto
            params["k"] = k
    for flag, key, value in (("--min-cluster-size", "min_cluster_size", min_cluster_size),
                             ("--min-samples", "min_samples", min_samples), ("--no-subgroups", "subgroups", subgroups)):
        if value is not None:
            if clusterer != "hdbscan":
                raise BadArgument(f"{flag} applies to hdbscan, not {clusterer}")
            params[key] = value
    if eps is not None:
        if clusterer != "dbscan":
            raise BadArgument(f"--eps applies to dbscan, not {clusterer}")
        params["eps"] = eps
    if clusterer == "prompts":
        if not isinstance(prompts, str) and not (isinstance(prompts, (list, tuple))
                                                 and all(isinstance(p, str) for p in prompts)):
            raise BadArgument("give the prompts as text, e.g. \"ceremony, portraits, food\"")
        params["prompts"] = parse_prompts(prompts if isinstance(prompts, str) else ", ".join(prompts))
    elif prompts:
        raise BadArgument(f"prompts apply to grouping by prompts, not {clusterer}")
    return params


def prompt_vectors(prompts: Sequence[str], encode: TextEncoder,
                   templates: tuple[str, ...] = DEFAULT_TEMPLATES) -> np.ndarray:
    """One vector per prompt, ensembled over the templates ("a photo of {}." …)."""
    return concept_vectors(Vocabulary(list(prompts), templates), encode)


def classify(vectors: np.ndarray, prompt_vecs: np.ndarray, reference_vecs: np.ndarray,
             margin: float = PROMPT_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """Labels (index of the prompt, or ``len(prompts)`` for Other) and each item's standing (in standard
    deviations above its mean similarity to the reference concepts) for its best prompt."""
    n = len(vectors)
    labels = np.full(n, len(prompt_vecs), np.int64)
    standing = np.zeros(n, np.float32)
    for start in range(0, n, 8192):  # bounded memory: n x 400 similarities at a time would be 160 MB at 100k
        x = vectors[start:start + 8192]
        sims = x @ prompt_vecs.T
        ref = x @ reference_vecs.T
        best = sims.argmax(axis=1)
        z = (sims[np.arange(len(x)), best] - ref.mean(axis=1)) / np.maximum(ref.std(axis=1), 1e-6)
        standing[start:start + len(x)] = z
        labels[start:start + len(x)] = np.where(z >= margin, best, len(prompt_vecs))
    return labels, standing


def _regroup(analysis: Analysis, vectors: np.ndarray, labels: np.ndarray, names: Sequence[str],
             params: dict, named_by: str) -> Analysis:
    """The analysis with ``labels`` as its groups (ids in the order of ``names``; empty groups dropped,
    ids kept so they match ``names``)."""
    clusters = describe_clusters(vectors, labels)
    for c in clusters:
        c.name, c.named_by = names[c.id], named_by
    merged = dict(analysis.params)
    merged["clusterer"] = params
    # Groups by prompt or by event have no sub-groups: the clustering's would not match them.
    return replace(analysis, labels=labels.astype(np.int64), clusters=clusters, subclusters=[], sublabels=None,
                   params=merged,
                   membership=np.ones(len(labels), np.float32), warnings=[])


def group_by_prompts(analysis: Analysis, vectors: np.ndarray, prompts: Sequence[str], prompt_vecs: np.ndarray,
                     reference_vecs: np.ndarray, margin: float = PROMPT_MARGIN) -> Analysis:
    """Replace the analysis's groups with one group per prompt plus "Other"."""
    labels, _ = classify(vectors, prompt_vecs, reference_vecs, margin)
    return _regroup(analysis, vectors, labels, [*prompts, OTHER],
                    {"name": "prompts", "prompts": list(prompts), "margin": margin}, "prompt")


def _km(a: PhotoMeta, b: PhotoMeta) -> float | None:
    if None in (a.lat, a.lon, b.lat, b.lon):
        return None
    p1, p2 = math.radians(a.lat), math.radians(b.lat)  # type: ignore[arg-type]
    dl = math.radians(b.lon - a.lon)  # type: ignore[operator]
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def _date_range(first: float, last: float) -> str:
    a = dt.datetime.fromtimestamp(first, dt.UTC)
    b = dt.datetime.fromtimestamp(last, dt.UTC)
    if a.date() == b.date():
        return f"{a.day} {a:%b %Y}"
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}–{b.day} {a:%b %Y}"
    if a.year == b.year:
        return f"{a.day} {a:%b} – {b.day} {b:%b %Y}"
    return f"{a.day} {a:%b %Y} – {b.day} {b:%b %Y}"


def _place(metas: Sequence[PhotoMeta]) -> str:
    located = [(m.lat, m.lon) for m in metas if m.lat is not None and m.lon is not None]
    if not located:
        return ""
    lat = float(np.median([p[0] for p in located]))
    lon = float(np.median([p[1] for p in located]))
    return f" · {abs(lat):.2f}°{'N' if lat >= 0 else 'S'} {abs(lon):.2f}°{'E' if lon >= 0 else 'W'}"


def event_labels(metas: Sequence[PhotoMeta], gap_hours: float = EVENT_GAP_HOURS,
                 max_km: float = EVENT_MAX_KM) -> tuple[np.ndarray, list[str]]:
    """Event number per item (in time order; undated items get the last label) and the events' names."""
    n = len(metas)
    timed = sorted((m.taken, i) for i, m in enumerate(metas) if m.taken is not None)
    labels = np.full(n, -1, np.int64)
    names: list[str] = []
    current: list[int] = []

    def close() -> None:
        if current:
            labels[current] = len(names)
            times = [t for t in (metas[i].taken for i in current) if t is not None]  # the dated ones, by design
            names.append(_date_range(min(times), max(times)) + _place([metas[i] for i in current]))
            current.clear()

    previous: int | None = None
    placed: PhotoMeta | None = None  # the event's latest geotagged shot
    for taken, i in timed:
        if previous is not None:
            gap = taken - metas[previous].taken  # type: ignore[operator]
            km = _km(placed, metas[i]) if placed is not None else None
            if gap > gap_hours * 3600 or (km is not None and km > max_km and gap > 3600):
                close()
                placed = None
        current.append(i)
        previous = i
        if metas[i].lat is not None:
            placed = metas[i]
    close()
    if (labels < 0).any():
        labels[labels < 0] = len(names)
        names.append(UNDATED)
    return labels, names


def group_by_events(analysis: Analysis, vectors: np.ndarray, metas: Sequence[PhotoMeta],
                    gap_hours: float = EVENT_GAP_HOURS, max_km: float = EVENT_MAX_KM) -> Analysis:
    """Replace the analysis's groups with events in time (and place)."""
    labels, names = event_labels(metas, gap_hours, max_km)
    return _regroup(analysis, vectors, labels, names,
                    {"name": "events", "gap_hours": gap_hours, "max_km": max_km}, "events")
