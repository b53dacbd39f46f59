"""24-hour air-surveillance rosters: which tail flies which orbit when, every day.

The problem. Each orbit (a station over a risky sector) must have at least one
aircraft on station at every moment of a cycle of ``horizon_h`` hours (a day),
and the plan repeats every cycle. An aircraft of type ``k`` flying to orbit
``o`` spends ``tau = distance / speed`` each way, may stay airborne at most
``E`` hours per sortie, and needs ``G`` hours on the ground between sorties.
So a sortie gives at most ``b = E - 2 tau`` hours on station and costs
``station + 2 tau + G`` hours of the tail's day. Every tail repeats **its own**
pattern each day (the roster is a daily table, one row per tail): the
turnaround after its last sortie must end before its first sortie of the next
day. That is stricter than a multi-day rotation, and it is what makes the
problem hard: ``E + G`` rarely divides 24 h.

Lower bounds (both valid; `Roster.lower_bound` is the larger):

* **relay bound** (`orbit_lower_bound`, pooled in `relay_bound`): a tail
  serving orbit ``o`` is on station at most a fraction ``r = (E - 2 tau) /
  (E + G)`` of the time (one full sortie per ``E + G``; shorter sorties only
  lower the fraction since ``(d - 2 tau) / (d + G)`` grows with the flight
  time ``d``). An orbit needs ``sum_k r_ko y_ko >= 1`` aircraft-equivalents;
  the pooled bound is the MILP ``min sum_k N_k`` with ``sum_o y_ko <= N_k``,
  ``N_k`` integer (at most the fleet), ``y`` continuous: any roster, even one
  that rotates tails over several days, needs at least that many aircraft.
* **daily-pattern bound** (column generation): the configuration LP over
  whole *daily patterns* of one tail, ``min sum_p lambda_p`` subject to
  ``sum_p x_po lambda_p >= horizon`` for each orbit and ``sum_{p of k}
  lambda_p <= count_k``, where ``x_po`` is the station time pattern ``p``
  gives orbit ``o``. Every tail of a roster flies one such pattern, so
  ``ceil(LP)`` is a lower bound. Pricing is exact and cheap: a full sortie
  always costs ``E + G`` of the day whatever the orbit, so the best pattern
  for duals ``pi`` is ``n`` full sorties to the orbit with the largest
  ``pi_o b_o`` plus at most one shorter sortie (a fractional-knapsack
  argument), enumerated over ``n`` and that last orbit. The bound is read
  from the LP duals (Lagrangian / Farley bound), so it is valid even when
  column generation is stopped early. It sees the 24-h integrality of each
  tail's day (for E=14 h, G=4 h a tail can only fly 2 x 7.4 h or 1 x 13.4 h
  + a scrap), which the relay bound cannot.

Construction ("shift groups"). A group has a step ``D = horizon / N``: every
orbit in it is covered by copies of one *base pattern* shifted by multiples
of ``D``. If a base pattern puts an aircraft on station over ``[c, c + x)``,
its copies cover ``[c + iD, c + iD + x)`` for all ``i``; pieces of one orbit
that add up to exactly ``D`` and follow on from each other modulo ``D`` tile
the whole cycle, with no seam at midnight by construction. A *bin* is a base
pattern of length ``L = d D`` (``d`` divides ``N``) flown by ``d`` tails
(tail ``t`` shifted by ``t D``, each repeating it ``N / d`` times a cycle);
it holds sorties back to back: ``piece + handover + 2 tau + G`` each. So each
tail contributes exactly ``D`` of base-pattern time, and packing the orbits'
demands ``D + handover + 2 tau + G`` into bins is a bin-packing problem with
splittable items (a split costs one more transit and turnaround). A dedicated
relay (``q`` tails taking turns on one orbit) is the special case of a single
orbit in a bin of ``d = q`` tails; pooled groups let one tail serve several
orbits in its day, which is where the fleet below ``2 x orbits`` comes from.

Which orbits go to which group (type ``k``, step ``D``), and how many tails
each group gets: first a greedy assignment with local search (moves of one
orbit, of a group's farthest orbits, of a whole group), restarted from a few
orders and from each type's widest group; then OR-Tools CP-SAT on the same
model, a knapsack per group (demands plus one split per bin boundary must
fit in ``D x tails``) with fleet caps per type, minimising orbits left
uncovered and then aircraft, asked each time for a plan that beats the best
roster so far. Each plan is packed by next-fit with splitting (following the
CP-SAT split orbits, else in a few orders), with tails added or removed
until the packing is tight; the times follow from the packing, in whole
minutes, with transit rounded up, endurance rounded down.

Improvement on small neighbourhoods. Shift groups give every tail of a group
the same rhythm and every orbit one type, which wastes aircraft when a type
has only a handful of tails. With the time left, sets of at most four orbits
whose tails serve only them are re-solved with a free-form time-slot CP-SAT
model (`_slot_model`: any tail, any orbits, any sortie lengths, mixed types
on one orbit, on a 15-minute grid) offered those tails and a few spares; a
solution with fewer tails (or covering orbits still uncovered) that passes
a minute-level check replaces them. On small instances this finds what the
groups miss; on twelve orbits the free-form model is far too big to solve
whole (see bench/bench_roster.py).

Multi-day rotations (``max_period_days > 1``). Nothing in the problem makes
a tail repeat one pattern every day; that is only the daily roster's
convenience. A roster of period ``p`` days (``p x horizon_h``) lets a tail
fly full ``E + G`` cycles that do not divide 24 h (a UAV with E = 14 h,
G = 4 h flies four 18 h cycles in 3 days). The whole construction above is
period-agnostic (steps ``D`` divide the period in minutes), so it is run
unchanged with the cycle replaced by the period, for the two periods whose
configuration LP (over ``p``-day patterns) is smallest. The bound reported
is then valid for every period allowed: ``max(relay bound, min over p <= m
of the p-day pattern bound)`` (a ``p``-day roster flies one ``p``-day
pattern per tail; the relay bound holds for any period). For a long enough
period that is the relay bound itself: the daily-pattern bound's extra
strength came precisely from the daily restriction.

`check_roster` verifies any roster independently, in continuous time with
the exact transit times, over the roster's whole period. CP-SAT runs with deterministic time limits (a
wall-clock limit only guards loaded machines), so a run repeats on the same
machine; how many restarts and neighbourhoods fit in ``time_limit_s``
depends on the machine's speed.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from borderwatch.errors import BorderwatchError

__all__ = [
    "AircraftType",
    "Orbit",
    "Roster",
    "Sortie",
    "build_roster",
    "check_roster",
    "coverage_gaps",
    "daily_pattern_bound",
    "orbit_lower_bound",
    "relay_bound",
    "transit_h",
]

_TOL_H = 1e-6          # hours: rounding slack in checks (3.6 ms)
_MIN_PIECE = 5         # minutes: shortest stretch on station the planner schedules
_KEEP_STEPS = 4        # coarsest group steps kept per orbit and type
_BIG = 10_000
_MAX_PERIOD_DAYS = 14   # longest rotation build_roster plans (cycles of horizon_h)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Orbit:
    """A station to keep an aircraft over, in local metres (the caller projects)."""

    id: str
    x: float
    y: float
    name: str = ""


@dataclass(frozen=True, slots=True)
class AircraftType:
    """A type of aircraft, how many there are, and the base they fly from (local metres)."""

    id: str
    name: str
    count: int
    endurance_h: float
    cruise_speed_kmh: float
    turnaround_h: float
    base_x: float
    base_y: float
    base_name: str = ""


@dataclass(frozen=True, slots=True)
class Sortie:
    """One flight of one tail. Hours from 00:00; values past the horizon wrap to the next day.

    ``on_station_h`` is when the aircraft arrives on station (it may overlap the
    aircraft it relieves by the handover), ``off_station_h`` when it leaves.
    """

    aircraft: str          # "<type id>#<tail number>"
    orbit: str
    takeoff_h: float
    on_station_h: float
    off_station_h: float
    landing_h: float

    @property
    def type_id(self) -> str:
        return self.aircraft.rsplit("#", 1)[0]


@dataclass(frozen=True, slots=True)
class Roster:
    """A daily roster and what is known about how good it is.

    ``lower_bound`` is the larger of the relay and daily-pattern bounds (see
    the module doc) for the available fleet; when that fleet provably cannot
    cover every orbit it is the bound for an unlimited fleet of the same
    types, i.e. the least any covering fleet needs. Orbits out of every
    type's reach are left out of the bounds. For a feasible roster
    ``lower_bound <= aircraft_used`` always. ``relay_bound`` is the relay
    bound alone, the classic ``(E + G) / (E - 2 tau)`` argument pooled over
    orbits and types. ``uncovered`` maps an orbit to its gaps (hours,
    ``0 <= start < end <= horizon``; a gap across midnight is two).
    ``horizon_h`` is the roster's period: the cycle asked for (a day), or a
    whole number of them for a multi-day rotation (``build_roster(...,
    max_period_days=m)``); the roster repeats every ``horizon_h`` hours.
    """

    sorties: tuple[Sortie, ...]
    feasible: bool
    fleet_used: dict[str, int]
    fleet_available: dict[str, int]
    lower_bound: int
    aircraft_used: int
    uncovered: dict[str, list[tuple[float, float]]]
    reason: str
    min_fleet: dict[str, int] | None
    relay_bound: int | None = None
    horizon_h: float = 24.0
    handover_min: float = 0.0

    def tails(self) -> list[str]:
        """Tail ids, sorted by type id, then tail number."""
        seen: dict[str, None] = {}
        for s in self.sorties:
            seen.setdefault(s.aircraft, None)
        return sorted(seen, key=_tail_key)


def _cp_solver(cp_model, time_limit: float):
    """A CP-SAT solver set up the same way for every roster model.

    Interleaved search on two workers with a deterministic time limit: the same
    input gives the same roster on any machine (the wall-clock limit is only a
    safety net for slow or loaded machines). No solution hint is ever given:
    with a hint the interleaved search can abort the process (OR-Tools 9.15
    check failure "heuristics.fixed_search != nullptr").
    """
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 2
    solver.parameters.interleave_search = True
    solver.parameters.max_deterministic_time = max(0.1, time_limit)
    solver.parameters.max_time_in_seconds = max(0.2, 1.5 * time_limit)
    solver.parameters.random_seed = 0
    return solver


def _tail_key(tail: str) -> tuple[str, int]:
    t, _, n = tail.rpartition("#")
    return (t, int(n) if n.isdigit() else 0)


# --------------------------------------------------------------------------- geometry


def transit_h(aircraft: AircraftType, orbit: Orbit) -> float:
    """Hours one way from the type's base to the orbit at cruise speed (straight line)."""
    km = math.hypot(orbit.x - aircraft.base_x, orbit.y - aircraft.base_y) / 1000.0
    return km / aircraft.cruise_speed_kmh


