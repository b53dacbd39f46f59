"""Breach detection: one alert per crossing, at the right place, never a duplicate."""

from __future__ import annotations

import numpy as np
import pytest

from borderwatch.geo import Border, LocalProjection
from borderwatch.track import BreachDetector, Detections, Tracker, TrackerConfig

PROJ = LocalProjection.from_string("+proj=tmerc +lat_0=33 +lon_0=41 +ellps=WGS84 +units=m")


def _line() -> Border:
    # A straight border running north to south along x = 0, 20 km long; own side east.
    return Border(np.array([[0.0, 10_000.0], [0.0, -10_000.0]]), "left", PROJ, sector_km=5.0)


def _run(path: np.ndarray, sigma: float = 5.0, seed: int = 0, sensors=("tower-1",), sensor_of=None):
    """Feed one target's noisy positions, 1 s apart; return every breach raised."""
    rng = np.random.default_rng(seed)
    tr = Tracker(TrackerConfig(q=0.05), sensors=sensors)
    det = BreachDetector(_line(), first_seen_m=300.0, rearm_m=150.0)
    out = []
    for k, p in enumerate(path):
        z = p + rng.normal(0, sigma, 2)
        s = 0 if sensor_of is None else sensor_of(k)
        tr.step(Detections.position(float(k), [z[0]], [z[1]], sigma, s))
        out += det.update(tr)
    return out


def test_a_crossing_gives_exactly_one_breach_at_the_right_chainage():
    t = np.arange(400.0)
    path = np.column_stack([-300.0 + 1.5 * t, 2000.0 + 0.0 * t])      # crosses at t = 200 s
    out = _run(path, sensors=("tower-1", "uav-1"), sensor_of=lambda k: 0 if k < 150 else 1)
    assert len(out) == 1
    b = out[0]
    assert b.how == "crossed"
    assert b.chainage_km == pytest.approx(8.0, abs=0.03)      # 10 km - 2 km from the north end
    assert b.t == pytest.approx(200.0, abs=8.0)
    assert abs(b.x) < 1.0                                      # on the line
    assert b.sector == 1                                       # 5-10 km
    assert 0.5 < b.confidence <= 1.0
    assert b.sensors == ("tower-1", "uav-1")
    lon, lat = PROJ.to_lonlat(b.x, b.y)
    assert (b.lon, b.lat) == pytest.approx((float(lon), float(lat)))


def test_walking_along_the_border_gives_none():
    t = np.arange(600.0)
    path = np.column_stack([-120.0 + 0.0 * t, 8000.0 - 1.5 * t])      # 120 m inside the foreign side
    assert _run(path) == []


def test_loitering_on_the_line_after_crossing_gives_no_duplicate():
    t = np.arange(900.0)
    x = np.where(t < 200, -200.0 + 1.0 * t, 3.0 * np.sin(t / 7.0))     # cross, then hug the line
    path = np.column_stack([x, 1000.0 - 0.5 * t])
    out = _run(path, sigma=8.0, seed=3)
    assert len(out) == 1


def test_going_back_and_crossing_again_is_a_second_breach():
    t = np.arange(1200.0)
    # In at t = 100, back out to 400 m on the foreign side, in again at t = 1000.
    x = np.interp(t, [0, 200, 600, 1100], [-100.0, 100.0, -400.0, 100.0])
    out = _run(np.column_stack([x, 0.0 * t]))
    assert [b.how for b in out] == ["crossed", "crossed"]
    assert out[0].track_id == out[1].track_id
    assert out[0].t == pytest.approx(100.0, abs=10) and out[1].t == pytest.approx(1000.0, abs=10)


def test_first_seen_inside_near_the_line_is_a_breach_but_deep_inside_is_not():
    t = np.arange(60.0)
    near = _run(np.column_stack([100.0 + 1.0 * t, 0.0 * t]))
    deep = _run(np.column_stack([5000.0 + 1.0 * t, 0.0 * t]))
    assert [b.how for b in near] == ["first seen inside"]
    assert deep == []


def test_many_crossers_at_once_one_breach_each():
    # 500 people spread over 20 km cross within the same minute: 500 breaches, no duplicates.
    rng = np.random.default_rng(11)
    n = 500
    y0 = rng.uniform(-9500, 9500, n)
    x0 = rng.uniform(-200, -100, n)
    v = rng.uniform(2.0, 3.0, n)
    tr = Tracker(TrackerConfig(q=0.05), sensors=("uav",))
    det = BreachDetector(_line())
    seen = []
    for k in range(150):
        x = x0 + v * k
        z = np.column_stack([x, y0]) + rng.normal(0, 5.0, (n, 2))
        tr.step(Detections.position(float(k), z[:, 0], z[:, 1], 5.0, 0))
        seen += det.update(tr)
    ids = [b.track_id for b in seen]
    assert len(ids) == len(set(ids)) == n
    chain = np.sort([b.chainage_km for b in seen])
    assert np.allclose(chain, np.sort(10.0 - y0 / 1000.0), atol=0.03)
