"""Soak: a long run at the flagship scale keeps memory flat (`make soak`)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from borderwatch.track import Detections, Tracker, TrackerConfig


@pytest.mark.soak
def test_thirteen_thousand_targets_for_an_hour_of_scans_keep_memory_flat():
    rng = np.random.default_rng(0)
    n = 13_000
    side = np.sqrt(n) * 1000.0
    pos = rng.uniform(0, side, (n, 2))
    head = rng.uniform(0, 2 * np.pi, n)
    vel = np.column_stack([np.cos(head), np.sin(head)]) * rng.uniform(1, 3, n)[:, None]
    tr = Tracker(TrackerConfig(q=0.05, history_rows=500_000), sensors=("sim",))
    tracemalloc.start()
    sizes = []
    for k in range(1200):
        pos = (pos + vel) % side            # wrap around: the population stays the same
        seen = rng.random(n) < 0.9
        z = np.vstack([pos[seen] + rng.normal(0, 10, (int(seen.sum()), 2)),
                       rng.uniform(0, side, (rng.poisson(10), 2))])
        tr.step(Detections.position(float(k), z[:, 0], z[:, 1], 10.0, 0))
        if k in (300, 1199):
            sizes.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    growth = sizes[1] - sizes[0]
    assert growth < 0.05 * sizes[0], f"traced memory grew {growth / 1e6:.1f} MB after warm-up"
