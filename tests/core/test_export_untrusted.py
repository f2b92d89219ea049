"""An export journal and a results document are untrusted input: whoever can write DEST (a shared or synced drive,
a folder received from someone) or hand over a document must not be able to make undo or export act on files
elsewhere. Each attack from the issue is tried here on real files; the victims outside DEST stay as they were."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from test_export import MAGIC, digest, make_library

from desktop_app.core.documents.document import EmbedResult
from desktop_app.core.errors import BadArgument
from desktop_app.core.export.journal import JOURNAL, KEY_FILE, Journal
from desktop_app.core.export.placing import ExportError
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.export.run import run_export
from desktop_app.core.export.undo import undo_export
from desktop_app.core.progress import drive

JPEG = MAGIC[".jpg"]  # a move takes only what is a picture by its first bytes


def _lines(dest: Path) -> list[dict]:
    return [json.loads(line) for line in (dest / JOURNAL).read_text(encoding="utf-8").splitlines()]


def _write_lines(dest: Path, entries: list[dict]) -> None:
    (dest / JOURNAL).write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """The only copy of a photo, somewhere outside any DEST, and a symlink beside it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    photo = folder / "only-copy.jpg"
    photo.write_bytes(os.urandom(5000))
    os.symlink(photo.name, folder / "link.jpg")
    return photo


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, Path, EmbedResult]:
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a.jpg", "b.jpg", "c.jpg"]})
    dest = tmp_path / "dest"
    drive(run_export(result, dest, ExportOptions(mode="copy")))
    return src, dest, result


def _forged_attacks(victim: Path, dest: Path) -> list[dict]:
    """Entries that, believed, would delete, overwrite or move the victim: a copy whose "original" is itself, a
    symlink entry naming someone else's link, a sidecar pair and one with a backup, a move."""
    st = victim.stat()
    stolen = dest / "stolen.jpg"
    stolen.write_bytes(b"attacker's file")
    backup = dest / ".photoatlas-xmp-backup"
    backup.mkdir(exist_ok=True)
    (backup / "evil.xmp").write_bytes(b"attacker's sidecar")
    ident = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    s2 = stolen.stat()
    return [
        {"op": "copy", "src": str(victim), "dst": str(victim), **ident},
        {"op": "done", "dst": str(victim), "placed_mtime_ns": st.st_mtime_ns},
        {"op": "symlink", "src": str(victim), "dst": str(victim.parent / "link.jpg"), **ident},
        {"op": "done", "dst": str(victim.parent / "link.jpg")},
        {"op": "xmp", "dst": str(victim), "backup": str(backup / "evil.xmp")},
        {"op": "xmp-done", "dst": str(victim), **ident},
        {"op": "move", "src": str(victim.parent / "planted.jpg"), "dst": str(stolen), "size": s2.st_size,
         "mtime_ns": s2.st_mtime_ns},
        {"op": "done", "dst": str(stolen)},
    ]


def _assert_untouched(victim: Path, before: str) -> None:
    assert victim.is_file() and digest(victim) == before
    assert os.path.islink(victim.parent / "link.jpg")
    assert not (victim.parent / "planted.jpg").exists()


def test_lines_added_to_a_signed_journal_are_refused_whole(exported, victim: Path) -> None:
    _, dest, _ = exported
    before = digest(victim)
    with open(dest / JOURNAL, "a", encoding="utf-8") as f:
        for e in _forged_attacks(victim, dest):
            f.write(json.dumps(e) + "\n")
    with pytest.raises(ExportError, match="not written by PhotoAtlas for this user, or was changed"):
        drive(undo_export(dest))
    _assert_untouched(victim, before)
    assert len(list((dest / "01 g").iterdir())) == 3  # nothing undone either: the journal is not believed at all
    with pytest.raises(ExportError, match="choose another folder"):  # and no export writes into that DEST
        drive(run_export(exported[2], dest, ExportOptions(mode="copy")))


def test_an_edited_line_is_refused_with_one_line_on_the_command_line(exported, victim: Path) -> None:
    _, dest, _ = exported
    entries = _lines(dest)
    copy = next(e for e in entries if e.get("op") == "copy")
    copy["src"] = str(victim)  # point "the original" elsewhere, keep the signature
    _write_lines(dest, entries)
    run = subprocess.run([sys.executable, "-m", "desktop_app", "undo", str(dest)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "does not match its signature" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert len(list((dest / "01 g").iterdir())) == 3


def test_a_journal_signed_by_another_user_is_refused(exported, tmp_path: Path, monkeypatch) -> None:
    _, dest, _ = exported
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "someone-else"))  # another key
    with pytest.raises(ExportError, match="does not match its signature"):
        drive(undo_export(dest))
    assert len(list((dest / "01 g").iterdir())) == 3


