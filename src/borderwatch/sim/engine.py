"""One simulated window: infiltrators, sensors, the real tracker, outcomes.

`run_once(world, seed)` is deterministic in (world, seed). Everything is
columnar: the groups are rows of arrays moved together each step; the
sensors look at all groups at once; the detections go through the very
`Tracker` and `BreachDetector` that serve live reports.

Per step (1 s by default) every active group advances along its route
(start → crossing point → inland), at its speed scaled for slope (Tobler's
hiking function on foot; vehicles lose 4 % per % of slope, down to a
quarter). Every `look_s` the towers and aircraft look, every
`patrol_look_s` the patrols; what they report becomes one `Detections`
batch for the tracker. Breaches raised by the tracker are matched to the
group that caused them (nearest group within 1 km of the track); the
unmatched ones are false breaches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from borderwatch.sim.options import SimOptions
from borderwatch.sim.world import P_TRACK, World, prepare
from borderwatch.track.breach import BreachDetector
from borderwatch.track.detections import PERSON, VEHICLE, Detections
from borderwatch.track.sensors import range_bearing_to_xy
from borderwatch.track.tracker import Tracker, TrackerConfig

__all__ = ["RunOutcome", "SimOptions", "World", "prepare", "run_once", "GROUP_COLUMNS"]

GROUP_COLUMNS = ("group", "source", "size", "vehicle", "target_km", "crossed", "cross_t", "detected_before",
                 "first_detect_t", "alerted", "alert_t", "alert_delay_s", "interdicted")
MATCH_M = 1000.0


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """One run: a row per group (columns in `GROUP_COLUMNS`) and the run's totals."""

    seed: int
    groups: dict[str, np.ndarray]
    stats: dict[str, float]
    breaches: tuple = ()        # (Breach, group index or -1 when false), as the tracker raised them


def tracker_config() -> TrackerConfig:
    """The tracker as the simulator runs it: people on foot and vehicles, looks every few seconds."""
    return TrackerConfig(q=0.1, q_vehicle=2.0, init_speed_sigma_mps=3.0, init_speed_sigma_vehicle_mps=12.0,
                         confirm_m=3, confirm_n=5, max_coast_s=120.0, lag_s=0.0, history_rows=200_000)


def _groups(world: World, rng: np.random.Generator):
    """Draw the groups: source, size, vehicle, chosen crossing and planned crossing time."""
    opt = world.options
    src, size = [], []
    for s, people in enumerate(world.source_people):
        if people <= 0:
            continue
        n_max = int(people // opt.group_min) + 1
        sz = rng.integers(opt.group_min, opt.group_max + 1, n_max)
        cum = np.cumsum(sz)
        k = int(np.searchsorted(cum, people)) + 1
        sz = sz[:k].copy()
        sz[-1] -= int(cum[k - 1] - people)          # the last group takes who is left
        if sz[-1] <= 0:
            sz = sz[:-1]
        src.append(np.full(len(sz), s, np.int64))
        size.append(sz)
    src = np.concatenate(src) if src else np.zeros(0, np.int64)
    size = np.concatenate(size) if size else np.zeros(0, np.int64)
    n = len(src)
    vehicle = rng.random(n) < opt.vehicle_share
    target = np.zeros(n, np.int64)
    for s in np.unique(src):
        u = world.target_utility[s]
        if opt.rationality is None:
            best = u.max()
            p = (u >= best * (1 - opt.br_tolerance)).astype(float)
        else:
            z = opt.rationality * u / max(u.max(), 1e-300)
            p = np.exp(z - z.max())
        p /= p.sum()
        rows = np.flatnonzero(src == s)
        target[rows] = rng.choice(len(u), size=len(rows), p=p)
    chain = world.target_start_km[target] + rng.random(n) * world.target_len_km
    chain = np.clip(chain, 0.0, world.border.length_km)
    cross_plan = rng.random(n) * opt.hours * 3600.0
    return src, size, vehicle, target, chain, cross_plan


def _routes(world: World, src: np.ndarray, chain: np.ndarray):
    """Start, crossing and end points of each group's route (local metres)."""
    opt = world.options
    cx, cy = world.border.point_at(chain)
    normal = world.border.own_normal_at(chain).reshape(-1, 2)
    c = np.column_stack([cx, cy])
    to_c = c - world.source_xy[src]
    dist = np.hypot(to_c[:, 0], to_c[:, 1])
    u = to_c / np.maximum(dist, 1.0)[:, None]
    d = 0.5 * u + 0.5 * normal                      # approach: half from the source, half straight in
    d /= np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]
    back = np.minimum(opt.approach_km * 1000.0, np.maximum(dist, 1000.0))
    start = c - d * back[:, None]
    end = c + normal * opt.inland_km * 1000.0
    return start, c, end


