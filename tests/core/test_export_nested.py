"""Export with sub-groups as folders inside their group's folder (``nested``): the tree, names, manifests, reruns,
undo (also of a DEST renamed since), the other options alongside, and ``photoatlas export --nested``."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from test_export import digest, make_library, snapshot

from desktop_app.core.analysis.model import describe_clusters
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.export.run import run_export
from desktop_app.core.export.undo import undo_export
from desktop_app.core.progress import drive

# group -> files; each file's sub-group (by name) or None (in the group, in none of its sub-groups)
GROUPS = {
    "wedding": ["a/IMG_1.jpg", "b/IMG_1.jpg", "a/IMG_2.jpg", "a/IMG_3.jpg", "a/IMG_4.jpg", "a/IMG_5.jpg"],
    "party": ["p/d1.jpg", "p/d2.jpg", "p/c1.jpg", "p/c2.jpg"],
    "beach": ["s/b1.jpg", "s/b2.jpg"],
}
SUB_OF = {"a/IMG_1.jpg": "dinner, toasts", "b/IMG_1.jpg": "dinner, toasts", "a/IMG_2.jpg": "dinner, toasts",
          "a/IMG_3.jpg": "vows/rings", "a/IMG_4.jpg": "vows/rings", "a/IMG_5.jpg": None,
          "p/d1.jpg": "dance", "p/d2.jpg": "dance", "p/c1.jpg": "cake", "p/c2.jpg": "cake"}
# Sub-groups in analysis order: within a group, largest first (ids continue after the 3 groups' ids).
SUBGROUPS = [("dinner, toasts", 0), ("vows/rings", 0), ("dance", 1), ("cake", 1)]

# What a user finds in DEST after a nested export (sub-group folders numbered within their group, names made
# safe as group folders' are: the comma dropped, the slash replaced).
NESTED_TREE = {
    "01 wedding/01 dinner toasts/IMG_1.jpg": "a/IMG_1.jpg",
    "01 wedding/01 dinner toasts/IMG_1 (2).jpg": "b/IMG_1.jpg",
    "01 wedding/01 dinner toasts/IMG_2.jpg": "a/IMG_2.jpg",
    "01 wedding/02 vows_rings/IMG_3.jpg": "a/IMG_3.jpg",
    "01 wedding/02 vows_rings/IMG_4.jpg": "a/IMG_4.jpg",
    "01 wedding/IMG_5.jpg": "a/IMG_5.jpg",
    "02 party/01 dance/d1.jpg": "p/d1.jpg",
    "02 party/01 dance/d2.jpg": "p/d2.jpg",
    "02 party/02 cake/c1.jpg": "p/c1.jpg",
    "02 party/02 cake/c2.jpg": "p/c2.jpg",
    "03 beach/b1.jpg": "s/b1.jpg",
    "03 beach/b2.jpg": "s/b2.jpg",
}


def with_subgroups(result, src: Path):
    """The library's result with the sub-groups above set by hand (deterministic)."""
    analysis = result.analysis
    rel = [str(Path(item.path).relative_to(src)) for item in result.items]
    k = len(analysis.clusters)
    ids = {name: k + i for i, (name, _) in enumerate(SUBGROUPS)}
    sublabels = np.array([ids[SUB_OF[r]] if SUB_OF.get(r) else -1 for r in rel], np.int64)
    subclusters = describe_clusters(result.vectors, sublabels)
    for info, (name, parent) in zip(subclusters, SUBGROUPS, strict=True):
        info.name, info.parent = name, parent
    result.analysis = dataclasses.replace(analysis, subclusters=subclusters, sublabels=sublabels)
    return result


@pytest.fixture
def lib(tmp_path: Path):
    src = tmp_path / "src"
    result = with_subgroups(make_library(src, GROUPS), src)
    return src, result, tmp_path / "dest"


def tree(dest: Path) -> dict[str, str]:
    """Exported files (not the journal or the lists) by path relative to DEST -> content digest."""
    return {k: v for k, v in snapshot(dest).items() if not k.startswith((".photoatlas", "groups."))}


def folders(dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_dir())


def test_nested_puts_sub_groups_in_folders_inside_their_group(lib) -> None:
    src, result, dest = lib
    before = snapshot(src)
    summary = drive(run_export(result, dest, ExportOptions(mode="copy", nested=True)))
    assert summary.done == 12 and not summary.failed
    assert snapshot(src) == before
    assert tree(dest) == {target: before[source] for target, source in NESTED_TREE.items()}
    assert folders(dest) == ["01 wedding", "01 wedding/01 dinner toasts", "01 wedding/02 vows_rings", "02 party",
                             "02 party/01 dance", "02 party/02 cake", "03 beach"]
    with open(dest / "groups.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["original_path", "exported_path", "group_id", "group_name", "x", "y", "outlier_score",
                       "kind", "subgroup_name"]
    by_target = {str(Path(r[1]).relative_to(dest.resolve())): (r[3], r[8]) for r in rows[1:]}
    assert by_target["01 wedding/01 dinner toasts/IMG_1 (2).jpg"] == ("wedding", "dinner, toasts")
    assert by_target["01 wedding/IMG_5.jpg"] == ("wedding", "")
    assert by_target["03 beach/b1.jpg"] == ("beach", "")
    records = json.loads((dest / "groups.json").read_text(encoding="utf-8"))
    assert {r["subgroup_name"] for r in records} == {"dinner, toasts", "vows/rings", "dance", "cake", ""}
    assert list(records[0])[-1] == "subgroup_name"


