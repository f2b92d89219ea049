"""Near-duplicates and bursts, each with a best frame: what a photographer culls first.

* Near-duplicates: pairs of pictures whose CLIP vectors have cosine similarity >= ``threshold``
  (default ``DEFAULT_THRESHOLD``, measured: docs/CULLING.md). The search is exact: every pair is compared,
  in tiles of ``TILE`` x ``TILE`` over the upper triangle of the similarity matrix, so memory stays
  bounded at 100k items. Tiles are multiplied in bfloat16 (several times faster on CPUs with bf16 units)
  with a safety margin wider than bf16's worst-case error, and every candidate is then re-checked in
  float32 — so no pair is missed and none is invented by the rounding.
* Bursts: consecutive shots of one camera body taken at most ``burst_seconds`` apart (EXIF
  DateTimeOriginal + sub-seconds) that are also alike (cosine >= ``burst_similarity``).
* Pairs are joined into sets (connected components: A~B and B~C make one set), and the best frame of a
  set is picked by ``quality.best_of`` unless the user chose another one.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from desktop_app.core.photo_meta import PhotoMeta
from desktop_app.core.progress import CancelToken, ProgressEvent
from desktop_app.core.quality import Quality, best_of, measure

DEFAULT_THRESHOLD = 0.94  # cosine; see docs/CULLING.md for how it was chosen
BURST_SECONDS = 2.0
BURST_SIMILARITY = 0.80
TILE = 8192
QUALITY_WORKERS = 2  # frames of a set decoded at once for the best-frame pick
BF16_MARGIN = 0.02  # > worst-case bf16 error of a dot product of unit vectors (2u + u^2 + output rounding)

SetKind = Literal["duplicates", "burst"]


@dataclass
class CullSettings:
    threshold: float = DEFAULT_THRESHOLD
    burst_seconds: float = BURST_SECONDS
    burst_similarity: float = BURST_SIMILARITY

    def to_json(self) -> dict[str, float]:
        return {"threshold": self.threshold, "burst_seconds": self.burst_seconds,
                "burst_similarity": self.burst_similarity}


@dataclass
class SimilarSet:
    """Rows (items of the results document) that are one picture taken or saved several times."""

    kind: SetKind
    members: list[int]
    qualities: list[Quality] = field(default_factory=list)  # aligned with members
    best: int = -1  # row of the best frame
    chosen_by: str = "quality"  # or "user"

    @property
    def others(self) -> list[int]:
        return [m for m in self.members if m != self.best]


def _components(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def similar_pairs(vectors: np.ndarray, threshold: float, cancel: CancelToken | None = None, tile: int = TILE,
                  ) -> Generator[ProgressEvent, None, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every pair (i < j) with cosine >= threshold, exactly: returns (i, j, similarity) arrays.

    ``vectors`` must be L2-normalised rows. Memory: one tile of similarities plus the pairs found.
    """
    import torch

    x = np.ascontiguousarray(vectors, np.float32)
    n = len(x)
    low = threshold - BF16_MARGIN
    xb = torch.from_numpy(x).to(torch.bfloat16)
    starts = list(range(0, n, tile))
    total = len(starts) * (len(starts) + 1) // 2
    found_i: list[np.ndarray] = []
    found_j: list[np.ndarray] = []
    done = 0
    with torch.inference_mode():
        for ai, a in enumerate(starts):
            block = xb[a:a + tile]
            for b in starts[ai:]:
                s = block @ xb[b:b + tile].T
                if a == b:
                    s = torch.triu(s, diagonal=1)  # each pair once, never an item with itself
                # Most rows have no partner at all: find the rows first (cheap), then the columns.
                rows = torch.nonzero(s.amax(dim=1) >= low).flatten()
                if len(rows):
                    hits = torch.nonzero(s[rows] >= low)
                    found_i.append((rows[hits[:, 0]] + a).numpy())
                    found_j.append((hits[:, 1] + b).numpy())
                done += 1
                if cancel is not None:
                    cancel.raise_if_cancelled()
                yield ProgressEvent("duplicates", done, total, "comparing every picture with every other")
    i = np.concatenate(found_i) if found_i else np.zeros(0, np.int64)
    j = np.concatenate(found_j) if found_j else np.zeros(0, np.int64)
    sims = np.empty(len(i), np.float32)
    for k in range(0, len(i), 1 << 20):  # exact float32 re-check, in chunks
        sims[k:k + (1 << 20)] = np.einsum("ij,ij->i", x[i[k:k + (1 << 20)]], x[j[k:k + (1 << 20)]])
    keep = sims >= threshold
    return i[keep].astype(np.int64), j[keep].astype(np.int64), sims[keep]


