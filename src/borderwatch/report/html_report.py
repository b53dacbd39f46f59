"""One self-contained HTML report of a plan and its simulation.

`write_report(plan_dir, sim_dir, output)` reads what `borderwatch plan -o DIR`
(``plan-full.json``) and `borderwatch simulate -o DIR` (``summary.json``,
``outcomes.parquet``) wrote and writes a single HTML file: every figure is
a PNG embedded as a ``data:`` URL, the style sheet is inline, and nothing in
it refers to anything outside the file, so it can be mailed or archived as
it is. Sections: the plan on a map; coverage by sector along the border's
chainage; the air roster; the comparison with the baselines (95 %
intervals); detection-time distributions; where the groups crossed, alerted
or not. Without a simulation folder the report has the plan sections only.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from borderwatch.errors import BorderwatchError  # noqa: E402
from borderwatch.files import atomic_write_text  # noqa: E402

PLAN_FILE = "plan-full.json"
SUMMARY_FILE = "summary.json"
OUTCOMES_FILE = "outcomes.parquet"

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;
background:#f6f6f3}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 8px;border-bottom:2px solid #b2182b;
padding-bottom:3px}.meta{color:#555;margin:0 0 10px}figure{margin:10px 0}figure img{max-width:100%;
border:1px solid #ddd}figcaption{color:#555;font-size:13px}table{border-collapse:collapse;
font-size:14px;margin:8px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child,td.plan{text-align:left}thead th{background:#eee}
td.metric{text-align:left;font-weight:600;background:#fafafa}.synthetic{color:#b2182b;font-weight:700}
nav a{margin-right:12px}
"""


def resolve_run(run_dir: str | Path | None = None, plan_dir: str | Path | None = None,
                sim_dir: str | Path | None = None) -> tuple[Path, Path | None]:
    """The plan and simulation folders of a run: ``RUN/plan`` and ``RUN/sim`` unless given."""
    if run_dir is not None:
        run = Path(run_dir)
        plan_dir = plan_dir or run / "plan"
        if sim_dir is None and (run / "sim").is_dir():
            sim_dir = run / "sim"
    if plan_dir is None:
        raise BorderwatchError("report: give a run folder (holding plan/ and sim/) or --plan DIR")
    plan_dir = Path(plan_dir)
    if not (plan_dir / PLAN_FILE).exists():
        raise BorderwatchError(f"report: {plan_dir} has no {PLAN_FILE}; make one with "
                               "`borderwatch plan SCENARIO -o DIR`")
    if sim_dir is not None:
        sim_dir = Path(sim_dir)
        if not (sim_dir / SUMMARY_FILE).exists():
            raise BorderwatchError(f"report: {sim_dir} has no {SUMMARY_FILE}; make one with "
                                   "`borderwatch simulate SCENARIO --plan DIR -o DIR`")
    return plan_dir, sim_dir


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _png_file(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _figure(fig_id: str, b64: str, caption: str) -> str:
    return (f'<figure id="{fig_id}"><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{b64}"><figcaption>{html.escape(caption)}</figcaption></figure>')


def fmt_estimate(e: dict | None, unit: str, signed: bool = False) -> str:
    """``40.3% [35.3, 45.5]`` for shares, ``3.3 [2.1, 4.5]`` otherwise; ``—`` when unknown."""
    if not e or e.get("value") is None or not math.isfinite(e["value"]) or not e.get("n"):
        return "—"
    share = unit == "share"
    scale = 100.0 if share else 1.0
    text = (f"{scale * e['value']:+.1f}" if signed else f"{scale * e['value']:.1f}")
    text += (" pp" if signed else "%") if share else ""
    lo, hi = e.get("lo"), e.get("hi")
    if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
        text += f" [{scale * lo:.1f}, {scale * hi:.1f}]"
    return text


def comparison_table(summary: dict) -> str:
    """The comparison (or one plan's summary) from ``summary.json`` as an HTML table."""
    plans = list(summary.get("plans") or summary.get("summaries", {}).keys())
    rows = summary.get("rows")
    if not rows:    # --no-compare: one plan's metrics
        rows = []
        first = summary["summaries"][plans[0]]
        for key, m in first["metrics"].items():
            rows.append({"metric": key, "label": m["label"], "unit": m["unit"],
                         "values": {plans[0]: m}, "diff_vs": {}})
    ref = plans[0]
    out = ['<table id="comparison"><thead><tr><th>metric</th><th>plan</th><th>value [95 % CI]</th>'
           f'<th>{html.escape(ref)} − plan [95 % CI]</th></tr></thead><tbody>']
    for row in rows:
        unit = "" if row["unit"] == "share" else f" ({row['unit']})"
        for j, k in enumerate(plans):
            if k not in row["values"]:
                continue
            metric = (f'<td class="metric" rowspan="{len(row["values"])}">'
                      f'{html.escape(row["label"] + unit)}</td>') if j == 0 else ""
            diff = "" if k == ref else fmt_estimate(row["diff_vs"].get(k), row["unit"], signed=True)
            out.append(f'<tr data-metric="{row["metric"]}" data-plan="{html.escape(k)}">{metric}'
                       f'<td class="plan">{html.escape(k)}</td>'
                       f'<td>{fmt_estimate(row["values"][k], row["unit"])}</td><td>{diff}</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _coverage_figure(plan, border) -> str:
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(11, 4.6), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1.2]})
    for c in plan.sectors:
        a, b = c.start_km, c.end_km
        ax.fill_between([a, b], 0, [c.tower_seen * 100] * 2, color="#4dac26", alpha=0.35, lw=0,
                        step="pre")
        ax.plot([a, b], [c.tower_seen * 100] * 2, color="#1b7837", lw=2)
        ax.plot([a, b], [c.patrol_coverage * 100] * 2, color="#2166ac", lw=2)
        if c.air:
            ax.axvspan(a, b, ymin=0.96, ymax=1.0, color="#762a83")
        ax2.bar((a + b) / 2, c.residual * 100, width=(b - a) * 0.9, color="#b2182b")
        ax.text((a + b) / 2, 101.5, str(c.sector + 1), ha="center", va="bottom", fontsize=7,
                color="#444")
    ax.set_ylim(0, 108)
    ax.set_ylabel("% of sector value")
    ax.plot([], [], color="#1b7837", lw=2, label="seen by a tower")
    ax.plot([], [], color="#2166ac", lw=2, label="patrol coverage")
    ax.plot([], [], color="#762a83", lw=6, label="air orbit 24 h")
    ax.legend(loc="lower left", fontsize=8, ncol=3, framealpha=0.9)
    ax2.set_ylabel("residual risk %")
    ax2.set_xlabel("chainage along the border (km from the northern end); sector numbers on top")
    if plan.patrols is not None:
        ax2.axvline(plan.attacked_km, color="#000", ls=":", lw=1)
    ax.set_xlim(0, border.length_km)
    ax.grid(alpha=0.3)
    ax2.grid(alpha=0.3)
    return _png(fig)


