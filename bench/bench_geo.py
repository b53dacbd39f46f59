"""Border queries: borderwatch's columnar `Border.locate` against Shapely 2.

The peer does the same job the usual way: `shapely.line_locate_point` for
chainage, `shapely.distance` for distance, and a point-in-polygon test
against the own-side half-plane polygon for the side. Same 1,000,000 points
around the real Iraq–Syria border, same answers (checked).
"""

from __future__ import annotations

import numpy as np
import shapely

from borderwatch import load_scenario
from borderwatch.geo import Border

N = 1_000_000
_border = Border.from_scenario(load_scenario("iraq-syria"))
_rng = np.random.default_rng(42)
_xy = _rng.uniform(-250e3, 250e3, size=(N, 2))
_line = shapely.LineString(_border.xy)


def _own_polygon() -> shapely.Polygon:
    xy = _border.xy
    d0 = (xy[0] - xy[1]) / np.linalg.norm(xy[0] - xy[1])
    d1 = (xy[-1] - xy[-2]) / np.linalg.norm(xy[-1] - xy[-2])
    far = 5e6
    start, end = xy[0] + d0 * far, xy[-1] + d1 * far
    ring = np.vstack([start, xy, end, [end[0] + far, end[1]], [far * 2, 0], [start[0] + far, start[1]]])
    return shapely.Polygon(ring)


_own = _own_polygon()
shapely.prepare(_own)


def ours():
    loc = _border.locate(_xy[:, 0], _xy[:, 1])
    return loc.chainage_km, loc.signed_distance_m


def peer():
    pts = shapely.points(_xy)
    chain = shapely.line_locate_point(_line, pts) / 1000.0
    dist = shapely.distance(_line, pts)
    inside = shapely.contains_xy(_own, _xy[:, 0], _xy[:, 1])
    return chain, np.where(inside, dist, -dist)


def check(a, b):
    assert np.allclose(a[0], b[0], atol=1e-6), "chainage differs"
    clear = np.abs(b[1]) > 1.0
    assert np.allclose(a[1][clear], b[1][clear], atol=1e-6), "signed distance differs"


BENCHMARKS = [
    ("border locate, 1M points (chainage+signed distance)", ours, peer, "shapely 2", check),
]
