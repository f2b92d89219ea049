"""Export on other platforms and filesystems than the Linux ext4 the tests run on: macOS and Windows copies (no
sendfile to files), filesystems without hard links (exFAT, FAT, some shares) or without chmod, case-insensitive
and Unicode-normalising names, byte limits on names. Each platform path is taken by making the code believe it
is there (the platform switch, or the filesystem's errors), on real files."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from conftest import ROOT
from test_export import digest, make_library, snapshot

from desktop_app.core.errors import Cancelled
from desktop_app.core.export import placing
from desktop_app.core.export.journal import JOURNAL, Journal
from desktop_app.core.export.placing import TMP_PREFIX
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.export.run import run_export
from desktop_app.core.export.undo import undo_export
from desktop_app.core.filenames import MAX_NAME_BYTES, name_key
from desktop_app.core.progress import CancelToken, drive


def _pretend_macos(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS: ``os.sendfile`` exists but refuses anything that is not a socket."""
    def sendfile(*args: object) -> int:
        raise OSError(errno.ENOTSOCK, "Socket operation on non-socket")

    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(os, "sendfile", sendfile)


def _pretend_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows: no ``os.sendfile``; rename refuses an existing target."""
    real_rename = os.rename

    def rename(src: object, dst: object) -> None:
        if os.path.lexists(dst):  # type: ignore[arg-type]
            raise FileExistsError(errno.EEXIST, "Cannot create a file when that file already exists", str(dst))
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.delattr(os, "sendfile")
    monkeypatch.setattr(os, "rename", rename)


def _no_hard_links(monkeypatch: pytest.MonkeyPatch, code: int = errno.EPERM) -> None:
    """exFAT/FAT on Linux answer link() with EPERM (macOS: ENOTSUP, SMB shares: EOPNOTSUPP)."""
    def link(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", link)


@pytest.fixture
def group(tmp_path: Path):
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a/IMG_1.jpg", "b/IMG_1.jpg", "c/IMG_2.jpg", "d/IMG_3.jpg"]}, size=300_000)
    return src, result, tmp_path / "dest"


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_copies_on_macos_and_windows_are_verified_copies(monkeypatch, group, platform: str) -> None:
    """Before: sendfile was used wherever it existed, and on macOS every copy failed with ENOTSOCK."""
    src, result, dest = group
    (_pretend_macos if platform == "darwin" else _pretend_windows)(monkeypatch)
    summary = drive(run_export(result, dest, ExportOptions(mode="copy", verify=True)))
    assert summary.done == 4 and not summary.failed
    folder = dest / "01 g"
    assert digest(folder / "IMG_1.jpg") == digest(src / "a/IMG_1.jpg")
    assert digest(folder / "IMG_1 (2).jpg") == digest(src / "b/IMG_1.jpg")
    assert (folder / "IMG_2.jpg").stat().st_mtime_ns == (src / "c/IMG_2.jpg").stat().st_mtime_ns
    assert not list(dest.rglob(f"{TMP_PREFIX}*"))


def test_a_filesystem_that_refuses_sendfile_gets_a_plain_copy(monkeypatch, group) -> None:
    src, result, dest = group
    calls = []

    def sendfile(*args: object) -> int:
        calls.append(args)
        raise OSError(errno.EINVAL, "Invalid argument")  # what some FUSE filesystems answer

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "sendfile", sendfile)
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert calls and summary.done == 4 and not summary.failed
    assert digest(dest / "01 g" / "IMG_3.jpg") == digest(src / "d/IMG_3.jpg")


@pytest.mark.parametrize("mode", ["copy", "move"])
@pytest.mark.parametrize("code", [errno.EPERM, errno.EOPNOTSUPP])
def test_without_hard_links_nothing_is_replaced(monkeypatch, group, mode: str, code: int) -> None:
    """exFAT, FAT and some network shares have no hard links: placement falls back to reserving the name
    exclusively and renaming over the reservation, which still never replaces a file that was there."""
    src, result, dest = group
    before = snapshot(src)
    folder = dest / "01 g"
    folder.mkdir(parents=True)
    (folder / "IMG_2.jpg").write_bytes(b"mine, not PhotoAtlas's")
    _no_hard_links(monkeypatch, code)
    summary = drive(run_export(result, dest, ExportOptions(mode=mode)))
    assert summary.done == 4 and not summary.failed
    assert (folder / "IMG_2.jpg").read_bytes() == b"mine, not PhotoAtlas's"
    assert digest(folder / "IMG_2 (2).jpg") == before["c/IMG_2.jpg"]
    exported = {p.name: digest(p) for p in folder.iterdir()}
    assert sorted(exported) == ["IMG_1 (2).jpg", "IMG_1.jpg", "IMG_2 (2).jpg", "IMG_2.jpg", "IMG_3.jpg"]
    assert {v for k, v in exported.items() if k != "IMG_2.jpg"} == set(before.values())
    assert (snapshot(src) == {}) if mode == "move" else (snapshot(src) == before)
    assert not list(dest.rglob(f"{TMP_PREFIX}*"))
    undone = drive(undo_export(dest))
    assert undone.reversed == 4 and snapshot(src) == before
    assert [p.name for p in folder.iterdir()] == ["IMG_2.jpg"]


def test_placement_without_hard_links_refuses_an_existing_name(monkeypatch, tmp_path: Path) -> None:
    tmp, target = tmp_path / "tmp", tmp_path / "target.jpg"
    tmp.write_bytes(b"new")
    target.write_bytes(b"old")
    _no_hard_links(monkeypatch)
    with pytest.raises(FileExistsError):
        placing.place(tmp, target)
    assert target.read_bytes() == b"old" and tmp.read_bytes() == b"new"


def test_placement_on_windows_without_hard_links_relies_on_rename_refusing(monkeypatch, tmp_path: Path) -> None:
    tmp, target = tmp_path / "tmp", tmp_path / "target.jpg"
    tmp.write_bytes(b"new")
    target.write_bytes(b"old")
    _pretend_windows(monkeypatch)
    _no_hard_links(monkeypatch, errno.EINVAL)
    with pytest.raises(FileExistsError):
        placing.place(tmp, target)
    assert target.read_bytes() == b"old"
    placing.place(tmp, tmp_path / "free.jpg")
    assert (tmp_path / "free.jpg").read_bytes() == b"new" and not tmp.exists()


# The CLI on a filesystem without hard links, killed by SIGKILL at the worst moment of the fallback: the name is
# reserved (an empty file) and the rename over it has not happened.
_KILLED_AFTER_RESERVING = """
import errno, os, runpy, signal, sys
def link(*args, **kwargs):
    raise OSError(errno.EPERM, "Operation not permitted")
