"""Every format a photographer's library holds, on real files written by real encoders: DNGs (tifffile, read by
LibRaw through rawpy) through the embedded preview and through the half-size demosaic, AVIF, JPEG XL, JPEG 2000,
MPO, PSD, JPEG's other extensions; and RAW files LibRaw cannot open become one-line reasons."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import numpy as np
import pytest
import rawpy
from conftest import TINY_MODEL
from dng import write_dng
from PIL import Image, UnidentifiedImageError
from shapes import COLOURS, SHAPES, draw_shape

from desktop_app.core.embedding.pipeline import EmbedSettings, run_embedding
from desktop_app.core.errors import UnreadableFile
from desktop_app.core.ingest.images import load_image
from desktop_app.core.ingest.items import Item, scan
from desktop_app.core.ingest.thumbnails import get_thumbnail
from desktop_app.core.metadata import photo_meta
from desktop_app.core.progress import drive
from desktop_app.core.review.quality import measure

RED, GREEN, BLUE = (220, 30, 30), (30, 170, 40), (30, 60, 220)
# How a camera stores an upright picture for EXIF orientation ``flag``: the inverse of the transform that the
# flag asks the viewer to apply.
STORED_AS = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
             4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
             7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def _quadrants() -> Image.Image:
    """Upright test picture, wider than tall: red top half, blue bottom-left, green bottom-right."""
    im = Image.new("RGB", (160, 96), RED)
    im.paste(BLUE, (0, 48, 80, 96))
    im.paste(GREEN, (80, 48, 160, 96))
    return im


def _dominant(im: Image.Image, fx: float, fy: float) -> str:
    """Which of red, green, blue dominates around a point given as fractions of the width and height."""
    w, h = im.size
    x, y = int(fx * w), int(fy * h)
    patch = np.asarray(im.crop((x - 2, y - 2, x + 3, y + 3)), np.float32).mean(axis=(0, 1))
    return "rgb"[int(np.argmax(patch))]


@pytest.mark.parametrize("with_preview", [True, False], ids=["preview", "demosaic"])
@pytest.mark.parametrize("flag", range(1, 9))
def test_dng_comes_out_upright_from_the_raws_own_orientation(tmp_path: Path, flag: int, with_preview: bool) -> None:
    upright = _quadrants()
    stored = upright.transpose(STORED_AS[flag]) if STORED_AS[flag] is not None else upright
    path = write_dng(tmp_path / f"IMG_{flag}.dng", stored, preview=stored if with_preview else None, orientation=flag)
    with rawpy.imread(str(path)) as raw:  # the file is a real DNG: LibRaw reads its orientation and its preview
        assert raw.sizes.flip != 0 or flag == 1
        if not with_preview:
            with pytest.raises(rawpy.LibRawNoThumbnailError):
                raw.extract_thumb()
    decoded = load_image(path, min_side=16)
    w, h = decoded.image.size
    assert w > h and decoded.original_size == (160, 96)
    assert (_dominant(decoded.image, 0.5, 0.25), _dominant(decoded.image, 0.25, 0.75),
            _dominant(decoded.image, 0.75, 0.75)) == ("r", "b", "g")


def test_the_embedded_preview_is_used_when_large_enough_else_a_half_size_demosaic(tmp_path: Path) -> None:
    # The sensor saw a red picture; the camera's preview is blue, so the colour tells which route was taken.
    sensor = Image.new("RGB", (400, 300), RED)
    path = write_dng(tmp_path / "DSC_0001.dng", sensor, preview=Image.new("RGB", (400, 300), BLUE))
    via_preview = load_image(path, min_side=224)  # the 400x300 preview is large enough: no demosaic
    assert _dominant(via_preview.image, 0.5, 0.5) == "b"
    via_demosaic = load_image(path, min_side=1000)  # asked for more than the preview has
    assert _dominant(via_demosaic.image, 0.5, 0.5) == "r"
    assert via_demosaic.image.size == (200, 150)  # half size: one pixel per 2x2 Bayer block
    assert via_preview.original_size == via_demosaic.original_size == (400, 300)


def test_a_broken_preview_falls_back_to_the_sensor_data(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "P1000001.dng", Image.new("RGB", (400, 300), RED),
                     preview=Image.new("RGB", (400, 300), BLUE))
    data = bytearray(path.read_bytes())
    start = data.index(b"\xff\xd8\xff")  # the preview JPEG inside the DNG
    data[start + 2:start + 202] = b"\x00" * 200  # its headers overwritten: no JPEG decoder makes sense of it
    path.write_bytes(bytes(data))
    decoded = load_image(path, min_side=32)
    assert _dominant(decoded.image, 0.5, 0.5) == "r"


def test_thumbnail_and_best_frame_score_read_a_raw_through_its_preview(tmp_path: Path) -> None:
    sensor = Image.new("RGB", (1200, 800), RED)
    picture = draw_shape("blue", "square", "large", 800, random.Random(2)).resize((1200, 800))
    path = write_dng(tmp_path / "Été 写真.dng", sensor, preview=picture)  # non-ASCII name: rawpy gets the bytes
    thumb = get_thumbnail(path, tmp_path / "thumbs", side=160)
    assert thumb is not None
    with Image.open(thumb) as im:
        assert max(im.size) == 160 and _dominant(im.convert("RGB"), 0.5, 0.5) == "b"
    quality = measure(path)
    assert quality.readable and quality.megapixels == pytest.approx(0.96)  # the RAW's size, not the preview's
    assert quality.sharpness > 0  # the preview's square has edges; the flat red sensor picture has none


@pytest.mark.parametrize("name", ["garbage.CR2", "garbage.nef", "garbage.dng", "half.ARW"])
def test_a_raw_libraw_cannot_open_is_one_line_reason(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.startswith("half"):  # a real DNG cut short, renamed: the TIFF header is there, the rest is not
        data = write_dng(tmp_path / "whole.dng", Image.new("RGB", (64, 48), RED)).read_bytes()
        path.write_bytes(data[:20])
    else:
        path.write_bytes(b"this is not a raw file at all\n" * 40)
    with pytest.raises(UnreadableFile) as err:
        load_image(path)
    assert err.value.user_message.startswith("RAW file LibRaw cannot")
    assert "\n" not in err.value.user_message


def test_garbage_raw_in_a_folder_is_skipped_not_fatal(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write_dng(lib / "good.DNG", Image.new("RGB", (64, 48), RED), preview=Image.new("RGB", (64, 48), RED))
    (lib / "bad.CR3").write_bytes(b"\x00\x01garbage" * 100)
    result = drive(run_embedding([lib], EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path / "cache")))
    assert [Path(i.path).name for i in result.items] == ["good.DNG"]
    assert [(s.path.name, s.reason.split(" (")[0]) for s in result.skipped] == [
        ("bad.CR3", "RAW file LibRaw cannot open")]


def _psd(path: Path, im: Image.Image) -> Path:
    """A Photoshop file holding ``im`` as its merged composite (Pillow reads PSD but cannot write it). The layout
    is Adobe's: header, colour-mode data, image resources, layer and mask information (empty here), then the
    composite image data, uncompressed and planar."""
    rgb = np.asarray(im.convert("RGB"))
    h, w, _ = rgb.shape
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)  # version 1, 3 channels, 8 bits, RGB
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layer and mask info: empty
    planes = np.ascontiguousarray(rgb.transpose(2, 0, 1)).tobytes()
    path.write_bytes(header + sections + struct.pack(">H", 0) + planes)  # compression 0: raw
    return path


def _mpo(path: Path, frames: list[Image.Image]) -> Path:
    frames[0].save(path, "MPO", save_all=True, append_images=frames[1:])
    return path


@pytest.mark.parametrize("name", ["p.avif", "p.jxl", "p.jp2", "p.j2k", "p.jfif", "p.jpe", "p.psd", "p.mpo",
                                  "p.qoi", "p.tga"])
def test_more_formats_are_read_first_frame_or_composite(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    red = Image.new("RGB", (96, 64), RED)
    if name.endswith(".psd"):
        _psd(path, red)
    elif name.endswith(".mpo"):  # a stereo pair: the first (left) frame is the picture
        _mpo(path, [red, Image.new("RGB", (96, 64), BLUE)])
        with Image.open(path) as im:
            assert im.format == "MPO" and im.n_frames == 2
    elif name.endswith((".jfif", ".jpe")):
        red.save(path, "JPEG")
    else:
        red.save(path)  # Pillow's own encoders: AVIF (libavif), JPEG 2000 (OpenJPEG), JPEG XL (pillow-jxl-plugin)
    assert [type(r) for r in scan([tmp_path])] == [Item]
    decoded = load_image(path, min_side=16)
    assert decoded.original_size == (96, 64) and not decoded.partial
    r, g, b = np.asarray(decoded.image, np.float32).reshape(-1, 3).mean(axis=0)
    assert r > 180 and g < 70 and b < 70, name


def test_a_heic_named_jpg_opens_by_its_content(tmp_path: Path) -> None:
    path = tmp_path / "exported.jpg"  # some phone exports keep HEIC data under a .jpg name
    Image.new("RGB", (64, 64), BLUE).save(path, "HEIF")
    r, g, b = load_image(path).image.getpixel((32, 32))  # type: ignore[misc]
    assert b > 180 and r < 70


def test_red_circles_in_raw_avif_and_jxl_land_among_the_red_circles(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    for colour in COLOURS:
        for shape in SHAPES:
            for seed in range(2):
                draw_shape(colour, shape, "large", 96, random.Random(seed)).save(lib / f"{colour}-{shape}-{seed}.jpg")
    circle = draw_shape("red", "circle", "large", 96, random.Random(7))
    write_dng(lib / "new-preview.dng", circle, preview=circle)
    write_dng(lib / "new-demosaic.dng", circle)
    for ext in ("avif", "jxl", "jp2"):
        circle.save(lib / f"new.{ext}")
    result = drive(run_embedding([lib], EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path / "cache")))
    assert result.skipped == []
    names = [Path(i.path).name for i in result.items]
    new = [n for n in names if n.startswith("new")]
    assert sorted(new) == ["new-demosaic.dng", "new-preview.dng", "new.avif", "new.jp2", "new.jxl"]
    for name in new:
        sims = result.vectors @ result.vectors[names.index(name)]
        to_red_circles = max(s for n, s in zip(names, sims) if n.startswith("red-circle"))
        to_the_rest = max(s for n, s in zip(names, sims) if not n.startswith(("red-circle", "new")))
        # About 0.94-0.98 against 0.77-0.79 with the tiny model: a wide margin, whatever the CPU's rounding.
        assert to_red_circles > to_the_rest + 0.05, name


def test_a_raws_capture_time_and_camera_are_read_for_bursts_and_events(tmp_path: Path, monkeypatch) -> None:
    """TIFF-based RAWs (DNG, NEF, CR2…) through Pillow; RAWs Pillow cannot open (CR3, RAF…) through the EXIF
    header LibRaw writes into their preview. A RAW-only shoot thus still has bursts and events."""
    picture = Image.new("RGB", (96, 64), (200, 30, 30))
    dng = write_dng(tmp_path / "DSC_0001.dng", picture, preview=picture, camera=("Nikon", "Z 8"),
                    taken="2026:06:14 15:02:07")
    direct = photo_meta.read_meta(dng)
    assert direct.taken == photo_meta.parse_exif_time("2026:06:14 15:02:07")
    assert direct.camera == "Nikon Z 8"

    real_open = Image.open

    def pillow_cannot_read_raws(fp, *args, **kwargs):  # as for a CR3 or RAF
        if isinstance(fp, (str, Path)) and Path(fp).suffix.lower() == ".dng":
            raise UnidentifiedImageError(f"cannot identify image file {fp!r}")
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", pillow_cannot_read_raws)
    via_libraw = photo_meta.read_meta(dng)
    assert via_libraw.taken == direct.taken and via_libraw.camera == "Nikon Z 8"

    undated = write_dng(tmp_path / "DSC_0002.dng", picture, preview=picture)  # LibRaw writes 1970-01-01: no time
    assert photo_meta.read_meta(undated).taken is None


def test_a_thumbnail_of_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    """A Latin-1 name (a card from an older camera): its thumbnail is made and found again (its cache key hashed
    the name as UTF-8 and failed, which stopped the window's thumbnails)."""
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.jpg"))
    Image.new("RGB", (320, 240), BLUE).save(path)
    first = get_thumbnail(path, tmp_path / "thumbs", side=160)
    assert first is not None and first == get_thumbnail(path, tmp_path / "thumbs", side=160)
