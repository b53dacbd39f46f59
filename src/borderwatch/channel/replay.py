"""Replay a simulated window's sensor reports into a TAK server as CoT sightings.

Two halves:

- `record(scenario, plan, hours=..., seed=..., out=...)` runs the
  simulator (`borderwatch.sim.engine.run_once`) for a short window and keeps
  every batch its sensors send (its `on_detections` hook), saved to
  ``detections.npz``: time, lon/lat, 1σ circular error, sensor name, class.
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


def record(scenario: Any, plan: Any, *, hours: float = 1.0, seed: int = 0, share: float | None = None,
           out: str | Path | None = None, options: Any = None) -> Recorded:
    """Simulate `hours` of crossings against `plan` and keep every sensor report; saved to
    ``out/detections.npz`` when `out` is given."""
    from borderwatch.sim.engine import run_once
    from borderwatch.sim.options import SimOptions
    from borderwatch.sim.world import prepare
    from borderwatch.track.detections import Detections
    from .cot_bridge import circular_error_m

    if not hours > 0:
        raise SimError(f"hours must be > 0, got {hours:g}")
    if options is None:
        options = SimOptions(hours=hours, tail_h=0.0) if share is None else \
            SimOptions(hours=hours, tail_h=0.0, share=share)
    world = prepare(scenario, plan, options)
    batches: list[Detections] = []
    run_once(world, seed, on_detections=lambda t, d: batches.append(d))
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
