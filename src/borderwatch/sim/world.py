"""`World`: everything a simulated run needs, computed once from a scenario and a plan.

`prepare` does the expensive, deterministic work (tower viewsheds at the
DEM's resolution, the attacker's utility of every crossing, the air
roster's on-station intervals) and keeps only plain arrays, so a `World`
pickles cheaply to worker processes or a Dask cluster and every run starts
from the same state.

How sensors are calibrated (ASSUMPTION, stated so it can be argued with):
a sensor first has to *acquire* a group (an operator notices it), at a
hazard rate; once acquired it reports the group at every look while the
group stays in view (p = 0.9 per look), and loses it when it leaves view.
The acquisition rate is set so that the scenario's own per-crossing
probabilities hold for a reference crossing on foot:

- tower: a crossing in view along a chord at half the sensor range, with
  acquisition falling off as 1 − (r/R)², is acquired with the scenario's
  `watchtowers.detection_probability`;
- aircraft: a crossing through an orbit's disc (mean chord πR/2) is acquired
  with `air.detection_probability`;
- patrols: `patrol_p_look` per look within `patrol_radius_m`.

Night multiplies acquisition by the sensor's night factor; vehicles by
`vehicle_visibility`; group size by sqrt(size / mean size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from borderwatch.errors import SimError
from borderwatch.geo.border import Border
from borderwatch.geo.terrain import Terrain
from borderwatch.geo.viewshed import viewshed_from_terrain
from borderwatch.scenario.model import Scenario
from borderwatch.sim.options import SimOptions

P_TRACK = 0.9   # per look, once acquired and in view


@dataclass(eq=False)
class World:
    """A scenario and a plan, reduced to the arrays a simulated run reads."""

    scenario_name: str
    plan_label: str
    options: SimOptions
    border: Border
    # terrain on a north-up grid in local metres
    elevation: np.ndarray
    grid_x0: float
    grid_y0: float          # top edge
    grid_res: float
    # threat
    source_names: tuple[str, ...]
    source_xy: np.ndarray   # (S, 2)
    source_people: np.ndarray   # (S,) people who try in the window
    target_start_km: np.ndarray
    target_len_km: float
    target_utility: np.ndarray  # (S, T) attacker utility of crossing at each target
    # sensors
    sensor_names: tuple[str, ...]
    tower_xy: np.ndarray    # (K, 2)
    tower_range_m: float
    tower_vis: np.ndarray   # (K, H, W) bool windows of the grid
    tower_rc0: np.ndarray   # (K, 2) top-left (row, col) of each window in the grid
    tower_rate: float       # acquisition hazard (1/s) at r = 0, by day
    orbit_xy: np.ndarray    # (O, 2)
    orbit_on: np.ndarray    # (n, 3): orbit index, on-station start s, end s (absolute, repeated daily)
    air_rate: float
    patrol_stretches_km: np.ndarray   # (D, U, 2) start/end chainage per sampled day and unit; NaN idle
    patrol_rate: float
    timings_s: dict = field(default_factory=dict)

    @property
    def n_towers(self) -> int:
        return len(self.tower_xy)

    @property
    def n_orbits(self) -> int:
        return len(self.orbit_xy)

    @property
    def n_patrols(self) -> int:
        return self.patrol_stretches_km.shape[1] if self.patrol_stretches_km.size else 0

    def elevation_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear elevation at local points (edge values outside the grid)."""
        h, w = self.elevation.shape
        c = np.clip((x - self.grid_x0) / self.grid_res - 0.5, 0, w - 1.001)
        r = np.clip((self.grid_y0 - y) / self.grid_res - 0.5, 0, h - 1.001)
        c0 = c.astype(np.int64)
        r0 = r.astype(np.int64)
        fc, fr = c - c0, r - r0
        e = self.elevation
        top = e[r0, c0] * (1 - fc) + e[r0, c0 + 1] * fc
        bot = e[r0 + 1, c0] * (1 - fc) + e[r0 + 1, c0 + 1] * fc
        return top * (1 - fr) + bot * fr


def _grid(terrain: Terrain, border: Border, margin_m: float) -> tuple[np.ndarray, float, float, float]:
    """The DEM as a local-metre grid (as is when it is already in the local CRS)."""
    if terrain._to_dem is None:
        t = terrain.transform
        if abs(abs(t.e) - t.a) > 1e-6 * t.a:
            raise SimError("the DEM's cells must be square for the simulator; "
                           "re-import it with `borderwatch terrain import`")
        elev = np.asarray(terrain.elevation, np.float32)
        x0, y0, res = t.c, t.f, t.a
    else:
        res = float(min(terrain.resolution_m))
        xmin, ymin = border.xy.min(axis=0) - margin_m
        xmax, ymax = border.xy.max(axis=0) + margin_m
        cols = np.arange(xmin + res / 2, xmax, res)
        rows = np.arange(ymax - res / 2, ymin, -res)
        gx, gy = np.meshgrid(cols, rows)
        elev = terrain.sample(gx.ravel(), gy.ravel()).reshape(gx.shape).astype(np.float32)
        x0, y0 = float(xmin), float(ymax)
    if np.isnan(elev).any():
        fill = float(np.nanmedian(elev)) if np.isfinite(elev).any() else 0.0
        elev = np.where(np.isnan(elev), fill, elev).astype(np.float32)
    return elev, float(x0), float(y0), float(res)


