"""Scanning: what counts as a picture, what is skipped with a reason, what is ignored without a word."""

import os
from pathlib import Path

import pytest
from conftest import TINY_MODEL, save_shape

from desktop_app.core.embedding.pipeline import EmbedSettings, run_embedding
from desktop_app.core.export.journal import JOURNAL
from desktop_app.core.ingest.items import (
    EXPORT_JOURNAL,
    EXPORT_REASON,
    VIDEO_REASON,
    Item,
    Skipped,
    scan,
    standalone_raws,
)
from desktop_app.core.progress import drive


def _names(records):
    return [(r.path.name, type(r).__name__) for r in records]


def test_scan_walks_folders_recursively_in_a_stable_order(tmp_path: Path) -> None:
    save_shape(tmp_path / "b" / "z.png", "red", "circle")
    save_shape(tmp_path / "b" / "a.jpg", "red", "circle")
    save_shape(tmp_path / "a.webp", "blue", "square")
    (tmp_path / "note.md").write_text("a red circle")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    first = list(scan([tmp_path]))
    assert [r.path.relative_to(tmp_path).as_posix() for r in first] == ["a.webp", "note.md", "b/a.jpg", "b/z.png"]
    assert [r.kind for r in first] == ["image", "text", "image", "image"]
    assert first == list(scan([tmp_path]))


def test_single_files_and_missing_paths(tmp_path: Path) -> None:
    img = save_shape(tmp_path / "x.JPG", "red", "circle")
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    records = list(scan([img, pdf, tmp_path / "nope"]))
    assert isinstance(records[0], Item) and records[0].kind == "image"
    assert isinstance(records[1], Skipped) and "unsupported" in records[1].reason
    assert isinstance(records[2], Skipped) and records[2].reason == "not found"


def test_hidden_entries_are_skipped(tmp_path: Path) -> None:
    save_shape(tmp_path / ".hidden.jpg", "red", "circle")
    save_shape(tmp_path / ".thumbs" / "a.jpg", "red", "circle")
    save_shape(tmp_path / "shown.jpg", "red", "circle")
    assert _names(scan([tmp_path])) == [("shown.jpg", "Item")]


def test_symlink_loop_is_reported_not_followed_forever(tmp_path: Path) -> None:
    save_shape(tmp_path / "sub" / "a.jpg", "red", "circle")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    records = list(scan([tmp_path]))
    assert sum(isinstance(r, Item) for r in records) == 1
    loops = [r for r in records if isinstance(r, Skipped)]
    assert len(loops) == 1 and "symlink loop" in loops[0].reason


def test_zero_byte_file_is_skipped_with_reason(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (rec,) = scan([tmp_path])
    assert isinstance(rec, Skipped) and "empty" in rec.reason


def test_caption_pairs_with_its_image_but_stays_its_own_item(tmp_path: Path) -> None:
    save_shape(tmp_path / "IMG_0001.jpg", "red", "circle")
    (tmp_path / "IMG_0001.txt").write_text("a red circle at the beach")
    (tmp_path / "other.txt").write_text("unrelated")
    records = {r.path.name: r for r in scan([tmp_path])}
    assert records["IMG_0001.txt"].kind == "text"
    assert records["IMG_0001.txt"].caption_of == tmp_path / "IMG_0001.jpg"
    assert records["other.txt"].caption_of is None


def test_same_file_given_twice_is_scanned_once(tmp_path: Path) -> None:
    img = save_shape(tmp_path / "a.jpg", "red", "circle")
    assert len(list(scan([tmp_path, img]))) == 1


@pytest.mark.parametrize("name", [
    "a.avif", "a.JXL", "a.psd", "a.jp2", "a.j2k", "a.jpf", "a.jpx", "a.mpo", "a.jfif", "a.jpe", "a.heics", "a.hif",
    "a.qoi", "a.tga", "a.fits",  # other formats Pillow opens: considered, the decoder decides
    "a.DNG", "a.CR2", "a.CR3", "a.NEF", "a.ARW", "a.RAF", "a.ORF", "a.RW2", "a.PEF", "a.SRW",
])
def test_every_photo_format_is_an_image_item(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"content is the decoder's business")
    (rec,) = scan([tmp_path])
    assert isinstance(rec, Item) and rec.kind == "image"


def test_an_unknown_name_with_a_picture_signature_is_considered(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    save_shape(lib / "scan.jpg", "red", "circle")
    os.rename(lib / "scan.jpg", lib / "IMG_0001")  # no extension, as some phone and scanner exports write
    (lib / "broken.dat").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)  # looks like a PNG, is not one
    (lib / "notes.dat").write_bytes(b"plain bytes, no picture")
    save_shape(lib / "backup.jpg", "red", "circle")
    os.rename(lib / "backup.jpg", lib / "IMG_0002.jpg_original")  # exiftool's backup of an edited photo
    records = list(scan([lib]))
    assert _names(records) == [("IMG_0001", "Item"), ("broken.dat", "Item")]

    result = drive(run_embedding([lib], EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path / "cache")))
    assert [Path(i.path).name for i in result.items] == ["IMG_0001"]
    assert [(s.path.name, s.reason) for s in result.skipped] == [
        ("broken.dat", "not an image, or an image format Pillow cannot read")]


