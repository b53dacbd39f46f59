"""`borderwatch simulate SCENARIO [--plan DIR] [--hours 24] [--runs N] [--dask ADDR] -o DIR`."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn

console = Console(highlight=False, soft_wrap=True)

PLAN_FILE = "plan-full.json"     # what `borderwatch plan SCENARIO -o DIR` writes


def _read_plan_arg(path: Path):
    """--plan takes the folder `borderwatch plan -o DIR` wrote, or its plan-full.json itself."""
    from borderwatch.errors import SimError
    from borderwatch.plan.whole import read_plan

    file = path / PLAN_FILE if path.is_dir() else path
    if not file.exists():
        where = f"{path} has no {PLAN_FILE}" if path.is_dir() else f"{path} does not exist"
        raise SimError(f"--plan: {where}; make one with `borderwatch plan SCENARIO -o DIR`")
    return read_plan(file)


def simulate(
    scenario: str = typer.Argument("iraq-syria", help="A bundled scenario name or a path to its .toml."),
    plan_dir: Path = typer.Option(None, "--plan", help="A plan folder from `borderwatch plan -o DIR` "
                                  "(default: plan the scenario first)."),
    hours: float = typer.Option(24.0, "--hours", help="Length of the simulated window."),
    runs: int = typer.Option(4, "--runs", help="Monte Carlo runs (per plan)."),
    seed: int = typer.Option(0, "--seed", help="Seed; run i of every plan and backend gets the same draw."),
    share: float = typer.Option(None, "--share", help="Share of the threat headcount that tries to cross "
                                "in the window (default: the simulator's)."),
    workers: int = typer.Option(None, "--workers", help="Local worker processes (1: in this process; "
                                "default min(2, cores))."),
    dask: str = typer.Option(None, "--dask", help="Run on a Dask cluster: scheduler address, tcp://host:8786."),
    csv: bool = typer.Option(False, "--csv", help="Also write outcomes.csv."),
    compare: bool = typer.Option(True, "--compare/--no-compare",
                                 help="Also simulate the baselines (uniform patrols, even towers, no "
                                      "aircraft) on the same seeds and print the comparison."),
    output: Path = typer.Option(Path("sim"), "-o", "--output", help="Directory for outcomes and summary."),
) -> None:
    """Simulate infiltrators against a plan (and its baselines); print rates with 95 % intervals."""
    from borderwatch.errors import SimError
    from borderwatch.scenario import load_scenario
    from borderwatch.sim.engine import SimOptions
    from borderwatch.sim.outputs import write_json, write_outcomes

    if runs < 1:
        raise SimError(f"--runs must be at least 1, got {runs}")
    if not hours > 0:
        raise SimError(f"--hours must be > 0, got {hours:g}")
    if workers is not None and workers < 1:
        raise SimError(f"--workers must be at least 1, got {workers}")
    if workers is not None and dask is not None:
        raise SimError("--workers is for local processes and --dask runs on the cluster's workers: "
                       "give one or the other")
    options = SimOptions(hours=hours) if share is None else SimOptions(hours=hours, share=share)
    s = load_scenario(scenario)
    if plan_dir is not None:
        plan = _read_plan_arg(plan_dir)
        if plan.scenario != s.name:
            raise SimError(f"--plan {plan_dir}: plan was made for '{plan.scenario}', not '{s.name}'")
    else:
        plan = None
    files: dict[str, Path] = {}
    if plan is None:
        from borderwatch.cli.plan_cmd import _stage_bars
        from borderwatch.plan.whole import make_plan, write_plan

        with _stage_bars() as stage:
            plan = make_plan(s, progress=stage)
        files["plan"] = write_plan(plan, output / PLAN_FILE)

    with _run_bar() as (progress, on_plan):
        if compare:
            from borderwatch.sim.baselines import baselines
            from borderwatch.sim.compare import compare as run_compare, render_comparison

            on_plan("baselines")
            bases = baselines(plan, s)
            result = run_compare(s, plan, runs=runs, seed=seed, options=options, workers=workers, dask=dask,
                                 progress=progress, baselines=bases, on_plan=on_plan)
            results, table, data = result.results, render_comparison(result), result.to_dict()
        else:
            from borderwatch.sim.compare import render_summary
            from borderwatch.sim.montecarlo import simulate as run_simulate

            on_plan("optimised")
            r = run_simulate(s, plan, runs=runs, seed=seed, options=options, workers=workers, dask=dask,
                             progress=progress, label="optimised")
            results, table = {"optimised": r}, render_summary(r.summary())
            data = {"scenario": s.name, "runs": runs, "seed": seed, "hours": hours,
                    "plans": ["optimised"], "summaries": {"optimised": r.summary().to_dict()}}
    first = next(iter(results.values()))
    data["backend"] = first.backend
    data["wall_s"] = {k: r.wall_s for k, r in results.items()}
    files |= write_outcomes(results, output, csv=csv)
    files["summary"] = write_json(data, output / "summary.json")
    console.print(table)
    console.print(f"[dim]{first.backend}; " + ", ".join(f"{k} {r.wall_s:.1f} s" for k, r in results.items())
                  + "[/]")
    console.print("wrote " + ", ".join(str(p) for p in files.values()))


@contextmanager
def _run_bar():
    """One Rich bar over every run of every plan, with the ETA; yields (progress, on_plan)."""
    columns = (TextColumn("{task.description:28s}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("simulate", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        def on_plan(label: str) -> None:
            bar.update(task, description=f"simulate: {label}")

        yield progress, on_plan
