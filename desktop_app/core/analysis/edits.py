"""The user's own changes to the groups — renames, merges, moved items, new groups — kept so that they
survive re-clustering and are saved with the project.

Cluster ids are renumbered by every clustering run, so edits never refer to ids:
  * a rename remembers the group's members at the time; after re-clustering, the new group that shares
    the most members with them (Jaccard >= 0.3) gets the name;
  * moved items (and merges and "new group from selection", which are moves) remember the name of the
    group they were put in; after re-clustering they go back to the group of that name (created if needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from desktop_app.core.analysis.model import Analysis, ClusterInfo, describe_clusters

RENAME_MIN_OVERLAP = 0.3


@dataclass
class GroupEdits:
    renames: list[tuple[str, frozenset[str]]] = field(default_factory=list)  # (name, member paths then)
    assignments: dict[str, str] = field(default_factory=dict)  # item path -> group name
    hidden: set[str] = field(default_factory=set)  # names of hidden groups
    picks: set[str] = field(default_factory=set)  # paths chosen as the best frame of their duplicate/burst set

    def is_empty(self) -> bool:
        return not (self.renames or self.assignments or self.hidden or self.picks)

    # -- recording ---------------------------------------------------------------------------------
    def rename(self, analysis: Analysis, paths: list[str], cluster_id: int, name: str) -> None:
        """Name a group or a sub-group (``cluster_id`` may be either)."""
        renamed = analysis.cluster(cluster_id)
        old = renamed.name
        members = frozenset(paths[i] for i in analysis.members(cluster_id))
        # Forget earlier names of this very group (the ones that land on it today), not every entry that bears
        # its old name: a sub-group may share its name with its group.
        self.renames = [(n, m) for n, m in self.renames
                        if m != members and not (n == old and _lands_on(analysis, paths, m) == cluster_id)]
        self.renames.append((name, members))
        if renamed.parent is not None:
            return  # moves and hidden groups name top-level groups, which a sub-group may share its name with
        self.assignments = {p: (name if g == old else g) for p, g in self.assignments.items()}
        if old in self.hidden:
            self.hidden.discard(old)
            self.hidden.add(name)

    def move(self, paths: list[str], items: list[int], name: str) -> None:
        for i in items:
            self.assignments[paths[i]] = name

    def merge(self, analysis: Analysis, paths: list[str], cluster_ids: list[int]) -> str:
        """Everything in ``cluster_ids`` joins the first one; returns its name."""
        name = analysis.cluster(cluster_ids[0]).name
        members = np.nonzero(np.isin(analysis.labels, cluster_ids))[0]
        self.move(paths, [int(i) for i in members], name)
        return name

    # -- saving ------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"renames": [{"name": n, "members": sorted(m)} for n, m in self.renames],
                "assignments": dict(sorted(self.assignments.items())), "hidden": sorted(self.hidden),
                "picks": sorted(self.picks)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroupEdits:
        return cls(renames=[(str(r["name"]), frozenset(r["members"])) for r in data.get("renames", [])],
                   assignments={str(k): str(v) for k, v in data.get("assignments", {}).items()},
                   hidden={str(h) for h in data.get("hidden", [])}, picks={str(p) for p in data.get("picks", [])})


def apply_edits(analysis: Analysis, vectors: np.ndarray, paths: list[str], edits: GroupEdits) -> Analysis:
    """A copy of ``analysis`` with the user's renames and moves applied on top of the clustering."""
    if edits.is_empty():
        return analysis
    labels = analysis.labels.copy()
    sublabels = analysis.sublabels.copy() if analysis.sublabels is not None else None
    names = {c.id: c.name for c in [*analysis.clusters, *analysis.subclusters]}
    by_user: set[int] = set()
    # Renames: each goes to the current group or sub-group sharing most members with the renamed one.
    claimed: set[int] = set()
    for name, members in edits.renames:
        best, best_score = None, 0.0
        rows = {i for i, p in enumerate(paths) if p in members}
        candidates = {int(labels[i]) for i in rows} | ({int(sublabels[i]) for i in rows} if sublabels is not None
                                                       else set())
        for cid in candidates - {-1} - claimed:
            current = set(analysis.members(cid).tolist())
            score = len(current & rows) / len(current | rows)
            if score > best_score:
                best, best_score = cid, score
        if best is not None and best_score >= RENAME_MIN_OVERLAP:
            names[best] = name
            by_user.add(best)
            claimed.add(best)
    # Moves: into the group of that name, or a new group.
    index = {p: i for i, p in enumerate(paths)}
    top = {c.id for c in analysis.clusters}
    next_id = max(names, default=-1) + 1
    for path, name in edits.assignments.items():
        row = index.get(path)
        if row is None:
            continue  # the item is no longer in the library
        target = next((cid for cid, n in names.items() if n == name and cid in top), None)
        if target is None:
            target, next_id = next_id, next_id + 1
            names[target] = name
            top.add(target)
        if labels[row] != target and sublabels is not None:
            sublabels[row] = -1  # a moved item leaves its sub-group
        labels[row] = target
        by_user.add(target)
    # Recompute sizes, centroids and representatives; groups emptied by moves disappear.
    clusters = describe_clusters(vectors, labels)
    previous = {c.id: c for c in [*analysis.clusters, *analysis.subclusters]}
    for c in clusters:
        c.name = names.get(c.id, c.name)
        c.named_by = "user" if c.id in by_user else previous.get(c.id, c).named_by
    subclusters: list[ClusterInfo] = []
    if sublabels is not None:
        present = set(np.unique(sublabels[sublabels >= 0]).tolist())
        kids_of: dict[int, list[ClusterInfo]] = {}
        for kid in analysis.subclusters:
            if kid.id in present and kid.parent is not None:
                kids_of.setdefault(int(kid.parent), []).append(kid)
        kept = [kid for group in clusters for kid in kids_of.get(group.id, []) if len(kids_of[group.id]) >= 2]
        sublabels[~np.isin(sublabels, [k.id for k in kept])] = -1  # a group has no sub-groups or at least two
        described = {c.id: c for c in describe_clusters(vectors, sublabels)}  # one pass, not one per sub-group
        for kid in kept:
            info = described[kid.id]
            info.parent, info.name = kid.parent, names.get(kid.id, kid.name)
            info.named_by = "user" if kid.id in by_user else kid.named_by
            subclusters.append(info)
    return replace(analysis, labels=labels, clusters=clusters, subclusters=subclusters,
                   sublabels=sublabels if subclusters else None)


def _lands_on(analysis: Analysis, paths: list[str], members: frozenset[str]) -> int | None:
    """The group or sub-group sharing most members (Jaccard) with ``members``, as ``apply_edits`` matches."""
    rows = {i for i, p in enumerate(paths) if p in members}
    best, best_score = None, 0.0
    candidates = {int(analysis.labels[i]) for i in rows}
    if analysis.sublabels is not None:
        candidates |= {int(analysis.sublabels[i]) for i in rows}
    for cid in candidates - {-1}:
        current = set(analysis.members(cid).tolist())
        score = len(current & rows) / len(current | rows)
        if score > best_score:
            best, best_score = cid, score
    return best

