"""`simulate(scenario, plan, runs=N, seed=S)`: many seeded runs of the engine, and what they say.

Each run is one call of `run_once(world, seed)`; the heavy precompute
(`prepare`: viewsheds, route geometry) is done once and shipped to every
worker once, never once per run. Run i's seed comes from
``SeedSequence(S).spawn(...)[i]``, which depends on S and i only (not on the
number of runs nor on the backend), so run i is the same run in-process, in
local processes and on a Dask cluster, and the tables come out identical.

Backends:

- ``workers=1``: in this process (easiest to debug, no pickling);
- otherwise local processes (`ProcessPoolExecutor`, default
  ``min(2, os.cpu_count())`` workers, spawned so no lock or thread of this
  process is inherited), the world sent to each through the pool's
  initializer;
- ``dask="tcp://host:port"``: a Dask cluster; the world is scattered to the
  workers once and runs are gathered as they complete.

The result's `summary()` gives rates with 95 % intervals: Wilson score
intervals for shares of groups (Wilson, JASA 22, 1927), Student-t intervals
across runs for per-run quantities (false breaches per day, the median alert
delay of a run).
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Callable, Iterator

import numpy as np
from scipy import stats as _stats

from borderwatch.errors import SimError
from borderwatch.scenario.model import Scenario
from borderwatch.sim.engine import RunOutcome, SimOptions, World, prepare, run_once

Progress = Callable[[int, int], None]  # (runs done, runs in all)

Z95 = 1.959963984540054          # two-sided 95 % normal quantile
DASK_CONNECT_TIMEOUT_S = 10.0


# --------------------------------------------------------------------------- seeds


def run_seeds(seed: int, runs: int) -> np.ndarray:
    """The seed of each run: child i of ``SeedSequence(seed)``, as one 63-bit integer.

    Child i depends on (seed, i) only, so asking for more runs keeps the
    first ones and every backend agrees on which run is which.
    """
    children = np.random.SeedSequence(seed).spawn(runs)
    return np.array([int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children],
                    dtype=np.int64)


# --------------------------------------------------------------------------- intervals


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate and its 95 % interval; ``n`` is what it rests on (groups or runs)."""

    value: float
    lo: float
    hi: float
    n: int

    def to_dict(self) -> dict:
        return {"value": _num(self.value), "lo": _num(self.lo), "hi": _num(self.hi), "n": self.n}


def _num(x: float) -> float | None:
    """JSON has no NaN: an estimate without data is null."""
    return None if x is None or not math.isfinite(x) else float(x)


def wilson(successes: int, n: int, z: float = Z95) -> Estimate:
    """Share and Wilson score interval; unlike the Wald interval it stays inside [0, 1]
    and keeps its coverage near 0 and 1, where detection shares of a good plan live."""
    if n <= 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    p = successes / n
    d = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    lo = 0.0 if successes == 0 else max(0.0, centre - half)     # exact at the ends, not 1 - 1e-16
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return Estimate(p, lo, hi, n)


