"""Elevation at arrays of points, from a GeoTIFF DEM held in memory.

The DEM is read once into a float32 array (no-data as NaN) so that sampling
hundreds of thousands of points is a few NumPy operations, not a raster
read per point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from pyproj import CRS, Transformer

from borderwatch.errors import TerrainError
from borderwatch.scenario.model import Scenario


@dataclass(frozen=True, slots=True)
class Bounds:
    left: float
    bottom: float
    right: float
    top: float


class Terrain:
    """A north-up elevation grid in metres, sampled in the scenario's local CRS."""

    def __init__(self, elevation: np.ndarray, transform: rasterio.Affine, crs: CRS,
                 *, synthetic: bool, path: Path | None = None,
                 local_crs: CRS | None = None) -> None:
        if transform.b != 0 or transform.d != 0 or transform.e >= 0:
            raise TerrainError(f"{path.name if path else 'DEM'}: grid must be north-up without "
                               "rotation; reproject it with `borderwatch terrain import`")
        self.elevation = elevation
        self.transform = transform
        self.crs = crs
        self.synthetic = synthetic
        self.path = path
        self._to_dem = None
        if local_crs is not None and not CRS(local_crs).equals(crs):
            self._to_dem = Transformer.from_crs(local_crs, crs, always_xy=True)

    @classmethod
    def open(cls, path: str | Path, *, local_crs: str | CRS | None = None,
             synthetic: bool | None = None) -> "Terrain":
        path = Path(path)
        try:
            with rasterio.open(path) as src:
                if src.crs is None:
                    raise TerrainError(f"{path.name}: has no CRS; cannot place it on the map")
                band = src.read(1, masked=True).astype(np.float32)
                tags = src.tags()
                crs = CRS.from_user_input(src.crs.to_wkt())
                transform = src.transform
        except rasterio.errors.RasterioIOError as exc:
            raise TerrainError(f"{path.name}: not a readable raster ({exc})") from None
        elevation = band.filled(np.nan)
        if synthetic is None:
            synthetic = str(tags.get("SYNTHETIC", "")).lower() in {"yes", "true", "1"}
        local = CRS.from_user_input(local_crs) if local_crs is not None else None
        return cls(elevation, transform, crs, synthetic=synthetic, path=path, local_crs=local)

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "Terrain | None":
        """The scenario's DEM, or None when the scenario has no terrain."""
        if scenario.terrain is None:
            return None
        return cls.open(scenario.terrain.dem, local_crs=scenario.crs,
                        synthetic=scenario.terrain.synthetic)

    # -- grid facts ----------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.elevation.shape

    @property
    def resolution_m(self) -> tuple[float, float]:
        """Cell size (x, y) in the DEM's units (metres for a projected DEM)."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> Bounds:
        rows, cols = self.shape
        left, top = self.transform.c, self.transform.f
        return Bounds(left, top + rows * self.transform.e, left + cols * self.transform.a, top)

    @property
    def nodata_fraction(self) -> float:
        return float(np.isnan(self.elevation).mean())

    @property
    def label(self) -> str:
        """How to name this terrain to a user: synthetic DEMs always say so."""
        name = self.path.name if self.path else "in-memory DEM"
        return f"{name} (SYNTHETIC)" if self.synthetic else name

    # -- sampling -------------------------------------------------------------
    def sample(self, x, y, *, method: str = "bilinear") -> np.ndarray:
        """Elevation (m) at local points; NaN outside the grid or over no-data."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        if self._to_dem is not None:
            x, y = self._to_dem.transform(x, y)
            x, y = np.asarray(x), np.asarray(y)
        inv = ~self.transform
        col = inv.a * x + inv.b * y + inv.c  # fractional column of the cell edge grid
        row = inv.d * x + inv.e * y + inv.f
        if method == "nearest":
            return self._nearest(row, col)
        if method != "bilinear":
            raise TerrainError(f'unknown sampling method "{method}" (use bilinear or nearest)')
        return self._bilinear(row - 0.5, col - 0.5)

    def _nearest(self, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        r = np.floor(row).astype(np.int64)
        c = np.floor(col).astype(np.int64)
        h, w = self.shape
        ok = (r >= 0) & (r < h) & (c >= 0) & (c < w) & np.isfinite(row) & np.isfinite(col)
        out = np.full(row.shape, np.nan, dtype=np.float64)
        out[ok] = self.elevation[r[ok], c[ok]]
        return out

    def _bilinear(self, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Interpolate between cell centres; edges clamp to the outermost centre."""
        h, w = self.shape
        ok = (row >= -0.5) & (row <= h - 0.5) & (col >= -0.5) & (col <= w - 0.5)
        row = np.clip(row, 0.0, h - 1.0)
        col = np.clip(col, 0.0, w - 1.0)
        r0 = np.minimum(np.floor(row).astype(np.int64), max(h - 2, 0))
        c0 = np.minimum(np.floor(col).astype(np.int64), max(w - 2, 0))
        r1 = np.minimum(r0 + 1, h - 1)
        c1 = np.minimum(c0 + 1, w - 1)
        fr = row - r0
        fc = col - c0
        z = self.elevation
        top = z[r0, c0] * (1 - fc) + z[r0, c1] * fc
        bottom = z[r1, c0] * (1 - fc) + z[r1, c1] * fc
        out = (top * (1 - fr) + bottom * fr).astype(np.float64)
        out[~ok] = np.nan
        return out
