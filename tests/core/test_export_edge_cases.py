"""Export and undo where a reviewer found them losing or duplicating files: locked and read-only photos (macOS
Finder lock, Windows read-only attribute), a user's own groups.csv in DEST, undo after the originals were deleted,
undo meeting errors and vanished folders, recovery meeting someone else's file, NFD names and DEST typed in
another case, a journal line cut short by a kill, names too long for their sidecar. Each platform's behaviour is
simulated on real files (the platform switch, or the filesystem's answers)."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from conftest import ROOT
from test_export import digest, make_library, snapshot

from desktop_app.core.export import manifests
from desktop_app.core.export import undo as export_undo
from desktop_app.core.export.journal import JOURNAL, Journal
from desktop_app.core.export.placing import TMP_PREFIX, ExportError
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.export.run import run_export
from desktop_app.core.export.undo import undo_export
from desktop_app.core.metadata.xmp import read_keywords, sidecar_path
from desktop_app.core.progress import drive


@pytest.fixture
def group(tmp_path: Path):
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a/IMG_1.jpg", "b/IMG_2.jpg", "c/IMG_3.jpg"]}, size=20_000)
    return src, result, tmp_path / "dest"


def _windows_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows: a file whose read-only attribute is set (Python's mode without the owner's write bit) cannot be
    deleted, and there is no sendfile."""
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        try:
            read_only = not os.lstat(path).st_mode & stat.S_IWUSR
        except OSError:
            read_only = False
        if read_only:
            raise PermissionError(errno.EACCES, "Access is denied", os.fspath(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.delattr(os, "sendfile")
    monkeypatch.setattr(os, "unlink", unlink)


# -- 1. locked and read-only photos ------------------------------------------------------------------------------
def _refuse_unlink(monkeypatch, stuck: Path, err: int = errno.EACCES,
                   message: str = "The process cannot access the file"):
    """From now on ``stuck`` cannot be removed (by default as when Windows has the file open; EPERM as for a
    locked file or a read-only folder); returns the real os.unlink."""
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if os.fspath(path) == str(stuck):
            raise PermissionError(err, message, os.fspath(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    return real_unlink


def test_a_read_only_photo_on_windows_is_copied_and_its_copy_can_be_undone(monkeypatch, group) -> None:
    """Before: copystat gave the temporary copy the read-only bit, which Windows then would not unlink after
    os.link: the finished copy was taken back, marked abandoned, and a read-only temp stayed in DEST."""
    src, result, dest = group
    locked = src / "b/IMG_2.jpg"
    locked.chmod(0o444)
    _windows_read_only(monkeypatch)
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert summary.done == 3 and not summary.failed
    copy = dest / "01 g" / "IMG_2.jpg"
    assert digest(copy) == digest(locked) and copy.stat().st_mtime_ns == locked.stat().st_mtime_ns
    assert copy.stat().st_mode & stat.S_IWUSR  # the copy is not locked: undo (and the user) can remove it
    assert not list(dest.rglob(f"{TMP_PREFIX}*"))
    undone = drive(undo_export(dest))
    assert undone.reversed == 3 and not undone.refused and not copy.exists()
    assert locked.exists() and not locked.stat().st_mode & stat.S_IWUSR  # the original stays as the user set it


def _leftover(dest: Path) -> Path:
    tmp = dest / "01 g" / f"{TMP_PREFIX}0123456789abcdef"
    tmp.write_bytes(b"half a copy")
    return tmp


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_a_locked_temporary_file_left_by_a_kill_is_cleared_and_removed(monkeypatch, group, platform: str) -> None:
    """Before: the next run's cleanup hit EPERM/EACCES on the locked temp and every export into DEST stopped with
    "cannot write to DEST". macOS: unlink refuses a file with UF_IMMUTABLE until chflags clears it."""
    src, result, dest = group
    drive(run_export(result, dest, ExportOptions(mode="copy")))
    tmp = _leftover(dest)
    if platform == "win32":
        tmp.chmod(0o444)
        _windows_read_only(monkeypatch)
    else:
        flagged = {str(tmp)}
        real_unlink = os.unlink

        def chflags(path, flags, *, follow_symlinks=True):
            if flags == 0:
                flagged.discard(os.fspath(path))

        def unlink(path, *args, **kwargs):
            if os.fspath(path) in flagged:
                raise PermissionError(errno.EPERM, "Operation not permitted", os.fspath(path))
            return real_unlink(path, *args, **kwargs)

        monkeypatch.setattr(sys, "platform", "darwin")
        monkeypatch.setattr(os, "chflags", chflags, raising=False)
        monkeypatch.setattr(os, "unlink", unlink)
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert summary.skipped_existing == 3 and not summary.warnings
    assert not tmp.exists()


def test_a_temporary_file_that_cannot_be_removed_is_a_warning_not_a_stop(monkeypatch, group) -> None:
    src, result, dest = group
    drive(run_export(result, dest, ExportOptions(mode="copy")))
    tmp = _leftover(dest)
    (dest / "01 g" / "IMG_3.jpg").unlink()  # so the rerun has something to do
    _refuse_unlink(monkeypatch, tmp, errno.EPERM, "Operation not permitted")
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert not summary.failed and summary.done == 1 and summary.skipped_existing == 2
    assert any("could not be removed" in w and str(tmp) in w for w in summary.warnings)
    assert tmp.exists() and digest(dest / "01 g" / "IMG_3.jpg") == digest(src / "c/IMG_3.jpg")


# -- 2. the lists never replace a user's file ------------------------------------------------------------------------
def test_the_lists_never_replace_a_users_own_groups_files(group) -> None:
    """Before: os.replace overwrote DEST's groups.json (and on a case-insensitive disk Groups.CSV), unjournaled."""
    src, result, dest = group
    dest.mkdir()
    (dest / "groups.json").write_text("my own notes")
    (dest / "Groups.CSV").write_text("my,own,table\n")
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert (dest / "groups.json").read_text() == "my own notes"
    assert (dest / "Groups.CSV").read_text() == "my,own,table\n"
    assert not (dest / "groups.csv").exists()  # would be Groups.CSV itself on macOS and Windows
    assert len(json.loads((dest / "groups (2).json").read_text())) == 3
    assert (dest / "groups (2).csv").read_text().startswith("original_path,")
    assert sum("groups (2).json" in w or "groups (2).csv" in w for w in summary.warnings) == 2
    # The next run replaces its own lists, not the user's, and makes no third one.
    drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert (dest / "groups.json").read_text() == "my own notes"
    assert sorted(p.name for p in dest.glob("*roups*")) == ["Groups.CSV", "groups (2).csv", "groups (2).json",
                                                            "groups.json"]


def test_lists_written_before_they_were_journaled_are_still_replaced(group) -> None:
    src, result, dest = group
    drive(run_export(result, dest, ExportOptions(mode="copy")))
    lines = [line for line in (dest / JOURNAL).read_text().splitlines() if '"op": "manifest"' not in line]
    (dest / JOURNAL).write_text("\n".join(lines) + "\n")  # as an older version left it
    drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert sorted(p.name for p in dest.glob("groups*")) == ["groups.csv", "groups.json"]


# -- 3. undo never removes the last copy -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["copy", "hardlink"])
def test_undo_keeps_copies_whose_original_is_gone_or_changed(group, mode: str) -> None:
    """Before: undo removed every copy and link without looking at the original: after the user had deleted
    the originals, undo deleted the last copy of each photo."""
    src, result, dest = group
    drive(run_export(result, dest, ExportOptions(mode=mode)))
    folder = dest / "01 g"
    kept = digest(folder / "IMG_1.jpg")
    (src / "a/IMG_1.jpg").unlink()  # the user deleted the original
    (src / "b/IMG_2.jpg").unlink()
    (src / "b/IMG_2.jpg").write_bytes(b"another picture under the same name")  # for a link: another file now
    undone = drive(undo_export(dest))
    assert undone.reversed == 1 and not (folder / "IMG_3.jpg").exists()
    refused = {Path(p).name: why for p, why in undone.refused}
    assert set(refused) == {"IMG_1.jpg", "IMG_2.jpg"}
    assert "original" in refused["IMG_1.jpg"] and "gone" in refused["IMG_1.jpg"]
    assert digest(folder / "IMG_1.jpg") == kept and (folder / "IMG_2.jpg").exists()


# -- 4. undo goes on after an error ----------------------------------------------------------------------------------
def test_undo_lists_a_file_it_cannot_remove_and_goes_on(monkeypatch, group) -> None:
    """Before: the first OSError (here: a file Windows has open) escaped as a traceback, halfway through."""
    src, result, dest = group
    drive(run_export(result, dest, ExportOptions(mode="copy")))
    stuck = dest / "01 g" / "IMG_2.jpg"
    real_unlink = _refuse_unlink(monkeypatch, stuck)
    undone = drive(undo_export(dest))
    assert undone.reversed == 2 and [Path(p).name for p, _ in undone.refused] == ["IMG_2.jpg"]
    assert stuck.exists() and sorted(p.name for p in (dest / "01 g").iterdir()) == ["IMG_2.jpg"]
    monkeypatch.setattr(os, "unlink", real_unlink)
    again = drive(undo_export(dest))  # once the file is free, undo finishes the job
    assert again.reversed == 1 and not again.refused and not stuck.exists()


def test_undo_of_a_move_does_not_recreate_a_deleted_source_folder(group) -> None:
    """Before: mkdir(parents=True) recreated the folder the user had deleted (or a path on an unplugged drive)."""
    src, result, dest = group
    drive(run_export(result, dest, ExportOptions(mode="move")))
    (src / "b").rmdir()  # emptied by the move; the user removed it
    undone = drive(undo_export(dest))
    assert undone.reversed == 2 and (src / "a/IMG_1.jpg").exists() and (src / "c/IMG_3.jpg").exists()
    assert not (src / "b").exists() and (dest / "01 g" / "IMG_2.jpg").exists()
    assert [("IMG_2.jpg", True)] == [(Path(p).name, "is gone" in why) for p, why in undone.refused]


def test_a_cross_drive_move_back_that_cannot_remove_the_copy_in_dest_leaves_one_file(monkeypatch, group) -> None:
    """Before: the copy back was made, the copy in DEST could not be removed (Windows has it open), and the photo
    was then in two places."""
    src, result, dest = group
    drive(run_export(result, dest, ExportOptions(mode="move")))
    monkeypatch.setattr(export_undo, "same_device", lambda st, folder: False)  # the originals' drive is another
    stuck = dest / "01 g" / "IMG_2.jpg"
    _refuse_unlink(monkeypatch, stuck)
    undone = drive(undo_export(dest))
    assert undone.reversed == 2 and [Path(p).name for p, _ in undone.refused] == ["IMG_2.jpg"]
    assert stuck.exists() and not (src / "b/IMG_2.jpg").exists()
    assert not list(src.rglob(f"{TMP_PREFIX}*"))


# Undo of a move across drives, killed in the middle of copying a photo back into its original folder.
_KILLED_COPYING_BACK = """
import os, runpy, signal, sys
from desktop_app.core.export import undo as export
from desktop_app.core.export import placing
export.same_device = lambda st, folder: False
real = placing.copy_bytes
def copy_bytes(src, dst, size, cancel=None):
    if "/src/" in os.readlink(f"/proc/self/fd/{dst.fileno()}"):
        dst.write(src.read(size // 2)); dst.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, size, cancel)
placing.copy_bytes = copy_bytes
sys.argv = ["photoatlas", *sys.argv[1:]]
runpy.run_module("desktop_app", run_name="__main__")
"""


def test_a_killed_cross_drive_undo_leaves_no_temporary_file_in_the_source_folder(group) -> None:
    """Before: cleanup looked only in DEST; the half copy in the original's folder stayed there for good."""
    src, result, dest = group
    before = snapshot(src)
    drive(run_export(result, dest, ExportOptions(mode="move")))
    run = subprocess.run([sys.executable, "-c", _KILLED_COPYING_BACK, "undo", str(dest)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert list(src.rglob(f"{TMP_PREFIX}*"))  # the half copy the kill left beside an original
    undone = drive(undo_export(dest))
    assert not undone.refused and not list(src.rglob(f"{TMP_PREFIX}*"))
    assert snapshot(src) == before


def test_a_full_disk_while_writing_the_lists_is_one_line(monkeypatch, group) -> None:
    """Before: the OSError from writing groups.csv escaped as a traceback after every file was placed."""
    src, result, dest = group

    def full(f, rows):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(manifests, "_csv", full)
    with pytest.raises(ExportError, match="No space left on device.*exported files are all in place"):
        drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert len(list((dest / "01 g").iterdir())) == 3 and not list(dest.rglob(f"{TMP_PREFIX}*"))
    assert not Journal(dest).started()


# -- 5. recovery adopts and deletes only its own files ---------------------------------------------------------------
def _interrupted(dest: Path, source: Path, target: Path, mode: str = "copy") -> None:
    """A journal as a kill leaves it: ``source`` journaled for ``target``, nothing placed yet."""
    dest.mkdir(parents=True, exist_ok=True)
    st = source.stat()
    journal = Journal(dest)
    journal.write(op="begin", mode=mode)
    journal.write(op=mode, src=str(source), dst=str(target), size=st.st_size, mtime_ns=st.st_mtime_ns, group=0,
                  dev=st.st_dev, ino=st.st_ino)
    journal.close()


@pytest.mark.parametrize("foreign", [b"", b"x" * 20_000])
def test_recovery_leaves_a_file_someone_else_put_at_the_target(group, foreign: bytes) -> None:
    """Before: a same-size file there was adopted as the copy (and undo then deleted it); an empty one was taken
    for our reservation and deleted."""
    src, result, dest = group
    target = dest / "01 g" / "IMG_1.jpg"
    _interrupted(dest, src / "a/IMG_1.jpg", target)
    target.parent.mkdir()
    target.write_bytes(foreign)  # another program's file, put there after the plan
    undone = drive(undo_export(dest))
    assert undone.reversed == 0 and target.read_bytes() == foreign
    assert not Journal(dest).started() and not Journal(dest).completed()


def test_recovery_removes_its_own_reservation_and_adopts_its_own_copy(group) -> None:
    """The journal's notes say which files are ours: our reservation goes, our placed copy is kept as done."""
    src, result, dest = group
    target = dest / "01 g" / "IMG_1.jpg"
    _interrupted(dest, src / "a/IMG_1.jpg", target)
    target.parent.mkdir()
    target.write_bytes(b"")
    journal = Journal(dest)
    st = target.stat()
    journal.write(op="reserved", dst=str(target), dev=st.st_dev, ino=st.st_ino, size=0, mtime_ns=st.st_mtime_ns)
    journal.close()
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert summary.done == 3 and sorted(p.name for p in target.parent.iterdir()) == ["IMG_1.jpg", "IMG_2.jpg",
                                                                                       "IMG_3.jpg"]
    assert digest(target) == digest(src / "a/IMG_1.jpg")


@pytest.mark.parametrize("mode", ["copy", "symlink"])
def test_recovery_adopts_the_copy_it_noted_before_placing(group, mode: str) -> None:
    """Killed after the copy got its name, before its "done" mark (for a symlink: one that fell back to a copy):
    the "ready" note proves the file is ours, so the rerun keeps it instead of making IMG_1 (2).jpg."""
    src, result, dest = group
    original = src / "a/IMG_1.jpg"
    target = dest / "01 g" / "IMG_1.jpg"
    _interrupted(dest, original, target, mode=mode)
    target.parent.mkdir()
    target.write_bytes(original.read_bytes())
    st = target.stat()
    journal = Journal(dest)
    journal.write(op="ready", dst=str(target), dev=st.st_dev, ino=st.st_ino, size=st.st_size,
                  mtime_ns=st.st_mtime_ns)
    journal.close()
    summary = drive(run_export(result, dest, ExportOptions(mode=mode)))
    assert summary.skipped_existing == 1 and summary.done == 2
    assert sorted(p.name for p in target.parent.iterdir()) == ["IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg"]


def test_recovery_of_a_move_whose_original_is_locked_keeps_the_photo_once(monkeypatch, group) -> None:
    """A kill came between the link into DEST and the unlink of the original, and the original is locked now:
    before, the unlink's EPERM stopped every later export with "cannot write to DEST"."""
    src, result, dest = group
    original = src / "a/IMG_1.jpg"
    target = dest / "01 g" / "IMG_1.jpg"
    _interrupted(dest, original, target, mode="move")
    target.parent.mkdir()
    os.link(original, target)
    _refuse_unlink(monkeypatch, original, errno.EPERM, "Operation not permitted")
    summary = drive(run_export(result, dest, ExportOptions(mode="move")))
    assert summary.done == 2 and [Path(p).name for p, _ in summary.failed] == ["IMG_1.jpg"]
    assert original.exists() and original.stat().st_nlink == 1 and not target.exists()


# -- 6. reruns on macOS ----------------------------------------------------------------------------------------------
def test_a_rerun_finds_names_the_disk_lists_decomposed(tmp_path: Path) -> None:
    """HFS+ lists names decomposed (NFD) while the journal holds them as written (NFC). Linux keeps both forms,
    so the NFD name is put on disk exactly as HFS+ would list it. Before: every rerun made Café (2).jpg."""
    src = tmp_path / "src"
    nfc = unicodedata.normalize("NFC", "Café.jpg")
    result = make_library(src, {"g": [f"a/{nfc}"]})
    dest = tmp_path / "dest"
    drive(run_export(result, dest, ExportOptions(mode="copy")))
    folder = dest / "01 g"
    (folder / nfc).rename(folder / unicodedata.normalize("NFD", nfc))
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert summary.done == 0 and summary.skipped_existing == 1
    assert os.listdir(folder) == [unicodedata.normalize("NFD", nfc)]


def test_a_rerun_into_dest_typed_in_another_case_finds_what_is_there(group, tmp_path: Path) -> None:
    """macOS: ~/sorted and ~/Sorted are one folder, and resolve() keeps the case as typed, so the journal's
    paths say "sorted" while this run says "Sorted" (simulated by renaming DEST). Before: every file again."""
    src, result, dest = group
    drive(run_export(result, dest, ExportOptions(mode="copy")))
    other = tmp_path / "DEST"
    dest.rename(other)
    summary = drive(run_export(result, other, ExportOptions(mode="copy")))
    assert summary.done == 0 and summary.skipped_existing == 3
    assert sorted(p.name for p in (other / "01 g").iterdir()) == ["IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg"]


def test_undo_finds_the_files_of_a_dest_that_was_renamed(group, tmp_path: Path) -> None:
    """The journal names DEST as it was when the files were placed; undo looks for them in DEST as it is now."""
    src, result, dest = group
    before = snapshot(src)
    drive(run_export(result, dest, ExportOptions(mode="move")))
    other = tmp_path / "DEST"
    dest.rename(other)
    undone = drive(undo_export(other))
    assert undone.reversed == 3 and not undone.refused and snapshot(src) == before
    assert not (other / "01 g").exists()


# -- 7. a torn journal line ------------------------------------------------------------------------------------------
def test_an_entry_after_a_line_cut_short_by_a_kill_is_kept(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.write(op="begin", mode="copy")
    journal.close()
    with open(tmp_path / JOURNAL, "a", encoding="utf-8") as f:
        f.write('{"op": "copy", "src": "/a/IMG_1.j')  # the kill landed mid-write
    journal = Journal(tmp_path)
    journal.write(op="begin", mode="move")
    journal.close()
    assert [e["mode"] for e in Journal(tmp_path).entries] == ["copy", "move"]


# -- 8. names leave room for a sidecar -------------------------------------------------------------------------------
def test_a_long_name_still_gets_its_darktable_sidecar(tmp_path: Path) -> None:
    """83 Chinese characters and .jpg are 253 bytes: legal, but IMG.jpg.xmp would be 257 (and the sidecar's
    temporary name more). Before: ENAMETOOLONG, listed as not written."""
    src = tmp_path / "src"
    long = "写" * 83 + ".jpg"
    result = make_library(src, {"g": [f"a/{long}"]})
    dest = tmp_path / "dest"
    options = ExportOptions(mode="copy", xmp=True, xmp_on_copies=True, xmp_naming="darktable")
    summary = drive(run_export(result, dest, options))
    assert summary.done == 1 and not summary.failed and summary.xmp_written == 1
    (copy,) = (dest / "01 g").glob("*.jpg")
    assert read_keywords(sidecar_path(copy, "darktable")) == ["g"]
    assert len(sidecar_path(copy, "darktable").name.encode()) <= 255