def test_videos_are_listed_as_skipped_but_a_live_photo_clip_belongs_to_its_picture(tmp_path: Path) -> None:
    save_shape(tmp_path / "IMG_0001.jpg", "red", "circle")
    (tmp_path / "IMG_0001.MOV").write_bytes(b"\x00\x00\x00\x14ftypqt  " + b"\x00" * 64)  # its Live Photo clip
    (tmp_path / "party.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    records = list(scan([tmp_path]))
    assert _names(records) == [("IMG_0001.jpg", "Item"), ("party.mp4", "Skipped")]
    assert records[1].reason == VIDEO_REASON == "video (not supported)"


def test_sidecars_catalogues_and_documents_are_ignored_without_a_word(tmp_path: Path) -> None:
    (tmp_path / "IMG_0001.CR3").write_bytes(b"a stand-in: scan does not decode")
    for name in ("IMG_0001.xmp", "IMG_0001.json", "IMG_0001.AAE", "IMG_0001.pp3", "manual.pdf", "Catalog.lrcat"):
        (tmp_path / name).write_bytes(b"\xff\xd8\xff" + b"\x00" * 40)  # even with a JPEG signature inside
    assert _names(scan([tmp_path])) == [("IMG_0001.CR3", "Item")]


def _export(folder: Path) -> Path:
    save_shape(folder / "copy.jpg", "red", "circle")
    (folder / EXPORT_JOURNAL).write_text('{"op": "start"}\n')
    return folder


def test_a_photoatlas_export_inside_a_scanned_folder_is_skipped_with_a_reason(tmp_path: Path) -> None:
    assert EXPORT_JOURNAL == JOURNAL  # the exporter writes the file the scan looks for
    save_shape(tmp_path / "lib" / "a.jpg", "red", "circle")
    _export(tmp_path / "lib" / "Exports" / "2026")
    save_shape(tmp_path / "lib" / "Exports" / "b.jpg", "red", "circle")  # beside the export: an ordinary photo
    records = list(scan([tmp_path / "lib"]))
    assert [(r.path.relative_to(tmp_path).as_posix(), type(r).__name__) for r in records] == [
        ("lib/a.jpg", "Item"), ("lib/Exports/b.jpg", "Item"), ("lib/Exports/2026", "Skipped")]
    assert records[2].reason == EXPORT_REASON == "a PhotoAtlas export (its copies are not new photos)"


def test_an_export_folder_named_explicitly_is_scanned(tmp_path: Path) -> None:
    dest = _export(tmp_path / "lib" / "export")
    _export(dest / "again")  # an export inside the named export is still an export of its own
    assert _names(scan([dest])) == [("copy.jpg", "Item"), ("again", "Skipped")]
    # Named together with its parent, in either order: its copies are scanned (once), never skipped as an export.
    for roots in ([tmp_path / "lib", dest], [dest, tmp_path / "lib"]):
        records = list(scan(roots))
        assert [r.path for r in records if isinstance(r, Item)] == [dest / "copy.jpg"]
        assert all(r.reason != EXPORT_REASON for r in records if isinstance(r, Skipped) and r.path == dest)


def test_a_name_that_is_not_utf8_is_kept_byte_for_byte(tmp_path: Path) -> None:
    # A card written by an older camera or a Latin-1 system: the name's bytes are not UTF-8.
    name = os.fsdecode(b"caf\xe9.jpg")
    save_shape(tmp_path / name, "red", "circle")
    (found,) = scan([tmp_path])
    assert isinstance(found, Item) and os.fsencode(found.path.name) == b"caf\xe9.jpg"
    assert found.path.read_bytes() == (tmp_path / name).read_bytes()  # the name found opens the same file


def test_every_raw_of_a_pair_is_the_picture_s_and_none_is_lost(tmp_path: Path) -> None:
    save_shape(tmp_path / "IMG_0001.jpg", "red", "circle")
    for ext in (".dng", ".CR2"):  # a converted DNG beside the camera's own RAW
        (tmp_path / f"IMG_0001{ext}").write_bytes(b"a stand-in: scan does not decode")
    (tmp_path / "IMG_0002.NEF").write_bytes(b"a RAW without a JPEG")
    records = list(scan([tmp_path]))
    assert _names(records) == [("IMG_0001.jpg", "Item"), ("IMG_0002.NEF", "Item")]
    pair = records[0]
    assert isinstance(pair, Item) and pair.raws == (tmp_path / "IMG_0001.CR2", tmp_path / "IMG_0001.dng")
    assert pair.raw == tmp_path / "IMG_0001.CR2"  # the one the results document names (the first, by name)
    # When the JPEG turns out unreadable, each RAW is a picture of its own (as looked at now).
    (tmp_path / "IMG_0001.dng").unlink()
    os.symlink(tmp_path / "nowhere", tmp_path / "IMG_0001.dng")
    alone = standalone_raws(pair)
    assert [(r.path.name, type(r).__name__) for r in alone] == [("IMG_0001.CR2", "Item"), ("IMG_0001.dng", "Skipped")]
    assert alone[0] == Item(tmp_path / "IMG_0001.CR2", "image", 32, alone[0].mtime_ns)