def orbit_lower_bound(aircraft: AircraftType, orbit: Orbit) -> int | None:
    """``ceil((E + G) / (E - 2 tau))``: aircraft of this type one orbit needs, or None if E <= 2 tau.

    Each aircraft is on station at most ``E - 2 tau`` out of every ``E + G``
    hours, so a continuous relay needs at least this many; None means the
    transit alone uses up the endurance and the type cannot serve the orbit.
    """
    tau = transit_h(aircraft, orbit)
    useful = aircraft.endurance_h - 2.0 * tau
    if useful <= _TOL_H:
        return None
    return max(1, math.ceil((aircraft.endurance_h + aircraft.turnaround_h) / useful - 1e-9))


# --------------------------------------------------------------------------- validation


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _validate(orbits: Sequence[Orbit], aircraft: Sequence[AircraftType], horizon_h: float,
              handover_min: float, time_limit_s: float) -> None:
    if not _finite(horizon_h) or horizon_h <= 0:
        raise BorderwatchError(f"horizon_h must be a positive number of hours, got {horizon_h!r}")
    if abs(horizon_h * 60 - round(horizon_h * 60)) > 1e-6:
        raise BorderwatchError(f"horizon_h must be a whole number of minutes, got {horizon_h!r} h")
    if not _finite(handover_min) or handover_min < 0 or handover_min >= horizon_h * 60:
        raise BorderwatchError(
            f"handover_min must be >= 0 and shorter than the horizon, got {handover_min!r}")
    if not _finite(time_limit_s) or time_limit_s <= 0:
        raise BorderwatchError(f"time_limit_s must be a positive number of seconds, got {time_limit_s!r}")
    seen: set[str] = set()
    for o in orbits:
        if not isinstance(o, Orbit):
            raise BorderwatchError(f"orbits must be Orbit records, got {type(o).__name__}")
        if not o.id:
            raise BorderwatchError("an orbit has an empty id; every orbit needs a unique id")
        if o.id in seen:
            raise BorderwatchError(f"orbit id {o.id!r} appears twice; orbit ids must be unique")
        seen.add(o.id)
        if not (_finite(o.x) and _finite(o.y)):
            raise BorderwatchError(f"orbit {o.id!r} has a non-finite position ({o.x!r}, {o.y!r})")
    seen = set()
    for a in aircraft:
        if not isinstance(a, AircraftType):
            raise BorderwatchError(f"aircraft must be AircraftType records, got {type(a).__name__}")
        if not a.id or "#" in a.id:
            raise BorderwatchError(
                f"aircraft type id {a.id!r} is unusable: it must be non-empty and contain no '#'")
        if a.id in seen:
            raise BorderwatchError(f"aircraft type id {a.id!r} appears twice; type ids must be unique")
        seen.add(a.id)
        if isinstance(a.count, bool) or not isinstance(a.count, (int, np.integer)) or a.count < 0:
            raise BorderwatchError(f"aircraft {a.id!r}: count must be a whole number >= 0, got {a.count!r}")
        if not _finite(a.endurance_h) or a.endurance_h <= 0:
            raise BorderwatchError(f"aircraft {a.id!r}: endurance_h must be > 0, got {a.endurance_h!r}")
        if not _finite(a.cruise_speed_kmh) or a.cruise_speed_kmh <= 0:
            raise BorderwatchError(
                f"aircraft {a.id!r}: cruise_speed_kmh must be > 0, got {a.cruise_speed_kmh!r}")
        if not _finite(a.turnaround_h) or a.turnaround_h < 0:
            raise BorderwatchError(f"aircraft {a.id!r}: turnaround_h must be >= 0, got {a.turnaround_h!r}")
        if not (_finite(a.base_x) and _finite(a.base_y)):
            raise BorderwatchError(f"aircraft {a.id!r}: base position is not finite ({a.base_x!r}, {a.base_y!r})")


# --------------------------------------------------------------------------- per (type, orbit) legs


@dataclass(frozen=True, slots=True)
class _Leg:
    """One type serving one orbit, exact (hours) and as scheduled (whole minutes, pessimistic)."""

    tau_h: float
    useful_h: float     # E - 2 tau, exact
    tau: int            # minutes, rounded up
    b: int              # minutes on station per sortie at most: floor(E) - 2 ceil(tau)
    a: int              # minutes of overhead per sortie: 2 ceil(tau) + ceil(G)


def _legs(orbits: Sequence[Orbit], aircraft: Sequence[AircraftType]) -> dict[tuple[int, int], _Leg]:
    legs = {}
    for k, ac in enumerate(aircraft):
        e_m = math.floor(ac.endurance_h * 60 + 1e-7)
        g_m = math.ceil(ac.turnaround_h * 60 - 1e-7)
        for o, orb in enumerate(orbits):
            tau_h = transit_h(ac, orb)
            useful = ac.endurance_h - 2 * tau_h
            if useful <= _TOL_H:
                continue
            tau_m = math.ceil(tau_h * 60 - 1e-7)
            legs[k, o] = _Leg(tau_h, useful, tau_m, e_m - 2 * tau_m, 2 * tau_m + g_m)
    return legs


# --------------------------------------------------------------------------- bounds


