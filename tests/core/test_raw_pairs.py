"""RAW+JPEG pairs (issue 23): every RAW of a pair travels with its picture, and a RAW whose JPEG cannot be read is a
picture of its own — never neither an item nor skipped. Real DNG data (LibRaw decodes it), the tiny real CLIP."""

from __future__ import annotations

import random
from pathlib import Path

from conftest import TINY_MODEL, save_shape
from dng import write_dng
from shapes import draw_shape

from desktop_app.core.embedding.pipeline import EmbedSettings, run_analysis, run_embedding
from desktop_app.core.export.plan import ExportOptions
from desktop_app.core.export.run import run_export
from desktop_app.core.progress import drive

# The scan pairs every RAW with its JPEG (``Item.raws``; tests/core/test_scan.py); what happens after needs a change
# in files of their own: the pipeline embeds the RAWs when the JPEG turns out unreadable, the export takes every
# same-stem RAW. Strict: these fail loudly once the change is in, so the markers go with it.


def _pair(lib: Path, jpeg: bytes | None) -> None:
    """``IMG_0001`` shot as RAW+JPEG, with a converted DNG beside the camera's own RAW (both real DNG data)."""
    picture = draw_shape("red", "circle", "large", 96, random.Random(0))
    write_dng(lib / "IMG_0001.CR2", picture)  # LibRaw reads what the bytes are, whatever the name says
    write_dng(lib / "IMG_0001.dng", picture)
    if jpeg is None:
        picture.save(lib / "IMG_0001.jpg")
    else:
        (lib / "IMG_0001.jpg").write_bytes(jpeg)


def _settings(tmp_path: Path) -> EmbedSettings:
    return EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path / "cache")


def test_a_readable_jpeg_is_the_item_and_names_its_first_raw(tmp_path: Path) -> None:
    _pair(tmp_path / "lib", None)
    result = drive(run_embedding([tmp_path / "lib"], _settings(tmp_path)))
    assert [(Path(i.path).name, Path(i.raw or "").name) for i in result.items] == [("IMG_0001.jpg", "IMG_0001.CR2")]
    assert result.skipped == []


def test_the_raws_of_a_jpeg_that_cannot_be_read_are_pictures_of_their_own(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    _pair(lib, b"\xff\xd8\xff\xe0" + b"\x00" * 64)  # a JPEG's first bytes, then nothing a decoder can read
    for run in range(2):  # found unreadable now, then remembered by the cache: the same answer
        result = drive(run_embedding([lib], _settings(tmp_path)))
        assert [(Path(i.path).name, i.kind, i.raw) for i in result.items] == [
            ("IMG_0001.CR2", "image", None), ("IMG_0001.dng", "image", None)]
        assert [s.path.name for s in result.skipped] == ["IMG_0001.jpg"]  # and why, as before
        assert result.vectors.shape == (2, 64)
        assert result.stats["embedded"] == (2 if run == 0 else 0) and result.stats["from_cache"] == 2 * run


def test_every_raw_of_a_pair_travels_with_its_picture(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    _pair(lib, None)
    for n in range(3):
        save_shape(lib / f"blue-{n}.jpg", "blue", "square", seed=n)
    result = drive(run_analysis([lib], _settings(tmp_path)))
    drive(run_export(result, tmp_path / "dest", ExportOptions(include_noise=True)))  # no --companions needed
    exported = sorted(p.name for p in (tmp_path / "dest").rglob("IMG_0001*"))
    assert exported == ["IMG_0001.CR2", "IMG_0001.dng", "IMG_0001.jpg"]
