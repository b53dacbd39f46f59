"""Baselines from the same resources: what they change, and that the optimised plan beats them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from borderwatch.errors import SimError
from borderwatch.plan.candidates import CandidateOptions
from borderwatch.plan.game_targets import uniform_coverage
from borderwatch.plan.whole import make_plan
from borderwatch.sim.baselines import (
    EVEN_TOWERS,
    NO_AIRCRAFT,
    UNIFORM_PATROLS,
    baselines,
    even_chainages,
    even_towers,
    judge,
    no_aircraft,
    uniform_patrols,
)


@pytest.fixture(scope="module")
def plan(tiny):
    return make_plan(tiny)


@pytest.fixture(scope="module")
def base(tiny, plan):
    return baselines(plan, tiny)


def day_coverage(days: np.ndarray, n: int, window: int) -> np.ndarray:
    """Which targets each day's patrols cover: (days, n) counts."""
    cov = np.zeros((len(days), n))
    for d, starts in enumerate(days):
        for s in starts[starts >= 0]:
            cov[d, s:s + window] += 1
    return cov


def test_judging_an_unchanged_plan_gives_back_make_plans_figures(tiny, plan):
    same = judge(tiny, plan)
    np.testing.assert_array_equal(same.targets_tower_detection, plan.targets_tower_detection)
    np.testing.assert_array_equal(same.targets_value, plan.targets_value)
    assert same.attacker_best == plan.attacker_best
    assert same.attacker_best_uniform == plan.attacker_best_uniform
    assert same.attacked_km == plan.attacked_km
    assert same.sectors == plan.sectors


def test_the_labels_and_the_order(base):
    assert list(base) == [UNIFORM_PATROLS, EVEN_TOWERS, NO_AIRCRAFT]


def test_uniform_patrols_cover_as_uniform_coverage(tiny, plan, base):
    u = base[UNIFORM_PATROLS]
    p = plan.patrols
    n = len(plan.targets_value)
    np.testing.assert_array_equal(u.patrols.coverage, uniform_coverage(n, p.units, p.window))
    assert (u.patrols.units, u.patrols.window) == (p.units, p.window)
    assert u.patrols.days.shape == p.days.shape
    # Every day's schedule realises exactly that coverage: the same stretches each day.
    np.testing.assert_array_equal(day_coverage(u.patrols.days, n, p.window),
                                  np.tile(u.patrols.coverage, (len(u.patrols.days), 1)))
    # It is the baseline make_plan already quotes.
    assert u.attacker_best == pytest.approx(plan.attacker_best_uniform)
    assert u.towers is plan.towers and u.orbits == plan.orbits
    assert "uniform" in u.patrols.method


def test_rotating_uniform_patrols_move_daily_and_flatten_coverage(tiny, plan):
    r = uniform_patrols(plan, tiny, rotate=True)
    p = plan.patrols
    n = len(plan.targets_value)
    days = r.patrols.days
    assert len({tuple(sorted(d)) for d in days}) > 1                  # the schedule moves
    assert day_coverage(days, n, p.window).max() <= 1                 # never two units on a target
    inner = r.patrols.coverage[p.window:-p.window]
    assert np.ptp(inner) < 1e-12 and inner[0] == pytest.approx(p.units * p.window / (n - p.window + 1))


def test_even_towers_are_k_evenly_spaced_candidate_sites(tiny, plan, base):
    e = base[EVEN_TOWERS]
    k = len(plan.towers.sites)
    sites = e.towers.sites
    assert len(sites) == k and e.towers.k == k
    km = np.array([s.chainage_km for s in sites])
    line = plan.towers.line_km
    station = CandidateOptions().spacing_km
    # Each at most a candidate station from its even chainage, so spacing is line/K give or take.
    assert np.abs(np.sort(km) - even_chainages(line, k)).max() <= station
    gaps = np.diff(np.sort(km))
    assert np.abs(gaps - line / k).max() <= 2 * station
    assert len({(s.x, s.y) for s in sites}) == k
    assert e.towers.method == "even spacing (baseline)" and not e.towers.optimal
    # The optimiser is optimal or near: evenly spaced towers see no more.
    assert e.towers.coverage <= plan.towers.coverage + 1e-12
    assert e.towers.coverage <= e.towers.upper_bound
    # The attacker sees the new towers: detection recomputed from what they see.
    q = tiny.assets.watchtowers.detection_probability
    assert not np.array_equal(e.targets_tower_detection, plan.targets_tower_detection)
    assert e.targets_tower_detection.max() <= q + 1e-12
    assert e.patrols is plan.patrols and e.roster is plan.roster


def test_no_aircraft_has_no_orbit_and_no_roster(plan, base):
    n = base[NO_AIRCRAFT]
    assert n.orbits == () and n.roster is None
    assert not any(s.air for s in n.sectors)
    assert n.patrols is plan.patrols and n.towers is plan.towers


@pytest.mark.parametrize("label", [UNIFORM_PATROLS, EVEN_TOWERS, NO_AIRCRAFT])
def test_the_optimised_plan_leaves_the_attacker_no_more(plan, base, label):
    assert plan.attacker_best <= base[label].attacker_best + 1e-12


@pytest.mark.parametrize("make", [uniform_patrols, even_towers, no_aircraft])
def test_a_plan_for_another_scenario_is_refused(tiny, plan, make):
    with pytest.raises(SimError, match="plan was made for 'elsewhere', not 'tiny'"):
        make(replace(plan, scenario="elsewhere"), tiny)
