"""Tests for importing real DEM tiles into one scenario GeoTIFF.

Every test writes its own small GeoTIFF tiles whose elevations are a known
analytic function of longitude/latitude, so the output can be checked cell by
cell against the truth rather than against a stored snapshot.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import Affine

from borderwatch.errors import BorderwatchError, TerrainError
from borderwatch.geo import dem_import
from borderwatch.geo.dem_import import NODATA, ImportReport, import_dem

TARGET = "+proj=tmerc +lat_0=0.05 +lon_0=0.1 +ellps=WGS84 +units=m"
CELL_3 = 1 / 1200  # 3 arc-seconds, ~90 m
CELL_1 = 1 / 3600  # 1 arc-second, ~30 m
BUFFER = 1_500.0
RES = 90.0

# North end first; crosses the lon = 0.1 seam between the two test tiles.
BORDER_LONLAT = np.array([[0.10, 0.09], [0.12, 0.05], [0.08, 0.01]])

TO_LOCAL = Transformer.from_crs("EPSG:4326", TARGET, always_xy=True)
TO_LONLAT = Transformer.from_crs(TARGET, "EPSG:4326", always_xy=True)


def elevation(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The terrain every tile samples: a plane in lon/lat, so truth is known everywhere."""
    return 100.0 + 1000.0 * lon + 500.0 * lat


def constant(value: float):
    """A flat terrain, to tell which tile a cell came from."""
    return lambda lon, lat: np.full_like(lon, value)


def border_xy(lonlat: np.ndarray = BORDER_LONLAT) -> np.ndarray:
    x, y = TO_LOCAL.transform(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([x, y])


def write_tile(
    path: Path,
    west: float,
    south: float,
    east: float,
    north: float,
    *,
    cell: float = CELL_3,
    crs: str | None = "EPSG:4326",
    values=elevation,
    dtype: str = "int16",
    nodata: float | None = -32768,
) -> Path:
    """Write a north-up tile over [west, east] x [south, north] in ``crs`` units.

    ``values`` gets the lon/lat of every pixel centre (converted from ``crs``
    when it is projected), so tiles in any CRS sample the same terrain.
    """
    cols = round((east - west) / cell)
    rows = round((north - south) / cell)
    transform = Affine(cell, 0.0, west, 0.0, -cell, north)
    c, r = np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
    x, y = transform @ (c, r)
    if crs is not None and CRS.from_user_input(crs).is_projected:
        x, y = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    data = np.asarray(values(x, y), dtype=float)
    data = np.rint(data).astype(dtype) if np.dtype(dtype).kind == "i" else data.astype(dtype)
    profile = dict(driver="GTiff", width=cols, height=rows, count=1, dtype=dtype,
                   transform=transform, nodata=nodata)
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data, 1)
    return path


def utm_tile(
    path: Path, west: float, south: float, east: float, north: float, cell_m: float = 90.0
) -> Path:
    """A float32 UTM 31N tile covering the given lon/lat box."""
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True)
    xs, ys = to_utm.transform([west, east, west, east], [south, south, north, north])
    left, right = np.floor(min(xs) / cell_m) * cell_m, np.ceil(max(xs) / cell_m) * cell_m
    bottom, top = np.floor(min(ys) / cell_m) * cell_m, np.ceil(max(ys) / cell_m) * cell_m
    return write_tile(path, left, bottom, right, top, cell=cell_m, crs="EPSG:32631",
                      dtype="float32", nodata=-32767.0)


def two_tiles(d: Path) -> list[Path]:
    """Two adjacent 3" geographic tiles, west and east of lon 0.1."""
    return [
        write_tile(d / "west.tif", 0.0, -0.05, 0.1, 0.15),
        write_tile(d / "east.tif", 0.1, -0.05, 0.2, 0.15),
    ]


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


def read(path: Path) -> tuple[np.ndarray, Affine, dict]:
    with rasterio.open(path) as ds:
        return ds.read(1), ds.transform, {"crs": ds.crs, "nodata": ds.nodata, "dtype": ds.dtypes[0]}


