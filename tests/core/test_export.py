"""Export: every mode, collisions, safe names, companions, XMP read back by exiftool, undo, dry-run, reruns,
and fault injection (SIGKILL at random moments, a file-size limit) on real files in subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from desktop_app.core.analysis.model import Analysis, describe_clusters
from desktop_app.core.embedding.pipeline import EmbedResult, ItemRecord
from desktop_app.core.errors import BadArgument
from desktop_app.core.export.journal import JOURNAL
from desktop_app.core.export.placing import TMP_PREFIX, ExportError
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.export.run import run_export
from desktop_app.core.export.undo import undo_export
from desktop_app.core.filenames import group_folder, safe_name
from desktop_app.core.metadata.xmp import read_keywords, sidecar_path, write_keywords
from desktop_app.core.progress import drive


def make_library(root: Path, groups: dict[str, list[str]], size: int = 2048, noise: list[str] = ()) -> EmbedResult:
    """Files on disk (random bytes) and a results document that puts them in the named groups."""
    rng = random.Random(0)
    names = list(groups)
    wanted = [(rel, gid) for gid, files in enumerate(groups.values()) for rel in files] + [(r, -1) for r in noise]
    items, labels = [], []
    for rel, gid in wanted:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        magic = MAGIC.get(path.suffix.lower(), b"")  # a move checks that a picture is one by its first bytes
        path.write_bytes(magic + rng.randbytes(size - len(magic)))
        items.append(path)
        labels.append(gid)
    n = len(items)
    vectors = np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)
    labels_arr = np.array(labels, np.int64)
    clusters = describe_clusters(vectors, labels_arr)
    for c in clusters:
        c.name = names[c.id]
    analysis = Analysis(coords=np.zeros((n, 2), np.float32), cluster_space=np.zeros((n, 2), np.float32),
                        labels=labels_arr, outlier_scores=np.zeros(n, np.float32), membership=np.ones(n, np.float32),
                        isolation=np.zeros(n, np.float32), clusters=clusters, params={})
    records = []
    for p in items:
        st = p.stat()
        records.append(ItemRecord(path=str(p), kind="text" if p.suffix == ".txt" else "image", status="ok",
                                  size=st.st_size, mtime_ns=st.st_mtime_ns))
    return EmbedResult(model={"name": "test", "dim": 8}, items=records, vectors=vectors, analysis=analysis,
                       folders=[str(root)])


MAGIC = {".jpg": b"\xff\xd8\xff\xe0", ".jpeg": b"\xff\xd8\xff\xe0", ".png": b"\x89PNG\r\n\x1a\n"}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def lib(tmp_path: Path):
    src = tmp_path / "src"
    result = make_library(src, {
        "beach, sunset": ["trip/IMG_0001.jpg", "trip/IMG_0002.jpg", "home/IMG_0001.jpg"],
        "../../escape": ["x/a.jpg"],
        "CON": ["x/b.jpg"],
    }, noise=["x/lonely.jpg"])
    return src, result, tmp_path / "dest"


def test_copy_makes_one_folder_per_group_and_keeps_everything(lib) -> None:
    src, result, dest = lib
    before = snapshot(src)
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert snapshot(src) == before  # sources untouched
    assert summary.done == 5 and not summary.failed
    folders = sorted(p.name for p in dest.iterdir() if p.is_dir())
    assert folders == ["01 beach sunset", "02 ____escape", "03 CON"]
    beach = dest / "01 beach sunset"
    assert sorted(p.name for p in beach.iterdir()) == ["IMG_0001 (2).jpg", "IMG_0001.jpg", "IMG_0002.jpg"]
    assert digest(beach / "IMG_0001.jpg") == digest(src / "trip/IMG_0001.jpg")
    assert digest(beach / "IMG_0001 (2).jpg") == digest(src / "home/IMG_0001.jpg")
    assert (beach / "IMG_0002.jpg").stat().st_mtime_ns == (src / "trip/IMG_0002.jpg").stat().st_mtime_ns
    assert not (dest / "Unsorted").exists()  # noise only with include_noise
    rows = json.loads((dest / "groups.json").read_text())
    assert len(rows) == 5 and {r["group_name"] for r in rows} == {"beach, sunset", "../../escape", "CON"}
    assert (dest / "groups.csv").read_text().splitlines()[0].startswith("original_path,exported_path,group_id")
    assert not list(dest.rglob(f"{TMP_PREFIX}*"))
    for p in dest.rglob("*"):  # nothing escaped DEST
        assert dest.resolve() in p.resolve().parents or p.resolve() == dest.resolve()


def test_rerun_adds_nothing_and_never_overwrites(lib) -> None:
    src, result, dest = lib
    (dest / "01 beach sunset").mkdir(parents=True)
    (dest / "01 beach sunset" / "IMG_0002.jpg").write_bytes(b"mine, not PhotoAtlas's")
    drive(run_export(result, dest, ExportOptions(mode="copy", include_noise=True)))
    assert (dest / "01 beach sunset" / "IMG_0002.jpg").read_bytes() == b"mine, not PhotoAtlas's"
    assert digest(dest / "01 beach sunset" / "IMG_0002 (2).jpg") == digest(src / "trip/IMG_0002.jpg")
    assert (dest / "Unsorted" / "lonely.jpg").exists()
    before = snapshot(dest)
    again = drive(run_export(result, dest, ExportOptions(mode="copy", include_noise=True)))
    assert again.done == 0 and again.skipped_existing == 6
    after = snapshot(dest)
    assert {k for k in after if not k.startswith(".photoatlas")} == {k for k in before if not k.startswith(".photo")}


@pytest.mark.parametrize("name, expected", [
    ("../../x", "____x"), ("CON", "_CON"), ("nul.txt", "_nul.txt"), ("a:b*c?", "a_b_c_"), ("  trailing. ", "trailing"),
    ("..", "untitled"), ("", "untitled"), ("x" * 300, "x" * 120), ("photo\x00.jpg", "photo_.jpg")])
def test_safe_names(name: str, expected: str) -> None:
    got = safe_name(name)
    assert got == expected
    assert "/" not in got and "\\" not in got and got not in (".", "..")


def test_group_folders_are_numbered_and_noise_is_unsorted() -> None:
    assert group_folder(2, "beach, sunset") == "03 beach sunset"
    assert group_folder(-1, "whatever") == "Unsorted"
    assert "/" not in group_folder(0, "a/b/../c")


def test_hardlink_shares_the_file_and_falls_back_to_copy_across_filesystems(lib) -> None:
    src, result, dest = lib
    drive(run_export(result, dest, ExportOptions(mode="hardlink", groups={0})))
    a = dest / "01 beach sunset" / "IMG_0002.jpg"
    assert a.stat().st_ino == (src / "trip/IMG_0002.jpg").stat().st_ino
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == src.stat().st_dev:
        pytest.skip("no second filesystem (/dev/shm) to test the fallback")
    other = shm / f"photoatlas-test-{os.getpid()}"
    try:
        summary = drive(run_export(result, other, ExportOptions(mode="hardlink", groups={0})))
        assert summary.fallbacks == {"hardlink->copy": 3}
        assert any("hardlink->copy" in line for line in summary.lines())
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_symlinks_are_relative(lib) -> None:
    src, result, dest = lib
    drive(run_export(result, dest, ExportOptions(mode="symlink", groups={0})))
    link = dest / "01 beach sunset" / "IMG_0002.jpg"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert link.resolve() == (src / "trip/IMG_0002.jpg").resolve()


def test_move_and_undo_put_everything_back(lib) -> None:
    src, result, dest = lib
    before = snapshot(src)
    drive(run_export(result, dest, ExportOptions(mode="move", include_noise=True)))
    assert snapshot(src) == {}
    assert len([p for p in dest.rglob("*.jpg")]) == 6
    summary = drive(undo_export(dest))
    assert summary.reversed == 6 and not summary.refused
    assert snapshot(src) == before
    assert not (dest / "01 beach sunset").exists()


def test_move_across_filesystems_copies_verifies_then_deletes(lib) -> None:
    src, result, _ = lib
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == src.stat().st_dev:
        pytest.skip("no second filesystem (/dev/shm) available")
    dest = shm / f"photoatlas-move-{os.getpid()}"
    before = snapshot(src)
    try:
        summary = drive(run_export(result, dest, ExportOptions(mode="move", groups={0}, verify=True)))
        assert summary.fallbacks == {"move (copy, verify, delete)": 3}
        assert not (src / "trip/IMG_0001.jpg").exists()
        assert digest(dest / "01 beach sunset" / "IMG_0001.jpg") == before["trip/IMG_0001.jpg"]
        drive(undo_export(dest))
        assert snapshot(src) == before
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_undo_of_a_copy_removes_only_unchanged_files_it_made(lib) -> None:
    src, result, dest = lib
    (dest / "keep").mkdir(parents=True)
    (dest / "keep" / "mine.jpg").write_bytes(b"mine")
    drive(run_export(result, dest, ExportOptions(mode="copy")))
    edited = dest / "01 beach sunset" / "IMG_0002.jpg"
    edited.write_bytes(b"edited after export")
    summary = drive(undo_export(dest))
    assert summary.reversed == 4 and [Path(p).name for p, _ in summary.refused] == ["IMG_0002.jpg"]
    assert edited.read_bytes() == b"edited after export" and (dest / "keep" / "mine.jpg").exists()
    assert (src / "trip/IMG_0002.jpg").exists()
    with pytest.raises(BadArgument, match="no PhotoAtlas export journal"):
        drive(undo_export(src))


def test_dry_run_touches_nothing(lib) -> None:
    src, result, dest = lib
    summary = drive(run_export(result, dest, ExportOptions(mode="move", dry_run=True)))
    assert summary.done == 5 and not dest.exists() and (src / "trip/IMG_0001.jpg").exists()


def test_companions_travel_with_their_picture(tmp_path: Path) -> None:
    src = tmp_path / "src"
    result = make_library(src, {"dogs": ["a/IMG_1.jpg", "b/IMG_1.jpg"]})
    (src / "a/IMG_1.xmp").write_text("<x/>")
    (src / "a/IMG_1.CR2").write_bytes(b"raw")
    (src / "b/IMG_1.jpg.xmp").write_text("<x/>")
    (src / "b/IMG_1.txt").write_text("a caption")
    (src / "b/IMG_10.jpg").write_bytes(b"not a companion")
    dest = tmp_path / "dest"
    drive(run_export(result, dest, ExportOptions(companions=True)))
    names = sorted(p.name for p in (dest / "01 dogs").iterdir())
    assert names == ["IMG_1 (2).jpg", "IMG_1 (2).jpg.xmp", "IMG_1 (2).txt", "IMG_1.CR2", "IMG_1.jpg", "IMG_1.xmp"]


def test_xmp_keywords_are_merged_and_read_back_by_exiftool(tmp_path: Path) -> None:
    src = tmp_path / "src"
    result = make_library(src, {"beach sunset": ["IMG_1.jpg", "IMG_2.jpg"]})
    image_bytes = (src / "IMG_1.jpg").read_bytes()
    existing = sidecar_path(src / "IMG_2.jpg")
    existing.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"><dc:subject><rdf:Bag><rdf:li>family</rdf:li>'
        '</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>')
    summary = drive(run_export(result, tmp_path / "dest", ExportOptions(xmp=True)))
    assert summary.xmp_written == 2
    assert (src / "IMG_1.jpg").read_bytes() == image_bytes  # the picture itself is never modified
    assert read_keywords(src / "IMG_1.xmp") == ["beach sunset"]
    assert read_keywords(existing) == ["family", "beach sunset"]
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool is not installed (bootstrap.py test installs it on Debian)")
    out = subprocess.run([exiftool, "-j", "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", "-XMP-xmp:Rating",
                          str(src / "IMG_1.xmp"), str(existing)], capture_output=True, text=True, check=True)
    first, second = json.loads(out.stdout)
    assert first["Subject"] in ("beach sunset", ["beach sunset"])
    assert first["HierarchicalSubject"] in ("PhotoAtlas|beach sunset", ["PhotoAtlas|beach sunset"])
    assert second["Subject"] == ["family", "beach sunset"] and second["Rating"] == 4
    # Undo restores the sidecar that existed and removes the one it created.
    drive(undo_export(tmp_path / "dest"))
    assert read_keywords(existing) == ["family"] and not (src / "IMG_1.xmp").exists()


def test_darktable_naming() -> None:
    assert sidecar_path(Path("/p/IMG_1.jpg"), "darktable") == Path("/p/IMG_1.jpg.xmp")
    assert sidecar_path(Path("/p/IMG_1.jpg"), "lightroom") == Path("/p/IMG_1.xmp")


def test_a_broken_sidecar_is_left_alone(tmp_path: Path) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(b"x")
    sidecar_path(image).write_text("<not xml")
    assert write_keywords(image, ["k"]) is None and sidecar_path(image).read_text() == "<not xml"


# -- fault injection: real subprocesses ------------------------------------------------------------------
def _export_cmd(results: Path, dest: Path, mode: str) -> list[str]:
    return [sys.executable, "-m", "desktop_app", "export", str(results), str(dest), "--mode", mode]


# The CLI, with every file operation after the first HOLD ones held back until the process is killed: whatever
# the machine's speed, the kill below lands while the export is still running.
_HOLDING_EXPORT = """
import runpy, sys, threading
import desktop_app.core.export.run as export
hold = int(sys.argv.pop(1))
real, lock, started = export._do, threading.Lock(), [0]
def held(*args, **kwargs):
    with lock:
        started[0] += 1
        n = started[0]
    if n > hold:
        threading.Event().wait()
    return real(*args, **kwargs)