def _patrol_positions(world: World, day: int, t: float, phase: np.ndarray):
    """Where each patrol on duty is at time t (back and forth along its stretch, inside the line)."""
    opt = world.options
    st = world.patrol_stretches_km[day]
    on = np.isfinite(st[:, 0])
    a, b = st[on, 0], st[on, 1]
    length = np.maximum(b - a, 1e-3)
    travelled = (t * opt.patrol_speed_mps / 1000.0 + phase[on] * length) % (2 * length)
    ch = a + np.where(travelled <= length, travelled, 2 * length - travelled)
    x, y = world.border.point_at(ch)
    n = world.border.own_normal_at(ch).reshape(-1, 2)
    return np.flatnonzero(on), np.column_stack([x + n[:, 0] * opt.patrol_offset_m,
                                                y + n[:, 1] * opt.patrol_offset_m])


def run_once(world: World, seed: int, on_detections=None) -> RunOutcome:
    """Simulate one window with the given seed; returns a row per group and run totals.

    `on_detections(t, detections)`, when given, sees every batch the sensors
    send, just before the tracker does (to record a run for `borderwatch replay`).
    """
    wall0 = time.perf_counter()
    opt = world.options
    rng = np.random.default_rng(seed)
    src, size, vehicle, target, chain, cross_plan = _groups(world, rng)
    n = len(src)
    start, cross_pt, end = _routes(world, src, chain)
    seg1 = cross_pt - start
    seg2 = end - cross_pt
    l1 = np.hypot(seg1[:, 0], seg1[:, 1])
    l2 = np.hypot(seg2[:, 0], seg2[:, 1])
    h1 = seg1 / np.maximum(l1, 1e-9)[:, None]
    h2 = seg2 / np.maximum(l2, 1e-9)[:, None]
    v0 = np.where(vehicle, opt.vehicle_speed_mps, opt.foot_speed_mps)
    t_start = cross_plan - l1 / (0.9 * v0)
    s = np.where(t_start < 0, np.minimum(-t_start * 0.9 * v0, l1 - 1.0), 0.0)
    s = np.maximum(s, 0.0)
    visf = np.where(vehicle, opt.vehicle_visibility, 1.0) * np.sqrt(size / max(size.mean(), 1.0) if n else 1.0)

    cat = np.where(vehicle, VEHICLE, PERSON).astype(np.int8)
    n_t, n_o = world.n_towers, world.n_orbits
    day = opt.patrol_day
    n_p = world.n_patrols
    if n_p:
        day = int(rng.integers(world.patrol_stretches_km.shape[0])) if day is None else \
            int(day) % world.patrol_stretches_km.shape[0]
    phase = rng.random(max(n_p, 1))
    n_sensors = len(world.sensor_names)
    acquired = np.zeros((n, n_sensors), bool)

    tracker = Tracker(tracker_config(), sensors=world.sensor_names if n_sensors else ("none",))
    breaches = BreachDetector(world.border)

    cross_t = np.full(n, np.nan)
    first_det = np.full(n, np.inf)
    alert_t = np.full(n, np.nan)
    interdicted = np.zeros(n, bool)
    done = np.zeros(n, bool)
    stats = {"breaches": 0, "false_breaches": 0, "duplicate_alerts": 0, "detections": 0, "clutter": 0,
             "confirmed_tracks": 0, "person_steps": 0.0, "scans": 0, "report_trials": 0}
    step = opt.step_s
    horizon = (opt.hours + opt.tail_h) * 3600.0
    look_every = max(1, int(round(opt.look_s / step)))
    patrol_every = max(1, int(round(opt.patrol_look_s / step)))
    n_steps = int(np.ceil(horizon / step))
    night_lo, night_hi = opt.night_start_h, opt.night_end_h
    ever_confirmed = np.zeros(1024, bool)       # by track id: confirmed at some point
    raised: list = []                            # breaches are rare events: a list is fine

    for k in range(n_steps + 1):
        t = k * step
        active = np.flatnonzero((t_start <= t) & ~done)
        if len(active):
            # -- move -----------------------------------------------------------
            sa = s[active]
            first = sa < l1[active]
            head = np.where(first[:, None], h1[active], h2[active])
            pos = np.where(first[:, None], start[active] + h1[active] * sa[:, None],
                           cross_pt[active] + h2[active] * (sa - l1[active])[:, None])
            z0 = world.elevation_at(pos[:, 0], pos[:, 1])
            z1 = world.elevation_at(pos[:, 0] + head[:, 0] * 30.0, pos[:, 1] + head[:, 1] * 30.0)
            slope = (z1 - z0) / 30.0
            veh = vehicle[active]
            factor = np.where(veh, np.maximum(0.25, 1 - 4 * np.abs(slope)),
                              np.exp(-3.5 * np.abs(slope + 0.05)) / np.exp(-0.175))
            v = v0[active] * factor
            s_new = sa + v * step
            crossing = first & (s_new >= l1[active])
            if crossing.any():
                g = active[crossing]
                cross_t[g] = t + (l1[g] - sa[crossing]) / v[crossing]
            s[active] = s_new
            fin = s_new >= l1[active] + l2[active]
            done[active[fin]] = True
            stats["person_steps"] += float(size[active].sum()) * step

        tower_look = k % look_every == 0
        patrol_look = n_p > 0 and k % patrol_every == 0
        if not (tower_look or patrol_look):
            continue
        hour = (t / 3600.0) % 24.0
        night = hour >= night_lo or hour < night_hi
        batches = []
        if len(active):
            pos = _position(active, s, l1, start, cross_pt, h1, h2)
            if tower_look and n_t:
                batches += _towers_look(world, rng, t, active, pos, acquired, visf, cat, night, stats)
            if tower_look and n_o:
                batches += _air_look(world, rng, t, active, pos, acquired, visf, cat, night, stats)
            if patrol_look:
                batches += _patrols_look(world, rng, t, day, phase, active, pos, acquired, visf, cat, night, stats)
            for b, groups in batches:
                first_det[groups] = np.minimum(first_det[groups], t)
        if tower_look:
            batches += _clutter(world, rng, t, stats)
        dets = Detections.concat([b for b, _ in batches]) if batches else None
        if dets is None or len(dets) == 0:
            continue
        stats["detections"] += len(dets)
        stats["scans"] += 1
        if on_detections is not None:
            on_detections(t, dets)
        tracker.step(dets)
        new = breaches.update(tracker)
        if new:
            matched = _match(world, tracker, new, t, active, s, l1, start, cross_pt, h1, h2, v0, alert_t,
                             interdicted, day, phase, stats)
            raised.extend(zip(new, matched))
        ids = tracker.estimates().id
        if len(ids):
            if ids[-1] >= len(ever_confirmed):
                ever_confirmed = np.concatenate([ever_confirmed, np.zeros(2 * int(ids[-1]) + 1, bool)])
            ever_confirmed[ids] = True

    crossed = np.isfinite(cross_t) & (cross_t <= opt.hours * 3600.0 + opt.tail_h * 3600.0)
    first_detect_t = np.where(np.isfinite(first_det), first_det, np.nan)
    detected_before = np.isfinite(first_det) & (~crossed | (first_det <= np.where(crossed, cross_t, np.inf)))
    alerted = np.isfinite(alert_t)
    delay = np.where(alerted & crossed, alert_t - cross_t, np.nan)
    stats["confirmed_tracks"] = int(ever_confirmed.sum())
    stats["wall_s"] = time.perf_counter() - wall0
    groups = {
        "group": np.arange(n, dtype=np.int64), "source": src, "size": size.astype(np.int64),
        "vehicle": vehicle, "target_km": chain, "crossed": crossed, "cross_t": np.where(crossed, cross_t, np.nan),
        "detected_before": detected_before & crossed, "first_detect_t": first_detect_t, "alerted": alerted,
        "alert_t": alert_t, "alert_delay_s": delay, "interdicted": interdicted,
    }
    return RunOutcome(int(seed), groups, {k: float(v) for k, v in stats.items()}, tuple(raised))


