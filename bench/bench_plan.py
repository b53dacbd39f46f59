"""make_plan on iraq-syria: wall time of the whole plan (target < 60 s)."""

from __future__ import annotations

import time

from borderwatch import load_scenario
from borderwatch.plan import make_plan


def run() -> list[dict]:
    s = load_scenario("iraq-syria")
    t0 = time.perf_counter()
    plan = make_plan(s)
    wall = time.perf_counter() - t0
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in plan.timings_s.items())
    return [{"name": "make_plan(iraq-syria): towers, patrol game, orbits, roster", "ours_s": wall,
             "peer": "target: < 60 s", "peer_s": 60.0, "note": parts}]


if __name__ == "__main__":
    for r in run():
        print(r)
