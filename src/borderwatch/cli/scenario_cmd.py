"""`borderwatch scenario show | validate | map | copy | list`."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from borderwatch.errors import BorderwatchError
from borderwatch.report.summary import ScenarioSummary, summarize
from borderwatch.scenario import bundled_names, load_scenario, resolve

app = typer.Typer(help="Inspect, check and draw a scenario.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)

SCENARIO_ARG = typer.Argument("iraq-syria", help="A bundled scenario name or a path to its .toml.")


@app.command("list")
def list_() -> None:
    """List the bundled scenarios."""
    for name in bundled_names():
        s = load_scenario(name)
        console.print(f"{name:12s} {s.title}")


@app.command()
def validate(scenario: str = typer.Argument(..., help="Path to a scenario .toml (or a bundled name).")) -> None:
    """Check a scenario and its files; say exactly what is wrong, or that it is valid."""
    s = load_scenario(scenario)
    console.print(f"[green]ok[/]: {s.path.name}: scenario \"{s.name}\" is valid "
                  f"({len(s.threat_sources)} sources, {len(s.parties)} parties)")


@app.command()
def show(scenario: str = SCENARIO_ARG) -> None:
    """Print a summary: border, sectors, sources, parties, assets, terrain."""
    summary = summarize(load_scenario(scenario))
    _print_summary(summary)


@app.command("map")
def map_(scenario: str = SCENARIO_ARG,
         output: Path = typer.Option(Path("scenario-map.png"), "-o", "--output", help="PNG to write."),
         dpi: int = typer.Option(150, help="Resolution of the PNG.")) -> None:
    """Draw the scenario: border, sectors, sources, crossings, terrain, scale bar, legend."""
    from borderwatch.report.scenario_map import draw_scenario_map

    s = load_scenario(scenario)
    path = draw_scenario_map(s, output, dpi=dpi)
    console.print(f"wrote {path}")


@app.command()
def copy(scenario: str = typer.Argument(..., help="Bundled scenario name or path."),
         target: Path = typer.Argument(..., help="Directory to create.")) -> None:
    """Copy a scenario's folder somewhere you can edit it (bundled ones are read-only)."""
    src = resolve(scenario).parent
    if target.exists():
        raise BorderwatchError(f"{target}: already exists; choose a new directory")
    shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
    console.print(f"copied {src.name} to {target}")


def _print_summary(m: ScenarioSummary) -> None:
    s = m.scenario
    console.print(f"[bold]{s.title}[/]  ({s.name}, {s.path})")
    if s.citation:
        console.print(f"[dim]{s.citation}[/]")
    b = s.border
    console.print(
        f"\n[bold]Border[/] {b.own}–{b.foreign}: [bold]{m.length_km:.1f} km[/] (geodesic; "
        f"{m.local_length_km:.1f} km in the local projection), {len(b.lonlat)} vertices, "
        f"{m.sectors} sectors of {m.sector_km:.1f} km")
    console.print(f"  north end {m.north_end[1]:.4f}N {m.north_end[0]:.4f}E, "
                  f"south end {m.south_end[1]:.4f}N {m.south_end[0]:.4f}E; own side: {b.own}")
    if m.terrain is None:
        console.print("  terrain: none (flat earth assumed)")
    else:
        t = m.terrain
        label = f"[bold yellow]{t.label}[/]" if t.synthetic else t.label
        console.print(f"  terrain: {label}, {t.resolution_m:.0f} m cells, "
                      f"{t.shape[1]}×{t.shape[0]}; along the border {t.border_min_m:.0f}–"
                      f"{t.border_max_m:.0f} m")
        holes = s.terrain.border_nodata_km
        if holes:
            console.print("  [yellow]no-data along the border[/] (blocks line of sight): " + ", ".join(
                f"km {a:.1f}–{b:.1f}" for a, b in holes))

    table = Table(title=f"Threat sources: {s.headcount:,} people", title_justify="left")
    for col, just in [("source", "left"), ("kind", "left"), ("people", "right"),
                      ("to border", "right"), ("nearest km", "right")]:
        table.add_column(col, justify=just)
    for f in m.sources:
        table.add_row(f.name, f.kind, f"{f.headcount:,}", f"{f.distance_km:.0f} km", f"{f.chainage_km:.0f}")
    console.print(table)

    parties = Table(title="Channel parties and what is released to them", title_justify="left")
    parties.add_column("id")
    parties.add_column("name")
    parties.add_column("role")
    parties.add_column("receives")
    for p in s.parties:
        kinds = [k for k in s.releasability if p.id in s.released_to(k)]
        parties.add_row(p.id, p.name, p.role, ", ".join(kinds))
    console.print(parties)

    if m.crossings:
        console.print("[bold]Official crossings[/]: " + "; ".join(
            f"{c.name} (km {c.chainage_km:.0f})" for c in m.crossings))
    a = s.assets
    w = a.watchtowers
    console.print(f"[bold]Assets[/] [dim]{a.note}[/]")
    console.print(f"  watchtowers: budget {w.budget}, sensor range {w.sensor_range_km:g} km, "
                  f"mast {w.mast_height_m:g} m")
    if a.troop_units:
        men = sum(u.strength for u in a.troop_units)
        console.print(f"  troops: {len(a.troop_units)} units, {men:,} personnel; "
                      + "; ".join(f"{u.name} ({u.strength:,}, reach {u.patrol_reach_km:g} km)"
                                  for u in a.troop_units))
    if a.patrols is not None:
        console.print(f"  patrols: {a.patrols.units} out per shift, each a {a.patrols.stretch_km:g} km stretch, "
                      f"catch probability {a.patrols.catch_probability:g}")
    if a.air is not None:
        console.print(f"  air cover: {a.air.orbits} continuous orbits wanted, detection probability "
                      f"{a.air.detection_probability:g}")
    for ac in a.aircraft:
        console.print(f"  aircraft: {ac.count}× {ac.name}: endurance {ac.endurance_h:g} h, "
                      f"{ac.cruise_speed_kmh:g} km/h, swath {ac.sensor_swath_km:g} km, "
                      f"turnaround {ac.turnaround_h:g} h, from {ac.base_name}")
