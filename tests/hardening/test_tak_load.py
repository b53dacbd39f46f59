"""Many TAK clients at once against the real `borderwatch serve`: nothing lost, no alert missed.

Runs `bench/load_tak.py` (the issue's load test: plain-TCP field units
reporting sightings on a schedule, mutual-TLS receivers of four parties,
simulated people of whom some cross the line). `make test` runs a short
version; `make soak` the full one: 200 clients × 10 sightings/s × 180 s with
the tracker at 13,000 people.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_tak():
    if "borderwatch_bench_load_tak" in sys.modules:
        return sys.modules["borderwatch_bench_load_tak"]
    spec = importlib.util.spec_from_file_location("borderwatch_bench_load_tak", ROOT / "bench" / "load_tak.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _check(r: dict) -> None:
    print(_load_tak().summary(r))
    assert r["server_alive_at_end"]
    assert r["rejected_or_lost_sightings"] == 0, "every sighting sent was signed and stored"
    assert r["alerts_raised"] >= 1, "the crossers raised breaches"
    assert r["alerts_lost"] == 0 and r["alerts_unexpected"] == 0
    assert r["alerts_delivered"] == r["alerts_expected"]
    assert not r["clients_closed"], r["clients_closed"]
    # Every sighting relayed to both parties the policy sends sightings to (iq-mod, us).
    assert r["latency_samples"] == 2 * r["sent"]


def test_forty_clients_every_sighting_stored_every_alert_delivered(tmp_path):
    r = _load_tak().run(clients=40, rate=10.0, seconds=14.0, targets=600, crossers=6, drain_s=60.0,
                        folder=tmp_path / "load")
    _check(r)
    assert r["confirmed_tracks_last_sweep"] >= 0.9 * r["targets"]


@pytest.mark.soak
def test_two_hundred_clients_at_ten_a_second_with_13000_people(tmp_path):
    r = _load_tak().run(clients=200, rate=10.0, seconds=180.0, targets=13_000, warmup_s=60.0,
                        folder=tmp_path / "load")
    _check(r)
    assert r["confirmed_tracks_last_sweep"] >= 0.95 * r["targets"]
    # Memory flat after warm-up: under 10 % growth from the end of warm-up to the end.
    assert r["rss_end_mib"] <= 1.10 * r["rss_warmup_mib"], r["rss_series_mib"]
