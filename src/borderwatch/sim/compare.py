"""The optimised plan against its baselines, run for run on the same seeds.

Run i of every plan gets the same seed, hence the same infiltrator draws as
far as the plans let them be the same, so differences are *paired*: the
noise that is common to both plans cancels and the interval on the
difference is much narrower than the two intervals side by side suggest.

For a share (detected before the line, alerted, interdicted) each plan's
value is the pooled share of crossed groups with its Wilson interval; the
difference is the difference of the pooled shares, with the paired interval
of two ratio estimators over runs (linearisation, Cochran, *Sampling
Techniques*, 3rd ed., 1977, §6.4): per run the residual
``z_i = (y_ai - R_a x_ai) / x̄_a - (y_bi - R_b x_bi) / x̄_b``, and the
difference ± t(n-1) · sd(z) / √n. For per-run quantities (false breaches per
day, a run's median alert delay) the difference is the mean of the paired
differences ± Student t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as _stats

from borderwatch.plan.whole import Plan
from borderwatch.scenario.model import Scenario
from borderwatch.sim.baselines import OPTIMISED, baselines as make_baselines
from borderwatch.sim.engine import SimOptions
from borderwatch.sim.montecarlo import (
    METRIC_LABELS,
    SHARE_COLUMNS,
    Estimate,
    Progress,
    SimResult,
    simulate,
    t_interval,
)


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One metric: each plan's estimate, and each baseline's difference from the plan."""

    metric: str
    label: str
    unit: str
    values: dict[str, Estimate]       # by plan label, the optimised plan first
    diffs: dict[str, Estimate]        # by baseline label: optimised − baseline

    def to_dict(self) -> dict:
        return {"metric": self.metric, "label": self.label, "unit": self.unit,
                "values": {k: e.to_dict() for k, e in self.values.items()},
                "diff_vs": {k: e.to_dict() for k, e in self.diffs.items()}}


@dataclass(frozen=True, slots=True)
class Comparison:
    scenario: str
    runs: int
    seed: int
    hours: float
    labels: tuple[str, ...]           # the optimised plan first, then the baselines
    rows: tuple[ComparisonRow, ...]
    results: dict[str, SimResult]

    def to_dict(self) -> dict:
        return {"scenario": self.scenario, "runs": self.runs, "seed": self.seed, "hours": self.hours,
                "plans": list(self.labels),
                "summaries": {k: r.summary().to_dict() for k, r in self.results.items()},
                "rows": [r.to_dict() for r in self.rows]}


def _t(n: int) -> float:
    return float(_stats.t.ppf(0.975, n - 1))


def paired_share_diff(num_a, den_a, num_b, den_b) -> Estimate:
    """Pooled share a − pooled share b over paired runs, with the linearised paired t interval."""
    num_a, den_a, num_b, den_b = (np.asarray(v, dtype=float) for v in (num_a, den_a, num_b, den_b))
    n = len(num_a)
    if den_a.sum() <= 0 or den_b.sum() <= 0:
        return Estimate(math.nan, math.nan, math.nan, n)
    ra, rb = num_a.sum() / den_a.sum(), num_b.sum() / den_b.sum()
    d = float(ra - rb)
    if n < 2:
        return Estimate(d, math.nan, math.nan, n)
    z = (num_a - ra * den_a) / den_a.mean() - (num_b - rb * den_b) / den_b.mean()
    half = _t(n) * float(z.std(ddof=1)) / math.sqrt(n)
    return Estimate(d, max(-1.0, d - half), min(1.0, d + half), n)   # shares differ by at most 1


def paired_mean_diff(a, b) -> Estimate:
    """Mean of per-run differences a − b (runs where either is NaN left out) ± Student t."""
    return t_interval(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))


def comparison_rows(results: dict[str, SimResult]) -> tuple[ComparisonRow, ...]:
    """The table's rows from simulation results by label; the first label is the reference."""
    labels = list(results)
    ref = labels[0]
    per_run = {k: r.per_run() for k, r in results.items()}
    summaries = {k: r.summary() for k, r in results.items()}
    rows = []
    for metric, (label, unit) in METRIC_LABELS.items():
        values = {k: summaries[k].metrics[metric] for k in labels}
        diffs = {}
        a = per_run[ref]
        for k in labels[1:]:
            b = per_run[k]
            if metric in SHARE_COLUMNS:
                diffs[k] = paired_share_diff(a[f"{metric}.num"], a[f"{metric}.den"],
                                             b[f"{metric}.num"], b[f"{metric}.den"])
            else:
                diffs[k] = paired_mean_diff(a[metric], b[metric])
        rows.append(ComparisonRow(metric=metric, label=label, unit=unit, values=values, diffs=diffs))
    return tuple(rows)


