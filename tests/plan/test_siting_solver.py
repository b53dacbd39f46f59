"""MCLP siting solver: exact on toys (brute force), valid bounds, heuristics, coverage targets."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from borderwatch.errors import BorderwatchError
from borderwatch.plan import siting_solver
from borderwatch.plan.siting_solver import (
    CoverageTarget,
    SitingSolution,
    greedy,
    solve_mclp,
    swap_local_search,
    towers_for_coverage,
)

# --------------------------------------------------------------------------- helpers



def random_instance(seed: int, n_sites: int = 12, n_demand: int = 40, density: float = 0.15):
    rng = np.random.default_rng(seed)
    dense = rng.random((n_sites, n_demand)) < density
    weights = rng.random(n_demand) * rng.integers(1, 4, n_demand)
    return sp.csr_matrix(dense), weights


def covered_weight(cover, weights, sites) -> float:
    dense = sp.csr_matrix(cover).toarray().astype(bool)
    return float(weights[dense[list(sites)].any(axis=0)].sum()) if len(sites) else 0.0


def brute_force_best(cover, weights, k: int) -> float:
    dense = sp.csr_matrix(cover).toarray().astype(bool)
    return max(float(weights[dense[list(s)].any(axis=0)].sum())
               for s in itertools.combinations(range(dense.shape[0]), k))


def brute_force_towers(cover, weights, target: float) -> int | None:
    dense = sp.csr_matrix(cover).toarray().astype(bool)
    need = target * weights.sum() - 1e-9 * weights.sum()
    for t in range(1, dense.shape[0] + 1):
        for s in itertools.combinations(range(dense.shape[0]), t):
            if weights[dense[list(s)].any(axis=0)].sum() >= need:
                return t
    return None


def check_solution(sol: SitingSolution, cover, weights, k: int) -> None:
    """Invariants every solution must meet, whatever produced it."""
    assert len(sol.chosen) == k
    assert len(np.unique(sol.chosen)) == k
    assert np.all(np.diff(sol.chosen) > 0)                 # sorted, distinct
    assert sol.chosen.min() >= 0 and sol.chosen.max() < cover.shape[0]
    assert sol.covered_weight == pytest.approx(covered_weight(cover, weights, sol.chosen),
                                               rel=1e-12)
    assert sol.total_weight == pytest.approx(weights.sum(), rel=1e-12)
    assert 0.0 <= sol.coverage <= 1.0 + 1e-12
    assert sol.upper_bound >= sol.covered_weight * (1 - 1e-12)
    assert sol.gap >= 0.0
    expected_gap = (sol.upper_bound - sol.covered_weight) / sol.upper_bound
    assert sol.gap == pytest.approx(expected_gap, abs=1e-12)


# Greedy takes site 3 (weight 8) then site 1 and ends at 13; every 1-swap from
# {1, 3} is worse, but {0, 5} covers 14. Site 2 sees nothing, point 2 (weight
# 3) is seen by no site: it counts in the total, never in coverage.
TRAP = sp.csr_matrix(np.array([
    [1, 0, 0, 1, 1, 0, 1, 0, 0],
    [0, 0, 0, 0, 0, 1, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 1, 0, 1, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 0, 1, 1],
    [0, 0, 0, 0, 0, 1, 0, 1, 1],
], dtype=bool))
TRAP_W = np.array([1.0, 2.0, 3.0, 3.0, 1.0, 3.0, 2.0, 1.0, 3.0])

# Greedy takes the wide site 0 (4) then site 1 (+1.5) = 5.5; swapping 0 for 2
# gives 1 + 2 = 7, the optimum.
SWAP_FIXES = sp.csr_matrix(np.array([
    [1, 1, 1, 1, 0, 0],
    [1, 1, 0, 0, 1, 0],
    [0, 0, 1, 1, 0, 1],
], dtype=bool))
SWAP_FIXES_W = np.array([1.0, 1.0, 1.0, 1.0, 1.5, 1.5])


# --------------------------------------------------------------------------- exactness on toys


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(3, 5))
def test_milp_matches_brute_force_on_toys(seed, k):
    cover, w = random_instance(seed)
    sol = solve_mclp(cover, w, k, mip_rel_gap=1e-9)
    best = brute_force_best(cover, w, k)
    check_solution(sol, cover, w, k)
    assert sol.covered_weight == pytest.approx(best, rel=1e-9)
    assert sol.optimal
    assert sol.gap == pytest.approx(0.0, abs=1e-6)
    assert sol.upper_bound >= best * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(2, 5))
def test_milp_alone_finds_the_optimum_from_plain_greedy(seed, k):
    """Without swap search the MILP must do the work (greedy is suboptimal on ~10 % of these)."""
    cover, w = random_instance(seed, n_sites=10, n_demand=25, density=0.25)
    sol = solve_mclp(cover, w, k, local_search=False, mip_rel_gap=1e-9)
    check_solution(sol, cover, w, k)
    assert sol.covered_weight == pytest.approx(brute_force_best(cover, w, k), rel=1e-9)
    assert sol.method in ("greedy+milp", "milp") or sol.milp_status.startswith("not needed")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 5), pick=st.integers(0, 2**32 - 1))
def test_no_milp_bounds_hold_for_any_set(seed, k, pick):
    """The greedy-guarantee and submodular bounds are >= the optimum, here checked directly."""
    from borderwatch.plan.siting_solver import (
        _greedy_bound,
        _greedy_order,
        _Reduced,
        _submodular_bound,
    )

    cover, w = random_instance(seed, density=0.2)
    best = brute_force_best(cover, w, k)
    r = _Reduced.build(sp.csr_matrix(cover, dtype=bool), w)
    s = np.random.default_rng(pick).choice(cover.shape[0], size=k, replace=False)
    assert _submodular_bound(r, s, r.covered(s)) >= best * (1 - 1e-12)
    g = _greedy_order(r, k)[1][-1]
    assert _greedy_bound(g, k) >= best * (1 - 1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 5))
def test_heuristic_bounds_are_valid_and_swap_never_hurts(seed, k):
    cover, w = random_instance(seed, density=0.2)
    best = brute_force_best(cover, w, k)
    g = solve_mclp(cover, w, k, milp=False, local_search=False)
    gs = solve_mclp(cover, w, k, milp=False)
    for sol in (g, gs):
        check_solution(sol, cover, w, k)
        assert sol.upper_bound >= best * (1 - 1e-9)      # the no-MILP bound is a true bound
        assert "no MILP" in sol.method
        assert sol.milp_status is None
    assert gs.covered_weight >= g.covered_weight - 1e-12
    assert g.method.startswith("greedy ") and gs.method.startswith("greedy+swap")
    # the 1-1/e guarantee
    assert g.covered_weight >= (1 - (1 - 1 / k) ** k) * best - 1e-9


def test_greedy_trap_is_fixed_by_swap():
    order = greedy(SWAP_FIXES, SWAP_FIXES_W, 2)
    assert order.tolist() == [0, 1]                        # pick order: the wide site first
    assert covered_weight(SWAP_FIXES, SWAP_FIXES_W, order) == 5.5
    assert swap_local_search(SWAP_FIXES, SWAP_FIXES_W, order).tolist() == [1, 2]
    sol = solve_mclp(SWAP_FIXES, SWAP_FIXES_W, 2, milp=False)
    assert sol.covered_weight == 7.0 and sol.chosen.tolist() == [1, 2]
    assert sol.method.startswith("greedy+swap")


def test_swap_local_optimum_is_fixed_by_milp():
    assert brute_force_best(TRAP, TRAP_W, 2) == 14.0
    order = greedy(TRAP, TRAP_W, 2)
    assert sorted(order.tolist()) == [1, 3]
    assert swap_local_search(TRAP, TRAP_W, order).tolist() == [1, 3]   # a 1-swap local optimum
    heur = solve_mclp(TRAP, TRAP_W, 2, milp=False)
    assert heur.covered_weight == 13.0 and not heur.optimal
    sol = solve_mclp(TRAP, TRAP_W, 2)
    check_solution(sol, TRAP, TRAP_W, 2)
    assert sol.covered_weight == 14.0 and sol.chosen.tolist() == [0, 5]
    assert sol.method == "milp" and sol.optimal and sol.milp_status == "Optimal"
    assert sol.total_weight == 19.0 and sol.coverage == pytest.approx(14 / 19)


def test_swap_search_on_its_own():
    cover, w = random_instance(3, n_sites=30, n_demand=200, density=0.08)
    start = np.array([0, 1, 2, 3, 4])
    out = swap_local_search(cover, w, start)
    assert len(out) == 5 and np.all(np.diff(out) > 0)
    assert covered_weight(cover, w, out) >= covered_weight(cover, w, start)
    # a local optimum stays put
    assert swap_local_search(cover, w, out).tolist() == out.tolist()
    with pytest.raises(BorderwatchError, match="distinct"):
        swap_local_search(cover, w, [1, 1, 2])
    with pytest.raises(BorderwatchError, match="site 30 is outside the 30 candidate sites"):
        swap_local_search(cover, w, [0, 30])


# --------------------------------------------------------------------------- preprocessing


def test_duplicate_sites_duplicate_columns_and_subset_sites():
    """Dominated / identical sites and twin columns are reduced away without changing the answer."""
    cover, w = random_instance(11, n_sites=6, n_demand=20, density=0.3)
    dense = cover.toarray()
    sub = dense[0] & (np.arange(20) % 2 == 0)              # a site that sees a subset of site 0
    big = np.vstack([dense, dense, sub[None, :]])          # 13 sites: each twice, plus the subset
    big = np.hstack([big, big[:, :5]])                     # 5 twin demand columns
    wb = np.concatenate([w, w[:5] * 0.5])
    for k in (2, 4, 7):
        sol = solve_mclp(sp.csr_matrix(big), wb, k, mip_rel_gap=1e-9)
        check_solution(sol, sp.csr_matrix(big), wb, k)
        assert sol.covered_weight == pytest.approx(brute_force_best(big, wb, k), rel=1e-9)
        assert sol.optimal


def test_reductions_keep_the_milp_exact_where_heuristics_fail():
    """TRAP with every site doubled, a subset site and twin columns: only the MILP reaches 14."""
    dense = TRAP.toarray()
    sub = dense[5] & np.array([0, 0, 0, 0, 0, 1, 0, 0, 1], dtype=bool)
    rows = np.vstack([dense, dense, sub])       # sites 6..11 repeat 0..5, site 12 sees {5, 8}
    big = sp.csr_matrix(np.hstack([rows, rows[:, [5, 0]]]))
    wb = np.concatenate([TRAP_W, [0.5, 0.25]])
    best = brute_force_best(big, wb, 2)
    assert best == 14.75
    heur = solve_mclp(big, wb, 2, milp=False)
    assert heur.covered_weight < best
    sol = solve_mclp(big, wb, 2, local_search=False)
    check_solution(sol, big, wb, 2)
    assert sol.covered_weight == best and sol.method == "milp" and sol.optimal


def test_warm_start_maps_dropped_sites_onto_their_dominators():
    """The MILP start built from a heuristic set covers at least as much, in the reduced model."""
    from borderwatch.plan.siting_solver import _Model, _Reduced

    dense = TRAP.toarray()
    sub = dense[0] & np.array([1, 0, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    big = sp.csr_matrix(np.vstack([dense, dense, sub]))    # 13 sites: 6..11 twins, 12 inside 0
    r = _Reduced.build(big, TRAP_W)
    model = _Model.build(r)
    assert model.sites.tolist() == [0, 1, 3, 5]  # twins, empty 2, 4 (inside 5) and 12 go
    for chosen in ([6, 9], [12, 10], [7, 11], [2, 8]):
        start = model.start(np.array(chosen))
        x, y = start[: len(model.sites)], start[len(model.sites):]
        kept = model.sites[x > 0.5]
        assert len(kept) <= len(chosen)
        assert r.covered(kept) >= r.covered(np.array(chosen))
        value = model.single @ x + model.w_multi @ y
        assert value == pytest.approx(r.covered(kept))     # y is exactly what x covers


def test_unseen_points_count_in_total_only():
    cover = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0]], dtype=bool))
    w = np.array([1.0, 1.0, 1.0, 7.0])
    sol = solve_mclp(cover, w, 2)
    assert sol.covered_weight == 3.0 and sol.total_weight == 10.0
    assert sol.coverage == pytest.approx(0.3)
    assert sol.optimal and sol.gap == 0.0                  # all coverable weight is covered
    assert sol.milp_status.startswith("not needed")


def test_dense_input_and_weight_scale_do_not_matter():
    cover, w = random_instance(5, n_sites=20, n_demand=80)
    a = solve_mclp(cover, w, 4, mip_rel_gap=1e-9)
    b = solve_mclp(cover.toarray(), w * 1e6, 4, mip_rel_gap=1e-9)
    c = solve_mclp(cover, w * 1e-6, 4, mip_rel_gap=1e-9)
    assert b.coverage == pytest.approx(a.coverage, rel=1e-9)
    assert c.coverage == pytest.approx(a.coverage, rel=1e-9)
    assert b.covered_weight == pytest.approx(a.covered_weight * 1e6, rel=1e-9)


def test_k_equal_to_all_sites_and_zero_weight_points():
    cover, w = random_instance(8, n_sites=7, n_demand=30)
    w[::3] = 0.0
    sol = solve_mclp(cover, w, 7)
    assert sol.chosen.tolist() == list(range(7))
    assert sol.covered_weight == pytest.approx(covered_weight(cover, w, range(7)))
    assert sol.optimal


# --------------------------------------------------------------------------- medium instance


def border_like(n_sites: int, n_demand: int, seed: int):
    """Sites along a 600 km line seeing 6-10 km either way, with shadowed gaps."""
    rng = np.random.default_rng(seed)
    cell = np.sort(rng.uniform(0, 600, n_demand))
    site = np.sort(rng.uniform(0, 600, n_sites))
    reach = rng.uniform(6, 10, n_sites)[:, None]
    sees = np.abs(cell[None, :] - site[:, None]) <= reach
    shadow_at = rng.uniform(0, 600, (n_sites, 3))[:, :, None]
    in_shadow = (cell[None, None, :] >= shadow_at) & (cell[None, None, :] < shadow_at + 1.5)
    sees &= ~in_shadow.any(axis=1)
    return sp.csr_matrix(sees), rng.lognormal(0, 0.5, n_demand)


def test_medium_instance_is_valid_and_fast():
    cover, w = border_like(300, 5000, seed=2)
    t0 = time.perf_counter()
    sol = solve_mclp(cover, w, 20, time_limit_s=3.0)
    elapsed = time.perf_counter() - t0
    check_solution(sol, cover, w, 20)
    assert elapsed < 6.0
    heur = solve_mclp(cover, w, 20, milp=False)
    assert sol.covered_weight >= heur.covered_weight - 1e-9  # warm start: never worse
    assert sol.upper_bound <= heur.upper_bound + 1e-9
    assert sol.milp_status is not None
    assert set(sol.timings_s) >= {"greedy", "swap", "milp"}


def test_tiny_time_limit_still_returns_the_heuristic():
    cover, w = border_like(200, 3000, seed=4)
    sol = solve_mclp(cover, w, 15, time_limit_s=1e-3)
    check_solution(sol, cover, w, 15)
    heur = solve_mclp(cover, w, 15, milp=False)
    assert sol.covered_weight >= heur.covered_weight - 1e-9


def test_threads_option():
    cover, w = random_instance(9, n_sites=15, n_demand=60)
    sol = solve_mclp(cover, w, 3, threads=1, mip_rel_gap=1e-9)
    assert sol.covered_weight == pytest.approx(brute_force_best(cover, w, 3), rel=1e-9)


# --------------------------------------------------------------------------- coverage targets


@pytest.mark.parametrize("partial_cover_share", [0.5, 0.0])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_towers_for_coverage_matches_brute_force(seed, partial_cover_share):
    """Both proof routes: partial-cover MILP then MCLP decisions, and MCLP decisions alone."""
    cover, w = random_instance(seed, n_sites=10, n_demand=30, density=0.25)
    targets = (0.5, 0.8, 0.9)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(siting_solver, "_PARTIAL_COVER_SHARE", partial_cover_share)
        res = towers_for_coverage(cover, w, targets, time_limit_s=10)
    assert [r.target for r in res] == list(targets)
    for r in res:
        expect = brute_force_towers(cover, w, r.target)
        if expect is None:
            assert r.towers is None and r.lower_bound is None and len(r.chosen) == 0
            continue
        assert r.towers == expect
        assert r.lower_bound == expect and r.proven
        assert len(r.chosen) == r.towers
        assert covered_weight(cover, w, r.chosen) >= r.target * w.sum() - 1e-9 * w.sum()


def test_unreachable_target_reports_reachable_max():
    res = towers_for_coverage(TRAP, TRAP_W, (0.5, 0.9, 1.0))
    reach = 16.0 / 19.0                                    # point 2 (weight 3) is seen by no site
    assert all(r.reachable_max == pytest.approx(reach) for r in res)
    by = {r.target: r for r in res}
    assert by[0.9].towers is None and by[0.9].lower_bound is None
    assert by[1.0].towers is None and by[1.0].chosen.size == 0
    assert by[0.5].towers == brute_force_towers(TRAP, TRAP_W, 0.5) == 2
    assert isinstance(by[0.5], CoverageTarget)


def test_towers_on_a_medium_instance_are_consistent():
    cover, w = border_like(150, 3000, seed=6)
    res = towers_for_coverage(cover, w, (0.95, 0.8, 0.9), time_limit_s=6)
    by = {r.target: r for r in res}
    order = greedy(cover, w, cover.shape[0])
    last = 0
    for t in (0.8, 0.9, 0.95):
        r = by[t]
        assert r.towers is not None and 1 <= r.lower_bound <= r.towers
        assert r.towers >= last                            # more coverage never needs fewer towers
        last = r.towers
        assert len(r.chosen) == r.towers
        assert covered_weight(cover, w, r.chosen) >= t * w.sum() * (1 - 1e-9)
        greedy_count = next(m for m in range(1, len(order) + 1)
                            if covered_weight(cover, w, order[:m]) >= t * w.sum() * (1 - 1e-9))
        assert r.towers <= greedy_count                    # never worse than greedy alone
        if r.lower_bound > 1:                              # the bound: one tower fewer cannot do it
            below = solve_mclp(cover, w, r.lower_bound - 1, mip_rel_gap=1e-9)
            assert below.covered_weight < t * w.sum() * (1 - 1e-9)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("k, message", [
    (0, "k = 0 must be at least 1"),
    (-2, "k = -2 must be at least 1"),
    (900, "k = 900 is larger than the 6 candidate sites"),
    (2.5, "whole number"),
])
def test_bad_k(k, message):
    with pytest.raises(BorderwatchError, match=message):
        solve_mclp(TRAP, TRAP_W, k)
    with pytest.raises(BorderwatchError, match=message):
        greedy(TRAP, TRAP_W, k)


@pytest.mark.parametrize("weights, message", [
    (np.ones(8), "9 demand columns but weights has 8 entries"),
    (np.r_[np.ones(8), -1.0], "non-negative, demand point 8 has weight -1"),
    (np.r_[np.nan, np.ones(8)], "NaN, first at demand point 0"),
    (np.r_[np.inf, np.ones(8)], "finite"),
    (np.zeros(9), "all 9 weights are zero"),
    (np.ones((9, 1)), "1-D"),
])
def test_bad_weights(weights, message):
    with pytest.raises(BorderwatchError, match=message):
        solve_mclp(TRAP, weights, 2)
    with pytest.raises(BorderwatchError, match=message):
        towers_for_coverage(TRAP, weights)


def test_bad_targets_and_limits():
    with pytest.raises(BorderwatchError, match="coverage target 1.5 must be in"):
        towers_for_coverage(TRAP, TRAP_W, (0.5, 1.5))
    with pytest.raises(BorderwatchError, match="coverage target 0.0 must be in"):
        towers_for_coverage(TRAP, TRAP_W, (0.0,))
    with pytest.raises(BorderwatchError, match="time_limit_s"):
        solve_mclp(TRAP, TRAP_W, 2, time_limit_s=0)
    with pytest.raises(BorderwatchError, match="cover must be a 2-D"):
        solve_mclp(np.ones(9, dtype=bool), TRAP_W, 1)
