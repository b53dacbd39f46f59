"""Where a watchtower may stand: own side, near the line, dry, on high ground.

Candidates start on a lattice (every `spacing_km` along the border, at each
of `setbacks_km` into the own side) and each moves to the highest ground
within `snap_radius_m` (a tower on a rise sees more). A candidate is dropped
if, after the move, it is on the foreign side, nearer than `min_setback_m`
or farther than `max_setback_km` from the line, in water, or over no-data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from borderwatch.geo import Border, Terrain


@dataclass(frozen=True, slots=True)
class CandidateOptions:
    spacing_km: float = 2.0
    setbacks_km: tuple[float, ...] = (0.5, 2.0, 4.0)
    snap_radius_m: float = 500.0
    min_setback_m: float = 100.0
    max_setback_km: float = 5.0


@dataclass(frozen=True, slots=True)
class Candidates:
    x: np.ndarray
    y: np.ndarray
    ground_m: np.ndarray
    chainage_km: np.ndarray
    setback_m: np.ndarray
    dropped: dict[str, int]      # why lattice points were refused, and how many

    def __len__(self) -> int:
        return len(self.x)

    @property
    def xy(self) -> np.ndarray:
        return np.column_stack([self.x, self.y])


def _snap_to_high_ground(terrain: Terrain, x: np.ndarray, y: np.ndarray, radius: float):
    """Move each point to the highest of a small grid of spots within `radius`."""
    k = 5
    u = np.linspace(-radius, radius, k)
    dx, dy = np.meshgrid(u, u)
    inside = np.hypot(dx, dy) <= radius + 1e-9
    dx, dy = dx[inside], dy[inside]
    px = x[:, None] + dx[None, :]
    py = y[:, None] + dy[None, :]
    z = terrain.sample(px.ravel(), py.ravel()).reshape(px.shape)
    z = np.where(np.isfinite(z), z, -np.inf)
    best = np.argmax(z, axis=1)
    rows = np.arange(len(x))
    return px[rows, best], py[rows, best]


def candidate_sites(border: Border, terrain: Terrain | None, water_local=None,
                    options: CandidateOptions | None = None) -> Candidates:
    """All admissible tower sites for a border, as arrays."""
    opt = options or CandidateOptions()
    km = np.arange(opt.spacing_km / 2.0, border.length_km, opt.spacing_km)
    bx, by = border.point_at(km)
    normal = border.own_normal_at(km)
    setbacks = np.asarray(opt.setbacks_km, dtype=float) * 1000.0
    x = (bx[:, None] + normal[:, 0:1] * setbacks[None, :]).ravel()
    y = (by[:, None] + normal[:, 1:2] * setbacks[None, :]).ravel()
    total = len(x)
    if terrain is not None and opt.snap_radius_m > 0:
        x, y = _snap_to_high_ground(terrain, x, y, opt.snap_radius_m)
    dropped: dict[str, int] = {}

    def keep(mask: np.ndarray, reason: str) -> None:
        nonlocal x, y
        dropped[reason] = dropped.get(reason, 0) + int((~mask).sum())
        x, y = x[mask], y[mask]

    loc = border.locate(x, y)
    keep(loc.signed_distance_m > 0, "foreign side")
    loc = border.locate(x, y)
    d = loc.signed_distance_m
    keep((d >= opt.min_setback_m) & (d <= opt.max_setback_km * 1000.0), "setback out of range")
    if water_local is not None and not water_local.is_empty:
        keep(~shapely.contains_xy(water_local, x, y), "in water")
    ground = terrain.sample(x, y) if terrain is not None else np.zeros_like(x)
    if terrain is not None:
        ok = np.isfinite(ground)
        keep(ok, "no-data")
        ground = ground[ok]
    # Two lattice points may snap to the same spot: keep one.
    _, first = np.unique(np.round(np.column_stack([x, y]), 1), axis=0, return_index=True)
    first = np.sort(first)
    dropped["duplicate after snapping"] = len(x) - len(first)
    x, y, ground = x[first], y[first], ground[first]
    loc = border.locate(x, y)
    dropped = {k: v for k, v in dropped.items() if v}
    assert sum(dropped.values()) + len(x) == total
    return Candidates(x=x, y=y, ground_m=ground, chainage_km=loc.chainage_km,
                      setback_m=loc.signed_distance_m, dropped=dropped)
