"""Air roster: verified coverage, valid bounds, honest infeasibility, an independent checker."""

from __future__ import annotations

import dataclasses
import functools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderwatch.errors import BorderwatchError
from borderwatch.plan.roster import (
    AircraftType,
    Orbit,
    Roster,
    Sortie,
    build_roster,
    check_roster,
    coverage_gaps,
    daily_pattern_bound,
    orbit_lower_bound,
    relay_bound,
    transit_h,
)
from borderwatch.report.roster_gantt import draw_roster_gantt

# --------------------------------------------------------------------------- instances


def isr(count: int = 2, x: float = 0.0, y: float = 0.0) -> AircraftType:
    return AircraftType("isr-1", "ISR turboprop", count, 8.0, 500.0, 2.0, x, y, "Ain al-Asad")


def uav(count: int = 3, x: float = 0.0, y: float = 0.0) -> AircraftType:
    return AircraftType("uav-1", "MALE UAV", count, 14.0, 180.0, 4.0, x, y, "Ain al-Asad")


def helo(count: int = 4, x: float = 0.0, y: float = 0.0, tid: str = "helo-1") -> AircraftType:
    return AircraftType(tid, "Recce helicopter", count, 2.5, 220.0, 1.0, x, y, "al-Qa'im")


def line_orbits(n: int = 12) -> list[Orbit]:
    """Orbits every 50 km along a 550 km line, 20-80 km off it (the bench's geometry)."""
    return [Orbit(f"O{i + 1}", -275e3 + 50e3 * i, 20e3 + 60e3 * ((i * 7) % 12) / 11) for i in range(n)]


def line_fleet(isr_n: int, uav_n: int, helo_n: int) -> list[AircraftType]:
    """ISR and UAVs at a central base on the line, helicopters at two forward bases."""
    return [isr(isr_n), uav(uav_n), helo(helo_n, -150e3, 30e3, "helo-w"), helo(helo_n, 150e3, 30e3, "helo-e")]


def assert_valid(roster: Roster, orbits, aircraft, horizon_h: float = 24.0) -> None:
    assert roster.feasible, roster.reason
    assert check_roster(roster, orbits, aircraft, horizon_h) == []
    assert roster.uncovered == {}
    assert roster.aircraft_used == sum(roster.fleet_used.values()) == len(roster.tails())
    assert roster.lower_bound <= roster.aircraft_used
    for a in aircraft:
        assert roster.fleet_used[a.id] <= a.count
    assert roster.min_fleet == roster.fleet_used


# --------------------------------------------------------------------------- geometry and bounds


def test_transit_and_hand_computable_bound():
    # E = 8 h, G = 2 h, 500 km at 500 km/h: tau = 1 h -> ceil((8 + 2) / (8 - 2)) = ceil(10 / 6) = 2.
    o = Orbit("O1", 500e3, 0.0)
    assert transit_h(isr(), o) == pytest.approx(1.0)
    assert orbit_lower_bound(isr(), o) == 2
    # Out of reach: 2 tau >= E.
    assert orbit_lower_bound(isr(), Orbit("far", 2000e3, 0.0)) is None
    assert orbit_lower_bound(helo(), Orbit("O3", 412e3, 0.0)) is None


def test_hand_computable_case_two_aircraft_cover_the_orbit():
    o = [Orbit("O1", 500e3, 0.0)]
    fleet = [isr(2)]
    r = build_roster(o, fleet, time_limit_s=2)
    assert_valid(r, o, fleet)
    assert r.lower_bound == 2 and r.relay_bound == 2
    assert r.aircraft_used == 2
    # Each of the two flies within its endurance and keeps its 2 h turnaround.
    for s in r.sorties:
        assert s.landing_h - s.takeoff_h <= 8.0 + 1e-9
        assert s.on_station_h - s.takeoff_h >= 1.0 - 1e-9


def test_daily_bound_sees_the_24h_integrality_the_relay_bound_misses():
    # E + G = 18 h does not divide 24 h: a UAV tail's day holds 2 x 7.4 h or 13.4 h + scraps.
    o = line_orbits(6)
    fleet = [uav(40)]
    rb = relay_bound(o, fleet)
    db = daily_pattern_bound(o, fleet)
    assert rb is not None and db is not None
    assert db > rb
    r = build_roster(o, fleet, time_limit_s=1)
    assert_valid(r, o, fleet)
    assert r.aircraft_used >= db


