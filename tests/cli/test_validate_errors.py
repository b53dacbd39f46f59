"""Malformed scenarios, run through the CLI exactly as a user would.

Each case breaks one thing in a copy of the tiny scenario and checks the
whole stderr line, the exit status 2, and that no traceback leaks out.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

BORDERWATCH = str(Path(sys.executable).parent / "borderwatch")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BORDERWATCH, *args], capture_output=True, text=True, timeout=120)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"test setup: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_valid_copy_passes(tiny_copy):
    result = run_cli("scenario", "validate", str(tiny_copy))
    assert result.returncode == 0, result.stderr
    assert 'scenario "tiny" is valid' in result.stdout


CASES = {
    "missing field": (
        'own_side = "left"\n', "",
        "error: tiny.toml: border.own_side: missing (required)"),
    "wrong type": (
        "sector_km = 5.0", 'sector_km = "five"',
        'error: tiny.toml: border.sector_km: must be a number, got string "five"'),
    "negative endurance": (
        "endurance_h = 6.0", "endurance_h = -4",
        "error: tiny.toml: assets.aircraft[0].endurance_h: must be > 0, got -4"),
    "negative headcount": (
        "headcount = 200", "headcount = -200",
        "error: tiny.toml: threat_sources[1].headcount: must be > 0, got -200"),
    "fractional headcount": (
        "headcount = 200", "headcount = 200.5",
        "error: tiny.toml: threat_sources[1].headcount: must be a whole number, got 200.5"),
    "latitude out of range": (
        "lat = 0.200", "lat = 95.0",
        "error: tiny.toml: threat_sources[0].lat: must be <= 90, got 95"),
    "typo in a field name": (
        "endurance_h = 6.0", "endurence_h = 6.0",
        'error: tiny.toml: assets.aircraft[0].endurance_h: missing (required) (found "endurence_h": a typo?)'),
    "unknown field": (
        "turnaround_h = 1.5", "turnaround_h = 1.5\ncolour = \"grey\"",
        "error: tiny.toml: assets.aircraft[0].colour: unknown field (known here: base_lat, base_lon, "
        "base_name, count, cruise_speed_kmh, endurance_h, id, name, party, sensor_swath_km, turnaround_h)"),
    "unknown party in releasability": (
        'track = ["east", "ally"]', 'track = ["east", "nato"]',
        'error: tiny.toml: releasability.track[1]: unknown party "nato" (known: ally, east, west)'),
    "unknown party on an asset": (
        'party = "ally"', 'party = "nato"',
        'error: tiny.toml: assets.aircraft[0].party: unknown party "nato" (known: ally, east, west)'),
    "two owners": (
        'role = "neighbour"', 'role = "owner"',
        'error: tiny.toml: parties: exactly one party must have role "owner", found 2'),
    "bad role": (
        'role = "coalition"', 'role = "enemy"',
        'error: tiny.toml: parties[2].role: must be one of "owner", "neighbour", "local-force", '
        '"coalition", "observer", got string "enemy"'),
    "missing border file": (
        'file = "border.geojson"', 'file = "nowhere.geojson"',
        "error: tiny.toml: border.file: file not found: nowhere.geojson"),
    "bad own side": (
        'own_side = "left"', 'own_side = "east"',
        'error: tiny.toml: border.own_side: must be one of "left", "right", got string "east"'),
    "geographic scenario crs": (
        'crs = "+proj=tmerc', 'crs = "EPSG:4326" # "+proj=tmerc',
        "error: tiny.toml: scenario.crs: must be a projected CRS in metres, got WGS 84"),
    "broken toml": (
        "[border]", "[border",
        None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_toml(case, tiny_copy):
    old, new, expected = CASES[case]
    edit(tiny_copy, old, new)
    line = one_line_error(run_cli("scenario", "validate", str(tiny_copy)))
    if expected is None:  # TOML syntax: the parser's own position report
        assert re.fullmatch(r"error: tiny\.toml: not valid TOML: .+ \(at line \d+, column \d+\)", line), line
    else:
        assert line == expected


def test_broken_geojson(tiny_copy):
    geo = tiny_copy.parent / "border.geojson"
    geo.write_text(geo.read_text()[:-40])
    line = one_line_error(run_cli("scenario", "validate", str(tiny_copy)))
    assert re.fullmatch(r"error: border\.geojson: not valid JSON: .+ at line \d+, column \d+", line), line


def test_geojson_that_is_a_polygon(tiny_copy):
    geo = tiny_copy.parent / "border.geojson"
    doc = json.loads(geo.read_text())
    ring = doc["features"][0]["geometry"]["coordinates"]
    doc["features"][0]["geometry"] = {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
    geo.write_text(json.dumps(doc))
    line = one_line_error(run_cli("scenario", "validate", str(tiny_copy)))
    assert line == ('error: border.geojson: features[0].geometry.type: must be LineString or '
                    'MultiLineString, got string "Polygon"')


def test_geojson_position_out_of_range(tiny_copy):
    geo = tiny_copy.parent / "border.geojson"
    doc = json.loads(geo.read_text())
    doc["features"][0]["geometry"]["coordinates"][3] = [200.0, 0.1]
    geo.write_text(json.dumps(doc))
    line = one_line_error(run_cli("scenario", "validate", str(tiny_copy)))
    assert line == ("error: border.geojson: features[0].geometry.coordinates[3]: "
                    "longitude must be within -180..180, got 200")


def test_self_intersecting_border(tiny_copy):
    geo = tiny_copy.parent / "border.geojson"
    doc = json.loads(geo.read_text())
    # Walk south, then double back across the line already drawn.
    doc["features"][0]["geometry"]["coordinates"] = [
        [0.10, 0.30], [0.11, 0.10], [0.14, 0.12], [0.08, 0.20], [0.07, 0.05]]
    geo.write_text(json.dumps(doc))
    line = one_line_error(run_cli("scenario", "validate", str(tiny_copy)))
    assert re.fullmatch(r"error: border\.geojson: features\[0\]\.geometry\.coordinates: "
                        r"the border line crosses itself near 0\.\d{4}E 0\.\d{4}N", line), line


def _write_dem(path: Path, crs: str | None, transform, shape, value=300.0, nodata=-9999.0):
    data = np.full(shape, value, dtype=np.float32)
    profile = dict(driver="GTiff", width=shape[1], height=shape[0], count=1, dtype="float32",
                   transform=transform, nodata=nodata)
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _point_toml_at(toml: Path, dem_name: str) -> None:
    edit(toml, 'dem = "terrain-synthetic.tif"', f'dem = "{dem_name}"')


def test_dem_that_does_not_cover_the_border(tiny_copy):
    crs = "+proj=tmerc +lat_0=0.15 +lon_0=0.11 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    # Covers y from -2 km to +25 km: the southern ~14 km of the border are outside.
    _write_dem(tiny_copy.parent / "half.tif", crs, from_origin(-20000, 25000, 100, 100), (270, 400))
    _point_toml_at(tiny_copy, "half.tif")
    line = one_line_error(run_cli("scenario", "validate", str(tiny_copy)))
    assert re.fullmatch(r"error: tiny\.toml: terrain\.dem: half\.tif does not cover the border: "
                        r"\d+% of it \(km \d+\.\d–35\.\d from the north end\) lies outside the DEM",
                        line), line


def _holed_dem(tiny_copy: Path, rows: slice) -> None:
    crs = "+proj=tmerc +lat_0=0.15 +lon_0=0.11 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    path = tiny_copy.parent / "holed.tif"
    _write_dem(path, crs, from_origin(-20000, 25000, 100, 100), (500, 400))
    with rasterio.open(path, "r+") as dst:
        band = dst.read(1)
        band[rows, :] = -9999.0  # a no-data stripe across the whole grid
        dst.write(band, 1)
    _point_toml_at(tiny_copy, "holed.tif")


def test_dem_mostly_nodata_along_the_border(tiny_copy):
    _holed_dem(tiny_copy, slice(150, 300))  # 15 km of the 35 km border
    line = one_line_error(run_cli("scenario", "validate", str(tiny_copy)))
    assert re.fullmatch(r"error: tiny\.toml: terrain\.dem: holed\.tif does not cover the border: \d+% of it "
                        r"\(between km \d+\.\d and \d+\.\d\) lies on no-data cells \(at most 10% is "
                        r"accepted; smaller holes block the view and are reported\)", line), line


def test_small_nodata_hole_is_accepted_and_reported(tiny_copy):
    _holed_dem(tiny_copy, slice(240, 260))  # a 2 km stripe
    result = run_cli("scenario", "validate", str(tiny_copy))
    assert result.returncode == 0, result.stderr
    from borderwatch import load_scenario

    holes = load_scenario(tiny_copy).terrain.border_nodata_km
    assert len(holes) == 1
    a, b = holes[0]
    assert 1.0 < b - a < 3.5
    shown = run_cli("scenario", "show", str(tiny_copy))
    assert "no-data along the border (blocks line of sight): km " in shown.stdout


def test_dem_in_a_geographic_crs(tiny_copy):
    _write_dem(tiny_copy.parent / "geo.tif", "EPSG:4326", from_origin(-0.1, 0.4, 0.001, 0.001), (500, 400))
    _point_toml_at(tiny_copy, "geo.tif")
    line = one_line_error(run_cli("scenario", "validate", str(tiny_copy)))
    assert line == ("error: tiny.toml: terrain.dem: geo.tif is in a geographic CRS (EPSG:4326) with no "
                    "projection; elevation cells must be in metres: run `borderwatch terrain import "
                    "geo.tif --scenario ...` to reproject it")


def test_dem_with_no_crs(tiny_copy):
    _write_dem(tiny_copy.parent / "nocrs.tif", None, from_origin(-20000, 25000, 100, 100), (500, 400))
    _point_toml_at(tiny_copy, "nocrs.tif")
    line = one_line_error(run_cli("scenario", "validate", str(tiny_copy)))
    assert line == "error: tiny.toml: terrain.dem: nocrs.tif has no CRS; cannot place it on the map"


def test_dem_that_is_not_a_raster(tiny_copy):
    (tiny_copy.parent / "text.tif").write_text("not a raster\n")
    _point_toml_at(tiny_copy, "text.tif")
    line = one_line_error(run_cli("scenario", "validate", str(tiny_copy)))
    assert line.startswith("error: tiny.toml: terrain.dem: text.tif is not a readable raster")


def test_no_such_scenario():
    line = one_line_error(run_cli("scenario", "show", "atlantis"))
    assert line.startswith("error: atlantis: no such scenario file, and not a bundled scenario (bundled: ")
