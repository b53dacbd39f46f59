"""make_plan end to end: every layer present, consistent, judged, and round-tripped to files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from borderwatch.errors import BorderwatchError
from borderwatch.plan import PlanOptions, make_plan, read_plan, write_plan
from borderwatch.plan import codec
from borderwatch.plan.roster import check_roster

BORDERWATCH = str(Path(sys.executable).parent / "borderwatch")


@pytest.fixture(scope="module")
def plan(tiny):
    return make_plan(tiny, PlanOptions(towers=3, time_limit_s=20, patrol_days=5))


def test_layers_are_all_there(plan, tiny):
    assert len(plan.towers.sites) == 3
    p = plan.patrols
    assert p is not None and p.units == tiny.assets.patrols.units
    assert p.coverage.shape == plan.targets_value.shape
    assert (p.coverage >= -1e-9).all() and (p.coverage <= 1 + 1e-9).all()
    assert p.coverage.sum() <= p.units * p.window + 1e-6
    assert p.days.shape == (5, p.units)
    assert len(plan.orbits) == tiny.assets.air.orbits
    assert plan.roster is not None
    assert len(plan.sectors) > 0
    assert sum(c.value for c in plan.sectors) == pytest.approx(1.0)


def test_the_game_beats_an_even_spread(plan, tiny):
    """Before air cover, the equilibrium leaves the adversary no better crossing than an even spread does."""
    from borderwatch.plan.game_targets import uniform_coverage

    p = plan.patrols
    catch = tiny.assets.patrols.catch_probability
    success = plan.targets_value * (1 - plan.targets_tower_detection)
    ours = (success * (1 - catch * p.coverage)).max()
    even = (success * (1 - catch * uniform_coverage(len(success), p.units, p.window))).max()
    assert ours <= even + 1e-12
    assert plan.attacker_best <= plan.attacker_best_towers_only + 1e-12


def test_daily_patrols_stay_on_the_border(plan):
    p = plan.patrols
    starts = p.days[p.days >= 0]
    assert (starts + p.window <= len(plan.targets_value)).all()


def test_plan_round_trips_through_a_file(plan, tmp_path):
    path = write_plan(plan, tmp_path / "plan-full.json")
    again = read_plan(path)
    assert codec.to_jsonable(again) == codec.to_jsonable(plan)
    assert isinstance(again.patrols.coverage, np.ndarray)
    assert again.towers.sites[0].id == plan.towers.sites[0].id


def test_a_broken_plan_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "plan-full.json"
    bad.write_text('{"__type__": "Evil", "x": 1}')
    with pytest.raises(BorderwatchError, match="unknown record type 'Evil'"):
        read_plan(bad)
    bad.write_text("{nope")
    with pytest.raises(BorderwatchError, match="not valid JSON"):
        read_plan(bad)


def test_cli_writes_every_layer(tmp_path):
    out = tmp_path / "plan"
    r = subprocess.run([BORDERWATCH, "plan", "tiny", "-o", str(out), "-k", "3", "--time-limit", "20"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "adversary's best crossing" in r.stdout
    for name in ("towers.geojson", "visible.geojson", "blind.geojson", "patrols.geojson", "orbits.geojson",
                 "summary.json", "plan-full.json", "plan-map.png", "roster.png"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attacker_best"] <= summary["attacker_best_uniform_patrols"] + 1e-12
    patrols = json.loads((out / "patrols.geojson").read_text())
    assert len(patrols["features"]) == len(read_plan(out / "plan-full.json").targets_value)


def test_zero_aircraft_with_orbits_wanted_is_a_clear_message(tiny_copy):
    text = tiny_copy.read_text()
    start = text.index("[[assets.aircraft]]")
    tiny_copy.write_text(text[:start])
    r = subprocess.run([BORDERWATCH, "plan", str(tiny_copy), "-o", str(tiny_copy.parent / "out"), "-k", "2"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip() == ("error: tiny.toml: 1 air orbits are wanted ([assets.air] orbits) but the "
                                "scenario lists no aircraft")
