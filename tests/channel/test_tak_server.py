"""The TAK server with a real PyTAK client: sightings in, tracks and breach alerts out, per party.

Each test runs the server and its PyTAK clients in one event loop. Clients
connect exactly as a field integration would: ``pytak.protocol_factory``
with ``tcp://`` or ``tls://`` and the party's client certificate from the
deployment, and read events up to ``</event>`` as PyTAK's RXWorker does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import warnings
from configparser import ConfigParser
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from borderwatch.channel import Store, audit
import borderwatch.channel.tak_server as tak_server_module
from borderwatch.channel.cot import CotEvent, parse_cot, to_cot_xml
from borderwatch.channel.policy import Policy
from borderwatch.channel.tak_server import TakServer, sighting_event
from borderwatch.channel.takproto_codec import encode_stream
from borderwatch.geo.border import Border

with warnings.catch_warnings():
    warnings.simplefilter("ignore")          # pytak warns that aiohttp (enrolment only) is missing
    import pytak
    from pytak.functions import tak_pong

OWNER, TCP_PARTY, TRACKS_TOO, WITHHELD = "iq-mod", "us", "sdf", "tr"


@pytest.fixture(scope="module")
def narrowed(deployment):
    """The Iraq–Syria deployment with breach alerts released to iq-mod, sdf and us only."""
    rules = dict(deployment.policy.rules)
    rules["breach"] = frozenset({OWNER, TRACKS_TOO, TCP_PARTY})
    return dataclasses.replace(deployment, policy=Policy(deployment.party_ids, OWNER, rules))


@pytest.fixture(scope="module")
def border(iraq_syria):
    return Border.from_scenario(iraq_syria)


def crossing(border, *, n=40, look_s=10.0, speed=1.5, start_m=-300.0, km=None, seed=0, base=None,
             callsign="VIPER-1", uid="VIPER-1-target"):
    """A person walking across the line, reported every `look_s` by one field unit."""
    km = border.length_km / 2 if km is None else km
    p = np.array([float(np.ravel(v)[0]) for v in border.point_at(np.array([km]))])
    normal = border.own_normal_at(np.array([km])).reshape(2)
    rng = np.random.default_rng(seed)
    base = base or datetime.now(timezone.utc) - timedelta(seconds=n * look_s)
    out = []
    for k in range(n):
        z = p + normal * (start_m + speed * look_s * k) + rng.normal(0, 10.0, 2)
        lon, lat = border.projection.to_lonlat(z[0], z[1])
        out.append(sighting_event(uid, float(np.ravel(lat)[0]), float(np.ravel(lon)[0]), callsign=callsign,
                                  when=base + timedelta(seconds=k * look_s), ce=10.0))
    return out


async def pytak_client(url: str, dep=None, party: str | None = None, **extra):
    """(reader, writer) from PyTAK's own protocol factory."""
    cfg = ConfigParser()
    cfg["c"] = {"COT_URL": url, **extra}
    if party is not None:
        cfg["c"].update({"PYTAK_TLS_CLIENT_CERT": str(dep.client_cert_path(party)),
                         "PYTAK_TLS_CLIENT_KEY": str(dep.client_key_path(party)),
                         "PYTAK_TLS_CLIENT_CAFILE": str(dep.ca_cert_path)})
    return await pytak.protocol_factory(cfg["c"])


class Inbox:
    """Reads CoT events from a PyTAK reader in the background (as RXWorker.readcot does)."""

    def __init__(self, reader):
        self.reader = reader
        self.events: list[CotEvent] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self):
        while True:
            try:
                raw = await self.reader.readuntil(b"</event>")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            self.events.append(parse_cot(raw))

    def types(self) -> set[str]:
        return {e.type for e in self.events}

    async def wait(self, pred, timeout=10.0):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not pred(self.events):
            if loop.time() > end:
                raise AssertionError(f"timed out; got {[(e.type, e.uid) for e in self.events][:20]}")
            await asyncio.sleep(0.02)

    def close(self):
        self.task.cancel()


