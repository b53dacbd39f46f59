"""Patrol allocation as a Stackelberg security game, solved exactly (the Strong Stackelberg
Equilibrium).

The defender (the border force) commits to a randomised coverage ``c`` of the
``n`` targets (border cells), ``0 <= c_t <= 1`` and ``sum c <= R`` for ``R``
patrol units; the attacker (an infiltrator who has watched the patrols for
weeks) observes ``c`` and crosses at the target with the best expected payoff

    U_a(t) = c_t * att_covered[t] + (1 - c_t) * att_uncovered[t],
    U_d(t) = c_t * def_covered[t] + (1 - c_t) * def_uncovered[t],

with ``att_uncovered > att_covered`` and ``def_covered > def_uncovered``
(patrols hurt the attacker and help the defender). In a *Strong* Stackelberg
Equilibrium (SSE) the attacker breaks ties in the defender's favour.

Solvers, all exact, all returning a `GameSolution`:

* `solve_origami`: ORIGAMI (Kiekintveld, Jain, Tsai, Pita, Ordóñez & Tambe,
  "Computing Optimal Randomized Resource Allocations for Massive Security
  Games", AAMAS 2009), as one vectorised O(n log n) pass; see its docstring
  for why its coverage is the SSE one and how the SSE target is picked.
* `solve_multiple_lps`: the "multiple LPs" method of Conitzer & Sandholm,
  "Computing the Optimal Strategy to Commit to", EC 2006: for every target
  ``t``, the LP "maximise U_d(t) subject to t being a best response"; the best
  of the ``n`` LP optima is the SSE. Solved on HiGHS; the exact reference.
* `solve_eraser_milp`: ERASER (Kiekintveld et al. 2009): one MILP with a
  binary "attacked" variable per target, on HiGHS.

Patrols have reach: with `solve_windows` a unit covers ``L`` consecutive
targets in a shift, so coverage is a mix of length-``L`` windows (the
ERASER-C setting of the same paper, with schedules = windows).

`attacker_best_response` evaluates any coverage with SSE tie-breaking.
Ties are decided with a tolerance of ``1e-9`` times the attacker's payoff
range (``max att_uncovered - min att_covered``), in every function alike.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from borderwatch.errors import BorderwatchError
from borderwatch.plan.siting_solver import _new_highs

__all__ = [
    "GameSolution",
    "WindowSolution",
    "attacker_best_response",
    "solve_eraser_milp",
    "solve_multiple_lps",
    "solve_origami",
    "solve_windows",
]

_TIE_TOL = 1e-9          # attacker ties: this share of the attacker's payoff range
_LP_TOL = 1e-10          # HiGHS primal / dual feasibility tolerance on the normalised models
_BOUND_TOL = 1e-9        # windows: an LP "reaches" a bound to within this (normalised units)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class GameSolution:
    """An SSE of the security game: the coverage and what it leads to."""

    coverage: np.ndarray        # (n,) probability each target is covered, in [0, 1]
    attacked: int               # the SSE target (attacker best response, ties to the defender)
    defender_utility: float     # U_d at the attacked target
    attacker_utility: float     # U_a at the attacked target (= max_t U_a(t))
    attack_set: np.ndarray      # sorted indices of the targets with maximal attacker utility
    method: str
    time_s: float


@dataclass(frozen=True, slots=True)
class WindowSolution:
    """An SSE when each unit covers a window of ``window`` consecutive targets.

    ``window_mix[s]`` is the expected number of units on the stretch starting
    at target ``s`` (so ``coverage = sum of the windows containing t``, each
    ``window_mix[s] <= 1``, ``window_mix.sum() <= resources``; units not
    needed by the equilibrium are left free). ``upper_bound`` is a proven bound
    on the SSE defender utility: the reported value itself when ``exact``
    (proven optimal, to the LP tolerances), else the best bound known (the
    relaxation with ``window * R`` resources, see `solve_windows`, or the
    largest bound of the targets not yet solved).
    """

    coverage: np.ndarray
    window_mix: np.ndarray
    window: int
    attacked: int
    defender_utility: float
    attacker_utility: float
    attack_set: np.ndarray
    exact: bool
    upper_bound: float
    method: str
    time_s: float


# --------------------------------------------------------------------------- validation


_NAMES = ("att_covered", "att_uncovered", "def_covered", "def_uncovered")


@dataclass(slots=True)
class _Game:
    ac: np.ndarray
    au: np.ndarray
    dc: np.ndarray
    du: np.ndarray
    da: np.ndarray           # au - ac > 0
    dd: np.ndarray           # dc - du > 0
    tol: float               # absolute attacker tie tolerance
    dtol: float              # the same share of the defender's payoff range

    @property
    def n(self) -> int:
        return len(self.au)

    def utilities(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.au - c * self.da, self.du + c * self.dd

    def normalised(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]:
        """Payoffs mapped affinely onto [0, 1] per player (for HiGHS' absolute tolerances).

        Returns ``(au, da, du, dd, d_lo, d_range)``: attacker U_uncovered and
        range, defender U_uncovered and range, and the map back to defender units.
        """
        a_lo, a_rng = float(self.ac.min()), float(self.au.max() - self.ac.min())
        d_lo, d_rng = float(self.du.min()), float(self.dc.max() - self.du.min())
        return ((self.au - a_lo) / a_rng, self.da / a_rng, (self.du - d_lo) / d_rng,
                self.dd / d_rng, d_lo, d_rng)


def _check_game(att_covered, att_uncovered, def_covered, def_uncovered) -> _Game:
    arrs = []
    for name, a in zip(_NAMES, (att_covered, att_uncovered, def_covered, def_uncovered)):
        try:
            v = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise BorderwatchError(f"{name} must be an array of numbers ({exc})") from None
        if v.ndim != 1:
            raise BorderwatchError(f"{name} must be a 1-D array over targets, got shape {v.shape}")
        arrs.append(v)
    n = len(arrs[0])
    for name, v in zip(_NAMES[1:], arrs[1:]):
        if len(v) != n:
            raise BorderwatchError(
                f"{name} has {len(v)} entries but att_covered has {n}: every payoff array "
                f"needs one entry per target")
    if n == 0:
        raise BorderwatchError("the game has no targets: the payoff arrays are empty")
    for name, v in zip(_NAMES, arrs):
        bad = ~np.isfinite(v)
        if bad.any():
            i = int(np.argmax(bad))
            raise BorderwatchError(f"{name}[{i}] is {v[i]}: every payoff must be a finite number")
    ac, au, dc, du = arrs
    da, dd = au - ac, dc - du
    bad = ~(da > 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise BorderwatchError(
            f"target {i}: att_uncovered ({au[i]:g}) must exceed att_covered ({ac[i]:g}), "
            f"since a patrol must make crossing there worse for the attacker")
    bad = ~(dd > 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise BorderwatchError(
            f"target {i}: def_covered ({dc[i]:g}) must exceed def_uncovered ({du[i]:g}), "
            f"since a patrol must make a crossing there better for the defender")
    tol = _TIE_TOL * float(au.max() - ac.min())
    dtol = _TIE_TOL * float(dc.max() - du.min())
    return _Game(ac, au, dc, du, da, dd, tol, dtol)


def _check_resources(resources) -> float:
    try:
        r = float(resources)
    except (TypeError, ValueError):
        raise BorderwatchError(f"resources = {resources!r} must be a number of patrol units") \
            from None
    if math.isnan(r) or r < 0:
        raise BorderwatchError(f"resources = {resources!r} must be a number >= 0 of patrol units")
    return r


def _check_time(time_limit_s) -> float:
    try:
        t = float(time_limit_s)
    except (TypeError, ValueError):
        t = math.nan
    if not t > 0:
        raise BorderwatchError(f"time_limit_s = {time_limit_s!r} must be > 0 seconds")
    return t


# --------------------------------------------------------------------------- SSE evaluation


def _sse_pick(g: _Game, ua: np.ndarray, ud: np.ndarray) -> tuple[int, np.ndarray]:
    """Attacker best response with ties (within ``g.tol``) broken for the defender.

    Among equally good targets for the defender, the lowest index.
    """
    attack_set = np.flatnonzero(ua >= ua.max() - g.tol)
    t = int(attack_set[np.argmax(ud[attack_set])])
    return t, attack_set


def attacker_best_response(coverage, att_covered, att_uncovered, def_covered, def_uncovered
                           ) -> tuple[int, float, float]:
    """The target an SSE attacker crosses at against ``coverage``.

    The attacker maximises ``U_a``; among targets within the tie tolerance of
    the maximum (``1e-9`` of the attacker's payoff range) it picks the one best
    for the defender (the "strong" in SSE), lowest index on exact ties.
    Returns ``(target, attacker utility, defender utility)`` there.
    """
    g = _check_game(att_covered, att_uncovered, def_covered, def_uncovered)
    c = np.asarray(coverage, dtype=np.float64)
    if c.shape != (g.n,):
        raise BorderwatchError(
            f"coverage has shape {c.shape} but the game has {g.n} targets")
    bad = ~((c >= 0) & (c <= 1))
    if bad.any():
        i = int(np.argmax(bad))
        raise BorderwatchError(f"coverage[{i}] = {c[i]} must be a probability in [0, 1]")
    ua, ud = g.utilities(c)
    t, _ = _sse_pick(g, ua, ud)
    return t, float(ua[t]), float(ud[t])


def _game_solution(g: _Game, c: np.ndarray, t: int | None, method: str, t0: float
                   ) -> GameSolution:
    """Package coverage ``c``; ``t`` is the solver's attacked target (None: best response).

    The solver's target is kept when it is in the (tolerance) attack set, so an
    LP's choice among defender-equivalent ties survives; otherwise (numerical
    noise only) the SSE best response is reported.
    """
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    ua, ud = g.utilities(c)
    pick, attack_set = _sse_pick(g, ua, ud)
    if t is None or ua[t] < ua.max() - g.tol or ud[t] < ud[pick] - g.dtol:
        t = pick
    return GameSolution(coverage=c, attacked=int(t), defender_utility=float(ud[t]),
                        attacker_utility=float(ua[t]), attack_set=attack_set, method=method,
                        time_s=time.perf_counter() - t0)


# --------------------------------------------------------------------------- ORIGAMI


def _origami_level(au: np.ndarray, inv: np.ndarray, resources: float) -> float:
    """Smallest level ``u`` with ``f(u) = sum_t max(0, au_t - u) * inv_t <= resources``.

    ``f`` is the coverage needed to hold every target's attacker utility at or
    below ``u`` (ignoring the cap ``c <= 1``, which the caller handles). Sorted
    by ``au`` descending (``a_0 >= a_1 >= ...``), ``f(a_{j+1}) = F_j`` with

        F_j = sum_{i <= j} (a_i - a_{j+1}) inv_i = F_{j-1} + (a_j - a_{j+1}) S_j,
        S_j = sum_{i <= j} inv_i,

    a cumulative sum of non-negative terms (no cancellation). The first ``j``
    with ``F_j > resources`` is the attack-set size minus one, and ``u`` solves
    the linear piece there. O(n log n) for the sort, the rest O(n), vectorised.
    """
    if math.isinf(resources):
        return -math.inf
    order = np.argsort(-au)       # ties need no order: their gaps are 0
    a = au[order]
    s = np.cumsum(inv[order])
    f = np.cumsum((a[:-1] - a[1:]) * s[:-1])
    j = int(np.searchsorted(f, resources, side="right"))
    if j < len(f):
        return float(a[j + 1] + (f[j] - resources) / s[j])
    f_prev = float(f[-1]) if len(f) else 0.0
    return float(a[-1] - (resources - f_prev) / s[-1])


def _capped_level(au: np.ndarray, ac: np.ndarray, inv: np.ndarray, budget: float) -> float:
    """Smallest ``v`` with ``sum_t clip((au_t - v) inv_t, 0, 1) <= budget`` (-inf if all fit).

    The same water-filling as `_origami_level`, with each target's coverage
    saturating at 1 when ``v`` reaches ``ac_t``: breakpoints at every ``au``
    (slope ``+inv``) and ``ac`` (slope ``-inv``), sorted descending.
    """
    if budget >= len(au):
        return -math.inf
    b = np.concatenate([au, ac])
    ds = np.concatenate([inv, -inv])
    order = np.argsort(-b)
    b, ds = b[order], ds[order]
    slope = np.maximum(np.cumsum(ds), 0.0)
    g = np.cumsum((b[:-1] - b[1:]) * slope[:-1])     # g[j] = coverage at level b[j + 1]
    j = int(np.searchsorted(g, budget, side="right"))
    if j >= len(g) or slope[j] <= 0:                 # only by rounding: everything saturated
        return float(b[-1])
    return float(b[j + 1] + (g[j] - budget) / slope[j])


@dataclass(slots=True)
class _Origami:
    level: float             # u*: the minimal maximum attacker utility
    need: np.ndarray         # minimal coverage holding every target at or below u*
    attacked: int            # SSE target for `need`


def _origami_core(g: _Game, resources: float) -> _Origami:
    inv = 1.0 / g.da
    floor = float(g.ac.max())          # no coverage pushes any target below its att_covered
    level = max(_origami_level(g.au, inv, resources), floor)
    need = np.clip((g.au - level) * inv, 0.0, 1.0)
    total = float(need.sum())
    if total > resources:              # rounding only (f(level) <= resources exactly)
        need *= resources / total
    ua, ud = g.utilities(need)
    t, _ = _sse_pick(g, ua, ud)
    return _Origami(level, need, t)


def solve_origami(att_covered, att_uncovered, def_covered, def_uncovered, resources, *,
                  spend_leftover: bool = True) -> GameSolution:
    """The SSE of a security game without scheduling constraints, by ORIGAMI.

    ORIGAMI (Kiekintveld, Jain, Tsai, Pita, Ordóñez & Tambe, "Computing Optimal
    Randomized Resource Allocations for Massive Security Games", AAMAS 2009)
    grows the attack set in order of ``att_uncovered`` and lowers the attack
    set's common attacker utility until the resources run out or a target
    reaches full coverage. Here that is one sort and prefix sums
    (`_origami_level`): no loop over targets, O(n log n). The sort dominates
    (about 50 ms of the 10^6-target solve), so Numba would not pay.

    Why this is the SSE (the argument the tests check against the multiple
    LPs of Conitzer & Sandholm 2006). The LP for target ``t`` maximises
    ``c_t`` (``U_d(t)`` increases with it) subject to ``U_a(t') <= U_a(t) = u``
    for all ``t'``. For a level ``u``, the cheapest coverage holding every
    target at or below ``u`` is ``c_t'(u) = max(0, (au_t' - u) / (au_t' -
    ac_t'))``, feasible iff ``u >= max_t' ac_t'`` (coverage <= 1) and
    ``sum_t' c_t'(u) <= R``; ``t`` is then attackable iff ``au_t >= u``, with
    ``c_t = c_t(u)``, which grows as ``u`` falls. So every LP is solved at the
    same level: the smallest feasible one, ``u* = max(max_t ac_t, f^-1(R))``,
    ORIGAMI's. The SSE is therefore ORIGAMI's coverage with the attacker, among
    the attack set ``{t : au_t >= u*}``, taking the target best for the
    defender, ``argmax U_d(t, c_t(u*))``.

    Degenerate cases: ``R = 0`` gives ``u* = max au`` and no coverage (ties in
    ``au`` are then decided for the defender); ``R >= n`` or a binding cap
    gives ``u* = max ac`` with ``sum c < R``. Extra coverage cannot raise the
    defender's utility at the attacked target (it would push that target's
    attacker utility below ``u*``, and the target with ``ac = u*`` keeps the
    attacker at ``u*``, or the attacked target is already fully covered). With
    ``spend_leftover`` (default) the spare units are spread over the *other*
    targets, water-filling their attacker utility down as far as they allow:
    the SSE value is unchanged, the attacked target becomes a strict best
    response wherever possible, and a sub-optimal attacker only does worse.
    """
    t0 = time.perf_counter()
    g = _check_game(att_covered, att_uncovered, def_covered, def_uncovered)
    r = _check_resources(resources)
    core = _origami_core(g, r)
    c = core.need
    t = core.attacked
    left = r - float(c.sum())
    if spend_leftover and g.n > 1 and left > 1e-12 * max(1.0, min(r, g.n)):
        others = np.ones(g.n, dtype=bool)
        others[t] = False
        budget = left + float(c[others].sum())
        v = _capped_level(g.au[others], g.ac[others], 1.0 / g.da[others], budget)
        v = min(v, core.level)
        c = c.copy()
        c[others] = np.clip((g.au[others] - v) / g.da[others], 0.0, 1.0)
        over = float(c.sum()) - r
        if over > 0:                   # rounding only: take it off the others
            c[others] *= max(0.0, 1.0 - over / max(float(c[others].sum()), 1e-300))
    return _game_solution(g, c, t, "origami", t0)


# --------------------------------------------------------------------------- HiGHS plumbing


def _highs_model(cost: np.ndarray, col_lo: np.ndarray, col_hi: np.ndarray, a: sp.spmatrix,
                 row_lo: np.ndarray, row_hi: np.ndarray, *, maximize: bool = True,
                 integrality: np.ndarray | None = None, time_limit_s: float | None = None):
    """A silent HiGHS instance holding the model, passed in one call (column-wise)."""
    import highspy

    inf = highspy.kHighsInf
    a = sp.csc_matrix(a, dtype=np.float64)
    a.sort_indices()
    num_col, num_row = a.shape[1], a.shape[0]
    h = _new_highs()
    for opt, val in (("primal_feasibility_tolerance", _LP_TOL),
                     ("dual_feasibility_tolerance", _LP_TOL)):
        h.setOptionValue(opt, val)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(max(time_limit_s, 1e-3)))

    def fix(v):
        v = np.array(v, dtype=np.float64)
        v[v == np.inf], v[v == -np.inf] = inf, -inf
        return v

    sense = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    args = [num_col, num_row, int(a.nnz), int(highspy.MatrixFormat.kColwise), int(sense), 0.0,
            np.ascontiguousarray(cost, dtype=np.float64), fix(col_lo), fix(col_hi),
            fix(row_lo), fix(row_hi), a.indptr.astype(np.int32), a.indices.astype(np.int32),
            a.data.astype(np.float64)]
    if integrality is None:
        integrality = np.zeros(num_col, dtype=np.int32)      # all continuous: an LP
    args.append(np.ascontiguousarray(integrality, dtype=np.int32))
    status = h.passModel(*args)
    if status == highspy.HighsStatus.kError:
        raise BorderwatchError("HiGHS rejected the game model (this is a bug in borderwatch)")
    return h


def _window_matrix(n: int, window: int) -> sp.csr_matrix:
    """``M[t, s] = 1`` when the window starting at ``s`` covers target ``t`` (n x n-L+1)."""
    w = n - window + 1
    starts = np.repeat(np.arange(w), window)
    rows = starts + np.tile(np.arange(window), w)
    return sp.csr_matrix((np.ones(len(rows)), (rows, starts)), shape=(n, w))


@dataclass(slots=True)
class _Layout:
    """Columns ``[x (windows, if any), c (n), k]`` and base rows of the per-target LPs.

    Rows: ``c - M x = 0`` (windows only), then ``da_t c_t + k >= au_t`` (i.e.
    ``U_a(t) <= k``) for every t, then the resource row (``sum x`` or ``sum c``
    ``<= R``). In normalised payoffs.
    """

    a: sp.csr_matrix
    col_lo: np.ndarray
    col_hi: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    c0: int                  # first c column
    k: int                   # the k column
    r0: int                  # first "U_a(t) <= k" row
    m: sp.csr_matrix | None  # window matrix


def _layout(au: np.ndarray, da: np.ndarray, resources: float, window: int | None) -> _Layout:
    n = len(au)
    if window is None:
        nx, m = 0, None
    else:
        m = _window_matrix(n, window)
        nx = m.shape[1]
    eye_da = sp.diags(da, format="csr")
    ones_k = sp.csr_matrix(np.ones((n, 1)))
    if m is None:
        ua_rows = sp.hstack([eye_da, ones_k], format="csr")
        res_row = sp.hstack([sp.csr_matrix(np.ones((1, n))), sp.csr_matrix((1, 1))], format="csr")
        a = sp.vstack([ua_rows, res_row], format="csr")
        row_lo = np.concatenate([au, [-np.inf]])
        row_hi = np.concatenate([np.full(n, np.inf), [resources]])
        r0 = 0
    else:
        link = sp.hstack([-m, sp.identity(n, format="csr"), sp.csr_matrix((n, 1))], format="csr")
        ua_rows = sp.hstack([sp.csr_matrix((n, nx)), eye_da, ones_k], format="csr")
        res_row = sp.hstack([sp.csr_matrix(np.ones((1, nx))), sp.csr_matrix((1, n + 1))],
                            format="csr")
        a = sp.vstack([link, ua_rows, res_row], format="csr")
        row_lo = np.concatenate([np.zeros(n), au, [-np.inf]])
        row_hi = np.concatenate([np.zeros(n), np.full(n, np.inf), [resources]])
        r0 = n
    col_lo = np.concatenate([np.zeros(nx + n), [0.0]])
    col_hi = np.concatenate([np.full(nx, np.inf), np.ones(n), [1.0]])
    return _Layout(a, col_lo, col_hi, row_lo, row_hi, nx, nx + n, r0, m)


def _per_target_lps(lay: _Layout, au: np.ndarray, dd: np.ndarray, targets, deadline: float,
                    stop=None):
    """Solve "max dd_t c_t s.t. U_a(t) = k >= U_a(t') for all t'" for each t in ``targets``.

    One HiGHS instance; each LP differs from the last in one row bound and one
    cost, so HiGHS re-solves from the previous optimal basis (each is still
    solved to optimality, or proven infeasible, on its own). Yields
    ``(t, value or None, column values or None)``; stops at the deadline or
    when ``stop(t)`` says no remaining target can win.
    """
    import highspy

    n_col = lay.a.shape[1]
    h = _highs_model(np.zeros(n_col), lay.col_lo, lay.col_hi, lay.a, lay.row_lo, lay.row_hi,
                     maximize=True)
    optimal, time_up = highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit
    infeasible = (highspy.HighsModelStatus.kInfeasible,
                  highspy.HighsModelStatus.kUnboundedOrInfeasible)
    for t in targets:
        t = int(t)
        if stop is not None and stop(t):
            return
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        h.setOptionValue("time_limit", float(left))
        row, col = lay.r0 + t, lay.c0 + t
        h.changeRowBounds(row, float(au[t]), float(au[t]))       # U_a(t) >= k as well
        h.changeColCost(col, float(dd[t]))
        h.run()
        status = h.getModelStatus()
        if status not in (optimal, *infeasible, time_up):
            h.clearSolver()                  # numerical trouble from the old basis: cold start
            h.run()
            status = h.getModelStatus()
        if status == optimal:
            yield t, float(h.getInfo().objective_function_value), \
                np.asarray(h.getSolution().col_value)
        elif status == time_up:
            return
        elif status in infeasible:           # (the LPs are bounded, so "or unbounded" is this)
            yield t, None, None
        else:
            raise BorderwatchError(
                f"HiGHS could not solve the LP for target {t} "
                f"({h.modelStatusToString(status)}); the payoffs may be badly scaled")
        h.changeRowBounds(row, float(au[t]), highspy.kHighsInf)
        h.changeColCost(col, 0.0)


# --------------------------------------------------------------------------- multiple LPs


def solve_multiple_lps(att_covered, att_uncovered, def_covered, def_uncovered, resources, *,
                       time_limit_s: float = 600.0) -> GameSolution:
    """The SSE by Conitzer & Sandholm's multiple LPs ("Computing the Optimal Strategy to
    Commit to", EC 2006), on HiGHS: the exact reference for `solve_origami`.

    For every target ``t``: maximise ``U_d(t)`` over coverage ``0 <= c <= 1``,
    ``sum c <= R``, subject to ``U_a(t) >= U_a(t')`` for all ``t'`` (written with
    one extra variable ``k``: ``U_a(t') <= k <= U_a(t)``, so each LP has 2n+1
    non-zeros plus the resource row). Infeasible LPs are targets the attacker
    can never be made to prefer. The SSE is the best LP optimum; its attacker
    tie-breaking is in the defender's favour by construction. ``n`` LPs, each
    re-solved from the previous basis. If ``time_limit_s`` runs out the best so
    far is returned and ``method`` says how many LPs were solved.
    """
    t0 = time.perf_counter()
    g = _check_game(att_covered, att_uncovered, def_covered, def_uncovered)
    r = _check_resources(resources)
    limit = _check_time(time_limit_s)
    au, da, du, dd, _, _ = g.normalised()
    lay = _layout(au, da, r, None)
    best = (-math.inf, None, None)
    solved = 0
    for t, val, x in _per_target_lps(lay, au, dd, range(g.n), t0 + limit):
        solved += 1
        if val is not None and du[t] + val > best[0] + 1e-12:
            best = (du[t] + val, t, x)
    if best[1] is None:
        raise BorderwatchError(
            f"no multiple-LP solve finished within time_limit_s = {time_limit_s} s")
    method = "multiple-lps" if solved == g.n else \
        f"multiple-lps (time limit: {solved} of {g.n} LPs solved, not proven)"
    c = best[2][lay.c0:lay.c0 + g.n]
    return _game_solution(g, c, best[1], method, t0)


# --------------------------------------------------------------------------- ERASER


def _eraser(g: _Game, resources: float, window: int | None, time_limit_s: float):
    """ERASER (window=None) or ERASER-C with window schedules, on HiGHS.

    Columns ``[x (windows), c, a (binary), k, d]``, normalised payoffs::

        max d  s.t.  sum a = 1,  resources,
                     0 <= k - U_a(t) <= (1 - a_t) Z_t,    Z_t = 1 - ac_t
                     d - U_d(t) <= (1 - a_t) M_t,         M_t = 1 - du_t

    (``k`` and ``d`` lie in [0, 1], so the per-row big-M values are the
    tightest valid ones). Returns ``(status, coverage, x, attacked, mip gap)``.
    """
    import highspy

    n = g.n
    au, da, du, dd, _, _ = g.normalised()
    ac = au - da
    lay = _layout(au, da, resources, window)
    nx = lay.c0
    base = lay.a.shape[1]                               # x, c, k
    # reorder to x, c, a, k, d
    a_base = sp.csc_matrix(lay.a)
    zero_a = sp.csr_matrix((a_base.shape[0], n))
    zero_d = sp.csr_matrix((a_base.shape[0], 1))
    top = sp.hstack([a_base[:, :base - 1], zero_a, a_base[:, base - 1:], zero_d], format="csr")
    eye = sp.identity(n, format="csr")
    zx = sp.csr_matrix((n, nx))
    col = lambda v: sp.csr_matrix(np.asarray(v, dtype=float).reshape(-1, 1))  # noqa: E731
    upper_k = sp.hstack([zx, sp.diags(da), sp.diags(1.0 - ac), col(np.ones(n)), col(np.zeros(n))],
                        format="csr")
    upper_d = sp.hstack([zx, sp.diags(-dd), sp.diags(1.0 - du), col(np.zeros(n)), col(np.ones(n))],
                        format="csr")
    one_a = sp.hstack([sp.csr_matrix((1, nx + n)), sp.csr_matrix(np.ones((1, n))),
                       sp.csr_matrix((1, 2))], format="csr")
    a = sp.vstack([top, upper_k, upper_d, one_a], format="csr")
    row_lo = np.concatenate([lay.row_lo, np.full(2 * n, -np.inf), [1.0]])
    row_hi = np.concatenate([lay.row_hi, au + 1.0 - ac, du + 1.0 - du, [1.0]])
    col_lo = np.concatenate([lay.col_lo[:base - 1], np.zeros(n), [0.0, 0.0]])
    col_hi = np.concatenate([lay.col_hi[:base - 1], np.ones(n), [1.0, 1.0]])
    cost = np.zeros(a.shape[1])
    cost[-1] = 1.0
    integrality = np.zeros(a.shape[1], dtype=np.int32)
    integrality[nx + n:nx + 2 * n] = int(highspy.HighsVarType.kInteger)
    h = _highs_model(cost, col_lo, col_hi, a, row_lo, row_hi, maximize=True,
                     integrality=integrality, time_limit_s=time_limit_s)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 1e-10)
    h.setOptionValue("mip_feasibility_tolerance", _LP_TOL)
    h.run()
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    optimal = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    if info.primal_solution_status != highspy.kSolutionStatusFeasible:
        return status, optimal, None, None, None, math.nan
    v = np.asarray(h.getSolution().col_value)
    x = v[:nx] if nx else None
    c = v[nx:nx + n]
    t = int(np.argmax(v[nx + n:nx + 2 * n]))
    gap = float(info.mip_gap) if np.isfinite(info.mip_gap) else math.nan
    return status, optimal, c, x, t, gap


def solve_eraser_milp(att_covered, att_uncovered, def_covered, def_uncovered, resources, *,
                      time_limit_s: float = 120.0) -> GameSolution:
    """The SSE by ERASER (Kiekintveld et al., AAMAS 2009): one MILP on HiGHS.

    Binary ``a_t`` marks the attacked target, ``k`` the attacker's best
    utility, ``d`` the defender's utility at the attacked target; big-M rows
    make ``t`` a best response and cap ``d`` by ``U_d(t)`` when ``a_t = 1``
    (see `_eraser`). Maximising ``d`` lets the defender pick among the
    attacker's ties, so the optimum is the SSE. Solved to a zero relative gap
    with integrality and feasibility tolerances of 1e-10; if the time limit
    stops it first, the incumbent is returned and ``method`` gives the gap.
    """
    t0 = time.perf_counter()
    g = _check_game(att_covered, att_uncovered, def_covered, def_uncovered)
    r = _check_resources(resources)
    limit = _check_time(time_limit_s)
    status, optimal, c, _, t, gap = _eraser(g, r, None, limit)
    if c is None:
        raise BorderwatchError(
            f"the ERASER MILP found no feasible coverage within time_limit_s = {time_limit_s} s "
            f"(HiGHS: {status})")
    method = "eraser-milp" if optimal else f"eraser-milp ({status}, gap {gap:.3g})"
    return _game_solution(g, c, t, method, t0)


# --------------------------------------------------------------------------- windows


def _check_window(window, n: int) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise BorderwatchError(f"window = {window!r} must be a whole number of targets")
    if not 1 <= int(window) <= n:
        raise BorderwatchError(
            f"window = {window} must be between 1 and the number of targets ({n})")
    return int(window)


def _window_solution(g: _Game, x: np.ndarray, window: int, t: int | None, exact: bool,
                     bound: float, method: str, t0: float) -> WindowSolution:
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    c = np.clip(_window_matrix(g.n, window) @ x, 0.0, 1.0)
    s = _game_solution(g, c, t, method, t0)
    ub = s.defender_utility if exact else max(bound, s.defender_utility)
    return WindowSolution(coverage=s.coverage, window_mix=x, window=window, attacked=s.attacked,
                          defender_utility=s.defender_utility,
                          attacker_utility=s.attacker_utility, attack_set=s.attack_set,
                          exact=exact, upper_bound=ub,
                          method=method, time_s=time.perf_counter() - t0)


def _realise(g: _Game, core: _Origami, window: int, resources: float, deadline: float
             ) -> np.ndarray | None:
    """Window mix realising ORIGAMI's requirement with the fewest units, or None.

    The requirement: every target covered at least ``core.need`` (its attacker
    utility at most ``u*``), at most 1, and the attacked target exactly
    ``need`` (its attacker utility exactly ``u*``, so it stays a best response
    and keeps the SSE defender utility). One LP on HiGHS: minimise ``sum x``
    subject to ``need <= M x <= hi``; realisable iff the minimum is ``<= R``.
    """
    import highspy

    m = _window_matrix(g.n, window)
    hi = np.ones(g.n)
    hi[core.attacked] = core.need[core.attacked]
    h = _highs_model(np.ones(m.shape[1]), np.zeros(m.shape[1]), np.full(m.shape[1], np.inf), m,
                     core.need, hi, maximize=False,
                     time_limit_s=max(deadline - time.perf_counter(), 1e-3))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x = np.maximum(np.asarray(h.getSolution().col_value), 0.0)
    if float(x.sum()) > resources + _BOUND_TOL * max(1.0, resources):
        return None
    return x


def _leftover(g: _Game, x: np.ndarray, t: int, window: int, resources: float,
              deadline: float) -> np.ndarray:
    """`_spend_leftover_windows` when units are left free, else ``x``."""
    x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
    if resources - float(x.sum()) <= _BOUND_TOL * max(1.0, min(resources, g.n)) or g.n == 1:
        return x
    return _spend_leftover_windows(g, x, t, window, resources, deadline)


def _spend_leftover_windows(g: _Game, x: np.ndarray, t: int, window: int, resources: float,
                            deadline: float) -> np.ndarray:
    """Put units the equilibrium leaves free on stretches where they add margin.

    The attacked target ``t`` keeps its coverage exactly (so its attacker and
    defender utilities, and the SSE value, are unchanged) and every other
    target stays at or below its attacker utility (so ``t`` stays a best
    response). Subject to that, two LPs on one HiGHS instance: first lower the
    best attacker utility among the other targets as far as possible (the
    margin by which ``t`` is preferred, as `solve_origami` does), then, with
    that margin held, use as many units as possible. Returns ``x`` unchanged
    if HiGHS does not solve either LP.
    """
    import highspy

    n = g.n
    au, da, _, _, _, _ = g.normalised()
    m = _window_matrix(n, window)
    nx = m.shape[1]
    c_t = min(float((m @ x)[t]), 1.0)
    k = float(au[t] - da[t] * c_t)
    others = np.flatnonzero(np.arange(n) != t)
    # columns [x, c, z]; rows c - M x = 0, da c + z >= au (others), sum x <= R
    link = sp.hstack([-m, sp.identity(n, format="csr"), sp.csr_matrix((n, 1))], format="csr")
    ua = sp.hstack([sp.csr_matrix((len(others), nx)),
                    sp.csr_matrix((da[others], (np.arange(len(others)), others)),
                                  shape=(len(others), n)),
                    sp.csr_matrix(np.ones((len(others), 1)))], format="csr")
    res = sp.hstack([sp.csr_matrix(np.ones((1, nx))), sp.csr_matrix((1, n + 1))], format="csr")
    a = sp.vstack([link, ua, res], format="csr")
    row_lo = np.concatenate([np.zeros(n), au[others], [-np.inf]])
    row_hi = np.concatenate([np.zeros(n), np.full(len(others), np.inf), [resources]])
    col_lo = np.concatenate([np.zeros(nx + n), [-np.inf]])
    col_hi = np.concatenate([np.full(nx, np.inf), np.ones(n), [k]])
    col_lo[nx + t] = col_hi[nx + t] = c_t
    cost = np.zeros(nx + n + 1)
    cost[-1] = 1.0
    left = max(deadline - time.perf_counter(), 1e-3)
    h = _highs_model(cost, col_lo, col_hi, a, row_lo, row_hi, maximize=False, time_limit_s=left)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return x
    z = float(h.getSolution().col_value[-1])
    h.changeColBounds(nx + n, -highspy.kHighsInf, min(k, z + _BOUND_TOL))
    h.changeColCost(nx + n, 0.0)
    h.changeColsCost(nx, np.arange(nx, dtype=np.int32), np.full(nx, -1.0))
    h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 1e-3))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return x
    x2 = np.maximum(np.asarray(h.getSolution().col_value)[:nx], 0.0)
    return x2 if x2.sum() >= x.sum() else x


def solve_windows(att_covered, att_uncovered, def_covered, def_uncovered, resources,
                  window: int, *, method: str = "lp", time_limit_s: float = 60.0,
                  spend_leftover: bool = True) -> WindowSolution:
    """The SSE when each patrol unit covers ``window`` consecutive targets in a shift.

    Schedules are all windows ``[s, s + L)``, ``s = 0 .. n - L``, along the
    border; ``x_s >= 0`` units on window ``s``, ``sum x <= R``, coverage
    ``c_t = sum_{s <= t < s + L} x_s <= 1``.

    The bound: every window mix gives a coverage with ``0 <= c <= 1`` and
    ``sum c = L * sum x <= L * R``, so the unconstrained game with ``L * R``
    resources is a relaxation, and its SSE value (ORIGAMI, `solve_origami` with
    ``L * R``) is an upper bound. (Not ORIGAMI with ``R``: one unit covers ``L``
    targets, so windows can beat that.) ``L = 1`` is the unconstrained game.

    ``method="lp"`` (exact):

    1. *Fast path.* If ORIGAMI's requirement at ``L * R`` (every target's
       attacker utility at or below ``u*``, the attacked target's exactly
       ``u*``) can be met by windows with at most ``R`` units, the bound is
       reached, so it is optimal. The check is one LP (`_realise`: the fewest
       units meeting the requirement), which also gives the window mix.
    2. Otherwise, the multiple LPs of Conitzer & Sandholm with window
       variables, one per target, in decreasing order of the target's value in
       the relaxation (an upper bound on its window LP; targets the relaxation
       cannot make the attacker prefer are infeasible with windows too),
       stopping when the best value found reaches the next bound. Exact;
       ``method`` says how many LPs it took.

    ``method="milp"``: the ERASER-C-style MILP (ERASER with the window
    schedules as the defender's pure strategies), solved to optimality on
    HiGHS; the independent check of the LP path.

    Units the equilibrium does not need: with ``spend_leftover`` (default, LP
    method only) they are put where they lower the other targets' attacker
    utility most, with the attacked target's coverage held, so the SSE value
    is unchanged (`_spend_leftover_windows`); without it, or where no stretch
    can take them, they stay free (``window_mix.sum() < R``). If
    ``time_limit_s`` runs out, the best solution found is returned with
    ``exact=False`` and ``upper_bound`` the best proven bound.
    """
    t0 = time.perf_counter()
    g = _check_game(att_covered, att_uncovered, def_covered, def_uncovered)
    r = _check_resources(resources)
    L = _check_window(window, g.n)
    limit = _check_time(time_limit_s)
    if method not in ("lp", "milp"):
        raise BorderwatchError(f"method = {method!r} must be 'lp' or 'milp'")
    deadline = t0 + limit
    # The relaxation: any window mix gives 0 <= c <= 1 and sum c = L * sum x <= L * R.
    core = _origami_core(g, r * L)
    origami_value = float(g.utilities(core.need)[1][core.attacked])   # the bound

    if method == "milp":
        status, optimal, c, x, t, gap = _eraser(g, r, L, limit)
        if x is None:
            raise BorderwatchError(
                f"the ERASER-C MILP found no feasible window mix within time_limit_s = "
                f"{time_limit_s} s (HiGHS: {status})")
        name = "eraser-c-milp" if optimal else f"eraser-c-milp ({status}, gap {gap:.3g})"
        return _window_solution(g, x, L, t, optimal, origami_value, name, t0)

    x = _realise(g, core, L, r, deadline)
    if x is not None:
        if spend_leftover:
            x = _leftover(g, x, core.attacked, L, r, deadline)
        return _window_solution(g, x, L, core.attacked, True, origami_value,
                                "origami bound realised by windows (one LP)", t0)

    au, da, du, dd, d_lo, d_rng = g.normalised()
    # Upper bound per target: its LP value in the relaxation (attackable iff au_t >= u*).
    # Targets within _BOUND_TOL (normalised) of the best found are not solved.
    attackable = g.au >= core.level - g.tol
    bound = np.where(attackable, du + dd * np.clip((g.au - core.level) / g.da, 0.0, 1.0), -np.inf)
    order = np.argsort(-bound, kind="stable")
    order = order[np.isfinite(bound[order])]
    lay = _layout(au, da, r, L)
    best: list = [-math.inf, None, None]
    solved = 0

    def stop(t: int) -> bool:
        return bound[t] <= best[0] + _BOUND_TOL

    for t, val, sol in _per_target_lps(lay, au, dd, order, deadline, stop):
        solved += 1
        if val is not None and du[t] + val > best[0] + 1e-12:
            best = [du[t] + val, t, sol]
    done = solved == len(order) or (solved < len(order) and stop(int(order[solved])))
    if best[1] is None:
        if done:   # impossible: some target is a best response to any window mix
            raise BorderwatchError("no window LP was feasible (this is a bug in borderwatch)")
        raise BorderwatchError(
            f"no window LP finished within time_limit_s = {time_limit_s} s")
    x = best[2][:lay.c0]
    if spend_leftover:
        x = _leftover(g, x, best[1], L, r, deadline)
    ub = best[0] if done else max(best[0], float(bound[order[solved]]))
    name = f"window multiple-lps ({solved} of {g.n} LPs, the rest pruned by the bound)"
    if not done:
        name = f"window multiple-lps (time limit after {solved} LPs, not proven)"
    return _window_solution(g, x, L, best[1], done, ub * d_rng + d_lo, name, t0)
