"""Viewshed: borderwatch's Numba `viewshed` against GDAL 3.6's `gdal_viewshed`.

Same job on both sides: a 4000 x 4000 DEM of 30 m cells (synthetic rough
terrain, 600 m of relief), one observer 10 m up in the middle, 20 km range,
GDAL's default curvature coefficient 0.85714. Same answers (checked: at
least 99.5% of in-range cells identical; in practice all but the observer's
neighbours, see `borderwatch.geo.viewshed`).

Two peers, because they time different things:

* `gdal_viewshed` the program, as a user runs it: process start, opening the
  GeoTIFF, reading the window, the algorithm, writing the output GeoTIFF.
* GDAL's core alone: `GDALViewshedGenerate` called through ctypes on the
  system's libgdal (the one `gdal_viewshed` links), into an in-memory (MEM)
  raster, with the DEM already open and its blocks cached after the first
  repeat. No Python bindings are needed for that; the row is left out when
  no libgdal >= 3.6 can be loaded.

Ours works on the array already in memory: that is how borderwatch uses it.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from borderwatch.geo.viewshed import viewshed

N = 4000
CELL = 30.0
EPSG = "EPSG:32638"  # UTM 38N, WGS 84
T = from_origin(400_000.0, 3_700_000.0, CELL, CELL)
OZ, MD, CC = 10.0, 20_000.0, 0.85714
VIS, INVIS, OUT = 255, 0, 7
# a quarter cell into the middle cell: same cell however a GDAL version rounds
X, Y = T.c + (N // 2 + 0.25) * CELL, T.f - (N // 2 + 0.25) * CELL


def _fractal(n: int, seed: int, relief_m: float, beta: float) -> np.ndarray:
    """Power-law (beta) spectrum terrain: hills at every scale, like real relief."""
    rng = np.random.default_rng(seed)
    k = np.hypot(np.fft.rfftfreq(n)[None, :], np.fft.fftfreq(n)[:, None])
    k[0, 0] = 1.0
    spectrum = k ** (-beta / 2) * np.exp(2j * np.pi * rng.random(k.shape))
    spectrum[0, 0] = 0.0
    z = np.fft.irfft2(spectrum, s=(n, n))
    return ((z - z.min()) / np.ptp(z) * relief_m + 200.0).astype(np.float32)


_dir = Path(tempfile.mkdtemp(prefix="bench_viewshed_"))
atexit.register(shutil.rmtree, _dir, ignore_errors=True)
_z = _fractal(N, seed=42, relief_m=600.0, beta=3.8)
_dem = _dir / "dem.tif"
with rasterio.open(_dem, "w", driver="GTiff", width=N, height=N, count=1, dtype="float32",
                   crs=EPSG, transform=T, tiled=True) as _dst:
    _dst.write(_z, 1)


def ours():
    return viewshed(_z, T, (X, Y), observer_height_m=OZ, max_distance_m=MD, curvature_coeff=CC)


ours()  # compile (or load the Numba cache) before anything is timed


def _codes(v) -> np.ndarray:
    full = np.full(_z.shape, OUT, dtype=np.uint8)
    rows, cols = v.visible.shape
    full[v.row0:v.row0 + rows, v.col0:v.col0 + cols] = np.where(
        v.in_range, np.where(v.visible, VIS, INVIS), OUT)
    return full


def _place(window: np.ndarray, gt) -> np.ndarray:
    full = np.full(_z.shape, OUT, dtype=np.uint8)
    r0, c0 = round((T.f - gt[3]) / CELL), round((gt[0] - T.c) / CELL)
    full[r0:r0 + window.shape[0], c0:c0 + window.shape[1]] = window
    return full


def check(v, gdal_full: np.ndarray) -> None:
    mine = _codes(v)
    mask = (mine != OUT) | (gdal_full != OUT)
    share = float(np.mean(mine[mask] == gdal_full[mask]))
    assert share >= 0.995, f"viewshed agrees with GDAL on only {share:.4%} of {mask.sum()} cells"


# -- peer 1: the gdal_viewshed program --------------------------------------
_GDAL_VIEWSHED = shutil.which("gdal_viewshed")
_out = _dir / "viewshed.tif"


def peer_cli() -> Path:
    subprocess.run([_GDAL_VIEWSHED, "-q", "-ox", repr(X), "-oy", repr(Y), "-oz", repr(OZ),
                    "-md", repr(MD), "-cc", repr(CC), "-vv", str(VIS), "-iv", str(INVIS),
                    "-ov", str(OUT), str(_dem), str(_out)], check=True, capture_output=True)
    return _out


def check_cli(v, out: Path) -> None:
    with rasterio.open(out) as ds:
        window, gt = ds.read(1), ds.transform
    check(v, _place(window, (gt.c, gt.a, 0.0, gt.f, 0.0, gt.e)))


# -- peer 2: GDAL's core, GDALViewshedGenerate through ctypes ------------------
def _load_gdal_core():
    """libgdal's GDALViewshedGenerate with the DEM open, or None if unusable."""
    name = ctypes.util.find_library("gdal")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.GDALVersionInfo.restype = ctypes.c_char_p
        lib.GDALVersionInfo.argtypes = [ctypes.c_char_p]
        version = int(lib.GDALVersionInfo(b"VERSION_NUM"))
        release = lib.GDALVersionInfo(b"RELEASE_NAME").decode()
    except (OSError, AttributeError, ValueError):
        return None
    if version < 3060000:  # the signature below (with heightMode) is 3.6's and later
        return None
    vp, d, i = ctypes.c_void_p, ctypes.c_double, ctypes.c_int
    lib.GDALAllRegister()
    lib.GDALOpen.restype, lib.GDALOpen.argtypes = vp, [ctypes.c_char_p, i]
    lib.GDALGetRasterBand.restype, lib.GDALGetRasterBand.argtypes = vp, [vp, i]
    lib.GDALGetGeoTransform.argtypes = [vp, ctypes.POINTER(d)]
    lib.GDALGetRasterXSize.argtypes = lib.GDALGetRasterYSize.argtypes = [vp]
    lib.GDALRasterIO.argtypes = [vp, i, i, i, i, i, vp, i, i, i, i, i]
    lib.GDALClose.argtypes = [vp]
    gen = lib.GDALViewshedGenerate
    gen.restype = vp
    gen.argtypes = [vp, ctypes.c_char_p, ctypes.c_char_p, vp] + [d] * 9 + [i, d, vp, vp, i, vp]
    ds = lib.GDALOpen(str(_dem).encode(), 0)
    if not ds:
        return None
    atexit.register(lib.GDALClose, ds)
    return lib, gen, lib.GDALGetRasterBand(ds, 1), release


