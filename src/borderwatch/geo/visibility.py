"""Line of sight between many observers and many target points, batched.

Tower siting needs, for every candidate site, which border crossing cells it
sees within range: not whole viewshed rasters. Here each (observer, target)
pair is one ray through the DEM, sampled every cell, and a Numba kernel walks
all rays with an early exit at the first blocking sample. Rays are sorted by
length so that chunks hold similar work.

Conventions match `borderwatch.geo.viewshed` and GDAL's `gdal_viewshed`:
heights are corrected for earth curvature and refraction by
``- cc * d**2 / (2 R)`` with ``cc = 0.85714`` (refraction coefficient 1/7)
and R the WGS84 semi-major axis; no-data blocks the view.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from borderwatch.errors import GeometryError
from borderwatch.geo.terrain import Terrain

EARTH_RADIUS_M = 6_378_137.0
DEFAULT_CURVATURE = 0.85714


@numba.njit(cache=True, nogil=True)
def _bilinear(z, row, col):
    h, w = z.shape
    if row < -0.5 or row > h - 0.5 or col < -0.5 or col > w - 0.5:
        return np.nan
    row = min(max(row, 0.0), h - 1.0)
    col = min(max(col, 0.0), w - 1.0)
    r0 = min(int(row), max(h - 2, 0))
    c0 = min(int(col), max(w - 2, 0))
    r1 = min(r0 + 1, h - 1)
    c1 = min(c0 + 1, w - 1)
    fr = row - r0
    fc = col - c0
    top = z[r0, c0] * (1.0 - fc) + z[r0, c1] * fc
    bottom = z[r1, c0] * (1.0 - fc) + z[r1, c1] * fc
    return top * (1.0 - fr) + bottom * fr


@numba.njit(cache=True, nogil=True)
def _los_kernel(z, inv, ox, oy, oz, tx, ty, tz_above, step, cc, radius, out):
    """out[i] = target i visible from observer i (absolute observer height oz)."""
    ia, ib, ic, id_, ie, if_ = inv
    k2 = cc / (2.0 * radius)
    for i in range(ox.shape[0]):
        dx = tx[i] - ox[i]
        dy = ty[i] - oy[i]
        dist = np.sqrt(dx * dx + dy * dy)
        ground_t = _bilinear(z, id_ * tx[i] + ie * ty[i] + if_ - 0.5, ia * tx[i] + ib * ty[i] + ic - 0.5)
        if np.isnan(ground_t) or np.isnan(oz[i]):
            out[i] = False
            continue
        if dist <= 0.0:
            out[i] = True
            continue
        target = ground_t + tz_above[i] - k2 * dist * dist
        slope_t = (target - oz[i]) / dist
        n = int(dist / step)
        visible = True
        for s in range(1, n + 1):
            d = s * step
            if d >= dist:
                break
            x = ox[i] + dx * (d / dist)
            y = oy[i] + dy * (d / dist)
            g = _bilinear(z, id_ * x + ie * y + if_ - 0.5, ia * x + ib * y + ic - 0.5)
            if np.isnan(g):
                visible = False  # no-data blocks
                break
            if (g - k2 * d * d - oz[i]) / d > slope_t:
                visible = False
                break
        out[i] = visible


def line_of_sight(terrain: Terrain, observer_xy: np.ndarray, observer_height_m,
                  target_xy: np.ndarray, target_height_m, *,
                  curvature_coeff: float = DEFAULT_CURVATURE, step_m: float | None = None) -> np.ndarray:
    """Pairwise visibility: row i of `observer_xy` looking at row i of `target_xy`.

    Heights are above ground. Points are in the terrain's CRS. Returns a bool
    array; a pair whose observer or target lies over no-data is not visible.
    """
    obs = np.ascontiguousarray(observer_xy, dtype=np.float64).reshape(-1, 2)
    tgt = np.ascontiguousarray(target_xy, dtype=np.float64).reshape(-1, 2)
    if obs.shape != tgt.shape:
        raise GeometryError(f"observers and targets differ in number: {len(obs)} vs {len(tgt)}")
    n = len(obs)
    oh = np.broadcast_to(np.asarray(observer_height_m, dtype=np.float64), (n,))
    th = np.ascontiguousarray(np.broadcast_to(np.asarray(target_height_m, dtype=np.float64), (n,)))
    if (oh < 0).any() or (th < 0).any():
        raise GeometryError("observer and target heights must be >= 0 m above ground")
    ground = terrain.sample(obs[:, 0], obs[:, 1])
    oz = np.ascontiguousarray(ground + oh)
    step = float(step_m or min(terrain.resolution_m))
    if not step > 0:
        raise GeometryError(f"ray sampling step must be > 0 m, got {step}")
    out = np.zeros(n, dtype=np.bool_)
    inv = ~terrain.transform
    coeffs = np.array([inv.a, inv.b, inv.c, inv.d, inv.e, inv.f], dtype=np.float64)
    z = terrain.elevation
    if z.dtype != np.float32 and z.dtype != np.float64:
        z = z.astype(np.float32)
    _los_kernel(z, coeffs, obs[:, 0].copy(), obs[:, 1].copy(), oz, tgt[:, 0].copy(), tgt[:, 1].copy(),
                th, step, float(curvature_coeff), EARTH_RADIUS_M, out)
    return out


def visibility_matrix(terrain: Terrain, sites_xy: np.ndarray, site_height_m: float,
                      targets_xy: np.ndarray, target_height_m: float, max_range_m: float, *,
                      curvature_coeff: float = DEFAULT_CURVATURE, step_m: float | None = None,
                      progress=None) -> csr_matrix:
    """Which targets each site sees within range: a boolean CSR (n_sites x n_targets).

    Only pairs within `max_range_m` are traced (found with a k-d tree), in
    chunks so that a progress callback ``progress(done, total)`` can report.
    """
    if not max_range_m > 0:
        raise GeometryError(f"sensor range must be > 0 m, got {max_range_m:g}")
    sites = np.asarray(sites_xy, dtype=np.float64).reshape(-1, 2)
    targets = np.asarray(targets_xy, dtype=np.float64).reshape(-1, 2)
    tree = cKDTree(targets)
    lists = tree.query_ball_point(sites, r=max_range_m, return_sorted=True)
    counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    rows = np.repeat(np.arange(len(sites)), counts)
    cols = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists]) if counts.sum() else \
        np.zeros(0, dtype=np.int64)
    visible = np.zeros(len(rows), dtype=bool)
    chunk = 200_000
    for lo in range(0, len(rows), chunk):
        hi = min(len(rows), lo + chunk)
        visible[lo:hi] = line_of_sight(terrain, sites[rows[lo:hi]], site_height_m, targets[cols[lo:hi]],
                                       target_height_m, curvature_coeff=curvature_coeff, step_m=step_m)
        if progress is not None:
            progress(hi, len(rows))
    matrix = csr_matrix((np.ones(int(visible.sum()), dtype=bool), (rows[visible], cols[visible])),
                        shape=(len(sites), len(targets)))
    matrix.sum_duplicates()
    return matrix
