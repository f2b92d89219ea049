"""photo_info: the loupe's information panel from EXIF written by Pillow into real JPEGs."""

from __future__ import annotations

from PIL import Image
from PIL.TiffImagePlugin import IFDRational as Fraction  # what Pillow writes as an EXIF rational

from desktop_app.core.metadata.photo_info import human_size, photo_info, shutter_text


def _jpeg_with_exif(path, orientation: int = 1):
    exif = Image.Exif()
    exif[271] = "NIKON CORPORATION"
    exif[272] = "NIKON Z 6"
    exif[274] = orientation
    sub = exif.get_ifd(0x8769)
    sub[33434] = Fraction(1, 250)  # ExposureTime
    sub[33437] = Fraction(28, 10)  # FNumber
    sub[34855] = 400  # ISO
    sub[37386] = Fraction(35, 1)  # FocalLength
    sub[36867] = "2024:06:14 15:02:07"  # DateTimeOriginal
    sub[42036] = "NIKKOR Z 24-70mm f/4 S"  # LensModel
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (Fraction(48), Fraction(51), Fraction(2988, 100))
    gps[3], gps[4] = "W", (Fraction(2), Fraction(17), Fraction(4020, 100))
    Image.new("RGB", (64, 48), (120, 60, 30)).save(path, exif=exif)
    return path


def test_fields_from_exif(tmp_path):
    info = photo_info(_jpeg_with_exif(tmp_path / "a.jpg"))
    assert info["File"] == "a.jpg"
    assert info["Folder"] == str(tmp_path)
    assert info["Pixels"].startswith("64 × 48")
    assert info["Camera"] == "NIKON CORPORATION NIKON Z 6" or info["Camera"] == "NIKON Z 6"
    assert info["Lens"] == "NIKKOR Z 24-70mm f/4 S"
    assert info["Shutter"] == "1/250 s"
    assert info["Aperture"] == "f/2.8"
    assert info["ISO"] == "ISO 400"
    assert info["Focal length"] == "35 mm"
    assert info["Exposure"] == "1/250 s · f/2.8 · ISO 400 · 35 mm"
    assert info["Taken"] == "2024-06-14 15:02:07"
    lat, lon = (float(x) for x in info["GPS"].split(","))
    assert abs(lat - 48.8583) < 1e-3 and abs(lon + 2.2945) < 1e-3
    assert "error" not in info


def test_rotated_picture_reports_upright_size(tmp_path):
    assert photo_info(_jpeg_with_exif(tmp_path / "r.jpg", orientation=6))["Pixels"].startswith("48 × 64")


def test_missing_fields_are_left_out(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (10, 20)).save(path)
    info = photo_info(path)
    assert set(info) == {"File", "Folder", "File size", "Pixels"}


def test_damaged_or_missing_file_never_raises(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    info = photo_info(bad)
    assert info["File"] == "bad.jpg" and "error" in info and "File size" in info
    gone = photo_info(tmp_path / "gone.jpg")
    assert "error" in gone


def test_formatting():
    assert shutter_text(1 / 4000) == "1/4000 s"
    assert shutter_text(2.0) == "2 s"
    assert shutter_text(30) == "30 s"
    assert human_size(999) == "999 bytes"
    assert human_size(3_400_000) == "3.4 MB"


def test_the_loupe_and_the_filter_read_one_camera_name_the_same_way(tmp_path):
    """One EXIF reader: the camera is named once ("NIKON Z 6", not "NIKON CORPORATION NIKON Z 6"; "Canon EOS R5",
    not "Canon Canon EOS R5"), without the NUL padding some cameras write."""
    from desktop_app.core.metadata.photo_meta import read_meta

    nikon = _jpeg_with_exif(tmp_path / "n.jpg")
    assert photo_info(nikon)["Camera"] == "NIKON Z 6" == read_meta(nikon).camera
    exif = Image.Exif()
    exif[271], exif[272] = "Canon\x00", "Canon EOS R5\x00\x00"
    exif.get_ifd(0x8769)[42033] = "012345"  # BodySerialNumber: tells two R5 bodies apart in bursts
    Image.new("RGB", (8, 8)).save(tmp_path / "c.jpg", exif=exif)
    assert photo_info(tmp_path / "c.jpg")["Camera"] == "Canon EOS R5"
    assert read_meta(tmp_path / "c.jpg").camera == "Canon EOS R5 012345"
