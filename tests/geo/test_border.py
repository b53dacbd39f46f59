"""Border geometry: chainage both ways, sides, signed distance, sectors."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from borderwatch.errors import GeometryError
from borderwatch.geo import Border, LocalProjection

TOWNS_IRAQ = {"al-Qa'im": (41.09, 34.37), "Rabia": (42.10, 36.80), "Sinjar": (41.87, 36.32),
              "al-Walid": (38.90, 33.30)}
TOWNS_SYRIA = {"Albu Kamal": (40.92, 34.45), "al-Hasakah": (40.74, 36.50),
               "Deir ez-Zor": (40.14, 35.33), "al-Yaarubiyah": (42.06, 36.81)}


@pytest.fixture(scope="module")
def border(iraq_syria) -> Border:
    return Border.from_scenario(iraq_syria)


def test_projected_length_agrees_with_geodesic(border):
    assert border.length_km == pytest.approx(border.geodesic_length_km, rel=1e-3)


def test_towns_fall_on_the_right_side(border):
    iq = border.locate_lonlat(*np.array(list(TOWNS_IRAQ.values())).T)
    sy = border.locate_lonlat(*np.array(list(TOWNS_SYRIA.values())).T)
    assert (iq.side == 1).all(), dict(zip(TOWNS_IRAQ, iq.signed_distance_m))
    assert (sy.side == -1).all(), dict(zip(TOWNS_SYRIA, sy.signed_distance_m))


def test_al_qaim_crossing_is_near_km_365(border):
    loc = border.locate_lonlat([40.985], [34.395])
    assert 355 < loc.chainage_km[0] < 375
    assert abs(loc.signed_distance_m[0]) < 5000


def test_sectors_cover_the_border_evenly(border, iraq_syria):
    s = border.sectors
    assert s.start_km[0] == 0.0
    assert s.end_km[-1] == pytest.approx(border.length_km)
    assert np.allclose(np.diff(s.start_km), s.length_km)
    assert abs(s.length_km - iraq_syria.border.sector_km) < iraq_syria.border.sector_km / 2
    assert s.of([0.0, s.length_km * 1.5, border.length_km]).tolist() == [0, 1, len(s) - 1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50))
def test_chainage_round_trip(border, fractions):
    km = np.array(fractions) * border.length_km
    x, y = border.point_at(km)
    loc = border.locate(x, y)
    assert np.allclose(loc.chainage_km, km, atol=1e-6)
    assert np.allclose(loc.signed_distance_m, 0.0, atol=1e-3)


@settings(max_examples=200, deadline=None)
@given(st.floats(1.0, 598.0), st.floats(50.0, 3000.0), st.sampled_from([1.0, -1.0]))
def test_offset_along_the_own_normal_changes_side_not_chainage(border, km, offset, sign):
    """A point a short step off a straight stretch keeps its chainage and takes the side of the step."""
    (x,), (y,) = border.point_at([km])
    (nx, ny), = border.own_normal_at([km])
    loc = border.locate([x + sign * offset * nx], [y + sign * offset * ny])
    # Near a vertex the nearest point may move to the neighbouring segment;
    # the side and distance bound hold regardless.
    assert loc.side[0] == int(sign)
    assert abs(loc.signed_distance_m[0]) <= offset + 1e-6


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(-300e3, 300e3), st.floats(-300e3, 300e3)), min_size=1, max_size=40))
def test_distance_matches_shapely_and_side_matches_a_polygon(border, pts):
    xy = np.array(pts)
    loc = border.locate(xy[:, 0], xy[:, 1])
    line = shapely.LineString(border.xy)
    expected = shapely.distance(line, shapely.points(xy))
    assert np.allclose(np.abs(loc.signed_distance_m), expected, rtol=1e-9, atol=1e-6)
    # Independent side test: the own side as a polygon closed far to the left
    # of the north-to-south line (the bundled own side is "left").
    own = _own_side_polygon(border)
    inside = shapely.contains_xy(own, xy[:, 0], xy[:, 1])
    clear = np.abs(loc.signed_distance_m) > 1.0
    assert np.array_equal(inside[clear], loc.side[clear] == 1)


def _own_side_polygon(border: Border) -> shapely.Polygon:
    """The own (left) side: extend both ends far along their end segments and wrap east."""
    xy = border.xy
    d0 = (xy[0] - xy[1]) / np.linalg.norm(xy[0] - xy[1])
    d1 = (xy[-1] - xy[-2]) / np.linalg.norm(xy[-1] - xy[-2])
    far = 5e6
    start, end = xy[0] + d0 * far, xy[-1] + d1 * far
    # Walking north to south, "left" is east here: close the ring through the far east.
    ring = np.vstack([start, xy, end, [end[0] + far, end[1]], [far * 2, 0], [start[0] + far, start[1]]])
    poly = shapely.Polygon(ring)
    assert poly.is_valid
    return poly


def test_right_hand_own_side_flips_every_sign(border):
    mirror = Border(border.xy, "right", border.projection, 25.0)
    pts = np.array([[0.0, 0.0], [50e3, -20e3], [-80e3, 100e3]])
    a = border.locate(pts[:, 0], pts[:, 1]).signed_distance_m
    b = mirror.locate(pts[:, 0], pts[:, 1]).signed_distance_m
    assert np.allclose(a, -b)


def test_locate_is_vectorised_over_many_points(border):
    rng = np.random.default_rng(1)
    pts = rng.uniform(-250e3, 250e3, size=(200_000, 2))
    loc = border.locate(pts[:, 0], pts[:, 1])
    assert loc.chainage_km.shape == (200_000,)
    assert ((loc.chainage_km >= 0) & (loc.chainage_km <= border.length_km)).all()


def test_bad_points_are_refused_clearly(border):
    with pytest.raises(GeometryError, match="finite"):
        border.locate([np.nan], [0.0])
    with pytest.raises(GeometryError, match="differ in length"):
        border.locate([0.0, 1.0], [0.0])


def test_vertex_region_sides_on_a_sharp_corner():
    """A V-shaped border: points inside the corner's wedge get the side of the pseudo-normal."""
    proj = LocalProjection.from_string("+proj=tmerc +lat_0=0 +lon_0=0 +units=m +ellps=WGS84")
    # North to south, with a sharp turn at the origin; own side is left (east-ish).
    b = Border(np.array([[-1000.0, 1000.0], [0.0, 0.0], [-1000.0, -1000.0]]), "left", proj, 1.0)
    loc = b.locate([500.0, -500.0, 100.0, -2000.0], [0.0, 0.0, 0.0, 0.0])
    assert loc.side.tolist() == [1, -1, 1, -1]
