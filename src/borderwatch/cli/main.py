"""The `borderwatch` command: parses, calls the library, prints. Nothing more.

Errors the user can fix (`BorderwatchError`) come out as one red line on
stderr and exit status 2; an unexpected failure says so in one line too and
exits 1 (set BORDERWATCH_DEBUG=1 to see the traceback).
"""

from __future__ import annotations

import os
import sys

import typer

from borderwatch.cli import plan_cmd, scenario_cmd, simulate_cmd, terrain_cmd
from borderwatch.cli import channel_cmd
from borderwatch.cli import serve_cmd
from borderwatch.cli import report_cmd
from borderwatch.errors import BorderwatchError

app = typer.Typer(
    name="borderwatch",
    help="Plan, watch and coordinate the security of a land border.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(scenario_cmd.app, name="scenario")
app.add_typer(terrain_cmd.app, name="terrain")
app.add_typer(plan_cmd.app, name="plan")
app.command("simulate")(simulate_cmd.simulate)
app.add_typer(channel_cmd.app, name="channel")
app.command("serve")(serve_cmd.serve)
app.command("replay")(serve_cmd.replay)
channel_cmd.app.command("tak-package")(serve_cmd.tak_package)
app.command("report")(report_cmd.report)


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except BorderwatchError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.secho("interrupted", fg=typer.colors.RED, err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: still one line, never a traceback by default
        if os.environ.get("BORDERWATCH_DEBUG"):
            raise
        typer.secho(f"internal error: {type(exc).__name__}: {exc} "
                    "(a bug in borderwatch; rerun with BORDERWATCH_DEBUG=1 for details)",
                    fg=typer.colors.RED, err=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
