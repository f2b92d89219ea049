"""Time a fresh session to the drawn map: ``photoatlas gui FOLDER... --screenshot`` where every picture's vector
is already cached (runs that fill the cache are not counted).

    .venv/bin/python benchmarks/first_map.py            # 3 x 50 pictures, the tiny test model

Each run is a new process, as a user double-clicking the app: Python and Qt start, the window opens, the cache
answers every picture, the map is laid out and drawn. The app prints ``map drawn after X s`` (from its first
import) when ``PHOTOATLAS_TIMING=1``. Two cases:

* stored map: the same folders again (the map comes from the cache);
* new map: two folders analysed together for the first time (their vectors are cached, their map is not: UMAP
  runs in the layout helper) — with the helper started and compiled at launch (the app's default), and without
  (``PHOTOATLAS_WARM_START=0``, the baseline measured in the same run).

Target: <= 3 s to the drawn map (100 pictures).
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

from shapes import COLOURS, draw_shape  # noqa: E402

TARGET_S = 3.0
MODEL = f"local-dir:{ROOT / 'tests' / 'fixtures' / 'tiny-clip'}"


def make_folder(folder: Path, seed: int, n: int = 50) -> None:
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    colours, shapes = list(COLOURS), ["circle", "square", "triangle"]
    for i in range(n):
        draw_shape(colours[i % len(colours)], shapes[i % 3], "big", 256, rng).save(folder / f"IMG_{i:04d}.jpg")


def run_once(folders: list[Path], cache: Path, warm: bool = True) -> tuple[float, float]:
    """(seconds to the drawn map as the app measured it, the process's wall time)."""
    env = {**os.environ, "PHOTOATLAS_TIMING": "1", "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(cache / "config"), "PHOTOATLAS_WARM_START": "1" if warm else "0"}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "desktop_app", "gui", *map(str, folders), "--model", MODEL,
                          "--cache-dir", str(cache), "--screenshot", str(cache / "shot.png"), "--quit-when-done"],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    found = re.search(r"map drawn after ([0-9.]+) s", out.stderr)
    if found is None:
        raise SystemExit(f"no timing line in the app's output:\n{out.stderr[-2000:]}")
    return float(found.group(1)), wall


def verdict(seconds: float) -> str:
    return "met" if seconds <= TARGET_S else "MISSED"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        a, b, c, d = (Path(tmp) / name for name in "abcd")
        for seed, folder in enumerate((a, b, c, d)):
            make_folder(folder, seed)
            run_once([folder], cache)  # fills the vector cache (loads the model); not counted
        stored = [run_once([a, b], cache) for _ in range(3)]  # the first one makes a+b's map; drop it
        stored = stored[1:]
        warm = [run_once(pair, cache, warm=True) for pair in ([a, c], [b, d])]
        cold = [run_once(pair, cache, warm=False) for pair in ([a, d], [b, c])]
        print("100 pictures, every vector cached, a new process each run (seconds to the drawn map; process wall)")
        for label, runs in (("stored map", stored), ("new map, helper warmed at launch", warm),
                            ("new map, no warm start (baseline)", cold)):
            med = statistics.median(d for d, _ in runs)
            walls = ", ".join(f"{w:.1f}" for _, w in runs)
            print(f"  {label:36s} {med:5.2f} s  (runs: {', '.join(f'{d:.2f}' for d, _ in runs)}; wall {walls})"
                  f"  target <= {TARGET_S} s: {verdict(med)}")
        ratio = statistics.median(d for d, _ in cold) / statistics.median(d for d, _ in warm)
        print(f"  warm start makes a new map {ratio:.1f}x faster to appear")


if __name__ == "__main__":
    main()
