"""Checks a scenario's DEM before anyone relies on it.

The DEM must be a raster in a projected (metric) CRS, and it must hold
valid elevation along the whole border: siting towers over no-data is
meaningless. These checks live with the scenario because they are about
whether the *files* make sense together.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from pyproj import Geod

from borderwatch.errors import ScenarioError

_SYNTHETIC_TAG = "SYNTHETIC"
# Small no-data holes along the border are tolerated (they block line of sight
# and plans report them); a DEM mostly empty along the line is refused.
MAX_NODATA_SHARE = 0.10


def densify_lonlat(lonlat: np.ndarray, step_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ~step_m along the line (geodesic), and their chainage in metres."""
    geod = Geod(ellps="WGS84")
    lon, lat = lonlat[:, 0], lonlat[:, 1]
    _, _, seg = geod.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    seg = np.asarray(seg, dtype=float)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    stations = np.arange(0.0, cum[-1], step_m)
    stations = np.append(stations, cum[-1])
    idx = np.clip(np.searchsorted(cum, stations, side="right") - 1, 0, len(seg) - 1)
    t = np.where(seg[idx] > 0, (stations - cum[idx]) / np.where(seg[idx] > 0, seg[idx], 1), 0)
    # Linear interpolation in lon/lat is fine at these step lengths.
    plon = lon[idx] + t * (lon[idx + 1] - lon[idx])
    plat = lat[idx] + t * (lat[idx + 1] - lat[idx])
    return np.column_stack([plon, plat]), stations


def check_dem(toml_name: str, field: str, dem: Path,
              border_lonlat: np.ndarray) -> tuple[bool, tuple[tuple[float, float], ...]]:
    """Validate the DEM; return (declares itself synthetic, no-data stretches of the border in km)."""
    shown = dem.name
    if not dem.exists():
        raise ScenarioError(toml_name, field, f"DEM file not found: {dem}")
    try:
        with rasterio.open(dem) as src:
            crs = src.crs
            tags = src.tags()
            if crs is None:
                raise ScenarioError(toml_name, field, f"{shown} has no CRS; cannot place it on the map")
            try:
                pcrs = CRS.from_user_input(crs.to_wkt())
            except CRSError as exc:
                raise ScenarioError(toml_name, field, f"{shown} has an unusable CRS: {exc}") from None
            if pcrs.is_geographic:
                raise ScenarioError(
                    toml_name, field,
                    f"{shown} is in a geographic CRS ({_crs_name(pcrs)}) with no projection; "
                    "elevation cells must be in metres: run `borderwatch terrain import "
                    f"{shown} --scenario ...` to reproject it")
            units = {a.unit_name for a in pcrs.axis_info}
            if not units <= {"metre", "meter", "m"}:
                raise ScenarioError(toml_name, field,
                                    f"{shown} CRS units are {', '.join(sorted(units))}, not metres")
            points, chainage = densify_lonlat(border_lonlat, max(abs(src.res[0]), 250.0))
            tf = Transformer.from_crs("EPSG:4326", pcrs, always_xy=True)
            x, y = tf.transform(points[:, 0], points[:, 1])
            inside, valid = _valid_at(src, np.asarray(x), np.asarray(y))
    except ScenarioError:
        raise
    except rasterio.errors.RasterioIOError as exc:
        raise ScenarioError(toml_name, field, f"{shown} is not a readable raster ({exc})") from None
    if not inside.all():
        bad = chainage[~inside] / 1000.0
        share = 100.0 * (~inside).mean()
        raise ScenarioError(
            toml_name, field,
            f"{shown} does not cover the border: {share:.0f}% of it "
            f"(km {bad.min():.1f}–{bad.max():.1f} from the north end) lies outside the DEM")
    holes = ~valid
    if holes.mean() > MAX_NODATA_SHARE:
        bad = chainage[holes] / 1000.0
        raise ScenarioError(
            toml_name, field,
            f"{shown} does not cover the border: {100.0 * holes.mean():.0f}% of it "
            f"(between km {bad.min():.1f} and {bad.max():.1f}) lies on no-data cells "
            f"(at most {100 * MAX_NODATA_SHARE:.0f}% is accepted; smaller holes block the view and are reported)")
    synthetic = str(tags.get(_SYNTHETIC_TAG, "")).lower() in {"yes", "true", "1"}
    return synthetic, _runs_km(chainage / 1000.0, holes)


def _runs_km(km: np.ndarray, mask: np.ndarray) -> tuple[tuple[float, float], ...]:
    """Consecutive True samples as (first km, last km) pairs."""
    if not mask.any():
        return ()
    m = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(m))
    return tuple((round(float(km[a]), 3), round(float(km[b - 1]), 3)) for a, b in zip(edges[0::2], edges[1::2]))


def _valid_at(src: rasterio.io.DatasetReader, x: np.ndarray, y: np.ndarray,
              tile: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(inside the grid, on a valid cell of band 1) for each point (x, y).

    Reads only the tile-sized windows the points fall in, so a 30 m DEM of a
    600 km border is checked without loading it whole.
    """
    rows, cols = rasterio.transform.rowcol(src.transform, x, y)
    rows, cols = np.asarray(rows), np.asarray(cols)
    inside = (rows >= 0) & (rows < src.height) & (cols >= 0) & (cols < src.width)
    valid = np.zeros(len(x), dtype=bool)
    idx = np.flatnonzero(inside)
    keys = (rows[idx] // tile) * (src.width // tile + 1) + cols[idx] // tile
    for key in np.unique(keys):
        sel = idx[keys == key]
        r0, c0 = (rows[sel[0]] // tile) * tile, (cols[sel[0]] // tile) * tile
        window = rasterio.windows.Window(c0, r0, min(tile, src.width - c0), min(tile, src.height - r0))
        block = src.read(1, window=window, masked=True)
        r, c = rows[sel] - r0, cols[sel] - c0
        valid[sel] = ~np.ma.getmaskarray(block)[r, c] & np.isfinite(np.asarray(block.data, float)[r, c])
    return inside, valid


def _crs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name
