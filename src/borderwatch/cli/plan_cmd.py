"""`borderwatch plan towers SCENARIO -k K -o DIR`."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from typer.core import TyperGroup


class _PlanGroup(TyperGroup):
    """`borderwatch plan SCENARIO ...` runs the whole plan; `plan towers ...` just the towers."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["all", *args]
        elif not args:
            args = ["all"]
        return super().parse_args(ctx, args)


app = typer.Typer(help="Plan the defence of a border: `borderwatch plan SCENARIO -o DIR` plans "
                       "everything; `plan towers` only the watchtowers.", cls=_PlanGroup)
console = Console(highlight=False, soft_wrap=True)


@contextmanager
def _stage_bars():
    """A Rich progress bar per planning stage; yields the `progress(stage, fraction)` callback."""
    columns = (TextColumn("{task.description:16s}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, fraction: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=1.0)
            bar.update(tasks[stage], completed=fraction)

        yield progress


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
    with _stage_bars() as progress:
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


@app.command("all")
def all_(
    scenario: str = typer.Argument("iraq-syria", help="A bundled scenario name or a path to its .toml."),
    output: Path = typer.Option(Path("plan"), "-o", "--output", help="Directory for the plan files."),
    k: int = typer.Option(None, "-k", help="Number of towers (default: the scenario's tower budget)."),
    time_limit: float = typer.Option(60.0, "--time-limit", help="Seconds each MILP may run."),
    days: int = typer.Option(7, "--days", help="Daily patrol assignments to sample."),
    seed: int = typer.Option(20191015, "--seed", help="Seed for the patrol sampling."),
) -> None:
    """The whole plan: towers, patrols (Stackelberg game), air orbits and the 24-hour roster."""
    from borderwatch.errors import BorderwatchError
    from borderwatch.geo import Border
    from borderwatch.plan.whole import PlanOptions, make_plan, write_plan
    from borderwatch.report.plan_outputs import write_plan_layers
    from borderwatch.report.scenario_map import draw_scenario_map
    from borderwatch.scenario import load_scenario

    if time_limit <= 0:
        raise BorderwatchError(f"--time-limit must be > 0 s, got {time_limit:g}")
    if days < 1:
        raise BorderwatchError(f"--days must be at least 1, got {days}")
    s = load_scenario(scenario)
    with _stage_bars() as progress:
        plan = make_plan(s, PlanOptions(towers=k, patrol_days=days, seed=seed, time_limit_s=time_limit),
                         progress=progress)
    border = Border.from_scenario(s)
    files = write_plan_layers(plan, border, output)
    files["plan"] = write_plan(plan, output / "plan-full.json")
    files["map"] = draw_scenario_map(s, output / "plan-map.png", plan=plan)
    if plan.roster is not None:
        from borderwatch.report.roster_gantt import draw_roster_gantt
        from borderwatch.plan.roster import Orbit

        orbits = [Orbit(id=o.id, x=o.x, y=o.y, name=f"sector {o.sector + 1}") for o in plan.orbits]
        files["gantt"] = draw_roster_gantt(plan.roster, orbits, output / "roster.png",
                                           title=f"{s.title}: 24-hour air roster")
    _print_whole(plan)
    console.print("wrote " + ", ".join(str(p) for p in files.values()))


def _print_whole(plan) -> None:
    t = plan.towers
    synthetic = " [bold yellow](SYNTHETIC terrain: figures are illustrative)[/]" if t.synthetic_terrain else ""
    console.print(f"\n[bold]Plan for {plan.scenario}[/]{synthetic}")
    gap = "proven optimal" if t.optimal else f"gap {100 * t.gap:.2f}%"
    console.print(f"  towers: {len(t.sites)} sites see {100 * t.coverage:.1f}% of the weighted crossings ({gap})")
    if plan.patrols is not None:
        p = plan.patrols
        console.print(f"  patrols: {p.units} units, each a {p.window * p.target_km:g} km stretch; "
                      f"Stackelberg coverage by {p.method}{' (exact)' if p.exact else ''}; "
                      f"{p.days.shape[0]} daily assignments sampled")
    if plan.roster is not None:
        r = plan.roster
        state = "[green]every orbit covered 24 h[/]" if r.feasible else f"[red]NOT covered[/]: {r.reason}"
        console.print(f"  air: {len(plan.orbits)} orbits ({', '.join(f'{o.id} over sector {o.sector + 1}' for o in plan.orbits)}); "
                      f"{r.aircraft_used} aircraft used, lower bound {r.lower_bound}; {state}")
    console.print(f"  adversary's best crossing: expected success [bold]{100 * plan.attacker_best:.3f}[/] "
                  f"(at km {plan.attacked_km:.0f}) vs {100 * plan.attacker_best_uniform:.3f} against the same "
                  f"patrols spread evenly, {100 * plan.attacker_best_towers_only:.3f} with towers alone "
                  "(units: % of the border's crossing value)")
    table = Table(title="Coverage by sector and layer", title_justify="left")
    for col in ("sector", "km", "value", "towers see", "patrol cov.", "air", "residual"):
        table.add_column(col, justify="right")
    for c in plan.sectors:
        table.add_row(str(c.sector + 1), f"{c.start_km:.0f}–{c.end_km:.0f}", f"{100 * c.value:.1f}%",
                      f"{100 * c.tower_seen:.0f}%", f"{100 * c.patrol_coverage:.0f}%",
                      "24 h" if c.air else "", f"{100 * c.residual:.1f}%")
    console.print(table)
