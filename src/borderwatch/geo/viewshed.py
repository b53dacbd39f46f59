"""Line-of-sight viewshed over a DEM, cell for cell what ``gdal_viewshed`` 3.6 computes.

Why our own and not GDAL's: borderwatch sites hundreds of candidate observers
on a DEM that is already in memory; running ``gdal_viewshed`` per observer
means writing and re-reading rasters and a process start each time. This is
the algorithm of GDAL 3.6's ``GDALViewshedGenerate`` (``alg/viewshed.cpp``,
after Wang et al. 2000, "Generating Viewsheds without Using Sightlines", in
the ``GVM_Edge`` mode ``gdal_viewshed`` uses), run by Numba on the in-memory
window, so planners get the answer GIS users already trust, in milliseconds.

What GDAL 3.6.2 does, and so do we (names are GDAL's):

* Observer cell: the observer point through the inverse geotransform,
  truncated (``nX = static_cast<int>(dfX)``): the cell containing the point.
  The eye is at ``dfZObserver = oz + dem[observer cell]``.
* Window: only columns ``floor(nX - md/dx) .. ceil(nX + md/dx)`` (and rows
  likewise), clipped to the DEM, are processed and returned.
* Distance: centre to centre, ``dfR2 = (dx*i)**2 + (dy*j)**2`` for a cell
  ``i`` columns and ``j`` rows from the observer. ``dfR2 > md**2`` is out of
  range (``AdjustHeightInRange``).
* Curvature and refraction: before anything else an in-range cell's height is
  lowered by ``dfCurvCoeff * dfR2 / dfSphereDiameter`` with
  ``dfSphereDiameter = 2 * GetSemiMajor()`` of the DEM's CRS, i.e.
  ``cc * d**2 / (2 R)``; ``gdal_viewshed``'s default ``-cc`` is 0.85714.
* Order: the observer's row first, outwards left and right (the two cells
  beside the observer are visible outright), then rows outwards upward, then
  outwards downward, each row from the centre column out.
* Horizon: the height ``Z`` the sight line has at a cell is extrapolated from
  cells one step nearer the observer (horizons already computed): on the
  axes, ``CalcHeightLine``: ``Z = Za + (Za - Zo) / (n - 1)`` (``Z = Za`` for
  ``n == 1``); elsewhere ``CalcHeightEdge``, with ``j`` the larger and ``i``
  the smaller offset, ``Za`` the diagonal and ``Zb`` the straight
  neighbour on the previous row (or column):
  ``Z = ((Za - Zo) * i + (Zb - Zo) * (j - i)) / (j - 1) + Zo``, and
  ``Z = CalcHeightLine(Za)`` on the diagonal ``i == j``.
* Visible when ``h + tz >= Z`` (``SetVisibility``); the cell's horizon
  becomes ``max(h, Z)``: a target height never blocks.

Where we differ from GDAL 3.6.2, on purpose:

* No-data. GDAL 3.6 does nothing special with no-data cells: a -9999 void
  is a deep pit that hides nothing (cells behind it come out visible), and a
  NaN compares false, so it and everything whose horizon it feeds come out
  *visible*. We never claim sight over terrain we do not know: a NaN cell is
  reported not visible and blocks like a wall as tall as anything it could
  hide (``max(Zo, highest cell in the window + tz) + 1 m``). Callers turn
  sentinel no-data values into NaN first (``Terrain`` does).
* The observer's 8 neighbours are always visible (nothing lies between).
  GDAL 3.6 tests the 6 off the observer's row against the observer's ground
  height, so on a flat plain with curvature they come out hidden (fixed in
  GDAL 3.9.1, OSGeo/gdal#10205). The horizons stay 3.6's, so no other cell
  changes: at most 6 cells differ from GDAL 3.6.
* If the range is shorter than one cell, GDAL still marks the two row
  neighbours visible; we mark them out of range, so visible implies in range.

Everything else is the same float64 arithmetic in the same order, so the
answers are bit for bit GDAL's; only the order in which cells are visited
differs (see the kernel's comment), which is what makes it fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from borderwatch.errors import GeometryError, TerrainError

if TYPE_CHECKING:  # pragma: no cover
    import affine

    from borderwatch.geo.terrain import Terrain

__all__ = ["Viewshed", "viewshed", "viewshed_from_terrain"]

#: GDAL 3.6 ``gdal_viewshed`` default: standard atmospheric refraction
#: (effective earth radius 7/6 of the real one, ``1 - 1/7``).
DEFAULT_CURVATURE_COEFF = 0.85714
#: WGS 84 semi-major axis: what GDAL uses for a UTM/WGS 84 DEM.
WGS84_SEMI_MAJOR_M = 6_378_137.0


@dataclass(frozen=True, slots=True)
class Viewshed:
    """Who sees what from one observer, over the window the range allows.

    The arrays cover only the processed window (``row0``/``col0`` is its
    top-left cell in the full DEM grid) because a 20 km range over a
    continental DEM is a small part of it; ``full_visible`` expands when a
    whole-grid mask is needed.
    """

    visible: np.ndarray
    """bool (rows, cols): a target at ``target_height_m`` above this cell is seen."""
    in_range: np.ndarray
    """bool, same shape: the cell centre is within ``max_distance_m`` of the observer's."""
    row0: int
    col0: int
    observer_rc: tuple[int, int]
    """The observer's (row, col) in the full DEM grid."""

    @property
    def visible_fraction(self) -> float:
        """Visible cells over in-range cells: the share of the disc this observer covers."""
        n = int(np.count_nonzero(self.in_range))
        return float(np.count_nonzero(self.visible)) / n if n else 0.0

    @property
    def shape(self) -> tuple[int, int]:
        return self.visible.shape

    def full_visible(self, dem_shape: tuple[int, int]) -> np.ndarray:
        """``visible`` placed in a False grid of the full DEM's shape."""
        out = np.zeros(dem_shape, dtype=bool)
        rows, cols = self.visible.shape
        out[self.row0:self.row0 + rows, self.col0:self.col0 + cols] = self.visible
        return out