def relay_bound(orbits: Sequence[Orbit], aircraft: Sequence[AircraftType], *,
                capped: bool = True, handover_min: float = 0.0) -> int | None:
    """Pooled relay bound (see module doc); None if no mix of types can cover every orbit.

    With ``capped`` the types' counts limit ``N_k``; without, the bound is for
    an unlimited fleet of these types (still None if an orbit is out of reach).
    A handover overlap takes ``handover_min`` off what each sortie adds.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    K, O = len(aircraft), len(orbits)
    if O == 0:
        return 0
    ho = handover_min / 60.0
    pairs = [(k, o, (ac.endurance_h - 2 * transit_h(ac, orbits[o]) - ho) / (ac.endurance_h + ac.turnaround_h))
             for k, ac in enumerate(aircraft) for o in range(O)]
    pairs = [(k, o, r) for k, o, r in pairs if r > 1e-9]
    if {o for _, o, _ in pairs} != set(range(O)):
        return None
    n = K + len(pairs)
    c = np.concatenate([np.ones(K), np.zeros(len(pairs))])
    cover = np.zeros((O, n))
    link = np.zeros((K, n))
    for j, (k, o, r) in enumerate(pairs):
        cover[o, K + j] = r
        link[k, K + j] = 1.0
    for k in range(K):
        link[k, k] = -1.0
    upper = np.array([ac.count if capped else np.inf for ac in aircraft] + [np.inf] * len(pairs), float)
    res = milp(c, constraints=[LinearConstraint(cover, lb=1.0), LinearConstraint(link, ub=0.0)],
               integrality=np.concatenate([np.ones(K), np.zeros(len(pairs))]),
               bounds=Bounds(np.zeros(n), upper), options={"time_limit": 5.0})
    if res.x is None or res.status not in (0, 1):
        return None
    if res.status == 1:   # time limit: use HiGHS's dual bound, still valid
        return max(1, math.ceil(getattr(res, "mip_dual_bound", res.fun) - 1e-6))
    return int(round(res.fun))


@dataclass(frozen=True, slots=True)
class _DailyBound:
    value: float          # a valid lower bound on the LP (so on any roster's fleet)
    bound: int            # ceil(value)
    insufficient: bool    # the capped LP is infeasible: the fleet can never cover all orbits


def daily_pattern_bound(orbits: Sequence[Orbit], aircraft: Sequence[AircraftType], *,
                        horizon_h: float = 24.0, capped: bool = True, handover_min: float = 0.0,
                        max_iter: int = 300) -> int | None:
    """The daily-pattern (configuration LP) lower bound on the aircraft any roster needs.

    None if some orbit is out of every type's reach, or, with ``capped``, if
    even the LP shows the available fleet cannot cover every orbit.
    """
    res = _daily_bound(orbits, aircraft, horizon_h, capped, max_iter, handover_min)
    if res is None or res.insufficient:
        return None
    return res.bound


def _daily_bound(orbits, aircraft, horizon_h, capped, max_iter=300,
                 handover_min: float = 0.0, converge: bool = False) -> _DailyBound | None:
    from scipy.optimize import linprog

    K, O = len(aircraft), len(orbits)
    if O == 0:
        return _DailyBound(0.0, 0, False)
    H = float(horizon_h)
    useful = np.full((K, O), -1.0)
    over = np.zeros((K, O))
    for k, ac in enumerate(aircraft):
        for o, orb in enumerate(orbits):
            tau = transit_h(ac, orb)
            # A sortie overlaps the aircraft it relieves by the handover: that
            # much of its time on station adds nothing to the coverage.
            useful[k, o] = ac.endurance_h - 2 * tau - handover_min / 60.0
            over[k, o] = 2 * tau + ac.turnaround_h + handover_min / 60.0
    ok = useful > _TOL_H
    if not ok.any(axis=0).all():
        return None
    counts = np.array([ac.count for ac in aircraft], float)
    cycle = np.array([ac.endurance_h + ac.turnaround_h for ac in aircraft])

    def price(k: int, pi: np.ndarray) -> list[tuple[float, np.ndarray]]:
        """Best pattern of type k per last-sortie orbit: n full sorties + one shorter one."""
        el = np.flatnonzero(ok[k])
        if el.size == 0:
            return []
        full_val = pi[el] * useful[k, el]
        best_full = el[int(np.argmax(full_val))]
        vf = float(pi[best_full] * useful[k, best_full])
        out = []
        n_max = int(math.floor(H / cycle[k] + 1e-12))
        for o in el:
            best = (-1.0, None)
            for n in range(n_max + 1):
                rest = H - n * cycle[k]
                s = max(0.0, min(useful[k, o], rest - over[k, o]))
                v = n * vf + pi[o] * s
                if v > best[0] + 1e-12:
                    x = np.zeros(O)
                    x[best_full] += n * useful[k, best_full]
                    x[o] += s
                    best = (v, x)
            if best[1] is not None and best[1].sum() > 0:
                out.append(best)
        return out

    cols: list[tuple[int, np.ndarray]] = []
    for k in range(K):
        if capped and counts[k] <= 0:
            continue
        for o in np.flatnonzero(ok[k]):
            unit = np.zeros(O)
            unit[o] = 1.0
            for v, x in price(k, unit)[:1]:
                cols.append((k, x))
    active = sorted({k for k, _ in cols})
    big = float(_BIG + counts.sum())
    best_bound = 0.0
    value = 0.0
    for _ in range(max_iter):
        n = len(cols)
        A = np.zeros((O, n + O))
        for j, (k, x) in enumerate(cols):
            A[:, j] = x
        A[:, n:] = np.eye(O) * H
        a_ub = -A
        b_ub = -H * np.ones(O)
        if capped:
            cap_rows = np.zeros((K, n + O))
            for j, (k, _) in enumerate(cols):
                cap_rows[k, j] = 1.0
            a_ub = np.vstack([a_ub, cap_rows])
            b_ub = np.concatenate([b_ub, counts])
        c = np.concatenate([np.ones(n), big * np.ones(O)])
        lp = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
        if lp.status != 0:
            return None
        value = float(lp.fun)
        duals = -np.asarray(lp.ineqlin.marginals)
        pi = np.maximum(duals[:O], 0.0)
        mu = np.maximum(duals[O:], 0.0) if capped else np.zeros(K)
        added = 0
        lagr = H * pi.sum() - (mu @ counts if capped else 0.0)
        v_star = 1.0
        for k in active:
            opts = price(k, pi)
            if not opts:
                continue
            vmax = max(v for v, _ in opts)
            rc = 1.0 + mu[k] - vmax
            if capped:
                lagr += counts[k] * min(0.0, rc)
            v_star = max(v_star, vmax)
            for v, x in sorted(opts, key=lambda t: -t[0])[:4]:
                if 1.0 + mu[k] - v < -1e-9:
                    cols.append((k, x))
                    added += 1
        # Valid bounds on the LP with artificials: Lagrangian when λ is capped,
        # Farley's (duals scaled to be feasible for every column) otherwise.
        best_bound = max(best_bound, lagr if capped else H * pi.sum() / v_star)
        if not added:
            best_bound = max(best_bound, value)
            break
        if not converge and math.ceil(best_bound - 1e-6) >= math.ceil(value - 1e-6):
            break
    if capped and best_bound > counts.sum() + 1e-6:
        # Artificial coverage is unavoidable: no fractional mix of patterns fits the fleet.
        return _DailyBound(best_bound, math.ceil(best_bound - 1e-6), True)
    return _DailyBound(best_bound, max(0, math.ceil(best_bound - 1e-6)), False)


# --------------------------------------------------------------------------- groups: plan (CP-SAT)


@dataclass(frozen=True, slots=True)
class _Group:
    k: int
    N: int
    step: int                    # D = H / N minutes
    orbits: tuple[int, ...]      # eligible orbits
    sizes: tuple[int, ...]       # allowed partial bin sizes d (d | N, d < N)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _groups(legs, K: int, O: int, H: int, h: int) -> list[_Group]:
    out = []
    for k in range(K):
        ks = [(o, legs[k, o]) for o in range(O) if (k, o) in legs]
        if not ks:
            continue
        a_min = min(l.a for _, l in ks)
        for N in _divisors(H):
            D = H // N
            if D < 10 or D < a_min / 3:
                continue
            el = tuple(o for o, l in ks if D + h <= l.b and D + h + l.a <= H)
            if not el:
                continue
            sizes = tuple(d for d in _divisors(N) if d < N and d * D >= h + a_min + _MIN_PIECE)
            out.append(_Group(k, N, D, el, sizes))
    # Keep, for each orbit and type, only the few coarsest steps it fits: finer steps
    # mean shorter sorties and more transit per hour on station, never fewer aircraft
    # in practice, and a smaller model is solved better in the same time.
    keep: set[tuple[int, int, int]] = set()
    for k in range(K):
        for o in range(O):
            Ns = sorted(g.N for g in out if g.k == k and o in g.orbits)
            keep.update((k, N, o) for N in Ns[:_KEEP_STEPS])
    pruned = []
    for g in out:
        el = tuple(o for o in g.orbits if (g.k, g.N, o) in keep)
        if el:
            pruned.append(_Group(g.k, g.N, g.step, el, g.sizes))
    return pruned


def _min_tails(g: _Group, members: list[int], legs, h: int, margin: int) -> tuple[int, list[int]]:
    """Fewest tails the CP-SAT knapsack of `_plan_groups` allows for these orbits, and the split orbits.

    Returns a huge count when no number of tails fits (too many bin
    boundaries for the orbits to split across).
    """
    demand = sum(g.step + h + legs[g.k, o].a for o in members)
    by_a = sorted(members, key=lambda o: legs[g.k, o].a)
    F = max(1, math.ceil(demand / g.step))
    limit = F + 2 * g.N * (len(members) + 2)
    while F <= limit:
        q, rest = divmod(F, g.N)
        parts = _parts(rest, g.sizes)
        if parts is not None:
            bins = q + len(parts)
            splits = by_a[:max(0, bins - 1)]
            if bins - 1 <= len(members) and demand + sum(h + legs[g.k, o].a + margin for o in splits) <= g.step * F:
                return F, splits
        F += 1
    return 10**6, []


@functools.lru_cache(maxsize=4096)
def _parts(rest: int, sizes: tuple[int, ...]) -> tuple[int, ...] | None:
    """`rest` tails as distinct allowed partial bin sizes, fewest parts first; None if impossible."""
    if rest == 0:
        return ()
    best: dict[int, tuple[int, ...]] = {0: ()}
    for d in sorted(sizes, reverse=True):
        for total, combo in sorted(best.items(), reverse=True):
            t = total + d
            if t <= rest and (t not in best or len(best[t]) > len(combo) + 1):
                best[t] = combo + (d,)
    return best.get(rest)


def _greedy_plan(groups: list[_Group], legs, K: int, h: int, caps: list[int] | None, cover: list[int],
                 margin: int, seed: int = 0, start: int | None = None) -> tuple[list[_GroupPlan], list[int]]:
    """A quick plan: each orbit joins the group that adds the fewest aircraft, within the caps.

    It is realised as a candidate in its own right, so that a loaded machine
    that gives CP-SAT little time still gets a sound plan, and CP-SAT is then
    asked only for plans that beat it.
    """
    members: dict[int, list[int]] = {}
    tails: dict[int, int] = {}
    used = [0] * K
    left = []
    jitter = random.Random(seed)
    noise = {o: (jitter.random() if seed else 0.0) for o in cover}
    order = sorted(cover, key=lambda o: (sum(1 for g in groups if o in g.orbits), noise[o]))
    if seed % 2:
        order.reverse()
    if start is not None:
        # Restart from one group holding every orbit it can (consolidated), then fill and improve.
        ms = [o for o in groups[start].orbits if o in cover]
        F, _ = _min_tails(groups[start], ms, legs, h, margin)
        if ms and F < 10**6 and (caps is None or F <= caps[groups[start].k]):
            members[start], tails[start] = ms, F
            used[groups[start].k] = F
            order = [o for o in order if o not in ms]
    for o in order:
        best = None
        for gi, g in enumerate(groups):
            if o not in g.orbits:
                continue
            F, _ = _min_tails(g, members.get(gi, []) + [o], legs, h, margin)
            if F >= 10**6:
                continue
            extra = F - tails.get(gi, 0)
            if caps is not None and used[g.k] + extra > caps[g.k]:
                continue
            # Fewest extra aircraft; ties to the coarsest step (or, in some restarts, the finest),
            # then by group order (or its reverse).
            key = (extra, -g.N if seed % 3 == 2 else g.N, -gi if seed % 3 == 1 else gi)
            if best is None or key < best[0]:
                best = (key, gi, F)
        if best is None:
            left.append(o)
            continue
        _, gi, F = best
        used[groups[gi].k] += F - tails.get(gi, 0)
        tails[gi] = F
        members.setdefault(gi, []).append(o)
    # Local search on (orbits left uncovered, aircraft): move an orbit, a group's farthest
    # or nearest orbits, or a whole group to another group; after each move, try to fit
    # the uncovered orbits into the capacity it freed.
    cache: dict[tuple[int, tuple[int, ...]], int] = {}

    def tails_of(gi: int, ms: list[int]) -> int:
        key = (gi, tuple(sorted(ms)))
        if key not in cache:
            cache[key] = _min_tails(groups[gi], ms, legs, h, margin)[0] if ms else 0
        return cache[key]

    def insert_left(mem, tl, use, lft):
        lft = list(lft)
        for o in list(lft):
            best = None
            for gi, g in enumerate(groups):
                if o not in g.orbits:
                    continue
                F = tails_of(gi, mem.get(gi, []) + [o])
                extra = F - tl.get(gi, 0)
                if F < 10**6 and (caps is None or use[g.k] + extra <= caps[g.k]):
                    if best is None or extra < best[0]:
                        best = (extra, gi, F)
            if best is not None:
                extra, gi, F = best
                use[groups[gi].k] += extra
                tl[gi] = F
                mem[gi] = mem.get(gi, []) + [o]
                lft.remove(o)
        return lft

    def score(tl, lft):
        return (len(lft), sum(tl.values()))

    left = insert_left(members, tails, used, left)
    for _ in range(400):
        improved = False
        for src in [gi for gi, ms in members.items() if ms]:
            ms = members[src]
            far_first = sorted(ms, key=lambda o: -legs[groups[src].k, o].a)
            moves = ([far_first[:n] for n in range(1, len(ms) + 1)]
                     + [far_first[-n:] for n in range(1, len(ms))] + [[o] for o in ms])
            for dst, g in enumerate(groups):
                if dst == src:
                    continue
                for moving in moves:
                    if any(o not in g.orbits for o in moving):
                        continue
                    rest = [o for o in ms if o not in moving]
                    f_src, f_dst = tails_of(src, rest), tails_of(dst, members.get(dst, []) + moving)
                    if f_dst >= 10**6:
                        continue
                    use = list(used)
                    use[groups[src].k] += f_src - tails.get(src, 0)
                    use[g.k] += f_dst - tails.get(dst, 0)
                    if caps is not None and any(use[k] > caps[k] for k in range(K)):
                        continue
                    tl = dict(tails)
                    tl[src], tl[dst] = f_src, f_dst
                    mem = dict(members)
                    mem[src], mem[dst] = rest, members.get(dst, []) + moving
                    lft = insert_left(mem, tl, use, left) if left else left
                    if score(tl, lft) < score(tails, left):
                        members, tails, used, left = mem, tl, use, lft
                        improved = True
                        break
                if improved:
                    break
            if improved:
                break
        if not improved:
            break
    plans = []
    for gi, ms in members.items():
        if ms:
            F, splits = _min_tails(groups[gi], ms, legs, h, margin)
            plans.append(_GroupPlan(groups[gi], F, sorted(ms), splits))
    return plans, left


@dataclass(slots=True)
class _GroupPlan:
    group: _Group
    tails: int
    orbits: list[int]
    splits: list[int]      # orbits the model expects to be split across bin boundaries


def _plan_groups(groups: list[_Group], legs, K: int, h: int, caps: list[int] | None,
                 cover: list[int], time_limit: float, margin: int, below: int | None = None
                 ) -> tuple[list[_GroupPlan], list[int], bool] | None:
    """CP-SAT: which group (type, step) covers each orbit and how many tails each group gets.

    Per group the knapsack is ``sum (D + handover + a_o) + sum splits (handover
    + a_o + margin) <= D x tails``, with at least one split per bin boundary
    (bins: full ones of N tails plus at most one of each allowed smaller
    size). Minimises orbits left uncovered, then aircraft. ``caps`` None means
    an unlimited fleet. Returns the plans and the orbits left uncovered.
    """
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    z: dict[tuple[int, int], object] = {}
    tails_expr = {}
    split_vars: dict[int, dict[int, object]] = {}
    for gi, g in enumerate(groups):
        ub = caps[g.k] if caps is not None else 4 * len(g.orbits) * max(2, math.ceil(
            max(legs[g.k, o].a + h for o in g.orbits) / g.step) + 2)
        if ub <= 0:
            continue
        q = m.new_int_var(0, ub // g.N + 1, f"q{gi}")
        r = {d: m.new_bool_var(f"r{gi}_{d}") for d in g.sizes if d <= ub}
        F = g.N * q + sum(d * v for d, v in r.items())
        bins = q + sum(r.values())
        m.add(F <= ub)
        split = {}
        for o in g.orbits:
            if o not in cover:
                continue
            z[o, gi] = m.new_bool_var(f"z{o}_{gi}")
            split[o] = m.new_bool_var(f"s{o}_{gi}")
            m.add_implication(split[o], z[o, gi])
            m.add(bins >= 1).only_enforce_if(z[o, gi])
        if not split:
            continue
        m.add(sum(split.values()) >= bins - 1)
        D = g.step
        m.add(sum(z[o, gi] * (D + h + legs[g.k, o].a) for o in split)
              + sum(split[o] * (h + legs[g.k, o].a + margin) for o in split) <= D * F)
        tails_expr[gi] = F
        split_vars[gi] = split
    unc = {}
    for o in cover:
        opts = [z[o, gi] for gi in range(len(groups)) if (o, gi) in z]
        unc[o] = m.new_bool_var(f"u{o}")
        m.add(sum(opts) + unc[o] == 1)
    if caps is not None:
        for k in range(K):
            terms = [tails_expr[gi] for gi in tails_expr if groups[gi].k == k]
            if terms:
                m.add(sum(terms) <= caps[k])
    total = sum(tails_expr.values()) if tails_expr else 0
    if below is not None:
        # Only plans that cover everything with fewer aircraft than the best so far.
        m.add(sum(unc.values()) == 0)
        m.add(total <= below - 1)
    # Tie-break: fewer sorties a day (about N per orbit in a group of step D = H / N).
    sorties = sum(groups[gi].N * v for (o, gi), v in z.items())
    m.minimize(_BIG * 100 * sum(unc.values()) + 1000 * total + sorties)
    solver = _cp_solver(cp_model, time_limit)
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    plans = []
    for gi, F in tails_expr.items():
        n = int(solver.value(F))
        members = [o for o in groups[gi].orbits if (o, gi) in z and solver.boolean_value(z[o, gi])]
        splits = [o for o, v in split_vars[gi].items() if solver.boolean_value(v)]
        if n > 0 and members:
            plans.append(_GroupPlan(groups[gi], n, members, splits))
    left = [o for o in cover if solver.boolean_value(unc[o])]
    return plans, left, status == cp_model.OPTIMAL


# --------------------------------------------------------------------------- groups: pack and time


@dataclass(slots=True)
class _Piece:
    orbit: int
    x: int             # minutes of coverage
    cont: bool         # continues the previous bin's last piece (same orbit)


def _decompositions(F: int, g: _Group, limit: int = 6) -> list[list[int]]:
    """Ways to split F tails into bins: full bins of N, then up to 3 partial bins of allowed sizes."""
    q, rest = divmod(F, g.N)
    outs: list[list[int]] = []
    if rest == 0:
        outs.append([g.N] * q)
    sizes = sorted(g.sizes, reverse=True)
    for n_parts in (1, 2, 3):
        for combo in itertools.combinations_with_replacement(sizes, n_parts):
            if sum(combo) == rest and rest > 0:
                outs.append([g.N] * q + list(combo))
        if len(outs) >= limit:
            break
    if q > 0 and rest > 0:
        # Also trade one full bin for partial ones (more, smaller bins).
        for combo in itertools.combinations_with_replacement(sizes, 2):
            if sum(combo) == rest + g.N:
                outs.append([g.N] * (q - 1) + list(combo))
                break
    return outs[:limit]


def _pack(order: list[int], bins: list[int], g: _Group, legs, h: int) -> list[list[_Piece]] | None:
    """Next-fit with splitting: each orbit needs D minutes of coverage; a split continues in the next bin."""
    D = g.step
    out: list[list[_Piece]] = [[] for _ in bins]
    i, used = 0, 0
    for o in order:
        a = legs[g.k, o].a + h
        need = D
        cont = False
        while need > 0:
            if i >= len(bins):
                return None
            space = bins[i] * D - used
            if need + a <= space:
                out[i].append(_Piece(o, need, cont))
                used += need + a
                need = 0
                continue
            x = space - a
            if x >= _MIN_PIECE and need - x < _MIN_PIECE:
                x = need - _MIN_PIECE
            if x >= _MIN_PIECE and need - x >= _MIN_PIECE:
                out[i].append(_Piece(o, x, cont))
                need -= x
                cont = True
            elif cont:
                return None   # a split orbit must continue at the very start of the next bin
            i, used = i + 1, 0
    return out


def _pack_designated(whole: list[int], splits: list[int], bins: list[int], g: _Group, legs,
                     h: int) -> list[list[_Piece]] | None:
    """Packing that follows the CP-SAT plan: whole orbits fill a bin, a designated split orbit closes it.

    A bin starts with what is left of the orbit split off the previous bin,
    takes whole orbits (largest demand first that fits, keeping room for a
    useful split piece), and ends with the first piece of the next split
    orbit, which carries on at the start of the following bin.
    """
    D = g.step
    pool = sorted(whole, key=lambda o: -legs[g.k, o].a)
    spl = sorted(splits, key=lambda o: legs[g.k, o].a)
    out: list[list[_Piece]] = [[] for _ in bins]
    carry: tuple[int, int] | None = None
    for i, d in enumerate(bins):
        space = d * D
        if carry is not None:
            o, need = carry
            a = legs[g.k, o].a + h
            if need + a <= space:
                out[i].append(_Piece(o, need, True))
                space -= need + a
                carry = None
            else:
                x = space - a
                if x < _MIN_PIECE or need - x < _MIN_PIECE:
                    return None
                out[i].append(_Piece(o, x, True))
                carry = (o, need - x)
                continue
        reserve = (min(legs[g.k, o].a for o in spl) + h + _MIN_PIECE) if spl else 0
        progress = True
        while pool and progress:
            progress = False
            for o in list(pool):
                need = D + legs[g.k, o].a + h
                if need <= space - reserve or (need <= space and not spl):
                    out[i].append(_Piece(o, D, False))
                    space -= need
                    pool.remove(o)
                    progress = True
                    break
        if spl and i + 1 < len(bins):
            o = spl[0]
            x = space - legs[g.k, o].a - h
            if x >= _MIN_PIECE and D - x >= _MIN_PIECE:
                spl.pop(0)
                out[i].append(_Piece(o, x, False))
                carry = (o, D - x)
        if not spl and pool and i + 1 == len(bins):
            return None
    # Orbits still unplaced go through plain next-fit in what space is left: simpler to refuse.
    if pool or spl or carry is not None:
        return None
    return out


def _pack_group(plan: _GroupPlan, legs, h: int, rng: random.Random,
                cap: int | None) -> tuple[list[int], list[list[_Piece]]] | None:
    """Pack a group's orbits into bins, growing the tail count until it fits, then shrinking it."""
    g = plan.group

    def orders():
        base = list(plan.orbits)
        yield sorted(base, key=lambda o: legs[g.k, o].a)
        yield sorted(base, key=lambda o: -legs[g.k, o].a)
        for _ in range(6):
            rng.shuffle(base)
            yield list(base)

    def try_f(F: int):
        for bins in _decompositions(F, g):
            if plan.splits:
                packed = _pack_designated([o for o in plan.orbits if o not in plan.splits],
                                          list(plan.splits), bins, g, legs, h)
                if packed is not None:
                    return bins, packed
            for order in orders():
                packed = _pack(order, bins, g, legs, h)
                if packed is not None:
                    return bins, packed
        return None

    F = plan.tails
    found = try_f(F)
    grow = 0
    while found is None and grow < 3 * g.N + 4:
        F += 1
        grow += 1
        if cap is not None and F > cap:
            return None
        found = try_f(F)
    if found is None:
        return None
    while F > 1:
        smaller = try_f(F - 1)
        if smaller is None:
            break
        F -= 1
        found = smaller
    return found


