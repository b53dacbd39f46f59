"""Breaches from the tracker, published on the channel as signed ``breach`` envelopes.

`BreachFeed(identity, deployment, publish)` turns each `borderwatch.track.Breach`
into a ``breach`` envelope from the deployment's owner party (whose key
`identity` holds), released to every party the policy lets receive breach
alerts, and hands it to `publish` — `Store.publish`, `GroupCommitter.publish`
or `ChannelClient.publish`, whichever the caller runs. The body is the
breach itself (`Breach.as_dict()`) plus ``detected_at``, the wall-clock time
the detector raised it, so that every recipient can measure how long the
alert took to reach it.

The feed records, per breach, when it was detected, when the store
confirmed it (the receipt), and — as recipients report them with
`delivered` — when each party received it: the breach-to-delivery latency.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import ChannelError
from .deployment import Deployment
from .envelope import Envelope, format_time, parse_time
from .keys import PartyIdentity
from .store import Delivery, Receipt


@dataclass
class BreachRecord:
    """One published breach: its envelope, receipt and per-party delivery latencies."""

    envelope: Envelope
    detected_at: datetime
    receipt: Receipt | None = None                       # None until the store has confirmed it
    stored_s: float | None = None                        # detection → durably stored
    delivered_s: dict[str, float] = field(default_factory=dict)   # party → detection → delivery

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.receipt.recipients if self.receipt is not None else ()


def detected_at(envelope: Envelope) -> datetime:
    """When the breach in a ``breach`` envelope was detected (its body's ``detected_at``)."""
    body = envelope.body
    if envelope.kind != "breach" or not isinstance(body, dict) or "detected_at" not in body:
        raise ChannelError(f"envelope {envelope.id}: not a breach envelope from a BreachFeed")
    return parse_time(str(body["detected_at"]), f"envelope {envelope.id}: body.detected_at")


class BreachFeed:
    """Publishes breaches as the owner party and records breach-to-delivery latency."""

    def __init__(self, identity: PartyIdentity, deployment: Deployment,
                 publish: Callable[[Envelope], Receipt], *, caveat: str = "",
                 releasable_to: Iterable[str] | None = None) -> None:
        if identity.party != deployment.policy.owner:
            raise ChannelError(f'breach feed: breaches are published by the owner party '
                               f'"{deployment.policy.owner}", not "{identity.party}"')
        self.identity = identity
        self.deployment = deployment
        self._publish = publish
        self.caveat = caveat
        allowed = deployment.policy.allowed("breach")
        wanted = allowed if releasable_to is None else set(releasable_to)
        self.releasable_to = tuple(p for p in deployment.party_ids if p in wanted)
        self.records: dict[uuid.UUID, BreachRecord] = {}

    def publish(self, breach: Any, *, scenario: str | None = None) -> BreachRecord:
        """Publish one `Breach` (anything with ``as_dict()``), now; returns its record."""
        now = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        body = dict(breach.as_dict())
        body["detected_at"] = format_time(now)
        if scenario is not None:
            body["scenario"] = scenario
        env = self.identity.seal("breach", body, releasable_to=self.releasable_to,
                                 caveat=self.caveat, parties=self.deployment.party_ids)
        # Known before it is sent: a live recipient may receive it before the receipt returns.
        rec = self.records[env.id] = BreachRecord(env, now)
        try:
            rec.receipt = self._publish(env)
        except BaseException:
            del self.records[env.id]
            raise
        rec.stored_s = time.perf_counter() - t0
        return rec

    def publish_all(self, breaches: Iterable[Any], **kw: Any) -> list[BreachRecord]:
        return [self.publish(b, **kw) for b in breaches]

    def on_step(self, detector: Any, tracker: Any, **kw: Any) -> list[BreachRecord]:
        """After a tracker step: publish whatever `detector.update(tracker)` raises."""
        return self.publish_all(detector.update(tracker), **kw)

    def delivered(self, party: str, delivery: Delivery, at: datetime | None = None) -> float | None:
        """Record that `party` received `delivery` (at `at`, default now); returns the latency
        in seconds, or None if the delivery is not one of this feed's breaches."""
        rec = self.records.get(delivery.envelope.id)
        if rec is None:
            return None
        at = at or datetime.now(timezone.utc)
        latency = (at - rec.detected_at).total_seconds()
        rec.delivered_s.setdefault(party, latency)
        return rec.delivered_s[party]

    def latencies(self) -> list[float]:
        """Every recorded breach-to-delivery latency, seconds."""
        return [s for r in self.records.values() for s in r.delivered_s.values()]


# -- a breach from a tracked crossing, and the end-to-end demo -------------------------


def tracked_crossing_breach(scenario: Any, *, km_from_crossing: float = 5.0, seed: int = 0,
                            sigma_m: float = 15.0, look_s: float = 5.0, speed_mps: float = 1.2) -> Any:
    """A real `Breach`: one person on foot walks across the border `km_from_crossing` km along
    the line from the scenario's first official crossing; a tower reports noisy positions every
    `look_s`; the simulator's `Tracker` and the `BreachDetector` turn them into the alert."""
    import numpy as np

    from borderwatch.geo import Border
    from borderwatch.sim.engine import tracker_config
    from borderwatch.track import BreachDetector, Detections, Tracker

    border = Border.from_scenario(scenario)
    if scenario.crossings:
        c = scenario.crossings[0].location
        base_km = float(border.locate_lonlat(c.lon, c.lat).chainage_km[0])
    else:
        base_km = border.length_km / 2
    km = float(np.clip(base_km + km_from_crossing, 1.0, border.length_km - 1.0))
    x0, y0 = (float(v[0]) if np.ndim(v) else float(v) for v in border.point_at(np.array([km])))
    n = border.own_normal_at(np.array([km])).reshape(2)
    rng = np.random.default_rng(seed)
    tracker = Tracker(tracker_config(), sensors=("tower-demo",))
    detector = BreachDetector(border)
    start, end = -800.0, 600.0              # metres across the line, foreign side → own side
    for t in np.arange(0.0, (end - start) / speed_mps, look_s):
        d = start + speed_mps * t
        z = np.array([x0, y0]) + n * d + rng.normal(0.0, sigma_m, 2)
        tracker.step(Detections.position(float(t), [z[0]], [z[1]], sigma_m, 0))
        found = detector.update(tracker)
        if found:
            return found[0]
    raise ChannelError("demo: the tracker raised no breach for the walked crossing")


def simulated_breach(scenario: Any, plan: Any = None, *, hours: float = 2.0, seeds: int = 8) -> Any:
    """The first true breach a simulated window against `plan` raises (made if not given).

    Runs the simulator (`borderwatch.sim`) for a short window, seed after
    seed, and returns the first breach the real tracker raised that the
    simulation attributes to an infiltrating group (not a false alarm).
    """
    from borderwatch.sim.engine import SimOptions, prepare, run_once

    if plan is None:
        from borderwatch.plan import make_plan

        plan = make_plan(scenario)
    world = prepare(scenario, plan, SimOptions(hours=hours, tail_h=0.25))
    for seed in range(seeds):
        for breach, group in run_once(world, seed).breaches:
            if group >= 0:
                return breach
    raise ChannelError(f"demo: {seeds} simulated windows of {hours:g} h raised no true breach")


def run_demo(scenario_name: str, out_dir: Any, *, overwrite: bool = False,
             timeout_s: float = 15.0, plan: Any = None) -> dict[str, Any]:
    """The Iraq–Syria channel end to end, over the real HTTPS API with mutual TLS.

    Creates a deployment and a SQLite store in `out_dir`, starts the server,
    subscribes every party over the WebSocket, publishes a breach raised by
    the tracker in a simulated window against the plan (`plan`, or one made now)
    (and the track behind it) from the owner, lets each recipient
    acknowledge, checks that the withheld parties see nothing, and runs the
    audit. Returns a dict of what happened (the CLI prints it).
    """
    import asyncio
    import shutil
    from pathlib import Path

    from borderwatch.scenario import load_scenario

    from .api import ServerThread, free_port, make_server
    from .audit import verify
    from .client import ChannelClient, ChannelHTTPError
    from .deployment import create_deployment
    from .store import Store

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ChannelError(f"{out}: not empty; choose a new folder or pass --overwrite")
        if not (out / "deployment" / "deployment.toml").is_file():
            raise ChannelError(f"{out}: not empty and not a channel demo folder; not replacing it")
        shutil.rmtree(out)
    scenario = load_scenario(scenario_name)
    breach = simulated_breach(scenario, plan)
    dep = create_deployment(scenario, out / "deployment")
    db = out / "channel.db"
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    with Store(db, dep) as store, ServerThread(make_server(dep, store, port=port, tls=True)):
        clients = {p: ChannelClient(url, dep.identity(p), verify=dep.ca_cert_path, keys=dep,
                                    cert=(dep.client_cert_path(p), dep.client_key_path(p)))
                   for p in dep.party_ids}
        owner = dep.policy.owner
        feed = BreachFeed(dep.identity(owner), dep, clients[owner].publish)
        got: dict[str, dict[str, Any]] = {p: {} for p in dep.party_ids}

        async def listen(party: str) -> None:
            async for d in clients[party].subscribe(after=0):
                feed.delivered(party, d)
                got[party][d.envelope.kind] = d

        async def main() -> tuple[BreachRecord, Receipt]:
            tasks = [asyncio.create_task(listen(p)) for p in dep.party_ids]
            await asyncio.sleep(0.3)              # everyone connected before the breach
            rec = await asyncio.to_thread(feed.publish, breach, scenario=scenario.name)
            track = await asyncio.to_thread(
                clients[owner].publish, "track",
                {"track_id": breach.track_id, "lon": breach.lon, "lat": breach.lat,
                 "t": breach.t, "breach": str(rec.envelope.id)},
                releasable_to=dep.party_ids)
            want = {p: {"breach"} | ({"track"} if p in track.recipients else set())
                    for p in dep.party_ids if p in rec.recipients}
            deadline = asyncio.get_running_loop().time() + timeout_s
            while any(not w <= set(got[p]) for p, w in want.items()):
                if asyncio.get_running_loop().time() > deadline:
                    raise ChannelError("demo: deliveries did not arrive within "
                                       f"{timeout_s:g} s")
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)              # give a leak time to show up
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return rec, track

        rec, track = asyncio.run(main())
        for p in rec.recipients:
            if p != owner:
                clients[p].acknowledge(rec.envelope.id)
        acks = {a.party: a.at for a in clients[owner].acknowledgements(rec.envelope.id)}
        rows, notes = [], []
        for p in dep.party_ids:
            lat = rec.delivered_s.get(p)
            rows.append({"party": p, "breach": "breach" in got[p], "track": "track" in got[p],
                         "breach_ms": lat * 1000 if lat is not None else None,
                         "ack": acks[p].strftime("%H:%M:%S") if p in acks else
                         ("sender" if p == owner else None),
                         "history": len(clients[p].history()), "count": clients[p].count()})
        for p in track.withheld:
            try:
                clients[p].get(track.id)
                notes.append(f"LEAK: {p} could read the track")
            except ChannelHTTPError as exc:
                missing = uuid.uuid4()
                try:
                    clients[p].get(missing)
                    same = False
                except ChannelHTTPError as exc2:
                    same = (exc.status == exc2.status and exc.detail.replace(str(track.id), "ID")
                            == exc2.detail.replace(str(missing), "ID"))
                notes.append(f"{p}: GET the withheld track → {exc.status} \"{exc.detail}\" "
                             f"({'the same answer as for an id that does not exist' if same else 'DIFFERS from a missing id'})")
        notes.append(f"track {track.id}: released by {owner} to all, delivered to "
                     f"{', '.join(track.recipients)}; the policy withheld it from "
                     f"{', '.join(track.withheld) or 'nobody'}")
        report = verify(store, dep)
        audit = (f"OK, {report.records} records, every signature and the hash chain verify"
                 if report.ok else f"FAILED: {report.first_bad}")
        for c in clients.values():
            c.close()
    return {"breach": breach.as_dict(), "url": url, "store": str(db), "rows": rows,
            "notes": notes, "audit": audit, "breach_id": str(rec.envelope.id),
            "track_id": str(track.id)}
