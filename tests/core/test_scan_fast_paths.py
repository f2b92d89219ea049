"""The scan's shortcuts for big libraries (one realpath per folder, stems worked out once) keep its answers:
a file reached through a symlink is still found once, RAW+JPEG pairs and captions still pair up."""

import os
from pathlib import Path

from desktop_app.core.ingest.items import Item, scan


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff")
    return path


def test_a_file_linked_from_another_folder_is_found_once(tmp_path: Path) -> None:
    real = _touch(tmp_path / "a" / "IMG_1.jpg")
    _touch(tmp_path / "a" / "IMG_2.jpg")
    (tmp_path / "b").mkdir()
    os.symlink(real, tmp_path / "b" / "link.jpg")  # the same picture under another name
    items = [r for r in scan([tmp_path]) if isinstance(r, Item)]
    assert sorted(i.path.name for i in items) == ["IMG_1.jpg", "IMG_2.jpg"]


def test_a_file_found_first_through_a_link_is_not_found_again_under_its_own_name(tmp_path: Path) -> None:
    real = _touch(tmp_path / "z" / "IMG_1.jpg")
    (tmp_path / "a").mkdir()
    os.symlink(real, tmp_path / "a" / "IMG_1.jpg")  # "a" is walked before "z"
    items = [r for r in scan([tmp_path]) if isinstance(r, Item)]
    assert [i.path for i in items] == [tmp_path / "a" / "IMG_1.jpg"]


def test_files_under_a_linked_folder_are_the_real_folder_files(tmp_path: Path) -> None:
    _touch(tmp_path / "real" / "IMG_1.jpg")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    # Both named by the user: the second is the same folder and is reported as such, its file not listed twice.
    items = [r for r in scan([tmp_path / "alias", tmp_path / "real"]) if isinstance(r, Item)]
    assert len(items) == 1


def test_pairs_and_captions_with_dotted_and_dotless_names(tmp_path: Path) -> None:
    for name in ("IMG_1.JPG", "IMG_1.CR3", "IMG_1.txt", "v1.2.jpg", "v1.2.txt", "only.DNG"):
        _touch(tmp_path / name)
    items = {i.path.name: i for i in scan([tmp_path]) if isinstance(i, Item)}
    assert sorted(items) == ["IMG_1.JPG", "IMG_1.txt", "only.DNG", "v1.2.jpg", "v1.2.txt"]
    assert items["IMG_1.JPG"].raw == tmp_path / "IMG_1.CR3"
    assert items["IMG_1.txt"].caption_of == tmp_path / "IMG_1.JPG"
    assert items["v1.2.txt"].caption_of == tmp_path / "v1.2.jpg"
    assert items["only.DNG"].raw is None and items["only.DNG"].is_raw