def test_without_nested_nothing_changes(lib, tmp_path: Path) -> None:
    src, result, dest = lib
    drive(run_export(result, dest, ExportOptions(mode="copy")))
    flat = dataclasses.replace(result, analysis=dataclasses.replace(result.analysis, subclusters=[], sublabels=None))
    plain = tmp_path / "plain"
    drive(run_export(flat, plain, ExportOptions(mode="copy")))
    assert tree(dest) == tree(plain) and len(tree(dest)) == 12
    assert folders(dest) == ["01 wedding", "02 party", "03 beach"]
    header = (dest / "groups.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == (plain / "groups.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "subgroup" not in header and "subgroup" not in (dest / ".photoatlas-journal.jsonl").read_text()
    # And a nested export of a library without sub-groups is the plain one too.
    also = tmp_path / "also"
    drive(run_export(flat, also, ExportOptions(mode="copy", nested=True)))
    assert tree(also) == tree(plain)


def test_a_rerun_finds_everything_in_place(lib) -> None:
    src, result, dest = lib
    drive(run_export(result, dest, ExportOptions(mode="copy", nested=True)))
    before = tree(dest)
    again = drive(run_export(result, dest, ExportOptions(mode="copy", nested=True)))
    assert again.done == 0 and again.skipped_existing == 12
    assert tree(dest) == before


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_undo_removes_the_nested_folders_and_restores_the_sources(lib, mode: str) -> None:
    src, result, dest = lib
    before = snapshot(src)
    drive(run_export(result, dest, ExportOptions(mode=mode, nested=True)))
    assert len(tree(dest)) == 12
    summary = drive(undo_export(dest))
    assert summary.reversed == 12 and not summary.refused
    assert snapshot(src) == before
    assert tree(dest) == {} and folders(dest) == []  # "02 party" held only sub-group folders: gone too


def test_undo_finds_nested_files_in_a_renamed_dest(lib, tmp_path: Path) -> None:
    src, result, dest = lib
    before = snapshot(src)
    drive(run_export(result, dest, ExportOptions(mode="move", nested=True)))
    renamed = tmp_path / "renamed"
    dest.rename(renamed)
    summary = drive(undo_export(renamed))
    assert summary.reversed == 12 and not summary.refused
    assert snapshot(src) == before and folders(renamed) == []


def test_other_options_keep_working_with_nested(lib) -> None:
    src, result, dest = lib
    sidecar = src / "a/IMG_3.xmp"
    sidecar.write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>", encoding="utf-8")
    summary = drive(run_export(result, dest, ExportOptions(mode="copy", nested=True, groups={0}, companions=True)))
    assert not summary.failed
    assert digest(dest / "01 wedding/02 vows_rings/IMG_3.xmp") == digest(sidecar)
    assert sorted(tree(dest)) == sorted([k for k in NESTED_TREE if k.startswith("01 wedding/")]
                                        + ["01 wedding/02 vows_rings/IMG_3.xmp"])
    drive(undo_export(dest))
    assert tree(dest) == {} and folders(dest) == [] and sidecar.exists()


def test_cli_export_nested(lib, tmp_path: Path) -> None:
    src, result, dest = lib
    doc = tmp_path / "results.json"
    result.save(doc)
    run = subprocess.run([sys.executable, "-m", "desktop_app", "export", str(doc), str(dest), "--nested"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "exported 12 files" in run.stdout
    assert sorted(tree(dest)) == sorted(NESTED_TREE)
    flat = subprocess.run([sys.executable, "-m", "desktop_app", "export", str(doc), str(tmp_path / "flat")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert flat.returncode == 0, flat.stderr
    assert folders(tmp_path / "flat") == ["01 wedding", "02 party", "03 beach"]


def test_the_export_dialog_offers_nested_folders_off_by_default(qtbot, lib) -> None:
    from desktop_app.gui.export_dialog import ExportDialog

    _, result, _ = lib
    dialog = ExportDialog(result.analysis, str(ROOT))
    qtbot.addWidget(dialog)
    assert dialog.nested.text() == "Sub-groups as folders inside their group"
    assert not dialog.nested.isChecked() and dialog.options().nested is False
    dialog.nested.setChecked(True)
    assert dialog.options().nested is True