def burst_pairs(metas: Sequence[PhotoMeta], vectors: np.ndarray, rows: Sequence[int],
                max_gap: float = BURST_SECONDS, min_similarity: float = BURST_SIMILARITY,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive shots (same camera, <= ``max_gap`` seconds apart, alike) among ``rows``: (i, j) arrays."""
    timed = sorted((metas[r].camera or "", metas[r].taken, r) for r in rows if metas[r].taken is not None)
    pi, pj = [], []
    for (cam_a, t_a, a), (cam_b, t_b, b) in zip(timed, timed[1:]):
        if cam_a == cam_b and t_b - t_a <= max_gap and float(vectors[a] @ vectors[b]) >= min_similarity:
            pi.append(a)
            pj.append(b)
    return np.array(pi, np.int64), np.array(pj, np.int64)


def find_sets(vectors: np.ndarray, kinds: Sequence[str], paths: Sequence[str], metas: Sequence[PhotoMeta],
              settings: CullSettings | None = None, cancel: CancelToken | None = None,
              picks: set[str] | None = None) -> Generator[ProgressEvent, None, list[SimilarSet]]:
    """Near-duplicate and burst sets among the pictures (notes are left out), each with its best frame.

    ``picks``: paths the user chose as best frames; a set containing one keeps it as its best.
    """
    settings = settings or CullSettings()
    images = np.array([r for r, k in enumerate(kinds) if k == "image"], np.int64)
    n = len(kinds)
    if len(images) < 2:
        return []
    # Pairs are found on the image rows only, then mapped back to document rows.
    di, dj, _ = yield from similar_pairs(vectors[images], settings.threshold, cancel)
    bi, bj = burst_pairs(metas, vectors, images.tolist(), settings.burst_seconds, settings.burst_similarity)
    burst_rows = set(bi.tolist()) | set(bj.tolist())
    rows = np.concatenate([images[di], bi])
    cols = np.concatenate([images[dj], bj])
    labels = _components(n, rows, cols)
    linked = np.zeros(n, bool)
    linked[rows] = linked[cols] = True
    groups: dict[int, list[int]] = {}
    for r in np.flatnonzero(linked).tolist():
        groups.setdefault(int(labels[r]), []).append(r)
    members_of = sorted(groups.values(), key=lambda m: m[0])
    picks = picks or set()
    sets: list[SimilarSet] = []
    todo = sum(len(m) for m in members_of)
    measured = 0
    with ThreadPoolExecutor(max_workers=QUALITY_WORKERS) as pool:  # decoding releases the GIL
        for members in members_of:
            qualities = list(pool.map(measure, [paths[r] for r in members]))
            measured += len(members)
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield ProgressEvent("quality", measured, todo, "measuring sharpness and exposure")
            kind: SetKind = "burst" if any(r in burst_rows for r in members) else "duplicates"
            s = SimilarSet(kind, members, qualities, members[best_of(qualities)])
            apply_pick(s, paths, picks)
            sets.append(s)
    return sets


def apply_pick(s: SimilarSet, paths: Sequence[str], picks: set[str]) -> None:
    """Make the user's chosen frame the set's best, if they chose one of its members."""
    chosen = [m for m in s.members if paths[m] in picks]
    if chosen:
        s.best, s.chosen_by = chosen[0], "user"


def sets_to_json(sets: Sequence[SimilarSet], paths: Sequence[str], settings: CullSettings) -> dict[str, Any]:
    """The ``similar_sets`` section of a results document (paths, so it survives re-ordering)."""
    return {"params": settings.to_json(), "sets": [
        {"kind": s.kind, "best": paths[s.best], "chosen_by": s.chosen_by,
         "members": [{"path": paths[m], **q.to_json()} for m, q in zip(s.members, s.qualities)]}
        for s in sets]}


def sets_from_json(data: dict[str, Any] | None, paths: Sequence[str]) -> list[SimilarSet] | None:
    """Read ``sets_to_json`` back; members no longer in the document are dropped (None: never computed)."""
    if not data:
        return None
    index = {p: i for i, p in enumerate(paths)}
    sets = []
    for entry in data.get("sets", []):
        members = [(index[m["path"]], Quality.from_json(m)) for m in entry.get("members", []) if m["path"] in index]
        if len(members) < 2:
            continue
        rows = [r for r, _ in members]
        best = index.get(entry.get("best", ""), rows[0])
        sets.append(SimilarSet(entry.get("kind", "duplicates"), rows, [q for _, q in members],
                               best if best in rows else rows[0], entry.get("chosen_by", "quality")))
    return sets


def hidden_by_sets(sets: Sequence[SimilarSet], n: int) -> np.ndarray:
    """Mask of rows that are not their set's best frame (what a collapsed view or ``--best-only`` leaves out)."""
    mask = np.zeros(n, bool)
    for s in sets:
        mask[s.others] = True
    return mask