def _group_sorties(g: _Group, bins: list[int], packed: list[list[_Piece]], legs, h: int, H: int,
                   tail_names: list[int], offset: int) -> list[tuple[int, int, int, int, int, int]]:
    """Times for a packed group: (tail, orbit, takeoff, on station, off station, landing), minutes.

    Pieces in a bin fly back to back from the bin's start. A bin whose first
    piece continues an orbit split off the previous bin starts where that
    orbit's coverage must go on, modulo the step D; any other bin may start
    anywhere (``offset`` staggers groups so that they do not all launch at
    00:00). Tail t of a bin flies the bin's pattern shifted by t D, repeated
    every bin length L = d D through the cycle.
    """
    D = g.step
    out = []
    cont_end = 0
    names = iter(tail_names)
    for d, pieces in zip(bins, packed):
        L = d * D
        first = pieces[0]
        if first.cont:
            start = (cont_end - legs[g.k, first.orbit].tau - h) % D
        else:
            start = offset % D
        arcs = []
        A = 0
        for p in pieces:
            leg = legs[g.k, p.orbit]
            cov = start + A + leg.tau + h          # coverage starts after the handover
            arcs.append((p.orbit, start + A, cov - h, cov + p.x, cov + p.x + leg.tau))
            cont_end = cov + p.x
            A += p.x + h + leg.a
        if A > L:
            raise AssertionError("packing overflowed a bin")  # a bug, never user input
        for t in range(d):
            name = next(names)
            for rep in range(H // L):
                shift = t * D + rep * L
                for o, to, on, off, land in arcs:
                    out.append((name, o, to + shift, on + shift, off + shift, land + shift))
    return out


# --------------------------------------------------------------------------- small neighbourhoods (slots)


def _slot_model(orbit_ids: list[int], avail: list[int], legs, K: int, H: int, h: int, slot: int,
                max_tails: int, time_limit: float) -> list[Row] | None:
    """Cover a few orbits with at most `max_tails` of the `avail` aircraft, on a time grid of `slot` minutes.

    The free-form model: a boolean per (tail, orbit, slot) "on station",
    coverage >= 1 per orbit and slot, runs no longer than the endurance
    allows, and between runs the tail spends its transit back and turnaround
    (after the run) and its next transit out (before the next run) in
    exclusive ground/transit states, so the two add up. The grid wraps: every
    tail's day repeats. Unlike shift groups it lets any tail fly any mix of
    orbits with any sortie lengths and mixes types on one orbit, which is what
    small, uneven fleets need; it only scales to a few orbits, so it is used
    on neighbourhoods of the group solution. Times are whole slots; transit
    and turnaround rounded up to slots, so the result is conservative.
    Returns rows (tail numbers 1.. per type) or None.
    """
    from ortools.sat.python import cp_model

    T = H // slot
    hs = math.ceil(h / slot) if h else 0
    if hs > 1:
        return None   # handovers longer than a slot are left to the shift groups
    el = {(k, o): legs[k, o] for k in range(K) for o in orbit_ids if (k, o) in legs}
    L = {ko: leg.b // slot for ko, leg in el.items()}
    el = {ko: leg for ko, leg in el.items() if L[ko] >= max(1, hs + 1)}
    if {o for _, o in el} != set(orbit_ids):
        return None
    tails = [(k, i + 1) for k in range(K) for i in range(avail[k]) if any((k, o) in el for o in orbit_ids)]
    if not tails:
        return None
    m = cp_model.CpModel()
    on: dict[tuple[int, int, int], object] = {}
    used = []
    cover: dict[tuple[int, int], list] = {(o, s_): [] for o in orbit_ids for s_ in range(T)}
    starts: dict[tuple[int, int], list] = {(o, s_): [] for o in orbit_ids for s_ in range(T)}
    for t, (k, _) in enumerate(tails):
        u = m.new_bool_var("")
        used.append(u)
        mine = [o for o in orbit_ids if (k, o) in el]
        out = [m.new_bool_var("") for _ in range(T)]
        inb = [m.new_bool_var("") for _ in range(T)]
        for s_ in range(T):
            here = []
            for o in mine:
                v = m.new_bool_var("")
                on[t, o, s_] = v
                here.append(v)
                cover[o, s_].append(v)
            m.add(sum(here) + out[s_] + inb[s_] <= 1)
            for v in here:
                m.add_implication(v, u)
        for o in mine:
            leg = el[k, o]
            n = L[k, o]
            pre = math.ceil(leg.tau / slot)
            post = math.ceil((leg.a - leg.tau) / slot)          # transit back + turnaround
            for s_ in range(T):
                cur, nxt, prv = on[t, o, s_], on[t, o, (s_ + 1) % T], on[t, o, (s_ - 1) % T]
                if n < T:
                    m.add_bool_or([on[t, o, (s_ + j) % T].Not() for j in range(n + 1)])
                end = m.new_bool_var("")
                m.add_bool_or([cur.Not(), nxt, end])
                for j in range(1, post + 1):
                    m.add_implication(end, out[(s_ + j) % T])
                start = m.new_bool_var("")
                m.add_bool_or([cur.Not(), prv, start])
                for j in range(1, pre + 1):
                    m.add_implication(start, inb[(s_ - j) % T])
                if hs:
                    # Someone already there (no two arrive in the same slot) stays through the
                    # handover, which fits in one slot.
                    starts[o, s_].append(start)
                    m.add(sum(cover[o, s_]) >= 2).only_enforce_if(start)
    for (o, s_), vs in cover.items():
        m.add_bool_or(vs)
    for vs in starts.values():
        m.add_at_most_one(vs)
    for t in range(len(tails) - 1):
        if tails[t][0] == tails[t + 1][0]:
            m.add_implication(used[t + 1], used[t])
    m.add(sum(used) <= max_tails)
    m.minimize(sum(used))
    solver = _cp_solver(cp_model, time_limit)
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    rows: list[Row] = []
    for t, (k, n) in enumerate(tails):
        for o in orbit_ids:
            if (t, o, 0) not in on:
                continue
            bits = [solver.boolean_value(on[t, o, s_]) for s_ in range(T)]
            if all(bits):
                return None   # cannot happen with a finite endurance; refuse rather than guess
            for s_ in range(T):
                if bits[s_] and not bits[s_ - 1]:
                    e = s_
                    while bits[(e + 1) % T]:
                        e += 1
                    tau = el[k, o].tau
                    a, b = s_ * slot, (e + 1) * slot
                    rows.append((k, n, o, a - tau, a, b, b + tau))
    return rows


def _slot_size(orbit_ids: list[int], avail: list[int], legs, K: int, H: int, slot: int) -> int:
    """Rough number of literals `_slot_model` would create (to skip models too big to build in time)."""
    T = H // slot
    n = 0
    for k in range(K):
        for o in orbit_ids:
            if (k, o) in legs:
                leg = legs[k, o]
                n += avail[k] * T * ((leg.a + slot - 1) // slot + 6 + min(T, leg.b // slot + 1))
    return n


def _components(rows: list[Row]) -> list[tuple[set[int], set[tuple[int, int]]]]:
    """Orbits linked by tails that serve them, with those tails (each tail in exactly one)."""
    tail_orbits: dict[tuple[int, int], set[int]] = {}
    for r in rows:
        tail_orbits.setdefault((r[0], r[1]), set()).add(r[2])
    comps: list[tuple[set[int], set[tuple[int, int]]]] = []
    for tail, os_ in tail_orbits.items():
        hit = [c for c in comps if c[0] & os_]
        merged = (set(os_), {tail})
        for c in hit:
            merged[0].update(c[0])
            merged[1].update(c[1])
            comps.remove(c)
        comps.append(merged)
    return comps


def _improve_small(rows: list[Row], left: list[int], legs, K: int, H: int, h: int, caps: list[int],
                   deadline: float, max_orbits: int = 4) -> tuple[list[Row], list[int]]:
    """Large-neighbourhood search: re-solve groups of at most `max_orbits` orbits with `_slot_model`.

    A neighbourhood is one or two sets of orbits whose tails serve only them
    (plus orbits still uncovered); its tails and the spare aircraft are
    offered to the slot model, which must cover it with fewer tails (or, for
    uncovered orbits, at all). Improvements are checked against the exact
    rules before they replace anything.
    """
    slot = next((s_ for s_ in (15, 10, 20, 30, 12, 5) if H % s_ == 0), None)
    if slot is None:
        return rows, left
    tried: set = set()
    while time.perf_counter() < deadline - 0.05:
        comps = _components(rows) + [({o}, set()) for o in left]
        used = [len({r[1] for r in rows if r[0] == k}) for k in range(K)]
        spare = [caps[k] - used[k] for k in range(K)]
        cands = []
        for i, c in enumerate(comps):
            if len(c[0]) <= max_orbits:
                cands.append((c[0], c[1]))
            for c2 in comps[i + 1:]:
                if len(c[0]) + len(c2[0]) <= max_orbits:
                    cands.append((c[0] | c2[0], c[1] | c2[1]))
        cands.sort(key=lambda c: (-len(c[0] & set(left)), -len(c[1]) / len(c[0]), sorted(c[0])))
        improved = False
        for orbs, tails in cands:
            key = (frozenset(orbs), len(tails), tuple(spare))
            if key in tried:
                continue
            tried.add(key)
            t_left = deadline - time.perf_counter()
            if t_left <= 0.3:
                break
            need_cover = bool(orbs & set(left))
            # Offer the neighbourhood's own tails and a few spares per type (more only bloat the model).
            extra = 2 * len(orbs) if need_cover else 2
            avail = [min(spare[k], extra) + sum(1 for kk, _ in tails if kk == k) for k in range(K)]
            if _slot_size(sorted(orbs), avail, legs, K, H, slot) > 350_000:
                continue
            target = sum(avail) if need_cover else len(tails) - 1
            if target <= 0:
                continue
            new = _slot_model(sorted(orbs), avail, legs, K, H, h, slot, target, min(t_left - 0.2, 2.0) / 1.5)
            if not new or not _rows_ok(new, sorted(orbs), legs, H, h):
                continue
            n_new = len({(r[0], r[1]) for r in new})
            if not need_cover and n_new >= len(tails):
                continue
            keep = [r for r in rows if (r[0], r[1]) not in tails]
            top = [max([r[1] for r in keep if r[0] == k], default=0) for k in range(K)]
            renum = {}
            for k, n in sorted({(r[0], r[1]) for r in new}):
                top[k] += 1
                renum[k, n] = top[k]
            rows = keep + [(k, renum[k, n], *rest) for k, n, *rest in new]
            left = [o for o in left if o not in orbs]
            improved = True
            break
        if not improved:
            break
    return _renumber(rows), left


def _rows_ok(rows: list[Row], orbit_ids: list[int], legs, H: int, h: int) -> bool:
    """Minute-level check of rows: coverage of the orbits, endurance, turnaround, handover."""
    by_tail: dict[tuple[int, int], list[Row]] = {}
    cov: dict[int, list[tuple[int, int]]] = {o: [] for o in orbit_ids}
    for r in rows:
        k, n, o, to, on, off, land = r
        leg = legs[k, o]
        if on - to < leg.tau or land - off < leg.tau or off - on > leg.b or off <= on:
            return False
        by_tail.setdefault((k, n), []).append(r)
        cov[o].append((on + h, off) if h else (on, off))
    for rs in by_tail.values():
        rs = sorted(rs, key=lambda r: r[3] % H)
        for i, r in enumerate(rs):
            g_m = legs[r[0], r[2]].a - 2 * legs[r[0], r[2]].tau
            nxt = rs[(i + 1) % len(rs)]
            t_next = nxt[3] % H + (H if i + 1 == len(rs) else 0)
            if t_next < r[3] % H + (r[6] - r[3]) + g_m:
                return False
    return all(not _gaps_min(cov[o], H) for o in orbit_ids)


def _renumber(rows: list[Row]) -> list[Row]:
    """Tail numbers 1..n per type, in order of first takeoff."""
    first: dict[tuple[int, int], int] = {}
    for r in rows:
        first[r[0], r[1]] = min(first.get((r[0], r[1]), r[3]), r[3])
    new: dict[tuple[int, int], int] = {}
    count: dict[int, int] = {}
    for (k, n), _ in sorted(first.items(), key=lambda t: (t[0][0], t[1], t[0][1])):
        count[k] = count.get(k, 0) + 1
        new[k, n] = count[k]
    return [(k, new[k, n], *rest) for k, n, *rest in rows]


# --------------------------------------------------------------------------- partial cover


def _fill_gaps(targets: list[int], spare: list[int], legs, K: int, H: int, h: int,
               existing: dict[int, list[tuple[int, int]]], used: list[int]) -> list[Row]:
    """Let aircraft the full plan could not use cover as much of the `targets` orbits as they can.

    Each spare tail takes the orbit's largest gap and flies sorties one after
    another (as long as useful, turnaround between) through its day; types
    that stay on station longest per hour of their day go first.
    """
    out: list[Row] = []
    for o in targets:
        types = sorted((k for k in range(K) if (k, o) in legs and legs[k, o].b > h + _MIN_PIECE),
                       key=lambda k: -legs[k, o].b / (legs[k, o].b + legs[k, o].a))
        for k in types:
            leg = legs[k, o]
            g_m = leg.a - 2 * leg.tau
            while spare[k] > 0:
                cov = existing.setdefault(o, [])
                gaps = _gaps_min(cov, H)
                if not gaps:
                    break
                s0, _ = max(gaps, key=lambda ge: ge[1] - ge[0])
                spare[k] -= 1
                used[k] += 1
                n = used[k]
                first_takeoff = s0 - h - leg.tau
                t = first_takeoff
                flew = False
                while t < first_takeoff + H:
                    gaps = _gaps_min(cov, H, start=t + leg.tau + h)
                    if not gaps:
                        break
                    gs, ge = gaps[0]
                    arrive = gs - h
                    before = _covering_end(cov, arrive - 1, H)
                    if h and before is not None and before < arrive + h:
                        arrive = before + 1   # too late for a handover: arrive into a (reported) gap
                        if arrive + h > ge:
                            t = ge - leg.tau - h
                            continue
                    # Stay until the next aircraft has arrived and taken over (handover).
                    off = min(arrive + leg.b, ge + h, first_takeoff + H - leg.tau - g_m)
                    if h and ge - 1 <= off < ge + h and ge < gs + H:
                        off = ge - 1   # cannot stay for the handover: leave a (reported) gap instead
                    if off - gs < _MIN_PIECE:
                        break
                    out.append((k, n, o, arrive - leg.tau, arrive, off, off + leg.tau))
                    cov.append((arrive, off))
                    flew = True
                    t = off + leg.tau + g_m
                if not flew:
                    spare[k] += 1
                    used[k] -= 1
                    break
    return out


def _covering_end(cov: list[tuple[int, int]], t: int, H: int) -> int | None:
    """Latest end (in t's frame) of the intervals covering minute t of the cycle, or None."""
    best = None
    for a, b in cov:
        shift = math.floor((t - a) / H) * H     # bring the interval's start to <= t
        if a + shift <= t < b + shift:
            best = b + shift if best is None else max(best, b + shift)
    return best


def _gaps_min(cov: list[tuple[int, int]], H: int, start: int = 0) -> list[tuple[int, int]]:
    """Uncovered stretches (minutes) of one cycle starting at `start`, given covered intervals."""
    segs = []
    for a, b in cov:
        a -= start
        b -= start
        sh = math.floor(a / H) * H
        a, b = a - sh, b - sh
        segs.append((a, min(b, H)))
        if b > H:
            segs.append((0, min(b - H, H)))
    segs.sort()
    gaps, t = [], 0
    for a, b in segs:
        if a > t:
            gaps.append((t + start, a + start))
        t = max(t, b)
    if t < H:
        gaps.append((t + start, H + start))
    return gaps


# --------------------------------------------------------------------------- checking


def coverage_gaps(intervals: Sequence[tuple[float, float]], horizon_h: float = 24.0,
                  tol: float = _TOL_H) -> list[tuple[float, float]]:
    """Gaps in [0, horizon) not covered by any interval taken modulo the horizon (wrap split at 0)."""
    H = float(horizon_h)
    segs: list[tuple[float, float]] = []
    for a, b in intervals:
        if b - a >= H:
            return []
        sh = math.floor(a / H) * H
        a, b = a - sh, b - sh
        segs.append((a, min(b, H)))
        if b > H:
            segs.append((0.0, b - H))
    segs.sort()
    gaps, t = [], 0.0
    for a, b in segs:
        if a > t + tol:
            gaps.append((t, a))
        t = max(t, b)
    if t < H - tol:
        gaps.append((t, H))
    return gaps


def check_roster(roster: Roster, orbits: Sequence[Orbit], aircraft: Sequence[AircraftType],
                 horizon_h: float | None = None, *, handover_min: float | None = None) -> list[str]:
    """Independent verifier; returns one sentence per violation (empty list: the roster holds).

    Checks, in continuous time and with the exact transit times: every moment
    of every orbit covered (cyclic), each sortie within its type's endurance,
    transit times respected both ways, turnaround between consecutive sorties
    of the same tail (including from its last sortie to its first of the next
    period), so also one orbit at a time per tail, and no more tails of a type
    than the fleet has. With a handover (default: the roster's own), an
    aircraft arriving while another is on station must find one that was
    already there stay with it for that many minutes.

    The roster repeats every ``roster.horizon_h`` hours (its period: one day,
    or several for a multi-day rotation), and everything is checked over that
    whole period, so every minute of every day is covered. ``horizon_h``, if
    given, is the cycle the caller asked for (a day): the period must be a
    whole number of such cycles (or divide one).
    """
    H = float(roster.horizon_h)
    out: list[str] = []
    if horizon_h is not None:
        lo, hi = sorted((float(horizon_h), H))
        if lo <= 0 or abs(hi / lo - round(hi / lo)) > 1e-9:
            out.append(f"roster repeats every {H:g} h, which is not a whole number of "
                       f"{float(horizon_h):g} h cycles")
    ho = (roster.handover_min if handover_min is None else handover_min) / 60.0
    tol = 1e-6
    orb = {o.id: o for o in orbits}
    acs = {a.id: a for a in aircraft}
    by_tail: dict[str, list[Sortie]] = {}
    by_orbit: dict[str, list[tuple[float, float]]] = {o.id: [] for o in orbits}
    for s in roster.sorties:
        ac = acs.get(s.type_id)
        if ac is None:
            out.append(f"sortie of {s.aircraft}: unknown aircraft type {s.type_id!r}")
            continue
        if s.orbit not in orb:
            out.append(f"sortie of {s.aircraft}: unknown orbit {s.orbit!r}")
            continue
        if not (s.takeoff_h <= s.on_station_h + tol and s.on_station_h <= s.off_station_h + tol
                and s.off_station_h <= s.landing_h + tol):
            out.append(f"sortie of {s.aircraft} to {s.orbit}: times out of order "
                       f"(takeoff {s.takeoff_h:.3f}, on {s.on_station_h:.3f}, off {s.off_station_h:.3f}, "
                       f"landing {s.landing_h:.3f} h)")
        tau = transit_h(ac, orb[s.orbit])
        if s.on_station_h - s.takeoff_h < tau - tol:
            out.append(f"sortie of {s.aircraft} to {s.orbit}: on station {s.on_station_h - s.takeoff_h:.3f} h "
                       f"after takeoff, transit needs {tau:.3f} h")
        if s.landing_h - s.off_station_h < tau - tol:
            out.append(f"sortie of {s.aircraft} to {s.orbit}: lands {s.landing_h - s.off_station_h:.3f} h "
                       f"after leaving station, transit needs {tau:.3f} h")
        if s.landing_h - s.takeoff_h > ac.endurance_h + tol:
            out.append(f"sortie of {s.aircraft} to {s.orbit}: flies {s.landing_h - s.takeoff_h:.3f} h, "
                       f"endurance is {ac.endurance_h:g} h")
        by_tail.setdefault(s.aircraft, []).append(s)
        by_orbit[s.orbit].append((s.on_station_h, s.off_station_h))
    per_type: dict[str, int] = {}
    for tail, ss in by_tail.items():
        ac = acs[ss[0].type_id]
        per_type[ac.id] = per_type.get(ac.id, 0) + 1
        norm = sorted(((s.takeoff_h % H, s.takeoff_h % H + (s.landing_h - s.takeoff_h), s) for s in ss),
                      key=lambda t: t[0])
        for i, (to, land, s) in enumerate(norm):
            nxt_to, _, nxt = norm[(i + 1) % len(norm)]
            if i + 1 == len(norm):
                nxt_to += H
            if nxt_to < land + ac.turnaround_h - tol:
                out.append(f"{tail}: takes off at {_hhmm(nxt_to % H)} for {nxt.orbit} only "
                           f"{max(0.0, nxt_to - land):.2f} h after landing from {s.orbit}; "
                           f"turnaround is {ac.turnaround_h:g} h")
    for tid, n in per_type.items():
        if n > acs[tid].count:
            out.append(f"{tid}: roster flies {n} tails, the fleet has {acs[tid].count}")
    for oid, ivs in by_orbit.items():
        for a, b in coverage_gaps(ivs, H, tol):
            out.append(f"orbit {oid}: no aircraft on station {_hhmm(a)}-{_hhmm(b)} ({b - a:.2f} h)")
        if ho > 0 and len(ivs) > 1:
            eps = 1e-3
            for i, (on, _) in enumerate(ivs):
                # Relieving someone (an aircraft on station just before it arrives)? Then one of
                # those aircraft must stay with it for the whole handover.
                before = [(a, b) for j, (a, b) in enumerate(ivs) if j != i and (on - eps - a) % H < b - a]
                if before and not any((on - eps - a) % H + eps + ho <= b - a + tol for a, b in before):
                    out.append(f"orbit {oid}: the aircraft arriving at {_hhmm(on % H)} finds nobody to "
                               f"hand over with for {ho * 60:g} min")
    if roster.aircraft_used != len(by_tail):
        out.append(f"roster says {roster.aircraft_used} aircraft used, its sorties use {len(by_tail)}")
    return out


def _hhmm(h: float) -> str:
    """``HH:MM``; past the first day of a multi-day period, ``day N HH:MM``."""
    m = int(round(h * 60))
    day = (m - 1) // 1440 if m > 1440 else 0      # 24:00 ends a day, it does not start the next
    m -= 1440 * day
    return (f"day {day + 1} " if day else "") + f"{m // 60:02d}:{m % 60:02d}"


# --------------------------------------------------------------------------- build


Row = tuple[int, int, int, int, int, int, int]   # type, tail no., orbit, takeoff, on, off, landing (min)


def build_roster(orbits: Sequence[Orbit], aircraft: Sequence[AircraftType], *,
                 horizon_h: float = 24.0, handover_min: float = 0.0,
                 time_limit_s: float = 10.0, max_period_days: int = 1) -> Roster:
    """Plan a roster covering every orbit around the clock with the fewest aircraft.

    ``max_period_days`` (``m``): the roster may repeat every ``p`` cycles of
    ``horizon_h`` for any ``p <= m`` (a multi-day rotation: a tail's pattern
    shifts from day to day, which lets it fly full ``E + G`` cycles when they
    do not divide 24 h). The returned roster's ``horizon_h`` is its period
    ``p x horizon_h``; its lower bound is valid for every roster of period at
    most ``m`` cycles (the smallest daily-pattern bound over those periods,
    and the period-free relay bound). ``m = 1`` (the default) is the daily
    roster.

    Never raises for an infeasible problem: the roster then says
    ``feasible=False`` with the reason, the gaps that remain after the
    aircraft there are have done what they can, and ``min_fleet``, the
    smallest fleet found that would cover every orbit (None if some orbit is
    out of every type's reach). Raises `BorderwatchError` only for malformed
    input. ``handover_min``: each relief arrives that many minutes before the
    aircraft it relieves leaves.
    """
    t_start = time.perf_counter()
    orbits = list(orbits)
    aircraft = list(aircraft)
    _validate(orbits, aircraft, horizon_h, handover_min, time_limit_s)
    if (isinstance(max_period_days, bool) or not isinstance(max_period_days, (int, np.integer))
            or not 1 <= max_period_days <= _MAX_PERIOD_DAYS):
        raise BorderwatchError(f"max_period_days must be a whole number from 1 to {_MAX_PERIOD_DAYS}, "
                               f"got {max_period_days!r}")
    H0 = int(round(horizon_h * 60))
    h = int(math.ceil(handover_min - 1e-9))
    K, O = len(aircraft), len(orbits)
    caps = [int(a.count) for a in aircraft]
    available = {a.id: int(a.count) for a in aircraft}
    none_used = {a.id: 0 for a in aircraft}
    if O == 0:
        return Roster((), True, dict(none_used), available, 0, 0, {}, "", dict(none_used), 0,
                      horizon_h, handover_min)

    legs = _legs(orbits, aircraft)
    servable = sorted({o for g in _groups(legs, K, O, H0, h) for o in g.orbits})
    unreachable = [o for o in range(O) if o not in servable]
    rng = random.Random(0)

    def left_s() -> float:
        return time_limit_s - (time.perf_counter() - t_start)

    # Bounds, over the orbits some type can serve, valid for every period allowed.
    sub = [orbits[o] for o in servable]
    periods = list(range(1, int(max_period_days) + 1))
    rb_cap = relay_bound(sub, aircraft, capped=True, handover_min=h)
    rb_free = relay_bound(sub, aircraft, capped=False, handover_min=h)
    db_cap = {p: _daily_bound(sub, aircraft, p * horizon_h, True, handover_min=h, converge=len(periods) > 1)
              for p in periods}
    db_free = {p: _daily_bound(sub, aircraft, p * horizon_h, False, handover_min=h) for p in periods}
    ok_cap = {p: d for p, d in db_cap.items() if d is not None and not d.insufficient}
    free_db = [d.bound for d in db_free.values() if d is not None]
    free_lb = max(rb_free or 0, min(free_db) if free_db else 0)
    fleet_short = rb_cap is None or not ok_cap
    lower = free_lb if fleet_short else max(rb_cap, min(d.bound for d in ok_cap.values()))
    relay = rb_free if fleet_short else rb_cap

    # Which periods to plan: with a choice, the two whose pattern LP (a fractional fleet) is
    # smallest, the shorter period first among equals; a p-day roster is also a kp-day one.
    if len(periods) > 1:
        lp = {p: (ok_cap[p].value if p in ok_cap else math.inf) for p in periods}
        tried = sorted(periods, key=lambda p: (round(lp[p], 6), p))[:2]
    else:
        tried = periods
    best = None
    for i, p in enumerate(tried):
        share = 0.55 if i + 1 < len(tried) else 1.0
        budget = max(0.3, left_s()) * share
        rows, left = _plan_period(legs, K, O, p * H0, h, caps, servable, bool(unreachable),
                                  fleet_short, budget, rng)
        key = (len(left), len({(r[0], r[1]) for r in rows}), p)
        if best is None or key < best[0]:
            best = (key, p, rows, left)
    _, p, rows, left = best
    H = p * H0
    period_h = p * horizon_h

    sorties = _to_sorties(rows, orbits, aircraft, H)
    fleet_used = dict(none_used)
    for tail in {s.aircraft for s in sorties}:
        fleet_used[tail.rsplit("#", 1)[0]] += 1
    n_used = sum(fleet_used.values())
    uncovered: dict[str, list[tuple[float, float]]] = {}
    by_orbit: dict[str, list[tuple[float, float]]] = {o.id: [] for o in orbits}
    for s in sorties:
        by_orbit[s.orbit].append((s.on_station_h, s.off_station_h))
    for oid, ivs in by_orbit.items():
        gaps = coverage_gaps(ivs, period_h)
        if gaps:
            uncovered[oid] = [(round(a, 6), round(b, 6)) for a, b in gaps]
    feasible = not uncovered
    if feasible:
        return Roster(tuple(sorties), True, fleet_used, available, int(lower), n_used, {}, "",
                      dict(fleet_used), relay, period_h, handover_min)

    min_fleet = None
    if not unreachable:
        groups = _groups(legs, K, O, H, h)
        free = _solve_plan(groups, legs, K, H, h, None, servable, max(0.3, left_s()), rng)
        if free is not None and not free[1]:
            min_fleet = dict(none_used)
            for k, n in {(r[0], r[1]) for r in free[0]}:
                min_fleet[aircraft[k].id] += 1
    reason = _reason(orbits, aircraft, legs, unreachable, uncovered, fleet_short, free_lb, min_fleet,
                     period_h, h)
    return Roster(tuple(sorties), False, fleet_used, available, int(lower), n_used, uncovered, reason,
                  min_fleet, relay, period_h, handover_min)


def _plan_period(legs, K: int, O: int, H: int, h: int, caps: list[int], servable: list[int],
                 some_unreachable: bool, fleet_short: bool, budget: float, rng: random.Random
                 ) -> tuple[list[Row], list[int]]:
    """Rows of a roster of period H minutes (groups, then small neighbourhoods, then gap filling)."""
    t_end = time.perf_counter() + budget

    def left_s() -> float:
        return t_end - time.perf_counter()

    groups = _groups(legs, K, O, H, h)
    rows: list[Row] = []
    left = list(servable)
    short = fleet_short or some_unreachable
    if servable and sum(caps) > 0:
        # Cover every orbit (or, when the fleet is short, as many orbits as possible) in full.
        res = _solve_plan(groups, legs, K, H, h, caps, servable,
                          max(0.3, left_s()) * (0.4 if short else 0.65), rng)
        if res is not None:
            rows, left = res
        # Small neighbourhoods (and small instances) with the free-form slot model; keep
        # time for the smallest-fleet search if orbits are still uncovered.
        share = 0.5 if (short or left) else 0.9
        rows, left = _improve_small(rows, left, legs, K, H, h, caps,
                                    time.perf_counter() + max(0.2, left_s()) * share)
    # Whatever is left: let the spare aircraft cover what they can of it.
    if left or some_unreachable:
        used = [len({r[1] for r in rows if r[0] == k}) for k in range(K)]
        spare = [caps[k] - used[k] for k in range(K)]
        cov: dict[int, list[tuple[int, int]]] = {}
        for r in rows:
            cov.setdefault(r[2], []).append((r[4], r[5]))
        rows = rows + _fill_gaps(left, spare, legs, K, H, h, cov, list(used))
    return rows, left


def _solve_plan(groups, legs, K, H, h, caps, servable, budget, rng):
    """Plan groups (CP-SAT), pack and time them. Returns (rows, orbits left uncovered) or None.

    The CP-SAT knapsacks are close to, not exactly, what next-fit packing
    achieves, so the plan is realised and then re-planned, each time asking
    for fewer aircraft than the best realised roster, first with no margin
    per split (optimistic), then with growing margins (pessimistic, for when
    packings overflow), until the model proves no better plan or time is up.
    """
    deadline = time.perf_counter() + budget
    best = None
    # Restarts: plain greedy in a few orders, and from each type's coarsest, widest group.
    starts: list[int | None] = [None, None, None, None]
    for k in range(K):
        gk = [gi for gi, g in enumerate(groups) if g.k == k]
        if gk:
            starts.append(max(gk, key=lambda gi: (len(groups[gi].orbits), -groups[gi].N)))
    for margin, (seed, start) in itertools.product((0, _MIN_PIECE), enumerate(starts)):
        if best is not None and time.perf_counter() > deadline - 0.5 * budget:
            break
        greedy, g_left = _greedy_plan(groups, legs, K, h, caps, servable, margin, seed, start)
        rows, failed = _realise(greedy, legs, K, H, h, caps, rng)
        g_left = sorted(set(g_left) | set(failed))
        key = (len(g_left), len({(r[0], r[1]) for r in rows}))
        if best is None or key < best[0]:
            best = (key, rows, g_left)
    for i, margin in enumerate((0, _MIN_PIECE, 4 * _MIN_PIECE, 60)):
        t_left = deadline - time.perf_counter()
        if t_left <= 0.1:
            break
        # First a free solve from the greedy hint; then only plans beating the best roster.
        below = best[0][1] if i > 0 and best[0][0] == 0 else None
        share = 0.8 if i == 0 else 0.6
        res = _plan_groups(groups, legs, K, h, caps, servable, max(0.1, t_left * share) / 1.5, margin, below)
        if res is None:
            if below is not None and margin > 0:
                break   # even the optimistic model has nothing better: stop
            continue
        plans, left, proven = res
        rows, failed = _realise(plans, legs, K, H, h, caps, rng)
        left = sorted(set(left) | set(failed))
        key = (len(left), len({(r[0], r[1]) for r in rows}))
        if key < best[0]:
            best = (key, rows, left)
        if proven and margin == 0 and not failed and key[1] <= sum(p.tails for p in plans):
            break   # the optimistic model is optimal and its plan was realised as planned
    if best is None:
        return None
    return best[1], best[2]


def _realise(plans: list[_GroupPlan], legs, K, H, h, caps, rng) -> tuple[list[Row], list[int]]:
    """Pack and time every group; a group that cannot be packed within the caps is dropped."""
    rows: list[Row] = []
    failed: list[int] = []
    used = [0] * K
    for i, plan in enumerate(sorted(plans, key=lambda p: (-len(p.orbits), p.group.k, p.group.N))):
        g = plan.group
        cap = None if caps is None else caps[g.k] - used[g.k]
        packed = _pack_group(plan, legs, h, rng, cap)
        if packed is None:
            failed.extend(plan.orbits)
            continue
        kept = [(d, ps) for d, ps in zip(*packed) if ps]   # trailing empty bins: tails not needed
        bins, pieces = [d for d, _ in kept], [ps for _, ps in kept]
        names = list(range(used[g.k] + 1, used[g.k] + sum(bins) + 1))
        used[g.k] += sum(bins)
        for n, o, to, on, off, land in _group_sorties(g, bins, pieces, legs, h, H, names,
                                                      offset=61 * i):
            rows.append((g.k, n, o, to, on, off, land))
    return rows, failed


def _to_sorties(rows: list[Row], orbits, aircraft, H: int) -> list[Sortie]:
    out = []
    for k, n, o, to, on, off, land in rows:
        base = (to // H) * H
        out.append(Sortie(f"{aircraft[k].id}#{n}", orbits[o].id, (to - base) / 60.0, (on - base) / 60.0,
                          (off - base) / 60.0, (land - base) / 60.0))
    out.sort(key=lambda s: (_tail_key(s.aircraft), s.takeoff_h))
    return out


def _reason(orbits, aircraft, legs, unreachable, uncovered, fleet_short, free_lb, min_fleet,
            horizon_h, h) -> str:
    parts = []
    for o in unreachable:
        orb = orbits[o]
        why = []
        for k, ac in enumerate(aircraft):
            tau = transit_h(ac, orb)
            km = tau * ac.cruise_speed_kmh
            base = ac.base_name or f"the {ac.id} base"
            useful = ac.endurance_h - 2 * tau
            if useful <= _TOL_H:
                why.append(f"at {km:.0f} km from {base}, transit {tau:.1f} h each way leaves no time "
                           f"on station for {ac.id} (endurance {ac.endurance_h:g} h)")
            else:
                why.append(f"at {km:.0f} km from {base}, transit {tau:.1f} h each way leaves {ac.id} "
                           f"(endurance {ac.endurance_h:g} h) only {useful * 60:.0f} min on station, "
                           f"too little to relieve and be relieved"
                           + (f" with a {h} min handover" if h else ""))
        if not aircraft:
            why.append("there are no aircraft types at all")
        parts.append(f"orbit {_label(orb)} cannot be served: " + "; ".join(why))
    total = sum(a.count for a in aircraft)
    fleet = ", ".join(f"{a.count} {a.id}" for a in aircraft) or "no aircraft types"
    reach = len(orbits) - len(unreachable)
    if total == 0 and reach:
        what = "the reachable orbit" if reach == 1 else f"the {reach} reachable orbits"
        parts.append(f"no aircraft available (fleet: {fleet}); covering {what} needs at least {free_lb} aircraft")
    elif fleet_short and reach:
        what = "the reachable orbit" if reach == 1 else f"all {reach} reachable orbits"
        parts.append(f"the fleet ({fleet}, {total} aircraft) cannot cover {what} "
                     f"around the clock: any roster needs at least {free_lb} aircraft of these types")
    elif reach and any(orbits[o].id in uncovered for o in range(len(orbits)) if o not in unreachable):
        parts.append(f"no roster covering every orbit was found with the fleet ({fleet}); the lower "
                     f"bound does not rule one out")
    gap_h = {oid: sum(b - a for a, b in g) for oid, g in uncovered.items()}
    if gap_h:
        worst = ", ".join(f"{oid} {v:.1f} h" for oid, v in sorted(gap_h.items(), key=lambda t: -t[1]))
        parts.append(f"uncovered per {horizon_h:g} h: {worst}")
    if min_fleet is not None:
        mf = ", ".join(f"{v} {k}" for k, v in min_fleet.items() if v)
        parts.append(f"smallest fleet found that covers every orbit: {mf} ({sum(min_fleet.values())} aircraft)")
    elif unreachable:
        parts.append("no fleet of these types can cover every orbit")
    return "; ".join(parts) + "."


def _label(orb: Orbit) -> str:
    return f"{orb.id} ({orb.name})" if orb.name else orb.id