def _position(idx, s, l1, start, cross_pt, h1, h2) -> np.ndarray:
    sa = s[idx]
    first = sa < l1[idx]
    return np.where(first[:, None], start[idx] + h1[idx] * sa[:, None],
                    cross_pt[idx] + h2[idx] * (sa - l1[idx])[:, None])


def _acquire(rng, acquired, g, sensor, rate, look_s, stats):
    """Pairs (g, sensor) in view: acquire with probability 1 - exp(-rate·look), report with P_TRACK."""
    was = acquired[g, sensor]
    new = ~was & (rng.random(len(g)) < 1.0 - np.exp(-rate * look_s))
    now = was | new
    acquired[g, sensor] = now
    report = now & (rng.random(len(g)) < P_TRACK)
    stats["report_trials"] += int(now.sum())
    return report


def _lose(acquired, active, sensors_block, in_view_pairs_g, in_view_pairs_s):
    """Groups out of view of a sensor lose its lock."""
    keep = np.zeros((len(active), len(sensors_block)), bool)
    keep[in_view_pairs_g, in_view_pairs_s] = True
    sub = acquired[np.ix_(active, sensors_block)]
    acquired[np.ix_(active, sensors_block)] = sub & keep


def _towers_look(world: World, rng, t, active, pos, acquired, visf, cat, night, stats):
    opt = world.options
    k_t = world.n_towers
    dx = pos[:, None, 0] - world.tower_xy[None, :, 0]
    dy = pos[:, None, 1] - world.tower_xy[None, :, 1]
    r = np.hypot(dx, dy)
    gi, ki = np.nonzero(r < world.tower_range_m)
    if len(gi):
        row = np.floor((world.grid_y0 - pos[gi, 1]) / world.grid_res).astype(np.int64) - world.tower_rc0[ki, 0]
        col = np.floor((pos[gi, 0] - world.grid_x0) / world.grid_res).astype(np.int64) - world.tower_rc0[ki, 1]
        h, w = world.tower_vis.shape[1:]
        ok = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        vis = np.zeros(len(gi), bool)
        vis[ok] = world.tower_vis[ki[ok], row[ok], col[ok]]
        gi, ki = gi[vis], ki[vis]
    _lose(acquired, active, np.arange(k_t), gi, ki)
    if not len(gi):
        return []
    g = active[gi]
    rr = r[gi, ki]
    rate = world.tower_rate * np.maximum(0.0, 1 - (rr / world.tower_range_m) ** 2) * visf[g] \
        * (opt.tower_night_factor if night else 1.0)
    rep = _acquire(rng, acquired, g, ki, rate, opt.look_s, stats)
    if not rep.any():
        return []
    g, ki, rr = g[rep], ki[rep], rr[rep]
    p = pos[gi[rep]]
    brg = np.arctan2(p[:, 0] - world.tower_xy[ki, 0], p[:, 1] - world.tower_xy[ki, 1])
    m_r = np.maximum(rr + rng.normal(0, opt.tower_sigma_range_m, len(g)), 1.0)
    m_b = brg + rng.normal(0, opt.tower_sigma_bearing_rad, len(g))
    x, y, cov = range_bearing_to_xy(world.tower_xy[ki, 0], world.tower_xy[ki, 1], m_r, m_b,
                                    opt.tower_sigma_range_m, opt.tower_sigma_bearing_rad)
    return [(Detections(t, x, y, cov, ki, cat[g]), g)]


