"""TAK load test: N field clients × R sightings/s for S seconds, the tracker at T targets, on loopback.

    python bench/load_tak.py [CLIENTS [RATE [SECONDS [TARGETS]]]] [--crossers K] [--json FILE]

(default 200 clients × 10/s × 60 s, 13,000 targets: issue #11, "Load").

The real server runs as a subprocess, exactly as an operator starts it:

    python -m borderwatch.cli serve DEP --tls-port P1 --tcp-port P2 --tcp-party sy-gov --http-port 0

on a fresh Iraq–Syria deployment (`create_deployment(load_scenario("iraq-syria"))`).
This process is the load generator (one asyncio loop):

- **senders**: CLIENTS plain-TCP connections (party ``sy-gov``, the TCP party,
  which the bundled policy sends breaches but no sightings or tracks, so the
  load clients are not also a 200-way fan-out of each other's reports), each
  with its own callsign, i.e. its own tracker sensor. TARGETS simulated
  people stand 400 m–3 km on the foreign side of the line and walk at
  1.2–1.5 m/s; each sender watches its own stretch of the border (the
  TARGETS/CLIENTS people nearest along the line) and reports each
  once per sweep, sweep period = TARGETS / (CLIENTS × RATE) (6.5 s at the
  defaults). A report carries its sweep's start as its CoT time (a sensor
  sweep: the tracker's M-of-N confirmation counts scans, so every person
  must be in every scan), and ``<remarks>s=<send time ns></remarks>``.
  K of the people (default ~TARGETS/360, at most 40) walk straight at the
  line and cross it between 45 % and 85 % of the run: they must raise breaches.
  Senders are open loop at the schedule; if the server pushes back
  (TCP window full), a sender writes what is due when it can again.
- **receivers**: one mutual-TLS client for each of ``iq-mod``, ``us``
  (sightings, tracks, breaches), ``sdf`` (tracks, breaches) and ``tr``
  (breaches only). Senders are receivers of breaches too.

Measured: sightings sent/s; accepted/s (sighting envelopes the server signed
and stored whose ``created`` falls in the send window); delivered events/s
(everything every client read); send→receive latency of relayed sightings
(p50/p99, at the ``iq-mod`` and ``us`` receivers); distinct confirmed tracks
the ``sdf`` receiver saw in the last sweep (the tracker's size); server RSS
from /proc every 2 s (at the end of warm-up, at the end, slope after
warm-up); server CPU (utime+stime) per thread; alerts: every ``breach``
envelope in the store after the run must have reached every connected
client as a ``b-a-g`` event with the same uid: lost = (breaches × clients)
− received. Rejections = sent − stored sightings.

Everything runs on one machine: the generator competes with the server for
its cores, so the figures are what one box does end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tak import _free_port, _wait_port  # noqa: E402  (the same loopback helpers)

SENDER_PARTY = "sy-gov"
RECEIVERS = ("iq-mod", "us", "sdf", "tr")
_LAT = re.compile(rb"<remarks>s=(\d+)</remarks>")
_ALERT = re.compile(rb'uid="(borderwatch-breach-[0-9-]+)"')
_TRACK = re.compile(rb'uid="borderwatch-track-(\d+)"')
_END = b"</event>"


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user+system) per thread of `pid`, keyed "name:tid" (the event loop: "loop")."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    try:
        for d in Path(f"/proc/{pid}/task").iterdir():
            try:
                head, tail = (d / "stat").read_text().rsplit(")", 1)
                f = tail.split()
                name = "loop" if int(d.name) == pid else f"{head.split('(', 1)[1]}:{d.name}"
                out[name] = (int(f[11]) + int(f[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
    except OSError:
        pass
    return out


@dataclass
class People:
    """Where each simulated person is at time t (seconds after the start), in lon/lat."""

    x0: np.ndarray
    y0: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    crossers: np.ndarray          # indices of the people who walk across the line
    projection: object

    def at(self, t: float, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self.projection.to_lonlat(self.x0[idx] + self.vx[idx] * t, self.y0[idx] + self.vy[idx] * t)
        return np.atleast_1d(lon), np.atleast_1d(lat)


def make_people(border, n: int, n_cross: int, seconds: float, horizon: float, seed: int = 0) -> People:
    """n people on the foreign side; n_cross of them cross between 45 % and 85 % of `seconds`;
    the others stay more than 250 m from the line until `horizon` s."""
    rng = np.random.default_rng(seed)
    length = border.length_km
    km = rng.uniform(0.02 * length, 0.98 * length, n)
    px, py = border.point_at(km)
    normal = border.own_normal_at(km)
    off = -rng.uniform(400.0, 3000.0, n)
    speed = rng.uniform(1.2, 1.5, n)
    ang = rng.uniform(0, 2 * np.pi, n)
    vx, vy = speed * np.cos(ang), speed * np.sin(ang)
    x0, y0 = px + normal[:, 0] * off, py + normal[:, 1] * off
    # Crossers: walk along the own normal, on the line at t_cross.
    cross = rng.choice(n, n_cross, replace=False) if n_cross else np.empty(0, np.int64)
    t_cross = rng.uniform(0.45 * seconds, 0.85 * seconds, n_cross)
    sp = speed[cross]
    x0[cross] = px[cross] - normal[cross, 0] * sp * t_cross
    y0[cross] = py[cross] - normal[cross, 1] * sp * t_cross
    vx[cross], vy[cross] = normal[cross, 0] * sp, normal[cross, 1] * sp
    # Everyone else: stays well on the foreign side (a bend in the line could bring one close).
    others = np.setdiff1d(np.arange(n), cross)
    for _ in range(50):
        d0 = border.locate(x0[others], y0[others]).signed_distance_m
        d1 = border.locate(x0[others] + vx[others] * horizon, y0[others] + vy[others] * horizon).signed_distance_m
        bad = others[(d0 > -250) | (d1 > -250)]
        if len(bad) == 0:
            break
        vx[bad], vy[bad] = -vx[bad], -vy[bad]
        x0[bad] -= normal[bad, 0] * 300.0
        y0[bad] -= normal[bad, 1] * 300.0
    return People(x0, y0, vx, vy, np.sort(cross), border.projection)


@dataclass
class Inbox:
    """What one client read: events, breach uids, relayed-sighting latencies, track ids."""

    name: str
    events: int = 0
    alerts: set = field(default_factory=set)
    alert_times: dict = field(default_factory=dict)
    lat_ns: list = field(default_factory=list)
    tracks: list = field(default_factory=list)     # (recv time, track id), sdf only
    last: float = 0.0
    closed: str | None = None


async def _receive(reader: asyncio.StreamReader, box: Inbox, latency: bool, track_ids: bool) -> None:
    buf = b""
    try:
        while True:
            chunk = await reader.read(1 << 18)
            if not chunk:
                box.closed = "eof"
                return
            now = time.perf_counter_ns()
            box.last = time.perf_counter()
            buf += chunk
            cut = buf.rfind(_END)
            if cut < 0:
                continue
            part, buf = buf[:cut + len(_END)], buf[cut + len(_END):]
            box.events += part.count(_END)
            if b"borderwatch-breach-" in part:
                for m in _ALERT.findall(part):
                    uid = m.decode()
                    box.alerts.add(uid)
                    box.alert_times.setdefault(uid, now)
            if latency:
                box.lat_ns.extend(now - int(s) for s in _LAT.findall(part))
            if track_ids:
                t = box.last
                box.tracks.extend((t, int(i)) for i in _TRACK.findall(part))
    except (ConnectionError, OSError) as exc:
        box.closed = type(exc).__name__
    except asyncio.CancelledError:
        pass


async def _sender(k: int, writer: asyncio.StreamWriter, own: np.ndarray, people: People, rate: float,
                  sweep: float, t0: float, t0_wall: datetime, seconds: float, sent: list) -> None:
    from borderwatch.channel.cot import to_cot_xml
    from borderwatch.channel.tak_server import sighting_event

    callsign = f"LOAD-{k:03d}"
    i = 0
    phase = (k % 10) / (10 * rate)             # spread the clients' writes over a tick
    await asyncio.sleep(phase)
    while True:
        el = time.perf_counter() - t0
        if el >= seconds:
            break
        due = int(el * rate) + 1 - i
        if due > 0:
            sw = int(el // sweep)
            when = t0_wall + timedelta(seconds=sw * sweep)
            idx = own[(i + np.arange(due)) % len(own)]
            lon, lat = people.at(sw * sweep, idx)
            chunks = []
            for j in range(due):
                ns = time.perf_counter_ns()
                chunks.append(to_cot_xml(sighting_event(
                    f"load-person-{int(idx[j])}", float(lat[j]), float(lon[j]), callsign=callsign, when=when,
                    ce=10.0, stale_s=120.0, remarks=f"s={ns}")))
            writer.write(b"".join(chunks))
            await writer.drain()
            i += due
            sent[k] = i
        await asyncio.sleep(max(0.0, (i / rate) - (time.perf_counter() - t0)))


async def _generate(cfg: dict, tcp_port: int, tls_port: int, dep, pid: int, log) -> dict:
    from borderwatch.geo.border import Border
    from borderwatch.scenario import load_scenario

    clients, rate, seconds, targets = cfg["clients"], cfg["rate"], cfg["seconds"], cfg["targets"]
    sweep = targets / (clients * rate)
    border = Border.from_scenario(load_scenario("iraq-syria"))
    people = make_people(border, targets, cfg["crossers"], seconds, seconds + cfg["drain_s"] + 30)
    # Each sender is a field unit watching its own stretch of the border: the people nearest
    # along the line (by chainage at the start), TARGETS/CLIENTS of them.
    owners = np.array_split(np.argsort(border.locate(people.x0, people.y0).chainage_km, kind="stable"), clients)

    def ctx(party: str) -> ssl.SSLContext:
        c = ssl.create_default_context(cafile=str(dep.ca_cert_path))
        c.load_cert_chain(dep.client_cert_path(party), dep.client_key_path(party))
        return c

    boxes: list[Inbox] = []
    tasks = []
    writers = []
    for party in RECEIVERS:
        r, w = await asyncio.open_connection("127.0.0.1", tls_port, ssl=ctx(party), limit=1 << 20)
        box = Inbox(party)
        boxes.append(box)
        writers.append(w)
        tasks.append(asyncio.create_task(_receive(r, box, party in ("iq-mod", "us"), party == "sdf")))
    send_writers = []
    for k in range(clients):
        r, w = await asyncio.open_connection("127.0.0.1", tcp_port, limit=1 << 20)
        box = Inbox(f"sender-{k}")
        boxes.append(box)
        send_writers.append(w)
        tasks.append(asyncio.create_task(_receive(r, box, False, False)))
    await asyncio.sleep(1.0 + clients / 200)
    log(f"connected {len(RECEIVERS)} TLS receivers and {clients} TCP senders; sweep {sweep:.2f} s, "
        f"{len(people.crossers)} crossers")

    rss: list[tuple[float, int]] = []
    cpu0 = _thread_cpu(pid)
    stop_sampling = asyncio.Event()

    async def sample() -> None:
        while not stop_sampling.is_set():
            v = _rss_kb(pid)
            if v is not None:
                rss.append((time.perf_counter() - t0, v))
            try:
                await asyncio.wait_for(stop_sampling.wait(), cfg["sample_s"])
            except asyncio.TimeoutError:
                pass

    sent = [0] * clients
    t0 = time.perf_counter()
    t0_wall = datetime.now(timezone.utc)
    sampler = asyncio.create_task(sample())
    progress_at = 10.0

    senders = [asyncio.create_task(_sender(k, send_writers[k], owners[k], people, rate, sweep, t0, t0_wall,
                                           seconds, sent)) for k in range(clients)]
    while not all(s.done() for s in senders):
        await asyncio.sleep(0.5)
        el = time.perf_counter() - t0
        if el >= progress_at:
            progress_at += 10.0
            log(f"  t={el:4.0f} s: sent {sum(sent):,}, delivered {sum(b.events for b in boxes):,}, "
                f"RSS {rss[-1][1] / 1024 if rss else float('nan'):.0f} MiB")
    for s in senders:
        s.result()
    t_send = time.perf_counter() - t0
    cpu_send = _thread_cpu(pid)
    # Drain: until every sighting sent has been relayed to iq-mod (which receives them all:
    # the server has worked through its backlog) and then nothing has arrived anywhere for
    # quiet_s (the last tracks and breaches are out), or drain_s.
    relay = next(b for b in boxes if b.name == "iq-mod")
    total = sum(sent)
    end = time.perf_counter() + cfg["drain_s"]
    while time.perf_counter() < end:
        await asyncio.sleep(0.25)
        last = max(b.last for b in boxes)
        if len(relay.lat_ns) >= total and time.perf_counter() - last > cfg["quiet_s"]:
            break
    t_drained = time.perf_counter() - t0
    stop_sampling.set()
    await sampler
    cpu1 = _thread_cpu(pid)
    for t in tasks:
        t.cancel()
    for w in writers + send_writers:
        w.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"boxes": boxes, "sent": sum(sent), "t_send": t_send, "t_drained": t_drained, "rss": rss,
            "cpu0": cpu0, "cpu_send": cpu_send, "cpu1": cpu1, "t0_wall": t0_wall, "sweep": sweep,
            "crossers": len(people.crossers), "pid": pid}


def _search_all(store, party: str, **filters) -> list:
    out, after = [], 0
    while True:
        page = store.search(party, after=after, limit=10_000, **filters)
        if not page:
            return out
        out += page
        after = page[-1].position


def run(clients: int = 200, rate: float = 10.0, seconds: float = 60.0, targets: int = 13_000,
        crossers: int | None = None, warmup_s: float | None = None, drain_s: float = 90.0,
        quiet_s: float = 4.0, sample_s: float = 2.0, folder: Path | None = None, log=print) -> dict:
    """Run the load test once; returns the figures (see the module docstring)."""
    from borderwatch.channel import Store, create_deployment
    from borderwatch.scenario import load_scenario

    crossers = min(40, max(4, targets // 360)) if crossers is None else crossers
    warmup_s = max(10.0, seconds / 3) if warmup_s is None else warmup_s
    own_folder = folder is None
    folder = Path(tempfile.mkdtemp(prefix="load-tak-")) if folder is None else Path(folder)
    dep_dir = folder / "dep"
    dep = create_deployment(load_scenario("iraq-syria"), dep_dir)
    tcp_port, tls_port = _free_port(), _free_port()
    cmd = [sys.executable, "-m", "borderwatch.cli", "serve", str(dep_dir), "--tls-port", str(tls_port),
           "--tcp-port", str(tcp_port), "--tcp-party", SENDER_PARTY, "--http-port", "0",
           "--stats-every", "5"]
    server_log = folder / "server.log"
    with open(server_log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    cfg = {"clients": clients, "rate": rate, "seconds": seconds, "targets": targets, "crossers": crossers,
           "drain_s": drain_s, "quiet_s": quiet_s, "sample_s": sample_s}
    try:
        _wait_port(tcp_port, proc)
        _wait_port(tls_port, proc)
        log(f"server pid {proc.pid}: {' '.join(cmd[1:])}")
        g = asyncio.run(_generate(cfg, tcp_port, tls_port, dep, proc.pid, log))
        alive = proc.poll() is None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)           # serve closes the store cleanly on Ctrl-C
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    # What the server stored: every sighting it accepted, every breach it raised.
    with Store(str(dep_dir / "channel.db"), dep) as store:
        owner = dep.policy.owner
        breaches = [d.envelope.body for d in _search_all(store, owner, kind="breach")]
        # A sighting envelope holds the reports one unit's party sent together: count the reports.
        stored = sum(len(d.envelope.body["cot"]) for d in _search_all(store, owner, kind="sighting"))
        t_hi = g["t0_wall"] + timedelta(seconds=g["t_send"])
        late = sum(len(d.envelope.body["cot"]) for d in _search_all(store, owner, kind="sighting", since=t_hi))
        in_window = stored - late
    expected = {f"borderwatch-breach-{int(b['track_id'])}-{int(round(float(b['t']) * 1000))}" for b in breaches}
    boxes: list[Inbox] = g["boxes"]
    connected = [b for b in boxes if b.closed is None]
    lost = sum(len(expected - b.alerts) for b in connected)
    extra = sum(len(b.alerts - expected) for b in connected)
    lat = np.array([x for b in boxes for x in b.lat_ns], float) / 1e6
    sdf = next(b for b in boxes if b.name == "sdf")
    t_last = max((t for t, _ in sdf.tracks), default=0.0)
    recent = {i for t, i in sdf.tracks if t >= t_last - g["sweep"]}
    rss = g["rss"]
    warm = [v for t, v in rss if t <= warmup_s]
    after = [(t, v) for t, v in rss if t >= warmup_s]
    slope = float(np.polyfit([t for t, _ in after], [v for _, v in after], 1)[0]) * 60 / 1024 \
        if len(after) >= 3 else float("nan")
    def cpu(a: dict, b: dict) -> dict:
        return {name: round(b[name] - a.get(name, 0.0), 1) for name in b if b[name] - a.get(name, 0.0) >= 0.05}

    alert_skew = []
    for uid in expected:
        ts = [b.alert_times[uid] for b in connected if uid in b.alert_times]
        if len(ts) > 1:
            alert_skew.append((max(ts) - min(ts)) / 1e6)
    delivered = sum(b.events for b in boxes)
    out = {
        "clients": clients, "rate_per_client": rate, "seconds": seconds, "targets": targets,
        "sweep_s": round(g["sweep"], 3), "crossers": g["crossers"],
        "offered": int(clients * rate * seconds), "sent": g["sent"],
        "sent_per_s": g["sent"] / g["t_send"],
        "stored_sightings": stored, "accepted_per_s": in_window / g["t_send"],
        "stored_after_send_window": stored - in_window,
        "rejected_or_lost_sightings": g["sent"] - stored,
        "delivered": delivered, "delivered_per_s": delivered / g["t_drained"],
        "drain_s": round(g["t_drained"] - g["t_send"], 1),
        "latency_p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "latency_p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        "latency_max_ms": float(lat.max()) if len(lat) else float("nan"),
        "latency_samples": int(len(lat)),
        "confirmed_tracks_last_sweep": len(recent),
        "rss_warmup_mib": (warm[-1] / 1024) if warm else float("nan"),
        "rss_end_mib": rss[-1][1] / 1024 if rss else float("nan"),
        "rss_max_mib": max(v for _, v in rss) / 1024 if rss else float("nan"),
        "rss_slope_mib_per_min_after_warmup": slope, "warmup_s": warmup_s,
        "rss_series_mib": [(round(t, 1), round(v / 1024, 1)) for t, v in rss],
        "alerts_raised": len(expected), "clients_connected_at_end": len(connected),
        "alerts_expected": len(expected) * len(connected),
        "alerts_delivered": sum(len(expected & b.alerts) for b in connected),
        "alerts_lost": lost, "alerts_unexpected": extra,
        "alert_fanout_skew_ms_max": max(alert_skew) if alert_skew else float("nan"),
        "clients_closed": [(b.name, b.closed) for b in boxes if b.closed is not None],
        "server_alive_at_end": alive,
        "server_cpu_s_send_window": cpu(g["cpu0"], g["cpu_send"]),
        "server_cpu_s_total": cpu(g["cpu0"], g["cpu1"]),
        "server_log": str(server_log),
    }
    if own_folder and out["alerts_lost"] == 0 and alive:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        out["server_log"] = None
    return out


def summary(r: dict) -> str:
    return "\n".join([
        f"{r['clients']} clients × {r['rate_per_client']:g}/s × {r['seconds']:g} s, {r['targets']:,} targets "
        f"(sweep {r['sweep_s']:g} s), {r['crossers']} crossers",
        f"  sightings: offered {r['offered']:,}, sent {r['sent']:,} ({r['sent_per_s']:,.0f}/s), stored "
        f"{r['stored_sightings']:,} (accepted in the send window {r['accepted_per_s']:,.0f}/s, "
        f"{r['stored_after_send_window']:,} after it), missing {r['rejected_or_lost_sightings']:,}",
        f"  delivered {r['delivered']:,} events ({r['delivered_per_s']:,.0f}/s over send+drain, drain "
        f"{r['drain_s']:g} s); relayed-sighting latency p50 {r['latency_p50_ms']:.0f} ms, p99 "
        f"{r['latency_p99_ms']:.0f} ms, max {r['latency_max_ms']:.0f} ms ({r['latency_samples']:,} samples)",
        f"  confirmed tracks seen in the last sweep: {r['confirmed_tracks_last_sweep']:,}",
        f"  RSS: {r['rss_warmup_mib']:.0f} MiB at {r['warmup_s']:g} s warm-up, {r['rss_end_mib']:.0f} MiB at "
        f"the end (max {r['rss_max_mib']:.0f}), slope after warm-up "
        f"{r['rss_slope_mib_per_min_after_warmup']:+.1f} MiB/min",
        f"  alerts: {r['alerts_raised']} raised, {r['alerts_delivered']}/{r['alerts_expected']} delivered to "
        f"{r['clients_connected_at_end']} clients, lost {r['alerts_lost']}, unexpected {r['alerts_unexpected']}; "
        f"fan-out skew max {r['alert_fanout_skew_ms_max']:.0f} ms",
        f"  server CPU s (send window): {r['server_cpu_s_send_window']}; closed clients: {r['clients_closed']}",
    ])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("clients", nargs="?", type=int, default=200)
    p.add_argument("rate", nargs="?", type=float, default=10.0)
    p.add_argument("seconds", nargs="?", type=float, default=60.0)
    p.add_argument("targets", nargs="?", type=int, default=13_000)
    p.add_argument("--crossers", type=int, default=None)
    p.add_argument("--warmup", type=float, default=None)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    r = run(a.clients, a.rate, a.seconds, a.targets, crossers=a.crossers, warmup_s=a.warmup,
            log=lambda s: print(s, flush=True))
    print(summary(r))
    if a.json:
        a.json.write_text(json.dumps(r, indent=1, default=str))


if __name__ == "__main__":
    main()
