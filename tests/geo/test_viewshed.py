"""Viewshed: cell for cell against gdal_viewshed, and geometry we can check by hand.

The agreement tests write GeoTIFFs, run the real ``gdal_viewshed`` on them and
compare its raster with ours over every cell either side calls in range. The
hand-built DEMs (a ridge, a flat plain) check what any correct viewshed must
do, whatever GDAL says. Every DEM here is float32 (as ``Terrain`` holds it),
so the Numba kernel compiles once for the whole module.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.transform import Affine, from_origin

from borderwatch.errors import GeometryError, TerrainError
from borderwatch.geo.terrain import Terrain
from borderwatch.geo.viewshed import Viewshed, viewshed, viewshed_from_terrain

GDAL_VIEWSHED = shutil.which("gdal_viewshed")
needs_gdal = pytest.mark.skipif(
    GDAL_VIEWSHED is None,
    reason="gdal_viewshed is not installed (apt install gdal-bin); CI installs it")

EPSG = "EPSG:32638"  # UTM 38N (WGS 84): metres, semi-major axis 6378137 m
CELL = 30.0
N = 600
T = from_origin(400_000.0, 3_700_000.0, CELL, CELL)
R_WGS84 = 6_378_137.0
VIS, INVIS, OUT = 255, 0, 7  # gdal_viewshed -vv / -iv / -ov
MIN_AGREEMENT = 0.995
T_RECT = from_origin(400_000.0, 3_700_000.0, 30.0, 20.0)


def fractal(n: int, seed: int, relief_m: float, beta: float) -> np.ndarray:
    """Rough terrain with a power-law spectrum (beta ~3-4 looks like real hills)."""
    rng = np.random.default_rng(seed)
    k = np.hypot(np.fft.fftfreq(n)[None, :], np.fft.fftfreq(n)[:, None])
    k[0, 0] = 1.0
    amp = k ** (-beta / 2)
    amp[0, 0] = 0.0
    z = np.real(np.fft.ifft2(amp * np.exp(2j * np.pi * rng.random((n, n)))))
    return ((z - z.min()) / np.ptp(z) * relief_m + 200.0).astype(np.float32)


def write_dem(path: Path, z: np.ndarray, transform: Affine = T) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1,
                       dtype="float32", crs=EPSG, transform=transform) as dst:
        dst.write(z, 1)
    return path


def xy(row: int, col: int, t: Affine = T) -> tuple[float, float]:
    """A point a quarter cell into (row, col): the same cell whether a GDAL
    version truncates or rounds the observer's fractional position."""
    return t.c + (col + 0.25) * t.a, t.f + (row + 0.25) * t.e