def _air_look(world: World, rng, t, active, pos, acquired, visf, cat, night, stats):
    opt = world.options
    n_t, n_o = world.n_towers, world.n_orbits
    on = world.orbit_on
    here = (on[:, 1] <= t) & (t < on[:, 2])
    orbits = np.unique(on[here, 0].astype(np.int64))
    block = n_t + np.arange(n_o)
    if not len(orbits):
        _lose(acquired, active, block, np.zeros(0, np.int64), np.zeros(0, np.int64))
        return []
    c = world.orbit_xy[orbits]
    r = np.hypot(pos[:, None, 0] - c[None, :, 0], pos[:, None, 1] - c[None, :, 1])
    gi, oi = np.nonzero(r < opt.orbit_radius_km * 1000.0)
    oi = orbits[oi]
    _lose(acquired, active, block, gi, oi)
    if not len(gi):
        return []
    g = active[gi]
    rate = np.full(len(g), world.air_rate) * visf[g] * (opt.air_night_factor if night else 1.0)
    rep = _acquire(rng, acquired, g, n_t + oi, rate, opt.look_s, stats)
    if not rep.any():
        return []
    g, oi = g[rep], oi[rep]
    p = pos[gi[rep]] + rng.normal(0, opt.air_sigma_m, (len(g), 2))
    return [(Detections.position(t, p[:, 0], p[:, 1], opt.air_sigma_m, n_t + oi, cat[g]), g)]


def _patrols_look(world: World, rng, t, day, phase, active, pos, acquired, visf, cat, night, stats):
    opt = world.options
    base = world.n_towers + world.n_orbits
    units, ppos = _patrol_positions(world, day, t, phase)
    block = base + np.arange(world.n_patrols)
    if not len(units):
        return []
    r = np.hypot(pos[:, None, 0] - ppos[None, :, 0], pos[:, None, 1] - ppos[None, :, 1])
    gi, ui = np.nonzero(r < opt.patrol_radius_m)
    ui = units[ui]
    _lose(acquired, active, block, gi, ui)
    if not len(gi):
        return []
    g = active[gi]
    rate = np.full(len(g), world.patrol_rate) * visf[g] * (opt.patrol_night_factor if night else 1.0)
    rep = _acquire(rng, acquired, g, base + ui, rate, opt.patrol_look_s, stats)
    if not rep.any():
        return []
    g, ui = g[rep], ui[rep]
    p = pos[gi[rep]] + rng.normal(0, opt.patrol_sigma_m, (len(g), 2))
    return [(Detections.position(t, p[:, 0], p[:, 1], opt.patrol_sigma_m, base + ui, cat[g]), g)]


