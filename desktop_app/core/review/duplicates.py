"""Near-duplicates and bursts, each with a best frame: what a photographer culls first.

* Near-duplicates: pairs of pictures whose CLIP vectors have cosine similarity >= ``threshold``
  (default ``DEFAULT_THRESHOLD``, measured: docs/CULLING.md). The search is exact: every pair is compared,
  in tiles of ``TILE`` x ``TILE`` over the upper triangle of the similarity matrix, so memory stays
  bounded at 100k items. Tiles are multiplied in bfloat16 (several times faster on CPUs with bf16 units)
  with a safety margin wider than bf16's worst-case error, and every candidate is then re-checked in
  float32 — so no pair is missed and none is invented by the rounding.
* Bursts: consecutive shots of ONE camera body (the same, known ``PhotoMeta.camera``; pictures without one
  are never in a burst) taken at most ``burst_seconds`` apart (EXIF DateTimeOriginal + sub-seconds) that are
  also alike (cosine >= ``burst_similarity``).

Sets never chain. Pairs are NOT joined into connected components (A~B and B~C made one set, which linked
"Burst of 41" across 15 cameras on real photos and "Burst of 1788" on a generated library). Instead each set
is a *star around its best frame*: candidates are measured (``quality.measure``), then taken best first
(the user's picks before everything else); a frame not yet in a set leads a new set of itself and the frames
not yet in a set that are alike TO IT — so every member is >= the threshold to the set's best frame, and two
ends of a chain meet only if they are alike themselves. Bursts are made first, per camera, from runs of
consecutive shots; a burst is the contiguous stretch of its run around the leader whose shots are each
alike to the leader. Near-duplicate sets are then made from the frames no burst took: a picture belongs to
at most one set, and a burst never takes in another camera's pictures through a shared member.

Why a star around the best frame rather than complete linkage (every pair within the set alike):
culling keeps the best frame and rejects the others, so what must hold is that each rejected frame is a copy
of the kept one — exactly this rule. It costs O(pairs) time and memory (one pass over a sparse adjacency),
where complete linkage needs the full distance matrix of every connected component (10 GB for a 50k-member
component; the generated library had one of 1,788), and its sets depend on merge order. Members of one set
are at least cos(2·acos(threshold)) alike to each other (0.77 at 0.94), never unrelated.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from desktop_app.core.metadata.photo_meta import PhotoMeta
from desktop_app.core.progress import CancelToken, ProgressEvent
from desktop_app.core.review.quality import Quality, measure

DEFAULT_THRESHOLD = 0.94  # cosine; see docs/CULLING.md for how it was chosen
BURST_SECONDS = 2.0
BURST_SIMILARITY = 0.80
TILE = 8192
QUALITY_WORKERS = 2  # frames decoded at once for the best-frame pick
QUALITY_CHUNK = 16  # frames measured between two progress events / cancel checks
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


def burst_runs(metas: Sequence[PhotoMeta], vectors: np.ndarray, rows: Iterable[int],
               max_gap: float = BURST_SECONDS, min_similarity: float = BURST_SIMILARITY) -> list[list[int]]:
    """Runs of consecutive shots of one camera, each <= ``max_gap`` seconds and alike (cosine >=
    ``min_similarity``) to the shot before it: rows in capture order, runs of 2 or more only.

    Only candidates: a run may be long (one camera shooting a whole pan); ``find_sets`` cuts it into bursts whose
    shots are each alike to the burst's best frame.
    """
    by_camera: dict[str, list[tuple[float, int]]] = {}
    for r in rows:
        m = metas[r]
        if m.taken is not None and m.camera:  # an unknown camera may be many cameras: no burst
            by_camera.setdefault(m.camera, []).append((m.taken, int(r)))
    runs: list[list[int]] = []
    for shots in by_camera.values():
        shots.sort()
        run = [shots[0][1]]
        for (t_a, a), (t_b, b) in zip(shots, shots[1:]):
            if t_b - t_a <= max_gap and float(vectors[a] @ vectors[b]) >= min_similarity:
                run.append(b)
            else:
                if len(run) > 1:
                    runs.append(run)
                run = [b]
        if len(run) > 1:
            runs.append(run)
    return runs


def star_sets(n: int, i: np.ndarray, j: np.ndarray, order: Sequence[int],
              taken: np.ndarray | None = None) -> list[list[int]]:
    """Sets that cannot chain, from alike pairs (i, j): each is a leader and its alike partners.

    ``order``: leaders by priority (best frame first). A row not yet in a set leads a new one with those of its
    partners that are in no set yet (a set of one is no set). ``taken``: rows already in a set (bool mask of
    length ``n``, updated in place). Returns each set's rows, its leader first. O(pairs) time and memory.
    """
    from scipy.sparse import coo_matrix

    assigned = np.zeros(n, bool) if taken is None else taken
    both_i = np.concatenate([i, j]).astype(np.int64)
    both_j = np.concatenate([j, i]).astype(np.int64)
    adjacency = coo_matrix((np.ones(len(both_i), np.int8), (both_i, both_j)), shape=(n, n)).tocsr()
    indptr, indices = adjacency.indptr, adjacency.indices
    sets: list[list[int]] = []
    for leader in order:
        if assigned[leader]:
            continue
        partners = indices[indptr[leader]:indptr[leader + 1]]
        free = np.unique(partners[~assigned[partners]])
        if len(free) == 0:
            continue
        assigned[leader] = True
        assigned[free] = True
        sets.append([int(leader), *free.tolist()])
    return sets


def _split_run(run: list[int], vectors: np.ndarray, rank: dict[int, int], min_similarity: float,
               assigned: np.ndarray) -> list[list[int]]:
    """Bursts from one run: the best free shot (lowest ``rank``) leads; its burst is the contiguous stretch around
    it of free shots each alike to it (a walk left and right that stops at the first shot that is not)."""
    at = {r: k for k, r in enumerate(run)}
    sets = []
    for leader in sorted(run, key=rank.__getitem__):
        if assigned[leader]:
            continue
        k = at[leader]
        members = [leader]
        for step in (-1, 1):
            p = k + step
            while 0 <= p < len(run) and not assigned[run[p]] and \
                    float(vectors[leader] @ vectors[run[p]]) >= min_similarity:
                members.append(run[p])
                p += step
        if len(members) > 1:
            assigned[members] = True
            sets.append(members)
    return sets


def _measure_all(rows: list[int], paths: Sequence[str], cancel: CancelToken | None,
                 ) -> Generator[ProgressEvent, None, dict[int, Quality]]:
    qualities: dict[int, Quality] = {}
    with ThreadPoolExecutor(max_workers=QUALITY_WORKERS) as pool:  # decoding releases the GIL
        for k in range(0, len(rows), QUALITY_CHUNK):
            chunk = rows[k:k + QUALITY_CHUNK]
            qualities.update(zip(chunk, pool.map(measure, [paths[r] for r in chunk])))
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield ProgressEvent("quality", len(qualities), len(rows), "measuring sharpness and exposure")
    return qualities


def find_sets(vectors: np.ndarray, kinds: Sequence[str], paths: Sequence[str], metas: Sequence[PhotoMeta],
              settings: CullSettings | None = None, cancel: CancelToken | None = None,
              picks: set[str] | None = None) -> Generator[ProgressEvent, None, list[SimilarSet]]:
    """Near-duplicate and burst sets among the pictures (notes are left out), each with its best frame.

    Every member of a set is alike to the set's best frame (>= ``threshold`` for near-duplicates, >=
    ``burst_similarity`` for bursts, see the module's docstring); a picture is in at most one set.
    ``picks``: paths the user chose as best frames; they lead their sets. Sets come in order of their first row,
    members in row order.
    """
    settings = settings or CullSettings()
    images = np.array([r for r, k in enumerate(kinds) if k == "image"], np.int64)
    n = len(kinds)
    if len(images) < 2:
        return []
    # Pairs are found on the image rows only, then mapped back to document rows.
    di, dj, _ = yield from similar_pairs(vectors[images], settings.threshold, cancel)
    di, dj = images[di], images[dj]
    runs = burst_runs(metas, vectors, images.tolist(), settings.burst_seconds, settings.burst_similarity) \
        if metas else []
    candidates = sorted({*di.tolist(), *dj.tolist(), *(r for run in runs for r in run)})
    qualities = yield from _measure_all(candidates, paths, cancel)
    picks = picks or set()
    # Leaders: the user's picks, then the best-scoring frames (unreadable ones last); row order on ties.
    order = sorted(candidates, key=lambda r: (paths[r] not in picks, -qualities[r].score, r))
    assigned = np.zeros(n, bool)
    found: list[tuple[SetKind, list[int]]] = []
    rank = {r: k for k, r in enumerate(order)}
    for run in runs:
        found += [("burst", m) for m in _split_run(run, vectors, rank, settings.burst_similarity, assigned)]
    found += [("duplicates", m) for m in star_sets(n, di, dj, order, assigned)]
    sets = []
    for kind, members in sorted(found, key=lambda km: min(km[1])):
        leader = members[0]
        rows = sorted(members)
        sets.append(SimilarSet(kind, rows, [qualities[r] for r in rows], leader,
                               "user" if paths[leader] in picks else "quality"))
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


def apply_picks(sets: Sequence[SimilarSet], paths: Sequence[str], picks: set[str]) -> None:
    """Every set's best frame from the user's ``picks`` where it holds one, else its best measured frame (what an
    undone "Make Best Frame" goes back to)."""
    for s in sets:
        measured = list(zip(s.members, s.qualities)) or [(s.members[0], Quality())]
        s.best = min(measured, key=lambda mq: (-mq[1].score, mq[0]))[0]  # find_sets' order: best score, then row
        s.chosen_by = "quality"
        apply_pick(s, paths, picks)