# --------------------------------------------------------------------------- kernel
# The arithmetic mirrors GDAL 3.6's AdjustHeightInRange / CalcHeightLine /
# CalcHeightEdge operation for operation (same float64 operations in the same
# order, true divisions, no fast-math), so every cell gets the same bits as in
# GDAL. Only the *order* in which cells are visited differs, and it is free to:
# each cell reads only cells one step nearer the observer.
#
# GDAL walks rows outwards, each from the centre column out. In the part of a
# quadrant where the column offset i is at least the row offset j ("x-major",
# including the diagonal) a cell reads its left/right neighbour in the same
# row, so a row is one long dependency chain through a division, and the CPU
# waits on it. Those cells read only the previous *column*, though: here the
# x-major part is walked column by column (cells in a column independent), and
# the y-major part (i < j, reads only the previous row) row by row. Same
# answers, several times faster.

@numba.njit(cache=True, inline="always")
def _height_line(n, za, zo):
    """GDAL CalcHeightLine: extrapolate the sight line one step along an axis."""
    if n == 1:
        return za
    return (za - zo) / (n - 1) + za


@numba.njit(cache=True, inline="always")
def _last_in_range(rem, step):
    """An upper bound, off by at most one or two, on the last n with (step*n)^2 <= rem.

    Callers then step down with GDAL's exact test, so the bound only saves
    walking in from the window edge.
    """
    if rem < 0.0:
        return 0
    return int(math.sqrt(rem) / step) + 1


@numba.njit(cache=True, inline="always")
def _cell(v, r2, zz, tz, cc, diam, wall):
    """(visible, horizon height) of one in-range cell of DEM height ``v`` whose
    sight line arrives at height ``zz``; GDAL AdjustHeightInRange + SetVisibility."""
    nodata = v != v
    h = wall if nodata else v - cc * r2 / diam
    return (h + tz >= zz) and not nodata, (h if h > zz else zz)


@numba.njit(cache=True, inline="always")
def _edge_cell(v, prev_near, prev_same, m, big, denom, fixed2, step, zo, tz, cc, diam, wall):
    """One cell off the diagonal: GDAL CalcHeightEdge(m, big, Za, Zb) + SetVisibility.

    ``m`` is the cell's smaller offset from the observer, ``big`` the larger;
    ``prev_near``/``prev_same`` are the horizons of the cells at ``m - 1`` and
    ``m`` on the line one step nearer the observer.
    """
    y = step * m
    r2 = fixed2 + y * y
    nodata = v != v
    h = wall if nodata else v - cc * r2 / diam
    zz = ((prev_near - zo) * m + (prev_same - zo) * (big - m)) / denom + zo
    return (h + tz >= zz) & (not nodata), (h if h > zz else zz)