def _utilities(scenario: Scenario, plan, border: Border, src_xy: np.ndarray, opt: SimOptions) -> np.ndarray:
    """Attacker utility of each target from each source: value × P(unnoticed) × travel discount."""
    start = np.asarray(plan.targets_start_km, float)
    value = np.asarray(plan.targets_value, float)
    q = np.asarray(plan.targets_tower_detection, float)
    cover = np.zeros(len(start))
    catch = 0.0
    if plan.patrols is not None:
        cover = np.asarray(plan.patrols.coverage, float)
        catch = scenario.assets.patrols.catch_probability if scenario.assets.patrols else 0.5
    length = start[1] - start[0] if len(start) > 1 else border.length_km
    mid = start + length / 2
    air = np.zeros(len(start))
    if plan.roster is not None and scenario.assets.air is not None:
        air_sectors = [s.sector for s in plan.sectors if s.air]
        air = np.where(np.isin(border.sectors.of(mid), air_sectors), scenario.assets.air.detection_probability, 0.0)
    success = (1 - q) * (1 - catch * cover) * (1 - air)
    mx, my = border.point_at(mid)
    d = np.hypot(mx[None, :] - src_xy[:, 0:1], my[None, :] - src_xy[:, 1:2]) / 1000.0
    discount = np.exp(-(d - d.min(axis=1, keepdims=True)) / opt.travel_km)
    return (value * success)[None, :] * discount


def _on_station(plan, orbit_ids: list[str], horizon_s: float) -> np.ndarray:
    """Absolute on-station intervals of every orbit over [0, horizon_s], days repeated."""
    rows = []
    if plan.roster is None:
        return np.zeros((0, 3))
    day = plan.roster.horizon_h * 3600.0
    index = {o: i for i, o in enumerate(orbit_ids)}
    days = int(math.ceil(horizon_s / day)) + 1
    for s in plan.roster.sorties:
        if s.orbit not in index:
            continue
        a, b = s.on_station_h * 3600.0, s.off_station_h * 3600.0
        for k in range(-1, days):
            lo, hi = a + k * day, b + k * day
            if hi > 0 and lo < horizon_s:
                rows.append((index[s.orbit], max(lo, 0.0), min(hi, horizon_s)))
    return np.array(rows, float).reshape(-1, 3)