def test_an_unsigned_journal_is_undone_only_inside_dest(tmp_path: Path, victim: Path) -> None:
    """A journal without signatures (as PhotoAtlas wrote before signing, or forged): every attack entry is refused,
    the victim, its link and the planted file's place untouched; undo reports them instead of success."""
    dest = tmp_path / "dest"
    dest.mkdir()
    before = digest(victim)
    _write_lines(dest, [{"op": "begin", "mode": "copy"}, *_forged_attacks(victim, dest)])
    summary = drive(undo_export(dest))
    _assert_untouched(victim, before)
    assert (dest / "stolen.jpg").exists()  # a move in an unsigned journal is never moved out of DEST
    assert summary.reversed == 0 and len(summary.refused) >= 3
    assert any("before journals were signed" in w for w in summary.warnings)


def test_a_copy_whose_original_is_the_file_itself_is_never_removed(tmp_path: Path) -> None:
    """Inside DEST too: a copy entry whose "original" is the very file (src == dst) would delete its only copy."""
    dest = tmp_path / "dest"
    (dest / "01 g").mkdir(parents=True)
    only = dest / "01 g" / "only.jpg"
    only.write_bytes(os.urandom(300))
    st = only.stat()
    _write_lines(dest, [{"op": "copy", "src": str(only), "dst": str(only), "size": st.st_size,
                         "mtime_ns": st.st_mtime_ns}, {"op": "done", "dst": str(only)}])
    summary = drive(undo_export(dest))
    assert only.exists() and summary.reversed == 0 and "this very file" in summary.refused[0][1]


def test_a_copied_dest_undoes_itself_not_the_folder_it_was_copied_from(exported, tmp_path: Path) -> None:
    src, dest, _ = exported
    copy = tmp_path / "dests" / "c1copy"
    shutil.copytree(dest, copy)
    summary = drive(undo_export(copy))
    assert summary.reversed == 3 and not summary.refused
    assert not (copy / "01 g").exists() and not (copy / "groups.csv").exists()  # the lists it wrote go too
    assert sorted(p.name for p in (dest / "01 g").iterdir()) == ["a.jpg", "b.jpg", "c.jpg"]  # the original DEST
    assert all((src / n).exists() for n in ("a.jpg", "b.jpg", "c.jpg"))


def test_journal_paths_inside_dest_are_relative_and_signed(exported) -> None:
    _, dest, _ = exported
    entries = _lines(dest)
    assert entries[0]["op"] == "journal" and all("mac" in e for e in entries)
    copies = [e for e in entries if e.get("op") == "copy"]
    assert copies and all(not os.path.isabs(e["dst"]) and e["dst"].startswith("01 g/") for e in copies)
    assert all(os.path.isabs(e["src"]) for e in copies)  # the originals lie outside DEST


def test_the_key_is_private_to_the_user(exported) -> None:
    key = Path(os.environ["XDG_CONFIG_HOME"]) / "PhotoAtlas" / KEY_FILE
    assert key.exists() and (key.stat().st_mode & 0o077) == 0


def test_a_moved_file_replaced_in_dest_is_not_moved_out(tmp_path: Path) -> None:
    """Undo moves a file out of DEST only when it is the one the journal recorded: a file of the same size and
    time but other content (put there by someone) stays."""
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a.jpg", "b.jpg"]}, size=3000)
    dest = tmp_path / "dest"
    drive(run_export(result, dest, ExportOptions(mode="move")))
    moved = dest / "01 g" / "a.jpg"
    st = moved.stat()
    moved.write_bytes(os.urandom(3000))
    os.utime(moved, ns=(st.st_atime_ns, st.st_mtime_ns))
    summary = drive(undo_export(dest))
    assert summary.reversed == 1 and moved.exists() and not (src / "a.jpg").exists()
    assert "content" in summary.refused[0][1]
    assert (src / "b.jpg").exists()


