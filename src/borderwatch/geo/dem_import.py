"""Turn real DEM tiles into the one GeoTIFF a scenario reads.

This is the library side of ``borderwatch terrain import TILE.tif…``. Users
bring whatever tiles they downloaded (SRTM 1", Copernicus GLO-30, a national
UTM product …): often several, sometimes overlapping, sometimes in different
CRSs. Everything downstream (line of sight, sensor siting, patrol costs) works
in the scenario's local metric projection on one square grid, so the import:

1. validates every tile up front, so a bad file fails before any work is done
   and the message names that file;
2. reprojects every tile onto one common north-up grid in the target CRS
   (``rasterio.warp.reproject`` per tile, so tiles in different CRSs mosaic
   without first being merged in a shared CRS); where tiles overlap the first
   tile given wins, so users control priority by argument order;
3. clips to the border's bounding box grown by ``buffer_m`` and masks cells
   farther than ``buffer_m`` from the border line, because terrain beyond the
   watch corridor only costs disk and memory;
4. measures how much of the border has data, and reports it rather than
   refusing: the scenario loader, not the importer, decides what is enough;
5. writes atomically (temporary file + ``os.replace``) so a crash or an error
   never leaves a half-written DEM that a later run could mistake for a good
   one.

Memory: a 600 km border at 30 m with a 30 km buffer gives a grid of roughly
15k x 15k cells (~900 MB as float32). The grid is therefore never held whole:
it is produced, masked and written one block of rows at a time
(``_BLOCK_CELLS`` cells, ~64 MB per float32 array), and each tile is warped
straight from its open dataset into the block, so GDAL reads only the source
pixels that block needs.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioError
from rasterio.features import geometry_mask
from rasterio.io import DatasetReader
from rasterio.transform import Affine, array_bounds
from rasterio.warp import reproject, transform, transform_bounds
from rasterio.windows import Window

from borderwatch.errors import GeometryError, TerrainError

#: Nodata value of the written DEM (float32). Far below any real elevation.
NODATA = -9999.0

#: Cells per processing block. Bounds peak memory to a few arrays of this size
#: (~64 MB each as float32) whatever the size of the output.
_BLOCK_CELLS = 1 << 24

#: Output GeoTIFF internal tile size; blocks are whole multiples of it in rows
#: so every write fills complete TIFF tiles.
_TIFF_TILE = 256

#: Segments per quarter circle when buffering the border. The buffer polygon
#: is inscribed in the true buffer, so its error is at most
#: ``buffer_m * (1 - cos(pi / (4 * 64)))``: ~2 m for a 30 km buffer, far under
#: one cell.
_BUFFER_QUAD_SEGS = 64

#: Resampling methods GDAL's warper supports, by the names users type.
_RESAMPLING_NAMES = (
    "nearest",
    "bilinear",
    "cubic",
    "cubic_spline",
    "lanczos",
    "average",
    "mode",
    "min",
    "max",
    "med",
    "q1",
    "q3",
    "sum",
    "rms",
)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import produced, so the CLI can print it and callers can judge it.

    ``border_coverage`` below 1 is not an error here: the file is still
    written, because a partial DEM may be useful while more tiles are fetched;
    the scenario loader refuses a DEM that does not cover the border.
    """

    path: Path  # the GeoTIFF written
    tiles: int  # number of input tiles
    shape: tuple[int, int]  # rows, cols of the output
    resolution_m: float
    bounds: tuple[float, float, float, float]  # left, bottom, right, top in local metres
    nodata_fraction: float  # fraction of output cells inside the clip area that are nodata
    border_coverage: float  # fraction of sampled border points with valid data


@dataclass(frozen=True, slots=True)
class _Tile:
    """An opened, validated input tile and where it lands in the target CRS."""

    label: str  # the path as the user gave it, for messages
    dataset: DatasetReader
    footprint: tuple[float, float, float, float] | None  # target-CRS bounds; None if unknown


@dataclass(frozen=True, slots=True)
class _Grid:
    """The common output grid: north-up, square cells, snapped to the resolution."""

    transform: Affine
    rows: int
    cols: int
    resolution_m: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.transform.c, self.transform.f
        res = self.resolution_m
        return (left, top - self.rows * res, left + self.cols * res, top)