# --------------------------------------------------------------------------- feasible rosters


def test_single_orbit_one_type():
    o = [Orbit("O1", 120e3, 40e3, "wadi crossing")]
    fleet = [uav(3)]
    r = build_roster(o, fleet, time_limit_s=2)
    assert_valid(r, o, fleet)
    assert r.aircraft_used == 2  # 2 UAVs are the bound; 3 are available


def test_three_orbits_mixed_types():
    o = [Orbit("A", 100e3, 20e3), Orbit("B", -150e3, 50e3), Orbit("C", 250e3, -30e3)]
    fleet = [isr(3), uav(3), helo(4)]
    r = build_roster(o, fleet, time_limit_s=1)
    assert_valid(r, o, fleet)
    assert len([t for t, n in r.fleet_used.items() if n]) >= 2   # the fleet mixes types


def test_twelve_orbits_within_one_of_the_pooled_bound():
    o = line_orbits(12)
    fleet = line_fleet(40, 40, 40)
    r = build_roster(o, fleet, time_limit_s=3)
    assert_valid(r, o, fleet)
    assert r.lower_bound <= r.aircraft_used <= r.lower_bound + 1
    # Pooling: fewer than the 2 aircraft per orbit any dedicated relay needs here.
    assert r.aircraft_used < 2 * len(o)


def test_twelve_orbits_realistic_fleet_is_verified():
    o = line_orbits(12)
    fleet = line_fleet(8, 10, 8)
    r = build_roster(o, fleet, time_limit_s=2)
    assert_valid(r, o, fleet)
    # Capped fleets cost pooling: typically bound + 2 here (a dedicated relay per orbit needs 24+).
    assert r.aircraft_used <= min(r.lower_bound + 3, 2 * len(o) - 2)


def test_handover_overlap_is_scheduled_and_checked():
    o = [Orbit("O1", 60e3, 0.0), Orbit("O2", -80e3, 30e3)]
    fleet = [isr(8)]
    r = build_roster(o, fleet, handover_min=15, time_limit_s=2)
    assert_valid(r, o, fleet)
    assert check_roster(r, o, fleet, handover_min=15) == []
    # Without the overlap the same roster would not do: the checker sees a missing handover.
    tight = dataclasses.replace(r, sorties=tuple(dataclasses.replace(s, on_station_h=s.on_station_h + 0.25)
                                                for s in r.sorties))
    assert any("hand over" in v for v in check_roster(tight, o, fleet, handover_min=15))


def test_other_horizon():
    o = [Orbit("O1", 80e3, 0.0)]
    fleet = [isr(4)]
    r = build_roster(o, fleet, horizon_h=12.0, time_limit_s=2)
    assert_valid(r, o, fleet, horizon_h=12.0)


# --------------------------------------------------------------------------- multi-day rotations


@functools.lru_cache(maxsize=1)
def _rotation():
    """One UAV orbit 360 km out (tau = 2 h): 10 h on station per 18 h cycle.

    Two tails relay it if each flies a full 14 h sortie every 18 h, which a
    24 h pattern cannot hold (one 14 h sortie, or two of 8 h, a day: at most
    10 h on station each, 20 h < 24 h), so a daily roster needs 3 tails and
    a multi-day rotation 2; 1 can never do (E < 24 h). Both figures are exact.
    """
    o = [Orbit("far", 360e3, 0.0)]
    fleet = [uav(3)]
    daily = build_roster(o, fleet, time_limit_s=2)
    multi = build_roster(o, fleet, time_limit_s=2, max_period_days=3)
    return o, fleet, daily, multi


