"""Patrol allocation (Stackelberg security game): ORIGAMI against the exact HiGHS methods.

Instances follow the experiments of Kiekintveld et al. (AAMAS 2009): for each
target, attacker and defender rewards uniform in [1, 10] and penalties
uniform in [-10, -1], with one unit per ten targets (R = n / 10). The same
instance (fixed seed per size) goes to every solver.

- At 100, 1,000 and 3,000 targets: ORIGAMI (vectorised, `solve_origami`)
  against the ERASER MILP and against Conitzer & Sandholm's multiple LPs (all
  n LPs, warm-started one from the next), both on HiGHS with a 120 s limit;
  the note says whether the SSE defender utilities agree to 1e-6.
- ORIGAMI alone at 10^4, 10^5 and 10^6 targets against its time target
  (10 ms, 70 ms, 0.5 s; 70 ms is the geometric midpoint of the other two),
  so the ratio column shows the margin.
- Patrols with reach on a 600-cell border (1 km cells): `solve_windows`
  (relaxation bound, then pruned window LPs) against the ERASER-C MILP.

ORIGAMI times are the best of 5 runs; peers run once. Run:
``python bench/bench_game.py``; `run()` returns the rows.
"""

from __future__ import annotations

import time

import numpy as np

from borderwatch.plan.stackelberg import (
    solve_eraser_milp,
    solve_multiple_lps,
    solve_origami,
    solve_windows,
)

PEER_TIME_LIMIT_S = 120.0
AGREE_TOL = 1e-6
COMPARE_SIZES = (100, 1_000, 3_000)
SCALE_SIZES = ((10_000, 0.010), (100_000, 0.070), (1_000_000, 0.5))
WINDOW_CASES = ((600, 5, 20), (600, 10, 10))     # (cells, window, units)


def random_game(n: int, seed: int):
    """(att_covered, att_uncovered, def_covered, def_uncovered), Kiekintveld et al. style."""
    rng = np.random.default_rng(seed)
    att_uncovered = rng.uniform(1, 10, n)      # attacker reward
    att_covered = rng.uniform(-10, -1, n)      # attacker penalty
    def_covered = rng.uniform(1, 10, n)        # defender reward
    def_uncovered = rng.uniform(-10, -1, n)    # defender penalty
    return att_covered, att_uncovered, def_covered, def_uncovered


def _best_of(fn, repeat: int = 5):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _once(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _agreement(ours: float, peer, peer_method: str, exact_name: str) -> str:
    diff = abs(ours - peer)
    proven = "" if peer_method == exact_name else f" [{peer_method}]"
    if diff <= AGREE_TOL:
        return f"same defender utility to 1e-6 ({ours:.6f}){proven}"
    return f"defender utility differs by {diff:.3g} (ours {ours:.6f}, peer {peer:.6f}){proven}"


def run() -> list[dict]:
    rows: list[dict] = []
    solve_origami(*random_game(10, 0), 1.0)        # imports
    for n in COMPARE_SIZES:
        game = random_game(n, n)
        r = n / 10
        t_o, o = _best_of(lambda: solve_origami(*game, r))
        t_e, e = _once(lambda: solve_eraser_milp(*game, r, time_limit_s=PEER_TIME_LIMIT_S))
        rows.append({"name": f"SSE, {n} targets, R = {r:g}: ORIGAMI", "ours_s": t_o,
                     "peer": "ERASER MILP (HiGHS)", "peer_s": t_e,
                     "note": _agreement(o.defender_utility, e.defender_utility, e.method,
                                        "eraser-milp")})
        t_m, m = _once(lambda: solve_multiple_lps(*game, r, time_limit_s=PEER_TIME_LIMIT_S))
        rows.append({"name": f"SSE, {n} targets, R = {r:g}: ORIGAMI", "ours_s": t_o,
                     "peer": f"multiple LPs (HiGHS, {n} LPs)", "peer_s": t_m,
                     "note": _agreement(o.defender_utility, m.defender_utility, m.method,
                                        "multiple-lps")})
    for n, target in SCALE_SIZES:
        game = random_game(n, n)
        t_o, o = _best_of(lambda: solve_origami(*game, n / 10))
        target_txt = f"{target * 1000:g} ms" if target < 1 else f"{target:g} s"
        rows.append({"name": f"SSE, {n:,} targets, R = {n // 10:,}: ORIGAMI", "ours_s": t_o,
                     "peer": f"target < {target_txt}", "peer_s": target,
                     "note": f"attack set {len(o.attack_set):,} targets; "
                             f"{'meets' if t_o < target else 'MISSES'} the target"})
    for n, window, units in WINDOW_CASES:
        game = random_game(n, 7 * n + window)
        t_w, w = _once(lambda: solve_windows(*game, units, window))
        t_c, c = _once(lambda: solve_windows(*game, units, window, method="milp",
                                             time_limit_s=PEER_TIME_LIMIT_S))
        note = _agreement(w.defender_utility, c.defender_utility, c.method, "eraser-c-milp")
        rows.append({"name": f"patrol windows, {n} cells, L = {window}, {units} units: "
                             f"{w.method.split(' (')[0]}",
                     "ours_s": t_w, "peer": "ERASER-C MILP (HiGHS)", "peer_s": t_c,
                     "note": f"{note}; ours: {w.method}"})
    return rows


if __name__ == "__main__":
    for row in run():
        ratio = row["peer_s"] / row["ours_s"] if row["ours_s"] > 0 else float("inf")
        print(f"{row['name']}: ours {row['ours_s'] * 1000:.2f} ms, {row['peer']} "
              f"{row['peer_s'] * 1000:.2f} ms ({ratio:.1f}x) {row['note']}", flush=True)