def t_interval(values: np.ndarray, floor: float | None = None) -> Estimate:
    """Mean of per-run values (NaN runs left out) ± Student t; no interval from one run.

    ``floor``: the least value the quantity can take (0 for counts and delays);
    the interval is cut there rather than reaching impossible values.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan, 1)
    half = float(_stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))
    lo = mean - half if floor is None else max(floor, mean - half)
    return Estimate(mean, lo, mean + half, n)


# --------------------------------------------------------------------------- result

SHARE_COLUMNS = ("detected_before", "alerted", "interdicted")
METRIC_LABELS = {
    "detected_before": ("share detected before the line", "share"),
    "alerted": ("share alerted", "share"),
    "interdicted": ("share interdicted", "share"),
    "median_alert_delay_s": ("median alert delay", "s"),
    "false_breaches_per_day": ("false breaches per day", "/day"),
}


@dataclass(frozen=True, slots=True)
class Summary:
    """Rates over a simulation, each with its 95 % interval.

    Shares count groups (a group is caught or missed together) among the
    groups that crossed the line in the window; groups still on their way at
    the end are not an outcome yet. Per-run quantities are averaged over runs.
    """

    scenario: str
    plan: str
    runs: int
    hours: float
    groups: int                  # groups in all runs
    crossed: int                 # of them, groups that crossed
    people_crossed: int
    metrics: dict[str, Estimate]

    def to_dict(self) -> dict:
        return {"scenario": self.scenario, "plan": self.plan, "runs": self.runs, "hours": self.hours,
                "groups": self.groups, "crossed": self.crossed, "people_crossed": self.people_crossed,
                "metrics": {k: {"label": METRIC_LABELS[k][0], "unit": METRIC_LABELS[k][1], **e.to_dict()}
                            for k, e in self.metrics.items()}}


@dataclass(frozen=True, slots=True)
class SimResult:
    """Every run's outcome table, concatenated in run order, and every run's stats.

    ``outcomes``: one row per infiltrator group, the engine's columns plus
    ``run`` (0-based run index). ``run_stats``: one value per run for each of
    the engine's stats (``wall_s`` included, which alone differs between
    backends). ``seeds[i]`` is the seed run i was given.
    """

    scenario: str
    plan_label: str
    source_names: tuple[str, ...]
    options: SimOptions
    seed: int
    seeds: np.ndarray
    outcomes: dict[str, np.ndarray]
    run_stats: dict[str, np.ndarray]
    backend: str
    wall_s: float
    prepare_s: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return len(self.seeds)

    def per_run(self) -> dict[str, np.ndarray]:
        """Per-run values of every summary metric (NaN where a run has no data for it).

        Shares are given as (numerator, denominator) pairs under ``<name>.num`` /
        ``<name>.den`` so that paired comparisons can pool them properly.
        """
        runs = self.runs
        run = self.outcomes["run"]
        crossed = self.outcomes["crossed"].astype(bool)
        out: dict[str, np.ndarray] = {}
        den = np.bincount(run[crossed], minlength=runs).astype(float)
        for col in SHARE_COLUMNS:
            hit = crossed & self.outcomes[col].astype(bool)
            num = np.bincount(run[hit], minlength=runs).astype(float)
            out[f"{col}.num"], out[f"{col}.den"] = num, den
            with np.errstate(invalid="ignore", divide="ignore"):
                out[col] = np.where(den > 0, num / np.maximum(den, 1), np.nan)
        alerted = crossed & self.outcomes["alerted"].astype(bool)
        delay = self.outcomes["alert_delay_s"].astype(float)
        med = np.full(runs, np.nan)
        ok = alerted & np.isfinite(delay)
        for i in range(runs):
            d = delay[ok & (run == i)]
            if len(d):
                med[i] = float(np.median(d))
        out["median_alert_delay_s"] = med
        days = self.options.hours / 24.0
        out["false_breaches_per_day"] = np.asarray(self.run_stats["false_breaches"], dtype=float) / days
        return out

    def summary(self) -> Summary:
        """Shares of crossed groups with Wilson intervals; per-run means with t intervals."""
        crossed = self.outcomes["crossed"].astype(bool)
        metrics: dict[str, Estimate] = {}
        n = int(crossed.sum())
        for col in SHARE_COLUMNS:
            metrics[col] = wilson(int((crossed & self.outcomes[col].astype(bool)).sum()), n)
        per_run = self.per_run()
        metrics["median_alert_delay_s"] = t_interval(per_run["median_alert_delay_s"])
        metrics["false_breaches_per_day"] = t_interval(per_run["false_breaches_per_day"], floor=0.0)
        return Summary(scenario=self.scenario, plan=self.plan_label, runs=self.runs,
                       hours=self.options.hours, groups=len(crossed), crossed=n,
                       people_crossed=int(self.outcomes["size"][crossed].sum()), metrics=metrics)


# --------------------------------------------------------------------------- checks


def check_options(scenario: Scenario, plan, runs: int, options: SimOptions, workers: int | None,
                  dask: str | None) -> None:
    """Refuse what cannot be simulated, each with the option and the reason."""
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
        raise SimError(f"runs = {runs!r}: at least 1 run is needed")
    if not isinstance(options, SimOptions):
        raise SimError(f"options must be a SimOptions, got {type(options).__name__}")
    if not options.hours > 0:
        raise SimError(f"hours = {options.hours:g}: the simulated window must be longer than 0 h")
    if plan.scenario != scenario.name:
        raise SimError(f"plan was made for '{plan.scenario}', not '{scenario.name}'")
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise SimError(f"workers = {workers!r}: at least 1 worker is needed")
        if dask is not None:
            raise SimError(f"workers = {workers} applies to local processes; with dask = {dask!r} the "
                           "cluster's workers run the simulation: give one or the other")
    if dask is not None and (not isinstance(dask, str) or not dask.strip()):
        raise SimError(f"dask = {dask!r}: give a scheduler address such as tcp://host:8786")


# --------------------------------------------------------------------------- backends


def _in_process(world: World, seeds: np.ndarray) -> Iterator[tuple[int, RunOutcome]]:
    for i, s in enumerate(seeds):
        yield i, run_once(world, int(s))


_WORKER_WORLD: World | None = None


def _init_worker(world: World) -> None:
    global _WORKER_WORLD
    _WORKER_WORLD = world


def _run_in_worker(i: int, seed: int) -> tuple[int, RunOutcome]:
    return i, run_once(_WORKER_WORLD, seed)


_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _one_blas_thread_per_child() -> Iterator[None]:
    """Children started inside read these when NumPy loads: one BLAS thread each (as Dask's
    nanny does), else W workers on W cores run W x cores threads and each run takes twice as long."""
    saved = {k: os.environ.get(k) for k in _ONE_THREAD}
    for k in _ONE_THREAD:
        os.environ.setdefault(k, "1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _local_processes(world: World, seeds: np.ndarray, workers: int) -> Iterator[tuple[int, RunOutcome]]:
    # spawn, not fork: the parent may hold threads (Rich's refresh, Dask)
    # whose locks a forked child would inherit held.
    with ProcessPoolExecutor(max_workers=min(workers, len(seeds)), mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(world,)) as pool:
        with _one_blas_thread_per_child():      # a spawn pool starts its processes at the first submit
            futures = [pool.submit(_run_in_worker, i, int(s)) for i, s in enumerate(seeds)]
        try:
            for f in as_completed(futures):
                yield f.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _connect(address: str):
    try:
        from dask.distributed import Client
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        raise SimError("dask: dask.distributed is not installed (pip install 'dask[distributed]')") from None
    try:
        return Client(address, timeout=f"{DASK_CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SimError(f"dask = {address!r}: cannot reach the Dask scheduler ({why})") from None


def _dask(world: World, seeds: np.ndarray, address: str) -> Iterator[tuple[int, RunOutcome]]:
    from dask.distributed import as_completed as dask_completed

    client = _connect(address)
    try:
        if not client.scheduler_info().get("workers"):
            client.wait_for_workers(1, timeout=DASK_CONNECT_TIMEOUT_S)
        remote = client.scatter(world, broadcast=True)
        token = f"{time.time_ns():x}"
        futures = [client.submit(run_once, remote, int(s), key=f"borderwatch-run-{i}-{token}", pure=False)
                   for i, s in enumerate(seeds)]
        index = {f.key: i for i, f in enumerate(futures)}
        for f, out in dask_completed(futures, loop=client.loop, with_results=True):
            yield index[f.key], out
    except TimeoutError as exc:
        raise SimError(f"dask = {address!r}: the scheduler has no workers ({exc})") from None
    finally:
        client.close()


# --------------------------------------------------------------------------- simulate


def simulate(scenario: Scenario, plan, runs: int = 10, seed: int = 0, options: SimOptions | None = None,
             workers: int | None = None, dask: str | None = None, progress: Progress | None = None,
             world: World | None = None, label: str | None = None) -> SimResult:
    """Run the plan `runs` times against seeded infiltrators; the same seed gives the same table.

    ``workers``: 1 runs in this process, more in that many local processes
    (default ``min(2, os.cpu_count())``). ``dask``: a scheduler address
    (``tcp://host:8786``) to run on a Dask cluster instead. ``progress(done,
    total)`` is called as runs finish. ``world``: an already prepared world
    for this scenario, plan and options (skips `prepare`). ``label``: the
    plan's name in results and tables (the engine's default when None).
    """
    options = SimOptions() if options is None else options
    check_options(scenario, plan, runs, options, workers, dask)
    seeds = run_seeds(seed, int(runs))
    report = progress or (lambda done, total: None)
    t0 = time.perf_counter()
    if world is None:
        world = prepare(scenario, plan, options) if label is None else \
            prepare(scenario, plan, options, label=label)
    prepare_s = time.perf_counter() - t0
    if dask is not None:
        backend, results = f"dask {dask}", _dask(world, seeds, dask)
    else:
        w = min(2, os.cpu_count() or 1) if workers is None else int(workers)
        if w == 1 or len(seeds) == 1:
            backend, results = "in-process", _in_process(world, seeds)
        else:
            backend, results = f"{min(w, len(seeds))} local processes", _local_processes(world, seeds, w)
    outcomes: list[RunOutcome | None] = [None] * len(seeds)
    report(0, len(seeds))
    for done, (i, out) in enumerate(results, start=1):
        outcomes[i] = out
        report(done, len(seeds))
    wall = time.perf_counter() - t0
    return _assemble(scenario, world, options, seed, seeds, outcomes, backend, wall, prepare_s)


def _assemble(scenario: Scenario, world: World, options: SimOptions, seed: int, seeds: np.ndarray,
              outcomes: list, backend: str, wall: float, prepare_s: float) -> SimResult:
    """Concatenate the runs' tables in run order (completion order varies, the table must not)."""
    first = outcomes[0].groups
    columns: dict[str, np.ndarray] = {
        "run": np.concatenate([np.full(len(next(iter(o.groups.values()))), i, dtype=np.int32)
                               for i, o in enumerate(outcomes)])}
    for name in first:
        columns[name] = np.concatenate([np.asarray(o.groups[name]) for o in outcomes])
    stat_names = list(outcomes[0].stats)
    run_stats = {k: np.array([float(o.stats.get(k, math.nan)) for o in outcomes]) for k in stat_names}
    for i, o in enumerate(outcomes):
        if int(o.seed) != int(seeds[i]):
            raise SimError(f"run {i}: the engine reports seed {o.seed}, not the {int(seeds[i])} it was given")
    return SimResult(scenario=scenario.name, plan_label=str(world.plan_label),
                     source_names=tuple(world.source_names), options=options, seed=int(seed), seeds=seeds,
                     outcomes=columns, run_stats=run_stats, backend=backend, wall_s=wall,
                     prepare_s=prepare_s)
