"""Measurement models: what a tower, an aircraft or a patrol reports, in local metres.

A tower measures range and bearing from where it stands; an aircraft or a
patrol reports a position (often as longitude/latitude). Both are converted
here, once, at the edge, into `Detections` with a covariance in metres, so
that the tracker runs a single linear position update for everything
(converted-measurement Kalman filter; Bar-Shalom, Willett & Tian,
*Tracking and Data Fusion*, 2011, §9.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from borderwatch.errors import TrackError
from borderwatch.geo.projection import LocalProjection
from borderwatch.track.detections import Detections


def _arr(name: str, value, n: int | None = None) -> np.ndarray:
    a = np.atleast_1d(np.asarray(value, dtype=float))
    if n is not None and a.size == 1 and n != 1:
        a = np.full(n, a[0])
    if a.ndim != 1 or (n is not None and len(a) != n):
        raise TrackError(f"{name} must be one value per report ({n} rows), got shape {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        raise TrackError(f"{name}[{int(np.flatnonzero(bad)[0])}] is not a finite number")
    return a


def range_bearing_to_xy(sx, sy, range_m, bearing_rad, sigma_range_m, sigma_bearing_rad
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions and covariances of range/bearing reports from sensors at (sx, sy).

    Every argument may be an array (one value per report) or a scalar; bearing
    is clockwise from grid north. Returns x, y (n,) and cov (n, 2, 2) with
    cov = J·diag(σr², σb²)·Jᵀ, J the Jacobian of (x, y) in (r, b).
    """
    r = np.asarray(range_m, float)
    b = np.asarray(bearing_rad, float)
    r, b = np.broadcast_arrays(np.atleast_1d(r), np.atleast_1d(b))
    n = len(r)
    sr = np.broadcast_to(np.asarray(sigma_range_m, float), (n,))
    sbr = np.broadcast_to(np.asarray(sigma_bearing_rad, float), (n,))
    sb, cb = np.sin(b), np.cos(b)
    x = np.asarray(sx, float) + r * sb
    y = np.asarray(sy, float) + r * cb
    vr, vb = sr * sr, sbr * sbr
    cov = np.empty((n, 2, 2))
    # J = [[sin b, r cos b], [cos b, -r sin b]]
    cov[:, 0, 0] = sb * sb * vr + (r * cb) ** 2 * vb
    cov[:, 1, 1] = cb * cb * vr + (r * sb) ** 2 * vb
    cov[:, 0, 1] = cov[:, 1, 0] = sb * cb * vr - r * r * sb * cb * vb
    # Close to the sensor the bearing term vanishes and the matrix is nearly
    # singular; a floor of a millionth of the range variance keeps it definite.
    floor = vr * 1e-6
    cov[:, 0, 0] += floor
    cov[:, 1, 1] += floor
    return x, y, cov


@dataclass(frozen=True, slots=True)
class RangeBearingSensor:
    """A sensor at a fixed point (a tower) measuring range and bearing.

    Bearing is clockwise from grid north (local +y), in radians; `sigma_*`
    are 1σ errors. Reports become positions with the linearised covariance
    J·diag(σr², σb²)·Jᵀ, which is accurate while σb·r is small compared with
    r (always the case for a tower's optics at border ranges).
    """

    sensor: int
    x: float
    y: float
    sigma_range_m: float
    sigma_bearing_rad: float

    def __post_init__(self) -> None:
        if not (self.sigma_range_m > 0 and self.sigma_bearing_rad > 0):
            raise TrackError(f"sensor {self.sensor}: range and bearing errors must be > 0")

    def detections(self, t, range_m, bearing_rad, category=None) -> Detections:
        r = _arr("range_m", range_m)
        n = len(r)
        b = _arr("bearing_rad", bearing_rad, n)
        if np.any(r < 0):
            raise TrackError(f"range_m[{int(np.flatnonzero(r < 0)[0])}] is negative")
        x, y, cov = range_bearing_to_xy(self.x, self.y, r, b, self.sigma_range_m, self.sigma_bearing_rad)
        return Detections(t, x, y, cov, self.sensor, category)


@dataclass(frozen=True, slots=True)
class PositionSensor:
    """A sensor that reports positions (an aircraft's camera, a patrol's GPS fix).

    `sigma_m` is the 1σ horizontal error per axis, metres.
    """

    sensor: int
    sigma_m: float

    def __post_init__(self) -> None:
        if not self.sigma_m > 0:
            raise TrackError(f"sensor {self.sensor}: sigma_m must be > 0 metres")

    def detections(self, t, x, y, category=None) -> Detections:
        return Detections.position(t, x, y, self.sigma_m, self.sensor, category)

    def detections_lonlat(self, projection: LocalProjection, t, lon, lat, category=None) -> Detections:
        """Reports given in degrees, converted once to local metres."""
        lo = _arr("lon", lon)
        la = _arr("lat", lat, len(lo))
        if np.any(np.abs(la) > 90) or np.any(np.abs(lo) > 180):
            i = int(np.flatnonzero((np.abs(la) > 90) | (np.abs(lo) > 180))[0])
            raise TrackError(f"report {i}: lon {lo[i]}, lat {la[i]} is not a position on Earth")
        x, y = projection.to_xy(lo, la)
        return self.detections(t, x, y, category)
