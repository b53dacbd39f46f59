"""`Detections`: one columnar batch of reports, whatever sensor sent them.

A tower, an aircraft and a patrol all end up here as rows of
(time, x, y, 2x2 covariance, sensor index, class) in the scenario's local
metres. The tracker never learns whether a row came from the field or from
the simulator. Rows are validated once, when the batch is made, so that a
malformed report is refused before it can touch any tracker state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from borderwatch.errors import TrackError

UNKNOWN, PERSON, VEHICLE = -1, 0, 1
CLASS_NAMES = {UNKNOWN: "unknown", PERSON: "person", VEHICLE: "vehicle"}

_SYM_TOL = 1e-9


def _vector(name: str, value, n: int | None, dtype) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        if n is None:
            arr = arr.reshape(1)
        else:
            arr = np.full(n, arr)
    if arr.ndim != 1:
        raise TrackError(f"detections: {name} must be one value per row (1-D), got shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise TrackError(f"detections: {name} has {len(arr)} rows, x has {n}")
    if np.issubdtype(dtype, np.integer):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) \
                    or np.any(arr != np.round(arr)):
                raise TrackError(f"detections: {name} must be whole numbers")
        return arr.astype(dtype, copy=False)
    try:
        return arr.astype(dtype, copy=False)
    except (TypeError, ValueError):
        raise TrackError(f"detections: {name} must be numbers, got {arr.dtype}") from None


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """A batch of position reports in local metres, one row per detection.

    t        float64 seconds (any epoch, the same for every batch a tracker gets)
    x, y     float64 metres in the scenario's local projection
    cov      float64 (n, 2, 2) measurement covariance, m²; symmetric positive definite
    sensor   int32 index into the tracker's sensor names
    category int8 class hint: -1 unknown, 0 person, 1 vehicle
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    cov: np.ndarray
    sensor: np.ndarray
    category: np.ndarray

    def __init__(self, t, x, y, cov, sensor, category=None) -> None:
        xs = _vector("x", x, None, np.float64)
        n = len(xs)
        ys = _vector("y", y, n, np.float64)
        ts = _vector("t", t, n, np.float64)
        sens = _vector("sensor", sensor, n, np.int32)
        cl = _vector("category", UNKNOWN if category is None else category, n, np.int8)
        c = np.asarray(cov, dtype=np.float64)
        if c.shape == (2, 2):
            c = np.broadcast_to(c, (n, 2, 2))
        if c.shape != (n, 2, 2):
            raise TrackError(f"detections: cov must have shape ({n}, 2, 2) or (2, 2), got {c.shape}")
        for name, arr in (("t", ts), ("x", xs), ("y", ys)):
            bad = ~np.isfinite(arr)
            if bad.any():
                i = _first_bad(bad)
                raise TrackError(f"detections: {name}[{i}] is {arr[i]}; every {name} must be a finite number")
        bad = ~np.isfinite(c).all(axis=(1, 2))
        if bad.any():
            raise TrackError(f"detections: cov[{_first_bad(bad)}] has NaN or inf entries")
        scale = np.maximum(np.abs(c).max(axis=(1, 2)), 1e-300)
        bad = np.abs(c[:, 0, 1] - c[:, 1, 0]) > _SYM_TOL * scale
        if bad.any():
            i = _first_bad(bad)
            raise TrackError(f"detections: cov[{i}] is not symmetric ({c[i, 0, 1]} vs {c[i, 1, 0]})")
        det = c[:, 0, 0] * c[:, 1, 1] - c[:, 0, 1] * c[:, 1, 0]
        bad = (c[:, 0, 0] <= 0) | (c[:, 1, 1] <= 0) | (det <= 0)
        if bad.any():
            i = _first_bad(bad)
            raise TrackError(f"detections: cov[{i}] is not positive definite "
                             f"(variances {c[i, 0, 0]}, {c[i, 1, 1]}; determinant {det[i]})")
        bad = sens < 0
        if bad.any():
            i = _first_bad(bad)
            raise TrackError(f"detections: sensor[{i}] is {sens[i]}; sensor indices start at 0")
        bad = (cl < UNKNOWN) | (cl > VEHICLE)
        if bad.any():
            i = _first_bad(bad)
            raise TrackError(f"detections: category[{i}] is {cl[i]}; use -1 unknown, 0 person, 1 vehicle")
        for name, arr in (("t", ts), ("x", xs), ("y", ys), ("cov", np.ascontiguousarray(c)),
                          ("sensor", sens), ("category", cl)):
            arr = np.array(arr, copy=True)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    # -- constructors ---------------------------------------------------------
    @classmethod
    def position(cls, t, x, y, sigma_m, sensor=0, category=None) -> "Detections":
        """Position reports with a circular error of `sigma_m` metres (1σ per axis)."""
        xs = np.atleast_1d(np.asarray(x, float))
        s = np.asarray(sigma_m, float)
        if s.ndim == 0:
            s = np.full(len(xs), float(s))
        if s.shape != xs.shape:
            raise TrackError(f"detections: sigma_m has {s.size} values for {xs.size} rows")
        if not np.all(s > 0):
            raise TrackError("detections: sigma_m must be > 0 metres")
        cov = np.zeros((len(xs), 2, 2))
        cov[:, 0, 0] = cov[:, 1, 1] = s * s
        return cls(t, xs, y, cov, sensor, category)

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.empty(0), np.empty(0), np.empty(0), np.empty((0, 2, 2)), np.empty(0, np.int32))

    @classmethod
    def concat(cls, batches) -> "Detections":
        batches = [b for b in batches if len(b)]
        if not batches:
            return cls.empty()
        return cls(np.concatenate([b.t for b in batches]), np.concatenate([b.x for b in batches]),
                   np.concatenate([b.y for b in batches]), np.concatenate([b.cov for b in batches]),
                   np.concatenate([b.sensor for b in batches]), np.concatenate([b.category for b in batches]))

    # -- views ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.x)

    def take(self, index) -> "Detections":
        """The rows at `index` (indices or a boolean mask), as a new batch."""
        return _trusted(self.t[index], self.x[index], self.y[index], self.cov[index],
                        self.sensor[index], self.category[index])

    def canonical(self) -> "Detections":
        """Rows sorted by (t, sensor, x, y, ...): the order no longer depends on arrival."""
        order = np.lexsort((self.cov[:, 1, 1], self.cov[:, 0, 0], self.category, self.y, self.x,
                            self.sensor, self.t))
        return self.take(order)

    @property
    def xy(self) -> np.ndarray:
        return np.column_stack([self.x, self.y])


def _trusted(t, x, y, cov, sensor, category) -> Detections:
    """A batch from arrays already validated (slices of a valid batch): no checks."""
    d = object.__new__(Detections)
    for name, arr in (("t", t), ("x", x), ("y", y), ("cov", cov), ("sensor", sensor), ("category", category)):
        arr = np.ascontiguousarray(arr)
        arr.flags.writeable = False
        object.__setattr__(d, name, arr)
    return d
