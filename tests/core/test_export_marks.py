"""Ratings, flags and labels reach XMP sidecars (read back by exiftool), are read back from sidecars other tools
wrote, filter the export (picks only, N stars or more, not rejected), and undo takes it all back; group folders
are numbered without gaps, and a rerun lands where the journal says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_export import make_library, snapshot

from desktop_app.core.errors import BadArgument
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.export.run import run_export
from desktop_app.core.export.undo import undo_export
from desktop_app.core.metadata.xmp import read_mark, sidecar_path
from desktop_app.core.progress import drive
from desktop_app.core.review import sidecar_marks
from desktop_app.core.review.marks import Mark, Marks
from desktop_app.core.review.sidecar_marks import read_sidecar_marks, write_mark

GROUPS = {"beach": ["a/IMG_1.jpg", "a/IMG_2.jpg", "a/IMG_3.jpg"], "dogs": ["b/IMG_4.jpg", "b/IMG_5.jpg"],
          "cats": ["c/IMG_6.jpg"]}


def exiftool() -> str:
    found = shutil.which("exiftool")
    if found is None:
        pytest.skip("exiftool is not installed (bootstrap.py installs it on Debian)")
    return found


def read_back(files: list[Path]) -> dict[str, dict]:
    """exiftool's view of the sidecars' xmp:Rating / xmp:Label, by sidecar name."""
    out = subprocess.run([exiftool(), "-j", "-XMP-xmp:Rating", "-XMP-xmp:Label", *map(str, files)],
                         capture_output=True, text=True, check=True, timeout=60)
    return {Path(r["SourceFile"]).name: r for r in json.loads(out.stdout)}


@pytest.fixture
def marked(tmp_path: Path):
    result = make_library(tmp_path / "src", GROUPS)
    by_name = {Path(i.path).name: i.path for i in result.items}
    marks = Marks()
    marks.set(by_name["IMG_1.jpg"], Mark(3, None, "Red"))
    marks.set(by_name["IMG_2.jpg"], Mark(0, "reject", None))
    marks.set(by_name["IMG_4.jpg"], Mark(5, "pick", "Green"))
    marks.set(by_name["IMG_5.jpg"], Mark(1, "pick", None))
    result.marks = marks
    return result


def exported(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.rglob("*.jpg"))


def test_exiftool_reads_rating_reject_and_label_from_sidecars_on_the_copies(marked, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    summary = drive(run_export(marked, dest, ExportOptions(xmp=True, xmp_on_copies=True)))
    assert summary.xmp_written == 6 and not summary.failed
    found = read_back(sorted(dest.rglob("*.xmp")))
    assert found["IMG_1.xmp"]["Rating"] == 3 and found["IMG_1.xmp"]["Label"] == "Red"
    assert found["IMG_2.xmp"]["Rating"] == -1 and "Label" not in found["IMG_2.xmp"]  # a reject: Lightroom's -1
    assert found["IMG_4.xmp"]["Rating"] == 5 and found["IMG_4.xmp"]["Label"] == "Green"
    assert "Rating" not in found["IMG_3.xmp"] and "Label" not in found["IMG_3.xmp"]  # unmarked: nothing invented
    assert not list((tmp_path / "src").rglob("*.xmp"))  # on the copies: the originals' folders untouched
    # Our reader agrees with exiftool, and so does the analysis-time reader (rating -1 -> reject).
    assert read_mark(dest / "01 beach" / "IMG_2.xmp") == (-1, None)
    back = read_sidecar_marks([str(p) for p in dest.rglob("*.jpg")])
    assert back.get(str(dest / "02 dogs" / "IMG_4.jpg")) == Mark(5, None, "Green")  # XMP has no pick flag
    assert back.get(str(dest / "01 beach" / "IMG_2.jpg")).flag == "reject"


def test_next_to_the_originals_merges_and_undo_restores(marked, tmp_path: Path) -> None:
    src = tmp_path / "src"
    tool = exiftool()
    # A darktable sidecar that already holds a rating and a keyword of the user's.
    theirs = src / "a" / "IMG_1.jpg.xmp"
    subprocess.run([tool, "-q", "-XMP-xmp:Rating=1", "-XMP-dc:Subject=holiday", str(theirs)], check=True, timeout=60)
    before = snapshot(src)
    dest = tmp_path / "out"
    summary = drive(run_export(marked, dest, ExportOptions(xmp=True, xmp_naming="darktable")))
    assert summary.xmp_written == 6
    found = read_back([theirs, src / "b" / "IMG_4.jpg.xmp", src / "a" / "IMG_2.jpg.xmp"])
    assert found["IMG_1.jpg.xmp"]["Rating"] == 3 and found["IMG_1.jpg.xmp"]["Label"] == "Red"
    assert found["IMG_4.jpg.xmp"]["Rating"] == 5 and found["IMG_2.jpg.xmp"]["Rating"] == -1
    subjects = subprocess.run([tool, "-s3", "-XMP-dc:Subject", str(theirs)], capture_output=True, text=True,
                              check=True, timeout=60).stdout
    assert "holiday" in subjects and "beach" in subjects  # the user's keyword kept, the group's added
    undone = drive(undo_export(dest))
    assert not undone.refused
    assert snapshot(src) == before  # created sidecars gone, the user's sidecar back byte for byte
    assert exported(dest) == []


def test_read_sidecar_marks_reads_lightroom_and_darktable_names(tmp_path: Path, monkeypatch) -> None:
    tool = exiftool()
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for name in ("IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg", "IMG_4.JPG", "IMG_5.jpg", "IMG_6.CR2", "IMG_6.jpg"):
        (a / name).write_bytes(b"x")
    (b / "IMG_7.jpg").write_bytes(b"x")
    subprocess.run([tool, "-q", "-XMP-xmp:Rating=4", "-XMP-xmp:Label=Blue", str(a / "IMG_1.xmp")], check=True,
                   timeout=60)  # Lightroom naming, written by exiftool
    subprocess.run([tool, "-q", "-XMP-xmp:Rating=-1", str(a / "IMG_2.jpg.xmp")], check=True, timeout=60)  # darktable
    write_mark(a / "IMG_3.jpg", Mark(2, None, "Yellow"), "darktable")  # our own writer
    write_mark(a / "IMG_4.JPG", Mark(5, None, None))  # IMG_4.xmp
    (a / "IMG_5.jpg.xmp").write_text("<x:xmpmeta broken")  # damaged: ignored
    write_mark(a / "IMG_6.jpg", Mark(1, None, "Purple"))  # IMG_6.xmp, shared by the RAW+JPEG pair
    (b / "IMG_7.XMP").write_text((a / "IMG_1.xmp").read_text())  # upper-case extension (a camera, Windows)
    listed: list[str] = []
    real = os.scandir
    monkeypatch.setattr(sidecar_marks.os, "scandir", lambda p: (listed.append(p), real(p))[1])
    paths = [str(p) for p in sorted(a.iterdir()) if p.suffix != ".xmp"] + [str(b / "IMG_7.jpg"), str(b / "gone.jpg")]
    marks = read_sidecar_marks(paths)
    assert sorted(listed) == sorted([str(a), str(b)])  # each folder listed once, no picture looked up on its own
    assert marks.get(str(a / "IMG_1.jpg")) == Mark(4, None, "Blue")
    assert marks.get(str(a / "IMG_2.jpg")) == Mark(0, "reject", None)
    assert marks.get(str(a / "IMG_3.jpg")) == Mark(2, None, "Yellow")
    assert marks.get(str(a / "IMG_4.JPG")) == Mark(5, None, None)
    assert marks.get(str(a / "IMG_5.jpg")) == Mark()
    assert marks.get(str(a / "IMG_6.CR2")) == marks.get(str(a / "IMG_6.jpg")) == Mark(1, None, "Purple")
    assert marks.get(str(b / "IMG_7.jpg")) == Mark(4, None, "Blue")
    assert set(marks.rating) == {str(a / n) for n in ("IMG_1.jpg", "IMG_3.jpg", "IMG_4.JPG", "IMG_6.CR2",
                                                      "IMG_6.jpg")} | {str(b / "IMG_7.jpg")}


def test_darktable_sidecar_wins_over_lightroom_one(tmp_path: Path) -> None:
    (tmp_path / "IMG_1.jpg").write_bytes(b"x")
    write_mark(tmp_path / "IMG_1.jpg", Mark(2, None, "Red"), "lightroom")
    write_mark(tmp_path / "IMG_1.jpg", Mark(4, None, None), "darktable")
    assert read_sidecar_marks([str(tmp_path / "IMG_1.jpg")]).get(str(tmp_path / "IMG_1.jpg")) == Mark(4, None, "Red")


def test_a_sidecar_named_in_the_other_unicode_form_still_belongs_to_its_picture(tmp_path: Path) -> None:
    """macOS keeps names as written: a card's decomposed ``Café.JPG`` and Lightroom's composed ``CAFÉ.xmp`` are one
    picture and its sidecar there (and on exFAT, and on Windows for the case)."""
    import unicodedata

    picture = tmp_path / unicodedata.normalize("NFD", "Café.JPG")
    picture.write_bytes(b"x")
    other = tmp_path / "other.jpg"
    write_mark(other, Mark(3, None, "Green"))
    (other.with_suffix(".xmp")).rename(tmp_path / unicodedata.normalize("NFC", "CAFÉ.xmp"))
    assert read_sidecar_marks([str(picture)]).get(str(picture)) == Mark(3, None, "Green")


@pytest.mark.parametrize(("options", "expected"), [
    (ExportOptions(picks_only=True), ["IMG_4.jpg", "IMG_5.jpg"]),
    (ExportOptions(min_rating=3), ["IMG_1.jpg", "IMG_4.jpg"]),
    (ExportOptions(not_rejected=True), ["IMG_1.jpg", "IMG_3.jpg", "IMG_4.jpg", "IMG_5.jpg", "IMG_6.jpg"]),
    (ExportOptions(picks_only=True, min_rating=2), ["IMG_4.jpg"]),
])
def test_filters_export_exactly_those_files_and_undo_removes_them(marked, tmp_path: Path, options: ExportOptions,
                                                                   expected: list[str]) -> None:
    src = tmp_path / "src"
    before = snapshot(src)
    dest = tmp_path / "out"
    summary = drive(run_export(marked, dest, options))
    assert exported(dest) == expected
    assert summary.left_out_by_marks == 6 - len(expected)
    manifest = json.loads((dest / "groups.json").read_text())
    assert sorted(Path(r["original_path"]).name for r in manifest) == expected
    drive(undo_export(dest))
    assert exported(dest) == [] and snapshot(src) == before


def test_marks_given_in_the_options_win_over_the_documents(marked, tmp_path: Path) -> None:
    mine = Marks()
    mine.set(marked.items[5].path, Mark(0, "pick", None))  # IMG_6
    drive(run_export(marked, tmp_path / "out", ExportOptions(picks_only=True, marks=mine)))
    assert exported(tmp_path / "out") == ["IMG_6.jpg"]


def test_a_rating_filter_without_any_marks_says_so(tmp_path: Path) -> None:
    result = make_library(tmp_path / "src", GROUPS)
    with pytest.raises(BadArgument, match="rated or picked"):
        drive(run_export(result, tmp_path / "out", ExportOptions(picks_only=True)))
    with pytest.raises(BadArgument, match="0 to 5"):
        drive(run_export(result, tmp_path / "out", ExportOptions(min_rating=6)))
    drive(run_export(result, tmp_path / "out", ExportOptions(not_rejected=True)))  # nothing rejected: all go
    assert len(exported(tmp_path / "out")) == 6


def test_group_folders_have_no_gaps_and_reruns_keep_their_folders(marked, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    drive(run_export(marked, dest, ExportOptions(groups={2})))
    assert sorted(p.name for p in dest.iterdir() if p.is_dir()) == ["01 cats"]  # not "03 cats"
    summary = drive(run_export(marked, dest, ExportOptions(groups={0, 2})))
    # cats stays where the journal put it; beach takes the first free number; nothing is exported twice.
    assert sorted(p.name for p in dest.iterdir() if p.is_dir()) == ["01 cats", "02 beach"]
    assert summary.skipped_existing == 1 and exported(dest) == ["IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg", "IMG_6.jpg"]
    # A picks-only export leaves beach empty: dogs is numbered over what is really exported.
    other = tmp_path / "picks"
    drive(run_export(marked, other, ExportOptions(picks_only=True, groups={0, 1})))
    assert sorted(p.name for p in other.iterdir() if p.is_dir()) == ["01 dogs"]


def test_undone_export_numbers_afresh(marked, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    drive(run_export(marked, dest, ExportOptions(groups={2})))
    drive(undo_export(dest))
    drive(run_export(marked, dest, ExportOptions()))
    assert sorted(p.name for p in dest.iterdir() if p.is_dir()) == ["01 beach", "02 dogs", "03 cats"]


def test_user_marks_win_over_best_rating(marked, tmp_path: Path) -> None:
    from desktop_app.core.review.duplicates import SimilarSet

    rows = {Path(i.path).name: r for r, i in enumerate(marked.items)}
    marked.similar_sets = [SimilarSet(kind="duplicates", members=[rows["IMG_2.jpg"], rows["IMG_3.jpg"]],
                                      best=rows["IMG_2.jpg"]),
                           SimilarSet(kind="duplicates", members=[rows["IMG_6.jpg"], rows["IMG_4.jpg"]],
                                      best=rows["IMG_6.jpg"])]
    dest = tmp_path / "out"
    drive(run_export(marked, dest, ExportOptions(best_rating=5, xmp_on_copies=True)))
    assert read_mark(sidecar_path(dest / "01 beach" / "IMG_2.jpg")) == (-1, None)  # rejected stays rejected
    assert read_mark(sidecar_path(dest / "03 cats" / "IMG_6.jpg")) == (5, None)


def test_cli_export_filters_by_the_documents_marks(marked, tmp_path: Path, capsys) -> None:
    from desktop_app import cli

    doc = tmp_path / "results.json"
    marked.save(doc, with_vectors=False)
    dest = tmp_path / "out"
    assert cli.main(["export", str(doc), str(dest), "--picks-only", "--min-rating", "2", "--not-rejected"]) == 0
    assert exported(dest) == ["IMG_4.jpg"]
    assert "left out by the rating / flag filter" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["export", "--help"])
    text = capsys.readouterr().out
    assert "--picks-only" in text and "--min-rating" in text and "--not-rejected" in text
