"""Export keeps going and keeps things safe when the world moves under it: a second export into the same DEST,
sources that change while they are exported, files and sidecars that cannot be read, DEST inside the analysed
folder, a cancel from the window, folders of thousands of pictures with companions."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from test_export import digest, make_library, snapshot

from desktop_app.core.errors import Cancelled
from desktop_app.core.export import placing
from desktop_app.core.export import run as export_module
from desktop_app.core.export.journal import JOURNAL, Journal
from desktop_app.core.export.placing import TMP_PREFIX, ExportError
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.export.run import run_export
from desktop_app.core.export.undo import undo_export
from desktop_app.core.ingest.items import Item, Skipped, scan
from desktop_app.core.metadata.xmp import read_keywords, sidecar_path
from desktop_app.core.progress import CancelToken, ProgressEvent, drive


@pytest.fixture
def lib(tmp_path: Path):
    src = tmp_path / "src"
    result = make_library(src, {"g": [f"d/IMG_{i}.jpg" for i in range(6)]}, size=50_000)
    return src, result, tmp_path / "dest"


def test_one_export_at_a_time_per_destination(lib, tmp_path: Path) -> None:
    """The window's export holds DEST's lock: the command line (another process) is refused with one line, and
    so is an undo; once the first export is over, the next one runs."""
    src, result, dest = lib
    results = tmp_path / "r.json"
    result.save(results)
    first = run_export(result, dest, ExportOptions(mode="copy"))
    next(first)  # under way: DEST is locked and its journal is open
    cli = [sys.executable, "-m", "desktop_app", "export", str(results), str(dest), "--mode", "copy"]
    run = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "another export or undo into" in run.stderr and "Traceback" not in run.stderr
    with pytest.raises(ExportError, match="another export"):
        drive(undo_export(dest))
    summary = drive(first)
    assert summary.done == 6
    begins = [e for e in Journal(dest).entries if e.get("op") == "begin"]
    assert len(begins) == 1  # the refused export wrote nothing into the journal
    run = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "exported 0 files" in run.stdout and "(6 already there)" in run.stdout


def _changing(monkeypatch: pytest.MonkeyPatch, victim: Path) -> None:
    """One worker, files in plan order; while the first file is exported, ``victim`` is edited."""
    monkeypatch.setattr(export_module, "WORKERS", 1)
    real = export_module._do
    edited = []

    def do(p, *args, **kwargs):
        if not edited:
            edited.append(p)
            with open(victim, "ab") as f:
                f.write(b"edited while the export ran")
        return real(p, *args, **kwargs)

    monkeypatch.setattr(export_module, "_do", do)


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_a_source_changed_after_it_was_journaled_is_reported_and_never_moved(monkeypatch, lib, mode: str) -> None:
    src, result, dest = lib
    victim = src / "d/IMG_3.jpg"
    _changing(monkeypatch, victim)
    summary = drive(run_export(result, dest, ExportOptions(mode=mode)))
    assert summary.done == 5 and [Path(p).name for p, _ in summary.failed] == ["IMG_3.jpg"]
    assert "changed" in summary.failed[0][1] and any("IMG_3.jpg" in line for line in summary.lines())
    assert victim.read_bytes().endswith(b"edited while the export ran")  # the original stays, edited
    assert not (dest / "01 g" / "IMG_3.jpg").exists() and not list(dest.rglob(f"{TMP_PREFIX}*"))


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_a_source_that_changes_while_it_is_copied_is_reported_and_kept(monkeypatch, lib, mode: str) -> None:
    """A move to another filesystem copies first: the edit lands during that copy; the original must stay."""
    src, result, dest = lib
    monkeypatch.setattr(export_module, "same_device", lambda *args: False)  # as if DEST were another drive
    victim = src / "d/IMG_2.jpg"
    real_copy = placing.copy_bytes

    def copy_bytes(source, target, size, cancel=None):
        real_copy(source, target, size, cancel)
        if os.path.samestat(os.fstat(source.fileno()), os.stat(victim)):  # opened by descriptor: no name
            with open(victim, "ab") as f:
                f.write(b"!")

    monkeypatch.setattr(placing, "copy_bytes", copy_bytes)
    summary = drive(run_export(result, dest, ExportOptions(mode=mode)))
    assert summary.done == 5 and [Path(p).name for p, _ in summary.failed] == ["IMG_2.jpg"]
    assert "changed while it was copied" in summary.failed[0][1]
    assert victim.read_bytes().endswith(b"!") and not (dest / "01 g" / "IMG_2.jpg").exists()
    assert not list(dest.rglob(f"{TMP_PREFIX}*"))
    if mode == "move":
        assert sorted(snapshot(src)) == ["d/IMG_2.jpg"]  # every other original moved; this one stayed


def test_an_unreadable_file_or_sidecar_is_reported_and_the_rest_go_on(lib) -> None:
    src, result, dest = lib
    os.unlink(src / "d/IMG_1.jpg")  # gone since the analysis
    sidecar_path(src / "d/IMG_2.jpg").mkdir()  # a folder where the sidecar should be: cannot be read
    sidecar_path(src / "d/IMG_4.jpg").write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "boom">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>')
    summary = drive(run_export(result, dest, ExportOptions(mode="copy", xmp=True)))
    assert summary.done == 5 and summary.xmp_written == 3
    failed = {Path(p).name: why for p, why in summary.failed}
    assert set(failed) == {"IMG_1.jpg", "IMG_2.xmp", "IMG_4.xmp"}
    assert "DOCTYPE" in failed["IMG_4.xmp"] and "XMP sidecar" in failed["IMG_2.xmp"]
    assert read_keywords(sidecar_path(src / "d/IMG_5.jpg")) == ["g"]
    assert "boom" not in read_keywords(sidecar_path(src / "d/IMG_4.jpg"))
    assert sidecar_path(src / "d/IMG_4.jpg").read_text().startswith('<?xml version="1.0"?><!DOCTYPE')
    # The lists name only files that are really in DEST: no row for the photo that could not be exported.
    with open(dest / "groups.csv", encoding="utf-8") as f:
        listed = [Path(row["exported_path"]) for row in csv.DictReader(f)]
    assert len(listed) == 5 and all(p.is_file() for p in listed) and "IMG_1.jpg" not in {p.name for p in listed}


def test_dest_inside_the_analysed_folder_is_a_warning_and_the_next_scan_leaves_it_out(monkeypatch, lib) -> None:
    """The journal is the first thing in DEST (before any file is placed), and a scan of the analysed folder
    recognises it: the exported copies are not new photos."""
    src, result, _ = lib
    dest = src / "d" / "sorted"  # beside the pictures
    journal_first = []
    real = export_module._do

    def do(p, *args, **kwargs):
        journal_first.append((dest / JOURNAL).is_file())
        return real(p, *args, **kwargs)

    monkeypatch.setattr(export_module, "_do", do)
    events: list[ProgressEvent] = []
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")), events.append)
    assert journal_first and all(journal_first)
    warnings = [e.message for e in events if e.stage == "warning"]
    assert len(warnings) == 1 and str((src / "d").resolve()) in warnings[0]
    assert any("warning: DEST is inside the analysed folder" in line for line in summary.lines())
    found = list(scan([src]))
    items = [r for r in found if isinstance(r, Item)]
    assert len(items) == 6 and not [i for i in items if dest in i.path.parents]
    assert [s.path for s in found if isinstance(s, Skipped)] == [dest]
    elsewhere = drive(run_export(result, src.parent / "elsewhere", ExportOptions(mode="copy")))
    assert not elsewhere.warnings


def test_companions_are_found_with_one_listing_per_folder(monkeypatch, tmp_path: Path) -> None:
    src = tmp_path / "src"
    result = make_library(src, {"g": [f"big/IMG_{i:03d}.jpg" for i in range(40)]}, size=1000)
    for i in range(40):
        (src / f"big/IMG_{i:03d}.xmp").write_text("<x/>")
    listed: list[str] = []
    for name in ("scandir", "listdir"):
        real = getattr(os, name)

        def counting(path=".", _real=real):
            listed.append(os.path.abspath(os.fspath(path)))
            return _real(path)

        monkeypatch.setattr(os, name, counting)
    summary = drive(run_export(result, tmp_path / "dest", ExportOptions(mode="copy", companions=True)))
    assert summary.done == 80
    assert listed.count(str(src / "big")) == 1  # before: once per picture
    assert listed.count(str(tmp_path / "dest" / "01 g")) <= 1


def test_cancel_after_the_first_progress_leaves_a_settled_journal_and_undo_works(monkeypatch, tmp_path) -> None:
    """What closing the window does: cancel after the first files are through. The export stops before the
    next file, the journal has no loose ends, nothing is half-placed, and undo puts every original back."""
    monkeypatch.setattr(export_module, "BATCH", 8)
    src = tmp_path / "src"
    result = make_library(src, {"g": [f"d/f{i:02d}.jpg" for i in range(40)]}, size=20_000)
    before = snapshot(src)
    dest = tmp_path / "dest"
    token = CancelToken()
    gen = run_export(result, dest, ExportOptions(mode="move"), token)
    with pytest.raises(Cancelled):
        while True:
            event = next(gen)
            if event.stage == "export" and event.done > 0:
                token.cancel()
    moved = [p for p in dest.rglob("*.jpg")]
    assert 0 < len(moved) < 40
    assert not Journal(dest).started() and not list(dest.rglob(f"{TMP_PREFIX}*"))
    in_dest = {digest(p) for p in moved}
    for rel, want in before.items():
        assert (src / rel).exists() != (want in in_dest)  # each original in exactly one place
    entries = [json.loads(line) for line in (dest / JOURNAL).read_text().splitlines()]
    assert sum(e["op"] == "done" for e in entries) == len(moved)
    undone = drive(undo_export(dest))
    assert undone.reversed == len(moved) and snapshot(src) == before


def test_closing_the_generator_mid_export_settles_the_journal(lib) -> None:
    """The window's worker closes the generator when it stops: in-flight copies end and are journaled."""
    src, result, dest = lib
    gen = run_export(result, dest, ExportOptions(mode="copy"))
    next(gen)
    gen.close()
    assert not Journal(dest).started() and not list(dest.rglob(f"{TMP_PREFIX}*"))
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")))  # the lock was released
    assert summary.done + summary.skipped_existing == 6


def test_dest_beside_the_analysed_subfolders_is_a_warning_on_a_dry_run_too(tmp_path: Path) -> None:
    """Pictures in Pictures/2023 and Pictures/2024, DEST Pictures/Sorted: Pictures was what was analysed."""
    src = tmp_path / "Pictures"
    result = make_library(src, {"g": ["2023/a.jpg", "2024/b.jpg"]})
    events: list[ProgressEvent] = []
    summary = drive(run_export(result, src / "Sorted", ExportOptions(dry_run=True)), events.append)
    assert [e.stage for e in events].count("warning") == 1 and len(summary.warnings) == 1
    assert str(src.resolve()) in summary.warnings[0] and not (src / "Sorted").exists()