def test_multi_day_rotation_saves_a_tail_the_daily_pattern_cannot():
    o, fleet, daily, multi = _rotation()
    assert_valid(daily, o, fleet)
    assert daily.horizon_h == 24.0 and daily.aircraft_used == daily.lower_bound == 3
    assert daily_pattern_bound(o, fleet) == 3 and relay_bound(o, fleet) == 2
    assert_valid(multi, o, fleet)
    assert multi.horizon_h in (48.0, 72.0)           # the period: whole days
    assert multi.aircraft_used == multi.lower_bound == 2
    # Every tail keeps E and G across the period's wrap, and no sortie is as long as the period.
    for s in multi.sorties:
        assert s.landing_h - s.takeoff_h <= 14.0 + 1e-9


def test_multi_day_bound_is_the_smallest_over_the_periods_allowed():
    o, fleet = line_orbits(12), line_fleet(6, 8, 6)
    db = {p: daily_pattern_bound(o, fleet, horizon_h=24.0 * p) for p in (1, 2, 3)}
    rb = relay_bound(o, fleet)
    assert db[1] is not None and rb is not None
    # A p-day roster is also a 2p-day one, so the 2-day bound cannot exceed the daily one;
    # the relay bound holds for every period.
    assert rb <= db[2] <= db[1]
    assert rb <= db[3]


def test_checker_sees_the_whole_multi_day_period():
    o, fleet, _, r = _rotation()
    P = r.horizon_h
    assert check_roster(r, o, fleet) == [] and check_roster(r, o, fleet, 24.0) == []
    # A sortie taken away on a later day leaves a gap there, not only on day 1.
    late = max(r.sorties, key=lambda s: s.on_station_h % P)
    broken = dataclasses.replace(r, sorties=tuple(s for s in r.sorties if s is not late))
    v = check_roster(broken, o, fleet)
    assert any(x.startswith("orbit far: no aircraft on station") for x in v)
    # The same sorties read as a daily roster fold onto one day: turnarounds break.
    as_daily = dataclasses.replace(r, horizon_h=24.0)
    assert any("turnaround" in x for x in check_roster(as_daily, o, fleet))
    # A period that is not whole days is refused.
    assert any("not a whole number" in x for x in check_roster(r, o, fleet, 36.0 if P == 48.0 else 48.0))
    # Pulling a tail's next sortie 1 h closer to its last one breaks its turnaround across the wrap.
    tail = r.sorties[0].aircraft
    mine = sorted((s for s in r.sorties if s.aircraft == tail), key=lambda s: s.takeoff_h)
    first = mine[0]
    early = dataclasses.replace(first, takeoff_h=first.takeoff_h - 1, on_station_h=first.on_station_h - 1,
                                off_station_h=first.off_station_h - 1, landing_h=first.landing_h - 1)
    v = check_roster(dataclasses.replace(r, sorties=tuple(early if s is first else s for s in r.sorties)),
                     o, fleet)
    assert any("turnaround is 4 h" in x for x in v)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_orbits=st.integers(1, 3),
    counts=st.tuples(st.integers(0, 5), st.integers(0, 5)),
    seed=st.integers(0, 10_000),
    days=st.integers(2, 4),
)
def test_property_multi_day_rosters_are_checked_and_bounded(n_orbits, counts, seed, days):
    import random

    rng = random.Random(seed)
    o = [Orbit(f"O{i}", rng.uniform(-300e3, 300e3), rng.uniform(0, 150e3)) for i in range(n_orbits)]
    fleet = [isr(counts[0]), uav(counts[1])]
    r = build_roster(o, fleet, time_limit_s=0.4, max_period_days=days)
    assert r.horizon_h % 24.0 == 0 and r.horizon_h <= 24.0 * days
    v = check_roster(r, o, fleet, 24.0)
    if r.feasible:
        assert v == [] and r.lower_bound <= r.aircraft_used
        assert r.lower_bound >= (r.relay_bound or 0)
    else:
        assert r.uncovered and all("no aircraft on station" in x for x in v)


def test_bad_period_raises():
    with pytest.raises(BorderwatchError, match="max_period_days"):
        build_roster([Orbit("O1", 0, 0)], [isr()], max_period_days=0)
    with pytest.raises(BorderwatchError, match="max_period_days"):
        build_roster([Orbit("O1", 0, 0)], [isr()], max_period_days=2.5)


# --------------------------------------------------------------------------- infeasible


