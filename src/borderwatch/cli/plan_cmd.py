"""`borderwatch plan towers SCENARIO -k K -o DIR`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="Plan the defence of a border.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)


@app.command()
def towers(
    scenario: str = typer.Argument("iraq-syria", help="A bundled scenario name or a path to its .toml."),
    k: int = typer.Option(None, "-k", help="Number of towers (default: the scenario's tower budget)."),
    output: Path = typer.Option(Path("towers"), "-o", "--output", help="Directory for GeoJSON, JSON and the PNG map."),
    time_limit: float = typer.Option(60.0, "--time-limit", help="Seconds the MILP may run (each solve)."),
    range_km: float = typer.Option(None, "--range-km", help="Override the towers' sensor range."),
    spacing_km: float = typer.Option(2.0, "--spacing-km", help="Candidate sites every this many km along the line."),
    no_map: bool = typer.Option(False, "--no-map", help="Skip the PNG map."),
) -> None:
    """Site K watchtowers to see the most threat-weighted border, with a certified gap."""
    from borderwatch.errors import BorderwatchError
    from borderwatch.geo import Border
    from borderwatch.plan.candidates import CandidateOptions
    from borderwatch.plan.towers import TowerOptions, site_towers
    from borderwatch.report.tower_outputs import write_tower_outputs
    from borderwatch.scenario import load_scenario

    if range_km is not None and range_km <= 0:
        raise BorderwatchError(f"--range-km must be > 0, got {range_km:g}")
    if spacing_km <= 0:
        raise BorderwatchError(f"--spacing-km must be > 0, got {spacing_km:g}")
    if time_limit <= 0:
        raise BorderwatchError(f"--time-limit must be > 0 s, got {time_limit:g}")
    s = load_scenario(scenario)
    options = TowerOptions(range_km=range_km, time_limit_s=time_limit,
                           candidates=CandidateOptions(spacing_km=spacing_km))
    columns = (TextColumn("{task.description:16s}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, fraction: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=1.0)
            bar.update(tasks[stage], completed=fraction)

        plan = site_towers(s, k, options, progress=progress)
    border = Border.from_scenario(s)
    files = write_tower_outputs(plan, border, output)
    if not no_map:
        from borderwatch.report.scenario_map import draw_scenario_map

        files["map"] = draw_scenario_map(s, output / "towers-map.png", towers=plan)
    _print_plan(plan)
    console.print("wrote " + ", ".join(str(p) for p in files.values()))


def _print_plan(plan) -> None:
    synthetic = " [bold yellow](SYNTHETIC terrain: figures are illustrative)[/]" if plan.synthetic_terrain else ""
    gap = "proven optimal" if plan.optimal else f"certified gap {100 * plan.gap:.2f}%"
    console.print(
        f"\n[bold]{plan.k} towers on {plan.scenario}[/]{synthetic}: "
        f"[bold]{100 * plan.coverage:.2f}%[/] of the threat-weighted crossing cells seen; "
        f"MILP bound {100 * plan.upper_bound:.2f}% ({gap}, {plan.method})")
    console.print(f"  line in view: {plan.line_seen_km:.1f} of {plan.line_km:.1f} km; "
                  f"{len(plan.blind_stretches_km)} blind stretches; {plan.candidates} candidate sites, "
                  f"{plan.demand_cells} crossing cells; range {plan.range_km:g} km, mast {plan.mast_height_m:g} m")
    if plan.nodata_stretches_km:
        console.print("  [yellow]no-data on the line (treated as blocking):[/] " + ", ".join(
            f"km {a:.1f}–{b:.1f}" for a, b in plan.nodata_stretches_km))
    t = Table(title="How many towers for how much of the weighted border", title_justify="left")
    t.add_column("target", justify="right")
    t.add_column("towers found", justify="right")
    t.add_column("proven minimum ≥", justify="right")
    for c in plan.coverage_targets:
        found = "unreachable" if c.towers is None else str(c.towers)
        bound = "—" if c.lower_bound is None else str(c.lower_bound)
        if c.towers is None:
            found += f" (max {100 * c.reachable_max:.1f}%)"
        t.add_row(f"{100 * c.target:.0f}%", found, bound)
    console.print(t)
    sites = Table(title="Tower sites", title_justify="left")
    for col in ("id", "lat", "lon", "km", "setback", "ground", "sees of line"):
        sites.add_column(col, justify="right" if col not in ("id",) else "left")
    for s in plan.sites:
        seen = sum(b - a for a, b in s.visible_stretches_km)
        sites.add_row(s.id, f"{s.lat:.4f}", f"{s.lon:.4f}", f"{s.chainage_km:.1f}",
                      f"{s.setback_m / 1000:.1f} km", f"{s.ground_m:.0f} m", f"{seen:.1f} km")
    console.print(sites)
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in plan.timings_s.items())
    console.print(f"[dim]timings: {timing}[/]")
