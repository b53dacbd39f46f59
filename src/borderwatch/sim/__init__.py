"""Simulate: infiltrators against a plan, through the real tracker, measured.

    from borderwatch.sim import SimOptions, prepare, run_once, simulate
    world = prepare(scenario, plan, SimOptions(hours=24))
    outcome = run_once(world, seed=1)             # one window
    result = simulate(scenario, plan, runs=20, seed=7)   # Monte Carlo, local processes or Dask
"""

from __future__ import annotations

__all__ = ["RunOutcome", "SimOptions", "World", "prepare", "run_once", "simulate"]

_HOME = {"RunOutcome": "engine", "run_once": "engine", "SimOptions": "options", "World": "world",
         "prepare": "world", "simulate": "montecarlo"}


def __getattr__(name: str):
    # Imported on first use so that `import borderwatch.sim` stays cheap.
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"borderwatch.sim.{_HOME[name]}"), name)
    raise AttributeError(name)