@numba.njit(cache=True)
def _line_fwd(zseg, prev, cur, vseg, n, big, fixed2, step, zo, tz, cc, diam, wall):
    """Cells m = 1..n of one line, ``zseg[m-1]``/``vseg[m-1]`` being cell m.

    A line is a column of an x-major part or a half row of a y-major part; its
    cells are independent of each other, so this loop runs on SIMD lanes.
    ``prev[m]`` holds the previous line's horizons, ``cur[m]`` gets this one's.
    """
    denom = big - 1
    for k in range(n):
        seen, hz = _edge_cell(zseg[k], prev[k], prev[k + 1], k + 1, big, denom, fixed2, step,
                              zo, tz, cc, diam, wall)
        vseg[k] = seen
        cur[k + 1] = hz


@numba.njit(cache=True)
def _line_rev(zseg, prev, cur, vseg, n, big, fixed2, step, zo, tz, cc, diam, wall):
    """``_line_fwd`` for a left half row: cell m is ``zseg[n-m]``/``vseg[n-m]``."""
    denom = big - 1
    for k in range(n):
        q = n - 1 - k
        seen, hz = _edge_cell(zseg[q], prev[k], prev[k + 1], k + 1, big, denom, fixed2, step,
                              zo, tz, cc, diam, wall)
        vseg[q] = seen
        cur[k + 1] = hz


_STRIP = 16  # x-major columns moved through a transposed tile together


@numba.njit(cache=True)
def _last_in_row(md2, y2, step, limit):
    """Last offset n <= limit along a row/column with (step*n)^2 + y2 <= md2 (GDAL's test)."""
    n = min(limit, _last_in_range(md2 - y2, step))
    while n > 0:
        x = step * n
        if x * x + y2 <= md2:
            break
        n -= 1
    return n


@numba.njit(cache=True)
def _xmajor(z, vis, diag, first, row0, col0, orow, ocol, sr, sc, ilim, jlim, dx, dy, zo, tz,
            md2, cc, diam, wall, prev, cur, tile, vtile):
    """x-major cells (i >= j >= 1) of one quadrant, column by column outwards.

    A column's cells are independent, but a column of a row-major grid is
    strided: strips of ``_STRIP`` columns are copied through a transposed
    tile so that memory is read and written row-wise.
    """
    jends = np.empty(_STRIP, dtype=np.int64)
    prev[0] = first[ocol]
    i0 = 1
    while i0 <= ilim:
        nb = 0
        jmax = 0
        for b in range(min(_STRIP, ilim + 1 - i0)):
            i = i0 + b
            x = dx * i
            if x * x > md2:
                break  # out of range already on the observer row
            jends[b] = _last_in_row(md2, x * x, -dy, min(i, jlim))
            jmax = max(jmax, jends[b])
            nb += 1
        if nb == 0:
            break
        # gather, transposed: tile[b, j-1] = cell (i0 + b, j)
        lo = col0 + ocol + i0 if sc > 0 else col0 + ocol - i0 - nb + 1
        for j in range(1, jmax + 1):
            seg = z[row0 + orow + sr * j, lo:lo + nb]
            if sc > 0:
                for b in range(nb):
                    tile[b, j - 1] = seg[b]
            else:
                for b in range(nb):
                    tile[b, j - 1] = seg[nb - 1 - b]
        for b in range(nb):
            i = i0 + b
            x = dx * i
            cur[0] = first[ocol + sc * i]
            jend = jends[b]
            n = min(jend, i - 1)
            _line_fwd(tile[b], prev, cur, vtile[b], n, i, x * x, dy, zo, tz, cc, diam, wall)
            if jend == i:  # the diagonal: CalcHeightEdge(i, i) = CalcHeightLine
                y = dy * i
                seen, hz = _cell(tile[b, i - 1], x * x + y * y,
                                 _height_line(i, prev[i - 1], zo), tz, cc, diam, wall)
                vtile[b, i - 1] = seen
                cur[i] = hz
                diag[i] = hz
            vtile[b, jend:jmax] = False
            prev, cur = cur, prev
        # scatter back (cells past a column's end were set False above)
        lo = ocol + i0 if sc > 0 else ocol - i0 - nb + 1
        for j in range(1, jmax + 1):
            seg = vis[orow + sr * j, lo:lo + nb]
            if sc > 0:
                for b in range(nb):
                    seg[b] = vtile[b, j - 1]
            else:
                for b in range(nb):
                    seg[nb - 1 - b] = vtile[b, j - 1]
        if nb < _STRIP:
            break
        i0 += _STRIP


