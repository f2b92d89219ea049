"""Draw the PhotoAtlas icon and write it in the sizes each platform wants.

    .venv/bin/python installer/make_icons.py

Writes ``resources/icons/``: PNGs 16-1024 px (Linux hicolor theme, the window icon), ``photoatlas.ico``
(Windows: 16-256 px in one file) and ``photoatlas.icns`` (macOS). The design: a map tile with clusters of
dots in the app's group colours, one dot grown into a photo thumbnail — what the app does, at any size.
Drawn at 1024 px and downsampled, so small sizes stay crisp. Pillow only; committed, so builds need nothing.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "resources" / "icons"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
CLUSTERS = [  # centre (fraction of the tile), colour, dot offsets
    ((0.30, 0.32), "#4e79a7", [(0, 0), (-0.07, 0.05), (0.06, 0.06), (0.02, -0.08), (-0.08, -0.05)]),
    ((0.70, 0.30), "#f28e2b", [(0, 0), (0.07, 0.04), (-0.05, 0.07), (0.05, -0.07)]),
    ((0.34, 0.72), "#59a14f", [(0, 0), (0.08, -0.03), (-0.06, 0.06), (-0.07, -0.06), (0.05, 0.08)]),
]


def draw(size: int = 1024) -> Image.Image:
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    s = size
    d.rounded_rectangle((0.04 * s, 0.04 * s, 0.96 * s, 0.96 * s), radius=0.2 * s, fill="#f4f1ea",
                        outline="#2b2d42", width=round(0.035 * s))
    for (cx, cy), colour, offsets in CLUSTERS:
        for dx, dy in offsets:
            r = 0.045 * s
            x, y = (cx + dx) * s, (cy + dy) * s
            d.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    # One point became a photo: a thumbnail with a sky and a hill, framed in the red group's colour.
    x0, y0, x1, y1 = 0.55 * s, 0.55 * s, 0.86 * s, 0.84 * s
    d.rectangle((x0, y0, x1, y1), fill="#bfe0f5", outline="#e15759", width=round(0.03 * s))
    d.polygon([(x0 + 0.02 * s, y1 - 0.02 * s), (x0 + 0.12 * s, y0 + 0.12 * s), (x0 + 0.19 * s, y1 - 0.09 * s),
               (x0 + 0.24 * s, y0 + 0.16 * s), (x1 - 0.02 * s, y1 - 0.02 * s)], fill="#59a14f")
    d.ellipse((x1 - 0.1 * s, y0 + 0.04 * s, x1 - 0.04 * s, y0 + 0.1 * s), fill="#edc948")
    return img


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    big = draw(1024)
    for px in PNG_SIZES:
        big.resize((px, px), Image.Resampling.LANCZOS).save(OUT / f"photoatlas-{px}.png")
    big.save(OUT / "photoatlas.ico", sizes=[(p, p) for p in (16, 24, 32, 48, 64, 128, 256)])
    big.save(OUT / "photoatlas.icns")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
