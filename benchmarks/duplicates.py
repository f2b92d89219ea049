"""Time the exact near-duplicate search on 100k synthetic 512-d embeddings; peak memory; recall of planted copies.

    .venv/bin/python benchmarks/duplicates.py          # 100k (about half a minute on 2 cores)
    .venv/bin/python benchmarks/duplicates.py 20000    # another size

Input: the map benchmark's clustered vectors (make_blobs, L2-normalised) with 2 % of them given a planted
near-duplicate (the original plus small noise, cosine ~0.97), and 50 planted chains of 20 frames (neighbours
0.966 alike, ends unrelated: what joined unrelated photos into one set before). The figure is the pair search
and the forming of sets around leaders (``star_sets``; no files: the best-frame pick decodes only the members
of sets, a few per cent of a library, so leaders go in row order here). "largest set" compares the sets with
the connected components of the same pairs (what sets were until issue 13).
Baseline in the same run: the straightforward float32 search (matrix products of row blocks against every
row, numpy), on a 20k sample, scaled by (n/20k)^2 — so the ratio shows what the bf16 tiles buy on this CPU.
Runs in a fresh process so the peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
TARGET_S, TARGET_MB = 30.0, 2048
CHAINS, CHAIN = 50, 20


def _data(n: int):
    import numpy as np
    from map_build import synthetic

    rng = np.random.default_rng(1)
    x, _ = synthetic(n - n // 50 - CHAINS * CHAIN)
    originals = rng.choice(len(x), n // 50, replace=False)
    copies = x[originals] + rng.normal(scale=0.011, size=(len(originals), x.shape[1])).astype(np.float32)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    chains = []
    for _ in range(CHAINS):  # quarter circles of 15° steps from axis to axis, in a random 512-d rotation
        walk = np.zeros((CHAIN, x.shape[1]), np.float32)
        for k in range(CHAIN):
            arc, step = divmod(k, 6)
            walk[k, arc], walk[k, arc + 1] = np.cos(np.radians(15 * step)), np.sin(np.radians(15 * step))
        basis = np.linalg.qr(rng.normal(size=(x.shape[1], CHAIN + 1)))[0].T.astype(np.float32)
        chains.append(walk[:, :CHAIN + 1] @ basis)
    data = np.vstack([x, copies, *chains]).astype(np.float32)
    return data, originals, np.arange(len(x), len(x) + len(originals))


def _naive(x, threshold: float, n_sample: int = 20_000) -> float:
    """float32 row blocks against all rows (numpy), on a sample; seconds scaled to the full size."""
    import numpy as np

    s = x[:n_sample]
    started = time.perf_counter()
    for a in range(0, len(s), 2048):
        sims = s[a:a + 2048] @ s.T
        np.nonzero(sims >= threshold)
    return (time.perf_counter() - started) * (len(x) / len(s)) ** 2


def measure(n: int) -> dict:
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from desktop_app.core.progress import drive
    from desktop_app.core.review.duplicates import DEFAULT_THRESHOLD, similar_pairs, star_sets

    x, originals, copies = _data(n)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    i, j, _ = drive(similar_pairs(x, DEFAULT_THRESHOLD))
    sets = star_sets(len(x), i, j, np.unique(np.concatenate([i, j])))
    seconds = time.perf_counter() - started
    labels = np.full(len(x), -1)
    for k, members in enumerate(sets):
        labels[members] = k
    found = (labels[originals] >= 0) & (labels[originals] == labels[copies])
    graph = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(len(x), len(x)))
    components = connected_components(graph, directed=False)[1][np.unique(np.concatenate([i, j]))]
    return {"n": n, "seconds": round(seconds, 2), "pairs": int(len(i)), "sets": len(sets),
            "largest": max(map(len, sets)), "largest_component": int(np.bincount(components).max()),
            "planted": len(originals), "recall": round(float(found.mean()), 4),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "data_rss_mb": round(base_rss / 1024), "naive_s": round(_naive(x, DEFAULT_THRESHOLD), 1)}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(measure(int(sys.argv[2]))))
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    run = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(run.stderr[-2000:])
    r = json.loads(run.stdout.strip().splitlines()[-1])
    ok_t = "met" if r["seconds"] <= TARGET_S else "MISSED"
    ok_m = "met" if r["peak_rss_mb"] <= TARGET_MB else "MISSED"
    print(f"near-duplicate search, n = {r['n']:,} x 512 (exact, every pair)")
    print(f"  time          {r['seconds']:6.1f} s    target <= {TARGET_S:.0f} s     {ok_t}")
    print(f"  peak memory   {r['peak_rss_mb']:6d} MB   target <= {TARGET_MB} MB   {ok_m}  "
          f"(of which the data and libraries {r['data_rss_mb']} MB)")
    print(f"  baseline      {r['naive_s']:6.1f} s    float32 blocks x all rows (numpy), scaled from 20k "
          f"-> {r['naive_s'] / r['seconds']:.1f}x faster")
    print(f"  found         {r['pairs']:,} pairs in {r['sets']:,} sets; planted copies found: "
          f"{r['recall'] * 100:.1f} % of {r['planted']:,}")
    print(f"  largest set   {r['largest']} pictures (connected components of the same pairs: "
          f"{r['largest_component']}; planted chains of {CHAIN})")


if __name__ == "__main__":
    main()