@numba.njit(cache=True, nogil=True)  # nogil: callers may run observers on threads
def _sweep(z, row0, col0, nrows, ncols, orow, ocol, dx, dy, zo, tz, md2, cc, diam):
    """Visible and in-range masks over the window ``z[row0:row0+nrows, col0:col0+ncols]``.

    ``z`` is the whole C-ordered DEM (NaN = no-data); ``orow``/``ocol`` are
    relative to the window. ``dx``/``dy`` are the geotransform's cell sizes
    (dy < 0), ``zo`` the observer's eye height, ``md2`` the squared range,
    ``diam`` the sphere diameter (2 x semi-major axis).
    """
    masks = np.zeros((2, nrows, ncols), dtype=np.bool_)  # one block: far fewer page faults
    vis = masks[0]
    inr = masks[1]
    ilims = (ocol, ncols - 1 - ocol)

    # In range: per row, one run of columns around the observer's (GDAL's test per cell).
    for r in range(nrows):
        y = dy * abs(r - orow)
        if y * y > md2:
            continue
        inr[r, ocol - _last_in_row(md2, y * y, dx, ilims[0]):
            ocol + _last_in_row(md2, y * y, dx, ilims[1]) + 1] = True

    # No-data blocks like a wall taller than anything it could hide.
    n_nodata = 0
    for r in range(nrows):
        zr = z[row0 + r, col0:col0 + ncols]
        for c in range(ncols):
            n_nodata += zr[c] != zr[c]
    wall = 0.0
    if n_nodata:
        top = -np.inf
        for r in range(nrows):
            zr = z[row0 + r, col0:col0 + ncols]
            for c in range(ncols):
                if zr[c] > top:
                    top = zr[c]
        wall = max(zo, top + tz) + 1.0

    # --- the observer's row, outwards left then right (GDAL's first line)
    first = np.empty(ncols, dtype=np.float64)
    zr = z[row0 + orow, col0:col0 + ncols]
    first[ocol] = zr[ocol]
    vis[orow, ocol] = True
    for c in (ocol - 1, ocol + 1):  # GDAL: the two neighbours are always visible
        if 0 <= c < ncols:
            x = dx * 1
            r2 = x * x
            v = zr[c]
            nodata = v != v
            first[c] = wall if nodata else v - cc * r2 / diam
            vis[orow, c] = (r2 <= md2) & (not nodata)
    for sc in (-1, 1):
        for i in range(2, ilims[0 if sc < 0 else 1] + 1):
            c = ocol + sc * i
            x = dx * i
            r2 = x * x
            if r2 > md2:
                break
            seen, hz = _cell(zr[c], r2, _height_line(i, first[c - sc], zo), tz, cc, diam, wall)
            vis[orow, c] = seen
            first[c] = hz

    nmax = max(nrows, ncols) + 2
    buf_a = np.empty(nmax, dtype=np.float64)
    buf_b = np.empty(nmax, dtype=np.float64)
    buf_c = np.empty(nmax, dtype=np.float64)
    buf_d = np.empty(nmax, dtype=np.float64)
    tile = np.empty((_STRIP, nmax), dtype=np.float64)
    vtile = np.empty((_STRIP, nmax), dtype=np.bool_)
    diag = np.empty((2, max(ilims) + 1), dtype=np.float64)

    for sr in (-1, 1):
        jlim = orow if sr < 0 else nrows - 1 - orow
        if jlim == 0:
            continue
        # --- x-major cells (i >= j >= 1), column by column outwards, each side
        _xmajor(z, vis, diag[0], first, row0, col0, orow, ocol, sr, -1, ilims[0], jlim, dx, dy,
                zo, tz, md2, cc, diam, wall, buf_a, buf_b, tile, vtile)
        _xmajor(z, vis, diag[1], first, row0, col0, orow, ocol, sr, 1, ilims[1], jlim, dx, dy,
                zo, tz, md2, cc, diam, wall, buf_a, buf_b, tile, vtile)

        # --- y-major cells (i < j), row by row outwards; centre column, then each side
        last_l, cur_l, last_r, cur_r = buf_a, buf_b, buf_c, buf_d
        last_l[0] = first[ocol]
        last_r[0] = first[ocol]
        for j in range(1, jlim + 1):
            y = dy * j
            r2 = 0.0 * 0.0 + y * y
            if r2 > md2:
                break  # even the centre column is out of range
            r = orow + sr * j
            zr = z[row0 + r, col0:col0 + ncols]
            seen, hz = _cell(zr[ocol], r2, _height_line(j, last_l[0], zo), tz, cc, diam, wall)
            vis[r, ocol] = seen
            cur_l[0] = hz
            cur_r[0] = hz
            n = _last_in_row(md2, y * y, dx, min(j - 1, ilims[0]))
            _line_rev(zr[ocol - n:ocol], last_l, cur_l, vis[r, ocol - n:ocol], n, j, y * y, dx,
                      zo, tz, cc, diam, wall)
            n = _last_in_row(md2, y * y, dx, min(j - 1, ilims[1]))
            _line_fwd(zr[ocol + 1:ocol + 1 + n], last_r, cur_r, vis[r, ocol + 1:ocol + 1 + n], n,
                      j, y * y, dx, zo, tz, cc, diam, wall)
            # this row's diagonal cells (x-major, done already) feed the next row
            if j <= ilims[0]:
                cur_l[j] = diag[0, j]
            if j <= ilims[1]:
                cur_r[j] = diag[1, j]
            last_l, cur_l = cur_l, last_l
            last_r, cur_r = cur_r, last_r

    # Nothing stands between the observer and its 8 neighbours. GDAL 3.6 tests
    # the ones off the observer's row against the observer's *ground* height
    # (CalcHeightLine(1, ...) returns Za), so on a flat plain with curvature
    # they come out hidden; GDAL 3.9.1 fixed that (OSGeo/gdal#10205). We mark
    # them seen but keep 3.6's horizons, so no other cell changes.
    for r in range(max(orow - 1, 0), min(orow + 2, nrows)):
        for c in range(max(ocol - 1, 0), min(ocol + 2, ncols)):
            v = z[row0 + r, col0 + c]
            if inr[r, c] and v == v:
                vis[r, c] = True
    return vis, inr


