"""What the web map draws, as GeoJSON and PNG: built once from a scenario, a plan folder
and a simulation folder, then served as they are.

* `scenario_layers` — the border (one line per sector, with the plan's coverage when
  there is a plan), the scenario's water, and its named places (threat sources,
  official crossings, air bases);
* `plan_layers` — the GeoJSON files `borderwatch plan -o DIR` wrote (towers, visible,
  blind, patrols, orbits) and the air roster's sorties;
* `terrain_png` — the scenario DEM, hillshaded, as a PNG to lay over the map in
  Web Mercator (rows evenly spaced in Mercator y), with its lon/lat bounds;
* `replay` — the simulated groups of one run of one plan (crossing time and place,
  detection, alert) for the time slider.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

PLAN_LAYERS = ("towers", "visible", "blind", "patrols", "orbits")


def _fc(features: list[dict], **props: Any) -> dict:
    return {"type": "FeatureCollection", "properties": props, "features": features}


def scenario_layers(scenario: Any, plan: Any = None) -> dict[str, dict]:
    """``border``, ``water`` and ``places`` of a scenario (lon/lat GeoJSON)."""
    from shapely.geometry import mapping

    from borderwatch.geo import Border

    border = Border.from_scenario(scenario)
    proj = border.projection
    cover = {c.sector: c for c in plan.sectors} if plan is not None else {}
    feats = []
    for i, (a, b) in enumerate(zip(border.sectors.start_km, border.sectors.end_km)):
        km = np.linspace(float(a), float(b), max(2, int((b - a) / 0.5) + 1))
        x, y = border.point_at(km)
        lon, lat = proj.to_lonlat(np.asarray(x), np.asarray(y))
        c = cover.get(i)
        props = {"kind": "sector", "sector": i + 1, "from_km": round(float(a), 2),
                 "to_km": round(float(b), 2)}
        if c is not None:
            props |= {"tower_seen": round(c.tower_seen, 4), "patrol_coverage": round(c.patrol_coverage, 4),
                      "air": bool(c.air), "residual": round(c.residual, 5), "value": round(c.value, 5)}
        feats.append({"type": "Feature", "properties": props,
                      "geometry": {"type": "LineString",
                                   "coordinates": [[round(float(u), 5), round(float(v), 5)]
                                                   for u, v in zip(lon, lat)]}})
    out = {"border": _fc(feats, name=scenario.name, length_km=round(border.length_km, 2))}
    water = scenario.terrain.water if scenario.terrain is not None else None
    out["water"] = _fc([] if water is None else [
        {"type": "Feature", "properties": {"kind": "water"}, "geometry": mapping(water)}],
        synthetic=bool(scenario.terrain is not None and scenario.terrain.synthetic))
    places = []
    for s in scenario.threat_sources:
        places.append(_place("source", s.name, s.location, headcount=getattr(s, "headcount", None)))
    for c in scenario.crossings:
        places.append(_place("crossing", c.name, c.location))
    for a in scenario.assets.aircraft:
        if getattr(a, "base", None) is not None:
            places.append(_place("base", getattr(a, "base_name", "") or a.name, a.base))
    out["places"] = _fc(places)
    return out


def _place(kind: str, name: str, loc: Any, **extra: Any) -> dict:
    props = {"kind": kind, "name": name} | {k: v for k, v in extra.items() if v is not None}
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Point", "coordinates": [round(loc.lon, 5), round(loc.lat, 5)]}}


def plan_layers(plan_dir: Path) -> dict[str, dict]:
    """The plan folder's GeoJSON layers that exist, by name, and ``roster`` (sorties)."""
    out: dict[str, dict] = {}
    for name in PLAN_LAYERS:
        path = plan_dir / f"{name}.geojson"
        if path.exists():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
    summary = plan_dir / "summary.json"
    if summary.exists():
        air = json.loads(summary.read_text(encoding="utf-8")).get("air") or {}
        out["roster"] = {"sorties": air.get("sorties", []), "feasible": air.get("feasible")}
    return out


