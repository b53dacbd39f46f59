"""`BreachDetector`: one alert per confirmed track that crosses onto the own side.

After every tracker step the detector looks at the confirmed tracks' signed
distance to the border (> 0 own side). A track becomes *armed* when it is
seen on the foreign side; an armed track now on the own side has crossed:
one breach, at the point where the straight line between its last two
looked-at estimates meets the border, and the track is disarmed. It is armed
again only after going back more than `rearm_m` onto the foreign side, so a
track wandering along the line (estimate jitter of a few metres) never
raises a second alert, while a real second crossing does.

A track first confirmed already on the own side within `first_seen_m` of the
line (it crossed while still tentative, or unseen) raises a breach too; one
confirmed deeper inside is someone already inside (or our own patrol) and
raises none.

Confidence is the probability, under the track's Gaussian position error,
that the person is on the own side now: Φ(d / σₙ), with σₙ the 1σ error
along the border's normal at that point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from borderwatch.errors import TrackError
from borderwatch.geo.border import Border


@dataclass(frozen=True, slots=True)
class Breach:
    """A border crossing by one track: when, where, how sure, and who saw it."""

    track_id: int
    t: float                    # seconds, the detections' epoch
    x: float                    # local metres, on the line for a crossing
    y: float
    lon: float
    lat: float
    chainage_km: float
    sector: int
    confidence: float           # P(on the own side now)
    sensors: tuple[str, ...]    # sensors that updated the track (within the tracker's history)
    how: str                    # "crossed" or "first seen inside"

    def as_dict(self) -> dict:
        return {"track_id": self.track_id, "t": self.t, "x": self.x, "y": self.y, "lon": self.lon,
                "lat": self.lat, "chainage_km": self.chainage_km, "sector": self.sector,
                "confidence": self.confidence, "sensors": list(self.sensors), "how": self.how}


class BreachDetector:
    """Turns confirmed tracks into breaches; call `update(tracker)` after each step."""

    def __init__(self, border: Border, first_seen_m: float = 500.0, rearm_m: float = 200.0) -> None:
        if not first_seen_m >= 0 or not rearm_m >= 0:
            raise TrackError("breach detector: first_seen_m and rearm_m must be >= 0 metres")
        self.border = border
        self.first_seen_m = float(first_seen_m)
        self.rearm_m = float(rearm_m)
        self._id = np.empty(0, np.int64)       # sorted ids of the tracks looked at last time
        self._d = np.empty(0)
        self._x = np.empty(0)
        self._y = np.empty(0)
        self._t = np.empty(0)
        self._armed = np.empty(0, bool)
        self.total = 0

    def update(self, tracker) -> list[Breach]:
        """Breaches since the last call, oldest first."""
        est = tracker.estimates()
        ids = est.id
        if len(ids) == 0:
            self._reset_to(ids, np.empty(0), np.empty(0), np.empty(0), np.empty(0), np.empty(0, bool))
            return []
        x, y = est.state[:, 0], est.state[:, 1]
        loc = self.border.locate(x, y)
        d = loc.signed_distance_m
        t = np.full(len(ids), est.t)
        if len(self._id):
            pos_c = np.minimum(np.searchsorted(self._id, ids), len(self._id) - 1)
            known = self._id[pos_c] == ids
            armed_prev = known & self._armed[pos_c]
        else:
            pos_c = np.zeros(len(ids), np.int64)
            known = np.zeros(len(ids), bool)
            armed_prev = known.copy()

        crossed = known & armed_prev & (d > 0)
        first = ~known & (d > 0) & (d <= self.first_seen_m)
        armed = np.where(known, armed_prev, d < 0)
        armed[crossed | first] = False
        armed |= d < -self.rearm_m
        # A known, disarmed track that is on the foreign side stays disarmed until past rearm_m;
        # an unknown track on the foreign side starts armed (set above).

        out: list[Breach] = []
        ev = np.flatnonzero(crossed | first)
        if len(ev):
            bx, by, bt = x[ev].copy(), y[ev].copy(), t[ev].copy()
            c = crossed[ev]
            if c.any():
                k = pos_c[ev[c]]
                d0, d1 = self._d[k], d[ev[c]]
                f = np.clip(-d0 / np.where(d1 - d0 > 0, d1 - d0, 1.0), 0.0, 1.0)
                bx[c] = self._x[k] + f * (x[ev[c]] - self._x[k])
                by[c] = self._y[k] + f * (y[ev[c]] - self._y[k])
                bt[c] = self._t[k] + f * (t[ev[c]] - self._t[k])
            where = self.border.locate(bx, by)
            normal = self.border.own_normal_at(where.chainage_km)
            pcov = est.cov[ev, :2, :2]
            var_n = np.einsum("ki,kij,kj->k", normal, pcov, normal)
            conf = ndtr(d[ev] / np.sqrt(np.maximum(var_n, 1e-12)))
            sector = self.border.sectors.of(where.chainage_km)
            lon, lat = self.border.projection.to_lonlat(bx, by)
            names = tracker.sensors
            for j, i in enumerate(ev):
                sens = tracker.history.sensors_of(int(ids[i]))
                out.append(Breach(int(ids[i]), float(bt[j]), float(bx[j]), float(by[j]),
                                  float(np.atleast_1d(lon)[j]), float(np.atleast_1d(lat)[j]),
                                  float(where.chainage_km[j]), int(sector[j]), float(conf[j]),
                                  tuple(names[s] for s in sens if 0 <= s < len(names)),
                                  "crossed" if crossed[i] else "first seen inside"))
            out.sort(key=lambda b: (b.t, b.track_id))
        self.total += len(out)
        self._reset_to(ids, d, x, y, t, armed)
        return out

    def _reset_to(self, ids, d, x, y, t, armed) -> None:
        # Estimates come sorted by id; keep only live tracks so memory follows the track count.
        self._id, self._d, self._x, self._y, self._t, self._armed = (
            np.asarray(ids, np.int64).copy(), np.asarray(d, float).copy(), np.asarray(x, float).copy(),
            np.asarray(y, float).copy(), np.asarray(t, float).copy(), np.asarray(armed, bool).copy())