# --------------------------------------------------------------------------- API

def _finite(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise GeometryError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise GeometryError(f"{name} must be finite, got {v}")
    return v


def viewshed(elevation: np.ndarray, transform: "affine.Affine", observer_xy: tuple[float, float],
             *, observer_height_m: float, target_height_m: float = 0.0, max_distance_m: float,
             curvature_coeff: float = DEFAULT_CURVATURE_COEFF,
             earth_radius_m: float = WGS84_SEMI_MAJOR_M) -> Viewshed:
    """Cells from which a target ``target_height_m`` above ground sees the observer's eye.

    ``elevation`` is a north-up grid of heights in metres (NaN = no-data) and
    ``transform`` its affine geotransform (rasterio's), in a projected CRS in
    metres; ``observer_xy`` is in that CRS. ``observer_height_m`` is the eye
    (mast) height above the ground at the observer's cell. Cells whose centre
    is farther than ``max_distance_m`` from the observer cell's centre are out
    of range. ``curvature_coeff`` is GDAL's ``-cc`` (0.85714 = earth
    curvature with standard refraction, 1 = curvature only, 0 = flat earth);
    ``earth_radius_m`` is the CRS's semi-major axis, as GDAL takes it.

    Same answers as ``gdal_viewshed -oz -tz -md -cc`` of GDAL 3.6 (see the
    module docstring for the algorithm and the no-data difference).
    """
    z = np.asarray(elevation)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise TerrainError(f"elevation must be a non-empty 2-D grid, got shape {z.shape}")
    if z.dtype.kind not in "iuf":
        raise TerrainError(f"elevation must hold numbers, got dtype {z.dtype}")

    a, b, c, d, e, f = (float(t) for t in tuple(transform)[:6])
    if b != 0.0 or d != 0.0 or not (a > 0.0) or not (e < 0.0):
        raise TerrainError(f"DEM transform must be north-up without rotation (a > 0, b = d = 0, "
                           f"e < 0), got a={a}, b={b}, d={d}, e={e}")
    oz = _finite("observer_height_m", observer_height_m)
    tz = _finite("target_height_m", target_height_m)
    md = _finite("max_distance_m", max_distance_m)
    cc = _finite("curvature_coeff", curvature_coeff)
    radius = _finite("earth_radius_m", earth_radius_m)
    if oz < 0:
        raise GeometryError(f"observer height must be >= 0 m, got {oz:g}")
    if tz < 0:
        raise GeometryError(f"target height must be >= 0 m, got {tz:g}")
    if md <= 0:
        raise GeometryError(f"range must be > 0 m, got {md:g}")
    if radius <= 0:
        raise GeometryError(f"earth radius must be > 0 m, got {radius:g}")
    try:
        x, y = (_finite("observer coordinate", v) for v in observer_xy)
    except (TypeError, ValueError):
        raise GeometryError(f"observer_xy must be an (x, y) pair, got {observer_xy!r}") from None

    rows, cols = z.shape
    # GDALInvGeoTransform + GDALApplyGeoTransform, operation for operation.
    inv_a, inv_e = 1.0 / a, 1.0 / e
    colf = -c / a + x * inv_a
    rowf = -f / e + y * inv_e
    if not (0.0 <= colf < cols and 0.0 <= rowf < rows):
        raise GeometryError(
            f"observer ({x:.1f}, {y:.1f}) is outside the DEM bounds (left {c:.1f}, bottom "
            f"{f + rows * e:.1f}, right {c + cols * a:.1f}, top {f:.1f})")
    ocol, orow = int(colf), int(rowf)
    ground = float(z[orow, ocol])
    if math.isnan(ground):
        raise TerrainError(f"observer ({x:.1f}, {y:.1f}) stands on a no-data DEM cell "
                           f"(row {orow}, col {ocol}); its height is unknown")

    # GDAL's window: floor(n - md/cell) .. ceil(n + md/cell) inclusive, clipped.
    col0 = max(0, math.floor(ocol - inv_a * md))
    col1 = min(cols, math.ceil(ocol + inv_a * md) + 1)
    row0 = max(0, math.floor(orow + inv_e * md))
    row1 = min(rows, math.ceil(orow - inv_e * md) + 1)
    if z.dtype in (np.float32, np.float64) and z.flags.c_contiguous:
        grid, grid_r0, grid_c0 = z, row0, col0  # read in place: no copy of a big DEM
    else:  # copy just the window, as float
        dtype = z.dtype if z.dtype in (np.float32, np.float64) else np.float64
        grid = np.ascontiguousarray(z[row0:row1, col0:col1], dtype=dtype)
        grid_r0 = grid_c0 = 0
    vis, inr = _sweep(grid, grid_r0, grid_c0, row1 - row0, col1 - col0, orow - row0, ocol - col0,
                      a, e, ground + oz, tz, md * md, cc, 2.0 * radius)
    return Viewshed(visible=vis, in_range=inr, row0=row0, col0=col0, observer_rc=(orow, ocol))


def viewshed_from_terrain(terrain: "Terrain", x: float, y: float, **kw: Any) -> Viewshed:
    """``viewshed`` over a loaded ``Terrain``, observer given as ``Terrain.sample`` takes points.

    ``x``/``y`` are in the terrain's local CRS when it was opened with one
    (they are projected into the DEM's CRS here), else in the DEM's CRS. The
    earth radius defaults to the DEM CRS's semi-major axis, as GDAL does.
    Keyword arguments are those of ``viewshed``.
    """
    crs = getattr(terrain, "crs", None)
    if crs is not None:
        units = {axis.unit_name for axis in crs.axis_info}
        if not crs.is_projected or not units <= {"metre", "meter"}:
            raise TerrainError(f"{terrain.label}: DEM CRS {crs.name!r} is not projected in "
                               "metres; a viewshed needs a grid in metres")
        if "earth_radius_m" not in kw:
            kw["earth_radius_m"] = crs.ellipsoid.semi_major_metre
    to_dem = getattr(terrain, "_to_dem", None)  # local CRS -> DEM CRS, when they differ
    if to_dem is not None:
        x, y = to_dem.transform(x, y)
    return viewshed(terrain.elevation, terrain.transform, (float(x), float(y)), **kw)
