"""A whole plan as GeoJSON layers and a readable JSON summary.

Layers (WGS84 lon/lat): towers, visible and blind stretches (from the tower
plan), patrol coverage (one line per game target, with its coverage
probability and value), air orbits. `summary.json` holds the figures a
report quotes; the exact, re-loadable plan is `plan-full.json`
(`borderwatch.plan.whole.write_plan`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from borderwatch.geo import Border
from borderwatch.plan.whole import Plan
from borderwatch.report.tower_outputs import feature_collection, line_lonlat, write_json, write_tower_outputs


def patrol_features(plan: Plan, border: Border) -> list[dict]:
    if plan.patrols is None:
        return []
    p = plan.patrols
    out = []
    for i, start in enumerate(plan.targets_start_km):
        end = min(float(start) + p.target_km, border.length_km)
        out.append({
            "type": "Feature",
            "properties": {"kind": "patrol", "target": i, "from_km": round(float(start), 3),
                           "to_km": round(end, 3), "coverage": round(float(p.coverage[i]), 6),
                           "value": round(float(plan.targets_value[i]), 8),
                           "tower_detection": round(float(plan.targets_tower_detection[i]), 6)},
            "geometry": {"type": "LineString", "coordinates": line_lonlat(border, float(start), end)},
        })
    return out


def orbit_features(plan: Plan) -> list[dict]:
    return [{
        "type": "Feature",
        "properties": {"kind": "orbit", "id": o.id, "sector": o.sector + 1,
                       "chainage_km": round(o.chainage_km, 2), "residual_risk": round(o.residual_risk, 6),
                       "covered_24h": bool(plan.roster is not None and not plan.roster.uncovered.get(o.id))},
        "geometry": {"type": "Point", "coordinates": [round(o.lon, 6), round(o.lat, 6)]},
    } for o in plan.orbits]


def summary(plan: Plan) -> dict:
    r = plan.roster
    return {
        "scenario": plan.scenario,
        "towers": {"k": plan.towers.k, "coverage": plan.towers.coverage, "gap": plan.towers.gap,
                   "optimal": plan.towers.optimal},
        "patrols": None if plan.patrols is None else {
            "units": plan.patrols.units, "stretch_km": plan.patrols.window * plan.patrols.target_km,
            "method": plan.patrols.method, "exact": plan.patrols.exact,
            "daily_starts_km": (np.where(plan.patrols.days >= 0,
                                         plan.patrols.days * plan.patrols.target_km, -1)).tolist()},
        "air": None if r is None else {
            "feasible": r.feasible, "aircraft_used": r.aircraft_used, "lower_bound": r.lower_bound,
            "fleet_used": r.fleet_used, "reason": r.reason,
            "sorties": [{"aircraft": s.aircraft, "orbit": s.orbit, "takeoff_h": s.takeoff_h,
                         "on_station_h": s.on_station_h, "off_station_h": s.off_station_h,
                         "landing_h": s.landing_h} for s in r.sorties]},
        "attacker_best": plan.attacker_best,
        "attacker_best_uniform_patrols": plan.attacker_best_uniform,
        "attacker_best_towers_only": plan.attacker_best_towers_only,
        "attacked_km": plan.attacked_km,
        "sectors": [{"sector": c.sector + 1, "from_km": c.start_km, "to_km": c.end_km, "value": c.value,
                     "tower_seen": c.tower_seen, "patrol_coverage": c.patrol_coverage, "air": c.air,
                     "residual": c.residual} for c in plan.sectors],
        "timings_s": plan.timings_s,
    }


def write_plan_layers(plan: Plan, border: Border, directory: str | Path) -> dict[str, Path]:
    directory = Path(directory)
    files = write_tower_outputs(plan.towers, border, directory)
    files.pop("summary")
    (directory / "plan.json").unlink(missing_ok=True)  # the tower-only summary; summary.json replaces it
    patrols = directory / "patrols.geojson"
    write_json(patrols, feature_collection(patrol_features(plan, border), plan.towers))
    orbits = directory / "orbits.geojson"
    write_json(orbits, feature_collection(orbit_features(plan), plan.towers))
    summ = directory / "summary.json"
    write_json(summ, summary(plan))
    files.update({"patrols": patrols, "orbits": orbits, "summary": summ})
    return files