def import_dem(
    tiles: Sequence[str | Path],
    target_crs: str,
    border_xy: np.ndarray,
    out_path: str | Path,
    *,
    buffer_m: float = 30_000.0,
    resolution_m: float | None = None,
    resampling: str = "bilinear",
) -> ImportReport:
    """Mosaic, reproject and clip DEM tiles into one GeoTIFF around the border.

    ``target_crs`` is the scenario's local metric projection (PROJ string or
    WKT) and ``border_xy`` the border's ``(n, 2)`` vertices in it, in metres,
    north end first. The output covers the border's bounding box grown by
    ``buffer_m`` on a grid snapped to multiples of ``resolution_m`` (so DEMs
    imported for the same scenario line up cell for cell); cells farther than
    ``buffer_m`` from the line are nodata. ``resolution_m`` defaults to the
    finest overlapping tile's native cell size in metres, rounded to a whole
    metre, so the import neither invents nor throws away detail.

    Raises ``TerrainError`` naming the file for an unusable tile, an unusable
    option or when no tile has data in the border area, and
    ``GeometryError`` for an unusable border; in every error case no output
    file (partial or temporary) is left behind.
    """
    out = Path(out_path)
    method = _check_options(out, buffer_m, resolution_m, resampling)
    line = _border_line(border_xy)
    crs = _target_crs(target_crs, out)
    if not tiles:
        raise TerrainError("No DEM tiles given, so there is nothing to import.")

    with ExitStack() as stack:
        opened = [_open_tile(tile, crs, stack) for tile in tiles]
        area = _grown_bounds(line, buffer_m)
        candidates = [t for t in opened if _may_overlap(t.footprint, area)]
        if not candidates:
            raise _no_overlap(opened)
        res = resolution_m if resolution_m is not None else _default_resolution(candidates, crs)
        _check_buffer_vs_cell(out, buffer_m, res)
        grid = _output_grid(line, buffer_m, res)
        corridor = line.buffer(buffer_m, quad_segs=_BUFFER_QUAD_SEGS)
        samples = _border_samples(line, grid)
        with _atomic_output(out) as tmp:
            try:
                stats = _write_dem(tmp, candidates, crs, grid, corridor, samples, method,
                                   resampling, source_names=[Path(t).name for t in tiles])
            except RasterioError as exc:  # tile read errors are already TerrainErrors
                raise TerrainError(f"{out}: could not be written ({exc}).") from None
            if stats.valid_cells == 0:
                raise _no_overlap(opened)

    return ImportReport(
        path=out,
        tiles=len(tiles),
        shape=(grid.rows, grid.cols),
        resolution_m=float(res),
        bounds=grid.bounds,
        nodata_fraction=stats.nodata_fraction,
        border_coverage=stats.border_coverage,
    )


# --------------------------------------------------------------------------- validation


def _check_options(
    out: Path, buffer_m: float, resolution_m: float | None, resampling: str
) -> Resampling:
    """Reject options that would give an empty, degenerate or unwritable output."""
    if resampling not in _RESAMPLING_NAMES:
        raise TerrainError(
            f"{out}: unknown resampling method {resampling!r}; "
            f"use one of {', '.join(_RESAMPLING_NAMES)}."
        )
    if resolution_m is not None and not (math.isfinite(resolution_m) and resolution_m > 0):
        raise TerrainError(
            f"{out}: resolution_m must be a positive number of metres, got {resolution_m!r}."
        )
    if not (math.isfinite(buffer_m) and buffer_m > 0):
        raise TerrainError(
            f"{out}: buffer_m must be a positive number of metres, got {buffer_m!r}."
        )
    if not out.parent.is_dir():
        raise TerrainError(f"{out}: the output directory {out.parent} does not exist.")
    return Resampling[resampling]


def _check_buffer_vs_cell(out: Path, buffer_m: float, res: float) -> None:
    """The buffer must span at least one cell.

    Otherwise the cells the border runs through could fall outside the clip
    area and the border would look uncovered even with perfect data.
    """
    if buffer_m < res:
        raise TerrainError(
            f"{out}: buffer_m ({buffer_m:g} m) must be at least one cell ({res:g} m)."
        )


