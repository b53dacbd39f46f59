"""Monte Carlo over the engine: same seeds, same table, on every backend; intervals; bad options."""

from __future__ import annotations

import math
import socket
from dataclasses import replace

import numpy as np
import pytest

from borderwatch.errors import SimError
from borderwatch.plan.whole import make_plan
from borderwatch.sim import montecarlo
from borderwatch.sim.compare import paired_mean_diff, paired_share_diff
from borderwatch.sim.engine import SimOptions
from borderwatch.sim.montecarlo import run_seeds, simulate, t_interval, wilson

# A short window and a larger share of the headcount: ~10 groups a run, well under a second each.
OPTIONS = SimOptions(hours=0.5, tail_h=0.25, share=0.15)
RUNS = 4


@pytest.fixture(scope="module")
def plan(tiny):
    return make_plan(tiny)


@pytest.fixture(scope="module")
def in_process(tiny, plan):
    return simulate(tiny, plan, runs=RUNS, seed=7, options=OPTIONS, workers=1)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as c:
        yield c


def assert_same_runs(a, b):
    assert list(a.outcomes) == list(b.outcomes)
    for name in a.outcomes:
        np.testing.assert_array_equal(a.outcomes[name], b.outcomes[name], err_msg=name)
        assert a.outcomes[name].dtype == b.outcomes[name].dtype, name
    np.testing.assert_array_equal(a.seeds, b.seeds)
    for name in a.run_stats:
        if name != "wall_s":            # the only thing a backend may change
            np.testing.assert_array_equal(a.run_stats[name], b.run_stats[name], err_msg=name)


def test_the_table_has_a_row_per_group_in_run_order(in_process):
    r = in_process
    assert r.runs == RUNS and r.backend == "in-process"
    run = r.outcomes["run"]
    assert np.all(np.diff(run) >= 0) and set(run) == set(range(RUNS))
    for name in ("group", "source", "size", "crossed", "detected_before", "alerted", "interdicted",
                 "alert_delay_s"):
        assert len(r.outcomes[name]) == len(run)
    assert len(run) >= RUNS * 5          # enough groups for the comparisons below to mean something
    assert all(len(v) == RUNS for v in r.run_stats.values())


def test_local_processes_give_the_same_table(tiny, plan, in_process):
    r = simulate(tiny, plan, runs=RUNS, seed=7, options=OPTIONS, workers=2)
    assert r.backend == "2 local processes"
    assert_same_runs(in_process, r)


def test_a_dask_cluster_gives_the_same_table(tiny, plan, in_process, cluster):
    seen = []
    r = simulate(tiny, plan, runs=RUNS, seed=7, options=OPTIONS, dask=cluster.scheduler_address,
                 progress=lambda done, total: seen.append((done, total)))
    assert r.backend.startswith("dask ")
    assert_same_runs(in_process, r)
    assert seen[0] == (0, RUNS) and seen[-1] == (RUNS, RUNS)
    assert [d for d, _ in seen] == list(range(RUNS + 1))


def test_seeds_depend_on_the_seed_and_run_index_only(tiny, plan, in_process):
    np.testing.assert_array_equal(run_seeds(7, RUNS), in_process.seeds)
    np.testing.assert_array_equal(run_seeds(7, 2), run_seeds(7, RUNS)[:2])   # more runs keep the first
    assert not set(run_seeds(8, RUNS)) & set(run_seeds(7, RUNS))
    again = simulate(tiny, plan, runs=2, seed=7, options=OPTIONS, workers=1)
    first_two = {k: v[in_process.outcomes["run"] < 2] for k, v in in_process.outcomes.items()}
    for name, col in again.outcomes.items():
        np.testing.assert_array_equal(col, first_two[name], err_msg=name)


