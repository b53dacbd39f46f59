"""`borderwatch terrain import TILE.tif… --scenario PATH`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from borderwatch.errors import BorderwatchError

app = typer.Typer(help="Bring real elevation data into a scenario.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)


@app.command("import")
def import_(
    tiles: list[Path] = typer.Argument(..., help="DEM tiles (GeoTIFF: SRTM, Copernicus GLO-30, ...)."),
    scenario: str = typer.Option(..., "--scenario", "-s", help="Scenario .toml to point at the result."),
    output: Path = typer.Option(None, "-o", "--output", help="GeoTIFF to write (default: terrain.tif next to the scenario)."),
    resolution: float = typer.Option(None, "--resolution", help="Cell size in metres (default: the tiles' own)."),
    buffer_km: float = typer.Option(30.0, "--buffer-km", help="Keep terrain this far either side of the border."),
) -> None:
    """Mosaic and clip DEM tiles, reproject them to the scenario's local projection,
    and point the scenario at the result."""
    from borderwatch.geo.dem_import import import_dem
    from borderwatch.geo.projection import LocalProjection
    from borderwatch.scenario import load_scenario
    from borderwatch.scenario.edit import is_bundled, set_terrain
    from borderwatch.scenario.load import resolve

    toml_path = resolve(scenario)
    if is_bundled(toml_path):
        raise BorderwatchError(
            f"{toml_path.name}: bundled scenarios are read-only; make an editable copy with "
            f"`borderwatch scenario copy {toml_path.stem} DIR` and import into DIR/{toml_path.name}")
    if buffer_km <= 0:
        raise BorderwatchError(f"--buffer-km must be > 0, got {buffer_km:g}")
    if resolution is not None and resolution <= 0:
        raise BorderwatchError(f"--resolution must be > 0 m, got {resolution:g}")
    s = load_scenario(toml_path)
    proj = LocalProjection.from_string(s.crs)
    x, y = proj.to_xy(s.border.lonlat[:, 0], s.border.lonlat[:, 1])
    import numpy as np

    out = output or toml_path.parent / "terrain.tif"
    with console.status(f"importing {len(tiles)} tile(s) into {out.name}…"):
        report = import_dem(tiles, s.crs, np.column_stack([x, y]), out,
                            buffer_m=buffer_km * 1000.0, resolution_m=resolution)
    console.print(f"wrote {report.path}: {report.shape[1]}×{report.shape[0]} cells of "
                  f"{report.resolution_m:g} m from {report.tiles} tile(s); "
                  f"{100 * report.nodata_fraction:.1f}% no-data inside the clip area")
    if report.border_coverage < 1.0:
        raise BorderwatchError(
            f"{out.name}: the tiles cover only {100 * report.border_coverage:.1f}% of the border; "
            f"{toml_path.name} was left unchanged (bring the missing tiles and import again)")
    set_terrain(toml_path, Path(report.path), synthetic=False)
    console.print(f"{toml_path.name}: \\[terrain] dem now points at {Path(report.path).name} (real DEM)")