def terrain_png(scenario: Any, width: int = 900) -> tuple[bytes, list[list[float]], bool] | None:
    """Hillshaded DEM as PNG bytes, its ``[[south, west], [north, east]]`` and whether it is
    synthetic; None without a DEM."""
    from matplotlib import colormaps
    from matplotlib.colors import LightSource, Normalize
    from PIL import Image

    from borderwatch.geo import Border, Terrain

    terrain = Terrain.from_scenario(scenario)
    if terrain is None:
        return None
    proj = Border.from_scenario(scenario).projection
    b = terrain.bounds
    # the synthetic DEMs are in the scenario's local CRS; an imported one is reprojected to it
    xs = np.linspace(b.left, b.right, 60)
    ys = np.linspace(b.bottom, b.top, 60)
    ex = np.concatenate([xs, xs, np.full_like(ys, xs[0]), np.full_like(ys, xs[-1])])
    ey = np.concatenate([np.full_like(xs, ys[0]), np.full_like(xs, ys[-1]), ys, ys])
    lon, lat = proj.to_lonlat(ex, ey)
    west, east, south, north = float(np.min(lon)), float(np.max(lon)), float(np.min(lat)), float(np.max(lat))
    merc = lambda la: np.log(np.tan(np.pi / 4 + np.radians(la) / 2))  # noqa: E731
    height = max(2, int(width * (merc(north) - merc(south)) / np.radians(east - west)))
    my = np.linspace(merc(north), merc(south), height)
    grid_lat = np.degrees(2 * np.arctan(np.exp(my)) - np.pi / 2)
    grid_lon = np.linspace(west, east, width)
    glon, glat = np.meshgrid(grid_lon, grid_lat)
    gx, gy = proj.to_xy(glon.ravel(), glat.ravel())
    z = terrain.sample(np.asarray(gx), np.asarray(gy), method="nearest").reshape(height, width)
    valid = np.isfinite(z)
    if not valid.any():
        return None
    filled = np.where(valid, z, np.nanmin(z))
    cell = max(1.0, (b.right - b.left) / width)
    ls = LightSource(azdeg=315, altdeg=45)
    norm = Normalize(vmin=float(np.nanpercentile(z, 1)), vmax=float(np.nanpercentile(z, 99)))
    rgb = ls.shade(filled, cmap=colormaps["gist_earth"], norm=norm, blend_mode="soft",
                   vert_exag=3.0, dx=cell, dy=cell)
    rgba = (rgb * 255).astype(np.uint8)
    rgba[..., 3] = np.where(valid, 255, 0)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=True)
    return buf.getvalue(), [[south, west], [north, east]], bool(terrain.synthetic)


def replay(sim_dir: Path, scenario: Any, plan: str | None = None, run: int = 0) -> dict | None:
    """The groups of one run of one plan for the time slider, or None without outcomes."""
    path = sim_dir / "outcomes.parquet"
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    from borderwatch.geo import Border

    t = pq.read_table(path)
    cols = {n: t.column(n) for n in t.column_names}
    plans = [str(p) for p in cols["plan"].cast("string").to_pylist()]
    label = plan or (plans[0] if plans else "optimised")
    runs = cols["run"].to_numpy()
    sel = (np.asarray(plans) == label) & (runs == run) & cols["crossed"].to_numpy()
    border = Border.from_scenario(scenario)
    km = np.clip(cols["target_km"].to_numpy()[sel], 0.0, border.length_km)
    x, y = border.point_at(km)
    lon, lat = border.projection.to_lonlat(np.asarray(x), np.asarray(y))

    def col(name: str) -> list:
        v = cols[name].to_numpy(zero_copy_only=False)[sel]
        if v.dtype.kind == "f":
            return [None if not np.isfinite(e) else round(float(e), 1) for e in v]
        return v.tolist()

    meta = t.schema.metadata or {}
    hours = float(meta.get(b"borderwatch.hours", b"24"))
    groups = [{"lon": round(float(a), 5), "lat": round(float(b), 5), "size": s, "cross_t": ct,
               "first_detect_t": fd, "alert_t": at, "alerted": al, "km": round(float(k), 2)}
              for a, b, s, ct, fd, at, al, k in zip(lon, lat, col("size"), col("cross_t"),
                                                    col("first_detect_t"), col("alert_t"),
                                                    col("alerted"), km)]
    return {"plan": label, "run": run, "hours": hours, "plans": sorted(set(plans)), "groups": groups}
