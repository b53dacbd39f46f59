"""The commands a user runs first: show, map, copy, terrain import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from borderwatch import load_scenario

BORDERWATCH = str(Path(sys.executable).parent / "borderwatch")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([BORDERWATCH, *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env={**os.environ, "COLUMNS": "160"})


def test_show_prints_the_real_summary():
    r = run_cli("scenario", "show", "iraq-syria")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Border Iraq–Syria: 599.3 km (geodesic" in out
    assert "24 sectors of 25.0 km" in out
    assert "13,000 people" in out
    for party in ("Iraq Ministry of Defence", "Syrian government", "Syrian Democratic Forces",
                  "Turkey", "United States"):
        assert party in out
    assert "SYNTHETIC" in out
    assert "al-Qa'im – Albu Kamal (km 365)" in out


def test_map_writes_a_png(tmp_path):
    out = tmp_path / "maps" / "iraq-syria.png"
    r = run_cli("scenario", "map", "iraq-syria", "-o", str(out), "--dpi", "60")
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout
    with Image.open(out) as im:
        assert im.format == "PNG"
        w, h = im.size
        assert w >= 500 and h >= 400
        # Not blank: the hillshade and the border give many distinct colours.
        assert len(im.convert("RGB").getcolors(1 << 24)) > 1000
    assert [p.name for p in out.parent.iterdir()] == ["iraq-syria.png"]  # no temp files left


def test_map_refuses_a_non_png_name(tmp_path):
    r = run_cli("scenario", "map", "tiny", "-o", str(tmp_path / "map.jpg"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'map.jpg'}: the map is written as PNG; give a .png file name"


def test_terrain_import_points_a_copied_scenario_at_real_tiles(tmp_path):
    """Copy tiny, import two geographic tiles, and the scenario now samples them."""
    copy = tmp_path / "mine"
    r = run_cli("scenario", "copy", "tiny", str(copy))
    assert r.returncode == 0, r.stderr
    tiles = []
    for i, (west, east) in enumerate([(-0.15, 0.11), (0.11, 0.40)]):
        cell = 1 / 1200  # 3 arc-seconds, like SRTM3
        cols = int(round((east - west) / cell))
        rows = int(round(0.55 / cell))
        lon = west + (np.arange(cols) + 0.5) * cell
        lat = 0.42 - (np.arange(rows) + 0.5) * cell
        z = (500 + 1000 * lon[None, :] + 200 * lat[:, None]).astype(np.int16)
        path = tmp_path / f"tile{i}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="int16",
                           crs="EPSG:4326", transform=from_origin(west, 0.42, cell, cell),
                           nodata=-32768) as dst:
            dst.write(z, 1)
        tiles.append(str(path))
    toml = copy / "tiny.toml"
    r = run_cli("terrain", "import", *tiles, "--scenario", str(toml), "--buffer-km", "5")
    assert r.returncode == 0, r.stderr
    assert "[terrain] dem now points at terrain.tif (real DEM)" in r.stdout
    text = toml.read_text()
    assert 'dem = "terrain.tif"' in text and "synthetic = false" in text
    assert "# borderwatch scenario \"tiny\"" in text  # comments survive the edit
    s = load_scenario(toml)
    assert not s.terrain.synthetic
    from borderwatch.geo import Terrain

    t = Terrain.from_scenario(s)
    # The scenario's CRS is centred on 0.11E 0.15N, so that point is local (0, 0).
    assert abs(t.sample([0.0], [0.0])[0] - (500 + 1000 * 0.11 + 200 * 0.15)) < 2.0


def test_terrain_import_refuses_to_edit_a_bundled_scenario(tmp_path):
    r = run_cli("terrain", "import", str(tmp_path / "x.tif"), "--scenario", "tiny")
    assert r.returncode == 2
    assert "bundled scenarios are read-only" in r.stderr
    assert "borderwatch scenario copy tiny DIR" in r.stderr


def test_terrain_import_partial_coverage_leaves_the_toml_alone(tmp_path):
    copy = tmp_path / "mine"
    assert run_cli("scenario", "copy", "tiny", str(copy)).returncode == 0
    before = (copy / "tiny.toml").read_text()
    cell = 1 / 1200
    cols, rows = 300, 150  # covers only lat 0.295–0.42: the northern tip of the border
    path = tmp_path / "north.tif"
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="int16",
                       crs="EPSG:4326", transform=from_origin(-0.05, 0.42, cell, cell), nodata=-32768) as dst:
        dst.write(np.full((rows, cols), 400, np.int16), 1)
    r = run_cli("terrain", "import", str(path), "--scenario", str(copy / "tiny.toml"), "--buffer-km", "5")
    assert r.returncode == 2
    assert "the tiles cover only" in r.stderr and "tiny.toml was left unchanged" in r.stderr
    assert (copy / "tiny.toml").read_text() == before
