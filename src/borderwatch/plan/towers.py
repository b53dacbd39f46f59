"""`site_towers(scenario, k)`: where K watchtowers see the most of the border.

The pipeline: weighted crossing cells (demand) and admissible sites
(candidates) → which cells each site sees (batched line of sight over the
DEM) → maximal covering location problem: greedy, swap local search, then
the MILP on HiGHS warm-started from them, with the certified gap from the
MILP bound → the stretches each tower sees and those no tower sees. The dual
question is answered too: how many towers for 90 / 95 / 99 % of the weight.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from borderwatch.errors import BorderwatchError
from borderwatch.geo import Border, Terrain
from borderwatch.geo.projection import geometry_to_local
from borderwatch.geo.visibility import DEFAULT_CURVATURE, visibility_matrix
from borderwatch.plan.candidates import CandidateOptions, Candidates, candidate_sites
from borderwatch.plan.demand import Demand, DemandOptions, crossing_demand
from borderwatch.plan.siting_solver import CoverageTarget, solve_mclp, towers_for_coverage
from borderwatch.scenario.model import Scenario

Progress = Callable[[str, float], None]  # (stage, fraction done)


@dataclass(frozen=True, slots=True)
class TowerOptions:
    range_km: float | None = None           # default: the scenario's sensor range
    mast_height_m: float | None = None      # default: the scenario's mast height
    target_height_m: float | None = None
    curvature_coeff: float = DEFAULT_CURVATURE
    time_limit_s: float = 60.0
    coverage_targets: tuple[float, ...] = (0.90, 0.95, 0.99)
    candidates: CandidateOptions = field(default_factory=CandidateOptions)
    demand: DemandOptions = field(default_factory=DemandOptions)


@dataclass(frozen=True, slots=True)
class TowerSite:
    """One chosen tower and what it sees of the line."""

    id: str
    x: float
    y: float
    lon: float
    lat: float
    ground_m: float
    chainage_km: float
    setback_m: float
    visible_stretches_km: tuple[tuple[float, float], ...]
    sole_weight: float                   # weight only this tower sees


@dataclass(frozen=True, slots=True)
class TowerPlan:
    scenario: str
    k: int
    sites: tuple[TowerSite, ...]
    coverage: float                       # weighted share of crossing cells seen
    line_seen_km: float                   # length of the line itself seen by any tower
    line_km: float
    upper_bound: float                    # certified: no K towers can see more weight
    gap: float
    optimal: bool
    method: str
    blind_stretches_km: tuple[tuple[float, float], ...]
    nodata_stretches_km: tuple[tuple[float, float], ...]
    coverage_targets: tuple[CoverageTarget, ...]
    candidates: int
    demand_cells: int
    timings_s: dict[str, float]
    range_km: float
    mast_height_m: float
    synthetic_terrain: bool
    # Per crossing cell (columns): where it is, its weight, whether a chosen
    # tower sees it. The patrol game and the air plan start from these.
    cell_chainage_km: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cell_offset_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cell_weight: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cell_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def _stretches(km: np.ndarray, mask: np.ndarray, spacing_km: float) -> tuple[tuple[float, float], ...]:
    """Runs of True stations as (start_km, end_km), each station standing for ±spacing/2."""
    if not mask.any():
        return ()
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(m))
    starts, ends = edges[0::2], edges[1::2] - 1
    half = spacing_km / 2.0
    top = float(km[-1])
    return tuple((max(0.0, float(km[a]) - half), min(top, float(km[b]) + half)) for a, b in zip(starts, ends))


def _length(stretches) -> float:
    return float(sum(b - a for a, b in stretches))


def site_towers(scenario: Scenario, k: int | None = None, options: TowerOptions | None = None,
                progress: Progress | None = None) -> TowerPlan:
    """Choose K tower sites (default: the scenario's tower budget) and certify the gap."""
    opt = options or TowerOptions()
    report = progress or (lambda stage, frac: None)
    towers = scenario.assets.watchtowers
    k = towers.budget if k is None else k
    range_km = towers.sensor_range_km if opt.range_km is None else opt.range_km
    mast = towers.mast_height_m if opt.mast_height_m is None else opt.mast_height_m
    target_h = towers.target_height_m if opt.target_height_m is None else opt.target_height_m
    if not range_km > 0:
        raise BorderwatchError(f"sensor range must be > 0 km, got {range_km:g}")
    if mast < 0 or target_h < 0:
        raise BorderwatchError(f"mast and target heights must be >= 0 m, got {mast:g} and {target_h:g}")
    if k < 1:
        raise BorderwatchError(f"k must be at least 1 tower, got {k}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    border = Border.from_scenario(scenario)
    terrain = Terrain.from_scenario(scenario)
    if terrain is None:
        raise BorderwatchError(f"{scenario.path.name}: tower siting needs terrain; add a [terrain] dem")
    water = geometry_to_local(scenario.terrain.water, border.projection)
    demand = crossing_demand(scenario, border, terrain, water, opt.demand)
    cands = candidate_sites(border, terrain, water, opt.candidates)
    timings["prepare"] = time.perf_counter() - t0
    report("candidates", 1.0)
    if len(cands) == 0:
        raise BorderwatchError("no admissible tower site: every candidate is in water, on no-data "
                               "or outside the setback band")
    if k > len(cands):
        raise BorderwatchError(f"k = {k} is larger than the {len(cands)} candidate sites "
                               f"(every {opt.candidates.spacing_km:g} km at setbacks "
                               f"{', '.join(f'{s:g}' for s in opt.candidates.setbacks_km)} km)")

    t0 = time.perf_counter()
    cover = visibility_matrix(terrain, cands.xy, mast, demand.xy, target_h, range_km * 1000.0,
                              curvature_coeff=opt.curvature_coeff,
                              progress=lambda done, total: report("line of sight", done / max(total, 1)))
    timings["visibility"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report("optimise", 0.0)
    solution = solve_mclp(cover, demand.weight, k, time_limit_s=opt.time_limit_s)
    timings.update({f"solve.{key}": v for key, v in solution.timings_s.items()})
    report("optimise", 0.5)
    targets = tuple(towers_for_coverage(cover, demand.weight, opt.coverage_targets,
                                        time_limit_s=opt.time_limit_s))
    timings["coverage targets"] = time.perf_counter() - t0
    report("optimise", 1.0)
    return assemble_tower_plan(scenario, border, terrain, demand, cands, cover, solution, targets, k, timings,
                     range_km, mast)


def assemble_tower_plan(scenario, border: Border, terrain: Terrain, demand: Demand, cands: Candidates,
                        cover, solution, targets, k, timings, range_km, mast) -> TowerPlan:
    """A `TowerPlan` from a chosen set of sites (also used to judge baselines' towers)."""
    chosen = np.asarray(solution.chosen, dtype=np.int64)
    sub = cover[chosen].tocsc()                       # chosen sites x cells
    seen_count = np.asarray(sub.sum(axis=0)).ravel()
    line = demand.offset_m == 0.0
    line_idx = np.flatnonzero(line)
    km_line = demand.chainage_km[line_idx]
    spacing_km = demand.spacing_m / 1000.0
    lon, lat = border.projection.to_lonlat(cands.x[chosen], cands.y[chosen])
    sub_rows = cover[chosen].tocsr()
    sites = []
    order = np.argsort(cands.chainage_km[chosen])
    for rank, j in enumerate(order, start=1):
        row = sub_rows[j]
        cells = row.indices
        seen_line = np.zeros(len(line_idx), dtype=bool)
        pos = np.searchsorted(line_idx, cells)
        hit = (pos < len(line_idx)) & (line_idx[np.minimum(pos, len(line_idx) - 1)] == cells)
        seen_line[pos[hit]] = True
        sole = float(demand.weight[cells][seen_count[cells] == 1].sum())
        i = chosen[j]
        sites.append(TowerSite(
            id=f"T{rank:02d}", x=float(cands.x[i]), y=float(cands.y[i]), lon=float(lon[j]),
            lat=float(lat[j]), ground_m=float(cands.ground_m[i]), chainage_km=float(cands.chainage_km[i]),
            setback_m=float(cands.setback_m[i]),
            visible_stretches_km=_stretches(km_line, seen_line, spacing_km), sole_weight=sole))
    line_seen = seen_count[line_idx] > 0
    blind = _stretches(km_line, ~line_seen, spacing_km)
    nodata = _stretches(km_line, demand.nodata[line_idx], spacing_km)
    return TowerPlan(
        scenario=scenario.name, k=k, sites=tuple(sites), coverage=float(solution.coverage),
        line_seen_km=float(border.length_km - _length(blind)), line_km=float(border.length_km),
        upper_bound=float(solution.upper_bound), gap=float(solution.gap), optimal=bool(solution.optimal),
        method=solution.method, blind_stretches_km=blind, nodata_stretches_km=nodata,
        coverage_targets=targets, candidates=len(cands), demand_cells=len(demand),
        timings_s=timings, range_km=range_km, mast_height_m=mast,
        synthetic_terrain=terrain.synthetic, cell_chainage_km=demand.chainage_km,
        cell_offset_m=demand.offset_m, cell_weight=demand.weight, cell_seen=seen_count > 0)
