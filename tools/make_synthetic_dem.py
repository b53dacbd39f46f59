"""Write the SYNTHETIC terrain GeoTIFFs bundled with the iraq-syria and tiny scenarios.

No real elevation model of the Iraq–Syria border region can be had offline, so
the scenarios ship a *procedural* DEM instead. It is shaped on public, approximate
figures (river courses and levels, the Sinjar ridge, spot heights of the desert
plateau) so that line of sight, tower siting and patrol costs behave plausibly,
but it is not measured elevation and must never be mistaken for it. Every file
says so three times: ``synthetic`` in its name, the GeoTIFF tag
``SYNTHETIC=yes`` (with DESCRIPTION, GENERATOR, SEED and SOURCES), and the band
description ``elevation_m (synthetic)``. Users bring real tiles with
``borderwatch terrain import``.

The output is deterministic: all randomness comes from one seeded NumPy
generator per scenario. Everything is vectorised NumPy; the only Python loops
run over line segments, octaves and wadis, never over cells.

Usage (nothing here runs at borderwatch run time)::

    .venv/bin/python tools/make_synthetic_dem.py                 # both scenarios
    .venv/bin/python tools/make_synthetic_dem.py --only tiny --seed 7
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.features
from pyproj import CRS, Transformer
from rasterio.transform import from_origin
from scipy.interpolate import RectBivariateSpline
from scipy.optimize import brentq
from shapely.geometry import LineString, Polygon

DATA = Path(__file__).resolve().parents[1] / "src" / "borderwatch" / "data"
NODATA = -32768
GENERATOR = "tools/make_synthetic_dem.py"
DEFAULT_SEEDS = {"iraq-syria": 20191013, "tiny": 7}

# ---------------------------------------------------------------------------
# iraq-syria: public, approximate figures (lon, lat[, metres above sea level])
# ---------------------------------------------------------------------------
IRAQ_SYRIA_CRS = ("+proj=tmerc +lat_0=35.25 +lon_0=40.55 +k=1 +x_0=0 +y_0=0 "
                  "+ellps=WGS84 +units=m +no_defs")

# Euphrates course and river level. Raqqa and Hit are extensions beyond the
# kept (valid) area so that the valley and the north/south split have no end
# effects inside it; their levels are the generator's guesses.
EUPHRATES = [
    (39.01, 35.95, 245.0),   # Raqqa (extension)
    (40.14, 35.33, 200.0),   # Deir ez-Zor
    (40.44, 35.15, 195.0),   # Busayrah, Khabur confluence
    (40.45, 35.02, 192.0),   # Mayadin
    (40.92, 34.45, 178.0),   # Albu Kamal
    (41.09, 34.37, 174.0),   # al-Qa'im
    (41.92, 34.47, 155.0),   # Rawa
    (42.36, 34.13, 140.0),   # Haditha
    (42.83, 33.64, 60.0),    # Hit, below the Haditha dam (extension)
]
# Tigris: Hasankeyf and the Ilisu Dam extend it upstream, past the edge of the
# kept area, so the valley does not dead-end in the hills north of Cizre (their
# river levels are guesses); the tripoint sits on the river.
TIGRIS = [
    (41.41, 37.71, 440.0),   # Hasankeyf (extension)
    (41.85, 37.53, 410.0),   # Ilisu Dam (extension)
    (42.18, 37.33, 372.0),   # Cizre
    (42.356, 37.110, 352.0),  # Iraq–Syria–Turkey tripoint
    (42.38, 37.06, 340.0),   # Faysh Khabur / Fishkhabur
    (43.13, 36.34, 222.0),   # Mosul
]
KHABUR = [
    (40.07, 36.85, 350.0),   # Ras al-Ayn (source springs)
    (40.74, 36.50, 300.0),   # Hasakah
    (40.73, 36.06, 262.0),   # Shaddadi
    (40.44, 35.15, 197.0),   # Busayrah, confluence with the Euphrates
]
SINJAR = {"west": (41.35, 36.325), "east": (42.15, 36.40), "peak_lon": 41.85,
          "crest_m": 1463.0, "sigma_m": 3200.0}
ABD_AL_AZIZ = {"west": (40.18, 36.47), "east": (40.62, 36.52), "peak_lon": 40.40,
               "crest_m": 920.0, "sigma_m": 2500.0}
RUTBA = (40.28, 33.04, 615.0)
AL_TANF = (38.70, 33.45, 700.0)
# The high desert between al-Tanf and Rutba that the generated wadis drain from.
WADI_DIVIDE = (39.6, 33.3)
# Where the large-scale surface is pinned to a public figure, the coarse noise
# is shifted to zero (see anchor_noise): the two plateau spot heights, and
# al-Malikiyah for the Jazira's 450-500 m near the northern tripoint.
NOISE_ANCHORS = [RUTBA[:2], AL_TANF[:2], (42.14, 37.08)]
PLATEAU_AT_RIVER_M = 240.0  # plateau level extrapolated to the Euphrates line
# Jazira plain north of the Euphrates: level by latitude, rising into the
# Turkish foothills (450–500 m near the northern tripoint).
JAZIRA_LAT = [34.0, 35.0, 35.8, 36.6, 37.1, 37.5, 37.9]
JAZIRA_M = [240.0, 255.0, 285.0, 345.0, 470.0, 620.0, 780.0]
# Places the DEM must cover (15 km margin) and keep valid (25 km radius) even
# where they are farther than 80 km from the border. Rutba (added beyond the
# brief) is the Anbar desert sector's base and one of the calibration heights.
KEEP_POINTS = {
    "al-Hol": (41.147, 36.375), "Hasakah": (40.74, 36.47), "Shaddadi": (40.73, 36.06),
    "al-Malikiyah": (42.14, 37.08), "Ain Issa": (38.86, 36.385), "Rutba": (40.28, 33.04),
}

IRAQ_SYRIA_DESCRIPTION = (
    "SYNTHETIC procedural elevation model in metres above sea level, shaped on public "
    "features of the Iraq-Syria border region (Euphrates, Tigris and Khabur valleys, Jebel "
    "Sinjar, Jebel Abd al-Aziz, Jazira plain, Anbar plateau / Syrian Desert); it is not "
    "measured elevation.")
IRAQ_SYRIA_SOURCES = (
    "Border: Natural Earth 1:10m admin-0 (public domain) via npm world-atlas 2.0.2 "
    "(border.geojson). Place coordinates, approximate, from public gazetteers: Raqqa, "
    "Deir ez-Zor, Busayrah, Mayadin, Albu Kamal 40.92E 34.45N, al-Qa'im 41.09E 34.37N, Rawa, "
    "Haditha, Hit; Hasankeyf, Ilisu Dam, Cizre 42.18E 37.33N, Faysh Khabur 42.38E 37.06N, Mosul; "
    "Ras al-Ayn, Hasakah, Shaddadi; Rutba 40.28E 33.04N, al-Tanf. Heights, approximate "
    "public figures: Jebel Sinjar highest point 1,463 m (Wikipedia 'Sinjar Mountains'), "
    "ridge ~75 km long, 10-15 km wide, 41.35-42.15E; Jebel Abd al-Aziz ~920 m; Rutba "
    "~615 m; al-Tanf ~700 m; Euphrates ~200 m at Deir ez-Zor, 170-180 m near al-Qa'im, "
    "~140 m at Haditha; Tigris ~340 m at Faysh Khabur; Khabur valley ~250-350 m; Jazira "
    "plain ~250-450 m rising to 450-500 m near the Turkey tripoint. Invented by the "
    "generator: river levels at the extension points (Raqqa, Hit, Ilisu Dam, Hasankeyf), valley "
    "widths, the plateau and Jazira profiles between the figures above, all wadis, "
    "ridge shapes and the fractal noise.")

# ---------------------------------------------------------------------------
# tiny: invented, plainly synthetic, near 0N 0E
# ---------------------------------------------------------------------------
TINY_CRS = ("+proj=tmerc +lat_0=0.15 +lon_0=0.11 +k=1 +x_0=0 +y_0=0 "
            "+ellps=WGS84 +units=m +no_defs")
TINY_DESCRIPTION = (
    "SYNTHETIC procedural elevation model in metres, invented for tests near 0N 0E (a plain, "
    "an east-west ridge and an eastward-flowing river valley); it is not measured elevation "
    "and describes no real place.")
TINY_SOURCES = "none: invented for tests"


# ---------------------------------------------------------------------------
# Grid and geometry helpers
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Grid:
    """A north-up grid of square cells in the local projection (metres)."""

    left: float
    top: float
    res: float
    rows: int
    cols: int

    @classmethod
    def covering(cls, xmin: float, ymin: float, xmax: float, ymax: float, res: float) -> "Grid":
        """The smallest grid aligned on multiples of ``res`` that covers the box."""
        left, right = math.floor(xmin / res) * res, math.ceil(xmax / res) * res
        bottom, top = math.floor(ymin / res) * res, math.ceil(ymax / res) * res
        return cls(left, top, res, round((top - bottom) / res), round((right - left) / res))

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols

    @property
    def transform(self):
        return from_origin(self.left, self.top, self.res, self.res)

    @property
    def xs(self) -> np.ndarray:
        """Cell-centre x of every column."""
        return self.left + (np.arange(self.cols) + 0.5) * self.res

    @property
    def ys(self) -> np.ndarray:
        """Cell-centre y of every row (decreasing: row 0 is the north edge)."""
        return self.top - (np.arange(self.rows) + 0.5) * self.res

    def window(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice]:
        """Row and column slices of the cells whose centres may lie in the box."""
        big = 1e9
        x0, x1, y0, y1 = (float(np.clip(v, -big, big)) for v in (x0, x1, y0, y1))
        c0 = max(0, math.floor((x0 - self.left) / self.res))
        c1 = min(self.cols, math.ceil((x1 - self.left) / self.res) + 1)
        r0 = max(0, math.floor((self.top - y1) / self.res))
        r1 = min(self.rows, math.ceil((self.top - y0) / self.res) + 1)
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def lonlat(self, crs: str) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude of every cell centre."""
        x, y = np.meshgrid(self.xs, self.ys)
        tf = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        lon, lat = tf.transform(x, y)
        return np.asarray(lon), np.asarray(lat)