def test_a_symlinked_item_stays_a_link_through_move_and_undo(tmp_path: Path) -> None:
    """A library item that is a symbolic link is moved as a link (to the same file) and comes back as the same
    link, with its own relative text; the file it points at never moves."""
    store = tmp_path / "store"
    store.mkdir()
    real = store / "real.jpg"
    real.write_bytes(JPEG + os.urandom(4000))
    src = tmp_path / "src"
    result = make_library(src, {"g": ["linked.jpg", "plain.jpg"]})
    linked = src / "linked.jpg"
    linked.unlink()
    os.symlink(os.path.relpath(real, src), linked)
    result.items[0].size, result.items[0].mtime_ns = real.stat().st_size, real.stat().st_mtime_ns
    dest = Path("/dev/shm") / f"photoatlas-test-{os.getpid()}-{tmp_path.name}" if os.path.isdir("/dev/shm") \
        else tmp_path / "dest"
    try:
        drive(run_export(result, dest, ExportOptions(mode="move")))
        assert os.path.islink(dest / "01 g" / "linked.jpg") and not os.path.lexists(linked)
        assert (dest / "01 g" / "linked.jpg").read_bytes() == real.read_bytes()
        summary = drive(undo_export(dest))
        assert summary.reversed == 2 and not summary.refused
        assert os.path.islink(linked) and os.readlink(linked) == os.path.relpath(real, src)
        assert real.is_file() and (src / "plain.jpg").is_file()
    finally:
        shutil.rmtree(dest, ignore_errors=True)


_LIMITED = ("import resource, signal, runpy, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "limit = int(sys.argv.pop(1)); resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)); "
            "sys.argv = ['photoatlas', *sys.argv[1:]]; runpy.run_module('desktop_app', run_name='__main__')")


