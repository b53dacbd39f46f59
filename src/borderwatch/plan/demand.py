"""Border crossing cells and how much each matters: the demand towers must see.

A crossing cell is a point on, or in a narrow band across, the border line.
Its weight says how likely a crossing there is, from three factors, each a
number in (0, 1] or a relative intensity, multiplied and normalised to sum to 1:

- **threat**: people at the sources, decaying with distance to the cell,
  ``Σ headcount · exp(-d / decay_km)`` (a gravity / distance-decay model),
  plus a small floor so no stretch is ever assumed free of threat;
- **passability** at the cell: ``exp(-slope / slope_scale_deg)``, and water
  (a river crossing) multiplies it by ``water_factor``;
- **onward**: what lies behind on the own side: the mean passability of a
  strip ``behind_km`` deep, so a crossing that leads onto open ground scores
  higher than one that leads into a ridge.

All arrays, no Python object per cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from borderwatch.geo import Border, Terrain
from borderwatch.scenario.model import Scenario


@dataclass(frozen=True, slots=True)
class DemandOptions:
    spacing_m: float | None = None          # along the line; default: max(DEM cell, 250 m)
    band_offsets_m: tuple[float, ...] = (-500.0, 0.0, 500.0)  # across: - foreign, + own
    decay_km: float = 75.0
    threat_floor: float = 0.05              # share of the mean threat added everywhere
    slope_scale_deg: float = 8.0
    water_factor: float = 0.3
    behind_km: float = 5.0


@dataclass(frozen=True, slots=True)
class Demand:
    """Crossing cells as columns: cell i is at (x[i], y[i])."""

    x: np.ndarray
    y: np.ndarray
    chainage_km: np.ndarray
    offset_m: np.ndarray
    station: np.ndarray          # index of the along-line station
    weight: np.ndarray           # sums to 1
    threat: np.ndarray           # per cell, relative
    passability: np.ndarray
    onward: np.ndarray
    spacing_m: float
    nodata: np.ndarray           # bool: the cell lies on DEM no-data (blocks view)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def xy(self) -> np.ndarray:
        return np.column_stack([self.x, self.y])

    @property
    def stations_km(self) -> np.ndarray:
        return np.unique(self.chainage_km)


def slope_deg(terrain: Terrain, x: np.ndarray, y: np.ndarray, h: float) -> np.ndarray:
    """Terrain slope (degrees) by central differences over +-h metres."""
    zx = (terrain.sample(x + h, y) - terrain.sample(x - h, y)) / (2 * h)
    zy = (terrain.sample(x, y + h) - terrain.sample(x, y - h)) / (2 * h)
    return np.degrees(np.arctan(np.hypot(zx, zy)))


def _passability(terrain: Terrain | None, water_local, x, y, opt: DemandOptions) -> np.ndarray:
    p = np.ones_like(x)
    if terrain is not None:
        h = max(terrain.resolution_m)
        s = slope_deg(terrain, x, y, h)
        p = np.where(np.isfinite(s), np.exp(-s / opt.slope_scale_deg), 1.0)
    if water_local is not None and not water_local.is_empty:
        wet = shapely.contains_xy(water_local, x, y)
        p = np.where(wet, p * opt.water_factor, p)
    return p


def crossing_demand(scenario: Scenario, border: Border, terrain: Terrain | None,
                    water_local=None, options: DemandOptions | None = None) -> Demand:
    """The weighted crossing cells of a scenario's border."""
    opt = options or DemandOptions()
    res = max(terrain.resolution_m) if terrain is not None else 250.0
    spacing = float(opt.spacing_m or max(res, 250.0))
    n_st = max(2, int(np.ceil(border.length_km * 1000.0 / spacing)) + 1)
    km = np.linspace(0.0, border.length_km, n_st)
    bx, by = border.point_at(km)
    normal = border.own_normal_at(km)
    offsets = np.asarray(opt.band_offsets_m, dtype=float)
    # Cell (station s, offset o) sits at the station moved o metres along the own normal.
    x = (bx[:, None] + normal[:, 0:1] * offsets[None, :]).ravel()
    y = (by[:, None] + normal[:, 1:2] * offsets[None, :]).ravel()
    station = np.repeat(np.arange(n_st), len(offsets))
    off = np.tile(offsets, n_st)

    # Threat at each station from every source: a (stations x sources) array.
    src = scenario.threat_sources
    sx, sy = border.projection.to_xy([s.location.lon for s in src], [s.location.lat for s in src])
    heads = np.array([s.headcount for s in src], dtype=float)
    d_km = np.hypot(bx[:, None] - sx[None, :], by[:, None] - sy[None, :]) / 1000.0
    threat_st = (heads[None, :] * np.exp(-d_km / opt.decay_km)).sum(axis=1)
    threat_st = threat_st + opt.threat_floor * threat_st.mean()

    passable = _passability(terrain, water_local, x, y, opt)
    # Onward: passability sampled along a strip behind each station.
    depths = np.linspace(500.0, opt.behind_km * 1000.0, 6)
    ox = (bx[:, None] + normal[:, 0:1] * depths[None, :]).ravel()
    oy = (by[:, None] + normal[:, 1:2] * depths[None, :]).ravel()
    onward_st = _passability(terrain, water_local, ox, oy, opt).reshape(n_st, len(depths)).mean(axis=1)

    threat = threat_st[station] / threat_st.max()
    onward = onward_st[station]
    nodata = np.zeros(len(x), dtype=bool)
    if terrain is not None:
        nodata = ~np.isfinite(terrain.sample(x, y))
    raw = threat * passable * onward
    weight = raw / raw.sum()
    return Demand(x=x, y=y, chainage_km=km[station], offset_m=off, station=station, weight=weight,
                  threat=threat, passability=passable, onward=onward, spacing_m=spacing, nodata=nodata)