def _delay_figure(outcomes: dict[str, np.ndarray], plans: list[str]) -> str:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    for k in plans:
        sel = outcomes["plan"] == k
        d = outcomes["alert_delay_s"][sel]
        d = d[np.isfinite(d)]
        if d.size:
            a1.hist(np.clip(d, -600, 1800) / 60.0, bins=30, histtype="step", lw=1.6,
                    label=f"{k} (n={d.size})")
        f = (outcomes["first_detect_t"] - outcomes["cross_t"])[sel]
        f = f[np.isfinite(f)]
        if f.size:
            a2.hist(np.clip(f, -3600, 1800) / 60.0, bins=30, histtype="step", lw=1.6,
                    label=f"{k} (n={f.size})")
    a1.set_title("alert delay after crossing (min)", fontsize=11)
    a2.set_title("first detection relative to crossing (min; < 0 = before the line)", fontsize=11)
    a2.axvline(0, color="#000", lw=0.8)
    for a in (a1, a2):
        a.set_ylabel("groups")
        a.grid(alpha=0.3)
        if a.has_data():
            a.legend(fontsize=8)
    return _png(fig)


def _breach_map(outcomes: dict[str, np.ndarray], plan_label: str, border, scenario) -> str:
    sel = (outcomes["plan"] == plan_label) & outcomes["crossed"]
    km = np.clip(outcomes["target_km"][sel], 0.0, border.length_km)
    alerted = outcomes["alerted"][sel]
    fig, ax = plt.subplots(figsize=(7.5, 8))
    ax.plot(border.xy[:, 0] / 1000, border.xy[:, 1] / 1000, color="#b2182b", lw=1.6, label="border")
    if km.size:
        x, y = border.point_at(km)
        x, y = np.asarray(x) / 1000, np.asarray(y) / 1000
        jitter = np.random.default_rng(0).normal(0, 0.4, (2, km.size))
        ax.scatter(x[~alerted] + jitter[0][~alerted], y[~alerted] + jitter[1][~alerted], s=14,
                   color="#888", alpha=0.7, label=f"crossed, no alert ({int((~alerted).sum())})")
        ax.scatter(x[alerted] + jitter[0][alerted], y[alerted] + jitter[1][alerted], s=18,
                   color="#d7191c", edgecolor="#000", lw=0.3,
                   label=f"breach alert raised ({int(alerted.sum())})")
    for c in scenario.crossings:
        cx, cy = border.projection.to_xy(c.location.lon, c.location.lat)
        ax.plot(float(cx) / 1000, float(cy) / 1000, marker="s", color="#111", ms=5)
        ax.annotate(c.name, (float(cx) / 1000, float(cy) / 1000), fontsize=7, xytext=(4, 3),
                    textcoords="offset points")
    ax.set_aspect("equal")
    ax.set_xlabel("km east (local projection)")
    ax.set_ylabel("km north")
    ax.set_title(f"where groups crossed, plan {plan_label} (jittered)", fontsize=11)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def read_outcomes(sim_dir: Path) -> dict[str, np.ndarray] | None:
    """``outcomes.parquet`` as NumPy columns (``plan`` as strings), or None when absent."""
    path = sim_dir / OUTCOMES_FILE
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    cols = {}
    for name in t.column_names:
        col = t.column(name)
        if name == "plan":
            cols[name] = np.asarray(col.cast("string").to_pylist(), dtype=object)
        else:
            cols[name] = col.to_numpy(zero_copy_only=False)
    return cols


