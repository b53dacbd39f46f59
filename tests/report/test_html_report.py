"""The HTML report from a real (tiny) plan and simulation: figures, table values, no outside
references, and it renders in headless Chromium without console errors."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from borderwatch.cli.main import app
from borderwatch.report.html_report import fmt_estimate

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """`borderwatch plan tiny` then `borderwatch simulate tiny` (2 runs of 1 h), as `make demo`."""
    out = tmp_path_factory.mktemp("tiny-run")
    runner = CliRunner()
    r = runner.invoke(app, ["plan", "tiny", "-o", str(out / "plan")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["simulate", "tiny", "--plan", str(out / "plan"), "--runs", "2",
                            "--hours", "1", "--workers", "1", "-o", str(out / "sim")])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def report(run_dir) -> Path:
    path = run_dir / "report.html"
    r = CliRunner().invoke(app, ["report", str(run_dir), "-o", str(path)])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output
    return path


def test_report_has_every_figure_as_embedded_png(report):
    text = report.read_text(encoding="utf-8")
    for fig in ("fig-plan-map", "fig-coverage", "fig-roster", "fig-delays", "fig-breaches"):
        m = re.search(rf'<figure id="{fig}"><img alt="[^"]*" src="data:image/png;base64,([^"]+)"', text)
        assert m, f"{fig} missing"
        assert base64.b64decode(m.group(1))[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_table_holds_the_summary_values(report, run_dir):
    text = report.read_text(encoding="utf-8")
    summary = json.loads((run_dir / "sim" / "summary.json").read_text())
    assert summary["rows"], "the tiny run compares against the baselines"
    for row in summary["rows"]:
        for plan, est in row["values"].items():
            cell = fmt_estimate(est, row["unit"])
            tr = re.search(rf'<tr data-metric="{row["metric"]}" data-plan="{re.escape(plan)}">(.*?)</tr>',
                           text)
            assert tr and f"<td>{cell}</td>" in tr.group(1), (row["metric"], plan, cell)
        for plan, est in row["diff_vs"].items():
            assert fmt_estimate(est, row["unit"], signed=True) in text


def test_estimate_format_matches_the_cli_table():
    assert fmt_estimate({"value": 0.403, "lo": 0.353, "hi": 0.4546, "n": 355}, "share") == \
        "40.3% [35.3, 45.5]"
    assert fmt_estimate({"value": 0.138, "lo": 0.053, "hi": 0.2229, "n": 4}, "share", signed=True) == \
        "+13.8 pp [5.3, 22.3]"
    assert fmt_estimate({"value": 5.4, "lo": None, "hi": None, "n": 1}, "s") == "5.4"
    assert fmt_estimate({"value": None, "lo": None, "hi": None, "n": 0}, "s") == "—"


def test_report_makes_no_outside_requests(report):
    text = report.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)\s*=\s*"(?!data:|#)', text)
    assert "http://" not in text and "https://" not in text and "url(" not in text
    assert "<script" not in text


def test_report_without_simulation_has_the_plan_sections(run_dir, tmp_path):
    path = tmp_path / "plan-only.html"
    r = CliRunner().invoke(app, ["report", "--plan", str(run_dir / "plan"), "-o", str(path)])
    assert r.exit_code == 0, r.output
    text = path.read_text()
    assert 'id="fig-plan-map"' in text and 'id="comparison"' not in text


def test_report_errors_are_one_line(tmp_path):
    from subprocess import run

    exe = Path(os.environ.get("VIRTUAL_ENV", ".venv")) / "bin" / "borderwatch"
    exe = exe if exe.exists() else shutil.which("borderwatch")
    r = run([str(exe), "report", str(tmp_path), "-o", str(tmp_path / "r.html")], capture_output=True,
            text=True)
    assert r.returncode == 2
    assert "has no plan-full.json" in r.stderr and "Traceback" not in r.stderr


def test_report_renders_in_chromium(report, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    shots = tmp_path_factory.mktemp("screenshots")
    errors, requests = [], []

    def look() -> list:
        # In a thread of its own: the sync API refuses to start where an event loop runs (the
        # web map tests' browser may hold one in this process under pytest-xdist).
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("request", lambda r: requests.append(r.url))
                page.goto(report.as_uri())
                page.wait_for_load_state("load")
                sizes = page.eval_on_selector_all(
                    "figure img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
                page.screenshot(path=str(shots / "report.png"), full_page=True)
                return sizes
            finally:
                browser.close()

    with ThreadPoolExecutor(1) as pool:
        sizes = pool.submit(look).result(timeout=60)
    assert errors == []
    assert len(sizes) == 5 and all(ok and w > 100 and h > 100 for ok, w, h in sizes)
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert (shots / "report.png").stat().st_size > 10_000