def test_zero_aircraft():
    o = [Orbit("O1", 100e3, 0.0)]
    fleet = [isr(0)]
    r = build_roster(o, fleet, time_limit_s=1)
    assert not r.feasible
    assert r.sorties == () and r.aircraft_used == 0
    assert r.uncovered == {"O1": [(0.0, 24.0)]}
    assert "no aircraft available" in r.reason
    assert r.min_fleet == {"isr-1": 2}
    r2 = build_roster(o, [], time_limit_s=1)
    assert not r2.feasible and "no aircraft types" in r2.reason and r2.min_fleet is None


def test_orbit_out_of_reach_is_named_with_the_reason():
    near, far = Orbit("O1", 40e3, 0.0), Orbit("O3", 412e3, 0.0, "far east")
    fleet = [helo(4)]
    r = build_roster([near, far], fleet, time_limit_s=1)
    assert not r.feasible
    assert "O3" in r.reason and "helo-1" in r.reason and "412 km from al-Qa'im" in r.reason
    assert "no time on station" in r.reason and "endurance 2.5 h" in r.reason
    assert r.min_fleet is None
    assert r.uncovered["O3"] == [(0.0, 24.0)]
    assert "O1" not in r.uncovered                     # the reachable orbit is still covered
    assert check_roster(r, [near, far], fleet) == ["orbit O3: no aircraft on station 00:00-24:00 (24.00 h)"]


def test_too_few_aircraft_reports_gaps_and_the_fleet_that_would_do():
    o = line_orbits(4)
    fleet = [isr(3)]
    r = build_roster(o, fleet, time_limit_s=1)
    assert not r.feasible
    assert r.uncovered and all(b > a for g in r.uncovered.values() for a, b in g)
    assert "cannot cover" in r.reason and "smallest fleet found" in r.reason
    assert r.min_fleet is not None and sum(r.min_fleet.values()) >= r.lower_bound > 3
    # The gaps the roster reports are exactly what the checker finds; nothing else is wrong.
    v = check_roster(r, o, fleet)
    assert v and all("no aircraft on station" in x for x in v)
    assert len(v) == sum(len(g) for g in r.uncovered.values())
    # The suggested fleet does cover everything.
    bigger = [dataclasses.replace(fleet[0], count=r.min_fleet["isr-1"])]
    assert_valid(build_roster(o, bigger, time_limit_s=1), o, bigger)


# --------------------------------------------------------------------------- checker


@functools.lru_cache(maxsize=1)
def _small_roster():
    o = [Orbit("O1", 500e3, 0.0), Orbit("O2", 100e3, 50e3)]
    fleet = [isr(6)]
    r = build_roster(o, fleet, time_limit_s=1)
    assert_valid(r, o, fleet)
    return r, o, fleet


def test_checker_catches_a_deleted_sortie():
    r, o, fleet = _small_roster()
    gone = r.sorties[3]
    broken = dataclasses.replace(r, sorties=r.sorties[:3] + r.sorties[4:])
    v = check_roster(broken, o, fleet)
    assert any(x.startswith(f"orbit {gone.orbit}: no aircraft on station") for x in v)
    a = gone.on_station_h % 24
    assert any(f"{int(a):02d}:" in x for x in v)   # the gap starts where the sortie was


def test_checker_catches_endurance_turnaround_transit_and_fleet():
    r, o, fleet = _small_roster()
    s = r.sorties[0]
    longer = dataclasses.replace(s, landing_h=s.takeoff_h + 8.5)
    v = check_roster(dataclasses.replace(r, sorties=(longer,) + r.sorties[1:]), o, fleet)
    assert any("endurance is 8 h" in x for x in v)
    # Move a tail's second sortie 1 h earlier: it now leaves before its turnaround is over.
    same = [x for x in r.sorties if x.aircraft == s.aircraft]
    s2 = same[1]
    early = dataclasses.replace(s2, takeoff_h=s2.takeoff_h - 1, on_station_h=s2.on_station_h - 1,
                                off_station_h=s2.off_station_h - 1, landing_h=s2.landing_h - 1)
    v = check_roster(dataclasses.replace(r, sorties=tuple(early if x is s2 else x for x in r.sorties)), o, fleet)
    assert any("turnaround is 2 h" in x for x in v)
    # On station before the transit could get it there.
    rushed = dataclasses.replace(s, on_station_h=s.takeoff_h + 0.1)
    v = check_roster(dataclasses.replace(r, sorties=(rushed,) + r.sorties[1:]), o, fleet)
    assert any("transit needs" in x for x in v)
    # More tails than the fleet has.
    v = check_roster(r, o, [dataclasses.replace(fleet[0], count=1)])
    assert any("the fleet has 1" in x for x in v)