def to_local(crs: str, lonlat) -> np.ndarray:
    """Project (lon, lat[, ...]) rows to local metres; extra columns are dropped."""
    a = np.asarray(lonlat, dtype=float)
    tf = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tf.transform(a[:, 0], a[:, 1])
    return np.column_stack([x, y])


def read_border(path: Path) -> np.ndarray:
    """The border LineString as an (n, 2) lon/lat array."""
    data = json.loads(path.read_text())
    geom = data["features"][0]["geometry"] if data.get("type") == "FeatureCollection" else data
    return np.asarray(geom["coordinates"], dtype=float)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """0 below edge0, 1 above edge1, a C1-smooth S between: blends features without kinks."""
    t = np.clip((np.asarray(x, dtype=float) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def chainage(line: np.ndarray) -> np.ndarray:
    """Cumulative length (m) along a polyline at each vertex."""
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))])


def densify(line: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ~step metres along a polyline, with their chainage."""
    cum = chainage(line)
    stations = np.linspace(0.0, cum[-1], max(int(cum[-1] / step), 1) + 1)
    pts = np.column_stack([np.interp(stations, cum, line[:, 0]),
                           np.interp(stations, cum, line[:, 1])])
    return pts, stations


def polyline_distance(grid: Grid, line: np.ndarray, max_dist: float = np.inf):
    """Distance from cell centres to a polyline, and the chainage of the nearest point.

    Why: valleys, ridges and wadis are all shaped by 'how far from this line and
    how far along it'. Returns ``(window, dist, chain)`` where ``window`` is the
    (row, col) slice pair of the grid the arrays cover: the line's bounding box
    grown by ``max_dist`` (the whole grid when it is infinite). Cells beyond
    ``max_dist`` of every segment may hold ``inf``. The loop runs over segments,
    each touching only the cells within ``max_dist`` of it.
    """
    line = np.asarray(line, dtype=float)
    pad = max_dist if np.isfinite(max_dist) else 1e9
    win = grid.window(line[:, 0].min() - pad, line[:, 0].max() + pad,
                      line[:, 1].min() - pad, line[:, 1].max() + pad)
    wr, wc = win
    dist = np.full((wr.stop - wr.start, wc.stop - wc.start), np.inf)
    chain = np.zeros_like(dist)
    cum = chainage(line)
    xs, ys = grid.xs, grid.ys
    for i in range(len(line) - 1):
        (ax, ay), (bx, by) = line[i], line[i + 1]
        sr, sc = grid.window(min(ax, bx) - pad, max(ax, bx) + pad,
                             min(ay, by) - pad, max(ay, by) + pad)
        if sr.stop <= sr.start or sc.stop <= sc.start:
            continue
        px = xs[sc][None, :] - ax
        py = ys[sr][:, None] - ay
        dx, dy = bx - ax, by - ay
        len2 = dx * dx + dy * dy
        t = np.clip((px * dx + py * dy) / len2, 0.0, 1.0) if len2 > 0 else 0.0 * px * py
        d = np.hypot(px - t * dx, py - t * dy)
        local = (slice(sr.start - wr.start, sr.stop - wr.start),
                 slice(sc.start - wc.start, sc.stop - wc.start))
        sub_d, sub_c = dist[local], chain[local]  # views
        better = d < sub_d
        sub_d[better] = d[better]
        sub_c[better] = (cum[i] + t * math.sqrt(len2))[better]
    return win, dist, chain


def full(grid: Grid, win, values: np.ndarray, fill: float) -> np.ndarray:
    """Place a windowed array into a full-grid array filled with ``fill``."""
    out = np.full(grid.shape, fill, dtype=float)
    out[win] = values
    return out


# ---------------------------------------------------------------------------
# Terrain building blocks
# ---------------------------------------------------------------------------
def fractal_noise(grid: Grid, rng: np.random.Generator, octaves) -> np.ndarray:
    """Sum of value-noise octaves, ``octaves`` = [(wavelength_m, rms_amplitude_m), ...].

    Why: real terrain has relief at every scale; without it every line of sight
    over a plain is trivially clear. Each octave is a lattice of Gaussian values
    at the octave's wavelength, interpolated with a bicubic spline (smooth, so
    slopes stay plausible) and scaled to the requested RMS amplitude.
    """
    total = np.zeros(grid.shape)
    height, width = grid.rows * grid.res, grid.cols * grid.res
    for wavelength, amplitude in octaves:
        ny, nx = int(height / wavelength) + 4, int(width / wavelength) + 4
        lattice = rng.normal(size=(ny, nx))
        spline = RectBivariateSpline(np.arange(ny), np.arange(nx), lattice, kx=3, ky=3, s=0)
        r = 1.0 + (np.arange(grid.rows) + 0.5) * grid.res / wavelength
        c = 1.0 + (np.arange(grid.cols) + 0.5) * grid.res / wavelength
        layer = spline(r, c)
        total += amplitude * (layer - layer.mean()) / (layer.std() or 1.0)
    return total


def anchor_noise(grid: Grid, noise: np.ndarray, anchors: np.ndarray,
                 radius: float = 25e3) -> np.ndarray:
    """Shift ``noise`` to zero at each anchor point, fading the shift out over ``radius``.

    Why: coarse noise of a few tens of metres RMS can move a public spot height
    by 70 m or more. Subtracting its local value under a Gaussian bump keeps
    the relief shape around the anchor but makes the surface there honour the
    figure it was calibrated on. Anchors must be several radii apart.
    """
    out = noise.copy()
    xs, ys = grid.xs[None, :], grid.ys[:, None]
    for ax, ay in anchors:
        r = min(max(int((grid.top - ay) // grid.res), 0), grid.rows - 1)
        c = min(max(int((ax - grid.left) // grid.res), 0), grid.cols - 1)
        out -= noise[r, c] * np.exp(-0.5 * ((xs - ax) ** 2 + (ys - ay) ** 2) / radius ** 2)
    return out


def river_valley(elev: np.ndarray, dist: np.ndarray, chain: np.ndarray, stations, levels,
                 floor_halfwidth: float, bluff_width: float, head_taper: float = 0.0):
    """Cut a flat-floored river valley into ``elev``; return (new elev, floor weight).

    Why: the big rivers set the lowest ground and the sharpest breaks in line of
    sight. The floor follows the river level (interpolated by chainage between
    the public figures), rises a few metres to the edge of the floodplain, then
    bluffs climb back to the surrounding surface over ``bluff_width``. The
    result is never higher than the input (a valley builds no levee), except
    that ground on the floor is raised to the river level (no pits beside the
    river), and ``head_taper`` fades the valley out over that many metres from
    the first vertex (a spring-fed source, not a cliff).
    """
    river = np.interp(chain, stations, levels)
    floor = river + 3.0 * smoothstep(0.0, floor_halfwidth, dist)
    keep = smoothstep(floor_halfwidth, floor_halfwidth + bluff_width, dist)
    if head_taper > 0:
        keep = 1.0 - (1.0 - keep) * smoothstep(0.0, head_taper, chain)
    carved = np.minimum(elev, floor + (elev - floor) * keep)
    # No ground below the river on its floor (a wadi mouth or a noise low would be a lake).
    carved += (1.0 - keep) * np.maximum(river - carved, 0.0)
    return carved, 1.0 - keep


def ridge(grid: Grid, west, east, sigma: float, peak_at: float, end_taper: float) -> np.ndarray:
    """Unit-height elongated ridge along the segment west→east (local metres).

    Why: anticlines such as Jebel Sinjar are long and narrow, highest part-way
    along and plunging at both ends. Across the axis the profile is Gaussian
    (``sigma``); along it the height tapers smoothly to zero over ``end_taper``
    at each end and carries a broad bump centred ``peak_at`` metres from the
    west end, so the highest point sits where the public figures put it.
    """
    (ax, ay), (bx, by) = west, east
    length = math.hypot(bx - ax, by - ay)
    ux, uy = (bx - ax) / length, (by - ay) / length
    pad = 5.0 * sigma
    win = grid.window(min(ax, bx) - pad, max(ax, bx) + pad, min(ay, by) - pad, max(ay, by) + pad)
    px = grid.xs[win[1]][None, :] - ax
    py = grid.ys[win[0]][:, None] - ay
    along = px * ux + py * uy
    across = -px * uy + py * ux
    envelope = (smoothstep(0.0, end_taper, along) * smoothstep(0.0, end_taper, length - along)
                * (0.8 + 0.2 * np.exp(-0.5 * ((along - peak_at) / (0.2 * length)) ** 2)))
    out = np.zeros(grid.shape)
    out[win] = envelope * np.exp(-0.5 * (across / sigma) ** 2)
    return out


def add_ridge_to_peak(elev: np.ndarray, shape: np.ndarray, crest_m: float) -> np.ndarray:
    """Add ``k * shape`` to ``elev`` with k chosen so the highest cell is ``crest_m``.

    Why: the public figure is the summit height, not the relief above the
    plain, and the plain under the ridge already carries noise. Two fixed-point
    passes settle k because the summit cell can move once k changes.
    """
    on = shape > 0.05
    base, s = elev[on], shape[on]
    k = 0.0
    for _ in range(3):
        i = int(np.argmax(base + k * s)) if k > 0 else int(np.argmax(s))
        k = (crest_m - base[i]) / s[i]
    return elev + k * shape


def plateau_ramp(dist_m: np.ndarray, rise_m: float, scale_m: float,
                 at_river_m: float = PLATEAU_AT_RIVER_M) -> np.ndarray:
    """Desert plateau level south of the Euphrates as a function of distance from it.

    Why: the Anbar plateau / Syrian Desert (Hamad) rises steadily away from
    the river toward the Jordan tripoint; a saturating exponential is steeper
    near the river and flattens far from it, which lets it pass through both
    public spot heights (see :func:`calibrate_plateau`).
    """
    return at_river_m + rise_m * (1.0 - np.exp(-dist_m / scale_m))


def calibrate_plateau(d1: float, z1: float, d2: float, z2: float,
                      at_river_m: float = PLATEAU_AT_RIVER_M) -> tuple[float, float]:
    """(rise, scale) of :func:`plateau_ramp` through two (distance, height) spot heights."""
    want = (z1 - at_river_m) / (z2 - at_river_m)

    def ratio_gap(scale: float) -> float:
        return (1 - math.exp(-d1 / scale)) / (1 - math.exp(-d2 / scale)) - want

    try:
        scale = brentq(ratio_gap, 1e3, 1e7)
    except ValueError:  # the two heights do not curve: fall back to a near-straight ramp
        scale = 1e7
    rise = (z1 - at_river_m) / (1 - math.exp(-d1 / scale))
    return rise, scale


def jazira_plain(lat: np.ndarray) -> np.ndarray:
    """Level of the Jazira plain north of the Euphrates, by latitude.

    Why: the Jazira is a broad plain that climbs gently from the Euphrates to the
    Turkish foothills (~450–500 m at the northern tripoint); latitude is the
    simplest driver of that rise and blends smoothly with everything else.
    """
    return np.interp(lat, JAZIRA_LAT, JAZIRA_M)


def south_of(grid: Grid, river: np.ndarray) -> np.ndarray:
    """True for cells on the plateau side (south/south-west) of the river polyline.

    Why: the Jazira and the desert plateau follow different rules and meet at
    the river, where the valley floor hides the seam. The river is extended
    far past both ends and closed around the south, then rasterised.
    """
    (x0, y0), (x1, y1) = river[0], river[1]
    (xa, ya), (xb, yb) = river[-2], river[-1]
    span = 2e6
    head = (x0 - span * (x1 - x0) / math.hypot(x1 - x0, y1 - y0),
            y0 - span * (y1 - y0) / math.hypot(x1 - x0, y1 - y0))
    tail = (xb + span * (xb - xa) / math.hypot(xb - xa, yb - ya),
            yb + span * (yb - ya) / math.hypot(xb - xa, yb - ya))
    far = 4e6
    ring = [head, *map(tuple, river), tail, (tail[0], -far), (-far, -far), (-far, head[1])]
    poly = Polygon(ring).buffer(0)
    mask = rasterio.features.rasterize([(poly, 1)], out_shape=grid.shape,
                                       transform=grid.transform, fill=0, dtype="uint8")
    return mask.astype(bool)


def wander(rng: np.random.Generator, mouth, head, *, step: float = 1000.0,
           amp_frac: float = 0.05, pin_head: bool = False) -> np.ndarray:
    """A meandering polyline from ``mouth`` to near ``head``, pinned at the mouth.

    Why: straight channels look artificial and line up with sight lines. The
    sideways offset is a sine series (zero at the mouth; also zero at the head
    when ``pin_head``) with coefficients falling with wavenumber, so the path is
    smooth at large scale and wiggly at small scale.
    """
    mouth, head = np.asarray(mouth, float), np.asarray(head, float)
    v = head - mouth
    length = float(np.hypot(*v))
    n = max(int(math.ceil(length / step)), 2)
    t = np.linspace(0.0, 1.0, n + 1)
    k = np.arange(1, 15)
    coef = rng.normal(size=k.size) / k ** 1.2
    phase = (k if pin_head else k - 0.5) * np.pi
    offset = (np.sin(np.outer(t, phase)) @ coef) * amp_frac * length
    normal = np.array([-v[1], v[0]]) / length
    return mouth + np.outer(t, v) + np.outer(offset, normal)


def rotate(v: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate a 2-vector clockwise (compass sense) by ``degrees``."""
    a = math.radians(degrees)
    return np.array([v[0] * math.cos(a) + v[1] * math.sin(a),
                     -v[0] * math.sin(a) + v[1] * math.cos(a)])