def tracks(events):
    return [e for e in events if e.uid.startswith("borderwatch-track-")]


def alerts(events):
    return [e for e in events if e.type == "b-a-g"]


async def settle(server, timeout=10.0):
    """Until every queued envelope is stored."""
    for _ in range(int(timeout / 0.02)):
        await asyncio.sleep(0.02)
        if server.committer._queue.empty() and server._sealing == 0:
            break
    await asyncio.sleep(0.1)


def test_sightings_become_tracks_and_a_breach_for_the_released_parties_only(narrowed, iraq_syria, border,
                                                                            tmp_path, monkeypatch):
    columns = []                     # sightings that came in as columns (`cot_sightings`), not events
    read = tak_server_module.read_sightings

    def counted(payloads):
        got = read(payloads)
        columns.append(len(got) if got is not None else 0)
        return got

    monkeypatch.setattr(tak_server_module, "read_sightings", counted)

    async def main():
        with Store(tmp_path / "c.db", narrowed) as store:
            async with TakServer(narrowed, store, iraq_syria, tls_port=0, tcp_port=0,
                                 tcp_party=TCP_PARTY) as srv:
                tls, tcp = f"tls://127.0.0.1:{srv.tls_port}", f"tcp://127.0.0.1:{srv.tcp_port}"
                r_own, w_own = await pytak_client(tls, narrowed, OWNER)
                r_us, w_us = await pytak_client(tcp)
                r_sdf, w_sdf = await pytak_client(tls, narrowed, TRACKS_TOO)
                r_tr, w_tr = await pytak_client(tls, narrowed, WITHHELD)
                inbox = {p: Inbox(r) for p, r in ((TCP_PARTY, r_us), (TRACKS_TOO, r_sdf), (WITHHELD, r_tr))}
                for _ in range(100):
                    if len(srv.clients) == 4:
                        break
                    await asyncio.sleep(0.02)
                assert {c.party for c in srv.clients} == {OWNER, TCP_PARTY, TRACKS_TOO, WITHHELD}
                assert {c.transport for c in srv.party_clients(TCP_PARTY)} == {"tcp"}
                # Every unit announces itself with PyTAK's own PLI (relayed under the sitrep rule).
                for w, cs in ((w_own, "VIPER-1"), (w_us, "EAGLE-2"), (w_sdf, "FOX-3")):
                    w.write(pytak.gen_cot(lat=34.4, lon=41.0, uid=cs, cot_type="a-f-G-U-C", callsign=cs,
                                          stale=600))
                    await w.drain()
                await inbox[WITHHELD].wait(lambda ev: {"EAGLE-2", "FOX-3"} <= {e.uid for e in ev})
                # Addressed delivery: a marker for EAGLE-2 only.
                now = datetime.now(timezone.utc)
                w_own.write(to_cot_xml(CotEvent(uid="for-eagle", type="a-n-G", how="h-e", time=now, start=now,
                                                stale=now + timedelta(minutes=5), lat=34.4, lon=41.0,
                                                dest_callsigns=("EAGLE-2",))))
                await inbox[TCP_PARTY].wait(lambda ev: any(e.uid == "for-eagle" for e in ev))
                # The owner's unit reports the walker.
                for e in crossing(border):
                    w_own.write(to_cot_xml(e))
                await w_own.drain()
                await inbox[TCP_PARTY].wait(lambda ev: alerts(ev) and tracks(ev))
                await inbox[TRACKS_TOO].wait(lambda ev: alerts(ev) and tracks(ev))
                await asyncio.sleep(0.5)                # give a leak time to show up
                # Not released: no track, no alert, no sighting; only the units' PLIs (sitrep rule).
                assert {e.uid for e in inbox[WITHHELD].events} == {"VIPER-1", "EAGLE-2", "FOX-3"}
                assert not any(e.uid == "for-eagle" for e in inbox[TRACKS_TOO].events)
                assert not any(e.uid == "VIPER-1-target" for e in inbox[TRACKS_TOO].events)  # no sightings
                assert any(e.uid == "VIPER-1-target" for e in inbox[TCP_PARTY].events)    # us: detection rule
                alert = alerts(inbox[TCP_PARTY].events)[0]
                assert alert.how == "m-f" and "BORDER BREACH" in alert.remarks
                assert alert.links[0].uid == tracks(inbox[TCP_PARTY].events)[0].uid
                t = tracks(inbox[TCP_PARTY].events)[-1]
                assert t.type.startswith("a-h-G") and "<track" in t.extra_detail
                assert srv.stats.sightings == 40 and srv.stats.breaches == 1
                # The walker's reports are plain sightings written together: read as columns (how many
                # depends on how TLS cuts the stream into reads; a read under MIN_BATCH goes the other way).
                assert sum(columns) >= 8
                await settle(srv)
                for i in inbox.values():
                    i.close()
                for w in (w_own, w_us, w_sdf, w_tr):
                    w.close()
            # Sightings stored as signed envelopes from the reporting party, the breach from the owner.
            found = store.search(OWNER, limit=1000)
            kinds = [(d.envelope.kind, d.envelope.sender) for d in found]
            reported = [parse_cot(x.encode()) for d in found if d.envelope.kind == "sighting"
                        for x in d.envelope.body["cot"]]
            assert len(reported) == 40 and {e.uid for e in reported} == {"VIPER-1-target"}
            assert len({e.time for e in reported}) == 40           # each report once
            assert set(kinds) == {("sighting", OWNER), ("breach", OWNER)} and kinds.count(("breach", OWNER)) == 1
            assert store.count(WITHHELD) == 0
            assert [d.envelope.kind for d in store.search(TCP_PARTY, limit=1000)].count("breach") == 1

    asyncio.run(main())


