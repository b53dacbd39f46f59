"""Write the bundled scenarios' water masks (GeoJSON polygons, lon/lat).

Towers are never sited in water, and a river is harder to cross than dry
ground. No offline hydrography of the region is available from the package
registries, so the masks follow the same river courses that shape the
synthetic DEM (`tools/make_synthetic_dem.py`): polylines through the towns the
rivers pass, buffered to a typical channel width. They are labelled
SYNTHETIC approximations in the file.

Usage: python tools/make_water.py
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "src" / "borderwatch" / "data"

_spec = importlib.util.spec_from_file_location("make_synthetic_dem", HERE / "make_synthetic_dem.py")
dem = importlib.util.module_from_spec(_spec)
sys.modules["make_synthetic_dem"] = dem
_spec.loader.exec_module(dem)  # type: ignore[union-attr]

# Typical channel half-widths (m): the Euphrates near al-Qa'im and the Tigris
# at Fishkhabur run 150–300 m wide; the Khabur is a small river.
HALF_WIDTH_M = {"Euphrates": 150.0, "Tigris": 150.0, "Khabur": 30.0}


def _polygons_lonlat(crs: str, rivers: dict[str, np.ndarray]) -> list[dict]:
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    features = []
    for name, xy in rivers.items():
        poly = shapely.LineString(xy).buffer(HALF_WIDTH_M.get(name, 50.0), quad_segs=4)
        poly = shapely.simplify(poly, 10.0)
        ring = np.asarray(poly.exterior.coords)
        lon, lat = to_ll.transform(ring[:, 0], ring[:, 1])
        coords = [[round(float(a), 6), round(float(b), 6)] for a, b in zip(lon, lat)]
        features.append({
            "type": "Feature",
            "properties": {"name": name, "kind": "river",
                           "source": "SYNTHETIC approximation: course through the towns named in "
                                     "tools/make_synthetic_dem.py, buffered to a typical width"},
            "geometry": {"type": "Polygon", "coordinates": [coords]},
        })
    return features


def iraq_syria() -> None:
    crs = dem.IRAQ_SYRIA_CRS
    rivers = {
        "Euphrates": dem.to_local(crs, [p[:2] for p in dem.EUPHRATES]),
        "Tigris": dem.to_local(crs, [p[:2] for p in dem.TIGRIS]),
        "Khabur": dem.to_local(crs, [p[:2] for p in dem.KHABUR]),
    }
    # Densify so the buffered outline follows the course between towns.
    rivers = {k: np.asarray(shapely.segmentize(shapely.LineString(v), 2000.0).coords) for k, v in rivers.items()}
    _write(DATA / "iraq-syria" / "water.geojson", _polygons_lonlat(crs, rivers))


def tiny() -> None:
    crs = dem.TINY_CRS
    y0 = dem.to_local(crs, [(0.11, 0.08)])[0, 1]
    border = dem.to_local(crs, dem.read_border(DATA / "tiny" / "border.geojson"))
    lo, hi = border.min(axis=0) - 12e3, border.max(axis=0) + 12e3
    grid = dem.Grid.covering(lo[0], lo[1], hi[0], hi[1], 100.0)
    # The same course build_tiny carves into the DEM.
    rx = np.arange(grid.left - 1e3, grid.left + grid.cols * grid.res + 1e3, 500.0)
    ry = y0 + 350.0 * np.sin(2 * np.pi * rx / 9000.0) + 200.0 * np.sin(2 * np.pi * rx / 4000.0 + 1.0)
    HALF_WIDTH_M["tiny river"] = 40.0
    _write(DATA / "tiny" / "water.geojson", _polygons_lonlat(crs, {"tiny river": np.column_stack([rx, ry])}))


def _write(path: Path, features: list[dict]) -> None:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}) + "\n")
    print(f"wrote {path} ({len(features)} polygons)")


if __name__ == "__main__":
    iraq_syria()
    tiny()
