"""Replay a simulated window's sensor reports into a TAK server as CoT sightings.

Two halves:

- `record(scenario, plan, hours=..., seed=..., out=...)` runs the
  simulator's own world (`borderwatch.sim.world.prepare`) and the engine's
  own movement and sensing functions (towers, aircraft, patrols, clutter)
  for a short window and saves every report to ``detections.npz``: time,
  lon/lat, 1σ circular error, sensor name, class. It is `run_once` without
  the tracker and the outcome bookkeeping: the engine has no hook to hand
  its detections out, so this loop repeats its movement step (see
  `_advance`) and calls its look functions as it does.
- `replay(run_dir, host, port, ...)` sends them, paced at `speed` × real
  time, as CoT sightings (``a-h-G-U-C-I`` people, ``a-h-G-E-V`` vehicles,
  ``a-u-G`` clutter-or-unknown) over TCP or over TLS with a party's client
  certificate. Each report's time is the replay's start plus its simulated
  time, so the server's tracker sees the simulated motion at its own speed
  whatever the pacing. The callsign is the sensor's name, so each sensor is
  one reporter for the tracker.
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ChannelError, SimError
from .cot import CotEvent, to_cot_xml

DETECTIONS_FILE = "detections.npz"
PLAN_FILE = "plan-full.json"
_TYPE = {0: "a-h-G-U-C-I", 1: "a-h-G-E-V", -1: "a-u-G"}


@dataclass(frozen=True, slots=True)
class Recorded:
    """Sensor reports of one simulated window, in time order."""

    scenario: str
    seed: int
    hours: float
    t: np.ndarray            # seconds from the window's start
    lon: np.ndarray
    lat: np.ndarray
    sigma_m: np.ndarray      # 1σ circular error (worst axis of the report's covariance)
    sensor: np.ndarray       # index into sensors
    category: np.ndarray     # -1 unknown (clutter), 0 person, 1 vehicle
    sensors: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.t)


def _advance(world, opt, k, step, t_start, done, s, l1, l2, start, cross_pt, h1, h2, v0, vehicle):
    """Move every active group one step: `run_once`'s movement (Tobler on foot, slope-limited vehicles)."""
    t = k * step
    active = np.flatnonzero((t_start <= t) & ~done)
    if len(active):
        sa = s[active]
        first = sa < l1[active]
        head = np.where(first[:, None], h1[active], h2[active])
        pos = np.where(first[:, None], start[active] + h1[active] * sa[:, None],
                       cross_pt[active] + h2[active] * (sa - l1[active])[:, None])
        z0 = world.elevation_at(pos[:, 0], pos[:, 1])
        z1 = world.elevation_at(pos[:, 0] + head[:, 0] * 30.0, pos[:, 1] + head[:, 1] * 30.0)
        slope = (z1 - z0) / 30.0
        factor = np.where(vehicle[active], np.maximum(0.25, 1 - 4 * np.abs(slope)),
                          np.exp(-3.5 * np.abs(slope + 0.05)) / np.exp(-0.175))
        s_new = sa + v0[active] * factor * step
        s[active] = s_new
        done[active[s_new >= l1[active] + l2[active]]] = True
    return t, active


