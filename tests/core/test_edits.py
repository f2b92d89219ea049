"""The user's group edits (renames, moves, merges) re-applied after re-clustering; projects on disk."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from desktop_app.core.analysis.analyze import analyze, recluster
from desktop_app.core.analysis.edits import GroupEdits, apply_edits
from desktop_app.core.analysis.model import AnalysisSettings
from desktop_app.core.documents.project import Project
from desktop_app.core.errors import BadArgument
from desktop_app.core.progress import drive


@pytest.fixture(scope="module")
def data():
    x, y = make_blobs(n_samples=300, n_features=64, centers=4, cluster_std=1.0, random_state=2)
    paths = [f"/lib/{i:03d}.jpg" for i in range(len(x))]
    base = drive(analyze(x, ["image"] * len(x), [None] * len(x)))
    return x, y, paths, base


def test_a_rename_follows_its_members_through_reclustering(data) -> None:
    x, y, paths, base = data
    edits = GroupEdits()
    target = int(base.labels[0])
    edits.rename(base, paths, target, "Beach")
    named = apply_edits(base, x, paths, edits)
    assert next(c for c in named.clusters if c.name == "Beach").id == target
    again = recluster(base, x, ["image"] * len(x), [None] * len(x), "kmeans", {"k": 4})
    renamed = apply_edits(again, x, paths, edits)
    beach = next(c for c in renamed.clusters if c.name == "Beach")
    assert renamed.labels[0] == beach.id and beach.named_by == "user"


def test_moves_and_new_groups_survive_reclustering(data) -> None:
    x, y, paths, base = data
    edits = GroupEdits()
    edits.move(paths, [0, 1, 2], "Favourites")
    moved = apply_edits(base, x, paths, edits)
    fav = next(c for c in moved.clusters if c.name == "Favourites")
    assert fav.size == 3 and set(np.nonzero(moved.labels == fav.id)[0]) == {0, 1, 2}
    again = apply_edits(recluster(base, x, ["image"] * len(x), [None] * len(x), "kmeans", {"k": 2}), x, paths,
                        edits)
    assert next(c for c in again.clusters if c.name == "Favourites").size == 3


def test_merge_joins_groups_under_the_first_name(data) -> None:
    x, y, paths, base = data
    edits = GroupEdits()
    a, b = base.clusters[0], base.clusters[1]
    name = edits.merge(base, paths, [a.id, b.id])
    merged = apply_edits(base, x, paths, edits)
    assert name == a.name and next(c for c in merged.clusters if c.name == name).size == a.size + b.size
    assert len(merged.clusters) == len(base.clusters) - 1


def test_project_round_trip_and_bad_files(data, tmp_path: Path) -> None:
    x, y, paths, base = data
    edits = GroupEdits()
    edits.rename(base, paths, int(base.labels[0]), "Beach")
    edits.move(paths, [5], "Keep")
    edits.hidden.add("Keep")
    project = Project(folders=["/lib"], model="local-dir:/m",
                      analysis=AnalysisSettings(clusterer="kmeans", cluster_params={"k": 5}, seed=3), edits=edits)
    path = tmp_path / "p.photoatlas"
    project.save(path)
    back = Project.load(path)
    assert back.folders == ["/lib"] and back.model == "local-dir:/m"
    assert back.analysis.clusterer == "kmeans" and back.analysis.cluster_params == {"k": 5} and back.analysis.seed == 3
    assert back.edits.to_json() == edits.to_json()
    path.write_text('{"format": "something-else"}')
    with pytest.raises(BadArgument, match="not a PhotoAtlas project"):
        Project.load(path)
    path.write_text('{"format": "photoatlas-project", "version": 99}')
    with pytest.raises(BadArgument, match="newer PhotoAtlas"):
        Project.load(path)