def rename(src, dst):
    os.kill(os.getpid(), signal.SIGKILL)
os.link, os.rename = link, rename
sys.argv = ["photoatlas", *sys.argv[1:]]
runpy.run_module("desktop_app", run_name="__main__")
"""


def test_a_kill_between_reserving_a_name_and_the_rename_leaves_nothing_behind(group, tmp_path: Path) -> None:
    src, result, dest = group
    results = tmp_path / "r.json"
    result.save(results)
    args = ["export", str(results), str(dest), "--mode", "copy"]
    run = subprocess.run([sys.executable, "-c", _KILLED_AFTER_RESERVING, *args], cwd=ROOT, capture_output=True)
    assert run.returncode == -signal.SIGKILL
    empty = [p for p in (dest / "01 g").iterdir() if p.stat().st_size == 0]
    assert empty  # the reservation a killed export leaves
    run = subprocess.run([sys.executable, "-m", "desktop_app", *args], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    folder = dest / "01 g"
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_1 (2).jpg", "IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg"]
    assert {digest(p) for p in folder.iterdir()} == set(snapshot(src).values())  # no empty file kept a name
    assert not Journal(dest).started()


def test_a_filesystem_that_refuses_chmod_still_gets_copies_with_their_times(monkeypatch, group) -> None:
    """exFAT/FAT mounted without "quiet" answer chmod with EPERM; the copy is still good and keeps its time."""
    src, result, dest = group

    def chmod(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", chmod)
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert summary.done == 4 and not summary.failed
    assert (dest / "01 g" / "IMG_3.jpg").stat().st_mtime_ns == (src / "d/IMG_3.jpg").stat().st_mtime_ns


NFC_E = unicodedata.normalize("NFC", "café.jpg")
NFD_E = unicodedata.normalize("NFD", "café.jpg")


@pytest.mark.parametrize("mode", ["copy", "move", "hardlink"])
def test_names_that_differ_in_case_or_normalisation_get_their_own_place(tmp_path: Path, mode: str) -> None:
    """On macOS, Windows and memory cards IMG_1.JPG and img_1.jpg (or é composed and decomposed) are one file:
    each must get its own name, whatever the filesystem DEST is on; so must a file already there."""
    src = tmp_path / "src"
    assert NFC_E != NFD_E
    result = make_library(src, {"g": ["a/IMG_1.JPG", "b/img_1.jpg", f"c/{NFC_E}", f"d/{NFD_E}", "e/img_2.JPG"]})
    before = snapshot(src)
    folder = tmp_path / "dest" / "01 g"
    folder.mkdir(parents=True)
    (folder / "IMG_2.jpg").write_bytes(b"already there")
    summary = drive(run_export(result, tmp_path / "dest", ExportOptions(mode=mode)))
    assert summary.done == 5 and not summary.failed
    names = [p.name for p in folder.iterdir()]
    assert len(names) == 6 and len({name_key(n) for n in names}) == 6
    assert (folder / "IMG_2.jpg").read_bytes() == b"already there"
    assert sorted(digest(p) for p in folder.iterdir() if p.name != "IMG_2.jpg") == sorted(before.values())
    assert {"IMG_1.JPG", "img_1 (2).jpg", "img_2 (2).JPG"} <= set(names)


def test_long_names_fit_in_255_bytes(tmp_path: Path) -> None:
    """Names are limited in bytes: 83 Chinese characters and .jpg are 253 bytes, and numbering one (or making the
    temporary copy) must not push it past 255; Korean decomposes (HFS+) to three times as many bytes."""
    src = tmp_path / "src"
    cjk = "写" * 83 + ".jpg"
    hangul = "한" * 80 + ".jpg"
    result = make_library(src, {"写真" * 60: [f"a/{cjk}", f"b/{cjk}", f"c/{hangul}"]}, size=5000)
    summary = drive(run_export(result, tmp_path / "dest", ExportOptions(mode="copy", companions=True)))
    assert summary.done == 3 and not summary.failed
    exported = [p for p in (tmp_path / "dest").rglob("*.jpg")]
    assert len(exported) == 3
    for p in exported:
        for part in (p.name, p.parent.name):
            for form in ("NFC", "NFD"):
                assert len(unicodedata.normalize(form, part).encode()) <= MAX_NAME_BYTES
    assert sorted(digest(p) for p in exported) == sorted(snapshot(src).values())
    assert sum(" (2)" in p.name for p in exported) == 1


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_a_big_copy_stops_between_chunks_when_cancelled(monkeypatch, tmp_path: Path, platform: str) -> None:
    """Cancel lands inside one file's copy (between chunks), not after it: the copy never gets its name."""
    if platform == "darwin":
        _pretend_macos(monkeypatch)
    monkeypatch.setattr(placing, "STEP", 64 * 1024)
    monkeypatch.setattr(placing, "CHUNK", 64 * 1024)
    src = tmp_path / "src"
    result = make_library(src, {"g": ["big.jpg"]}, size=4 * 1024 * 1024)
    before = snapshot(src)

    class CancelledAfterAFewChecks(CancelToken):
        """Cancels itself at the 4th look: the export looks once per batch and per file, then per chunk."""

        checks = 0

        @property
        def cancelled(self) -> bool:
            self.checks += 1
            if self.checks >= 4:
                self.cancel()
            return self._event.is_set()

    token = CancelledAfterAFewChecks()
    dest = tmp_path / "dest"
    with pytest.raises(Cancelled):
        drive(run_export(result, dest, ExportOptions(mode="copy"), token))
    assert token.checks < 64  # far fewer looks than chunks: it stopped early
    assert not (dest / "01 g" / "big.jpg").exists() and not list(dest.rglob(f"{TMP_PREFIX}*"))
    assert not Journal(dest).started() and snapshot(src) == before
    assert (dest / JOURNAL).exists()


