"""Terrain sampling against DEMs whose true surface we know."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin

from borderwatch.errors import TerrainError
from borderwatch.geo import Border, Terrain

CRS = "+proj=tmerc +lat_0=0.15 +lon_0=0.11 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
LEFT, TOP, CELL = -5000.0, 4000.0, 50.0
ROWS, COLS = 160, 200


def plane(x, y):
    return 250.0 + 0.01 * (x - LEFT) - 0.02 * (y - TOP)


@pytest.fixture(scope="module")
def plane_dem(tmp_path_factory) -> Path:
    """A tilted plane sampled at cell centres: bilinear sampling must return it exactly."""
    path = tmp_path_factory.mktemp("dem") / "plane.tif"
    cols = LEFT + (np.arange(COLS) + 0.5) * CELL
    rows = TOP - (np.arange(ROWS) + 0.5) * CELL
    xx, yy = np.meshgrid(cols, rows)
    z = plane(xx, yy).astype(np.float32)
    z[10:12, 20:22] = -9999.0
    with rasterio.open(path, "w", driver="GTiff", width=COLS, height=ROWS, count=1, dtype="float32",
                       crs=CRS, transform=from_origin(LEFT, TOP, CELL, CELL), nodata=-9999.0) as dst:
        dst.write(z, 1)
    return path


def test_grid_facts(plane_dem):
    t = Terrain.open(plane_dem)
    assert t.shape == (ROWS, COLS)
    assert t.resolution_m == (CELL, CELL)
    b = t.bounds
    assert (b.left, b.top, b.right, b.bottom) == (LEFT, TOP, LEFT + COLS * CELL, TOP - ROWS * CELL)
    assert not t.synthetic
    assert t.nodata_fraction == pytest.approx(4 / (ROWS * COLS))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(LEFT + CELL, LEFT + (COLS - 1) * CELL),
                          st.floats(TOP - (ROWS - 1) * CELL, TOP - CELL)), min_size=1, max_size=30))
def test_bilinear_reproduces_a_plane(plane_dem, pts):
    t = Terrain.open(plane_dem)
    xy = np.array(pts)
    z = t.sample(xy[:, 0], xy[:, 1])
    ok = np.isfinite(z)  # points touching the no-data block are NaN, by design
    assert np.allclose(z[ok], plane(xy[ok, 0], xy[ok, 1]), atol=1e-3)
    assert ok.mean() > 0.5 or len(pts) < 4


def test_outside_and_nodata_are_nan(plane_dem):
    t = Terrain.open(plane_dem)
    x_hole = LEFT + 20.7 * CELL
    y_hole = TOP - 10.7 * CELL
    z = t.sample([LEFT - 10.0, LEFT + COLS * CELL + 10.0, x_hole, 0.0], [0.0, 0.0, y_hole, 0.0])
    assert np.isnan(z[:3]).all()
    assert np.isfinite(z[3])
    assert np.isnan(t.sample([x_hole], [y_hole], method="nearest"))[0]


def test_sampling_through_another_local_crs(plane_dem):
    """Points given in a different metric CRS are transformed before sampling."""
    other = "+proj=tmerc +lat_0=0.15 +lon_0=0.12 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    t = Terrain.open(plane_dem, local_crs=other)
    from pyproj import Transformer

    x, y = Transformer.from_crs(CRS, other, always_xy=True).transform(1000.0, -2000.0)
    assert t.sample([x], [y])[0] == pytest.approx(plane(1000.0, -2000.0), abs=0.05)


def test_unknown_method_and_unreadable_file(plane_dem, tmp_path):
    t = Terrain.open(plane_dem)
    with pytest.raises(TerrainError, match='unknown sampling method "cubic"'):
        t.sample([0.0], [0.0], method="cubic")
    bad = tmp_path / "bad.tif"
    bad.write_text("nope")
    with pytest.raises(TerrainError, match="bad.tif: not a readable raster"):
        Terrain.open(bad)


def test_bundled_synthetic_dem_covers_and_is_labelled(iraq_syria):
    t = Terrain.from_scenario(iraq_syria)
    assert t.synthetic and "SYNTHETIC" in t.label
    b = Border.from_scenario(iraq_syria)
    x, y = b.point_at(np.linspace(0, b.length_km, 3000))
    z = t.sample(x, y)
    assert np.isfinite(z).all()
    assert 100.0 < z.min() and z.max() < 1500.0


def test_bundled_dem_has_the_named_features(iraq_syria):
    """The synthetic DEM is shaped on public features: a high Sinjar ridge, a low Euphrates valley."""
    t = Terrain.from_scenario(iraq_syria)
    b = Border.from_scenario(iraq_syria)
    x, y = b.projection.to_xy([41.85, 41.09, 38.70], [36.37, 34.37, 33.45])  # Sinjar, al-Qa'im, al-Tanf
    sinjar, qaim, tanf = t.sample(x, y)
    assert sinjar > 1000.0
    assert qaim < 250.0
    assert 550.0 < tanf < 850.0