def test_reconnecting_client_gets_the_current_picture_and_protobuf_works(narrowed, iraq_syria, border, tmp_path):
    async def main():
        with Store(tmp_path / "c.db", narrowed) as store:
            async with TakServer(narrowed, store, iraq_syria, tls_port=0, tcp_port=None) as srv:
                tls = f"tls://127.0.0.1:{srv.tls_port}"
                r, w = await pytak_client(tls, narrowed, OWNER)
                for e in crossing(border, seed=3):
                    w.write(encode_stream(e))             # TAK protocol v1 frames this time
                await w.drain()
                for _ in range(500):
                    if srv.stats.breaches:
                        break
                    await asyncio.sleep(0.02)
                assert srv.stats.breaches == 1
                # Connects after the fact: the picture (breach first, then live tracks) arrives at once.
                r2, w2 = await pytak_client(tls, narrowed, TRACKS_TOO)
                late = Inbox(r2)
                await late.wait(lambda ev: alerts(ev) and tracks(ev), timeout=5)
                assert late.events[0].type == "b-a-g"
                r3, w3 = await pytak_client(tls, narrowed, WITHHELD)
                none = Inbox(r3)
                await asyncio.sleep(0.3)
                assert none.events == []
                for x in (late, none):
                    x.close()
                for x in (w, w2, w3):
                    x.close()

    asyncio.run(main())