def build_report(plan_dir: str | Path, sim_dir: str | Path | None = None, *,
                 scenario: Any = None) -> str:
    """The report's HTML text for a plan folder and (optionally) a simulation folder."""
    from borderwatch.geo import Border
    from borderwatch.plan.roster import Orbit
    from borderwatch.plan.whole import read_plan
    from borderwatch.report.roster_gantt import draw_roster_gantt
    from borderwatch.report.scenario_map import draw_scenario_map
    from borderwatch.scenario import load_scenario

    plan_dir = Path(plan_dir)
    plan = read_plan(plan_dir / PLAN_FILE)
    s = scenario or load_scenario(plan.scenario)
    if s.name != plan.scenario:
        raise BorderwatchError(f"report: the plan is for '{plan.scenario}', not '{s.name}'")
    border = Border.from_scenario(s)
    parts: list[str] = []
    synthetic = s.terrain is not None and s.terrain.synthetic
    with tempfile.TemporaryDirectory(prefix="bw-report-") as tmp:
        tmp = Path(tmp)
        draw_scenario_map(s, tmp / "plan.png", plan=plan, border=border, dpi=110)
        map_b64 = _png_file(tmp / "plan.png")
        gantt_b64 = None
        if plan.roster is not None:
            orbits = [Orbit(id=o.id, x=o.x, y=o.y, name=f"sector {o.sector + 1}") for o in plan.orbits]
            draw_roster_gantt(plan.roster, orbits, tmp / "roster.png",
                              title=f"{s.title}: 24-hour air roster", dpi=100)
            gantt_b64 = _png_file(tmp / "roster.png")

    t = plan.towers
    parts.append('<section id="plan"><h2>The plan</h2>')
    parts.append(f'<p>{t.k} towers see {t.coverage * 100:.1f}% of the crossing value '
                 f'({"proven optimal" if t.optimal else f"gap {t.gap * 100:.2f}%"}); '
                 + (f"{plan.patrols.units} patrol units on {plan.patrols.window * plan.patrols.target_km:g}"
                    f"-km stretches ({html.escape(plan.patrols.method)}); " if plan.patrols else "")
                 + f"{len(plan.orbits)} air orbits. The adversary's best crossing has expected success "
                 f"<b>{100 * plan.attacker_best:.3f}</b> against this plan (at km {plan.attacked_km:.0f}), "
                 f"{100 * plan.attacker_best_uniform:.3f} against the same patrols spread evenly and "
                 f"{100 * plan.attacker_best_towers_only:.3f} against the towers alone (units: % of the "
                 "border's crossing value, as `borderwatch plan` prints them).</p>")
    if synthetic:
        parts.append('<p class="synthetic">Terrain is SYNTHETIC: visibility is illustrative.</p>')
    parts.append(_figure("fig-plan-map", map_b64, "The plan on the map: towers, what they see, "
                         "patrol coverage along the line, air orbits."))
    parts.append("</section>")
    parts.append('<section id="coverage"><h2>Coverage along the border</h2>')
    parts.append(_figure("fig-coverage", _coverage_figure(plan, border),
                         "Coverage by sector along the chainage: the share of each sector's crossing "
                         "value a tower sees, the patrol coverage probability, air orbits, and the "
                         "residual risk after all layers (dotted: the adversary's best crossing)."))
    parts.append(_sector_table(plan))
    parts.append("</section>")
    if gantt_b64:
        r = plan.roster
        parts.append('<section id="roster"><h2>Air roster (24 h)</h2>')
        parts.append(f"<p>{r.aircraft_used} aircraft (lower bound {r.lower_bound}); "
                     f"{'every orbit covered around the clock' if r.feasible else html.escape(str(r.reason))}.</p>")
        parts.append(_figure("fig-roster", gantt_b64, "The air roster as a Gantt chart: transit, "
                             "time on station per orbit, turnaround."))
        parts.append("</section>")

    title = f"{s.title}: plan" + (" and simulation" if sim_dir else "")
    if sim_dir is not None:
        sim_dir = Path(sim_dir)
        summary = json.loads((sim_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
        plans = list(summary.get("plans") or summary["summaries"].keys())
        parts.append('<section id="simulation"><h2>Simulation: the plan against its baselines</h2>')
        parts.append(f'<p class="meta">{summary.get("runs")} runs of {summary.get("hours"):g} h, seed '
                     f'{summary.get("seed")}; 95 % intervals; differences paired on the same seeds '
                     f'({html.escape(str(summary.get("backend", "")))}).</p>')
        parts.append(comparison_table(summary))
        parts.append("</section>")
        outcomes = read_outcomes(sim_dir)
        if outcomes is not None and len(outcomes["plan"]):
            parts.append('<section id="detection"><h2>Detection times</h2>')
            parts.append(_figure("fig-delays", _delay_figure(outcomes, plans),
                                 "Alert delay after the crossing and first detection relative to "
                                 "the crossing, per plan (groups that were alerted / detected)."))
            parts.append("</section>")
            parts.append('<section id="breaches"><h2>Crossings and breach alerts</h2>')
            parts.append(_figure("fig-breaches", _breach_map(outcomes, plans[0], border, s),
                                 "Where the simulated groups crossed, and which raised a breach "
                                 "alert (the optimised plan)."))
            parts.append("</section>")

    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{i}">{n}</a>' for i, n in
                  [("plan", "plan"), ("coverage", "coverage"), ("roster", "roster"),
                   ("simulation", "simulation"), ("detection", "detection"), ("breaches", "breaches")])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><meta name=\"viewport\" "
            "content=\"width=device-width,initial-scale=1\">"
            f"<style>{_CSS}</style></head><body><main>"
            f"<h1>{html.escape(title)}</h1><p class=\"meta\">borderwatch report, scenario "
            f"<b>{html.escape(s.name)}</b>, made {now}.</p><nav>{nav}</nav>"
            + "".join(parts) + "</main></body></html>\n")


def _sector_table(plan) -> str:
    out = ['<table id="sectors"><thead><tr><th>sector</th><th>km</th><th>value</th><th>tower seen</th>'
           "<th>patrol coverage</th><th>air</th><th>residual</th></tr></thead><tbody>"]
    for c in plan.sectors:
        out.append(f"<tr><td>{c.sector + 1}</td><td>{c.start_km:.0f}–{c.end_km:.0f}</td>"
                   f"<td>{c.value * 100:.1f}%</td><td>{c.tower_seen * 100:.0f}%</td>"
                   f"<td>{c.patrol_coverage * 100:.0f}%</td><td>{'24 h' if c.air else ''}</td>"
                   f"<td>{c.residual * 100:.1f}%</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def write_report(plan_dir: str | Path, sim_dir: str | Path | None, output: str | Path, *,
                 scenario: Any = None) -> Path:
    """Write the report to `output` (``.html``), atomically; returns the path."""
    output = Path(output)
    if output.suffix.lower() not in {".html", ".htm"}:
        raise BorderwatchError(f"{output}: the report is written as HTML; give a .html file name")
    return atomic_write_text(output, build_report(plan_dir, sim_dir, scenario=scenario))