def prepare(scenario: Scenario, plan, options: SimOptions | None = None, label: str = "optimised") -> World:
    """Reduce a scenario and a plan to a `World` (viewsheds, utilities, rosters)."""
    import time

    opt = options or SimOptions()
    if plan.scenario != scenario.name:
        raise SimError(f"the plan was made for scenario '{plan.scenario}', not '{scenario.name}'")
    t0 = time.perf_counter()
    border = Border.from_scenario(scenario)
    terrain = Terrain.from_scenario(scenario)
    if terrain is None:
        raise SimError(f"{scenario.path.name}: the simulator needs terrain; add a [terrain] dem")
    margin = (opt.approach_km + opt.inland_km + 5.0) * 1000.0
    elev, x0, y0, res = _grid(terrain, border, margin)
    timings = {"terrain": time.perf_counter() - t0}

    # Threat sources and what each would pay to cross where.
    srcs = scenario.threat_sources
    sx, sy = border.projection.to_xy([s.location.lon for s in srcs], [s.location.lat for s in srcs])
    src_xy = np.column_stack([np.atleast_1d(sx), np.atleast_1d(sy)])
    people = np.array([int(round(s.headcount * opt.share)) for s in srcs], np.int64)
    start = np.asarray(plan.targets_start_km, float)
    t_len = float(start[1] - start[0]) if len(start) > 1 else border.length_km
    util = _utilities(scenario, plan, border, src_xy, opt)

    # Towers: one viewshed each, at the DEM's resolution, for a person's height.
    t0 = time.perf_counter()
    w = scenario.assets.watchtowers
    sites = plan.towers.sites
    rng_m = w.sensor_range_km * 1000.0
    half = int(math.ceil(rng_m / res)) + 1
    vis = np.zeros((len(sites), 2 * half + 1, 2 * half + 1), bool)
    rc0 = np.zeros((len(sites), 2), np.int64)
    for k, site in enumerate(sites):
        # Each window is centred on the tower's cell in the local grid.
        r_c = int((y0 - site.y) // res)
        c_c = int((site.x - x0) // res)
        rc0[k] = (r_c - half, c_c - half)
        if terrain._to_dem is None:
            vs = viewshed_from_terrain(terrain, site.x, site.y, observer_height_m=w.mast_height_m,
                                       target_height_m=w.target_height_m, max_distance_m=rng_m)
            rr, cc = vs.visible.shape
            # Place the viewshed's window (in the same grid) into ours.
            dr, dc = vs.row0 - rc0[k, 0], vs.col0 - rc0[k, 1]
            r_lo, c_lo = max(0, dr), max(0, dc)
            r_hi, c_hi = min(vis.shape[1], dr + rr), min(vis.shape[2], dc + cc)
            vis[k, r_lo:r_hi, c_lo:c_hi] = vs.visible[r_lo - dr:r_hi - dr, c_lo - dc:c_hi - dc]
        else:
            vs = viewshed_from_terrain(terrain, site.x, site.y, observer_height_m=w.mast_height_m,
                                       target_height_m=w.target_height_m, max_distance_m=rng_m)
            full_r = np.arange(2 * half + 1) + rc0[k, 0]
            full_c = np.arange(2 * half + 1) + rc0[k, 1]
            gx, gy = np.meshgrid(x0 + (full_c + 0.5) * res, y0 - (full_r + 0.5) * res)
            dx, dy = terrain._to_dem.transform(gx.ravel(), gy.ravel())
            inv = ~terrain.transform
            col = np.floor(inv.a * np.asarray(dx) + inv.c).astype(np.int64) - vs.col0
            row = np.floor(inv.e * np.asarray(dy) + inv.f).astype(np.int64) - vs.row0
            ok = (row >= 0) & (row < vs.visible.shape[0]) & (col >= 0) & (col < vs.visible.shape[1])
            flat = np.zeros(gx.size, bool)
            flat[ok] = vs.visible[row[ok], col[ok]]
            vis[k] = flat.reshape(gx.shape)
    timings["viewsheds"] = time.perf_counter() - t0
    tower_xy = np.array([[s.x, s.y] for s in sites], float).reshape(-1, 2)
    chord_s = math.sqrt(3.0) * rng_m / opt.foot_speed_mps
    p_t = min(max(w.detection_probability, 0.0), 0.999999)
    tower_rate = -math.log(1 - p_t) / (chord_s * 0.5) if p_t > 0 else 0.0

    # Aircraft: orbits and when someone is on station there.
    orbit_ids = [o.id for o in plan.orbits]
    orbit_xy = np.array([[o.x, o.y] for o in plan.orbits], float).reshape(-1, 2)
    horizon = (opt.hours + opt.tail_h) * 3600.0
    on = _on_station(plan, orbit_ids, horizon)
    air = scenario.assets.air
    p_a = min(max(air.detection_probability if air else 0.0, 0.0), 0.999999)
    r_o = opt.orbit_radius_km * 1000.0
    air_rate = -math.log(1 - p_a) / (math.pi * r_o / 2 / opt.foot_speed_mps) if p_a > 0 else 0.0

    # Patrols: the sampled daily stretches.
    stretches = np.zeros((0, 0, 2))
    if plan.patrols is not None and plan.patrols.days.size:
        days = np.asarray(plan.patrols.days)
        a = np.where(days >= 0, days * plan.patrols.target_km, np.nan)
        b = np.minimum(a + plan.patrols.window * plan.patrols.target_km, border.length_km)
        stretches = np.stack([a, b], axis=-1)
    patrol_rate = -math.log(1 - min(opt.patrol_p_look, 0.999999)) / opt.patrol_look_s

    names = tuple([f"tower-{s.id}" for s in sites] + [f"air-{o}" for o in orbit_ids]
                  + [f"patrol-{u + 1:02d}" for u in range(stretches.shape[1] if stretches.size else 0)])
    return World(
        scenario_name=scenario.name, plan_label=label, options=opt, border=border,
        elevation=elev, grid_x0=x0, grid_y0=y0, grid_res=res,
        source_names=tuple(s.name for s in srcs), source_xy=src_xy, source_people=people,
        target_start_km=start, target_len_km=t_len, target_utility=util,
        sensor_names=names, tower_xy=tower_xy, tower_range_m=rng_m, tower_vis=vis, tower_rc0=rc0,
        tower_rate=tower_rate, orbit_xy=orbit_xy, orbit_on=on, air_rate=air_rate,
        patrol_stretches_km=stretches, patrol_rate=patrol_rate, timings_s=timings,
    )