def cell_centres(data: np.ndarray, transform) -> tuple[np.ndarray, np.ndarray]:
    c, r = np.meshgrid(np.arange(data.shape[1]) + 0.5, np.arange(data.shape[0]) + 0.5)
    return transform @ (c, r)


def distance_to_border(x: np.ndarray, y: np.ndarray, border: np.ndarray) -> np.ndarray:
    return shapely.distance(shapely.points(x, y), shapely.LineString(border))


# --------------------------------------------------------------------------- mosaic


def test_adjacent_tiles_mosaic_into_one_local_grid(tmp_path: Path, out_dir: Path) -> None:
    border = border_xy()
    out = out_dir / "dem.tif"
    report = import_dem(two_tiles(tmp_path), TARGET, border, out, buffer_m=BUFFER, resolution_m=RES)

    data, transform, meta = read(out)
    assert isinstance(report, ImportReport)
    assert report.path == out and report.tiles == 2
    assert meta["crs"] == CRS.from_user_input(TARGET)
    assert meta["dtype"] == "float32" and meta["nodata"] == NODATA
    assert (transform.a, transform.e) == (RES, -RES)
    assert report.resolution_m == RES and report.shape == data.shape
    left, bottom, right, top = report.bounds
    assert (left, top) == (transform.c, transform.f)
    assert all(v % RES == 0 for v in report.bounds)  # snapped to the resolution
    assert (right - left, top - bottom) == (data.shape[1] * RES, data.shape[0] * RES)
    assert left <= border[:, 0].min() - BUFFER and right >= border[:, 0].max() + BUFFER
    assert bottom <= border[:, 1].min() - BUFFER and top >= border[:, 1].max() + BUFFER

    x, y = cell_centres(data, transform)
    valid = data != NODATA
    lon, lat = TO_LONLAT.transform(x[valid], y[valid])
    # int16 rounding (0.5 m); bilinear is exact on a plane, seam included.
    np.testing.assert_allclose(data[valid], elevation(lon, lat), atol=1.0)

    dist = distance_to_border(x, y, border)
    assert not valid[dist > BUFFER].any()  # clipped to the corridor
    assert valid[dist < BUFFER - 5].all()  # ... and complete inside it
    assert (dist > BUFFER).any()

    cell_lon, _ = TO_LONLAT.transform(x, y)
    seam = (np.abs(cell_lon - 0.1) < CELL_3) & (dist < BUFFER - 5)
    assert seam.sum() > 10 and valid[seam].all()

    assert report.border_coverage == 1.0
    inside = dist <= BUFFER
    expected_nodata = 1 - valid.sum() / inside.sum()
    assert report.nodata_fraction == pytest.approx(expected_nodata, abs=0.02)
    assert report.nodata_fraction < 0.02