def _border_line(border_xy: np.ndarray) -> shapely.LineString:
    """The border as a line; it must have length or there is nothing to clip around."""
    xy = np.asarray(border_xy, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) < 2:
        raise GeometryError(
            f"The border must be an (n, 2) array with n >= 2, got shape {xy.shape}."
        )
    if not np.isfinite(xy).all():
        raise GeometryError("The border coordinates contain NaN or infinite values.")
    line = shapely.LineString(xy)
    if line.length <= 0:
        raise GeometryError("The border has zero length (all its vertices coincide).")
    return line


def _target_crs(target_crs: str, out: Path) -> CRS:
    """Parse the scenario CRS; it must be projected in metres because cells are metres."""
    try:
        crs = CRS.from_user_input(target_crs)
    except CRSError as exc:
        raise TerrainError(f"{out}: the target CRS is not understood ({exc}).") from None
    if not crs.is_projected or crs.linear_units_factor[1] != 1.0:
        raise TerrainError(
            f"{out}: the target CRS must be a projection in metres, got {target_crs!r}."
        )
    return crs


def _open_tile(tile: str | Path, crs: CRS, stack: ExitStack) -> _Tile:
    """Open one tile (kept open on ``stack``) after checking it is usable.

    Opening every tile before any work means a typo in the last file name
    fails in milliseconds, not after minutes of warping.
    """
    path = Path(tile)
    label = str(tile)
    if not path.is_file():
        raise TerrainError(f"{label}: no such file.")
    try:
        ds = stack.enter_context(rasterio.open(path))
    except RasterioError as exc:
        raise TerrainError(f"{label}: not a readable raster ({exc}).") from None
    if ds.crs is None:
        raise TerrainError(f"{label}: has no CRS; cannot place it on the map.")
    if ds.count < 1:
        raise TerrainError(f"{label}: has no raster band to read elevations from.")
    return _Tile(label=label, dataset=ds, footprint=_footprint(ds, crs))


def _footprint(ds: DatasetReader, crs: CRS) -> tuple[float, float, float, float] | None:
    """The tile's bounds in the target CRS, or None when they cannot be computed.

    Only used to skip tiles that cannot touch a block; None (e.g. a tile so far
    away the projection diverges) means "try it anyway", which is always safe.
    """
    try:
        bounds = transform_bounds(ds.crs, crs, *ds.bounds, densify_pts=21)
    except (CRSError, RasterioError, ValueError):
        return None
    return bounds if all(math.isfinite(b) for b in bounds) else None


def _no_overlap(tiles: Sequence[_Tile]) -> TerrainError:
    """The error for "nothing to import here", naming every tile the user gave."""
    names = ", ".join(t.label for t in tiles)
    return TerrainError(f"{names}: none of the DEM tiles overlap the border area.")


# --------------------------------------------------------------------------- grid


def _grown_bounds(
    line: shapely.LineString, buffer_m: float
) -> tuple[float, float, float, float]:
    """The border's bounding box grown by the buffer: the area the output must cover."""
    minx, miny, maxx, maxy = line.bounds
    return (minx - buffer_m, miny - buffer_m, maxx + buffer_m, maxy + buffer_m)


def _may_overlap(
    footprint: tuple[float, float, float, float] | None, area: tuple[float, float, float, float]
) -> bool:
    """Whether a tile can touch ``area``; an unknown footprint might, so it is kept."""
    if footprint is None:
        return True
    return not (
        footprint[2] <= area[0] or footprint[0] >= area[2]
        or footprint[3] <= area[1] or footprint[1] >= area[3]
    )


def _default_resolution(tiles: Sequence[_Tile], crs: CRS) -> float:
    """The finest tile's native cell size in target metres, rounded to a whole metre.

    Each tile's cell is measured where it is (its centre pixel projected into
    the target CRS), so a 1" geographic tile gives ~31 m and a 30 m UTM tile
    30 m. A non-square cell counts as its longer side: square output cells
    smaller than that would only interpolate detail the data does not have.
    """
    sizes = [s for s in (_native_cell_m(t.dataset, crs) for t in tiles) if s is not None]
    if not sizes:
        raise _no_overlap(tiles)
    return float(max(1, round(min(sizes))))