def record(scenario: Any, plan: Any, *, hours: float = 1.0, seed: int = 0, share: float | None = None,
           out: str | Path | None = None, options: Any = None) -> Recorded:
    """Simulate `hours` of crossings against `plan` and keep every sensor report; saved to
    ``out/detections.npz`` when `out` is given."""
    from borderwatch.sim import engine as E
    from borderwatch.sim.options import SimOptions
    from borderwatch.sim.world import prepare
    from borderwatch.track.detections import Detections
    from borderwatch.track.detections import PERSON, VEHICLE
    from .cot_bridge import circular_error_m

    if not hours > 0:
        raise SimError(f"hours must be > 0, got {hours:g}")
    if options is None:
        options = SimOptions(hours=hours, tail_h=0.0) if share is None else \
            SimOptions(hours=hours, tail_h=0.0, share=share)
    world = prepare(scenario, plan, options)
    opt = world.options
    rng = np.random.default_rng(seed)
    src, size, vehicle, target, chain, cross_plan = E._groups(world, rng)
    n = len(src)
    start, cross_pt, end = E._routes(world, src, chain)
    seg1, seg2 = cross_pt - start, end - cross_pt
    l1, l2 = np.hypot(seg1[:, 0], seg1[:, 1]), np.hypot(seg2[:, 0], seg2[:, 1])
    h1 = seg1 / np.maximum(l1, 1e-9)[:, None]
    h2 = seg2 / np.maximum(l2, 1e-9)[:, None]
    v0 = np.where(vehicle, opt.vehicle_speed_mps, opt.foot_speed_mps)
    t_start = cross_plan - l1 / (0.9 * v0)
    s = np.maximum(np.where(t_start < 0, np.minimum(-t_start * 0.9 * v0, l1 - 1.0), 0.0), 0.0)
    visf = np.where(vehicle, opt.vehicle_visibility, 1.0) * np.sqrt(size / max(size.mean(), 1.0) if n else 1.0)
    cat = np.where(vehicle, VEHICLE, PERSON).astype(np.int8)
    n_p = world.n_patrols
    day = opt.patrol_day
    if n_p:
        day = int(rng.integers(world.patrol_stretches_km.shape[0])) if day is None else \
            int(day) % world.patrol_stretches_km.shape[0]
    phase = rng.random(max(n_p, 1))
    acquired = np.zeros((n, len(world.sensor_names)), bool)
    done = np.zeros(n, bool)
    stats: dict[str, float] = {"detections": 0, "clutter": 0, "report_trials": 0}
    step = opt.step_s
    look_every = max(1, int(round(opt.look_s / step)))
    patrol_every = max(1, int(round(opt.patrol_look_s / step)))
    batches: list[Detections] = []
    for k in range(int(np.ceil((opt.hours + opt.tail_h) * 3600.0 / step)) + 1):
        t, active = _advance(world, opt, k, step, t_start, done, s, l1, l2, start, cross_pt, h1, h2, v0,
                             vehicle)
        tower_look = k % look_every == 0
        patrol_look = n_p > 0 and k % patrol_every == 0
        if not (tower_look or patrol_look):
            continue
        hour = (t / 3600.0) % 24.0
        night = hour >= opt.night_start_h or hour < opt.night_end_h
        found = []
        if len(active):
            pos = E._position(active, s, l1, start, cross_pt, h1, h2)
            if tower_look and world.n_towers:
                found += E._towers_look(world, rng, t, active, pos, acquired, visf, cat, night, stats)
            if tower_look and world.n_orbits:
                found += E._air_look(world, rng, t, active, pos, acquired, visf, cat, night, stats)
            if patrol_look:
                found += E._patrols_look(world, rng, t, day, phase, active, pos, acquired, visf, cat, night,
                                         stats)
        if tower_look:
            found += E._clutter(world, rng, t, stats)
        batches += [d for d, _ in found if len(d)]
    dets = Detections.concat(batches) if batches else Detections.empty()
    order = np.argsort(dets.t, kind="stable")
    lon, lat = world.border.projection.to_lonlat(dets.x[order], dets.y[order])
    rec = Recorded(scenario.name, int(seed), float(hours), np.asarray(dets.t[order], float),
                   np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float)),
                   circular_error_m(dets.cov[order]) if len(dets) else np.empty(0),
                   np.asarray(dets.sensor[order], np.int32), np.asarray(dets.category[order], np.int8),
                   tuple(world.sensor_names))
    if out is not None:
        save(rec, out)
    return rec


