"""site_towers end to end on the tiny scenario, and `borderwatch plan towers` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from borderwatch import load_scenario
from borderwatch.errors import BorderwatchError
from borderwatch.geo import Border
from borderwatch.plan import TowerOptions, site_towers

BORDERWATCH = str(Path(sys.executable).parent / "borderwatch")


@pytest.fixture(scope="module")
def plan(tiny):
    return site_towers(tiny, 3, TowerOptions(time_limit_s=20))


def test_plan_is_valid_and_certified(plan, tiny):
    assert len(plan.sites) == 3
    assert len({(s.x, s.y) for s in plan.sites}) == 3
    assert 0.0 < plan.coverage <= plan.upper_bound + 1e-9 <= 1.0 + 1e-9
    assert plan.gap >= 0.0
    border = Border.from_scenario(tiny)
    loc = border.locate([s.x for s in plan.sites], [s.y for s in plan.sites])
    assert (loc.side == 1).all(), "towers stand on the own side"
    assert plan.synthetic_terrain


def test_visible_and_blind_stretches_partition_the_line(plan):
    seen = [iv for s in plan.sites for iv in s.visible_stretches_km]
    # Every blind stretch is disjoint from every seen one (beyond the half-station rounding).
    half = 0.2
    for a, b in plan.blind_stretches_km:
        for c, d in seen:
            assert b <= c + half or d <= a + half, ((a, b), (c, d))
    blind = sum(b - a for a, b in plan.blind_stretches_km)
    assert plan.line_seen_km == pytest.approx(plan.line_km - blind)


def test_more_towers_never_see_less(tiny, plan):
    more = site_towers(tiny, 5, TowerOptions(time_limit_s=20))
    assert more.coverage >= plan.coverage - 1e-9
    targets = {round(t.target, 2): t for t in more.coverage_targets}
    assert set(targets) == {0.9, 0.95, 0.99}
    reached = [t.towers for t in more.coverage_targets if t.towers is not None]
    assert reached == sorted(reached), "more coverage never needs fewer towers"


def test_too_many_towers_is_a_clear_error(tiny):
    with pytest.raises(BorderwatchError, match=r"k = 5000 is larger than the \d+ candidate sites"):
        site_towers(tiny, 5000)
    with pytest.raises(BorderwatchError, match="sensor range must be > 0 km, got 0"):
        site_towers(tiny, 2, TowerOptions(range_km=0.0))


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BORDERWATCH, *args], capture_output=True, text=True, timeout=600)


def test_cli_writes_geojson_and_map(tmp_path):
    out = tmp_path / "plan"
    r = _run("plan", "towers", "tiny", "-k", "3", "-o", str(out), "--time-limit", "20")
    assert r.returncode == 0, r.stderr
    assert "3 towers on tiny (SYNTHETIC terrain" in r.stdout
    towers = json.loads((out / "towers.geojson").read_text())
    assert len(towers["features"]) == 3
    assert all(f["geometry"]["type"] == "Point" for f in towers["features"])
    lon, lat = towers["features"][0]["geometry"]["coordinates"]
    assert 0.0 < lon < 0.4 and 0.0 < lat < 0.35
    visible = json.loads((out / "visible.geojson").read_text())
    assert visible["features"] and all(f["geometry"]["type"] == "LineString" for f in visible["features"])
    summary = json.loads((out / "plan.json").read_text())
    assert summary["k"] == 3 and summary["gap"] >= 0 and summary["upper_bound"] >= summary["coverage"] - 1e-9
    assert (out / "towers-map.png").stat().st_size > 50_000
    import os

    umask = os.umask(0)
    os.umask(umask)
    for name in ("towers.geojson", "plan.json", "towers-map.png"):
        mode = (out / name).stat().st_mode & 0o777
        assert mode == 0o666 & ~umask, f"{name} written with mode {oct(mode)}, not private temp-file mode"


@pytest.mark.parametrize("args, message", [
    (["-k", "5000"], "error: k = 5000 is larger than the "),
    (["-k", "0"], "error: k must be at least 1 tower, got 0"),
    (["--range-km", "0"], "error: --range-km must be > 0, got 0"),
])
def test_cli_bad_numbers(tmp_path, args, message):
    r = _run("plan", "towers", "tiny", "-o", str(tmp_path / "x"), *args)
    assert r.returncode == 2
    assert r.stderr.startswith(message), r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists(), "nothing written on error"


def test_nodata_hole_blocks_and_is_reported(tiny_copy):
    """Punch a no-data hole across the line in a copy of tiny's DEM: the plan reports and avoids it."""
    dem = tiny_copy.parent / "terrain-synthetic.tif"
    with rasterio.open(dem, "r+") as dst:
        band = dst.read(1)
        rows = band.shape[0]
        band[rows // 2 - 5: rows // 2 + 5, :] = dst.nodata  # a 1 km stripe across the grid
        dst.write(band, 1)
    s = load_scenario(tiny_copy)
    assert s.terrain.border_nodata_km, "the loader reports the hole"
    plan = site_towers(s, 3, TowerOptions(time_limit_s=20))
    assert plan.nodata_stretches_km
    a, b = plan.nodata_stretches_km[0]
    for site in plan.sites:
        for c, d in site.visible_stretches_km:
            assert d <= a + 0.2 or c >= b - 0.2, "no tower sees cells on no-data"