def _native_cell_m(ds: DatasetReader, crs: CRS) -> float | None:
    """Longer side, in target metres, of the tile's centre pixel; None if unprojectable."""
    col, row = ds.width / 2.0, ds.height / 2.0
    cols = [col, col + 1.0, col]
    rows = [row, row, row + 1.0]
    xs, ys = zip(*(ds.transform @ (c, r) for c, r in zip(cols, rows)))
    try:
        tx, ty = transform(ds.crs, crs, list(xs), list(ys))
    except (CRSError, RasterioError, ValueError):
        return None
    p = np.column_stack([tx, ty])
    if not np.isfinite(p).all():
        return None
    side = max(float(np.hypot(*(p[1] - p[0]))), float(np.hypot(*(p[2] - p[0]))))
    return side if side > 0 else None


def _output_grid(line: shapely.LineString, buffer_m: float, res: float) -> _Grid:
    """Bounding box + buffer, snapped outwards to multiples of ``res``.

    Snapping to a global lattice (not to the box corner) keeps DEMs imported
    for the same scenario with different buffers cell-aligned.
    """
    left, bottom, right, top = _grown_bounds(line, buffer_m)
    left = math.floor(left / res) * res
    bottom = math.floor(bottom / res) * res
    right = math.ceil(right / res) * res
    top = math.ceil(top / res) * res
    cols = max(1, round((right - left) / res))
    rows = max(1, round((top - bottom) / res))
    return _Grid(Affine(res, 0.0, left, 0.0, -res, top), rows, cols, float(res))