def _limited(limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line with every write past ``limit`` bytes of a file failing as on a full disk (EFBIG)."""
    return subprocess.run([sys.executable, "-c", _LIMITED, str(limit), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_a_full_disk_mid_move_is_one_line_and_undo_works_while_it_is_still_full(tmp_path: Path) -> None:
    """The journal cannot grow past a few entries (moves on one disk write no data, so only the journal fills):
    the export stops with one line, no traceback; undo, with the disk still full, puts every moved file back."""
    src = tmp_path / "src"
    result = make_library(src, {"g": [f"f{i:02d}.jpg" for i in range(40)]}, size=1000)
    originals = {p.path: digest(Path(p.path)) for p in result.items}
    results = tmp_path / "r.json"
    result.save(results)
    dest = tmp_path / "dest"
    run = _limited(6000, "export", str(results), str(dest), "--mode", "move")
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
    assert "stopped" in run.stderr
    full = (dest / JOURNAL).stat().st_size
    run = _limited(full, "undo", str(dest))  # not one more byte of journal
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert "disk is full" in run.stdout + run.stderr
    for path, sha in originals.items():
        assert digest(Path(path)) == sha  # every original back, byte for byte
    assert not list(dest.rglob("*.jpg"))
    again = drive(undo_export(dest))  # with space again: nothing left to do, nothing refused
    assert not again.refused


def test_a_results_document_cannot_make_export_take_other_files(tmp_path: Path) -> None:
    """A document listing a key file as a picture, a RAW companion that is not the picture's RAW, a picture outside
    its own library folders and a device: none is moved; each is listed with its reason; the real pictures go."""
    src = tmp_path / "src"
    result = make_library(src, {"g": ["IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg"]})
    secrets_dir = tmp_path / "home" / ".ssh"
    secrets_dir.mkdir(parents=True)
    key = secrets_dir / "id_rsa"
    key.write_text("PRIVATE KEY")
    elsewhere = tmp_path / "other" / "IMG_9.jpg"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"x" * 100)
    result.folders = [str(src), str(secrets_dir)]
    result.items[0].path = str(key)  # "a picture"
    result.items[1].raw = str(key)  # "its RAW"
    result.items[2].path = str(elsewhere)  # a picture outside the library's folders
    summary = drive(run_export(result, tmp_path / "dest", ExportOptions(mode="move")))
    assert key.read_text() == "PRIVATE KEY" and elsewhere.exists()
    reasons = dict(summary.failed)
    assert "not a picture" in reasons[str(key)] or "not the RAW" in reasons[str(key)]
    assert "not under the library's folders" in reasons[str(elsewhere)]
    assert summary.done == 1 and not (src / "IMG_2.jpg").exists()


def test_a_device_or_fifo_listed_as_a_picture_is_not_opened(tmp_path: Path) -> None:
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a.jpg", "fifo.jpg"]})
    (src / "fifo.jpg").unlink()
    os.mkfifo(src / "fifo.jpg")
    summary = drive(run_export(result, tmp_path / "dest", ExportOptions(mode="copy")))
    assert summary.done == 1 and "named pipe" in dict(summary.failed)[str(src / "fifo.jpg")]


def test_a_fifo_called_groups_csv_in_dest_does_not_hang_the_export(tmp_path: Path) -> None:
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a.jpg"]})
    results = tmp_path / "r.json"
    result.save(results)
    dest = tmp_path / "dest"
    dest.mkdir()
    os.mkfifo(dest / "groups.csv")
    # A subprocess with a timeout: a guard against a hang (the failure this test is about), not a timing assertion.
    run = subprocess.run([sys.executable, "-m", "desktop_app", "export", str(results), str(dest)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (dest / "groups (2).csv").is_file() and (dest / "01 g" / "a.jpg").is_file()


def test_a_nul_in_an_item_path_is_refused_when_the_document_is_read(tmp_path: Path) -> None:
    result = make_library(tmp_path / "src", {"g": ["a.jpg"]})
    doc = tmp_path / "r.json"
    result.save(doc)
    data = json.loads(doc.read_text(encoding="utf-8"))
    data["items"][0]["path"] = str(tmp_path / "src" / "a.jpg\u0000.png")
    doc.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(BadArgument, match=r"items\[0\]\.path holds a NUL"):
        EmbedResult.load(doc)
    data["items"][0]["path"] = "relative/a.jpg"
    doc.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(BadArgument, match="must be an absolute path"):
        EmbedResult.load(doc)


def test_a_latin1_name_survives_document_export_and_undo_byte_exact(tmp_path: Path) -> None:
    """A name that is not UTF-8 (a Latin-1 é) is kept as bytes through the results document, the signed journal,
    the copy in DEST and undo."""
    src = tmp_path / "src"
    result = make_library(src, {"g": ["plain.jpg"]})
    raw_name = b"caf\xe9.jpg"
    odd = Path(os.fsdecode(os.fsencode(src) + b"/" + raw_name))
    odd.write_bytes(JPEG + os.urandom(700))
    st = odd.stat()
    result.items[0].path, result.items[0].size, result.items[0].mtime_ns = str(odd), st.st_size, st.st_mtime_ns
    doc = tmp_path / "r.json"
    result.save(doc)
    again = EmbedResult.load(doc)
    assert os.fsencode(again.items[0].path) == os.fsencode(src) + b"/" + raw_name
    dest = tmp_path / "dest"
    drive(run_export(again, dest, ExportOptions(mode="move")))
    # In DEST the name is made legal everywhere (docs/EXPORT.md, Names); the original keeps its bytes.
    assert os.listdir(os.fsencode(dest / "01 g")) == [b"caf_.jpg"]
    assert Journal(dest.resolve()).trust == "signed"
    summary = drive(undo_export(dest))
    assert summary.reversed == 1 and raw_name in os.listdir(os.fsencode(src))


# -- attacks found by the second round (a helper retrying every attack on a clean clone) --------------------------

def test_an_unsigned_interrupted_move_of_a_link_never_removes_a_link_outside_dest(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    os.symlink("/etc/hostname", victim / "mylink")
    dest = tmp_path / "dest"
    (dest / "g").mkdir(parents=True)
    os.symlink("/etc/hostname", dest / "g" / "x.jpg")
    _write_lines(dest, [{"op": "move", "src": str(victim / "mylink"), "dst": "g/x.jpg", "link": "/etc/hostname",
                         "size": 1, "mtime_ns": 1}])
    drive(undo_export(dest))
    assert os.path.islink(victim / "mylink")
    result = make_library(tmp_path / "src", {"g": ["a.jpg"]})
    with pytest.raises(ExportError, match="did not sign"):  # an export adds nothing to an unsigned journal
        drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert os.path.islink(victim / "mylink")


def test_a_backup_folder_linked_out_of_dest_brings_nothing_in(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "id_rsa").write_text("PRIVATE KEY")
    dest = tmp_path / "dest"
    (dest / "g").mkdir(parents=True)
    os.symlink(secret, dest / ".photoatlas-xmp-backup")
    sidecar = dest / "g" / "a.xmp"
    sidecar.write_text("<x/>")
    st = sidecar.stat()
    _write_lines(dest, [{"op": "xmp", "dst": "g/a.xmp", "backup": ".photoatlas-xmp-backup/id_rsa"},
                        {"op": "xmp-done", "dst": "g/a.xmp", "size": st.st_size, "mtime_ns": st.st_mtime_ns}])
    summary = drive(undo_export(dest))
    assert (secret / "id_rsa").read_text() == "PRIVATE KEY" and sidecar.read_text() == "<x/>"
    assert summary.reversed == 0 and summary.refused


@pytest.fixture
def sidecar_export(tmp_path: Path):
    """An export that changed a sidecar of the user's beside the original (its backup in DEST)."""
    src = tmp_path / "src"
    result = make_library(src, {"g": ["IMG_1.jpg"]})
    own = src / "IMG_1.xmp"
    own.write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-'
                   'ns#"><rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="3"/></rdf:RDF>'
                   '</x:xmpmeta>')
    before = own.read_bytes()
    dest = tmp_path / "dest"
    drive(run_export(result, dest, ExportOptions(mode="copy", xmp=True)))
    assert own.read_bytes() != before
    return own, before, dest


