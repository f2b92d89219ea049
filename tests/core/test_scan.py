import os
from pathlib import Path

from conftest import save_shape

from desktop_app.core.items import Item, Skipped, scan


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