_core = _load_gdal_core()


_handles: list[int] = []  # MEM datasets made by the timed calls, closed by the check


def peer_core() -> int:
    lib, gen, band, _ = _core
    GVM_EDGE, GVOT_NORMAL = 2, 1
    handle = gen(band, b"MEM", b"", None, X, Y, OZ, 0.0, float(VIS), float(INVIS), float(OUT),
                 -1.0, CC, GVM_EDGE, MD, None, None, GVOT_NORMAL, None)
    assert handle, "GDALViewshedGenerate failed"
    _handles.append(handle)
    return handle


def check_core(v, handle: int) -> None:
    lib = _core[0]
    try:
        nx, ny = lib.GDALGetRasterXSize(handle), lib.GDALGetRasterYSize(handle)
        window = np.empty((ny, nx), dtype=np.uint8)
        err = lib.GDALRasterIO(lib.GDALGetRasterBand(handle, 1), 0, 0, 0, nx, ny,
                               window.ctypes.data, nx, ny, 1, 0, 0)  # GF_Read, GDT_Byte
        assert err == 0, "reading GDAL's MEM viewshed failed"
        gt = (ctypes.c_double * 6)()
        lib.GDALGetGeoTransform(handle, gt)
        check(v, _place(window, tuple(gt)))
    finally:
        while _handles:
            lib.GDALClose(_handles.pop())


BENCHMARKS = []
_NAME = "viewshed 4000x4000 DEM, 20 km, 1 observer"
if _GDAL_VIEWSHED is not None:
    BENCHMARKS.append((f"{_NAME} (GDAL: program incl. GeoTIFF read+write)", ours, peer_cli,
                       "gdal_viewshed", check_cli))
if _core is not None:
    BENCHMARKS.append((f"{_NAME} (GDAL core only: MEM output, cached)", ours, peer_core,
                       f"libgdal {_core[3]} core", check_core))


if __name__ == "__main__":  # stand-alone: python bench/bench_viewshed.py
    import time

    for name, mine, peer, peer_name, chk in BENCHMARKS:
        best = {}
        for label, fn in (("ours", mine), ("peer", peer)):
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                result = fn()
                times.append(time.perf_counter() - t0)
            best[label] = (min(times), result)
        chk(best["ours"][1], best["peer"][1])
        print(f"{name}: borderwatch {best['ours'][0] * 1e3:.1f} ms, {peer_name} "
              f"{best['peer'][0] * 1e3:.1f} ms, peer/ours {best['peer'][0] / best['ours'][0]:.1f}x")
