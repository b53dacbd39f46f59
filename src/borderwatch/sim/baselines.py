"""Baseline plans from the same resources, to measure what the optimisation buys.

A commander asks "better than what?". Each baseline keeps the plan's
resources and changes one layer the way a planner without the optimiser
would lay it out:

- `uniform_patrols`: the same patrol units, their stretches spread evenly
  along the line instead of the Stackelberg mix;
- `even_towers`: the same K towers at evenly spaced chainages (snapped to an
  admissible candidate site), instead of the covering optimum;
- `no_aircraft`: no orbits and no roster.

Whatever a layer changes, the rest of the plan is judged again the way
`make_plan` judges it (tower detection per target, patrol coverage, air
detection, the adversary's best response, cover by sector), so that the
simulated attacker, who best-responds to the plan, sees the baseline as it is.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from borderwatch.geo import Border, Terrain
from borderwatch.geo.projection import geometry_to_local
from borderwatch.geo.visibility import DEFAULT_CURVATURE, visibility_matrix
from borderwatch.plan.candidates import CandidateOptions, Candidates, candidate_sites
from borderwatch.plan.demand import DemandOptions, crossing_demand
from borderwatch.plan.game_targets import attacker_value, game_targets, uniform_coverage
from borderwatch.plan.patrol_sampling import sample_window_patrols
from borderwatch.plan.siting_solver import SitingSolution
from borderwatch.plan.towers import TowerPlan, assemble_tower_plan
from borderwatch.plan.whole import PatrolPlan, Plan, sector_cover
from borderwatch.errors import SimError
from borderwatch.scenario.model import Scenario

OPTIMISED = "optimised"
UNIFORM_PATROLS = "uniform patrols"
EVEN_TOWERS = "even towers"
NO_AIRCRAFT = "no aircraft"
DEFAULT_SEED = 20191015   # PlanOptions' default: the rotating schedule is sampled like the plan's


def _check(plan: Plan, scenario: Scenario) -> None:
    if plan.scenario != scenario.name:
        raise SimError(f"plan was made for '{plan.scenario}', not '{scenario.name}'")


def _target_km(plan: Plan) -> float:
    if plan.patrols is not None:
        return plan.patrols.target_km
    s = plan.targets_start_km
    return float(s[1] - s[0]) if len(s) > 1 else float(plan.towers.line_km)


def judge(scenario: Scenario, plan: Plan, *, towers: TowerPlan | None = None,
          patrols: PatrolPlan | None | bool = True, orbits=None, roster=None,
          keep_air: bool = True) -> Plan:
    """`plan` with some layers replaced, and every derived field recomputed as `make_plan` does.

    ``patrols=True`` keeps the plan's patrols; ``keep_air=False`` drops orbits
    and roster. Returns a new `Plan`; the input is untouched.
    """
    towers = plan.towers if towers is None else towers
    patrols = plan.patrols if patrols is True else patrols
    if keep_air:
        orbits = plan.orbits if orbits is None else orbits
        roster = plan.roster if roster is None else roster
    else:
        orbits, roster = (), None
    border = Border.from_scenario(scenario)
    spec = scenario.assets.patrols
    targets = game_targets(towers.cell_chainage_km, towers.cell_weight, towers.cell_seen, towers.line_km,
                           cell_km=_target_km(plan),
                           tower_detection=scenario.assets.watchtowers.detection_probability,
                           catch_probability=spec.catch_probability if spec else 0.5)
    n = len(targets)
    coverage = np.zeros(n) if patrols is None else np.asarray(patrols.coverage, dtype=float)
    uniform = np.zeros(n) if patrols is None else uniform_coverage(n, patrols.units, patrols.window)
    air_det = np.zeros(n)
    if orbits and roster is not None:
        with_air = {o.sector for o in orbits if not roster.uncovered.get(o.id)}
        in_air = np.isin(border.sectors.of(targets.mid_km), list(with_air))
        air_det = np.where(in_air, scenario.assets.air.detection_probability, 0.0)
    final = attacker_value(targets, coverage, air_det)
    best = int(np.argmax(final))
    return replace(
        plan, towers=towers, targets_start_km=targets.start_km, targets_value=targets.value,
        targets_tower_detection=targets.tower_detection, patrols=patrols, orbits=tuple(orbits),
        roster=roster, sectors=sector_cover(border, targets, towers, coverage, air_det, final),
        attacker_best=float(final.max()),
        attacker_best_uniform=float(attacker_value(targets, uniform, air_det).max()),
        attacker_best_towers_only=float(attacker_value(targets, np.zeros(n)).max()),
        attacked_km=float(targets.start_km[best]), timings_s={})


# --------------------------------------------------------------------------- patrols


def even_starts(n_targets: int, units: int, window: int) -> np.ndarray:
    """First target of each of `units` evenly spread stretches (as `uniform_coverage` lays them)."""
    return np.floor(np.linspace(0, max(n_targets - window, 0), units)).astype(np.int64)


def uniform_patrols(plan: Plan, scenario: Scenario, *, rotate: bool = False,
                    seed: int = DEFAULT_SEED) -> Plan:
    """The plan with its patrol units spread evenly instead of by the Stackelberg game.

    ``rotate=False`` (the default): the same evenly spaced stretches every
    day, a fixed schedule whose coverage is `uniform_coverage`, i.e. the
    baseline `make_plan` quotes as ``attacker_best_uniform``. ``rotate=True``:
    every stretch start equally likely (a flat window mix), each day's
    stretches a systematic (comb) sample of it, so coverage is nearly flat
    along the line and the schedule moves from day to day.
    """
    _check(plan, scenario)
    p = plan.patrols
    if p is None:
        return judge(scenario, plan, patrols=None)
    n = len(plan.targets_value)
    n_days = max(1, int(p.days.shape[0]))
    n_win = n - p.window + 1
    if not rotate:
        starts = even_starts(n, p.units, p.window)
        mix = np.bincount(starts, minlength=n_win).astype(float)
        days = np.tile(starts, (n_days, 1))
        coverage = uniform_coverage(n, p.units, p.window)
        method = "uniform (baseline: evenly spread, fixed)"
    else:
        mix = np.full(n_win, min(p.units / n_win, 1.0 / p.window))
        days = sample_window_patrols(mix, p.window, n, p.units, seed, n_days)
        coverage = np.convolve(mix, np.ones(p.window))[:n]
        method = "uniform (baseline: flat mix, rotating daily)"
    patrols = replace(p, coverage=np.minimum(coverage, 1.0), window_mix=mix, days=np.asarray(days),
                      method=method, exact=True)
    return judge(scenario, plan, patrols=patrols)


# --------------------------------------------------------------------------- towers


def even_chainages(line_km: float, k: int) -> np.ndarray:
    """Middles of K equal stretches of the line: K towers evenly spaced, line_km / K apart."""
    return (np.arange(k) + 0.5) * (line_km / k)


def snap_to_candidates(cands: Candidates, wanted_km: np.ndarray, station_km: float) -> np.ndarray:
    """For each wanted chainage, a distinct candidate site: the nearest station along the
    line, and there the highest ground (the site a surveyor would pick among its setbacks)."""
    free = np.ones(len(cands), dtype=bool)
    chosen = []
    for km in wanted_km:
        dist = np.where(free, np.abs(cands.chainage_km - km), np.inf)
        nearest = float(dist.min())
        if not np.isfinite(nearest):
            raise SimError(f"even towers: only {len(cands)} candidate sites for {len(wanted_km)} towers")
        near = np.flatnonzero(dist <= nearest + station_km / 2.0)
        pick = int(near[np.argmax(cands.ground_m[near])])
        free[pick] = False
        chosen.append(pick)
    return np.asarray(chosen, dtype=np.int64)


def even_towers(plan: Plan, scenario: Scenario) -> Plan:
    """The plan with its K towers at evenly spaced chainages instead of the covering optimum.

    Candidate sites, crossing cells and line of sight are computed as
    `site_towers` computes them (scenario defaults, the plan's range and mast),
    so the baseline's coverage is directly comparable with the plan's.
    """
    _check(plan, scenario)
    t0 = time.perf_counter()
    tp = plan.towers
    k = len(tp.sites) or tp.k
    w = scenario.assets.watchtowers
    border = Border.from_scenario(scenario)
    terrain = Terrain.from_scenario(scenario)
    if terrain is None:
        raise SimError(f"{scenario.path.name}: the even-towers baseline needs terrain; add a [terrain] dem")
    water = geometry_to_local(scenario.terrain.water, border.projection)
    demand = crossing_demand(scenario, border, terrain, water, DemandOptions())
    copt = CandidateOptions()
    cands = candidate_sites(border, terrain, water, copt)
    if k > len(cands):
        raise SimError(f"even towers: {k} towers but only {len(cands)} candidate sites")
    chosen = snap_to_candidates(cands, even_chainages(border.length_km, k), copt.spacing_km)
    sub = Candidates(x=cands.x[chosen], y=cands.y[chosen], ground_m=cands.ground_m[chosen],
                     chainage_km=cands.chainage_km[chosen], setback_m=cands.setback_m[chosen],
                     dropped=cands.dropped)
    cover = visibility_matrix(terrain, sub.xy, tp.mast_height_m, demand.xy, w.target_height_m,
                              tp.range_km * 1000.0, curvature_coeff=DEFAULT_CURVATURE)
    seen = np.asarray(cover.sum(axis=0)).ravel() > 0
    covered = float(demand.weight[seen].sum())
    total = float(demand.weight.sum())
    ub = tp.upper_bound
    solution = SitingSolution(
        chosen=np.arange(k), covered_weight=covered, total_weight=total, coverage=covered / total,
        upper_bound=ub, gap=max(0.0, (ub - covered / total) / ub) if ub > 0 else 0.0, optimal=False,
        method="even spacing (baseline)")
    towers = assemble_tower_plan(scenario, border, terrain, demand, sub, cover, solution, tp.coverage_targets, k,
                       {"even spacing": time.perf_counter() - t0}, tp.range_km, tp.mast_height_m)
    towers = replace(towers, candidates=len(cands))
    return replace(judge(scenario, plan, towers=towers), timings_s={"towers": time.perf_counter() - t0})


# --------------------------------------------------------------------------- air


def no_aircraft(plan: Plan, scenario: Scenario) -> Plan:
    """The plan without air cover: no orbits, no roster."""
    _check(plan, scenario)
    return judge(scenario, plan, keep_air=False)


def baselines(plan: Plan, scenario: Scenario) -> dict[str, Plan]:
    """Every baseline of `plan`, by label, in the order the comparison shows them."""
    return {UNIFORM_PATROLS: uniform_patrols(plan, scenario), EVEN_TOWERS: even_towers(plan, scenario),
            NO_AIRCRAFT: no_aircraft(plan, scenario)}