def test_coverage_gaps_wraps_midnight():
    assert coverage_gaps([(22.0, 26.0), (2.0, 22.0)]) == []
    assert coverage_gaps([(22.0, 25.0), (2.0, 22.0)]) == [(1.0, 2.0)]
    assert coverage_gaps([]) == [(0.0, 24.0)]


# --------------------------------------------------------------------------- properties


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_orbits=st.integers(1, 4),
    counts=st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)),
    seed=st.integers(0, 10_000),
    handover=st.sampled_from([0.0, 0.0, 10.0]),
)
def test_property_every_roster_is_checked_and_bounded(n_orbits, counts, seed, handover):
    import random

    rng = random.Random(seed)
    o = [Orbit(f"O{i}", rng.uniform(-250e3, 250e3), rng.uniform(0, 120e3)) for i in range(n_orbits)]
    fleet = [isr(counts[0]), uav(counts[1]), helo(counts[2], rng.uniform(-1e5, 1e5), 0.0)]
    r = build_roster(o, fleet, handover_min=handover, time_limit_s=0.3)
    v = check_roster(r, o, fleet)
    if r.feasible:
        assert v == []
        assert r.lower_bound <= r.aircraft_used
        assert (r.relay_bound or 0) <= r.lower_bound
    else:
        assert r.reason.endswith(".")
        assert r.uncovered and all("no aircraft on station" in x for x in v)
        if r.min_fleet is not None and "cannot cover" in r.reason:
            # Proven short: the bound is then the one for an unlimited fleet, which min_fleet obeys.
            assert sum(r.min_fleet.values()) >= r.lower_bound


# --------------------------------------------------------------------------- errors and chart


@pytest.mark.parametrize("bad, words", [
    (dict(count=-1), "count"),
    (dict(endurance_h=0.0), "endurance_h"),
    (dict(cruise_speed_kmh=math.nan), "cruise_speed_kmh"),
    (dict(id="isr#1"), "'#'"),
])
def test_bad_aircraft_raise_one_clear_sentence(bad, words):
    with pytest.raises(BorderwatchError) as e:
        build_roster([Orbit("O1", 0.0, 0.0)], [dataclasses.replace(isr(), **bad)])
    assert words in str(e.value)


def test_bad_orbits_and_options_raise():
    with pytest.raises(BorderwatchError, match="appears twice"):
        build_roster([Orbit("O1", 0, 0), Orbit("O1", 1, 1)], [isr()])
    with pytest.raises(BorderwatchError, match="handover_min"):
        build_roster([Orbit("O1", 0, 0)], [isr()], handover_min=-5)
    with pytest.raises(BorderwatchError, match="whole number of minutes"):
        build_roster([Orbit("O1", 0, 0)], [isr()], horizon_h=24.001)


def test_gantt_png_written(tmp_path):
    r, o, fleet = _small_roster()
    out = draw_roster_gantt(r, o, tmp_path / "sub" / "roster.png", title="two orbits", aircraft=fleet)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert [p.name for p in out.parent.iterdir()] == ["roster.png"]   # no temp file left
    gaps = build_roster(line_orbits(3), [isr(1)], time_limit_s=1)
    assert draw_roster_gantt(gaps, line_orbits(3), tmp_path / "gaps.png").exists()
    with pytest.raises(BorderwatchError, match="PNG"):
        draw_roster_gantt(r, o, tmp_path / "roster.svg")


def test_sortie_type_id():
    assert Sortie("uav-1#2", "O1", 0, 1, 2, 3).type_id == "uav-1"
