"""Air roster: shift groups + CP-SAT assignment against a naive time-slot CP-SAT model.

Instance: 12 orbits every 50 km along a 550 km stretch of border, 20-80 km
off the line; ISR turboprops and MALE UAVs at a central air base on the line,
reconnaissance helicopters at two forward bases 150 km either side (the
far orbits are out of a helicopter's useful reach). Fleet: 6 ISR, 8 UAV,
6 + 6 helicopters (26 aircraft).

- ours: `build_roster` (bounds, CP-SAT group assignment, packing, timing;
  default 10 s limit), verified by `check_roster`;
- peer: the textbook model: 15-minute slots over 24 h, a boolean per
  (tail, orbit, slot) "on station", coverage >= 1 per orbit and slot, at most
  one orbit per tail and slot, no run on station longer than the endurance
  allows after both transits, and after each run the tail stays off station
  for its transit back, turnaround and the longest transit out; the slots
  wrap, so every tail's day repeats. Minimise tails used; CP-SAT, 120 s,
  same worker count. Its roster is converted to sorties and verified by the
  same checker.

The note gives both fleets and the pooled lower bound (the larger of the
relay and daily-pattern bounds). A second row does the same on 4 of the
orbits with a smaller fleet (peer limit 30 s), a size the naive model can
solve; a third gives the 12 orbits an ample fleet (40 of each type), the
issue's own kind of case, where pooling is not constrained by the caps.
The whole file takes about 6 minutes.

Measured (2-core machine shared with other jobs, load average 2-3; the
planner's CP-SAT calls get their time from the wall clock left, so a loaded
machine gives them less): 12 orbits, ours 23 aircraft in 9.4 s (22 in 9.5 s
in a run on a quieter machine: 5 ISR on O1/O11/O12, 7 UAV on O5-O8, 6 + 4
helicopters), naive none (UNKNOWN in 120 s), bound 20 (relay bound 18);
4 orbits, ours 7 in 5.5 s, naive 7 (feasible, verified) in 30 s, bound 7.
With the ample fleet (40 of each type; session 2 run, machine shared): ours
19 in 4.8 s vs bound 18 (bound + 1, the issue's target), naive model 41
(feasible, verified) after 130 s; capped fleet in the same run: 22 in 9.4 s.

The open gap on 12 orbits (issue target: fleet <= bound + 1 in < 10 s). A
relaxation that drops timing but keeps whole sorties per tail (HiGHS MILP,
per tail: station minutes <= b x sorties, station + a x sorties <= 24 h)
still admits 20 aircraft, so a bound of 21 needs a timing argument. Every
21-aircraft mix found by hand shares one orbit between two types with the groups
involved at 96-99 % of their capacity; e.g. 1 ISR on O8 (three sorties,
three 140-min gaps, each needing two helicopter sorties of at most 108 min)
plus 4 east helicopters on O8-O10 leaves 4 min of helicopter time spare at
whole-minute transit times. A time-indexed price-and-branch (5-min grid,
3456 cover rows, exact-minute pricing DP) was tried: its master LP is
highly degenerate and each re-solve takes 0.1-1 s, too slow for 10 s.

Multi-day rotations (session 3). Two more rows run ours with
``max_period_days=7`` (a roster may repeat every 1-7 days, so a tail can
fly full E + G cycles that do not divide 24 h) against ours held to a daily
roster, on the same input. The bound for those rows is valid for every
period up to 7 days: max(relay bound, min over p of the p-day pattern
bound), which here is the relay bound (18 capped, 17 ample); the 20 and 18
of the daily rows are bounds for daily rosters only. Measured (machine
shared, load average 2-4): capped fleet 20 aircraft (period 5 days) in
9.9 s vs bound 18, daily roster 23 in the same run; ample fleet 18 (period
5 days) in 7.6 s vs bound 17 (bound + 1, the issue's target), daily 19.
Under heavier load a run can come out worse (the planner's time is wall
clock): one 4-orbit daily row gave 9 aircraft instead of 7 at load 4.

Still open on the capped fleet (20 vs 18, target 19): with each orbit
flown by one type, the types' relays pooled at the relay rate
(E - 2 tau) / (E + G), 19 needs 6 ISR on O1/O2/O11/O12, 7 UAVs on O4-O8
(6.925 UAV-equivalents: 99 % efficient) and 2 + 4 helicopters (HiGHS MILP
over orbit-to-type assignments); at 98 % efficiency the best is 20. So 19
needs an orbit shared between two types (e.g. O9 between the UAV pool's
spare time and the east helicopters), which shift groups cannot build (one
type per orbit). A proof that 18 is infeasible for every period would need
a timing argument the relay LP does not have.

Run: ``python bench/bench_roster.py``; `run()` returns the rows for `bench/run.py`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from borderwatch.plan.roster import (  # noqa: E402
    AircraftType,
    Orbit,
    Roster,
    Sortie,
    build_roster,
    check_roster,
    transit_h,
)

SLOT_MIN = 15
PEER_LIMIT_S = 120.0
SMALL_PEER_LIMIT_S = 30.0
ROTATION_DAYS = 7       # multi-day rows: any period up to a week


def instance() -> tuple[list[Orbit], list[AircraftType]]:
    orbits = [Orbit(f"O{i + 1}", -275e3 + 50e3 * i, 20e3 + 60e3 * ((i * 7) % 12) / 11) for i in range(12)]
    fleet = [
        AircraftType("isr-1", "ISR turboprop", 6, 8.0, 500.0, 2.0, 0.0, 0.0, "air base"),
        AircraftType("uav-1", "MALE UAV", 8, 14.0, 180.0, 4.0, 0.0, 0.0, "air base"),
        AircraftType("helo-w", "Recce helicopter", 6, 2.5, 220.0, 1.0, -150e3, 30e3, "west FOB"),
        AircraftType("helo-e", "Recce helicopter", 6, 2.5, 220.0, 1.0, 150e3, 30e3, "east FOB"),
    ]
    return orbits, fleet


def naive_slot_model(orbits, fleet, time_limit_s: float = PEER_LIMIT_S, workers: int = 2
                     ) -> tuple[Roster | None, str]:
    """The time-slot CP-SAT model described above; returns a roster (or None) and a status word."""
    from ortools.sat.python import cp_model

    T = 24 * 60 // SLOT_MIN
    m = cp_model.CpModel()
    tails = [(k, i) for k, a in enumerate(fleet) for i in range(a.count)]
    pre = {}
    post = {}
    lmax = {}
    for k, a in enumerate(fleet):
        for o, orb in enumerate(orbits):
            tau = transit_h(a, orb) * 60
            n = math.floor((a.endurance_h * 60 - 2 * tau) / SLOT_MIN + 1e-9)
            if n >= 1:
                lmax[k, o] = n
                pre[k, o] = math.ceil(tau / SLOT_MIN - 1e-9)
                post[k, o] = math.ceil((tau + a.turnaround_h * 60) / SLOT_MIN - 1e-9)
    on = {}
    used = []
    for t, (k, _) in enumerate(tails):
        u = m.new_bool_var(f"used{t}")
        used.append(u)
        pre_max = max((pre[k, o] for o in range(len(orbits)) if (k, o) in pre), default=0)
        busy = []
        for s in range(T):
            terms = []
            for o in range(len(orbits)):
                if (k, o) in lmax:
                    v = m.new_bool_var("")
                    on[t, o, s] = v
                    terms.append(v)
            b = m.new_bool_var("")
            m.add(sum(terms) == b)
            m.add_implication(b, u)
            busy.append(b)
        for o in range(len(orbits)):
            if (k, o) not in lmax:
                continue
            L = lmax[k, o]
            gap = post[k, o] + pre_max
            for s in range(T):
                # No run on station longer than L slots.
                if L < T:
                    m.add_bool_or([on[t, o, (s + j) % T].Not() for j in range(L + 1)])
                # A run ending at s: off station everywhere for the transit back, turnaround, transit out.
                end = m.new_bool_var("")
                m.add_bool_or([on[t, o, s].Not(), on[t, o, (s + 1) % T], end])
                for j in range(1, gap + 1):
                    m.add_bool_or([end.Not(), busy[(s + j) % T].Not()])
    for o in range(len(orbits)):
        for s in range(T):
            m.add_bool_or([on[t, o, s] for t in range(len(tails)) if (t, o, s) in on])
    for t in range(len(tails) - 1):
        if tails[t][0] == tails[t + 1][0]:
            m.add_implication(used[t + 1], used[t])
    m.minimize(sum(used))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    status = solver.solve(m)
    word = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, word
    sorties = []
    H = 24.0
    for t, (k, i) in enumerate(tails):
        for o in range(len(orbits)):
            if (k, o) not in lmax:
                continue
            row = [solver.boolean_value(on[t, o, s]) for s in range(T)]
            for s in range(T):
                if row[s] and not row[s - 1]:
                    e = s
                    while row[(e + 1) % T] and (e + 1) % T != s:
                        e += 1
                    a, b = s * SLOT_MIN / 60, (e + 1) * SLOT_MIN / 60
                    tau = transit_h(fleet[k], orbits[o])
                    sorties.append(Sortie(f"{fleet[k].id}#{i + 1}", orbits[o].id, a - tau + (H if a < tau else 0),
                                          a + (H if a < tau else 0), b + (H if a < tau else 0),
                                          b + tau + (H if a < tau else 0)))
    used_by = {a.id: 0 for a in fleet}
    for tail in {s.aircraft for s in sorties}:
        used_by[tail.rsplit("#", 1)[0]] += 1
    n = sum(used_by.values())
    roster = Roster(tuple(sorties), True, used_by, {a.id: a.count for a in fleet}, 0, n, {}, "", None)
    return roster, word


def _row(name: str, orbits, fleet, peer_limit_s: float) -> dict:
    t0 = time.perf_counter()
    ours = build_roster(orbits, fleet)
    t_ours = time.perf_counter() - t0
    ours_bad = check_roster(ours, orbits, fleet)

    t0 = time.perf_counter()
    peer, word = naive_slot_model(orbits, fleet, time_limit_s=peer_limit_s)
    t_peer = time.perf_counter() - t0
    if peer is None:
        peer_txt = f"none ({word} in {peer_limit_s:.0f} s)"
    else:
        bad = check_roster(peer, orbits, fleet)
        peer_txt = f"{peer.aircraft_used} ({word.lower()}{', verified' if not bad else f', {len(bad)} violations'})"
    ours_txt = f"{ours.aircraft_used}" + ("" if ours.feasible and not ours_bad else " (NOT VALID)")
    note = (f"fleet ours {ours_txt} vs naive {peer_txt} vs bound {ours.lower_bound} "
            f"(relay bound {ours.relay_bound}); {sum(a.count for a in fleet)} available")
    return {"name": name, "ours_s": t_ours, "peer": f"CP-SAT {SLOT_MIN}-min slots", "peer_s": t_peer,
            "note": note}


def _row_rotation(name: str, orbits, fleet, max_period_days: int = ROTATION_DAYS) -> dict:
    """Ours with multi-day rotations allowed, against ours held to a daily roster (same input)."""
    t0 = time.perf_counter()
    multi = build_roster(orbits, fleet, max_period_days=max_period_days)
    t_multi = time.perf_counter() - t0
    bad = check_roster(multi, orbits, fleet, 24.0)
    t0 = time.perf_counter()
    daily = build_roster(orbits, fleet)
    t_daily = time.perf_counter() - t0
    bad_daily = check_roster(daily, orbits, fleet, 24.0)
    ok = "" if multi.feasible and not bad else " (NOT VALID)"
    ok_daily = "" if daily.feasible and not bad_daily else " (NOT VALID)"
    note = (f"fleet ours {multi.aircraft_used}{ok} (period {multi.horizon_h / 24:g} days) vs bound "
            f"{multi.lower_bound} for any period <= {max_period_days} days (relay bound "
            f"{multi.relay_bound}); daily roster {daily.aircraft_used}{ok_daily} vs daily bound "
            f"{daily.lower_bound}; {sum(a.count for a in fleet)} available")
    return {"name": name, "ours_s": t_multi, "peer": "ours, daily roster", "peer_s": t_daily, "note": note}


def run() -> list[dict]:
    orbits, fleet = instance()
    rows = [_row("air roster, 12 orbits, 4 types: groups + CP-SAT", orbits, fleet, PEER_LIMIT_S)]
    rows.append(_row_rotation("air roster, 12 orbits, 4 types, multi-day rotation", orbits, fleet))
    # The issue's own kind of case: 12 orbits with enough aircraft of each type that
    # pooling is free to choose (40 ISR, 40 UAV, 40 + 40 helicopters available).
    ample = [dataclasses.replace(a, count=40) for a in fleet]
    rows.append(_row("air roster, 12 orbits, ample fleet: groups + CP-SAT", orbits, ample, PEER_LIMIT_S))
    rows.append(_row_rotation("air roster, 12 orbits, ample fleet, multi-day rotation", orbits, ample))
    # A small case the naive model can solve: 4 mid-line orbits, 3 ISR, 4 UAV, 3 + 3 helicopters.
    small = [dataclasses.replace(a, count=c) for a, c in zip(fleet, (3, 4, 3, 3))]
    rows.append(_row("air roster, 4 orbits, 4 types: groups + CP-SAT", orbits[4:8], small, SMALL_PEER_LIMIT_S))
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']}: ours {row['ours_s']:.2f} s, {row['peer']} {row['peer_s']:.1f} s; {row['note']}")
