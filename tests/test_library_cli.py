"""The command line and the window agree because both go through the Library: real ``photoatlas`` processes on real
files — sidecar ratings read by ``analyze`` and honoured by ``export``, a library's decisions in ``analyze
--library``, marks listed and set by ``marks`` / ``rate``, and the conventions (``--json``, exit codes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import TINY_MODEL, save_shape
from test_cli import photoatlas

from desktop_app.core.library.library import Library
from desktop_app.core.review.marks import Mark
from desktop_app.core.review.sidecar_marks import write_mark


def _folder(root: Path) -> Path:
    for n in range(3):
        for colour, shape in (("red", "circle"), ("blue", "square")):
            save_shape(root / f"{colour}-{shape}-{n}.jpg", colour, shape, seed=n)
    return root


def test_ratings_from_lightroom_reach_an_export_by_rating(tmp_path: Path) -> None:
    """Before: ``analyze`` did not read sidecar ratings (the window did), so ``export --min-rating 3`` on a folder
    rated in Lightroom said that nothing was rated."""
    lib = _folder(tmp_path / "shoot")
    write_mark(lib / "red-circle-0.jpg", Mark(4))
    write_mark(lib / "blue-square-1.jpg", Mark(3, None, "Green"), "darktable")
    write_mark(lib / "blue-square-2.jpg", Mark(0, "reject", None))  # xmp:Rating -1
    out = tmp_path / "r.json"
    run = photoatlas("analyze", str(lib), "--model", TINY_MODEL, "--cache-dir", str(tmp_path / "c"), "-o", str(out),
                     "--json", "--min-cluster-size", "2")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["marked"] == 3 and summary["document"] == str(out)
    exported = photoatlas("export", str(out), str(tmp_path / "best"), "--min-rating", "3", "--include-noise",
                          "--json", "--quiet")
    assert exported.returncode == 0, exported.stderr
    report = json.loads(exported.stdout)
    assert report["exported"] == 2 and report["left_out_by_marks"] == 4 and exported.stderr == ""
    assert sorted(p.name for p in (tmp_path / "best").rglob("*.jpg")) == ["blue-square-1.jpg", "red-circle-0.jpg"]
    undone = photoatlas("undo", str(tmp_path / "best"), "--json", "--quiet")
    assert undone.returncode == 0 and json.loads(undone.stdout)["reversed"] == 2


def test_a_librarys_decisions_are_listed_set_and_exported_from_the_command_line(tmp_path: Path) -> None:
    lib = _folder(tmp_path / "trip")
    env_home = {"XDG_DATA_HOME": os.environ["XDG_DATA_HOME"]}
    library = Library.for_folders([str(lib)])  # where the window keeps it: the platform's libraries folder
    library.mark([str(lib / "red-circle-0.jpg")], rating=5, text="Rate ★5")
    catalogue = library.path
    busy = photoatlas("rate", str(catalogue), str(lib / "red-circle-1.jpg"), "--stars", "2")
    assert busy.returncode == 1 and "open in another PhotoAtlas window" in busy.stderr  # the window has it
    listed = photoatlas("marks", str(catalogue), "--json")  # reading beside the window is fine
    assert json.loads(listed.stdout) == [{"path": str(lib / "red-circle-0.jpg"), "rating": 5, "flag": None,
                                          "label": None}]
    library.close()

    rated = photoatlas("rate", str(catalogue), str(lib / "blue-square-0.jpg"), str(lib / "blue-square-1.jpg"),
                       "--pick", "--label", "yellow")
    assert rated.returncode == 0, rated.stderr
    assert photoatlas("rate", str(catalogue), str(tmp_path / "elsewhere.jpg"), "--pick").returncode == 2
    outside = save_shape(tmp_path / "elsewhere.jpg", "red", "circle")
    refused = photoatlas("rate", str(catalogue), str(outside), "--pick")
    assert refused.returncode == 2 and "not in the library's folders" in refused.stderr
    (lib / "notes.txt").write_text("a note")
    (lib / "clip.mp4").write_bytes(b"\0" * 64)
    for other in ("notes.txt", "clip.mp4"):  # files the library does not hold as pictures
        refused = photoatlas("rate", str(catalogue), str(lib / other), "--stars", "3")
        assert refused.returncode == 2 and "is not a picture the library holds" in refused.stderr, refused.stderr
    picks = json.loads(photoatlas("marks", str(catalogue), "--picks", "--json").stdout)
    assert [(Path(m["path"]).name, m["label"]) for m in picks] == [("blue-square-0.jpg", "Yellow"),
                                                                    ("blue-square-1.jpg", "Yellow")]
    listing = json.loads(photoatlas("libraries", "--json").stdout)
    assert [(entry["library"], entry["folders"]) for entry in listing] == [(str(catalogue), [str(lib)])]
    assert env_home  # the libraries folder is the test's own (conftest)

    out = tmp_path / "r.json"
    window = Library.open(catalogue)  # the window has it open: analysing it only reads it
    try:
        run = photoatlas("analyze", "--library", str(catalogue), "--model", TINY_MODEL, "--cache-dir",
                         str(tmp_path / "c"), "-o", str(out), "--quiet")
    finally:
        window.close()
    assert run.returncode == 0, run.stderr
    doc = json.loads(out.read_text())
    assert doc["marks"]["rating"] == {str(lib / "red-circle-0.jpg"): 5}
    assert set(doc["marks"]["flag"]) == {str(lib / "blue-square-0.jpg"), str(lib / "blue-square-1.jpg")}
    again = Library.open(catalogue, writable=False)
    try:  # the window's Undo takes back what the script did; the run's --model was for that run only
        assert again.history.undo_text == "Pick, Label Yellow (2 pictures)" and again.settings.model != TINY_MODEL
    finally:
        again.close()


def test_without_a_display_a_bare_photoatlas_says_what_works(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    import subprocess
    import sys

    from conftest import ROOT

    run = subprocess.run([sys.executable, "-m", "desktop_app"], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=60)
    assert run.returncode == 0 and "photoatlas analyze" in run.stdout and run.stderr == ""
    gui = subprocess.run([sys.executable, "-m", "desktop_app", "gui"], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=60)
    assert gui.returncode == 1 and "no display" in gui.stderr  # asked for the window explicitly: an error


def test_a_damaged_library_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "x.photoatlas-library"
    bad.write_text("not a library")
    for args in (("marks", str(bad)), ("rate", str(bad), str(bad), "--pick"), ("analyze", "--library", str(bad))):
        run = photoatlas(*args)
        assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr


def test_a_name_with_a_newline_cannot_forge_a_line_of_the_marks_list(tmp_path: Path) -> None:
    lib = _folder(tmp_path / "odd")
    forged = lib / "IMG_1.jpg\n★★★★★  pick    Red     IMG_2.jpg"
    forged.write_bytes((lib / "red-circle-0.jpg").read_bytes())
    library = Library.for_folders([str(lib)])
    library.mark([str(forged), str(lib / "red-circle-0.jpg")], flag="reject", text="Reject")
    catalogue = library.path
    library.close()
    listed = photoatlas("marks", str(catalogue), "--rejects")
    lines = listed.stdout.splitlines()
    assert listed.returncode == 0 and len(lines) == 2 and all(line.startswith("☆☆☆☆☆  reject") for line in lines)
    assert "\\n" in listed.stdout  # the newline shown escaped
    rows = json.loads(photoatlas("marks", str(catalogue), "--json").stdout)
    assert {row["path"] for row in rows} == {str(forged), str(lib / "red-circle-0.jpg")}  # exact in JSON
    twice = photoatlas("rate", str(catalogue), str(lib / "red-circle-1.jpg"), str(lib / "red-circle-1.jpg"),
                       "--stars", "2")
    assert twice.returncode == 0 and "1 of 1 picture changed" in twice.stdout  # one picture named twice


def test_the_window_opens_a_library_by_its_catalogue(tmp_path: Path) -> None:
    lib = _folder(tmp_path / "shoot")
    library = Library.for_folders([str(lib)])
    library.set_model(TINY_MODEL)
    library.mark([str(lib / "blue-square-2.jpg")], rating=5, text="Rate ★5")
    catalogue = library.path
    library.close()
    shot = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    import subprocess
    import sys

    from conftest import ROOT

    run = subprocess.run([sys.executable, "-m", "desktop_app", "gui", "--library", str(catalogue), "--cache-dir",
                          str(tmp_path / "c"), "--screenshot", str(shot), "--quit-when-done"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0 and shot.stat().st_size > 0, run.stderr  # drawn with the library's own model
    bad = subprocess.run([sys.executable, "-m", "desktop_app", "gui", "--library", str(tmp_path / "none"),
                          "--quit-when-done"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no PhotoAtlas library" in bad.stderr