def test_a_replaced_backup_is_not_put_in_place_of_the_users_sidecar(sidecar_export) -> None:
    own, _, dest = sidecar_export
    changed = own.read_bytes()
    (backup,) = (dest / ".photoatlas-xmp-backup").iterdir()
    backup.write_text("someone else's file")
    summary = drive(undo_export(dest))
    assert own.read_bytes() == changed and any("was changed" in why for _, why in summary.refused)


def test_a_deleted_backup_folder_never_costs_the_user_their_sidecar(sidecar_export) -> None:
    own, _, dest = sidecar_export
    shutil.rmtree(dest / ".photoatlas-xmp-backup")
    summary = drive(undo_export(dest))
    assert own.exists() and "Rating" in own.read_text() and any("is gone" in why for _, why in summary.refused)


def test_the_sidecar_comes_back_byte_for_byte_when_nothing_was_touched(sidecar_export) -> None:
    own, before, dest = sidecar_export
    drive(undo_export(dest))
    assert own.read_bytes() == before


def test_a_group_folder_linked_out_of_dest_is_not_cleaned(exported, tmp_path: Path) -> None:
    _, dest, _ = exported
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".photoatlas-tmp-notes").write_text("mine")
    shutil.rmtree(dest / "01 g")
    os.symlink(outside, dest / "01 g")
    drive(undo_export(dest))
    assert (outside / ".photoatlas-tmp-notes").read_text() == "mine"


