"""Decoding: every bad input becomes a one-line reason; odd but valid images come out as correct RGB."""

from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, save_shape
from PIL import Image

from desktop_app.core.errors import UnreadableFile
from desktop_app.core.ingest.images import load_image

EXIF_SAMPLES = ROOT.parent / "shared" / "data" / "exif-orientation"


def _pixel(img: Image.Image, xy=(0, 0)) -> tuple[int, int, int]:
    return img.getpixel(xy)  # type: ignore[return-value]


def test_big_jpeg_is_decoded_at_reduced_scale_with_draft(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), (200, 30, 30)).save(path, quality=80)
    decoded = load_image(path, min_side=300)
    # draft() can only give 1/1, 1/2, 1/4 or 1/8 scale: 750x500 is the JPEG decoder's 1/8.
    # (Decoding at full size and then box-reducing to >= 2*300 would give 1000x666.)
    assert decoded.image.size == (750, 500)
    assert decoded.original_size == (6000, 4000)
    assert not decoded.partial


@pytest.mark.parametrize("flag", range(2, 9))
def test_exif_orientation_generated(tmp_path: Path, flag: int) -> None:
    # An upright picture: red top half, blue bottom-left quarter, green bottom-right quarter.
    upright = Image.new("RGB", (60, 40), (255, 0, 0))
    upright.paste((0, 0, 255), (0, 20, 30, 40))
    upright.paste((0, 200, 0), (30, 20, 60, 40))
    # Store it the way a camera would for ``flag``: the inverse transform, plus the flag.
    inverse = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
               5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_270}[flag]
    stored = upright.transpose(inverse)
    exif = Image.Exif()
    exif[0x0112] = flag
    path = tmp_path / f"o{flag}.jpg"
    stored.save(path, exif=exif, quality=95)
    out = load_image(path, min_side=10_000).image
    assert out.size == (60, 40)
    diff = np.abs(np.asarray(out, np.int16) - np.asarray(upright, np.int16)).mean()
    assert diff < 10


@pytest.mark.skipif(not EXIF_SAMPLES.is_dir(), reason="shared/data/exif-orientation is not beside this checkout")
@pytest.mark.parametrize("name", ["Landscape", "Portrait"])
def test_real_exif_orientation_samples_match_the_upright_one(name: str) -> None:
    reference = np.asarray(load_image(EXIF_SAMPLES / f"{name}_1.jpg", min_side=10_000).image, np.int16)
    for flag in range(0, 9):
        out = np.asarray(load_image(EXIF_SAMPLES / f"{name}_{flag}.jpg", min_side=10_000).image, np.int16)
        assert out.shape == reference.shape, flag
        assert np.abs(out - reference).mean() < 8, f"{name}_{flag}.jpg is not upright"


def test_cmyk_jpeg_comes_out_as_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("RGB", (64, 64), (220, 20, 20)).convert("CMYK").save(path, quality=95)
    out = load_image(path).image
    assert out.mode == "RGB"
    r, g, b = _pixel(out, (32, 32))
    assert r > 180 and g < 70 and b < 70


def test_16_bit_png_is_scaled_not_clipped_to_white(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    arr = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (32, 1))
    Image.fromarray(arr).save(path)
    assert Image.open(path).mode.startswith("I")
    out = np.asarray(load_image(path).image)
    assert out.shape[2] == 3
    assert out[:, :10].mean() < 20 and out[:, -10:].mean() > 235
    assert 100 < out[:, 118:138].mean() < 155


def test_palette_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "pal.png"
    img = Image.new("P", (40, 40), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (20, 0, 40, 40))
    img.save(path, transparency=0)
    out = load_image(path).image
    assert _pixel(out, (5, 5)) == (255, 255, 255)
    assert _pixel(out, (30, 5)) == (255, 0, 0)


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_alpha_is_composited_on_white(tmp_path: Path, mode: str) -> None:
    path = tmp_path / f"{mode}.png"
    img = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    img.paste((0, 0, 0, 255), (20, 0, 40, 40))
    img.convert(mode).save(path)
    out = load_image(path).image
    assert out.mode == "RGB"
    assert _pixel(out, (5, 5)) == (255, 255, 255)
    assert _pixel(out, (30, 5)) == (0, 0, 0)


def test_animated_gif_and_multipage_tiff_use_the_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(tmp_path / "pages.tiff", save_all=True, append_images=frames[1:])
    for name in ("anim.gif", "pages.tiff"):
        r, g, b = _pixel(load_image(tmp_path / name).image, (16, 16))
        assert r > 200 and b < 50, name


def test_heic_is_read_through_pillow_heif(tmp_path: Path) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    path = tmp_path / "photo.heic"
    Image.new("RGB", (64, 64), (20, 20, 220)).save(path, quality=90)
    r, g, b = _pixel(load_image(path).image, (32, 32))
    assert b > 180 and r < 70


def test_truncated_jpeg_is_decoded_leniently_and_flagged_partial(tmp_path: Path) -> None:
    full = save_shape(tmp_path / "full.jpg", "red", "circle", px=256)
    data = full.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) * 6 // 10])
    decoded = load_image(cut)
    assert decoded.partial
    assert decoded.image.size == (256, 256)
    assert not load_image(full).partial


def test_decompression_bomb_is_refused_before_decoding_with_the_limit_named(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("RGB", (200, 100)).save(path)
    with pytest.raises(UnreadableFile) as err:
        load_image(path, max_pixels=10_000)
    assert "20,000" in err.value.user_message and "10,000" in err.value.user_message
    assert load_image(path, max_pixels=None).image.size == (200, 100)


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("zero.jpg", b"", "empty"),
        ("notes.jpg", b"this is a shopping list, not a picture\n" * 10, "not an image"),
        ("garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "not an image"),
    ],
)
def test_bad_files_raise_unreadable_with_one_line_reason(tmp_path: Path, name: str, content: bytes,
                                                          reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as err:
        load_image(path)
    assert reason in err.value.user_message
    assert "\n" not in err.value.user_message


def test_corrupt_png_stream_is_decoded_leniently_and_flagged_partial(tmp_path: Path) -> None:
    path = save_shape(tmp_path / "c.png", "red", "circle", px=128)
    data = bytearray(path.read_bytes())
    at = data.index(b"IDAT") + 8
    data[at:at + 200] = b"\xff" * 200
    path.write_bytes(bytes(data))
    assert load_image(path).partial


def test_vanished_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="vanished"):
        load_image(tmp_path / "gone.jpg")
