"""Derive the bundled Iraq–Syria border from Natural Earth 1:10m (public domain).

Natural Earth's admin-0 boundaries ship offline in the npm package
``world-atlas`` 2.x as TopoJSON (``countries-10m.json``). In TopoJSON two
neighbouring countries share their common boundary as one *arc*; the
Iraq–Syria border is the single arc that appears in both the Iraq (ISO 368)
and the Syria (ISO 760) polygons. This script finds that arc, undoes the
quantisation and delta encoding, orders it from the northern end (the
Turkey tripoint) to the southern end (the Jordan tripoint) and writes
GeoJSON.

Usage (nothing here runs at borderwatch run time)::

    cd /tmp && npm install world-atlas@2
    python tools/derive_border.py /tmp/node_modules/world-atlas/countries-10m.json \
        src/borderwatch/data/iraq-syria/border.geojson
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

IRAQ, SYRIA = "368", "760"


def _arc_ids(geometry: dict) -> set[int]:
    """All arc indices used by a Polygon/MultiPolygon, sign removed (~i -> i)."""
    rings = geometry["arcs"]
    if geometry["type"] == "Polygon":
        rings = [rings]
    ids: set[int] = set()
    for polygon in rings:
        for ring in polygon:
            ids.update(i if i >= 0 else ~i for i in ring)
    return ids


def decode_arc(topology: dict, index: int) -> list[tuple[float, float]]:
    """Decode one quantised, delta-encoded TopoJSON arc into lon/lat pairs."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    x = y = 0
    points = []
    for dx, dy in topology["arcs"][index]:
        x += dx
        y += dy
        points.append((round(x * sx + tx, 6), round(y * sy + ty, 6)))
    return points


def main(source: str, target: str) -> None:
    topology = json.loads(Path(source).read_text())
    geometries = {g.get("id"): g for g in topology["objects"]["countries"]["geometries"]}
    shared = _arc_ids(geometries[IRAQ]) & _arc_ids(geometries[SYRIA])
    if len(shared) != 1:
        raise SystemExit(f"expected one arc shared by Iraq and Syria, found {sorted(shared)}")
    points = decode_arc(topology, shared.pop())
    if points[0][1] < points[-1][1]:  # start at the northern end
        points.reverse()
    feature = {
        "type": "Feature",
        "properties": {
            "name": "Iraq–Syria border",
            "left": "Iraq",
            "right": "Syria",
            "note": "Ordered from the northern end (Iraq–Syria–Turkey tripoint) to the "
            "southern end (Iraq–Syria–Jordan tripoint). 'left'/'right' are as seen "
            "walking in that order.",
            "source": "Natural Earth 1:10m Admin 0 boundaries (public domain), via the "
            "npm package world-atlas 2.0.2 (countries-10m.json), the arc shared by "
            "Iraq (368) and Syria (760). Derived by tools/derive_border.py.",
            "license": "Public domain (Natural Earth); world-atlas packaging ISC",
        },
        "geometry": {"type": "LineString", "coordinates": points},
    }
    collection = {"type": "FeatureCollection", "features": [feature]}
    Path(target).write_text(json.dumps(collection, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {target}: {len(points)} points, {points[0]} -> {points[-1]}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
