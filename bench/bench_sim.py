"""Simulation: how fast one simulated day runs, and how Monte Carlo scales out.

- One 24-hour run of the full `iraq-syria` scenario at 1 s steps (tracker and
  breach detector included), one core, against the issue's target of 60 s:
  with the default 5 % of the 13,000 trying that day, and with all 13,000.
  The note gives simulated person-seconds per wall second (people on the
  move × seconds simulated / wall time) and the size of the run.
- Runs per second for a shorter window (SCALE_HOURS) of the same scenario:
  in this process (1 worker), in 2 local processes, and on a
  `dask.distributed.LocalCluster` of 2 single-threaded worker processes; the
  peer column is the in-process time, so the ratio is the speed-up. Pool and
  cluster start-up are included (what a user waits for), `prepare` is not
  (done once, before every backend).

Run: ``python bench/bench_sim.py``; `run()` returns the rows.
"""

from __future__ import annotations

import time

from borderwatch import load_scenario
from borderwatch.plan.whole import make_plan
from borderwatch.sim.engine import SimOptions, prepare, run_once
from borderwatch.sim.montecarlo import run_seeds, simulate

SCENARIO = "iraq-syria"
DAY_TARGET_S = 60.0
SCALE_HOURS = 2.0
SCALE_RUNS = 4


def _day_row(scenario, plan, share: float = SimOptions().share) -> dict:
    opts = SimOptions(hours=24.0, step_s=1.0, share=share)
    t0 = time.perf_counter()
    world = prepare(scenario, plan, opts)
    prep = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = run_once(world, int(run_seeds(0, 1)[0]))
    wall = time.perf_counter() - t0
    people = int(out.groups["size"].sum())
    person_s = out.stats["person_steps"] * opts.step_s
    return {"name": f"{SCENARIO}, one 24-h run, {share:.0%} of 13,000 try, 1 s steps, tracker incl. (1 core)",
            "ours_s": wall,
            "peer": f"target < {DAY_TARGET_S:g} s", "peer_s": DAY_TARGET_S,
            "note": f"{person_s / wall:,.0f} person-s per wall s; {len(out.groups['size']):,} groups, "
                    f"{people:,} people, {int(out.stats['detections']):,} detections, "
                    f"{int(out.stats['breaches'])} breaches; prepare {prep:.1f} s; "
                    f"{'meets' if wall < DAY_TARGET_S else 'MISSES'} the target"}


def _scale_rows(scenario, plan) -> list[dict]:
    from dask.distributed import LocalCluster

    opts = SimOptions(hours=SCALE_HOURS)
    world = prepare(scenario, plan, opts)
    rows = []

    def timed(**kw) -> tuple[float, float]:
        """Wall time of the whole call, and the mean time of one run inside its worker."""
        t0 = time.perf_counter()
        r = simulate(scenario, plan, runs=SCALE_RUNS, seed=1, options=opts, world=world, **kw)
        return time.perf_counter() - t0, float(r.run_stats["wall_s"].mean())

    one, per_one = timed(workers=1)
    label = f"{SCENARIO}, {SCALE_RUNS} runs of {SCALE_HOURS:g} h"
    two, per_two = timed(workers=2)
    rows.append({"name": f"{label}: 2 local processes", "ours_s": two, "peer": "1 worker (in-process)",
                 "peer_s": one, "note": f"{SCALE_RUNS / two:.3f} runs/s vs {SCALE_RUNS / one:.3f} runs/s; "
                                        f"a run takes {per_two:.2f} s in a worker, {per_one:.2f} s "
                                        "in-process; process start-up included"})
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c:
        start = time.perf_counter() - t0
        dask, per_dask = timed(dask=c.scheduler_address)
    rows.append({"name": f"{label}: Dask LocalCluster, 2 workers", "ours_s": dask,
                 "peer": "1 worker (in-process)", "peer_s": one,
                 "note": f"{SCALE_RUNS / dask:.3f} runs/s; a run takes {per_dask:.2f} s in a worker; "
                         f"cluster start {start:.1f} s not included, world scattered once"})
    return rows


def run() -> list[dict]:
    scenario = load_scenario(SCENARIO)
    plan = make_plan(scenario)
    # The default share (5 % try in one day), then all 13,000 in the same day.
    return [_day_row(scenario, plan), _day_row(scenario, plan, 1.0), *_scale_rows(scenario, plan)]


if __name__ == "__main__":
    for row in run():
        ratio = row["peer_s"] / row["ours_s"] if row["ours_s"] > 0 else float("inf")
        print(f"{row['name']}: ours {row['ours_s']:.2f} s, {row['peer']} {row['peer_s']:.2f} s "
              f"({ratio:.2f}x) {row['note']}", flush=True)