def test_output_file_metadata_and_nothing_else_left(tmp_path: Path, out_dir: Path) -> None:
    tiles = two_tiles(tmp_path)
    out = out_dir / "dem.tif"
    out.write_bytes(b"an older import")  # replaced, not appended to
    import_dem(
        tiles, TARGET, border_xy(), out, buffer_m=BUFFER, resolution_m=RES, resampling="cubic"
    )

    assert sorted(p.name for p in out_dir.iterdir()) == ["dem.tif"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not a private temp-file mode
    with rasterio.open(out) as ds:
        tags = ds.tags()
        assert ds.driver == "GTiff"
        assert ds.compression.name.upper() == "DEFLATE"
        assert ds.block_shapes == [(256, 256)]
        assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "3"
    assert tags["SYNTHETIC"] == "no"
    assert tags["SOURCE_TILES"] == "west.tif,east.tif"
    assert tags["IMPORTED_BY"] == "borderwatch terrain import"
    assert tags["RESAMPLING"] == "cubic"


def test_tiles_in_different_crs_mosaic_together(tmp_path: Path, out_dir: Path) -> None:
    border = border_xy()
    west = write_tile(tmp_path / "west_4326.tif", 0.0, -0.05, 0.1, 0.15)
    east = utm_tile(tmp_path / "east_32631.tif", 0.1, -0.05, 0.2, 0.15)
    out = out_dir / "dem.tif"
    report = import_dem([west, east], TARGET, border, out, buffer_m=BUFFER, resolution_m=RES)

    data, transform, _ = read(out)
    x, y = cell_centres(data, transform)
    valid = data != NODATA
    dist = distance_to_border(x, y, border)
    assert valid[dist < BUFFER - 5].all()
    assert report.border_coverage == 1.0

    lon, lat = TO_LONLAT.transform(x, y)
    only_east = (lon > 0.1 + 2 * CELL_3) & valid
    only_west = (lon < 0.1 - 2 * CELL_3) & valid
    assert only_east.sum() > 100 and only_west.sum() > 100
    np.testing.assert_allclose(data[valid], elevation(lon[valid], lat[valid]), atol=1.0)


def test_overlapping_tiles_first_one_wins(tmp_path: Path, out_dir: Path) -> None:
    low = write_tile(tmp_path / "low.tif", 0.0, -0.05, 0.1, 0.15, values=constant(100))
    high = write_tile(tmp_path / "high.tif", 0.0, -0.05, 0.2, 0.15, values=constant(500))
    border = border_xy()

    out = out_dir / "low_first.tif"
    import_dem([low, high], TARGET, border, out, buffer_m=BUFFER, resolution_m=RES)
    data, transform, _ = read(out)
    lon, _ = TO_LONLAT.transform(*cell_centres(data, transform))
    valid = data != NODATA
    west, east = valid & (lon < 0.1 - CELL_3), valid & (lon > 0.1 + CELL_3)
    assert west.sum() > 100 and east.sum() > 100
    assert np.all(data[west] == 100) and np.all(data[east] == 500)

    out = out_dir / "high_first.tif"
    import_dem([high, low], TARGET, border, out, buffer_m=BUFFER, resolution_m=RES)
    data, _, _ = read(out)
    assert np.all(data[data != NODATA] == 500)


def test_tile_missing_part_of_the_border_is_reported_not_refused(
    tmp_path: Path, out_dir: Path
) -> None:
    north_only = write_tile(tmp_path / "north.tif", 0.0, 0.05, 0.2, 0.15)
    out = out_dir / "dem.tif"
    report = import_dem([north_only], TARGET, border_xy(), out, buffer_m=BUFFER, resolution_m=RES)

    assert out.exists()
    assert 0.3 < report.border_coverage < 0.7  # the border runs from lat 0.09 to 0.01
    assert 0.3 < report.nodata_fraction < 0.8


def test_default_resolution_is_native_one_arcsecond(tmp_path: Path, out_dir: Path) -> None:
    tile = write_tile(tmp_path / "srtm1.tif", 0.09, 0.04, 0.11, 0.06, cell=CELL_1)
    border = border_xy(np.array([[0.1, 0.055], [0.1, 0.045]]))
    out = out_dir / "dem.tif"
    report = import_dem([tile], TARGET, border, out, buffer_m=300.0)

    assert 29 <= report.resolution_m <= 31
    assert report.resolution_m == round(report.resolution_m)
    _, transform, _ = read(out)
    assert transform.a == report.resolution_m
    assert report.border_coverage == 1.0


def test_block_processing_matches_single_block(tmp_path: Path, out_dir: Path, monkeypatch) -> None:
    """The row-block path used for big outputs gives the same file as one block."""
    tiles = [tmp_path / "west.tif", utm_tile(tmp_path / "east.tif", 0.1, -0.05, 0.2, 0.15)]
    write_tile(tiles[0], 0.0, -0.05, 0.1, 0.15)
    kwargs = dict(buffer_m=BUFFER, resolution_m=20.0)
    whole = import_dem(tiles, TARGET, border_xy(), out_dir / "whole.tif", **kwargs)
    monkeypatch.setattr(dem_import, "_BLOCK_CELLS", 1)  # 256-row blocks
    blocked = import_dem(tiles, TARGET, border_xy(), out_dir / "blocked.tif", **kwargs)

    assert whole.shape[0] > 2 * 256  # really several blocks
    np.testing.assert_array_equal(read(whole.path)[0], read(blocked.path)[0])
    assert whole.border_coverage == blocked.border_coverage
    assert whole.nodata_fraction == blocked.nodata_fraction


# --------------------------------------------------------------------------- errors


def _text_file(d: Path) -> Path:
    p = d / "notes.tif"
    p.write_text("this is not a GeoTIFF\n")
    return p


def _no_crs(d: Path) -> Path:
    return write_tile(d / "nocrs.tif", 0.0, -0.05, 0.2, 0.15, crs=None)


def _far_away(d: Path) -> Path:
    return write_tile(d / "faraway.tif", 10.0, 10.0, 10.1, 10.1)


def _all_nodata(d: Path) -> Path:
    # Footprint covers the border, but holds no data: fails only after warping.
    return write_tile(d / "voids.tif", 0.0, -0.05, 0.2, 0.15, values=constant(-32768))


def _truncated(d: Path) -> Path:
    # A cut-off download: the header opens fine, the pixels are gone.
    tile = write_tile(d / "cutoff.tif", 0.0, -0.05, 0.2, 0.15)
    with open(tile, "r+b") as f:
        f.truncate(tile.stat().st_size // 2)
    return tile


def _missing(d: Path) -> Path:
    return d / "missing.tif"


@pytest.mark.parametrize(
    ("make_bad", "reason"),
    [
        (_missing, "no such file"),
        (_text_file, "not a readable raster"),
        (_no_crs, "has no CRS; cannot place it on the map"),
        (_far_away, "none of the DEM tiles overlap the border area"),
        (_all_nodata, "none of the DEM tiles overlap the border area"),
        (_truncated, "could not be read while reprojecting"),
    ],
)
def test_bad_tile_raises_naming_the_file_and_leaves_no_output(
    tmp_path: Path, out_dir: Path, make_bad, reason: str
) -> None:
    bad = make_bad(tmp_path)
    out = out_dir / "dem.tif"
    with pytest.raises(TerrainError) as info:
        import_dem([bad], TARGET, border_xy(), out, buffer_m=BUFFER, resolution_m=RES)
    message = str(info.value)
    assert bad.name in message and reason in message
    assert "\n" not in message
    assert isinstance(info.value, BorderwatchError)
    assert list(out_dir.iterdir()) == []


def test_bad_tile_after_good_ones_keeps_previous_output(tmp_path: Path, out_dir: Path) -> None:
    out = out_dir / "dem.tif"
    out.write_bytes(b"previous import")
    tiles = [*two_tiles(tmp_path), tmp_path / "typo.tif"]
    with pytest.raises(TerrainError, match="typo.tif: no such file"):
        import_dem(tiles, TARGET, border_xy(), out, buffer_m=BUFFER, resolution_m=RES)
    assert list(out_dir.iterdir()) == [out]
    assert out.read_bytes() == b"previous import"


def test_no_tiles_is_an_error(out_dir: Path) -> None:
    with pytest.raises(TerrainError, match="No DEM tiles given"):
        import_dem([], TARGET, border_xy(), out_dir / "dem.tif")
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"resampling": "fancy"}, "unknown resampling method 'fancy'"),
        ({"resolution_m": 0.0}, "resolution_m must be a positive"),
        ({"buffer_m": -1.0}, "buffer_m must be a positive"),
        ({"buffer_m": 50.0, "resolution_m": 90.0}, "at least one cell"),
    ],
)
def test_bad_options_are_errors(tmp_path: Path, out_dir: Path, options: dict, match: str) -> None:
    with pytest.raises(TerrainError, match=match):
        import_dem(two_tiles(tmp_path), TARGET, border_xy(), out_dir / "dem.tif", **options)
    assert list(out_dir.iterdir()) == []


def test_geographic_target_crs_is_rejected(tmp_path: Path, out_dir: Path) -> None:
    with pytest.raises(TerrainError, match="projection in metres"):
        import_dem(two_tiles(tmp_path), "EPSG:4326", border_xy(), out_dir / "dem.tif")
