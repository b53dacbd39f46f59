"""Stackelberg security games: ORIGAMI against the exact multiple LPs and ERASER, windows.

The references are independent of ORIGAMI: Conitzer & Sandholm's multiple
LPs and the ERASER MILP (both on HiGHS), hand-computed toys, and for window
schedules a brute-force enumeration of every vertex of the per-target LP
polytopes (the SSE is attained at one of them).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderwatch.errors import BorderwatchError
from borderwatch.plan.stackelberg import (
    GameSolution,
    WindowSolution,
    attacker_best_response,
    solve_eraser_milp,
    solve_multiple_lps,
    solve_origami,
    solve_windows,
)

TOL = 1e-6


def random_game(n: int, seed: int, integer: bool = False):
    """(att_covered, att_uncovered, def_covered, def_uncovered); integer games have many ties."""
    rng = np.random.default_rng(seed)
    if integer:
        au = rng.integers(-2, 3, n).astype(float)
        ac = au - rng.integers(1, 3, n)
        du = rng.integers(-2, 3, n).astype(float)
        dc = du + rng.integers(1, 3, n)
        return ac, au, dc, du
    return (rng.uniform(-10, -1, n), rng.uniform(1, 10, n), rng.uniform(1, 10, n),
            rng.uniform(-10, -1, n))


@st.composite
def games(draw, max_n: int = 7):
    n = draw(st.integers(1, max_n))
    if draw(st.booleans()):        # small integers: ties in every payoff, exact breakpoints
        ints = lambda lo, hi: np.array(draw(st.lists(st.integers(lo, hi), min_size=n,  # noqa: E731
                                                     max_size=n)), dtype=float)
        au = ints(-3, 3)
        ac = au - ints(1, 3)
        du = ints(-3, 3)
        dc = du + ints(1, 3)
    else:
        fl = lambda lo, hi: np.array(draw(st.lists(  # noqa: E731
            st.floats(lo, hi, allow_nan=False, allow_infinity=False), min_size=n, max_size=n)))
        au = fl(-10, 10)
        ac = au - fl(0.1, 10)
        du = fl(-10, 10)
        dc = du + fl(0.1, 10)
    r = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, n - 0.5, float(n), n + 1.5]),
                       st.floats(0, n + 1, allow_nan=False)))
    return (ac, au, dc, du), max(r, 0.0)


def check_sse_shape(sol, game, r):
    """What every SSE answer must satisfy, whatever the solver."""
    ac, au, dc, du = game
    c = sol.coverage
    assert c.shape == au.shape
    assert np.all(c >= 0) and np.all(c <= 1)
    assert c.sum() <= r + 1e-9 * max(1.0, r)
    ua = c * ac + (1 - c) * au
    ud = c * dc + (1 - c) * du
    rng_a = au.max() - ac.min()
    # the attacked target is a best response, and utilities are reported there
    assert ua[sol.attacked] >= ua.max() - 1e-9 * rng_a
    assert sol.attacked in sol.attack_set
    assert sol.attacker_utility == pytest.approx(ua[sol.attacked], abs=1e-12 * rng_a + 1e-12)
    assert sol.defender_utility == pytest.approx(ud[sol.attacked], abs=1e-9)
    # attacker utility equalised on the attack set
    assert ua[sol.attack_set].max() - ua[sol.attack_set].min() <= 1e-9 * rng_a
    # the SSE attacker (ties to the defender) picks a target worth the same to the defender
    t, ua_t, ud_t = attacker_best_response(c, *game)
    assert ud_t == pytest.approx(sol.defender_utility, abs=TOL)


# --------------------------------------------------------------------------- toys


def test_two_target_toy_by_hand():
    # Target 0: att (covered, uncovered) = (0, 2), def = (1, -2).
    # Target 1: att (covered, uncovered) = (0, 1), def = (3, -1).  R = 1.
    # U_a(0) = 2 - 2 c0, U_a(1) = 1 - c1. With c1 = 0 the attacker gets
    # U_a(0) >= 1 only if c0 <= 1/2, so the level falls below 1 and both are in
    # the attack set: 2 - 2 c0 = 1 - c1 = u, c0 + c1 = 1
    #   => (2 - u)/2 + (1 - u) = 1  => 2 - 1.5 u = 1  => u = 2/3,
    #   c0 = 2/3, c1 = 1/3.
    # Defender: U_d(0) = -2 + 3 c0 = 0, U_d(1) = -1 + 4 c1 = 1/3. The attacker is
    # indifferent and (SSE) crosses where the defender prefers: target 1, 1/3.
    # (Not the target with the highest att_uncovered, nor the lowest index.)
    game = (np.array([0.0, 0.0]), np.array([2.0, 1.0]), np.array([1.0, 3.0]),
            np.array([-2.0, -1.0]))
    for solve in (solve_origami, solve_multiple_lps, solve_eraser_milp):
        sol = solve(*game, 1.0)
        assert isinstance(sol, GameSolution)
        assert sol.attacked == 1, solve.__name__
        assert sol.defender_utility == pytest.approx(1 / 3, abs=1e-9)
        assert sol.attacker_utility == pytest.approx(2 / 3, abs=1e-9)
        check_sse_shape(sol, game, 1.0)
    sol = solve_origami(*game, 1.0)
    np.testing.assert_allclose(sol.coverage, [2 / 3, 1 / 3], atol=1e-12)
    np.testing.assert_array_equal(sol.attack_set, [0, 1])
    assert sol.method == "origami"


def test_full_coverage_and_leftover_by_hand():
    # Target 0: att (1, 3), def (0, -10).  Target 1: att (0, 2), def (2, -4).  R = 1.8.
    # Nothing pushes U_a(0) below att_covered[0] = 1, so the level is at least 1:
    # at u = 1, c0 = (3-1)/2 = 1 and c1 = (2-1)/2 = 1/2, total 1.5 <= 1.8, so
    # u* = 1 with 0.3 units to spare. Attack set {0, 1}: U_d(0) = 0 (fully
    # covered), U_d(1) = -4 + 6 * 1/2 = -1, so the SSE attack is at target 0, value 0.
    # The spare 0.3 cannot help target 0 (already at 1) and goes to target 1:
    # c1 = 0.8, U_a(1) = 2 - 2 * 0.8 = 0.4 < 1, so 0 becomes the strict best response.
    game = (np.array([1.0, 0.0]), np.array([3.0, 2.0]), np.array([0.0, 2.0]),
            np.array([-10.0, -4.0]))
    sol = solve_origami(*game, 1.8)
    assert sol.attacked == 0 and sol.defender_utility == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(sol.coverage, [1.0, 0.8], atol=1e-12)
    np.testing.assert_array_equal(sol.attack_set, [0])
    bare = solve_origami(*game, 1.8, spend_leftover=False)
    np.testing.assert_allclose(bare.coverage, [1.0, 0.5], atol=1e-12)
    np.testing.assert_array_equal(bare.attack_set, [0, 1])
    assert bare.attacked == 0 and bare.defender_utility == pytest.approx(0.0, abs=1e-12)
    for solve in (solve_multiple_lps, solve_eraser_milp):
        assert solve(*game, 1.8).defender_utility == pytest.approx(0.0, abs=1e-9)


def test_no_resources_ties_go_to_the_defender():
    # R = 0: no coverage; targets 0 and 1 both give the attacker 5, the defender
    # loses 3 at target 0 but only 1 at target 1, so the SSE attack is at 1.
    game = (np.array([0.0, 0.0, 0.0]), np.array([5.0, 5.0, 4.0]), np.array([1.0, 1.0, 1.0]),
            np.array([-3.0, -1.0, 0.0]))
    for solve in (solve_origami, solve_multiple_lps, solve_eraser_milp):
        sol = solve(*game, 0)
        assert sol.attacked == 1 and sol.defender_utility == pytest.approx(-1.0, abs=1e-9)
        np.testing.assert_allclose(sol.coverage, 0.0, atol=1e-9)
    assert attacker_best_response(np.zeros(3), *game) == (1, 5.0, -1.0)


def test_more_resources_than_targets():
    game = random_game(6, 3)
    sol = solve_origami(*game, 10.0)
    np.testing.assert_allclose(sol.coverage, 1.0)
    # every target fully covered: the attacker takes the best att_covered
    assert sol.attacker_utility == pytest.approx(game[0].max())
    assert sol.defender_utility == pytest.approx(solve_multiple_lps(*game, 10.0).defender_utility,
                                                 abs=TOL)
    inf = solve_origami(*game, float("inf"))
    np.testing.assert_allclose(inf.coverage, 1.0)


# --------------------------------------------------------------------------- exact agreement


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(games())
def test_origami_equals_multiple_lps(case):
    game, r = case
    ours = solve_origami(*game, r)
    ref = solve_multiple_lps(*game, r)
    assert ours.defender_utility == pytest.approx(ref.defender_utility, abs=TOL)
    check_sse_shape(ours, game, r)
    check_sse_shape(ref, game, r)
    # the attacker's equilibrium utility is the minimal achievable maximum: the same too
    assert ours.attacker_utility <= ref.attacker_utility + TOL
    bare = solve_origami(*game, r, spend_leftover=False)
    assert bare.defender_utility == pytest.approx(ref.defender_utility, abs=TOL)
    check_sse_shape(bare, game, r)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(games(max_n=6))
def test_eraser_milp_agrees(case):
    game, r = case
    milp = solve_eraser_milp(*game, r)
    assert milp.method == "eraser-milp"
    assert milp.defender_utility == pytest.approx(solve_origami(*game, r).defender_utility,
                                                  abs=TOL)
    assert milp.defender_utility == pytest.approx(solve_multiple_lps(*game, r).defender_utility,
                                                  abs=TOL)
    check_sse_shape(milp, game, r)


@pytest.mark.parametrize("n,seed,integer", [(60, 0, False), (300, 1, False), (200, 2, True)])
def test_agreement_on_larger_games(n, seed, integer):
    game = random_game(n, seed, integer)
    for r in (0.0, 1.0, n / 10, n / 2, float(n)):
        ours = solve_origami(*game, r)
        ref = solve_multiple_lps(*game, r)
        assert ours.defender_utility == pytest.approx(ref.defender_utility, abs=TOL)
        check_sse_shape(ours, game, r)
    milp = solve_eraser_milp(*game, n / 10)
    assert milp.defender_utility == pytest.approx(
        solve_origami(*game, n / 10).defender_utility, abs=TOL)


def test_origami_scales():
    n = 200_000
    game = random_game(n, 7)
    solve_origami(*game, n / 10)
    t0 = time.perf_counter()
    sol = solve_origami(*game, n / 10)
    assert time.perf_counter() - t0 < 1.0          # bench target: 1e6 in 0.5 s
    assert sol.coverage.sum() == pytest.approx(n / 10, rel=1e-9)
    ua = sol.coverage * game[0] + (1 - sol.coverage) * game[1]
    assert ua.max() == pytest.approx(sol.attacker_utility, abs=1e-9)
    assert len(sol.attack_set) > 1000


# --------------------------------------------------------------------------- windows


def window_matrix(n, L):
    m = np.zeros((n, n - L + 1))
    for s in range(n - L + 1):
        m[s:s + L, s] = 1.0
    return m


def brute_force_windows(game, r, L):
    """SSE value by enumerating every vertex of the per-target LP polytopes.

    Each per-target LP (max U_d(t) s.t. t is a best response, x >= 0, sum x <= R,
    M x <= 1) is bounded, so its optimum is at a point where W = n - L + 1
    independent constraints are tight, each one of: x_w = 0, sum x = R,
    c_t = 1, or U_a(t) = U_a(t'). Every such feasible point is evaluated with
    the SSE best response, and the best is the SSE value.
    """
    ac, au, dc, du = game
    n = len(au)
    m = window_matrix(n, L)
    w = m.shape[1]
    da = au - ac
    planes = [(np.eye(w)[i], 0.0) for i in range(w)]
    if np.isfinite(r):
        planes.append((np.ones(w), r))
    planes += [(m[t], 1.0) for t in range(n)]
    planes += [(da[t2] * m[t2] - da[t1] * m[t1], au[t2] - au[t1])
               for t1, t2 in itertools.combinations(range(n), 2)]
    a_all = np.array([p[0] for p in planes])
    b_all = np.array([p[1] for p in planes])
    combos = np.array(list(itertools.combinations(range(len(planes)), w)))
    mats, rhs = a_all[combos], b_all[combos]
    ok = np.abs(np.linalg.det(mats)) > 1e-9
    xs = np.linalg.solve(mats[ok], rhs[ok][..., None])[..., 0]
    c = xs @ m.T
    feas = (xs >= -1e-9).all(1) & (xs.sum(1) <= r + 1e-9) & (c <= 1 + 1e-9).all(1)
    best = -np.inf
    for x in xs[feas]:
        cov = np.clip(m @ np.clip(x, 0, None), 0, 1)
        best = max(best, attacker_best_response(cov, *game)[2])
    return best


@pytest.mark.parametrize("n,L", [(3, 1), (3, 2), (4, 2), (4, 3), (5, 3), (5, 4), (6, 4),
                                 (6, 5), (7, 5)])
@pytest.mark.parametrize("seed", range(4))
def test_windows_against_brute_force(n, L, seed):
    game = random_game(n, seed, integer=seed % 2 == 1)
    for r in (0.0, 0.4, 1.0, 1.7):
        sol = solve_windows(*game, r, L)
        assert isinstance(sol, WindowSolution) and sol.exact
        brute = brute_force_windows(game, r, L)
        assert sol.defender_utility == pytest.approx(brute, abs=TOL), (r, sol.method)
        check_window_solution(sol, game, r, L)


def check_window_solution(sol, game, r, L):
    n = len(game[0])
    x = sol.window_mix
    assert x.shape == (n - L + 1,) and sol.window == L
    assert np.all(x >= 0) and np.all(x <= 1)
    assert x.sum() <= r + 1e-8 * max(1.0, r)
    np.testing.assert_allclose(sol.coverage, np.clip(window_matrix(n, L) @ x, 0, 1), atol=1e-12)
    assert sol.upper_bound >= sol.defender_utility - 1e-12
    # coverage is an SSE coverage: the reported target is a best response worth that much
    t, _, ud = attacker_best_response(sol.coverage, *game)
    assert ud == pytest.approx(sol.defender_utility, abs=TOL)
    assert sol.attacked in sol.attack_set


@pytest.mark.parametrize("n", [8, 15, 30])
@pytest.mark.parametrize("L", [1, 2, 3, 5])
def test_windows_lp_matches_eraser_c_milp(n, L):
    for seed in range(2):
        game = random_game(n, 10 * n + seed, integer=seed == 1)
        for r in (0.7, n / 6, n / 2):
            lp = solve_windows(*game, r, L)
            milp = solve_windows(*game, r, L, method="milp")
            assert lp.exact and milp.exact and milp.method == "eraser-c-milp"
            assert lp.defender_utility == pytest.approx(milp.defender_utility, abs=TOL)
            check_window_solution(lp, game, r, L)
            check_window_solution(milp, game, r, L)
            # the relaxation with L * R resources bounds the window game
            assert lp.defender_utility <= solve_origami(*game, L * r).defender_utility + TOL


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(games(max_n=7))
def test_window_of_one_is_the_unconstrained_game(case):
    game, r = case
    sol = solve_windows(*game, r, 1)
    assert sol.exact
    assert sol.defender_utility == pytest.approx(solve_origami(*game, r).defender_utility,
                                                 abs=TOL)
    assert "realised" in sol.method          # L = 1 always takes the fast path


def test_windows_beat_origami_with_r_units():
    # One unit on the single window of length 2 covers both targets fully: the
    # defender gets max def_covered = 1, while one unit spread without windows
    # leaves coverage summing to 1 and a lower value. (So ORIGAMI with R is no
    # bound for windows; ORIGAMI with L * R is.)
    game = (np.array([0.0, 0.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0]),
            np.array([-1.0, -1.0]))
    sol = solve_windows(*game, 1.0, 2)
    assert sol.defender_utility == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(sol.window_mix, [1.0], atol=1e-9)
    assert solve_origami(*game, 1.0).defender_utility == pytest.approx(0.0, abs=1e-9)


def test_windows_both_paths_taken():
    game = random_game(12, 5)
    methods = set()
    for L in (2, 3, 5):
        for r in (0.5, 1.0, 2.0, 3.0):
            sol = solve_windows(*game, r, L)
            methods.add("realised" in sol.method)
            assert sol.defender_utility == pytest.approx(
                solve_windows(*game, r, L, method="milp").defender_utility, abs=TOL)
    assert methods == {True, False}


# --------------------------------------------------------------------------- errors


GOOD = (np.array([0.0, 1.0]), np.array([2.0, 3.0]), np.array([1.0, 2.0]), np.array([-1.0, 0.0]))


@pytest.mark.parametrize("solve", [solve_origami, solve_multiple_lps, solve_eraser_milp,
                                   lambda *a: solve_windows(*a, 1)])
def test_errors(solve):
    ac, au, dc, du = GOOD
    with pytest.raises(BorderwatchError, match="att_uncovered has 3 entries"):
        solve(ac, np.array([2.0, 3.0, 4.0]), dc, du, 1)
    with pytest.raises(BorderwatchError, match=r"def_covered\[1\] is nan"):
        solve(ac, au, np.array([1.0, np.nan]), du, 1)
    with pytest.raises(BorderwatchError, match="target 1: att_uncovered .* must exceed"):
        solve(ac, np.array([2.0, 1.0]), dc, du, 1)
    with pytest.raises(BorderwatchError, match="target 0: def_covered .* must exceed"):
        solve(ac, au, np.array([-1.0, 2.0]), du, 1)
    with pytest.raises(BorderwatchError, match="resources = -1"):
        solve(ac, au, dc, du, -1)
    with pytest.raises(BorderwatchError, match="resources"):
        solve(ac, au, dc, du, float("nan"))
    with pytest.raises(BorderwatchError, match="no targets"):
        solve(ac[:0], au[:0], dc[:0], du[:0], 1)
    with pytest.raises(BorderwatchError, match="1-D"):
        solve(ac[None], au[None], dc[None], du[None], 1)


def test_window_and_response_errors():
    with pytest.raises(BorderwatchError, match="window = 3"):
        solve_windows(*GOOD, 1, 3)
    with pytest.raises(BorderwatchError, match="window = 0"):
        solve_windows(*GOOD, 1, 0)
    with pytest.raises(BorderwatchError, match="window"):
        solve_windows(*GOOD, 1, 1.5)
    with pytest.raises(BorderwatchError, match="method"):
        solve_windows(*GOOD, 1, 1, method="simplex")
    with pytest.raises(BorderwatchError, match="time_limit_s"):
        solve_multiple_lps(*GOOD, 1, time_limit_s=0)
    with pytest.raises(BorderwatchError, match=r"coverage\[1\] = 1.5"):
        attacker_best_response(np.array([0.5, 1.5]), *GOOD)
    with pytest.raises(BorderwatchError, match="shape"):
        attacker_best_response(np.array([0.5]), *GOOD)


def test_window_realisation_must_not_overcover_the_attacked_target():
    # Relaxation (L * R = 2 units of coverage): target 2 cannot go below its
    # att_covered = 1, so u* = 1: need c1 = (2-1)/2 = 1/2, c2 = 1, c0 = 0, and
    # the SSE attack is at target 1 (defender 0 there, -5 at target 2). With
    # windows {0,1} and {1,2}, c2 = 1 forces x_{1,2} = 1, hence c1 = 1: the
    # relaxation's coverage is not realisable (target 1 would be over-covered,
    # sending the attacker to target 2), so the LPs must decide.
    game = (np.array([-5.0, 0.0, 1.0]), np.array([0.0, 2.0, 2.0]), np.array([0.0, 1.0, -5.0]),
            np.array([-1.0, -1.0, -10.0]))
    sol = solve_windows(*game, 1.0, 2)
    assert "realised" not in sol.method
    assert sol.defender_utility == pytest.approx(brute_force_windows(game, 1.0, 2), abs=TOL)
    assert sol.defender_utility == pytest.approx(
        solve_windows(*game, 1.0, 2, method="milp").defender_utility, abs=TOL)
    check_window_solution(sol, game, 1.0, 2)


@pytest.mark.parametrize("n,L,seed", [(12, 2, 0), (12, 3, 1), (30, 5, 2), (30, 3, 3)])
def test_window_leftover_units_keep_the_equilibrium(n, L, seed):
    game = random_game(n, seed, integer=seed % 2 == 1)
    spent_somewhere = False
    for r in (n / 4, n / 3, n / 2):
        bare = solve_windows(*game, r, L, spend_leftover=False)
        full = solve_windows(*game, r, L)
        check_window_solution(full, game, r, L)
        # same SSE value, same attacked target utility, no fewer units at work
        assert full.defender_utility == pytest.approx(bare.defender_utility, abs=1e-9)
        assert full.attacker_utility == pytest.approx(bare.attacker_utility, abs=1e-9)
        assert full.window_mix.sum() >= bare.window_mix.sum() - 1e-9
        # the other targets are no more attractive than before (margin kept or grown)
        ua = lambda s: s.coverage * game[0] + (1 - s.coverage) * game[1]  # noqa: E731
        others = lambda s: np.delete(ua(s), s.attacked).max()             # noqa: E731
        assert others(full) <= others(bare) + 1e-9
        spent_somewhere |= full.window_mix.sum() > bare.window_mix.sum() + 1e-6
    assert spent_somewhere