def save(rec: Recorded, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DETECTIONS_FILE
    tmp = folder / f".{DETECTIONS_FILE}.tmp.npz"
    np.savez_compressed(tmp, t=rec.t, lon=rec.lon, lat=rec.lat, sigma_m=rec.sigma_m, sensor=rec.sensor,
                        category=rec.category, sensors=np.array(rec.sensors),
                        meta=np.array(json.dumps({"scenario": rec.scenario, "seed": rec.seed,
                                                  "hours": rec.hours})))
    tmp.replace(path)
    return path


def load(run_dir: str | Path) -> Recorded:
    """``detections.npz`` from a run folder (or the file itself)."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / DETECTIONS_FILE
    if not path.is_file():
        raise ChannelError(f"{path}: no recorded detections (record them with `borderwatch replay RUN_DIR "
                           f"--record`, from the run's {PLAN_FILE})")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return Recorded(meta["scenario"], int(meta["seed"]), float(meta["hours"]), z["t"], z["lon"],
                            z["lat"], z["sigma_m"], z["sensor"], z["category"],
                            tuple(str(s) for s in z["sensors"]))
    except (OSError, KeyError, ValueError) as exc:
        raise ChannelError(f"{path}: not a detections file ({exc})") from None


def sightings(rec: Recorded, base: datetime, *, stale_s: float = 60.0, start: int = 0, stop: int | None = None):
    """CoT sighting events for rows [start, stop) of `rec`, times `base` + simulated time."""
    for i in range(start, len(rec) if stop is None else stop):
        when = base + timedelta(seconds=float(rec.t[i]))
        name = rec.sensors[int(rec.sensor[i])]
        yield CotEvent(uid=f"replay-{name}-{i}", type=_TYPE.get(int(rec.category[i]), "a-u-G"), how="m-r",
                       time=when, start=when, stale=when + timedelta(seconds=stale_s),
                       lat=float(rec.lat[i]), lon=float(rec.lon[i]), ce=max(float(rec.sigma_m[i]), 1.0),
                       callsign=name)


def client_ssl(deployment: Any, party: str) -> ssl.SSLContext:
    """Client side of mutual TLS with `party`'s certificate, trusting only the deployment's CA."""
    deployment.party(party)
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(deployment.ca_cert_path))
    ctx.load_cert_chain(deployment.client_cert_path(party), deployment.client_key_path(party))
    return ctx


async def replay(rec: Recorded, host: str, port: int, *, speed: float = 60.0, ssl_context: ssl.SSLContext | None = None,
                 base: datetime | None = None, progress=None) -> dict[str, float]:
    """Send `rec` as CoT sightings to ``host:port``, `speed` × real time (``math.inf``: at once).

    Returns counts and timings. `progress(sent, total)` is called now and then.
    """
    if not speed > 0:
        raise ChannelError(f"speed must be > 0, got {speed}")
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context)
    except (OSError, ssl.SSLError) as exc:
        raise ChannelError(f"cannot connect to {host}:{port} ({exc})") from None
    base = base or datetime.now(timezone.utc)
    t0 = time.perf_counter()
    sent = 0
    try:
        i = 0
        while i < len(rec):
            j = i + 1
            while j < len(rec) and rec.t[j] == rec.t[i]:     # one look: sent together
                j += 1
            if math.isfinite(speed):
                wait = (rec.t[i] - rec.t[0]) / speed - (time.perf_counter() - t0)
                if wait > 0:
                    await asyncio.sleep(wait)
            writer.write(b"".join(to_cot_xml(e) for e in sightings(rec, base, start=i, stop=j)))
            sent += j - i
            if sent % 2000 < j - i or j == len(rec):
                await writer.drain()
                if progress is not None:
                    progress(sent, len(rec))
            i = j
        await writer.drain()
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 2.0)
        except (OSError, ssl.SSLError, asyncio.TimeoutError):
            pass
    wall = time.perf_counter() - t0
    return {"sent": sent, "wall_s": wall, "simulated_s": float(rec.t[-1] - rec.t[0]) if len(rec) else 0.0}