def test_malformed_cot_is_counted_and_the_connection_survives(deployment, iraq_syria, border, tmp_path):
    async def main():
        with Store(tmp_path / "c.db", deployment) as store:
            async with TakServer(deployment, store, iraq_syria, tls_port=0, tcp_port=None) as srv:
                r, w = await pytak_client(f"tls://127.0.0.1:{srv.tls_port}", deployment, OWNER)
                good = crossing(border, n=3)
                w.write(to_cot_xml(good[0]))
                w.write(b'<event version="2.0" uid="x" type="a-h-G" how="h-e" time="2024-05-01T10:00:00Z" '
                        b'start="2024-05-01T10:00:00Z" stale="2024-05-01T10:05:00Z">'
                        b'<point lat="123" lon="41" hae="0" ce="5" le="5"/></event>')       # lat out of range
                w.write(b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x "y">]><event>&x;</event>')   # XXE
                w.write(b"<event uid='no-end' type='a-h-G'>" + b"x" * 100 + b"</event>")        # no times
                w.write(tak_pong())                                                    # keepalive
                w.write(b'<event version="2.0" uid="ping" type="t-x-c-t" how="h-g-i-g-o"/>')  # ping
                w.write(to_cot_xml(good[1]) + to_cot_xml(good[2]))
                await w.drain()
                for _ in range(200):
                    if srv.stats.sightings == 3:
                        break
                    await asyncio.sleep(0.02)
                assert srv.stats.sightings == 3
                assert srv.stats.rejected["point@lat"] == 1
                assert srv.stats.rejections == 3 and srv.stats.pings == 2
                assert len(srv.party_clients(OWNER)) == 1 and srv.party_clients(OWNER)[0].rejected == 3
                w.close()

    asyncio.run(main())


def test_slow_client_never_stalls_the_others_and_keeps_its_alerts(deployment, iraq_syria, tmp_path):
    n = 20_000      # ~6.6 MB: more than the kernel (4 MiB send buffer) and the socket buffer take

    async def main():
        with Store(tmp_path / "c.db", deployment) as store:
            async with TakServer(deployment, store, iraq_syria, tls_port=None, tcp_port=0, tcp_party=OWNER,
                                 max_positions=100) as srv:
                url = f"tcp://127.0.0.1:{srv.tcp_port}"
                # The slow one: a tiny receive buffer, and it never reads.
                slow = socket.socket()
                slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                slow.connect(("127.0.0.1", srv.tcp_port))
                r_fast, w_fast = await pytak_client(url)
                fast = Inbox(r_fast)
                _, w_src = await pytak_client(url)
                for _ in range(100):
                    if len(srv.clients) == 3:
                        break
                    await asyncio.sleep(0.02)
                slow_client = next(c for c in srv.clients if c.peer.endswith(f":{slow.getsockname()[1]}"))
                now = datetime.now(timezone.utc)
                t0 = asyncio.get_running_loop().time()
                for k in range(n):       # neutral ground objects: relayed to everyone, one uid each
                    w_src.write(to_cot_xml(CotEvent(uid=f"obj-{k}", type="a-n-G", how="h-e", time=now,
                                                    start=now, stale=now + timedelta(minutes=5),
                                                    lat=34.0 + k * 1e-5, lon=41.0)))
                    if k % 500 == 0:
                        await w_src.drain()
                await w_src.drain()
                await fast.wait(lambda ev: any(e.uid == f"obj-{n - 1}" for e in ev), timeout=20)
                took = asyncio.get_running_loop().time() - t0
                assert slow_client.dropped > 0 and srv.stats.dropped_positions >= slow_client.dropped
                assert len(slow_client.positions) <= 100
                # An alert to the slow client is queued whatever happens, never dropped.
                alert = CotEvent(uid="alert-1", type="b-a-g", how="m-f", time=now, start=now,
                                 stale=now + timedelta(minutes=5), lat=34.0, lon=41.0)
                srv._send("breach", alert, alert=True)
                for k in range(300):
                    srv._send("text", dataclasses.replace(alert, uid=f"later-{k}", type="a-n-G"))
                # Now it reads: the alert is in what it gets.
                slow.setblocking(False)
                got = b""
                loop = asyncio.get_running_loop()
                end = loop.time() + 10
                while b'uid="alert-1"' not in got and loop.time() < end:
                    try:
                        got += await loop.sock_recv(slow, 1 << 20)
                    except BlockingIOError:
                        await asyncio.sleep(0.01)
                assert b'uid="alert-1"' in got
                fast.close()
                slow.close()
                w_fast.close()
                w_src.close()
                return took

    took = asyncio.run(main())
    assert took < 15


