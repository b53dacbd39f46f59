"""`make_plan(scenario) -> Plan`: towers, patrols, air orbits and the roster, together.

The order follows how each layer depends on the last:

1. **Towers** (`site_towers`): fixed, the adversary sees them.
2. **Patrols**: a Stackelberg security game over 1 km border targets whose
   payoffs already count tower detection; each patrol covers a contiguous
   stretch (a window of targets); the equilibrium mix of stretches is
   sampled into concrete daily assignments.
3. **Air**: orbits over the sectors with the most residual risk after
   towers and patrols, and a 24-hour roster that keeps each one manned.

The plan is judged by the adversary's best response: the expected success
of the best crossing against this plan, and against the same patrols spread
uniformly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from borderwatch.errors import BorderwatchError
from borderwatch.geo import Border
from borderwatch.plan import codec
from borderwatch.plan.game_targets import GameTargets, attacker_value, game_targets, uniform_coverage
from borderwatch.plan.orbits import OrbitSite, place_orbits
from borderwatch.plan.patrol_sampling import sample_window_patrols
from borderwatch.plan.roster import AircraftType, Orbit, Roster, Sortie, build_roster
from borderwatch.plan.siting_solver import CoverageTarget
from borderwatch.plan.stackelberg import solve_windows
from borderwatch.plan.towers import TowerOptions, TowerPlan, TowerSite, site_towers
from borderwatch.scenario.model import Scenario


@dataclass(frozen=True, slots=True)
class PlanOptions:
    towers: int | None = None            # default: the scenario's tower budget
    target_km: float = 1.0               # length of one patrol-game target
    patrol_days: int = 7                 # daily assignments to sample
    seed: int = 20191015
    time_limit_s: float = 60.0


@dataclass(frozen=True, slots=True)
class SectorCover:
    """How each layer covers one sector (0-based index, km range)."""

    sector: int
    start_km: float
    end_km: float
    value: float             # share of the border's crossing value in this sector
    tower_seen: float        # share of its value a tower sees
    patrol_coverage: float   # value-weighted mean patrol coverage probability
    air: bool                # an orbit is kept over it around the clock
    residual: float          # share of the border's residual risk after all layers


@dataclass(frozen=True, slots=True)
class PatrolPlan:
    units: int
    window: int                     # targets per patrol stretch
    target_km: float
    coverage: np.ndarray            # marginal probability a patrol covers each target
    window_mix: np.ndarray          # expected patrols starting at each target
    days: np.ndarray                # (days, units) start target of each patrol, -1 idle
    method: str
    exact: bool


@dataclass(frozen=True, slots=True)
class Plan:
    scenario: str
    towers: TowerPlan
    targets_start_km: np.ndarray
    targets_value: np.ndarray
    targets_tower_detection: np.ndarray
    patrols: PatrolPlan | None
    orbits: tuple[OrbitSite, ...]
    roster: Roster | None
    sectors: tuple[SectorCover, ...]
    attacker_best: float            # adversary's best expected success against this plan
    attacker_best_uniform: float    # ... against the same patrols spread evenly
    attacker_best_towers_only: float
    attacked_km: float              # where that best crossing is (target start)
    timings_s: dict = field(default_factory=dict)


codec.register(Plan, PatrolPlan, SectorCover, OrbitSite, TowerPlan, TowerSite, CoverageTarget,
               Roster, Sortie)


def _aircraft_types(scenario: Scenario, border: Border) -> list[AircraftType]:
    types = []
    for a in scenario.assets.aircraft:
        bx, by = border.projection.to_xy(a.base.lon, a.base.lat)
        types.append(AircraftType(id=a.id, name=a.name, count=a.count, endurance_h=a.endurance_h,
                                  cruise_speed_kmh=a.cruise_speed_kmh, turnaround_h=a.turnaround_h,
                                  base_x=float(bx), base_y=float(by)))
    return types


def make_plan(scenario: Scenario, options: PlanOptions | None = None, progress=None) -> Plan:
    """Plan towers, patrols and air cover for a scenario, and judge the plan."""
    opt = options or PlanOptions()
    report = progress or (lambda stage, frac: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    towers = site_towers(scenario, opt.towers, TowerOptions(time_limit_s=opt.time_limit_s), progress=report)
    timings["towers"] = time.perf_counter() - t0
    border = Border.from_scenario(scenario)
    w = scenario.assets.watchtowers
    patrols_spec = scenario.assets.patrols
    catch = patrols_spec.catch_probability if patrols_spec else 0.5
    targets = game_targets(towers.cell_chainage_km, towers.cell_weight, towers.cell_seen, towers.line_km,
                           cell_km=opt.target_km, tower_detection=w.detection_probability,
                           catch_probability=catch)

    t0 = time.perf_counter()
    report("patrol game", 0.0)
    patrol = None
    coverage = np.zeros(len(targets))
    uniform = np.zeros(len(targets))
    if patrols_spec is not None and patrols_spec.units > 0:
        window = max(1, int(round(patrols_spec.stretch_km / opt.target_km)))
        window = min(window, len(targets))
        sol = solve_windows(targets.att_covered, targets.att_uncovered, targets.def_covered,
                            targets.def_uncovered, float(patrols_spec.units), window)
        coverage = np.asarray(sol.coverage, dtype=float)
        days = sample_window_patrols(np.asarray(sol.window_mix, dtype=float), window, len(targets),
                                     patrols_spec.units, opt.seed, opt.patrol_days)
        patrol = PatrolPlan(units=patrols_spec.units, window=window, target_km=opt.target_km,
                            coverage=coverage, window_mix=np.asarray(sol.window_mix, dtype=float),
                            days=np.asarray(days), method=str(sol.method), exact=bool(sol.exact))
        uniform = uniform_coverage(len(targets), patrols_spec.units, window)
    timings["patrols"] = time.perf_counter() - t0
    report("patrol game", 1.0)

    t0 = time.perf_counter()
    residual = attacker_value(targets, coverage)
    air = scenario.assets.air
    orbits = place_orbits(border, targets.mid_km, residual, air.orbits if air else 0)
    roster = None
    if orbits:
        if not scenario.assets.aircraft:
            raise BorderwatchError(f"{scenario.path.name}: {len(orbits)} air orbits are wanted "
                                   "([assets.air] orbits) but the scenario lists no aircraft")
        roster = build_roster([Orbit(id=o.id, x=o.x, y=o.y, name=f"sector {o.sector + 1}") for o in orbits],
                              _aircraft_types(scenario, border), time_limit_s=min(10.0, opt.time_limit_s))
    timings["air"] = time.perf_counter() - t0
    report("air roster", 1.0)

    air_det = np.zeros(len(targets))
    if orbits and roster is not None:
        sectors_with_air = {o.sector for o in orbits if not roster.uncovered.get(o.id)}
        in_air = np.isin(border.sectors.of(targets.mid_km), list(sectors_with_air))
        air_det = np.where(in_air, air.detection_probability, 0.0)
    final = attacker_value(targets, coverage, air_det)
    vs_uniform = attacker_value(targets, uniform, air_det)
    towers_only = attacker_value(targets, np.zeros(len(targets)))
    sectors = sector_cover(border, targets, towers, coverage, air_det, final)
    best = int(np.argmax(final))
    return Plan(
        scenario=scenario.name, towers=towers, targets_start_km=targets.start_km,
        targets_value=targets.value, targets_tower_detection=targets.tower_detection,
        patrols=patrol, orbits=orbits, roster=roster, sectors=sectors,
        attacker_best=float(final.max()), attacker_best_uniform=float(vs_uniform.max()),
        attacker_best_towers_only=float(towers_only.max()), attacked_km=float(targets.start_km[best]),
        timings_s=timings,
    )


def sector_cover(border: Border, targets: GameTargets, towers: TowerPlan, coverage, air_det,
                 residual) -> tuple[SectorCover, ...]:
    """Per sector: value, tower view, patrol coverage, air, residual risk (also for baselines)."""
    sec = border.sectors
    t_sec = sec.of(targets.mid_km)
    c_sec = sec.of(towers.cell_chainage_km)
    n = len(sec)
    value = np.bincount(t_sec, weights=targets.value, minlength=n)
    seen = np.bincount(c_sec, weights=towers.cell_weight * towers.cell_seen, minlength=n)
    cell_val = np.bincount(c_sec, weights=towers.cell_weight, minlength=n)
    pat = np.bincount(t_sec, weights=targets.value * coverage, minlength=n)
    air = np.bincount(t_sec, weights=air_det, minlength=n) > 0
    res = np.bincount(t_sec, weights=residual, minlength=n)
    res_total = res.sum() or 1.0
    return tuple(SectorCover(
        sector=i, start_km=float(sec.start_km[i]), end_km=float(sec.end_km[i]), value=float(value[i]),
        tower_seen=float(seen[i] / cell_val[i]) if cell_val[i] > 0 else 0.0,
        patrol_coverage=float(pat[i] / value[i]) if value[i] > 0 else 0.0,
        air=bool(air[i]), residual=float(res[i] / res_total)) for i in range(n))


def write_plan(plan: Plan, path: str | Path) -> Path:
    """The whole plan as one JSON file that `read_plan` turns back into an equal Plan."""
    from borderwatch.files import atomic_write_text

    return atomic_write_text(path, codec.dumps(plan))


def read_plan(path: str | Path) -> Plan:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BorderwatchError(f"{path.name}: cannot read plan ({exc.strerror})") from None
    plan = codec.loads(text, path.name)
    if not isinstance(plan, Plan):
        raise BorderwatchError(f"{path.name}: not a borderwatch plan")
    return plan