export._do = held
sys.argv = ["photoatlas", *sys.argv[1:]]
runpy.run_module("desktop_app", run_name="__main__")
"""


def _done_in_this_run(journal: Path) -> int:
    """"done" marks written since the last "begin" (earlier ones belong to earlier runs or their recovery)."""
    done = 0
    for line in journal.read_text(encoding="utf-8").splitlines() if journal.exists() else []:
        try:
            op = json.loads(line).get("op")
        except json.JSONDecodeError:
            continue  # being written right now
        done = 0 if op == "begin" else done + (op == "done")
    return done


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_sigkill_at_random_moments_loses_nothing_and_the_rerun_completes(tmp_path: Path, mode: str) -> None:
    """SIGKILL once the journal shows N files done (N varies; the kill lands among the next few operations: mid
    copy, between link and unlink, between a file and its journal mark), eight times, then a rerun."""
    src = tmp_path / "src"
    files = {f"g{g}": [f"d{g}/f{i:03d}.jpg" for i in range(40)] for g in range(3)}
    result = make_library(src, files, size=256 * 1024)
    originals = {p.path: digest(Path(p.path)) for p in result.items}
    results = tmp_path / "r.json"
    result.save(results)
    dest = tmp_path / "dest"
    rng = random.Random(7)
    for _ in range(8):
        n_done = rng.randint(1, 6)
        hold = n_done + rng.randint(1, 6)  # 8 runs x at most 12 operations: always fewer than the 120 files
        with open(tmp_path / "stderr.txt", "wb") as err:
            proc = subprocess.Popen([sys.executable, "-c", _HOLDING_EXPORT, str(hold), *_export_cmd(
                results, dest, mode)[3:]], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 300  # a guard against a hang, not a timing assertion
        while _done_in_this_run(dest / JOURNAL) < n_done:
            assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.monotonic() < deadline, "the export never reached the files it was to do"
            time.sleep(0.005)
        assert proc.poll() is None  # the kill lands before the export finished...
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert not (dest / "groups.csv").exists()  # ...which writes its manifests last
        _assert_nothing_lost(originals, dest, mode)
    run = subprocess.run(_export_cmd(results, dest, mode), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    _assert_nothing_lost(originals, dest, mode, complete=True)


def _assert_nothing_lost(originals: dict[str, str], dest: Path, mode: str, complete: bool = False) -> None:
    exported: dict[str, list[Path]] = {}
    for p in dest.glob("*/*"):
        if p.name.startswith(TMP_PREFIX):
            assert not complete, f"{p} left behind"  # a killed run may leave one; the next run removes it
            continue
        exported.setdefault(digest(p), []).append(p)
    partial = set(exported) - set(originals.values())
    assert not partial, f"not a whole copy under a final name: {[exported[d] for d in partial]}"
    for path, want in originals.items():
        at_source = Path(path).exists() and digest(Path(path)) == want
        in_dest = len(exported.get(want, []))
        assert in_dest <= 1, f"{path} exported twice"
        if mode == "copy":
            assert at_source, f"{path} lost"
            if complete:
                assert in_dest == 1
        else:
            assert at_source or in_dest == 1, f"{path} lost"
            if complete:
                assert in_dest == 1 and not Path(path).exists()


def test_a_file_size_limit_stops_with_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes every write past 100 KB fail like a full disk: one clear line, sources intact, no partial file
    under a final name, and a rerun without the limit finishes the job."""
    src = tmp_path / "src"
    result = make_library(src, {"g": [f"f{i}.jpg" for i in range(10)]}, size=200 * 1024)
    originals = {p.path: digest(Path(p.path)) for p in result.items}
    results = tmp_path / "r.json"
    result.save(results)
    dest = tmp_path / "dest"
    limiter = ("import resource, signal, runpy, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
               "resource.setrlimit(resource.RLIMIT_FSIZE, (100 * 1024, 100 * 1024)); "
               "sys.argv = ['photoatlas', *sys.argv[1:]]; runpy.run_module('desktop_app', run_name='__main__')")
    run = subprocess.run([sys.executable, "-c", limiter, "export", str(results), str(dest), "--mode", "copy"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "File too large" in run.stderr and "Traceback" not in run.stderr
    _assert_nothing_lost(originals, dest, "copy")
    run = subprocess.run(_export_cmd(results, dest, "copy"), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    _assert_nothing_lost(originals, dest, "copy", complete=True)


def test_an_unwritable_destination_is_one_clear_error(tmp_path: Path, lib) -> None:
    src, result, _ = lib
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="cannot write to"):
        drive(run_export(result, blocker / "dest", ExportOptions()))
    assert (src / "trip/IMG_0001.jpg").exists() and not (blocker.parent / JOURNAL).exists()


def test_a_read_only_destination_is_one_clear_line_and_nothing_moves(tmp_path: Path) -> None:
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a.jpg", "b.jpg"]})
    results = tmp_path / "r.json"
    result.save(results)
    dest = tmp_path / "dest"
    dest.mkdir()
    os.chmod(dest, 0o555)
    cmd = _export_cmd(results, dest, "move")
    if os.geteuid() == 0:
        # Root writes anywhere; drop the capability that lets it, so permissions apply as for a user.
        if not shutil.which("setpriv"):
            pytest.skip("running as root without util-linux setpriv")
        caps = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *cmd]
    try:
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        os.chmod(dest, 0o755)
    assert run.returncode == 1 and "cannot write to" in run.stderr and "Permission denied" in run.stderr
    assert "Traceback" not in run.stderr and (src / "a.jpg").exists() and not list(dest.iterdir())