def _clutter(world: World, rng, t, stats):
    """False alarms: Poisson per tower (in its view) and per aircraft on station (in its disc)."""
    opt = world.options
    out = []
    n_t = world.n_towers
    if n_t and opt.tower_clutter_per_h > 0:
        counts = rng.poisson(opt.tower_clutter_per_h * opt.look_s / 3600.0, n_t)
        for k in np.flatnonzero(counts):
            rows, cols = np.nonzero(world.tower_vis[k])
            if not len(rows):
                continue
            pick = rng.integers(len(rows), size=counts[k])
            x = world.grid_x0 + (world.tower_rc0[k, 1] + cols[pick] + rng.random(counts[k])) * world.grid_res
            y = world.grid_y0 - (world.tower_rc0[k, 0] + rows[pick] + rng.random(counts[k])) * world.grid_res
            r = np.hypot(x - world.tower_xy[k, 0], y - world.tower_xy[k, 1])
            b = np.arctan2(x - world.tower_xy[k, 0], y - world.tower_xy[k, 1])
            xx, yy, cov = range_bearing_to_xy(world.tower_xy[k, 0], world.tower_xy[k, 1], r, b,
                                              opt.tower_sigma_range_m, opt.tower_sigma_bearing_rad)
            out.append((Detections(t, xx, yy, cov, k), np.zeros(0, np.int64)))
            stats["clutter"] += int(counts[k])
    if world.n_orbits and opt.air_clutter_per_h > 0:
        on = world.orbit_on
        here = np.unique(on[(on[:, 1] <= t) & (t < on[:, 2]), 0].astype(np.int64))
        if len(here):
            counts = rng.poisson(opt.air_clutter_per_h * opt.look_s / 3600.0, len(here))
            for o, c in zip(here, counts):
                if c == 0:
                    continue
                rad = opt.orbit_radius_km * 1000.0 * np.sqrt(rng.random(c))
                ang = rng.random(c) * 2 * np.pi
                x = world.orbit_xy[o, 0] + rad * np.cos(ang)
                y = world.orbit_xy[o, 1] + rad * np.sin(ang)
                out.append((Detections.position(t, x, y, opt.air_sigma_m, n_t + o), np.zeros(0, np.int64)))
                stats["clutter"] += int(c)
    return out


def _match(world, tracker, new, t, active, s, l1, start, cross_pt, h1, h2, v0, alert_t, interdicted,
           day, phase, stats):
    """Attribute each new breach to the group whose position is nearest its track; else a false breach."""
    opt = world.options
    est = tracker.estimates()
    stats["breaches"] += len(new)
    matched = [-1] * len(new)
    if not len(active):
        stats["false_breaches"] += len(new)
        return matched
    pos = _position(active, s, l1, start, cross_pt, h1, h2)
    for i, b in enumerate(new):
        row = np.searchsorted(est.id, b.track_id)
        if row >= len(est.id) or est.id[row] != b.track_id:
            stats["false_breaches"] += 1
            continue
        d = np.hypot(pos[:, 0] - est.state[row, 0], pos[:, 1] - est.state[row, 1])
        j = int(np.argmin(d))
        if d[j] > MATCH_M:
            stats["false_breaches"] += 1
            continue
        g = active[j]
        matched[i] = int(g)
        if np.isfinite(alert_t[g]):
            stats["duplicate_alerts"] += 1
            continue
        alert_t[g] = t
        # Interdiction: can a patrol on duty reach the group before it is interdiction_km inside?
        if world.n_patrols:
            _, ppos = _patrol_positions(world, day, t, phase)
            if len(ppos):
                inside = max(0.0, s[g] - l1[g])
                budget = (opt.interdiction_km * 1000.0 - inside) / v0[g]
                dist = np.hypot(ppos[:, 0] - pos[j, 0], ppos[:, 1] - pos[j, 1]).min()
                closing = max(opt.patrol_speed_mps - v0[g], 0.5)
                interdicted[g] = budget > 0 and dist / closing <= budget
    return matched


