"""Batched line of sight: ridges block, curvature hides the far flat, batches equal pairs."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.transform import from_origin
from pyproj import CRS

from borderwatch.errors import GeometryError
from borderwatch.geo import Terrain
from borderwatch.geo.visibility import EARTH_RADIUS_M, line_of_sight, visibility_matrix

LOCAL = CRS.from_user_input("+proj=tmerc +lat_0=0 +lon_0=0 +units=m +ellps=WGS84")


def grid(z: np.ndarray, cell: float = 30.0) -> Terrain:
    rows, cols = z.shape
    return Terrain(z.astype(np.float32), from_origin(0.0, rows * cell, cell, cell), LOCAL, synthetic=True)


@pytest.fixture
def ridge() -> Terrain:
    """Flat at 100 m with a 60 m high north-south ridge at x = 3000-3090 m."""
    z = np.full((200, 300), 100.0)
    z[:, 100:103] = 160.0
    return grid(z)


def test_ridge_blocks_what_lies_behind(ridge):
    obs = np.array([[1500.0, 3000.0]])
    xs = np.array([2000.0, 2900.0, 3015.0, 3300.0, 5000.0, 8500.0])  # 3015: the front crest cell
    tgt = np.column_stack([xs, np.full_like(xs, 3000.0)])
    seen = line_of_sight(ridge, np.repeat(obs, len(xs), axis=0), 10.0, tgt, 0.0, curvature_coeff=0.0)
    assert seen.tolist() == [True, True, True, False, False, False]


def test_a_high_enough_mast_sees_over_the_ridge(ridge):
    # From 1500 m back, the crest (60 m up at 1500 m) hides ground 4000 m behind it
    # unless the mast top is above the crest's sight line: 10 m does not, 200 m does.
    obs = np.array([[1500.0, 3000.0]])
    tgt = np.array([[7000.0, 3000.0]])
    assert not line_of_sight(ridge, obs, 10.0, tgt, 0.0, curvature_coeff=0.0)[0]
    assert line_of_sight(ridge, obs, 200.0, tgt, 0.0, curvature_coeff=0.0)[0]


def test_curvature_hides_the_far_flat():
    flat = grid(np.full((20, 1400), 50.0), cell=30.0)   # 42 km long
    h, cc = 20.0, 0.85714
    horizon = np.sqrt(2 * EARTH_RADIUS_M * h / cc)       # ~17.2 km for ground targets
    xs = np.array([horizon * 0.9, horizon * 1.1])
    obs = np.tile([[15.0, 300.0]], (2, 1))
    tgt = np.column_stack([15.0 + xs, np.full(2, 300.0)])
    assert line_of_sight(flat, obs, h, tgt, 0.0, curvature_coeff=cc).tolist() == [True, False]
    assert line_of_sight(flat, obs, h, tgt, 0.0, curvature_coeff=0.0).tolist() == [True, True]


def test_nodata_blocks_and_nodata_targets_are_unseen():
    z = np.full((50, 200), 100.0)
    z[:, 100] = np.nan
    t = grid(z)
    obs = np.array([[300.0, 750.0], [300.0, 750.0], [300.0, 750.0]])
    tgt = np.array([[2000.0, 750.0], [4000.0, 750.0], [3015.0, 750.0]])
    assert line_of_sight(t, obs, 5.0, tgt, 0.0, curvature_coeff=0.0).tolist() == [True, False, False]


def test_matrix_equals_pairwise_rays():
    rng = np.random.default_rng(3)
    z = 200.0 + np.cumsum(np.cumsum(rng.normal(0, 0.5, (150, 150)), axis=0), axis=1) * 0.1
    t = grid(z, cell=50.0)
    sites = rng.uniform(500, 7000, size=(15, 2))
    targets = rng.uniform(500, 7000, size=(60, 2))
    m = visibility_matrix(t, sites, 15.0, targets, 2.0, 4000.0).toarray()
    for i, s in enumerate(sites):
        d = np.hypot(*(targets - s).T)
        near = d <= 4000.0
        rays = line_of_sight(t, np.repeat(s[None], near.sum(), 0), 15.0, targets[near], 2.0)
        assert np.array_equal(m[i, near], rays)
        assert not m[i, ~near].any()


def test_bad_arguments():
    t = grid(np.full((10, 10), 1.0))
    with pytest.raises(GeometryError, match="sensor range must be > 0 m, got 0"):
        visibility_matrix(t, np.zeros((1, 2)), 10.0, np.zeros((1, 2)), 0.0, 0.0)
    with pytest.raises(GeometryError, match="differ in number"):
        line_of_sight(t, np.zeros((2, 2)), 1.0, np.zeros((1, 2)), 0.0)
    with pytest.raises(GeometryError, match=">= 0 m"):
        line_of_sight(t, np.zeros((1, 2)), -1.0, np.zeros((1, 2)), 0.0)


def test_rays_agree_with_the_gdal_compatible_viewshed(iraq_syria):
    """Both engines answer the same question; at cell centres they agree on nearly every cell.

    They differ by construction at grazing angles (GDAL's horizon is interpolated
    from the previous ring of cells, our rays sample the DEM bilinearly), so the
    bar is high but not 100%.
    """
    from borderwatch.geo import Border
    from borderwatch.geo.viewshed import viewshed

    t = Terrain.from_scenario(iraq_syria)
    b = Border.from_scenario(iraq_syria)
    for km in (100.0, 300.0, 500.0):
        (x,), (y,) = b.point_at([km])
        (nx, ny), = b.own_normal_at([km])
        v = viewshed(t.elevation, t.transform, (x + 1000 * nx, y + 1000 * ny), observer_height_m=20.0,
                     target_height_m=1.8, max_distance_m=10_000.0)
        rr, cc = np.nonzero(v.in_range)
        cx = t.transform.c + (cc + v.col0 + 0.5) * t.transform.a
        cy = t.transform.f + (rr + v.row0 + 0.5) * t.transform.e
        orow, ocol = v.observer_rc
        obs = [t.transform.c + (ocol + 0.5) * t.transform.a, t.transform.f + (orow + 0.5) * t.transform.e]
        rays = line_of_sight(t, np.tile(obs, (len(cx), 1)), 20.0, np.column_stack([cx, cy]), 1.8)
        agree = (rays == v.visible[rr, cc]).mean()
        assert agree > 0.97, f"km {km}: rays and viewshed agree on only {100 * agree:.2f}% of cells"