def test_plain_tcp_is_off_unless_a_party_is_named(deployment, iraq_syria, tmp_path):
    from borderwatch.errors import ChannelError

    with Store(tmp_path / "c.db", deployment) as store:
        srv = TakServer(deployment, store, iraq_syria, tls_port=0)
        assert srv.tcp_port is None
        with pytest.raises(ChannelError, match="plain TCP needs the party"):
            TakServer(deployment, store, iraq_syria, tls_port=0, tcp_port=0)
        with pytest.raises(ChannelError, match="unknown party"):
            TakServer(deployment, store, iraq_syria, tls_port=0, tcp_port=0, tcp_party="nobody")
        srv.committer.close()


def test_the_server_logs_its_statistics_and_what_is_queued(narrowed, iraq_syria, border, tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="borderwatch.tak")

    async def main():
        with Store(tmp_path / "c.db", narrowed) as store:
            async with TakServer(narrowed, store, iraq_syria, tls_port=None, tcp_port=0, tcp_party=TCP_PARTY,
                                 stats_every_s=0.3) as srv:
                r, w = await pytak_client(f"tcp://127.0.0.1:{srv.tcp_port}")
                for e in crossing(border, n=12):
                    w.write(to_cot_xml(e))
                await w.drain()
                await settle(srv)
                await asyncio.sleep(0.7)
                w.close()
                assert srv._sealing == 0 and srv.stats.stored == 12
                envelopes = srv.stats.envelopes
            # Sealed here and stored without a second verification: the audit verifies them all.
            report = audit.verify(store)
            assert report.ok and report.records == envelopes and 1 <= envelopes <= 12

    asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stats: ")]
    assert lines, caplog.text[-2000:]
    last = lines[-1]
    assert "1 clients; in 12 sightings" in last and "stored 12 " in last and "0 to seal, 0 to track" in last


def test_a_client_that_falls_behind_and_catches_up_gets_everything_in_order(deployment, iraq_syria, tmp_path):
    """Fan-out writes straight to a client's socket while it keeps up and through its own outbox
    while it is behind; across both, and the switches between them, order and content hold."""
    n = 30_000                      # ~10 MB: more than the kernel buffers hold, so the outbox is used

    async def main():
        with Store(tmp_path / "c.db", deployment) as store:
            async with TakServer(deployment, store, iraq_syria, tls_port=None, tcp_port=0, tcp_party=OWNER,
                                 max_positions=100_000, max_buffered=64 * 1024) as srv:
                lazy = socket.socket()
                lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                lazy.connect(("127.0.0.1", srv.tcp_port))
                lazy.setblocking(False)
                _, w_src = await pytak_client(f"tcp://127.0.0.1:{srv.tcp_port}")
                for _ in range(100):
                    if len(srv.clients) == 2:
                        break
                    await asyncio.sleep(0.02)
                slow = next(c for c in srv.clients if c.peer.endswith(f":{lazy.getsockname()[1]}"))
                now = datetime.now(timezone.utc)
                loop = asyncio.get_running_loop()
                got = bytearray()

                async def read_for(seconds):
                    end = loop.time() + seconds
                    while loop.time() < end:
                        try:
                            got.extend(await asyncio.wait_for(loop.sock_recv(lazy, 1 << 20), 0.05))
                        except (asyncio.TimeoutError, BlockingIOError):
                            pass

                for k in range(n):
                    w_src.write(to_cot_xml(CotEvent(uid=f"obj-{k}", type="a-n-G", how="h-e", time=now,
                                                    start=now, stale=now + timedelta(minutes=5),
                                                    lat=34.0 + k * 1e-6, lon=41.0)))
                    if k % 1000 == 999:
                        await w_src.drain()
                        await asyncio.sleep(0.05)
                        if k >= 20_000:
                            await read_for(0.3)          # after ~7 MB unread it reads and catches up
                await w_src.drain()
                await read_for(3.0)
                while got.count(b"</event>") < n:
                    before = len(got)
                    await read_for(1.0)
                    if len(got) == before:
                        break
                seq = [int(m) for m in re.findall(rb'uid="obj-(\d+)"', bytes(got))]
                assert 0 < slow.queued < n, "the client was always (or never) behind"
                assert seq == list(range(n)) and slow.dropped == 0
                lazy.close()
                w_src.close()

    asyncio.run(main())


