"""A bounded, columnar log of which sensor updated which track, where and when.

Live tracking runs for weeks; a per-track list of states grows without end
(Stone Soup keeps every state of every track). Here the log is a fixed set
of NumPy columns used as a ring: memory is allocated once and stays flat,
and the newest `capacity` updates are always available for queries such as
"which sensors saw track 812" when a breach is raised.
"""

from __future__ import annotations

import numpy as np

from borderwatch.errors import TrackError


class TrackHistory:
    """The newest `capacity` track updates: t, track id, x, y, sensor index."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        if capacity < 1:
            raise TrackError(f"history capacity must be >= 1 row, got {capacity}")
        self.capacity = int(capacity)
        self.t = np.zeros(capacity)
        self.track = np.full(capacity, -1, np.int64)
        self.x = np.zeros(capacity)
        self.y = np.zeros(capacity)
        self.sensor = np.full(capacity, -1, np.int32)
        self.head = 0        # next row to write
        self.size = 0        # rows holding data (<= capacity)

    def __len__(self) -> int:
        return self.size

    def append(self, t: float, track: np.ndarray, x: np.ndarray, y: np.ndarray, sensor) -> None:
        k = len(track)
        if k == 0:
            return
        if k > self.capacity:       # keep the newest rows only
            track, x, y = track[-self.capacity:], x[-self.capacity:], y[-self.capacity:]
            if np.ndim(sensor):
                sensor = np.asarray(sensor)[-self.capacity:]
            k = self.capacity
        idx = (self.head + np.arange(k)) % self.capacity
        self.t[idx] = t
        self.track[idx] = track
        self.x[idx] = x
        self.y[idx] = y
        self.sensor[idx] = sensor
        self.head = int((self.head + k) % self.capacity)
        self.size = min(self.capacity, self.size + k)

    def mark(self) -> tuple[int, int]:
        """The write position, so that a replay can rewind to it."""
        return self.head, self.size

    def rewind(self, mark: tuple[int, int]) -> None:
        self.head, self.size = mark

    def _valid(self) -> np.ndarray:
        return (self.head - self.size + np.arange(self.size)) % self.capacity

    def sensors_of(self, track_id: int) -> np.ndarray:
        """Sorted distinct sensor indices that updated `track_id` within the log."""
        rows = self._valid()
        sel = rows[self.track[rows] == track_id]
        return np.unique(self.sensor[sel])

    def rows_of(self, track_id: int) -> dict[str, np.ndarray]:
        """The logged updates of one track, oldest first."""
        rows = self._valid()
        sel = rows[self.track[rows] == track_id]
        return {"t": self.t[sel], "x": self.x[sel], "y": self.y[sel], "sensor": self.sensor[sel]}
