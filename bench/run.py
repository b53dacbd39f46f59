"""borderwatch benchmarks: our code and a peer on the same input, ratios printed.

Run with `make bench`. Each benchmark times the best of a few repeats of the
same work done by borderwatch and by the reference implementation, checks the
two agree, and prints one row. Later issues add rows (viewshed vs
gdal_viewshed, tracking vs Stone Soup, siting vs a generic MILP, ...).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_geo import BENCHMARKS as GEO  # noqa: E402


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    rows = []
    for name, ours, peer, peer_name, check in GEO:
        t_ours, r_ours = best_of(ours)
        t_peer, r_peer = best_of(peer)
        check(r_ours, r_peer)
        rows.append((name, t_ours, peer_name, t_peer))
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':{width}s}  {'borderwatch':>12s}  {'peer':>28s}  {'peer/ours':>9s}")
    for name, t_ours, peer_name, t_peer in rows:
        print(f"{name:{width}s}  {t_ours * 1000:10.1f} ms  {peer_name:>16s} {t_peer * 1000:8.1f} ms"
              f"  {t_peer / t_ours:8.2f}x")


if __name__ == "__main__":
    np.random.seed(0)
    main()
