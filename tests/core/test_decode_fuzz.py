"""Fuzzing the decoders through the real pipeline: a few hundred mutated pictures of every format PhotoAtlas reads
(cut short, bits flipped, sizes in the header made huge), seeded so every run makes the same files. Whatever the
decoders make of them — a picture, an error, a crash, a memory or time bomb — the run ends, and every file is
either an item or a skipped entry with a one-line reason."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

from conftest import TINY_MODEL
from dng import write_dng
from PIL import Image
from shapes import draw_shape

from desktop_app.core.embedding.pipeline import EmbedSettings, drive, run_embedding

W, H = 173, 109  # unusual sizes: their encodings in a header are found and made huge
MUTANTS = 30  # per format (with the originals, about 340 files)
SEED = 23


def _picture() -> Image.Image:
    return draw_shape("orange", "triangle", "large", 256, random.Random(SEED)).resize((W, H))


def _encoded(fmt: str, workdir: Path) -> bytes:
    """The test picture as ``fmt`` (an extension), written by the format's real encoder."""
    picture, buf = _picture(), io.BytesIO()
    if fmt == "dng":  # tifffile writes to a file
        return write_dng(workdir / "base.dng", picture, preview=picture).read_bytes()
    if fmt == "heic":
        picture.save(buf, "HEIF")
    elif fmt == "ico":
        picture.save(buf, "ICO", sizes=[(64, 64), (W, H)])
    elif fmt == "tif":
        picture.save(buf, "TIFF", compression="tiff_lzw")
    elif fmt == "gif":
        frames = [picture, picture.rotate(90)]
        frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    else:
        picture.save(buf, {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP", "avif": "AVIF",
                           "jxl": "JXL"}[fmt])
    return buf.getvalue()


def _size_fields(data: bytes) -> list[tuple[int, str]]:
    """Where the header (first 4 KB) seems to hold the width or height: (offset, struct format) of each
    16- or 32-bit, big- or little-endian encoding of ``W`` or ``H``."""
    found = []
    for fmt in (">H", "<H", ">I", "<I"):
        for value in (W, H):
            needle = struct.pack(fmt, value)
            at = data.find(needle, 0, 4096)
            while at >= 0:
                found.append((at, fmt))
                at = data.find(needle, at + 1, 4096)
    return found


def _mutants(data: bytes, rng: random.Random) -> list[bytes]:
    """Truncations, bit flips, one size field made huge, and every size field made 9000 (81 MP, under the pixel
    limit: over the memory cap for a decoder that believes it), a quarter each."""
    out = []
    fields = _size_fields(data)
    for k in range(MUTANTS):
        kind = k % 4
        if kind == 0:
            out.append(data[:rng.randrange(1, len(data))])
            continue
        mutant = bytearray(data)
        if kind == 1 or not fields:
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(len(mutant))
                mutant[at] ^= 1 << rng.randrange(8)
        elif kind == 2:
            at, fmt = rng.choice(fields)
            huge = rng.choice([0xFFFF, 0x7FFF, 30000, 60000]) if fmt.endswith("H") else rng.choice(
                [0xFFFFFFFF, 0x7FFFFFFF, 1 << 20, 1 << 16, 100_000])
            mutant[at:at + struct.calcsize(fmt)] = struct.pack(fmt, huge)
        else:
            for at, fmt in fields:
                mutant[at:at + struct.calcsize(fmt)] = struct.pack(fmt, 9000)
        if kind > 1 and mutant.startswith(b"\x89PNG"):  # a PNG's header has a checksum: make it agree
            mutant[29:33] = struct.pack(">I", zlib.crc32(mutant[12:29]))
        out.append(bytes(mutant))
    return out


def _formats() -> list[str]:
    formats = ["jpg", "png", "webp", "gif", "bmp", "tif", "heic", "avif", "dng", "ico"]
    try:
        import pillow_jxl  # noqa: F401 - registers the plugin
    except ImportError:
        return formats
    return [*formats, "jxl"]


def test_mutated_pictures_of_every_format_each_become_an_item_or_a_reason(tmp_path: Path) -> None:
    folder = tmp_path / "fuzz"
    folder.mkdir()
    rng = random.Random(SEED)
    names = []
    for fmt in _formats():
        base = _encoded(fmt, tmp_path)
        (folder / f"{fmt}-original.{fmt}").write_bytes(base)
        names.append(f"{fmt}-original.{fmt}")
        for k, mutant in enumerate(_mutants(base, rng)):
            (folder / f"{fmt}-{k:02d}.{fmt}").write_bytes(mutant)
            names.append(f"{fmt}-{k:02d}.{fmt}")

    settings = EmbedSettings(model=TINY_MODEL, cache_dir=tmp_path / "cache", batch_size=16,
                             decode_memory=256 << 20, decode_seconds=10)
    result = drive(run_embedding([folder], settings))

    embedded = {Path(i.path).name for i in result.items}
    skipped = {s.path.name: s.reason for s in result.skipped}
    assert not embedded & set(skipped)
    assert embedded | set(skipped) == set(names)
    assert all(reason.strip() and "\n" not in reason for reason in skipped.values())
    assert {f"{fmt}-original.{fmt}" for fmt in _formats()} <= embedded  # the originals are all read
    assert len(skipped) > len(names) // 4  # the mutations did reach the decoders
