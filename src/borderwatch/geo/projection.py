"""One local metric projection per scenario: convert at the edge, once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyproj import CRS, Transformer


@dataclass(frozen=True)
class LocalProjection:
    """WGS84 lon/lat <-> the scenario's local metres, vectorised."""

    crs: CRS
    _fwd: Transformer
    _inv: Transformer

    @classmethod
    def from_string(cls, text: str) -> "LocalProjection":
        crs = CRS.from_user_input(text)
        return cls(
            crs,
            Transformer.from_crs("EPSG:4326", crs, always_xy=True),
            Transformer.from_crs(crs, "EPSG:4326", always_xy=True),
        )

    def to_xy(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Lon/lat degrees -> local x/y metres (arrays in, arrays out)."""
        x, y = self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x), np.asarray(y)

    def to_lonlat(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Local x/y metres -> lon/lat degrees."""
        lon, lat = self._inv.transform(np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lon), np.asarray(lat)


def geometry_to_local(geometry, projection: LocalProjection):
    """A lon/lat Shapely geometry in local metres (None stays None)."""
    if geometry is None:
        return None
    import shapely

    def fwd(coords: np.ndarray) -> np.ndarray:
        x, y = projection.to_xy(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    local = shapely.transform(geometry, fwd)
    shapely.prepare(local)
    return local
