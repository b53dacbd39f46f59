"""`borderwatch report [RUN_DIR] [--plan DIR] [--sim DIR] -o report.html`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(highlight=False, soft_wrap=True)


def report(
    run_dir: Path = typer.Argument(None, help="A run folder holding plan/ and sim/ (what `make demo` "
                                   "writes to out/)."),
    plan_dir: Path = typer.Option(None, "--plan", help="The folder `borderwatch plan -o DIR` wrote."),
    sim_dir: Path = typer.Option(None, "--sim", help="The folder `borderwatch simulate -o DIR` wrote."),
    output: Path = typer.Option(Path("report.html"), "-o", "--output", help="The HTML file to write."),
) -> None:
    """One self-contained HTML report: plan map, coverage, air roster, simulation, detections."""
    from borderwatch.report.html_report import resolve_run, write_report

    plan, sim = resolve_run(run_dir, plan_dir, sim_dir)
    path = write_report(plan, sim, output)
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained)")
