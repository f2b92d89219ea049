"""Analysis of a million items (map, groups, names) on a 2-core machine: time and peak memory, fresh process.

    .venv/bin/python benchmarks/analyze_million.py            # 1,000,000 synthetic 512-d vectors
    .venv/bin/python benchmarks/analyze_million.py 300000     # another size (above SAMPLE_ABOVE: sampled)

Synthetic vectors: ~sqrt(n)/2.5 kinds of Pareto-distributed sizes around random centres (map_build's recipe,
made in float32 a slice at a time so the data itself is 2 GB at 1M). Above ``sampled.SAMPLE_ABOVE`` items the
analysis runs on a sample and places the rest (core/analysis/sampled.py). Reported: the whole analysis, its parts, the
groups found, the adjusted Rand index against the kinds over all items and over the placed ones, the peak
memory of this process plus the layout helper, and the same analysis again on the unchanged library (layouts and
the placing read from the cache, as when the app reopens it). Targets: <= 20 min, <= 8 GB.
"""

from __future__ import annotations

import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

TARGET_S = 20 * 60
TARGET_MB = 8 * 1024


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = max(8, round(n ** 0.5 / 2.5))
    weights = rng.pareto(1.5, groups) + 1
    sizes = np.maximum(5, (weights / weights.sum() * n).astype(int))
    sizes[0] += n - sizes.sum()
    truth = np.repeat(np.arange(groups), sizes)
    rng.shuffle(truth)
    centres = rng.uniform(-10, 10, (groups, 512)).astype(np.float32)
    spread = rng.uniform(14, 20, groups).astype(np.float32)
    x = np.empty((n, 512), np.float32)
    for start in range(0, n, 100_000):
        t = truth[start:start + 100_000]
        block = centres[t] + spread[t, None] * rng.standard_normal((len(t), 512), dtype=np.float32)
        x[start:start + len(t)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return x, truth


def main() -> None:
    from sklearn.metrics import adjusted_rand_score

    from desktop_app.core.analysis import sampled
    from desktop_app.core.analysis.analyze import analyze
    from desktop_app.core.analysis.isolated import peak_rss_mb, run_isolated, shutdown
    from desktop_app.core.analysis.model import AnalysisSettings
    from desktop_app.core.embedding.cache import EmbeddingCache
    from desktop_app.core.progress import drive

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    started = time.perf_counter()
    x, truth = synthetic(n)
    made = time.perf_counter() - started
    concepts = np.random.default_rng(1).normal(size=(1200, 512)).astype(np.float32)

    def encode(texts):  # stands in for the cached vocabulary vectors
        return concepts[:len(texts)] / np.linalg.norm(concepts[:len(texts)], axis=1, keepdims=True)

    print(f"{n:,} x 512 synthetic vectors in {truth.max() + 1} kinds (made in {made:.0f} s)", flush=True)
    folder = tempfile.mkdtemp()
    with EmbeddingCache(Path(folder)) as cache:  # where layouts and the placing are stored, as in the app
        started = time.perf_counter()
        analysis = drive(analyze(x, ["image"] * n, [None] * n, AnalysisSettings(), cache=cache, model_key="m",
                                 encode_texts=encode))
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        reopened = drive(analyze(x, ["image"] * n, [None] * n, AnalysisSettings(), cache=cache, model_key="m",
                                 encode_texts=encode))
        again = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    # The layout helper's own peak, asked of the helper itself (RUSAGE_CHILDREN would count, for any child
    # forked from this process — joblib's workers —, the pages it shares with this one).
    helper = run_isolated(peak_rss_mb)
    shutdown()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = analysis.stats.get("timings", {})
    info = analysis.params.get("sampled")
    verdict = "met" if seconds <= TARGET_S else "MISSED"
    print(f"  analysis          {seconds:8.0f} s   target <= {TARGET_S} s: {verdict}")
    same = bool(np.array_equal(analysis.labels, reopened.labels))
    print(f"  again, unchanged  {again:8.0f} s   (layouts and placing stored; same groups: {same}; placing "
          f"{(reopened.params.get('sampled') or {}).get('placing', '-')})")
    print(f"  peak memory       {own + helper:8.0f} MB  target <= {TARGET_MB} MB: "
          f"{'met' if own + helper <= TARGET_MB else 'MISSED'} (this process {own:.0f}, layout helper {helper:.0f})")
    print("  parts             " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()))
    if info:
        placed = np.setdiff1d(np.arange(n), sampled.sample_rows(n, ["image"] * n, info["sample"], 0))
        print(f"  sampled           {info['sample']:,} analysed in full, {n - info['sample']:,} placed")
        print(f"  ARI, placed items {adjusted_rand_score(truth[placed], analysis.labels[placed]):8.3f}")
    print(f"  groups            {len(analysis.clusters):8d}   ({truth.max() + 1} kinds; "
          f"{100 * float((analysis.labels < 0).mean()):.1f} % ungrouped)")
    print(f"  ARI, all items    {adjusted_rand_score(truth, analysis.labels):8.3f}")


if __name__ == "__main__":
    main()
