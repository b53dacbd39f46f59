"""`Tracker`: detections in, confirmed tracks out, every track in NumPy columns.

One scan (all detections with the same time stamp) runs:

1. **Predictor**: every track to the scan time (constant velocity).
2. For each sensor in the scan, in sensor order (sequential updating, so a
   person seen by a tower and an aircraft at once is one track):
   **Hypothesiser** gates confirmed tracks, the **DataAssociator** (GNN)
   assigns, the **Updater** corrects; then the same for tentative tracks on
   the detections left; what is still left starts tentative tracks
   (**Initiator**, one-point with a velocity prior).
3. **Initiator** confirms a tentative track with M hits within its first N
   scans; the **Deleter** drops tentative tracks that miss that and
   confirmed tracks not updated for `max_coast_s` seconds.

Reports may arrive late (a radio relay, a patrol typing in a sighting).
Scans within `lag_s` of the newest are kept with a snapshot of the track
columns taken before each; a late batch rewinds to the snapshot before its
time and replays the scans in time order, so the result is exactly the
result of having received everything in order. Older reports are counted
and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np
from scipy.stats import chi2

from borderwatch.errors import TrackError
from borderwatch.track.association import GNNAssociator, Hypothesiser, _max_eig
from borderwatch.track.detections import VEHICLE, Detections
from borderwatch.track.history import TrackHistory
from borderwatch.track.kalman import cv_predict, position_update

TENTATIVE, CONFIRMED = 0, 1


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """How the tracker models motion, gates, confirms and deletes.

    q, q_vehicle           process noise spectral density, m²/s³ (unknown/person, vehicle)
    init_speed_sigma_mps   1σ speed prior of a new track (vehicle: `init_speed_sigma_vehicle_mps`)
    gate_prob              probability mass of the Mahalanobis gate (χ², 2 dof)
    confirm_m, confirm_n   M-of-N confirmation: M hits within the first N scans
    max_coast_s            a confirmed track not updated for longer is deleted
    lag_s                  how late a report may be and still be used exactly
    history_rows           size of the bounded update log
    """

    q: float = 0.1
    q_vehicle: float = 2.0
    init_speed_sigma_mps: float = 3.0
    init_speed_sigma_vehicle_mps: float = 15.0
    gate_prob: float = 0.9999
    confirm_m: int = 3
    confirm_n: int = 5
    max_coast_s: float = 10.0
    lag_s: float = 5.0
    history_rows: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("q", "q_vehicle", "init_speed_sigma_mps", "init_speed_sigma_vehicle_mps"):
            if not getattr(self, name) > 0:
                raise TrackError(f"tracker config: {name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.gate_prob < 1:
            raise TrackError(f"tracker config: gate_prob must be between 0 and 1, got {self.gate_prob}")
        if not 1 <= self.confirm_m <= self.confirm_n:
            raise TrackError(f"tracker config: need 1 <= confirm_m <= confirm_n, got "
                             f"{self.confirm_m} of {self.confirm_n}")
        if not self.max_coast_s >= 0 or not self.lag_s >= 0:
            raise TrackError("tracker config: max_coast_s and lag_s must be >= 0 seconds")
        if self.history_rows < 1:
            raise TrackError("tracker config: history_rows must be >= 1")

    @property
    def gate_d2(self) -> float:
        return float(chi2.ppf(self.gate_prob, 2))


@dataclass(slots=True)
class TrackTable:
    """All live tracks as columns (row order = birth order = id order)."""

    id: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    state: np.ndarray = field(default_factory=lambda: np.empty((0, 4)))
    cov: np.ndarray = field(default_factory=lambda: np.empty((0, 4, 4)))
    t: np.ndarray = field(default_factory=lambda: np.empty(0))
    status: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    hits: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    age: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    last_update: np.ndarray = field(default_factory=lambda: np.empty(0))
    born: np.ndarray = field(default_factory=lambda: np.empty(0))
    q: np.ndarray = field(default_factory=lambda: np.empty(0))
    category: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))

    def __len__(self) -> int:
        return len(self.id)

    def copy(self) -> "TrackTable":
        return TrackTable(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def keep(self, mask: np.ndarray) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name)[mask])

    def extend(self, other: "TrackTable") -> None:
        for f in fields(self):
            setattr(self, f.name, np.concatenate([getattr(self, f.name), getattr(other, f.name)]))


@dataclass(frozen=True, slots=True)
class Estimates:
    """Tracks at the tracker's current time: id, state (x, y, vx, vy), covariance and bookkeeping."""

    t: float
    id: np.ndarray
    state: np.ndarray
    cov: np.ndarray
    confirmed: np.ndarray
    category: np.ndarray
    born: np.ndarray
    last_update: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    @property
    def xy(self) -> np.ndarray:
        return self.state[:, :2]


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one `Tracker.step` call did."""

    scans: int              # scans processed (replays included)
    replayed: int           # scans processed again because a late report came in
    too_late: int           # detections older than the lag window, dropped
    confirmed: int          # tracks confirmed now
    tentative: int          # tentative tracks now


@dataclass(slots=True)
class _Snapshot:
    tracks: TrackTable
    next_id: int
    time: float
    history: tuple[int, int]


class Tracker:
    """Multi-target tracker over columnar detections. Call `step` with each batch."""

    def __init__(self, config: TrackerConfig | None = None, sensors=("sensor-0",)) -> None:
        self.config = config or TrackerConfig()
        names = tuple(str(s) for s in sensors)
        if not names:
            raise TrackError("tracker: give at least one sensor name")
        if len(set(names)) != len(names):
            raise TrackError(f"tracker: sensor names must be unique, got {names}")
        self.sensors = names
        self.tracks = TrackTable()
        self.history = TrackHistory(self.config.history_rows)
        self.time = -np.inf
        self._next_id = 1
        self._gater = Hypothesiser(self.config.gate_d2)
        self._gnn = GNNAssociator(self.config.gate_d2)
        self._scans: list[tuple[float, Detections]] = []   # within the lag window, oldest first
        self._snaps: list[_Snapshot] = []                   # state before each of those scans
        self.too_late_total = 0

    # -- public ---------------------------------------------------------------
    def step(self, detections: Detections) -> StepResult:
        """Take one batch of detections (any times, any sensors, any order)."""
        if not isinstance(detections, Detections):
            raise TrackError(f"tracker: step() takes Detections, got {type(detections).__name__}")
        if len(detections) and int(detections.sensor.max()) >= len(self.sensors):
            i = int(np.flatnonzero(detections.sensor >= len(self.sensors))[0])
            raise TrackError(f"detections: sensor[{i}] is {int(detections.sensor[i])}; this tracker knows "
                             f"{len(self.sensors)} sensors (0..{len(self.sensors) - 1})")
        dets = detections
        too_late = 0
        replayed = 0
        if len(dets) and np.isfinite(self.time):
            late = dets.t <= self.time
            if late.any():
                floor = self.time - self.config.lag_s
                drop = dets.t < floor
                if not self._scans:
                    drop = late
                else:
                    drop |= late & (dets.t < self._scans[0][0])
                too_late = int(drop.sum())
                dets = dets.take(~drop)
                late = dets.t <= self.time
                if late.any():
                    replayed = self._rewind(float(dets.t[late].min()), dets)
                    dets = self._pending
        self.too_late_total += too_late
        n_scans = self._run(dets) if len(dets) else 0
        tent = int((self.tracks.status == TENTATIVE).sum())
        return StepResult(n_scans, replayed, too_late, len(self.tracks) - tent, tent)

    def estimates(self, include_tentative: bool = False) -> Estimates:
        """Confirmed tracks (and tentative ones if asked), sorted by id."""
        tr = self.tracks
        sel = slice(None) if include_tentative else tr.status == CONFIRMED
        return Estimates(float(self.time), tr.id[sel], tr.state[sel], tr.cov[sel],
                         tr.status[sel] == CONFIRMED, tr.category[sel], tr.born[sel], tr.last_update[sel])

    # -- scans ----------------------------------------------------------------
    def _rewind(self, t_late: float, dets: Detections) -> int:
        """Restore the snapshot before the first buffered scan at or after t_late; queue the replay."""
        times = np.array([t for t, _ in self._scans])
        k = int(np.searchsorted(times, t_late, side="left"))
        snap = self._snaps[k]
        replay = [d for _, d in self._scans[k:]]
        self.tracks = snap.tracks.copy()
        self._next_id = snap.next_id
        self.time = snap.time
        self.history.rewind(snap.history)
        del self._scans[k:]
        del self._snaps[k:]
        self._pending = Detections.concat(replay + [dets])
        return len(replay)

    def _run(self, dets: Detections) -> int:
        dets = dets.canonical()
        times, starts = np.unique(dets.t, return_index=True)
        ends = np.append(starts[1:], len(dets))
        lag = self.config.lag_s
        for t, a, b in zip(times, starts, ends):
            scan = dets.take(slice(a, b))
            if lag > 0:
                self._snaps.append(_Snapshot(self.tracks.copy(), self._next_id, self.time, self.history.mark()))
                self._scans.append((float(t), scan))
            self._scan(float(t), scan)
            self.time = float(t)
        if lag > 0:
            keep_from = 0
            while keep_from < len(self._scans) - 1 and self._scans[keep_from][0] < self.time - lag:
                keep_from += 1
            del self._scans[:keep_from]
            del self._snaps[:keep_from]
        return len(times)

    def _scan(self, t: float, scan: Detections) -> None:
        cfg = self.config
        tr = self.tracks
        if len(tr):
            tr.state, tr.cov = cv_predict(tr.state, tr.cov, t - tr.t, tr.q)
            tr.t[:] = t
        hit = np.zeros(len(tr), bool)
        sensors, s_start = np.unique(scan.sensor, return_index=True)
        s_end = np.append(s_start[1:], len(scan))
        # Each sensor's detections are gated in turn (one detection per target per sensor).
        # With many sensors in one scan (hundreds of field units, each reporting its own
        # stretch), gating every track against every sensor's handful of detections would
        # cost tracks x sensors; so each sensor first keeps only the tracks whose gate can
        # reach the box around its detections (exact: a superset of the gated pairs).
        reach = _gate_reach(tr.cov, scan.cov, cfg.gate_d2) if len(sensors) > 1 and len(tr) else None
        for s, a, b in zip(sensors, s_start, s_end):
            g = scan.take(slice(a, b))
            left = np.ones(len(g), bool)
            near = _near_box(tr.state, reach, g.x, g.y) if reach is not None else None
            for stage in (CONFIRMED, TENTATIVE):
                mask = tr.status == stage
                if near is not None:
                    mask &= near
                rows = np.flatnonzero(mask)
                cand = np.flatnonzero(left)
                if len(rows) == 0 or len(cand) == 0:
                    continue
                hyp = self._gater.hypothesise(tr.state[rows, :2], tr.cov[rows, :2, :2],
                                              g.xy[cand], g.cov[cand])
                at, ad = self._gnn.associate(hyp, len(rows), len(cand))
                if len(at) == 0:
                    continue
                r, d = rows[at], cand[ad]
                z = np.column_stack([g.x[d], g.y[d]])
                tr.state[r], tr.cov[r] = position_update(tr.state[r], tr.cov[r], z, g.cov[d])
                hit[r] = True
                left[d] = False
                self.history.append(t, tr.id[r], tr.state[r, 0], tr.state[r, 1], int(s))
            born = np.flatnonzero(left)
            if len(born):
                new = self._initiate(t, g.take(born))
                tr.extend(new)
                if reach is not None:
                    reach = np.concatenate([reach, _gate_reach(new.cov, scan.cov, cfg.gate_d2)])
                hit = np.concatenate([hit, np.ones(len(new), bool)])
                self.history.append(t, new.id, new.state[:, 0], new.state[:, 1], int(s))
        if len(tr) == 0:
            return
        tr.hits += hit
        tr.age += 1
        tr.last_update[hit] = t
        tent = tr.status == TENTATIVE
        tr.status[tent & (tr.hits >= cfg.confirm_m)] = CONFIRMED
        dead = (tr.status == TENTATIVE) & (tr.age >= cfg.confirm_n)
        dead |= (tr.status == CONFIRMED) & (t - tr.last_update > cfg.max_coast_s)
        if dead.any():
            tr.keep(~dead)

    def _initiate(self, t: float, d: Detections) -> TrackTable:
        """One-point initiation: position from the detection, velocity 0 ± the speed prior."""
        cfg = self.config
        k = len(d)
        veh = d.category == VEHICLE
        sv = np.where(veh, cfg.init_speed_sigma_vehicle_mps, cfg.init_speed_sigma_mps)
        state = np.zeros((k, 4))
        state[:, 0], state[:, 1] = d.x, d.y
        cov = np.zeros((k, 4, 4))
        cov[:, :2, :2] = d.cov
        cov[:, 2, 2] = cov[:, 3, 3] = sv * sv
        ids = np.arange(self._next_id, self._next_id + k, dtype=np.int64)
        self._next_id += k
        return TrackTable(ids, state, cov, np.full(k, t), np.full(k, TENTATIVE, np.int8),
                          np.zeros(k, np.int32), np.zeros(k, np.int32), np.full(k, t), np.full(k, t),
                          np.where(veh, cfg.q_vehicle, cfg.q), d.category.copy())

    def add_sensor(self, name: str) -> int:
        """Register a reporter that joined while the tracker runs; returns its sensor index."""
        name = str(name)
        if name in self.sensors:
            return self.sensors.index(name)
        self.sensors = self.sensors + (name,)
        return len(self.sensors) - 1

    def replace_config(self, **changes) -> None:
        """Change settings between scans (e.g. a wider gate at night)."""
        self.config = replace(self.config, **changes)
        self._gater = Hypothesiser(self.config.gate_d2)
        self._gnn = GNNAssociator(self.config.gate_d2)


def _gate_reach(track_cov: np.ndarray, det_cov: np.ndarray, gate_d2: float) -> np.ndarray:
    """Per track, the farthest (in metres) a detection can be and still fall in its gate:
    sqrt(gate x largest eigenvalue of P_pos + R) with R the scan's widest measurement
    (the bound the Hypothesiser's k-d tree search uses)."""
    r_max = float(_max_eig(det_cov).max()) if len(det_cov) else 0.0
    return np.sqrt(gate_d2 * (_max_eig(track_cov[:, :2, :2]) + r_max)) * (1.0 + 1e-9) + 1e-6


def _near_box(state: np.ndarray, reach: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Tracks within their reach of the bounding box of the detections (x, y)."""
    px, py = state[:, 0], state[:, 1]
    dx = np.maximum(np.maximum(x.min() - px, px - x.max()), 0.0)
    dy = np.maximum(np.maximum(y.min() - py, py - y.max()), 0.0)
    return dx * dx + dy * dy <= reach * reach