def _row_blocks(grid: _Grid) -> Iterator[Window]:
    """Full-width row windows of about ``_BLOCK_CELLS`` cells, whole TIFF tiles high."""
    rows = max(_TIFF_TILE, (_BLOCK_CELLS // grid.cols) // _TIFF_TILE * _TIFF_TILE)
    for row0 in range(0, grid.rows, rows):
        yield Window(0, row0, grid.cols, min(rows, grid.rows - row0))


def _border_samples(line: shapely.LineString, grid: _Grid) -> np.ndarray:
    """(row, col) of points every ~one cell along the border, both ends included."""
    n = max(2, math.ceil(line.length / grid.resolution_m) + 1)
    points = shapely.line_interpolate_point(line, np.linspace(0.0, line.length, n))
    xy = shapely.get_coordinates(points)
    inv = ~grid.transform
    cols, rows = inv @ (xy[:, 0], xy[:, 1])
    rows = np.clip(np.floor(rows).astype(np.int64), 0, grid.rows - 1)
    cols = np.clip(np.floor(cols).astype(np.int64), 0, grid.cols - 1)
    return np.column_stack([rows, cols])


# --------------------------------------------------------------------------- mosaic + write


@dataclass(slots=True)
class _Stats:
    """Running counts over blocks, turned into the report's fractions at the end."""

    clip_cells: int = 0
    valid_cells: int = 0
    samples: int = 0
    samples_valid: int = 0

    @property
    def nodata_fraction(self) -> float:
        return 1.0 - self.valid_cells / self.clip_cells if self.clip_cells else 1.0

    @property
    def border_coverage(self) -> float:
        return self.samples_valid / self.samples if self.samples else 0.0


@contextmanager
def _atomic_output(out: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``out``; move it into place only on success.

    Same directory so ``os.replace`` is an atomic rename on one filesystem.
    The name is random rather than made by ``mkstemp`` so GDAL creates the
    file with the user's umask (``mkstemp`` files are private, 0600). On any
    exception the temporary file (and any GDAL side-car) is removed.
    """
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
    try:
        yield tmp
        try:
            os.replace(tmp, out)
        except OSError as exc:
            raise TerrainError(f"{out}: could not be written ({exc.strerror}).") from None
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".aux.xml")):
            leftover.unlink(missing_ok=True)


def _write_dem(
    tmp: Path,
    tiles: Sequence[_Tile],
    crs: CRS,
    grid: _Grid,
    corridor: shapely.Geometry,
    samples: np.ndarray,
    method: Resampling,
    resampling: str,
    source_names: Sequence[str],
) -> _Stats:
    """Produce the DEM block by block into ``tmp``; return the counts for the report."""
    stats = _Stats(samples=len(samples))
    profile = {
        "driver": "GTiff",
        "width": grid.cols,
        "height": grid.rows,
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": grid.transform,
        "nodata": NODATA,
        "compress": "DEFLATE",
        "predictor": 3,
        "tiled": True,
        "blockxsize": _TIFF_TILE,
        "blockysize": _TIFF_TILE,
        "BIGTIFF": "IF_SAFER",
    }
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.update_tags(
            SYNTHETIC="no",
            SOURCE_TILES=",".join(source_names),
            IMPORTED_BY="borderwatch terrain import",
            RESAMPLING=resampling,
        )
        for window in _row_blocks(grid):
            block_transform = grid.transform @ Affine.translation(0, window.row_off)
            shape = (int(window.height), int(window.width))
            inside = _corridor_mask(corridor, block_transform, shape)
            block = _mosaic_block(tiles, crs, block_transform, inside, method)
            _count_block(stats, block, inside, samples, int(window.row_off))
            dst.write(block, 1, window=window)
    return stats


def _mosaic_block(
    tiles: Sequence[_Tile],
    crs: CRS,
    block_transform: Affine,
    inside: np.ndarray,
    method: Resampling,
) -> np.ndarray:
    """Warp each tile into one block; a cell inside the corridor keeps the first valid value.

    Every tile is warped into a scratch array and only copied into corridor
    cells that are still nodata, which gives first-wins priority without
    needing the tiles to share a CRS (unlike ``rasterio.merge``). Cells
    outside the corridor stay nodata: that is the clipping.
    """
    shape = inside.shape
    block = np.full(shape, NODATA, dtype=np.float32)
    missing = inside.copy()  # corridor cells still without a value
    scratch = np.empty(shape, dtype=np.float32)
    block_area = array_bounds(shape[0], shape[1], block_transform)  # west, south, east, north
    for tile in tiles:
        if not missing.any():
            break  # block complete (or wholly outside the corridor): skip the warping
        if not _may_overlap(tile.footprint, block_area):
            continue
        scratch.fill(NODATA)
        try:
            reproject(
                source=rasterio.band(tile.dataset, 1),
                destination=scratch,
                dst_transform=block_transform,
                dst_crs=crs,
                dst_nodata=NODATA,
                resampling=method,
            )
        except RasterioError as exc:  # e.g. a truncated download: header fine, pixels not
            raise TerrainError(
                f"{tile.label}: could not be read while reprojecting; "
                f"the file may be truncated or corrupt ({exc})."
            ) from None
        fill = missing & (scratch != NODATA) & np.isfinite(scratch)
        block[fill] = scratch[fill]
        missing &= ~fill
    return block


def _corridor_mask(
    corridor: shapely.Geometry, block_transform: Affine, shape: tuple[int, int]
) -> np.ndarray:
    """True for cells whose centre is within the buffer of the border line.

    Rasterising the buffered line is exact up to the buffer's polygon
    approximation (see ``_BUFFER_QUAD_SEGS``) and costs one vectorised pass
    per block, independent of how many vertices the border has.
    """
    return geometry_mask([corridor], out_shape=shape, transform=block_transform, invert=True)


def _count_block(
    stats: _Stats, block: np.ndarray, inside: np.ndarray, samples: np.ndarray, row0: int
) -> None:
    """Add one block's corridor, valid-cell and border-sample counts to ``stats``."""
    valid = block != NODATA
    stats.clip_cells += int(inside.sum())
    stats.valid_cells += int(valid.sum())  # masked cells are nodata, so valid implies inside
    here = (samples[:, 0] >= row0) & (samples[:, 0] < row0 + block.shape[0])
    if here.any():
        rows, cols = samples[here, 0] - row0, samples[here, 1]
        stats.samples_valid += int(valid[rows, cols].sum())
