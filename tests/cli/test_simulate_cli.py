"""`borderwatch simulate`: the files it writes parse, the table prints, bad options are one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from borderwatch.cli import main
from borderwatch.plan.whole import make_plan, write_plan
from borderwatch.sim import montecarlo, outputs

BORDERWATCH = str(Path(sys.executable).parent / "borderwatch")
QUICK = ("--hours", "0.5", "--share", "0.15", "--workers", "1")
METRICS = ["detected_before", "alerted", "interdicted", "median_alert_delay_s", "false_breaches_per_day"]


@pytest.fixture(scope="module")
def plan_dir(tiny, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plan")
    write_plan(make_plan(tiny), folder / "plan-full.json")
    return folder


def run_inline(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The console entry point in this process (so tests can shorten timeouts)."""
    monkeypatch.setattr(sys, "argv", ["borderwatch", *args])
    monkeypatch.setenv("COLUMNS", "160")
    code = 0
    try:
        main.run()
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_simulate_plans_compares_and_writes_parquet_csv_and_json(tmp_path):
    out = tmp_path / "sim"
    r = subprocess.run([BORDERWATCH, "simulate", "tiny", *QUICK, "--runs", "2", "--csv", "-o", str(out)],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert r.returncode == 0, r.stderr
    assert "share detected before the line" in r.stdout and "optimised − plan" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["outcomes.csv", "outcomes.parquet", "plan-full.json",
                                                     "summary.json"]          # no temp files left
    table = pq.read_table(out / "outcomes.parquet")
    labels = ["optimised", "uniform patrols", "even towers", "no aircraft"]
    assert table.column_names[:3] == ["plan", "run", "group"]
    assert sorted(set(table.column("plan").to_pylist())) == sorted(labels)
    assert set(table.column("run").to_pylist()) == {0, 1}
    assert table.schema.metadata[b"borderwatch.scenario"] == b"tiny"
    csv = pa_csv.read_csv(out / "outcomes.csv")
    assert csv.num_rows == table.num_rows and csv.column_names == table.column_names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["plans"] == labels and summary["runs"] == 2 and summary["hours"] == 0.5
    assert [row["metric"] for row in summary["rows"]] == METRICS
    for row in summary["rows"]:
        assert list(row["values"]) == labels and list(row["diff_vs"]) == labels[1:]
    crossed = summary["summaries"]["optimised"]["crossed"]
    rows = table.to_pylist()
    assert crossed == sum(r["crossed"] for r in rows if r["plan"] == "optimised")


def test_simulate_a_saved_plan_without_comparison(monkeypatch, capsys, tmp_path, plan_dir):
    code, out, err = run_inline(monkeypatch, capsys, "simulate", "tiny", "--plan", str(plan_dir), *QUICK,
                                "--runs", "1", "--no-compare", "-o", str(tmp_path))
    assert code == 0, err
    assert "share alerted" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outcomes.parquet", "summary.json"]
    assert set(pq.read_table(tmp_path / "outcomes.parquet").column("plan").to_pylist()) == {"optimised"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["summaries"]["optimised"]["metrics"]) == METRICS


@pytest.mark.parametrize("args, message", [
    (("--runs", "0"), "error: --runs must be at least 1, got 0"),
    (("--hours", "-1"), "error: --hours must be > 0, got -1"),
    (("--workers", "0"), "error: --workers must be at least 1, got 0"),
    (("--workers", "2", "--dask", "tcp://127.0.0.1:1"), "error: --workers is for local processes"),
])
def test_bad_options_are_one_line_and_exit_2(monkeypatch, capsys, tmp_path, plan_dir, args, message):
    code, out, err = run_inline(monkeypatch, capsys, "simulate", "tiny", "--plan", str(plan_dir), *args,
                                "-o", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_missing_plan_folder_is_named(monkeypatch, capsys, tmp_path):
    code, _, err = run_inline(monkeypatch, capsys, "simulate", "tiny", "--plan", str(tmp_path), "-o",
                              str(tmp_path / "out"))
    assert code == 2
    assert err == f"error: --plan: {tmp_path} has no plan-full.json; make one with `borderwatch plan " \
                  "SCENARIO -o DIR`\n"


def test_a_plan_for_another_scenario_is_refused(monkeypatch, capsys, tmp_path, tiny):
    write_plan(replace(make_plan(tiny), scenario="iraq-syria"), tmp_path / "plan-full.json")
    code, _, err = run_inline(monkeypatch, capsys, "simulate", "tiny", "--plan", str(tmp_path), "-o",
                              str(tmp_path / "out"))
    assert code == 2
    assert err == f"error: --plan {tmp_path}: plan was made for 'iraq-syria', not 'tiny'\n"


def test_an_unreachable_dask_scheduler_is_one_line(monkeypatch, capsys, tmp_path, plan_dir):
    monkeypatch.setattr(montecarlo, "DASK_CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = run_inline(monkeypatch, capsys, "simulate", "tiny", "--plan", str(plan_dir), *QUICK[:4],
                              "--runs", "1", "--no-compare", "--dask", f"tcp://127.0.0.1:{port}",
                              "-o", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith(f"error: dask = 'tcp://127.0.0.1:{port}': cannot reach the Dask scheduler")
    assert err.count("\n") == 1


def test_a_failed_write_leaves_no_file(monkeypatch, tmp_path, tiny, plan_dir):
    from borderwatch.plan.whole import read_plan
    from borderwatch.sim.engine import SimOptions

    result = montecarlo.simulate(tiny, read_plan(plan_dir / "plan-full.json"), runs=1,
                                 options=SimOptions(hours=0.25, tail_h=0.1), workers=1)
    real = outputs.pq.write_table

    def half_then_fail(table, where, **kw):
        real(table.slice(0, 1), where, **kw)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs.pq, "write_table", half_then_fail)
    with pytest.raises(OSError):
        outputs.write_outcomes(result, tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    files = outputs.write_outcomes(result, tmp_path, csv=True)
    assert pq.read_table(files["outcomes"]).num_rows == len(result.outcomes["run"])