def test_summary_counts_crossed_groups(in_process):
    s = in_process.summary()
    crossed = in_process.outcomes["crossed"].astype(bool)
    assert s.crossed == crossed.sum() and s.groups == len(crossed) and s.runs == RUNS
    for col in ("detected_before", "alerted", "interdicted"):
        e = s.metrics[col]
        assert e.value == pytest.approx(in_process.outcomes[col][crossed].mean())
        assert 0 <= e.lo <= e.value <= e.hi <= 1 and e.n == s.crossed
    fb = s.metrics["false_breaches_per_day"]
    days = OPTIONS.hours / 24
    assert fb.value == pytest.approx(in_process.run_stats["false_breaches"].mean() / days)
    assert fb.n == RUNS
    d = s.to_dict()
    assert d["metrics"]["alerted"]["label"] == "share alerted"


def test_wilson_interval_matches_the_published_values():
    # Newcombe (Stat. Med. 17, 1998), table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605.
    e = wilson(81, 263)
    assert (round(e.lo, 4), round(e.hi, 4)) == (0.2553, 0.3662)
    e = wilson(15, 148)
    assert (round(e.lo, 4), round(e.hi, 4)) == (0.0624, 0.1605)
    assert wilson(0, 10).lo == 0.0 and wilson(10, 10).hi == 1.0
    assert math.isnan(wilson(0, 0).value)


def test_t_interval_and_paired_differences():
    e = t_interval(np.array([1.0, 2.0, 3.0, np.nan]))
    assert e.n == 3 and e.value == 2.0
    assert e.hi - e.value == pytest.approx(4.302652729911275 * 1.0 / math.sqrt(3))
    assert math.isnan(t_interval(np.array([5.0])).lo)
    # Paired: a constant shift has no spread, so the interval closes on it.
    d = paired_mean_diff([3.0, 5.0, 9.0], [1.0, 3.0, 7.0])
    assert (d.value, d.lo, d.hi) == (2.0, 2.0, 2.0)
    # Shares: the difference of pooled shares; equal plans differ by exactly 0.
    s = paired_share_diff([2, 3, 4], [10, 10, 10], [2, 3, 4], [10, 10, 10])
    assert (s.value, s.lo, s.hi) == (0.0, 0.0, 0.0)
    s = paired_share_diff([5, 6, 7], [10, 10, 10], [2, 3, 4], [10, 10, 10])
    assert s.value == pytest.approx(0.3) and s.lo == pytest.approx(0.3) and s.hi == pytest.approx(0.3)


@pytest.mark.parametrize("kwargs, message", [
    ({"runs": 0}, "runs = 0: at least 1 run is needed"),
    ({"runs": -3}, "runs = -3: at least 1 run is needed"),
    ({"workers": 0}, "workers = 0: at least 1 worker is needed"),
    ({"workers": 2, "dask": "tcp://127.0.0.1:8786"}, "give one or the other"),
])
def test_bad_options_are_refused(tiny, plan, kwargs, message):
    with pytest.raises(SimError, match=message):
        simulate(tiny, plan, **{"runs": 1, "options": OPTIONS, **kwargs})


@pytest.mark.parametrize("hours", [-1.0, 0.0])
def test_hours_must_be_positive(hours):
    with pytest.raises(SimError, match="hours"):
        SimOptions(hours=hours)


def test_a_plan_for_another_scenario_is_refused(tiny, plan):
    with pytest.raises(SimError, match="plan was made for 'iraq-syria', not 'tiny'"):
        simulate(tiny, replace(plan, scenario="iraq-syria"), runs=1, options=OPTIONS, workers=1)


def test_an_unreachable_dask_scheduler_is_one_clear_error(tiny, plan, monkeypatch):
    monkeypatch.setattr(montecarlo, "DASK_CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SimError) as err:
        simulate(tiny, plan, runs=1, options=OPTIONS, dask=f"tcp://127.0.0.1:{port}")
    text = str(err.value)
    assert text.startswith(f"dask = 'tcp://127.0.0.1:{port}': cannot reach the Dask scheduler")
    assert "\n" not in text