def gdal_codes(dem: Path, shape, x, y, *, oz, tz, md, cc, out: Path, t: Affine = T) -> np.ndarray:
    """gdal_viewshed's answer on the full grid: VIS / INVIS / OUT."""
    cmd = [GDAL_VIEWSHED, "-q", "-ox", repr(x), "-oy", repr(y), "-oz", repr(oz), "-tz", repr(tz),
           "-md", repr(md), "-cc", repr(cc), "-vv", str(VIS), "-iv", str(INVIS), "-ov", str(OUT),
           str(dem), str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    with rasterio.open(out) as ds:
        g, gt = ds.read(1), ds.transform
    r0, c0 = round((gt.f - t.f) / t.e), round((gt.c - t.c) / t.a)
    full = np.full(shape, OUT, dtype=np.uint8)
    full[r0:r0 + g.shape[0], c0:c0 + g.shape[1]] = g
    return full


def our_codes(v: Viewshed, shape) -> np.ndarray:
    full = np.full(shape, OUT, dtype=np.uint8)
    rows, cols = v.visible.shape
    full[v.row0:v.row0 + rows, v.col0:v.col0 + cols] = np.where(
        v.in_range, np.where(v.visible, VIS, INVIS), OUT)
    return full


def agreement(ours: np.ndarray, gdal: np.ndarray) -> tuple[float, int]:
    """Share of cells identical, over the cells either side calls in range."""
    mask = (ours != OUT) | (gdal != OUT)
    return float(np.mean(ours[mask] == gdal[mask])), int(mask.sum())


@pytest.fixture(scope="module")
def gdal_version() -> str:
    if GDAL_VIEWSHED is None:
        return "not installed"
    done = subprocess.run([GDAL_VIEWSHED, "--version"], capture_output=True, text=True)
    return (done.stdout.strip().splitlines() or ["unknown version"])[0]


@pytest.fixture(scope="module")
def rough(tmp_path_factory):
    """600 x 600 cells of 30 m, 150 m of relief: hills and valleys at all scales."""
    z = fractal(N, seed=7, relief_m=150.0, beta=3.4)
    return write_dem(tmp_path_factory.mktemp("dem") / "rough.tif", z), z


@pytest.fixture(scope="module")
def rough_rect(tmp_path_factory):
    """The rough terrain on rectangular 30 m x 20 m cells."""
    z = fractal(N, seed=11, relief_m=120.0, beta=3.4)
    return write_dem(tmp_path_factory.mktemp("dem") / "rect.tif", z, T_RECT), z


@pytest.fixture(scope="module")
def gentle(tmp_path_factory):
    """Nearly flat (10 m of relief): here earth curvature decides what is seen."""
    z = fractal(N, seed=3, relief_m=10.0, beta=3.6)
    return write_dem(tmp_path_factory.mktemp("dem") / "gentle.tif", z), z


# --------------------------------------------------------------------------- vs gdal_viewshed

def _peak(z: np.ndarray) -> tuple[int, int]:
    r, c = np.unravel_index(int(np.argmax(z)), z.shape)
    return int(r), int(c)


CASES = [
    # (observer, oz, tz, md)
    ("centre", 10.0, 0.0, 8000.0),
    ("centre", 10.0, 2.0, 8000.0),
    ("near the north-east edge", 12.0, 0.0, 9000.0),
    ("near the north-east edge", 12.0, 1.5, 6000.0),
    ("on the highest ridge", 2.0, 0.0, 10000.0),
    ("on the highest ridge", 20.0, 3.0, 5000.0),
]


@needs_gdal
@pytest.mark.parametrize("where,oz,tz,md", CASES)
def test_agrees_with_gdal_viewshed(rough, tmp_path, gdal_version, where, oz, tz, md):
    path, z = rough
    rc = {"centre": (300, 300), "near the north-east edge": (12, 585),
          "on the highest ridge": _peak(z)}[where]
    x, y = xy(*rc)
    gdal = gdal_codes(path, z.shape, x, y, oz=oz, tz=tz, md=md, cc=0.85714,
                      out=tmp_path / "vs.tif")
    v = viewshed(z, T, (x, y), observer_height_m=oz, target_height_m=tz, max_distance_m=md)
    share, cells = agreement(our_codes(v, z.shape), gdal)
    assert share >= MIN_AGREEMENT, (
        f"observer {where} {rc}, oz={oz} tz={tz} md={md}: only {share:.4%} of {cells} cells "
        f"agree with {gdal_version}")
    # The comparison has teeth: a real mix of seen and hidden cells.
    assert 0.03 < v.visible_fraction < 0.9, v.visible_fraction
    assert (gdal == VIS).sum() > 1000 and (gdal == INVIS).sum() > 1000


@needs_gdal
@pytest.mark.parametrize("rc,oz,tz,md", [((300, 300), 10.0, 0.0, 7000.0),
                                         ((40, 500), 15.0, 2.0, 9000.0)])
def test_agrees_with_gdal_on_rectangular_cells(rough_rect, tmp_path, gdal_version, rc, oz, tz, md):
    path, z = rough_rect
    x, y = xy(*rc, T_RECT)
    gdal = gdal_codes(path, z.shape, x, y, oz=oz, tz=tz, md=md, cc=0.85714,
                      out=tmp_path / "vs.tif", t=T_RECT)
    v = viewshed(z, T_RECT, (x, y), observer_height_m=oz, target_height_m=tz, max_distance_m=md)
    share, cells = agreement(our_codes(v, z.shape), gdal)
    assert share >= MIN_AGREEMENT, (
        f"30 x 20 m cells, observer {rc}: only {share:.4%} of {cells} cells agree with "
        f"{gdal_version}")
    assert 0.03 < v.visible_fraction < 0.9, v.visible_fraction
    # the range is a circle in metres: 30 m steps along the row, 20 m down the column
    orow, ocol = rc[0] - v.row0, rc[1] - v.col0
    idx = np.arange(N)
    assert v.in_range[orow].sum() == np.count_nonzero(np.abs(idx - rc[1]) * 30.0 <= md)
    assert v.in_range[:, ocol].sum() == np.count_nonzero(np.abs(idx - rc[0]) * 20.0 <= md)


@needs_gdal
def test_curvature_coefficient_matches_gdal(gentle, tmp_path, gdal_version):
    """-cc 0.85714 (GDAL's default), 0 and 1 each agree with GDAL, and each one
    differs from the others by more than our tolerance, so a wrong coefficient
    or earth radius would fail here."""
    path, z = gentle
    x, y = xy(300, 300)
    coeffs = (0.85714, 0.0, 1.0)
    gdal = {cc: gdal_codes(path, z.shape, x, y, oz=3.0, tz=0.0, md=9000.0, cc=cc,
                           out=tmp_path / f"vs_{cc}.tif") for cc in coeffs}
    ours = {cc: our_codes(viewshed(z, T, (x, y), observer_height_m=3.0, max_distance_m=9000.0,
                                   curvature_coeff=cc), z.shape) for cc in coeffs}
    for cc in coeffs:
        for other in coeffs:
            share, cells = agreement(ours[cc], gdal[other])
            if cc == other:
                assert share >= MIN_AGREEMENT, (
                    f"-cc {cc}: only {share:.4%} of {cells} cells agree with {gdal_version}")
            else:
                assert share < MIN_AGREEMENT, (
                    f"ours at cc={cc} vs GDAL at -cc {other} agree {share:.4%}: the terrain "
                    "does not tell curvature settings apart")


def test_from_terrain_matches_the_array_call(rough):
    path, z = rough
    terrain = Terrain.open(path)
    x, y = xy(300, 300)
    a = viewshed_from_terrain(terrain, x, y, observer_height_m=10.0, max_distance_m=5000.0)
    b = viewshed(z, T, (x, y), observer_height_m=10.0, max_distance_m=5000.0)
    assert (a.row0, a.col0, a.observer_rc) == (b.row0, b.col0, b.observer_rc)
    assert (b.row0, b.col0, b.observer_rc) == (133, 133, (300, 300))
    assert np.array_equal(a.visible, b.visible) and np.array_equal(a.in_range, b.in_range)
    # a column-major copy of the grid goes through the window-copy path: same answer
    c = viewshed(np.asfortranarray(z), T, (x, y), observer_height_m=10.0, max_distance_m=5000.0)
    assert np.array_equal(c.visible, b.visible) and (c.row0, c.col0) == (b.row0, b.col0)


def test_from_terrain_takes_the_scenario_local_crs(rough):
    """A Terrain opened with a local CRS takes the observer in local coordinates,
    as Terrain.sample does."""
    path, z = rough
    local = ProjCRS("+proj=tmerc +lat_0=33.4 +lon_0=43.9 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 "
                    "+units=m +no_defs")
    terrain = Terrain.open(path, local_crs=local)
    x, y = xy(250, 320)
    lx, ly = Transformer.from_crs(EPSG, local, always_xy=True).transform(x, y)
    a = viewshed_from_terrain(terrain, lx, ly, observer_height_m=10.0, max_distance_m=4000.0)
    b = viewshed(z, T, (x, y), observer_height_m=10.0, max_distance_m=4000.0)
    assert a.observer_rc == b.observer_rc == (250, 320)
    assert np.array_equal(a.visible, b.visible)


# --------------------------------------------------------------------------- by hand

def flat(n: int, height: float = 100.0) -> np.ndarray:
    return np.full((n, n), height, dtype=np.float32)


def grid_xy(n: int):
    t = from_origin(0.0, n * CELL, CELL, CELL)
    return t, (lambda row, col: (t.c + (col + 0.5) * CELL, t.f - (row + 0.5) * CELL))


def distances(v: Viewshed) -> np.ndarray:
    rr, cc = np.indices(v.visible.shape)
    orow, ocol = v.observer_rc
    return np.hypot((rr + v.row0 - orow) * CELL, (cc + v.col0 - ocol) * CELL)


def test_ridge_hides_everything_behind_it():
    """A 100 m north-south ridge 900 m east of a 2 m observer on a plain."""
    n = 201
    z = flat(n, 0.0)
    profile = {128: 20.0, 129: 50.0, 130: 80.0, 131: 100.0, 132: 80.0, 133: 50.0, 134: 20.0}
    for col, h in profile.items():
        z[:, col] = h
    t, at = grid_xy(n)
    v = viewshed(z, t, at(100, 100), observer_height_m=2.0, max_distance_m=2900.0)
    vis = v.full_visible(z.shape)
    inr = np.zeros(z.shape, bool)
    inr[v.row0:v.row0 + v.shape[0], v.col0:v.col0 + v.shape[1]] = v.in_range
    assert v.observer_rc == (100, 100) and vis[100, 100]
    assert inr[:, 132:].sum() > 2000
    assert not vis[:, 132:].any(), "a cell behind the ridge crest is visible"
    assert vis[:, :128][inr[:, :128]].all(), "a cell on the open plain before the ridge is hidden"
    crest = inr[:, 131]
    assert crest.sum() > 150 and vis[crest, 131].all(), "the ridge crest is not visible"
    assert vis[inr[:, 130], 130].all(), "the slope facing the observer is not visible"


def test_flat_plain_without_curvature_is_all_visible():
    n = 161
    t, at = grid_xy(n)
    v = viewshed(flat(n), t, at(80, 80), observer_height_m=2.0, max_distance_m=2000.0,
                 curvature_coeff=0.0)
    assert v.visible_fraction == 1.0
    assert np.array_equal(v.visible, v.in_range)
    # in range = cell centre within 2000 m of the observer's cell centre, nothing else
    assert np.array_equal(v.in_range, distances(v) <= 2000.0)
    assert v.in_range.sum() == np.count_nonzero(
        np.hypot(*np.mgrid[-80:81, -80:81] * CELL) <= 2000.0)


@pytest.mark.parametrize("h,cc", [(2.0, 0.85714), (2.0, 1.0), (4.0, 0.85714)])
def test_curvature_hides_the_plain_beyond_the_horizon(h, cc):
    """On a flat earth-curved plain an eye h metres up sees the ground out to
    sqrt(2 R h / cc) (the drop cc d^2 / 2R is GDAL's correction), not beyond."""
    n = 561
    t, at = grid_xy(n)
    v = viewshed(flat(n, 0.0), t, at(280, 280), observer_height_m=h, max_distance_m=8300.0,
                 curvature_coeff=cc, earth_radius_m=R_WGS84)
    horizon = math.sqrt(2.0 * R_WGS84 * h / cc)
    d = distances(v)
    assert v.in_range[d > 1.02 * horizon].sum() > 1000
    assert v.visible[d < 0.99 * horizon].all(), "ground inside the horizon is hidden"
    assert not v.visible[d > 1.01 * horizon].any(), "ground beyond the horizon is visible"
    seen = d[v.visible].max()
    assert abs(seen / horizon - 1.0) < 0.01, (seen, horizon)


def test_target_height_sees_over_the_horizon():
    n = 561
    t, at = grid_xy(n)
    kw = dict(observer_height_m=2.0, max_distance_m=8300.0)
    ground = viewshed(flat(n, 0.0), t, at(280, 280), **kw)
    mast = viewshed(flat(n, 0.0), t, at(280, 280), target_height_m=1.0, **kw)
    assert mast.visible.sum() > ground.visible.sum()
    assert not (ground.visible & ~mast.visible).any()
    # eye 2 m, target 1 m: seen out to sqrt(2R/cc) (sqrt(2) + 1) ~ 9.3 km: the whole disc here
    assert mast.visible_fraction == 1.0


def test_no_data_blocks_and_is_not_visible():
    """GDAL 3.6 would call the NaN band and everything behind it visible; we do not."""
    n = 121
    z = flat(n)
    z[:, 80:82] = np.nan
    t, at = grid_xy(n)
    v = viewshed(z, t, at(60, 60), observer_height_m=5.0, max_distance_m=1700.0,
                 curvature_coeff=0.0)
    vis = v.full_visible(z.shape)
    inr = np.zeros(z.shape, bool)
    inr[v.row0:v.row0 + v.shape[0], v.col0:v.col0 + v.shape[1]] = v.in_range
    assert inr[:, 82:].sum() > 500
    assert not vis[:, 80:].any()
    assert vis[:, :80][inr[:, :80]].all()


def test_window_covers_just_the_range():
    n = 400
    t, at = grid_xy(n)
    v = viewshed(flat(n), t, at(200, 100), observer_height_m=2.0, max_distance_m=1500.0)
    assert (v.row0, v.col0, v.shape) == (150, 50, (101, 101))  # GDAL's window: 50 cells each way
    assert v.visible.dtype == bool and v.in_range.dtype == bool
    assert v.visible_fraction == pytest.approx(v.visible.sum() / v.in_range.sum())
    # clipped by the DEM edge: observer 3 cells from the west edge
    w = viewshed(flat(n), t, at(200, 3), observer_height_m=2.0, max_distance_m=1500.0)
    assert (w.row0, w.col0, w.shape) == (150, 0, (101, 54)) and w.observer_rc == (200, 3)


# --------------------------------------------------------------------------- errors

def test_observer_outside_the_dem():
    t, _ = grid_xy(50)
    with pytest.raises(GeometryError, match=r"observer \(1600\.0, 700\.0\) is outside the DEM "
                       r"bounds \(left 0\.0, bottom 0\.0, right 1500\.0, top 1500\.0\)"):
        viewshed(flat(50), t, (1600.0, 700.0), observer_height_m=2.0, max_distance_m=500.0)


@pytest.mark.parametrize("md", [0.0, -5.0])
def test_range_must_be_positive(md):
    t, at = grid_xy(50)
    with pytest.raises(GeometryError, match=f"range must be > 0 m, got {md:g}$"):
        viewshed(flat(50), t, at(25, 25), observer_height_m=2.0, max_distance_m=md)


def test_observer_on_no_data():
    z = flat(50)
    z[25, 25] = np.nan
    t, at = grid_xy(50)
    with pytest.raises(TerrainError, match=r"stands on a no-data DEM cell \(row 25, col 25\)"):
        viewshed(z, t, at(25, 25), observer_height_m=2.0, max_distance_m=500.0)


@pytest.mark.parametrize("kw,msg", [
    ({"observer_height_m": -1.0}, "observer height must be >= 0 m, got -1"),
    ({"observer_height_m": 2.0, "target_height_m": -0.5}, "target height must be >= 0 m, got -0.5"),
    ({"observer_height_m": float("nan")}, "observer_height_m must be finite, got nan"),
])
def test_bad_heights(kw, msg):
    t, at = grid_xy(50)
    with pytest.raises(GeometryError, match=msg.replace(".", r"\.")):
        viewshed(flat(50), t, at(25, 25), max_distance_m=500.0, **kw)


def test_transform_must_be_north_up():
    south_up = Affine(CELL, 0.0, 0.0, 0.0, CELL, 0.0)
    with pytest.raises(TerrainError, match="north-up"):
        viewshed(flat(50), south_up, (700.0, 700.0), observer_height_m=2.0, max_distance_m=500.0)
    rotated = Affine(CELL, 1.0, 0.0, 0.0, -CELL, 1500.0)
    with pytest.raises(TerrainError, match="north-up"):
        viewshed(flat(50), rotated, (700.0, 700.0), observer_height_m=2.0, max_distance_m=500.0)


def test_geographic_terrain_is_refused():
    z = flat(50)
    terrain = Terrain(z, from_origin(44.0, 36.0, 0.001, 0.001), ProjCRS("EPSG:4326"),
                      synthetic=True)
    with pytest.raises(TerrainError, match="not projected in metres"):
        viewshed_from_terrain(terrain, 44.02, 35.98, observer_height_m=2.0, max_distance_m=500.0)