def test_an_unsigned_entry_missing_its_fields_is_ignored(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    _write_lines(dest, [{"op": "xmp"}, {"op": "copy", "dst": "g/a.jpg"}, {"op": "move", "src": 3, "dst": None}])
    summary = drive(undo_export(dest))
    assert summary.reversed == 0 and not summary.refused


def test_a_sidecar_that_is_a_link_to_a_device_is_neither_read_nor_copied(tmp_path: Path) -> None:
    src = tmp_path / "src"
    result = make_library(src, {"g": ["IMG_1.jpg", "IMG_2.jpg"]})
    os.symlink("/dev/zero", src / "IMG_1.xmp")
    dest = tmp_path / "dest"
    summary = drive(run_export(result, dest, ExportOptions(mode="copy", xmp=True)))
    assert "symbolic link" in dict(summary.failed)[str(src / "IMG_1.xmp")]
    assert os.path.islink(src / "IMG_1.xmp") and (src / "IMG_2.xmp").is_file()
    backups = dest / ".photoatlas-xmp-backup"
    assert not backups.exists() or not any(backups.iterdir())


def test_a_fifo_or_device_as_the_journal_is_refused_in_one_line(tmp_path: Path) -> None:
    """Opened without blocking (by construction: no thread, no timeout needed)."""
    result = make_library(tmp_path / "src", {"g": ["a.jpg"]})
    for name, make in (("fifo", os.mkfifo), ("zero", lambda p: os.symlink("/dev/zero", p))):
        dest = tmp_path / name
        dest.mkdir()
        make(dest / JOURNAL)
        with pytest.raises(ExportError, match="not a file|symbolic link"):
            drive(undo_export(dest))
        with pytest.raises(ExportError, match="not a file|symbolic link"):
            drive(run_export(result, dest, ExportOptions(mode="copy")))


@pytest.mark.parametrize("folders", [[], ["/"]])
def test_a_move_needs_the_documents_folders_and_not_a_whole_disk(tmp_path: Path, folders: list[str]) -> None:
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a.jpg"]})
    result.folders = folders
    with pytest.raises(BadArgument, match="folders|whole disk"):
        drive(run_export(result, tmp_path / "dest", ExportOptions(mode="move")))
    assert (src / "a.jpg").exists()
    summary = drive(run_export(result, tmp_path / "dest", ExportOptions(mode="copy")))  # a copy takes nothing away
    assert summary.done == 1


def test_a_move_takes_a_picture_only_if_it_is_one_by_its_content(tmp_path: Path) -> None:
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a.jpg", "id_rsa.jpg"]})
    (src / "id_rsa.jpg").write_text("PRIVATE KEY")
    summary = drive(run_export(result, tmp_path / "dest", ExportOptions(mode="move")))
    assert (src / "id_rsa.jpg").read_text() == "PRIVATE KEY" and not (src / "a.jpg").exists()
    assert "not a picture by its content" in dict(summary.failed)[str(src / "id_rsa.jpg")]


def test_the_librarys_own_folders_decide_not_the_documents(tmp_path: Path) -> None:
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a.jpg"]})
    other = tmp_path / "other"
    other.mkdir()
    result.folders = [str(tmp_path)]  # the document claims more than the library holds
    summary = drive(run_export(result, tmp_path / "dest", ExportOptions(mode="move", folders=[str(other)])))
    assert summary.done == 0 and (src / "a.jpg").exists()
    assert "not under the library's folders" in summary.failed[0][1]


# -- the third round ---------------------------------------------------------------------------------------------

def test_a_group_folder_linked_out_of_dest_receives_nothing(tmp_path: Path) -> None:
    """A move into a DEST whose Unsorted folder is a link elsewhere: nothing leaves the library for there."""
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a.jpg"]}, noise=["b.jpg", "c.jpg"])
    evil = tmp_path / "evil"
    evil.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(evil, dest / "Unsorted")
    summary = drive(run_export(result, dest, ExportOptions(mode="move", include_noise=True)))
    assert not any(evil.iterdir()) and (src / "b.jpg").exists() and (src / "c.jpg").exists()
    assert summary.done == 1 and all("link leading out of DEST" in why for _, why in summary.failed)


def test_a_journal_or_lock_that_is_a_link_is_never_written_through(tmp_path: Path) -> None:
    result = make_library(tmp_path / "src", {"g": ["a.jpg"]})
    victims = tmp_path / "victims"
    victims.mkdir()
    (victims / "profile").write_text("keep me")
    for name, target in ((JOURNAL, victims / "new_profile"), (".photoatlas-export.lock", victims / "profile")):
        dest = tmp_path / f"dest-{name}"
        dest.mkdir()
        os.symlink(target, dest / name)
        with pytest.raises(ExportError, match="symbolic link"):
            drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert not (victims / "new_profile").exists() and (victims / "profile").read_text() == "keep me"


def test_a_planted_unsigned_journal_does_not_make_the_next_export_unsigned(tmp_path: Path) -> None:
    result = make_library(tmp_path / "src", {"g": ["a.jpg"]})
    dest = tmp_path / "dest"
    dest.mkdir()
    _write_lines(dest, [{"op": "begin", "mode": "copy"}])
    with pytest.raises(ExportError, match="did not sign"):
        drive(run_export(result, dest, ExportOptions(mode="move")))
    assert (tmp_path / "src" / "a.jpg").exists()


def test_a_line_taken_out_of_a_signed_journal_is_refused(tmp_path: Path) -> None:
    """Taking lines out could make an old move look interrupted (its recovery removes the original when DEST holds
    the same file): a signed journal is numbered without gaps, so a missing line is a changed journal."""
    src = tmp_path / "src"
    result = make_library(src, {"g": ["a.jpg"]})
    dest = tmp_path / "dest"
    drive(run_export(result, dest, ExportOptions(mode="hardlink")))
    lines = (dest / JOURNAL).read_text(encoding="utf-8").splitlines(keepends=True)
    done = next(i for i, line in enumerate(lines) if json.loads(line).get("op") == "done")
    (dest / JOURNAL).write_text("".join(lines[:done] + lines[done + 1:]), encoding="utf-8")  # each line as signed
    with pytest.raises(ExportError, match="does not match its signature"):
        drive(run_export(result, dest, ExportOptions(mode="copy")))
    assert (src / "a.jpg").exists()


def test_the_backup_of_a_private_sidecar_stays_private(sidecar_export) -> None:
    own, _, dest = sidecar_export
    (backup,) = (dest / ".photoatlas-xmp-backup").iterdir()
    assert backup.stat().st_mode & 0o777 == own.stat().st_mode & 0o777