def test_each_step_sends_the_tracks_it_changed_once_and_names_the_deleted(deployment, iraq_syria, border, tmp_path):
    with Store(tmp_path / "c.db", deployment) as store:
        srv = TakServer(deployment, store, iraq_syria, tls_port=None, tcp_port=None, stats_every_s=None)
        try:
            walk = crossing(border, n=6)                  # one person, reported every 10 s
            sent = []
            for e in walk:
                tracks, _, gone = srv._step([(OWNER, e)])
                sent.append(list(tracks.uids) if tracks else [])   # written straight to XML
                if tracks:
                    assert [parse_cot(d).uid for d in tracks.data] == tracks.uids
                assert gone == []
            # Confirmed at the third report (3 of 5); from then on one update per step, same track.
            assert sent[:2] == [[], []] and all(len(s) == 1 for s in sent[2:])
            uid = sent[2][0]
            assert {s[0] for s in sent[2:]} == {uid}
            # A step that does not touch it sends nothing for it.
            far = sighting_event("elsewhere", walk[-1].lat + 0.5, walk[-1].lon, callsign="VIPER-1",
                                 when=walk[-1].time + timedelta(seconds=1))
            tracks, _, gone = srv._step([(OWNER, far)])
            assert tracks == [] and gone == []
            # Past max_coast_s without a report it is deleted, and the step says so.
            late = dataclasses.replace(far, uid="elsewhere-2", time=far.time + timedelta(seconds=200),
                                       start=far.time + timedelta(seconds=200),
                                       stale=far.time + timedelta(seconds=300))
            tracks, _, gone = srv._step([(OWNER, late)])
            assert gone == [int(uid.rsplit("-", 1)[1])]
        finally:
            srv.committer.close()


def test_sightings_with_long_non_ascii_remarks_all_fit_their_envelopes(deployment, iraq_syria, border, tmp_path):
    """Envelopes of many sightings stay under the body limit whatever the text: 4-byte characters
    (and Arabic, 2 bytes) take more room in the stored JSON than their count of characters."""
    wide = "\U00020000" * 3000 + " تسلل عبر الحدود"

    async def main():
        with Store(tmp_path / "c.db", deployment) as store:
            async with TakServer(deployment, store, iraq_syria, tls_port=None, tcp_port=0,
                                 tcp_party=OWNER) as srv:
                _, w = await pytak_client(f"tcp://127.0.0.1:{srv.tcp_port}")
                w.write(b"".join(to_cot_xml(dataclasses.replace(e, remarks=f"{k} {wide}"))
                                 for k, e in enumerate(crossing(border, n=60))))
                await w.drain()
                for _ in range(500):
                    await asyncio.sleep(0.02)
                    if srv.stats.sightings == 60 and srv._sealing == 0 and srv.committer._queue.empty():
                        break
                w.close()
                assert srv.stats.store_errors == 0      # (a breach the walk raises is stored too)
            found = store.search(OWNER, kind="sighting", limit=1000)
            assert sorted(int(parse_cot(x.encode()).remarks.split()[0]) for d in found
                          for x in d.envelope.body["cot"]) == list(range(60))

    asyncio.run(main())
