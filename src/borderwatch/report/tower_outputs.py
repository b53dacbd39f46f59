"""A tower plan as files: GeoJSON (sites, visible and blind stretches), JSON summary.

GeoJSON is written in WGS84 lon/lat (RFC 7946) so any GIS or web map reads
it as is; each file is written to a temporary name and renamed, so a crash
never leaves half a file.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from borderwatch.files import atomic_write_text
from borderwatch.geo import Border
from borderwatch.plan.towers import TowerPlan


def line_lonlat(border: Border, a_km: float, b_km: float, step_km: float = 0.25) -> list[list[float]]:
    """The border between two chainages as lon/lat vertices (keeps the line's own bends)."""
    inner = border.vertex_chainage_km[(border.vertex_chainage_km > a_km) & (border.vertex_chainage_km < b_km)]
    km = np.unique(np.concatenate([[a_km, b_km], inner, np.arange(a_km, b_km, step_km)]))
    x, y = border.point_at(km)
    lon, lat = border.projection.to_lonlat(x, y)
    return [[round(float(u), 6), round(float(v), 6)] for u, v in zip(lon, lat)]


def site_features(plan: TowerPlan) -> list[dict]:
    return [{
        "type": "Feature",
        "properties": {
            "id": s.id, "kind": "tower", "ground_m": round(s.ground_m, 1),
            "mast_m": plan.mast_height_m, "range_km": plan.range_km,
            "chainage_km": round(s.chainage_km, 2), "setback_m": round(s.setback_m, 0),
            "sees_km": round(sum(b - a for a, b in s.visible_stretches_km), 2),
            "sole_weight": round(s.sole_weight, 6),
        },
        "geometry": {"type": "Point", "coordinates": [round(s.lon, 6), round(s.lat, 6)]},
    } for s in plan.sites]


def stretch_features(plan: TowerPlan, border: Border) -> tuple[list[dict], list[dict]]:
    visible = []
    for s in plan.sites:
        for a, b in s.visible_stretches_km:
            visible.append({
                "type": "Feature",
                "properties": {"kind": "visible", "tower": s.id, "from_km": round(a, 3), "to_km": round(b, 3)},
                "geometry": {"type": "LineString", "coordinates": line_lonlat(border, a, b)},
            })
    blind = [{
        "type": "Feature",
        "properties": {"kind": "blind", "from_km": round(a, 3), "to_km": round(b, 3),
                       "length_km": round(b - a, 3)},
        "geometry": {"type": "LineString", "coordinates": line_lonlat(border, a, b)},
    } for a, b in plan.blind_stretches_km]
    return visible, blind


def summary_dict(plan: TowerPlan) -> dict:
    d = {
        "scenario": plan.scenario, "k": plan.k, "coverage": plan.coverage,
        "upper_bound": plan.upper_bound, "gap": plan.gap, "optimal": plan.optimal,
        "method": plan.method, "line_km": plan.line_km, "line_seen_km": plan.line_seen_km,
        "candidates": plan.candidates, "demand_cells": plan.demand_cells,
        "range_km": plan.range_km, "mast_height_m": plan.mast_height_m,
        "synthetic_terrain": plan.synthetic_terrain,
        "blind_stretches_km": plan.blind_stretches_km,
        "nodata_stretches_km": plan.nodata_stretches_km,
        "coverage_targets": [
            {"target": t.target, "towers": t.towers, "lower_bound": t.lower_bound,
             "reachable_max": t.reachable_max} for t in plan.coverage_targets],
        "timings_s": plan.timings_s,
        "sites": [{k: v for k, v in asdict(s).items() if k != "visible_stretches_km"}
                  | {"visible_stretches_km": s.visible_stretches_km} for s in plan.sites],
    }
    return d


def write_tower_outputs(plan: TowerPlan, border: Border, directory: str | Path) -> dict[str, Path]:
    """Write towers.geojson, visible.geojson, blind.geojson and plan.json into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    visible, blind = stretch_features(plan, border)
    files = {
        "towers": (directory / "towers.geojson", feature_collection(site_features(plan), plan)),
        "visible": (directory / "visible.geojson", feature_collection(visible, plan)),
        "blind": (directory / "blind.geojson", feature_collection(blind, plan)),
        "summary": (directory / "plan.json", summary_dict(plan)),
    }
    for path, doc in files.values():
        write_json(path, doc)
    return {name: path for name, (path, _) in files.items()}


def feature_collection(features: list[dict], plan: TowerPlan) -> dict:
    note = "terrain is SYNTHETIC: visibility is illustrative" if plan.synthetic_terrain else ""
    return {"type": "FeatureCollection", "name": f"{plan.scenario} towers k={plan.k}",
            "properties": {"coverage": round(plan.coverage, 6), "gap": round(plan.gap, 6), "note": note},
            "features": features}


def write_json(path: Path, doc: dict) -> None:
    atomic_write_text(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