def compare(scenario: Scenario, plan: Plan, runs: int = 10, seed: int = 0, options: SimOptions | None = None,
            workers: int | None = None, dask: str | None = None, progress: Progress | None = None,
            baselines: dict[str, Plan] | None = None,
            on_plan=None) -> Comparison:
    """Simulate `plan` and each baseline (default: `sim.baselines.baselines`) on the same seeds.

    ``progress(done, total)`` counts runs over all plans; ``on_plan(label)``
    is called as each plan starts (the CLI names the bar with it).
    """
    options = SimOptions() if options is None else options
    plans = {OPTIMISED: plan, **(make_baselines(plan, scenario) if baselines is None else baselines)}
    total = runs * len(plans)
    results: dict[str, SimResult] = {}
    for j, (label, p) in enumerate(plans.items()):
        if on_plan is not None:
            on_plan(label)
        offset = j * runs
        report = None if progress is None else (lambda done, _n, o=offset: progress(o + done, total))
        result = simulate(scenario, p, runs=runs, seed=seed, options=options, workers=workers,
                          dask=dask, progress=report, label=label)
        results[label] = replace(result, plan_label=label)
    return Comparison(scenario=scenario.name, runs=runs, seed=seed, hours=options.hours,
                      labels=tuple(plans), rows=comparison_rows(results), results=results)


# --------------------------------------------------------------------------- rendering


def _fmt(e: Estimate, unit: str, signed: bool = False) -> str:
    if e.n == 0 or not math.isfinite(e.value):
        return "—"
    if unit == "share":
        scale, fmt = 100.0, "{:+.1f}" if signed else "{:.1f}"
        tail = " pp" if signed else "%"
    else:
        scale, fmt, tail = 1.0, "{:+.1f}" if signed else "{:.1f}", ""
    text = fmt.format(scale * e.value) + tail
    if math.isfinite(e.lo) and math.isfinite(e.hi):
        text += f" [{scale * e.lo:.1f}, {scale * e.hi:.1f}]"
    return text


def render_comparison(c: Comparison):
    """A Rich table, a block of rows per metric: each plan's value [95 % CI], and for each
    baseline the difference optimised − baseline [paired 95 % CI]. Narrow enough for 100 columns."""
    from rich.table import Table

    ref = c.labels[0]
    t = Table(title=f"{c.scenario}: {c.runs} runs of {c.hours:g} h, seed {c.seed}; 95 % intervals, "
                    f"differences paired on the same seeds", title_justify="left")
    t.add_column("metric")
    t.add_column("plan")
    t.add_column("value [95 % CI]", justify="right")
    t.add_column(f"{ref} − plan [95 % CI]", justify="right")
    for row in c.rows:
        unit = "" if row.unit == "share" else f" ({row.unit})"
        for j, k in enumerate(c.labels):
            diff = "" if k == ref else _fmt(row.diffs[k], row.unit, signed=True)
            t.add_row(row.label + unit if j == 0 else "", k, _fmt(row.values[k], row.unit), diff,
                      end_section=j == len(c.labels) - 1)
    return t


def render_summary(s):
    """A Rich table of one simulation's `Summary`."""
    from rich.table import Table

    t = Table(title=f"{s.scenario}, plan {s.plan}: {s.runs} runs of {s.hours:g} h; {s.crossed} of "
                    f"{s.groups} groups crossed ({s.people_crossed:,} people)", title_justify="left")
    t.add_column("metric")
    t.add_column("value [95 % CI]", justify="right")
    t.add_column("n", justify="right")
    for key, e in s.metrics.items():
        label, unit = METRIC_LABELS[key]
        t.add_row(label + ("" if unit == "share" else f" ({unit})"), _fmt(e, unit), str(e.n))
    return t