def carve_channel(grid: Grid, incision: np.ndarray, path: np.ndarray, depth_at_mouth: float,
                  floor_halfwidth: float, wall_width: float) -> None:
    """Max-in the incision (m) of one dry channel, deepest at its mouth, zero at its head."""
    win, dist, chain = polyline_distance(grid, path, floor_halfwidth + wall_width)
    frac = np.clip(chain / max(chainage(path)[-1], 1.0), 0.0, 1.0)
    depth = depth_at_mouth * (1.0 - frac) ** 0.7
    profile = 1.0 - smoothstep(floor_halfwidth, floor_halfwidth + wall_width, dist)
    np.maximum(incision[win], depth * profile, out=incision[win])


def wadi_network(grid: Grid, rng: np.random.Generator, river: np.ndarray,
                 river_reach: tuple[float, float], divide: np.ndarray,
                 spacing: float = 18e3):
    """Dendritic dry wadis on the plateau south of the Euphrates: (incision m, paths).

    Why: the desert plateau is not a smooth ramp; shallow wadis (10-40 m) are
    where movement hides from towers, and several of them cross the border.
    Trunks leave the Euphrates every ~``spacing`` metres of its course within
    ``river_reach`` (chainage, m) and climb toward the high desert around
    ``divide`` (so they drain generally north-east), stopping well short of it
    so their heads do not meet. Those reaching the river between Mayadin and
    Albu Kamal come up from the Iraqi side and cross the border on the way.
    Each trunk gets side tributaries, and those get smaller ones, branching at
    acute angles upstream: a dendritic pattern.
    """
    incision = np.zeros(grid.shape)
    stations, chain = densify(river, 500.0)
    n = int((river_reach[1] - river_reach[0]) // spacing)
    mouths = river_reach[0] + (np.arange(n) + 0.5 + rng.uniform(-0.25, 0.25, n)) * spacing
    trunks = []
    for at in mouths:
        mouth = np.array([np.interp(at, chain, stations[:, 0]),
                          np.interp(at, chain, stations[:, 1])])
        up = divide - mouth
        reach_m = float(np.hypot(*up))
        heading = rotate(up / reach_m, rng.normal(0.0, 8.0))
        trunks.append(wander(rng, mouth, mouth + heading * reach_m * rng.uniform(0.35, 0.75),
                             amp_frac=0.03))

    paths = []
    for trunk in trunks:
        depth = rng.uniform(28.0, 40.0)
        carve_channel(grid, incision, trunk, depth, 250.0, 700.0)
        paths.append(trunk)
        cum = chainage(trunk)
        side = rng.choice([-1.0, 1.0])
        for f in np.sort(rng.uniform(0.1, 0.85, size=rng.integers(3, 7))):
            j = int(np.clip(np.searchsorted(cum, f * cum[-1]), 1, len(trunk) - 2))
            upstream = trunk[j + 1] - trunk[j - 1]
            upstream /= np.hypot(*upstream)
            side = -side
            heading = rotate(upstream, side * rng.uniform(25.0, 55.0))
            trib_len = rng.uniform(8e3, 30e3) * (1.0 - 0.4 * f)
            trib = wander(rng, trunk[j], trunk[j] + heading * trib_len, amp_frac=0.08)
            trib_depth = float(np.clip(0.55 * depth * (1 - f) ** 0.7, 6.0, 18.0))
            carve_channel(grid, incision, trib, trib_depth, 100.0, 450.0)
            paths.append(trib)
            for g in rng.uniform(0.2, 0.7, size=rng.integers(0, 3)):
                tc = chainage(trib)
                m = int(np.clip(np.searchsorted(tc, g * tc[-1]), 1, len(trib) - 2))
                up = trib[m + 1] - trib[m - 1]
                up /= np.hypot(*up)
                twig_head = trib[m] + rotate(up, rng.choice([-1, 1]) * rng.uniform(30, 60)) \
                    * rng.uniform(3e3, 10e3)
                twig = wander(rng, trib[m], twig_head, step=500.0, amp_frac=0.08)
                carve_channel(grid, incision, twig, 0.6 * trib_depth * (1 - g) ** 0.7,
                              60.0, 350.0)
                paths.append(twig)
    return incision, paths


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------
def build_iraq_syria(seed: int):
    """Elevation (float, NaN = no-data), grid and a small report for iraq-syria."""
    rng = np.random.default_rng(seed)
    crs = IRAQ_SYRIA_CRS
    border = to_local(crs, read_border(DATA / "iraq-syria" / "border.geojson"))
    keep = to_local(crs, list(KEEP_POINTS.values()))
    lo = np.minimum(border.min(axis=0) - 60e3, keep.min(axis=0) - 15e3)
    hi = np.maximum(border.max(axis=0) + 60e3, keep.max(axis=0) + 15e3)
    grid = Grid.covering(lo[0], lo[1], hi[0], hi[1], 250.0)
    _, lat = grid.lonlat(crs)

    # Large-scale surface: Jazira plain north of the Euphrates, plateau south of it.
    euph = to_local(crs, EUPHRATES)
    euph_levels = np.array(EUPHRATES)[:, 2]
    euph_stations = chainage(euph)
    _, e_dist, e_chain = polyline_distance(grid, euph)
    south = south_of(grid, euph)
    (d_rutba, d_tanf) = (float(np.min(np.hypot(*(densify(euph, 100.0)[0] - p).T)))
                         for p in to_local(crs, [RUTBA, AL_TANF]))
    rise, scale = calibrate_plateau(d_rutba, RUTBA[2], d_tanf, AL_TANF[2])
    elev = np.where(south, plateau_ramp(e_dist, rise, scale), jazira_plain(lat))
    del lat
    # Rolling relief. The coarse part is damped near the Euphrates, whose bluff
    # tops are a known level (~250 m), and pinned at the calibration points.
    coarse = fractal_noise(grid, rng, [(64e3, 18.0), (32e3, 12.0), (16e3, 8.0), (8e3, 5.0)])
    coarse *= 0.4 + 0.6 * smoothstep(0.0, 20e3, e_dist)
    elev += anchor_noise(grid, coarse, to_local(crs, NOISE_ANCHORS))
    del coarse
    elev += fractal_noise(grid, rng, [(4e3, 3.5), (2e3, 2.2), (1e3, 1.3), (500.0, 0.8)])

    # Wadis on the plateau, between Mayadin and Haditha, several through the border.
    reach = (euph_stations[3], euph_stations[7])
    incision, wadis = wadi_network(grid, rng, euph, reach, to_local(crs, [WADI_DIVIDE])[0])
    elev -= incision * south
    del incision

    # River valleys, cut after the wadis so the wadis meet their floors.
    elev, _ = river_valley(elev, e_dist, e_chain, euph_stations, euph_levels, 2500.0, 6000.0)
    del e_dist, e_chain
    for course, half, bluff, taper in ((KHABUR, 1000.0, 4000.0, 15e3),
                                       (TIGRIS, 1500.0, 6000.0, 0.0)):
        line = to_local(crs, course)
        win, dist, chain = polyline_distance(grid, line, half + bluff + 1000.0)
        elev[win], _ = river_valley(elev[win], dist, chain, chainage(line),
                                    np.array(course)[:, 2], half, bluff, taper)
    # A metre or so of micro-relief everywhere, floors included (they are not glass).
    elev += fractal_noise(grid, rng, [(750.0, 0.8)])

    # Ridges last, with rough crests (relief modulated by noise), scaled so the
    # highest cell is the public summit height. They lie clear of the valleys.
    rough = fractal_noise(grid, rng, [(8e3, 0.05), (4e3, 0.04), (2e3, 0.03), (1e3, 0.015)])
    for spec, taper in ((ABD_AL_AZIZ, 10e3), (SINJAR, 18e3)):
        w, e = to_local(crs, [spec["west"], spec["east"]])
        peak = to_local(crs, [(spec["peak_lon"], (spec["west"][1] + spec["east"][1]) / 2)])[0]
        peak_at = float(np.dot(peak - w, (e - w) / np.hypot(*(e - w))))
        shape = ridge(grid, w, e, spec["sigma_m"], peak_at, taper) * (1.0 + rough)
        elev = add_ridge_to_peak(elev, shape, spec["crest_m"])
    del rough

    # Keep the watch corridor (80 km of the border) and the named places (25 km).
    win, b_dist, _ = polyline_distance(grid, border, 80e3)
    valid = full(grid, win, b_dist, np.inf) <= 80e3
    del b_dist
    xs, ys = grid.xs[None, :], grid.ys[:, None]
    for px, py in keep:
        valid |= np.hypot(xs - px, ys - py) <= 25e3
    elev[~valid] = np.nan

    crossing = sum(LineString(p).intersects(LineString(border)) for p in wadis)
    report = {"plateau": f"rise {rise:.0f} m, scale {scale / 1e3:.0f} km "
                         f"(Rutba {d_rutba / 1e3:.0f} km, al-Tanf {d_tanf / 1e3:.0f} km "
                         "from the Euphrates)",
              "wadis": f"{len(wadis)} channels, {crossing} cross the border"}
    return elev, grid, crs, report


def build_tiny(seed: int):
    """Elevation, grid and report for the invented tiny scenario (all cells valid)."""
    rng = np.random.default_rng(seed)
    crs = TINY_CRS
    border = to_local(crs, read_border(DATA / "tiny" / "border.geojson"))
    lo, hi = border.min(axis=0) - 12e3, border.max(axis=0) + 12e3
    grid = Grid.covering(lo[0], lo[1], hi[0], hi[1], 100.0)

    # A plain at ~300 m with a gentle eastward tilt, and rolling noise.
    xs = grid.xs[None, :]
    elev = 300.0 + 0.0004 * (grid.left + grid.cols * grid.res / 2 - xs)
    elev = elev + fractal_noise(grid, rng, [(8e3, 6.0), (4e3, 4.0), (2e3, 2.5), (1e3, 1.5),
                                            (500.0, 0.9), (250.0, 0.5)])

    # An east-west ridge ~250 m high across the border near lat 0.20 (ending
    # ~4 km east of the West camp at 0.01E so the camp stays on the plain).
    w, e = to_local(crs, [(0.045, 0.200), (0.200, 0.203)])
    rough = fractal_noise(grid, rng, [(2e3, 0.05), (1e3, 0.03), (500.0, 0.015)])
    length = float(np.hypot(*(e - w)))
    elev += 250.0 * ridge(grid, w, e, 1300.0, 0.5 * length, 4e3) * (1.0 + rough)

    # A river ~40 m below the plain crossing the border near lat 0.08, flowing east.
    y0 = to_local(crs, [(0.11, 0.08)])[0, 1]
    rx = np.arange(grid.left - 1e3, grid.left + grid.cols * grid.res + 1e3, 500.0)
    ry = (y0 + 350.0 * np.sin(2 * np.pi * rx / 9000.0)
          + 200.0 * np.sin(2 * np.pi * rx / 4000.0 + 1.0))
    river = np.column_stack([rx, ry])
    stations = chainage(river)
    _, dist, chain = polyline_distance(grid, river)
    elev, _ = river_valley(elev, dist, chain, [0.0, stations[-1]], [262.0, 255.0], 250.0, 1200.0)
    elev += fractal_noise(grid, rng, [(300.0, 0.5)])
    return elev, grid, crs, {"river": f"floor 262 m (west) to 255 m (east), {len(river)} vertices"}


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------
def write_dem(path: Path, elev: np.ndarray, grid: Grid, crs: str, *, seed: int,
              description: str, sources: str) -> None:
    """Write int16 metres, DEFLATE + predictor 2, 256x256 tiles, tagged SYNTHETIC.

    Written to a temporary file next to the target and renamed into place, so
    a failed run never leaves a half-written DEM behind.
    """
    data = np.where(np.isfinite(elev), np.clip(np.rint(elev), -32767, 32767), NODATA)
    profile = {
        "driver": "GTiff", "width": grid.cols, "height": grid.rows, "count": 1,
        "dtype": "int16", "crs": CRS.from_user_input(crs).to_wkt(),
        "transform": grid.transform, "nodata": NODATA, "compress": "DEFLATE", "predictor": 2,
        "tiled": True, "blockxsize": 256, "blockysize": 256,
    }
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.update_tags(SYNTHETIC="yes", DESCRIPTION=description, GENERATOR=GENERATOR,
                            SEED=str(seed), SOURCES=sources)
            dst.set_band_description(1, "elevation_m (synthetic)")
            dst.write(data.astype(np.int16), 1)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the DEM is a shared data file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


SCENARIOS = {
    "iraq-syria": (build_iraq_syria, IRAQ_SYRIA_DESCRIPTION, IRAQ_SYRIA_SOURCES),
    "tiny": (build_tiny, TINY_DESCRIPTION, TINY_SOURCES),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(SCENARIOS), help="build one scenario only")
    parser.add_argument("--seed", type=int, help="random seed (default: 20191013 for "
                        "iraq-syria, 7 for tiny)")
    args = parser.parse_args(argv)
    for name in [args.only] if args.only else list(SCENARIOS):
        build, description, sources = SCENARIOS[name]
        seed = args.seed if args.seed is not None else DEFAULT_SEEDS[name]
        elev, grid, crs, report = build(seed)
        out = DATA / name / "terrain-synthetic.tif"
        write_dem(out, elev, grid, crs, seed=seed, description=description, sources=sources)
        valid = np.isfinite(elev)
        print(f"{name}: wrote {out} ({out.stat().st_size / 1e6:.2f} MB), {grid.rows}x{grid.cols} "
              f"cells of {grid.res:g} m, {np.nanmin(elev):.0f}-{np.nanmax(elev):.0f} m, "
              f"{100 * valid.mean():.0f}% valid, seed {seed}")
        for key, text in report.items():
            print(f"  {key}: {text}")


if __name__ == "__main__":
    main()
