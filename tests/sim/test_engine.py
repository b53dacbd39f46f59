"""One simulated window: reproducible, sensible at the extremes, faithful to the sensor model."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from borderwatch.errors import SimError
from borderwatch.plan import make_plan
from borderwatch.sim.engine import GROUP_COLUMNS, run_once
from borderwatch.sim.options import SimOptions
from borderwatch.sim.world import P_TRACK, prepare


@pytest.fixture(scope="module")
def tiny_plan(tiny):
    return make_plan(tiny)


def _world(tiny, plan, **opts):
    return prepare(tiny, plan, SimOptions(**{"hours": 2.0, "tail_h": 0.5, "share": 0.5, **opts}))


def test_same_seed_same_outcome_and_other_seed_differs(tiny, tiny_plan):
    w = _world(tiny, tiny_plan)
    a, b, c = run_once(w, 11), run_once(w, 11), run_once(w, 12)
    assert set(a.groups) == set(GROUP_COLUMNS)
    for col in GROUP_COLUMNS:
        assert np.array_equal(a.groups[col], b.groups[col], equal_nan=True), col
    assert {k: v for k, v in a.stats.items() if k != "wall_s"} == {k: v for k, v in b.stats.items() if k != "wall_s"}
    assert not np.array_equal(a.groups["target_km"], c.groups["target_km"])


def test_headcount_share_and_groups(tiny, tiny_plan):
    w = _world(tiny, tiny_plan, share=0.4, group_min=2, group_max=4)
    out = run_once(w, 3)
    g = out.groups
    expected = sum(int(round(s.headcount * 0.4)) for s in tiny.threat_sources)
    assert int(g["size"].sum()) == expected
    assert g["size"].min() >= 1 and g["size"].max() <= 4
    # Every crossing lies on the line, inside the plan's targets.
    assert np.all((g["target_km"] >= 0) & (g["target_km"] <= w.border.length_km))
    assert g["crossed"].all()             # 2 h window + 0.5 h tail: everyone gets across
    assert out.stats["person_steps"] > 0


def test_everything_covered_with_certainty_catches_everyone(tiny, tiny_plan):
    # Patrols that see the whole corridor and acquire at the first look: every group is
    # detected before the line, alerted on crossing, and no alert is false.
    w = _world(tiny, tiny_plan, patrol_radius_m=1e6, patrol_p_look=1.0, patrol_night_factor=1.0,
               tower_clutter_per_h=0.0, air_clutter_per_h=0.0)
    out = run_once(w, 5)
    g = out.groups
    assert len(g["group"]) > 3
    assert g["detected_before"].all()
    assert g["alerted"].all()
    assert out.stats["false_breaches"] == 0
    assert np.all(np.abs(g["alert_delay_s"]) < 120)


def test_no_assets_catch_no_one(tiny, tiny_plan):
    w = _world(tiny, tiny_plan)
    empty = dataclasses.replace(
        w, tower_xy=np.zeros((0, 2)), tower_vis=np.zeros((0, 1, 1), bool), tower_rc0=np.zeros((0, 2), np.int64),
        orbit_xy=np.zeros((0, 2)), orbit_on=np.zeros((0, 3)), patrol_stretches_km=np.zeros((0, 0, 2)),
        sensor_names=())
    out = run_once(empty, 5)
    g = out.groups
    assert g["crossed"].all() and len(g["group"]) > 0
    assert not g["detected_before"].any() and not g["alerted"].any() and not g["interdicted"].any()
    assert out.stats["detections"] == 0 and out.stats["breaches"] == 0


def test_best_response_picks_the_weakest_crossing(tiny, tiny_plan):
    # Hand-made utilities: target 7 is the cheapest crossing from every source by far.
    w = _world(tiny, tiny_plan)
    util = np.full_like(w.target_utility, 0.1)
    util[:, 7] = 0.5
    util[:, 3] = 0.48          # 4 % worse: outside the 2 % a best responder cannot tell apart
    out = run_once(dataclasses.replace(w, target_utility=util), 2)
    km = out.groups["target_km"]
    lo, hi = w.target_start_km[7], w.target_start_km[7] + w.target_len_km
    assert np.all((km >= lo) & (km <= hi))
    # A quantal responder with low rationality spreads out instead.
    qr = dataclasses.replace(w, target_utility=util, options=dataclasses.replace(w.options, rationality=0.5))
    spread = run_once(qr, 2).groups["target_km"]
    assert len(np.unique(np.floor(spread))) > 3


def test_detection_counts_follow_the_sensor_model(tiny, tiny_plan):
    # Once acquired and in view, a sensor reports a group at each look with P_TRACK:
    # the reports are Binomial(trials, P_TRACK).
    w = _world(tiny, tiny_plan, tower_clutter_per_h=0.0, air_clutter_per_h=0.0)
    reports = trials = 0
    for seed in range(3):
        out = run_once(w, seed)
        reports += out.stats["detections"] - out.stats["clutter"]
        trials += out.stats["report_trials"]
    assert trials > 200
    sd = math.sqrt(trials * P_TRACK * (1 - P_TRACK))
    assert abs(reports - trials * P_TRACK) < 4 * sd


@pytest.mark.parametrize("opts, words", [
    ({"hours": -1.0}, "hours must be > 0"),
    ({"share": 1.5}, "share must be between 0 and 1"),
    ({"group_min": 5, "group_max": 2}, "group_min <= group_max"),
    ({"look_s": 0.5}, "at least step_s"),
    ({"rationality": -1.0}, "rationality must be >= 0"),
])
def test_bad_options_are_named(opts, words):
    with pytest.raises(SimError, match=words):
        SimOptions(**opts)


def test_a_plan_for_another_scenario_is_refused(tiny, tiny_plan):
    other = dataclasses.replace(tiny_plan, scenario="iraq-syria")
    with pytest.raises(SimError, match="made for scenario 'iraq-syria', not 'tiny'"):
        prepare(tiny, other)