def test_undo_on_a_drive_that_rounds_times_still_recognises_the_copies(monkeypatch, group) -> None:
    """FAT keeps modification times to 2 s (exFAT to 10 ms): a copy's time is not the source's to the
    nanosecond, yet it is the untouched copy the export made, and undo removes it."""
    src, result, dest = group
    real_utime = os.utime

    def fat_utime(path, times=None, *, ns=None, **kwargs):
        if ns is not None:
            ns = tuple(t - t % 2_000_000_000 for t in ns)
        return real_utime(path, times, ns=ns, **kwargs) if times is not None else real_utime(path, ns=ns, **kwargs)

    monkeypatch.setattr(os, "utime", fat_utime)
    summary = drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert summary.done == 4
    copy = dest / "01 g" / "IMG_3.jpg"
    assert copy.stat().st_mtime_ns != (src / "d/IMG_3.jpg").stat().st_mtime_ns  # as on FAT
    undone = drive(undo_export(dest))
    assert undone.reversed == 4 and not undone.refused and not copy.exists()


def test_undo_of_a_move_to_a_drive_that_rounds_times_gives_the_originals_their_times_back(monkeypatch,
                                                                                           group) -> None:
    """A move to a FAT/exFAT card and back: the photos come home with their own modification times, so the
    embedding cache (keyed by it) and photo managers see the same files as before."""
    from desktop_app.core.export import run as export_run
    from desktop_app.core.export import undo as export_undo

    src, result, dest = group
    before = {p: p.stat().st_mtime_ns for p in src.rglob("*.jpg")}
    real_utime = os.utime

    def fat_utime(path, times=None, *, ns=None, **kwargs):  # the card keeps times to 2 s, the library exactly
        if ns is not None and Path(path).is_relative_to(dest):
            ns = tuple(t - t % 2_000_000_000 for t in ns)
        return real_utime(path, times, ns=ns, **kwargs) if times is not None else real_utime(path, ns=ns, **kwargs)

    monkeypatch.setattr(os, "utime", fat_utime)
    monkeypatch.setattr(export_run, "same_device", lambda *args: False)  # DEST is another drive
    monkeypatch.setattr(export_undo, "same_device", lambda *args: False)
    summary = drive(run_export(result, dest, ExportOptions(mode="move")))
    assert summary.done == 4 and not any(p.exists() for p in before)
    undone = drive(undo_export(dest))
    assert undone.reversed == 4 and not undone.refused
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_a_move_whose_original_cannot_be_removed_leaves_it_in_one_place(monkeypatch, group) -> None:
    """The original's folder is read-only (or Windows has the file open): the link into DEST is taken back."""
    src, result, dest = group
    stuck = src / "c/IMG_2.jpg"
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if os.fspath(path) == str(stuck):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    summary = drive(run_export(result, dest, ExportOptions(mode="move")))
    assert summary.done == 3 and [Path(p).name for p, _ in summary.failed] == ["IMG_2.jpg"]
    assert stuck.exists() and not (dest / "01 g" / "IMG_2.jpg").exists()
    assert sorted(snapshot(src)) == ["c/IMG_2.jpg"]
