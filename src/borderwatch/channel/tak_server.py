"""A TAK-compatible CoT streaming server: field clients in, tracks and breach alerts out.

`TakServer(deployment, store, scenario)` listens, in one asyncio event loop:

- **TLS** (default port 8089, TAK's "ssl" streaming port): every client must
  present a certificate issued by the deployment's CA; its Common Name is the
  party it speaks for (``parties/<id>/client.crt``, or the PKCS#12 of a
  `borderwatch.channel.tak_package` data package).
- **plain TCP** (default port 8087) only when the operator opts in with
  ``tcp_party``: nothing authenticates a plain TCP client, so every one of
  them speaks for that one named party. Leave it off outside a lab.
- the channel's **HTTP API** (`borderwatch.channel.api`) under uvicorn in the
  same loop, sharing the store's group committer and live hub; if a
  ``borderwatch.web`` package offers ``mount(app, ...)`` the map is served at ``/``.

What happens to what a client sends (XML CoT or TAK protocol v1 frames, any mix):

- ``a-h-G…`` / ``a-u-G…`` **sightings** become ``sighting`` envelopes, signed
  on the reporting party's behalf by this server (which authenticated it)
  and stored through the group committer (the body is ``{"cot": [event,
  ...]}``: what one party reported together shares one envelope, up to 500
  events), and `Detections` for the
  `Tracker` (one sensor per ``party/callsign``). They are relayed as CoT to
  the clients of parties the policy lets receive sightings.
- pings (``t-x-c-t``, PyTAK's ``takPong``) are answered or ignored before
  parsing; any other event is relayed under the ``text`` rule.
- ``<marti><dest callsign|uid/>`` restricts a relayed event to the clients
  that announced that callsign or uid (and whose party the policy allows).
- a refused message (`CotError`) is counted by field and the connection
  goes on; only a stream the splitter cannot resynchronise is closed.

What goes out: after each tracker step, every confirmed track that was
updated (kind ``track``: ``a-h-G`` with ``<track course speed>``) and every
breach (kind ``breach``: a ``b-a-g`` alert, also stored as a signed
``breach`` envelope from the owner), each to the clients of the parties the
releasability policy names for that kind. Events are sent as XML with a
declaration and no separator, which ATAK, WinTAK and PyTAK (even in
protobuf mode) all read.

Fan-out and backpressure: what is to go out is collected for one turn of the
event loop and then written once per client: the events each party may see
are joined into one buffer per party (shared by all its clients), so a
delivery costs a slice of one write, not a Python call per event and client.
A client whose socket has fallen behind (more than `max_buffered` bytes
unsent) gets its own outbox and writer task instead, until it has caught up:
alerts (breaches) queue in order and are never dropped (a client that lets
`max_alerts` pile up is disconnected); position updates are coalesced per
uid and, beyond `max_positions`, the oldest is dropped. A slow client only
ever waits on its own socket. A client that (re)connects first receives the
current picture: live confirmed tracks, unexpired breaches and sightings it
may see.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import inspect
import logging
import re
import ssl
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from ..errors import BorderwatchError, ChannelError, CotError
from .cot import XML_DECLARATION, CotEvent, parse_cot_many, to_cot_xml
from .cot_sightings import Sightings, read_sightings
from .cot_sightings import to_detections as sightings_columns_to_detections
from .cot_bridge import (TRACK_UID_PREFIX, EncodedTracks, breach_to_cot, estimates_to_cot, estimates_to_cot_xml,
                         is_sighting, sightings_to_detections)
from .deployment import Deployment
from .envelope import MAX_BODY_BYTES, Envelope
from .group_commit import GroupCommitter
from .live import LiveHub
from .refusals import refusal_reason
from .store import Receipt, Store
from .takproto_codec import StreamSplitter
from .tls import server_context

log = logging.getLogger("borderwatch.tak")

DEFAULT_TCP_PORT = 8087
DEFAULT_TLS_PORT = 8089
PING_TYPES = (b"t-x-c-t", b"t-x-c-t-r")
_START = re.compile(rb"<event\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*?/?>")
_TYPE_ATTR = re.compile(rb"""\stype\s*=\s*["']([^"']*)["']""")
_UID_ATTR = re.compile(rb"""\suid\s*=\s*["']([^"']*)["']""")
_READ = 65_536
SEAL_BATCH = 500          # reports sealed and committed as one unit, at most
SEAL_GATHER_S = 0.01      # the sealer waits this long after a wake-up for more reports
MAX_BUFFERED = 256 * 1024 # bytes a client's socket may hold unsent before it gets its own outbox
SIGHTINGS_PER_ENVELOPE = 500
# CoT characters in one envelope: a character takes at most 4 bytes in the body's JSON (UTF-8 up
# to 4, an escaped quote or newline 2), plus a few per event, so this always fits MAX_BODY_BYTES.
SIGHTING_CHARS_PER_ENVELOPE = (MAX_BODY_BYTES - 4 * SIGHTINGS_PER_ENVELOPE - 64) // 4
FLUSH_S = 0.005           # a busy server writes to its clients at most this often


def live_tracker_config():
    """The tracker for live reports: the simulator's figures, with a 5 s lag window for late reports."""
    from borderwatch.track.tracker import TrackerConfig

    return TrackerConfig(q=0.1, q_vehicle=2.0, init_speed_sigma_mps=3.0, init_speed_sigma_vehicle_mps=12.0,
                         confirm_m=3, confirm_n=5, max_coast_s=120.0, lag_s=5.0, history_rows=200_000)


@dataclass
class TakStats:
    """What the server has seen and done, for tests, logs and benchmarks."""

    connections: int = 0
    received: int = 0                 # messages cut from the streams (pings included)
    pings: int = 0
    sightings: int = 0
    relayed: int = 0
    rejected: Counter = field(default_factory=Counter)   # CotError.field → count
    delivered: int = 0                # events written to client sockets
    dropped_positions: int = 0        # position updates superseded or dropped for slow clients
    evicted: int = 0                  # clients closed for not taking alerts
    tls_refused: int = 0              # TLS handshakes refused (certificate, protocol, timeout)
    stored: int = 0                   # reports (sightings, breaches) committed
    envelopes: int = 0                # envelopes committed (what one party reported together shares one)
    store_errors: int = 0
    steps: int = 0                    # tracker steps, each over whatever sightings arrived since the last
    tracks_sent: int = 0
    breaches: int = 0

    @property
    def rejections(self) -> int:
        return sum(self.rejected.values())


class _Evicted(Exception):
    pass


@dataclass(eq=False)
class TakClient:
    """One connected TAK client: its party, what it announced, and its outbox."""

    party: str
    peer: str
    transport: str                    # "tls" or "tcp"
    max_positions: int
    max_alerts: int
    callsigns: set[str] = field(default_factory=set)
    uids: set[str] = field(default_factory=set)
    alerts: deque = field(default_factory=deque)
    positions: OrderedDict = field(default_factory=OrderedDict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    delivered: int = 0
    dropped: int = 0
    queued: int = 0                   # events that went through the outbox (the client was behind)
    rejected: int = 0
    closed: bool = False
    sink: Any = None                  # the connection's asyncio transport (direct writes)
    max_buffered: int = MAX_BUFFERED

    def behind(self) -> bool:
        """True while this client has an outbox to drain or its socket holds too much unsent:
        then events go through `offer` (coalesced, alerts kept) instead of straight to the socket."""
        if self.alerts or self.positions or self.sink is None:
            return True
        return self.sink.get_write_buffer_size() > self.max_buffered

    def write(self, data: bytes, events: int) -> None:
        """Hand `events` already-encoded events to the socket at once (the client is not `behind`)."""
        self.sink.write(data)
        self.delivered += events

    def offer(self, uid: str, data: bytes, alert: bool) -> int:
        """Queue one encoded event without waiting; returns the position updates dropped."""
        if self.closed:
            return 0
        self.queued += 1
        dropped = 0
        if alert:
            if len(self.alerts) >= self.max_alerts:
                raise _Evicted(f"{self.peer}: {len(self.alerts)} alerts not taken")
            self.alerts.append(data)
        else:
            if self.positions.pop(uid, None) is not None:
                dropped = 1                         # superseded by a newer position
            elif len(self.positions) >= self.max_positions:
                self.positions.popitem(last=False)  # the oldest position update goes
                dropped = 1
            self.positions[uid] = data
        self.dropped += dropped
        self.wake.set()
        return dropped

    def take(self, limit: int = 512) -> list[bytes]:
        """Up to `limit` queued events, every alert before any position."""
        out: list[bytes] = []
        while self.alerts and len(out) < limit:
            out.append(self.alerts.popleft())
        while self.positions and len(out) < limit:
            out.append(self.positions.popitem(last=False)[1])
        return out


@dataclass
class _Entry:
    """One item of the current picture: what a (re)connecting client is sent first."""

    kind: str
    stale: datetime
    data: bytes


class TakServer:
    """CoT over TCP/TLS for one deployment; see the module docstring.

    Ports given as 0 pick a free port (read them back from `tcp_port`,
    `tls_port`, `http_port` after `start`); None switches a listener off.
    Plain TCP is on only when `tcp_party` names the party it speaks for.
    """

    def __init__(self, deployment: Deployment, store: Store, scenario: Any = None, *,
                 host: str = "127.0.0.1", tls_port: int | None = DEFAULT_TLS_PORT,
                 tcp_port: int | None = DEFAULT_TCP_PORT, tcp_party: str | None = None,
                 http_port: int | None = None, http_tls: bool = True,
                 max_positions: int = 20_000, max_alerts: int = 10_000, max_picture: int = 100_000,
                 max_buffered: int = MAX_BUFFERED,
                 track_stale_s: float = 60.0, breach_stale_s: float = 600.0,
                 store_sightings: bool = True, tracker_config: Any = None,
                 epoch: datetime | None = None, web_options: dict | None = None,
                 stats_every_s: float | None = 60.0) -> None:
        from borderwatch.geo.border import Border
        from borderwatch.scenario import load_scenario
        from borderwatch.track.breach import BreachDetector
        from borderwatch.track.tracker import Tracker

        self.web_options = dict(web_options or {})
        if tcp_party is not None:
            deployment.party(tcp_party)     # raises, naming the known parties
        elif tcp_port is not None and tcp_port != DEFAULT_TCP_PORT:
            raise ChannelError("plain TCP needs the party its clients speak for (tcp_party); "
                               "nothing authenticates a plain TCP client")
        self.deployment = deployment
        self.store = store
        self.policy = deployment.policy
        self.scenario = scenario if scenario is not None and not isinstance(scenario, str) \
            else load_scenario(scenario or deployment.scenario)
        if self.scenario.name != deployment.scenario:
            raise ChannelError(f"scenario {self.scenario.name!r} is not the deployment's "
                               f"({deployment.scenario!r})")
        self.border = Border.from_scenario(self.scenario)
        self.projection = self.border.projection
        self.host = host
        self.tls_port, self.tcp_port, self.http_port = tls_port, \
            (tcp_port if tcp_party is not None else None), http_port
        self.tcp_party = tcp_party
        self.http_tls = http_tls
        self.max_positions, self.max_alerts = int(max_positions), int(max_alerts)
        self.max_picture = int(max_picture)
        self.max_buffered = int(max_buffered)
        self._outgoing: list[tuple] = []       # (allowed parties, uid, data, alert, exclude, dest) this turn
        self._flush_due = False
        self._flushed_at = 0.0
        self.handshake_timeout_s = 10.0
        self.stats_every_s = stats_every_s
        self._sealing = 0                  # reports handed to the sealer, not yet committed
        self._ssl: ssl.SSLContext | None = None
        self.track_stale_s, self.breach_stale_s = float(track_stale_s), float(breach_stale_s)
        self.store_sightings = store_sightings
        self.epoch = (epoch or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self.tracker = Tracker(tracker_config or live_tracker_config(), sensors=("borderwatch",))
        self.detector = BreachDetector(self.border)
        self.sensor_index: dict[str, int] = {}
        self.stats = TakStats()
        self.clients: set[TakClient] = set()
        self.picture: OrderedDict[str, _Entry] = OrderedDict()   # least recently updated first
        self._pruned_at = 0.0
        self._pictured_tracks: set[int] = set()   # track ids with an entry in the picture
        self.on_event: Callable[[str, CotEvent], None] | None = None   # (kind, event) sent out
        self.committer = GroupCommitter(store)
        self.hub = LiveHub(store)
        self._identities: dict[str, Any] = {}
        # Sealing (sign, check, queue for the store) runs in one thread fed by a deque: an
        # executor's Future and locks per sighting cost the event loop more than the append.
        self._seal_queue: deque[tuple[str, str, Any]] = deque()
        self._seal_wake = threading.Event()
        self._seal_stop = False
        self._sealer = threading.Thread(target=self._seal_run, name="borderwatch-tak-seal", daemon=True)
        self._pending: list[tuple[str, CotEvent]] = []
        self._pending_wake: asyncio.Event | None = None
        self._sent_ids = np.empty(0, np.int64)      # confirmed tracks as last sent (sorted ids) ...
        self._sent_updates = np.empty(0)           # ... and their last_update then
        self._servers: list[asyncio.base_events.Server] = []
        self._tasks: list[asyncio.Task] = []
        self._conn_tasks: set[asyncio.Task] = set()
        self._http = None
        self.web: Any = None                 # what borderwatch.web.mount returned, if it ran
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> "TakServer":
        """Bind the listeners and start the tracker (and the HTTP API if asked)."""
        self._loop = asyncio.get_running_loop()
        self._pending_wake = asyncio.Event()
        self._sealer.start()
        if self.tls_port is not None:
            # TLS is started per connection (start_tls) rather than by the listener, so that a
            # refused handshake (foreign CA, expired certificate, no certificate) reaches this
            # code and is logged with the peer and the reason; asyncio would drop it silently.
            self._ssl = self.ssl_context()
            srv = await asyncio.start_server(lambda r, w: self._accept(r, w, "tls"), self.host,
                                             self.tls_port, limit=_READ)
            self.tls_port = srv.sockets[0].getsockname()[1]
            self._servers.append(srv)
        if self.tcp_port is not None:
            srv = await asyncio.start_server(lambda r, w: self._accept(r, w, "tcp"), self.host,
                                             self.tcp_port, limit=_READ)
            self.tcp_port = srv.sockets[0].getsockname()[1]
            self._servers.append(srv)
        self._tasks.append(asyncio.create_task(self._track_loop(), name="borderwatch-tak-tracker"))
        if self.stats_every_s:
            self._tasks.append(asyncio.create_task(self._stats_loop(), name="borderwatch-tak-stats"))
        if self.http_port is not None:
            await self._start_http()
        return self

    def ssl_context(self) -> ssl.SSLContext:
        """Server side of mutual TLS: the deployment's server certificate, its CA required of clients."""
        return server_context(self.deployment.server_cert_path, self.deployment.server_key_path,
                              self.deployment.ca_cert_path)

    async def _start_http(self) -> None:
        from .api import make_server

        server = make_server(self.deployment, self.store, host=self.host, port=self.http_port,
                             tls=self.http_tls, auth=("mtls", "token") if self.http_tls else ("token",),
                             committer=self.committer, hub=self.hub)
        server.install_signal_handlers = lambda: None   # the caller's loop owns the signals
        app = server.config.app
        self._mount_web(app)
        self._http = server
        self._tasks.append(asyncio.create_task(server.serve(), name="borderwatch-tak-http"))
        for _ in range(2000):
            if server.started:
                break
            if self._tasks[-1].done():
                self._tasks[-1].result()
                raise ChannelError(f"HTTP API did not start on {self.host}:{self.http_port}")
            await asyncio.sleep(0.005)
        if self.http_port == 0:
            self.http_port = server.servers[0].sockets[0].getsockname()[1]

    def _mount_web(self, app: Any) -> None:
        """Serve the web map at / when the optional ``borderwatch.web`` package is there."""
        try:
            web = importlib.import_module("borderwatch.web")
        except ImportError:
            return
        mount = getattr(web, "mount", None)
        if mount is None:
            return
        offer = {"deployment": self.deployment, "store": self.store, "server": self,
                 "scenario": self.scenario, "hub": self.hub, **self.web_options}
        params = inspect.signature(mount).parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            kwargs = offer
        else:
            kwargs = {k: v for k, v in offer.items() if k in params}
        self.web = mount(app, **kwargs)

    async def serve_forever(self) -> None:
        """Serve until a listener, the tracker or the HTTP API stops (uvicorn stops on SIGINT/SIGTERM)."""
        tasks = [asyncio.ensure_future(s.serve_forever()) for s in self._servers] + list(self._tasks)
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()

    async def close(self) -> None:
        """Stop listening, close every client, commit what is queued, stop the HTTP API."""
        for s in self._servers:
            s.close()
        for c in list(self.clients):
            c.closed = True
            c.wake.set()
        for t in list(self._conn_tasks):
            t.cancel()
        if self._http is not None:
            self._http.should_exit = True
        for t in self._tasks:
            if t.get_name() != "borderwatch-tak-http":
                t.cancel()
        await asyncio.gather(*self._tasks, *self._conn_tasks, return_exceptions=True)
        for s in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.wait_closed(), 2.0)
        if self._sealer.is_alive():
            self._seal_stop = True
            self._seal_wake.set()
            await asyncio.to_thread(self._sealer.join)      # everything queued is sealed first
        await asyncio.to_thread(self.committer.close)

    async def __aenter__(self) -> "TakServer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- connections -----------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, how: str) -> None:
        task = asyncio.current_task()
        self._conn_tasks.add(task)
        try:
            if how == "tls" and not await self._handshake(writer):
                return
            await self._connection(reader, writer, how)
        except asyncio.CancelledError:
            # close() cancels the connections: an orderly end, not an error for asyncio
            # to report (its stream callback would log a cancelled handler as one).
            pass
        finally:
            self._conn_tasks.discard(task)

    async def _handshake(self, writer: asyncio.StreamWriter) -> bool:
        """Mutual TLS on a fresh connection; a refusal is counted and logged, never raised."""
        peer = writer.get_extra_info("peername")
        try:
            await writer.start_tls(self._ssl, ssl_handshake_timeout=self.handshake_timeout_s)
            return True
        except (ssl.SSLError, ConnectionError, OSError, asyncio.TimeoutError) as exc:
            self.stats.tls_refused += 1
            log.warning("%s: TLS handshake refused: %s", f"{peer[0]}:{peer[1]}" if peer else "?",
                        refusal_reason(exc))
            writer.transport.abort()
            return False

    def _party_of(self, writer: asyncio.StreamWriter, how: str) -> str | None:
        if how == "tcp":
            return self.tcp_party
        ssl_object = writer.get_extra_info("ssl_object")
        cert = ssl_object.getpeercert() if ssl_object is not None else None
        for rdn in (cert or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName" and value in self.deployment.party_ids:
                    return str(value)
        return None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, how: str) -> None:
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if peer else "?"
        party = self._party_of(writer, how)
        if party is None:
            log.warning("%s: client certificate names no party of this deployment; closed", peer_text)
            writer.close()
            return
        client = TakClient(party, peer_text, how, self.max_positions, self.max_alerts,
                           sink=writer.transport, max_buffered=self.max_buffered)
        self.clients.add(client)
        self.stats.connections += 1
        log.info("%s connected over %s as %s", peer_text, how, party)
        self._send_picture(client)
        out = asyncio.create_task(self._writer(client, writer))
        try:
            await self._reader(client, reader)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        finally:
            client.closed = True
            client.wake.set()
            self.clients.discard(client)
            out.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await out
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            log.info("%s (%s) gone", peer_text, party)

    async def _reader(self, client: TakClient, reader: asyncio.StreamReader) -> None:
        splitter = StreamSplitter()
        while not client.closed:
            chunk = await reader.read(_READ)
            if not chunk:
                return
            xml: list[bytes] = []           # XML events of this read, parsed together
            for item in splitter.feed(chunk):
                if isinstance(item, CotError):
                    self._reject(client, item)
                    continue
                self.stats.received += 1
                if item.kind == "xml":
                    if not self._is_ping(item.payload):
                        xml.append(item.payload)
                    continue
                self._handle_xml(client, xml)    # what came before this protobuf frame goes first
                xml = []
                try:
                    event = item.decode()
                except CotError as exc:
                    self._reject(client, exc)
                    continue
                self._handle(client, event)
            self._handle_xml(client, xml)
            if splitter.broken is not None:
                log.warning("%s: stream cannot be resynchronised; closed", client.peer)
                return

    def _handle_xml(self, client: TakClient, payloads: list[bytes]) -> None:
        if not payloads:
            return
        if self.on_event is None:
            # A read of plain sightings (a unit's sweep) goes in as columns, no event each;
            # anything else in the read, the general way (`cot_sightings`).
            sightings = read_sightings(payloads)
            if sightings is not None:
                self._handle_sightings(client, sightings)
                return
        for event in parse_cot_many(payloads):
            if isinstance(event, CotError):
                self._reject(client, event)
            else:
                self._handle(client, event)

    def _is_ping(self, payload: bytes) -> bool:
        if b"t-x-c-t" not in payload and b"takPong" not in payload:
            return False                   # neither ping type nor PyTAK's pong uid anywhere
        m = _START.search(payload)
        if m is None:
            return False
        tag = m.group()
        typ = _TYPE_ATTR.search(tag)
        uid = _UID_ATTR.search(tag)
        if (typ and typ.group(1) in PING_TYPES) or (uid and uid.group(1) == b"takPong"):
            self.stats.pings += 1
            return True
        return False

    def _reject(self, client: TakClient, exc: CotError) -> None:
        self.stats.rejected[exc.field] += 1
        client.rejected += 1
        log.debug("%s: refused: %s", client.peer, exc)

    async def _writer(self, client: TakClient, writer: asyncio.StreamWriter) -> None:
        while not client.closed:
            await client.wake.wait()
            client.wake.clear()
            while not client.closed:
                batch = client.take()
                if not batch:
                    break
                writer.write(b"".join(batch))
                await writer.drain()
                client.delivered += len(batch)
                self.stats.delivered += len(batch)
        if not writer.is_closing():
            writer.close()

    # -- incoming ------------------------------------------------------------------------

    def _handle(self, client: TakClient, event: CotEvent) -> None:
        sighting = is_sighting(event)
        if event.callsign and not sighting:
            client.callsigns.add(event.callsign)
        if not sighting and event.type.startswith("a-f-"):
            client.uids.add(event.uid)               # the client's own position report
        if sighting:
            self.stats.sightings += 1
            self._pending.append((client.party, event))
            self._pending_wake.set()
            xml = to_cot_xml(event, declaration=False)     # encoded once: stored and relayed
            if self.store_sightings:
                self._seal_later(client.party, "sighting", xml.decode())
            self._send("sighting", event, exclude=client, data=XML_DECLARATION + xml)
        else:
            self.stats.relayed += 1
            self._send("text", event, exclude=client, keep=False)

    def _handle_sightings(self, client: TakClient, s: Sightings) -> None:
        """`_handle` of each of `s`, from the columns: tracked, sealed, relayed and kept in the
        picture as each would have been."""
        n = len(s)
        party = client.party
        self.stats.sightings += n
        self._pending.append((party, s))
        self._pending_wake.set()
        if self.store_sightings:
            for text in s.text:
                self._seal_later(party, "sighting", text)
        decl = XML_DECLARATION
        for uid, xml, stale in zip(s.uid, s.xml, s.stale):
            self._queue("sighting", uid, decl + xml, stale, exclude=client)

    def _identity(self, party: str) -> Any:
        if party not in self._identities:
            try:
                self._identities[party] = self.deployment.identity(party)
            except (ChannelError, OSError) as exc:
                log.warning("cannot sign on behalf of %s (%s); its envelopes are not stored", party, exc)
                self._identities[party] = None
        return self._identities[party]

    def _seal_later(self, party: str, kind: str, body: Any) -> None:
        """Sign and store an envelope from `party` off the event loop; live subscribers are told."""
        self._sealing += 1
        self._seal_queue.append((party, kind, body))
        if not self._seal_wake.is_set():
            self._seal_wake.set()

    def _seal_run(self) -> None:
        """The sealing thread: drains the queue until `close` asks it to stop and it is empty.

        Whatever has queued up is sealed and handed to the committer as one unit (one future
        and one wake-up of the event loop per batch, not per sighting). After a wake-up it lets
        `SEAL_GATHER_S` pass first, so that a burst of reports is sealed together rather than
        one by one as each arrives (storing lags by that much; relaying does not wait for it).
        """
        loop = self._loop
        queue = self._seal_queue
        while True:
            self._seal_wake.wait()
            self._seal_wake.clear()
            if not self._seal_stop and len(queue) < SEAL_BATCH:
                time.sleep(SEAL_GATHER_S)
            while queue:
                batch = []
                while queue and len(batch) < SEAL_BATCH:
                    batch.append(queue.popleft())
                self._seal_batch(loop, batch)
            if self._seal_stop and not queue:
                return

    def _seal_batch(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[str, str, Any]]) -> None:
        """Sign and queue for the store what is in `batch`: the sightings one party reported
        together go into one envelope (``{"cot": [event, ...]}``, at most `SIGHTINGS_PER_ENVELOPE`
        and `SIGHTING_CHARS_PER_ENVELOPE`), so that a sweep of reports costs one signature and
        one stored record rather than one per person; anything else is an envelope of its own."""
        groups: list[tuple[str, str, Any, int]] = []          # (party, kind, body, items)
        size = 0
        for party, kind, body in batch:
            if kind == "sighting":
                last = groups[-1] if groups else None
                if (last is not None and last[1] == "sighting" and last[0] == party
                        and last[3] < SIGHTINGS_PER_ENVELOPE and size + len(body) <= SIGHTING_CHARS_PER_ENVELOPE):
                    last[2]["cot"].append(body)
                    groups[-1] = (party, kind, last[2], last[3] + 1)
                    size += len(body)
                    continue
                groups.append((party, kind, {"cot": [body]}, 1))
                size = len(body)
            else:
                groups.append((party, kind, body, 1))
        prepared, envs, counts = [], [], []
        for party, kind, body, items in groups:
            ident = self._identity(party)
            if ident is None:
                loop.call_soon_threadsafe(self._sealed_one, None, items)
                continue
            allowed = self.policy.allowed(kind)
            try:
                env, body_text = ident.seal_text(
                    kind, body, releasable_to=[p for p in self.deployment.party_ids if p in allowed],
                    parties=self.deployment.party_ids)
                # Sealed and checked just now by the deployment's own identity for `party`: neither
                # the signature nor the body (its canonical text comes with it) is checked again.
                prepared.append(self.store.prepare(env, body_text=body_text, signed_here=True))
                envs.append(env)
                counts.append(items)
            except Exception as exc:  # noqa: BLE001 - a worker thread: counted and logged, never lost silently
                loop.call_soon_threadsafe(self._sealed_one, exc, items)
        if prepared:
            fut = self.committer.submit_prepared(prepared)
            fut.add_done_callback(lambda f: loop.call_soon_threadsafe(self._stored, f, envs, sum(counts)))

    def _sealed_one(self, error: Exception | None, items: int = 1) -> None:
        self._sealing -= items
        if error is not None:
            self.stats.store_errors += items
            log.warning("%d reports not stored: %s", items, error)

    def _stored(self, future: Any, envs: list[Envelope], items: int) -> None:
        self._sealing -= items
        try:
            receipts: list[Receipt] = future.result()
        except Exception as exc:  # noqa: BLE001 - counted and logged; the stream goes on
            self.stats.store_errors += items
            log.warning("%d envelopes (%d reports) not stored (%s ... %s): %s", len(envs), items,
                        envs[0].id, envs[-1].id, exc)
            return
        self.stats.stored += items
        self.stats.envelopes += len(receipts)
        self.hub.deliver(list(zip(receipts, envs)))

    # -- the tracker ---------------------------------------------------------------------

    def _sensor(self, party: str, event: CotEvent) -> str:
        return self._sensor_named(party, event.callsign or event.uid)

    def _sensor_named(self, party: str, who: str) -> str:
        name = f"{party}/{who}"
        if name not in self.sensor_index:
            # Reporters join while the tracker runs.
            self.sensor_index[name] = self.tracker.add_sensor(name)
        return name

    async def _track_loop(self) -> None:
        while True:
            await self._pending_wake.wait()
            self._pending_wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                out = await asyncio.to_thread(self._step, batch)
            except BorderwatchError as exc:
                self.stats.rejected[getattr(exc, "field", "sighting")] += 1
                log.warning("sightings refused by the tracker: %s", exc)
                continue
            tracks, breaches, gone = out
            for tid in gone:
                if tid in self._pictured_tracks:
                    self._pictured_tracks.discard(tid)      # deleted tracks leave the picture
                    self.picture.pop(f"{TRACK_UID_PREFIX}{tid}", None)
            if isinstance(tracks, EncodedTracks):
                for uid, data in zip(tracks.uids, tracks.data):
                    self._queue("track", uid, data, tracks.stale)
                self._pictured_tracks.update(tracks.ids)
            else:                                    # events: `on_event` wants them
                for ev in tracks:
                    self._send("track", ev)
                    self._pictured_tracks.add(int(ev.uid[len(TRACK_UID_PREFIX):]))
            for b, ev in breaches:
                self._send("breach", ev, alert=True)
                self._seal_breach(b)

    async def _stats_loop(self) -> None:
        """One INFO line every `stats_every_s`: what came in, what went out, and what is queued
        (a backlog that keeps growing means the server is not keeping up with its clients)."""
        st = self.stats
        before = dataclasses.replace(st, rejected=Counter(st.rejected))
        while True:
            await asyncio.sleep(self.stats_every_s)
            dt = float(self.stats_every_s)
            outbox = max((len(c.alerts) + len(c.positions) for c in self.clients), default=0)
            log.info("stats: %d clients; in %d sightings (%.0f/s), %d other, %d rejected, %d TLS refused; "
                     "stored %d (%.0f/s), %d store errors; out %d events (%.0f/s), %d positions coalesced, "
                     "%d evicted; tracker %d steps, %d track updates, %d breaches; queued: %d to seal, "
                     "%d to track, largest outbox %d",
                     len(self.clients), st.sightings, (st.sightings - before.sightings) / dt, st.relayed,
                     st.rejections, st.tls_refused, st.stored, (st.stored - before.stored) / dt,
                     st.store_errors, st.delivered, (st.delivered - before.delivered) / dt,
                     st.dropped_positions, st.evicted, st.steps, st.tracks_sent, st.breaches,
                     self._sealing, len(self._pending), outbox)
            before = dataclasses.replace(st, rejected=Counter(st.rejected))

    def _step(self, batch: list[tuple[str, CotEvent | Sightings]]) -> tuple[EncodedTracks | list[CotEvent], list, list[int]]:
        """One tracker step over the sightings that arrived (runs in a worker thread, one at a time)."""
        from borderwatch.track.detections import Detections

        by_party: dict[str, list[CotEvent]] = {}
        columns: dict[str, list[Sightings]] = {}
        dets = []
        for party, e in batch:                    # a callsign names a reporter within its party
            if isinstance(e, Sightings):          # read as columns (`_handle_sightings`)
                columns.setdefault(party, []).append(e)
                continue
            by_party.setdefault(party, []).append(e)
        for party, parts in columns.items():     # one conversion a party, however many reads
            got = Sightings.concat(parts)
            who = {c or u for c, u in zip(got.callsign, got.uid)}
            sensors = {w: self.sensor_index[self._sensor_named(party, w)] for w in who}
            dets.append(sightings_columns_to_detections(got, self.projection, epoch=self.epoch, sensors=sensors))
        for party, evs in by_party.items():
            sensors = {(e.callsign or e.uid): self.sensor_index[self._sensor(party, e)] for e in evs}
            dets.append(sightings_to_detections(evs, self.projection, epoch=self.epoch, sensors=sensors))
        self.tracker.step(Detections.concat(dets))
        self.stats.steps += 1
        breaches = self.detector.update(self.tracker)
        est = self.tracker.estimates()
        # Which confirmed tracks changed since they were last sent, and which are gone: by sorted
        # arrays (`Tracker.estimates` is sorted by id), since a step at 13,000 tracks must not
        # cost a Python pass over all of them.
        ids = np.asarray(est.id, np.int64)
        updates = np.asarray(est.last_update, float)
        sent_ids, sent_updates = self._sent_ids, self._sent_updates
        if len(sent_ids):
            at = np.minimum(np.searchsorted(sent_ids, ids), len(sent_ids) - 1)
            fresh = np.flatnonzero((sent_ids[at] != ids) | (sent_updates[at] != updates))
            gone = np.setdiff1d(sent_ids, ids, assume_unique=True).tolist()
        else:
            fresh, gone = np.arange(len(ids)), []
        self._sent_ids, self._sent_updates = ids, updates
        tracks: EncodedTracks | list[CotEvent] = []
        if len(fresh):
            sub = dataclasses.replace(est, id=est.id[fresh], state=est.state[fresh], cov=est.cov[fresh],
                                      confirmed=est.confirmed[fresh], category=est.category[fresh],
                                      born=est.born[fresh], last_update=est.last_update[fresh])
            # Written straight to XML (a CotEvent a track cost ~10 µs, thousands a scan with a
            # large picture); as events only for an `on_event` listener.
            convert = estimates_to_cot if self.on_event is not None else estimates_to_cot_xml
            tracks = convert(sub, self.projection, epoch=self.epoch, stale_s=self.track_stale_s)
        alerts = [(b, breach_to_cot(b, epoch=self.epoch, stale_s=self.breach_stale_s)) for b in breaches]
        return tracks, alerts, gone

    def _seal_breach(self, breach: Any) -> None:
        body = dict(breach.as_dict())
        body["detected_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body["scenario"] = self.scenario.name
        self._seal_later(self.policy.owner, "breach", body)

    # -- outgoing ------------------------------------------------------------------------

    def _send(self, kind: str, event: CotEvent, *, alert: bool = False, exclude: TakClient | None = None,
              keep: bool = True, data: bytes | None = None) -> None:
        """Encode once (or take `data`, the event already encoded) and queue it for this turn's
        `_flush`: it goes to every client whose party may receive `kind` (and, with
        ``marti/dest``, that announced a named callsign or uid), except `exclude`."""
        if data is None:
            data = to_cot_xml(event)
        addressed = bool(event.dest_callsigns or event.dest_uids)
        if self.on_event is not None:
            self.on_event(kind, event)
        dest = (frozenset(event.dest_callsigns), frozenset(event.dest_uids)) if addressed else None
        self._queue(kind, event.uid, data, event.stale, alert=alert, exclude=exclude,
                    keep=keep and not addressed, count=keep, dest=dest)

    def _queue(self, kind: str, uid: str, data: bytes, stale: datetime, *, alert: bool = False,
               exclude: TakClient | None = None, keep: bool = True, count: bool = True,
               dest: tuple[frozenset, frozenset] | None = None) -> None:
        """`_send` of what is already encoded (tracks come so from `estimates_to_cot_xml`):
        counted (`count`), kept in the picture (`keep`) and queued for the next `_flush`."""
        if count:
            if kind == "track":
                self.stats.tracks_sent += 1
            elif kind == "breach":
                self.stats.breaches += 1
        if keep:
            self.picture[uid] = _Entry(kind, stale, data)
            self.picture.move_to_end(uid)
            self._prune_picture()
        self._outgoing.append((self.policy.allowed(kind), uid, data, alert, exclude, dest))
        if not self._flush_due:
            self._flush_due = True
            if self._loop is None:
                self._flush()
                return
            # At most one flush per FLUSH_S: a quiet server writes at once (next turn), a busy one
            # gathers a few milliseconds of events so that each client costs one write per flush.
            wait = self._flushed_at + FLUSH_S - self._loop.time()
            if wait > 0:
                self._loop.call_later(wait, self._flush)
            else:
                self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Write what is queued: one joined buffer per party, one write per client that keeps up."""
        self._flush_due = False
        if self._loop is not None:
            self._flushed_at = self._loop.time()
        items, self._outgoing = self._outgoing, []
        if not items or not self.clients:
            return
        shared: dict[str, tuple[list[int], list]] = {}   # party → (event indexes, [joined bytes])
        special = {it[4] for it in items if it[4] is not None}
        any_dest = any(it[5] is not None for it in items)
        delivered = 0
        for c in list(self.clients):
            if c.closed or (c.sink is not None and c.sink.is_closing()):
                continue                      # going: its reader removes it (asyncio would warn per write)
            if any_dest or c in special:
                idx = [i for i, it in enumerate(items) if self._visible(c, it)]
                joined: list = [None]
            else:
                got = shared.get(c.party)
                if got is None:
                    got = shared[c.party] = ([i for i, it in enumerate(items) if c.party in it[0]], [None])
                idx, joined = got
            if not idx:
                continue
            if c.behind():
                for i in idx:
                    _, uid, data, alert, _, _ = items[i]
                    try:
                        self.stats.dropped_positions += c.offer(uid, data, alert)
                    except _Evicted as exc:
                        self.stats.evicted += 1
                        log.warning("client evicted: %s", exc)
                        c.closed = True
                        c.wake.set()
                        self.clients.discard(c)
                        break
                continue
            if joined[0] is None:
                joined[0] = b"".join([items[i][2] for i in idx])
            try:
                c.write(joined[0], len(idx))
            except (ConnectionError, RuntimeError, OSError):
                continue                      # the connection is going; its reader cleans up
            delivered += len(idx)
        self.stats.delivered += delivered

    @staticmethod
    def _visible(c: TakClient, item: tuple) -> bool:
        allowed, _, _, _, exclude, dest = item
        if c is exclude or c.party not in allowed:
            return False
        if dest is not None and not (c.callsigns & dest[0] or c.uids & dest[1]):
            return False
        return True

    def _prune_picture(self, force: bool = False) -> None:
        """Drop stale entries (a full pass at most once a second: the picture can hold every
        track of 13,000 people, and a pass per event would make each send O(picture)); past
        `max_picture`, the least recently updated entries other than alerts go as well."""
        mono = self._loop.time() if self._loop is not None else 0.0
        if force or mono - self._pruned_at >= 1.0:
            self._pruned_at = mono
            now = datetime.now(timezone.utc)
            for uid in [u for u, e in self.picture.items() if e.stale <= now]:
                del self.picture[uid]
        excess = len(self.picture) - self.max_picture
        if excess > 0:
            oldest = []
            for uid, e in self.picture.items():          # least recently updated first
                if e.kind != "breach":
                    oldest.append(uid)
                    if len(oldest) == excess:
                        break
            for uid in oldest:
                del self.picture[uid]

    def _send_picture(self, client: TakClient) -> None:
        """The current picture for a new connection: what its party may see and is not stale."""
        self._prune_picture(force=True)
        order = {"breach": 0, "track": 1, "sighting": 2}
        for uid, e in sorted(self.picture.items(), key=lambda kv: order.get(kv[1].kind, 3)):
            if client.party in self.policy.allowed(e.kind):
                client.offer(uid, e.data, e.kind == "breach")

    # -- helpers for tests and tools -----------------------------------------------------

    def party_clients(self, party: str) -> list[TakClient]:
        return [c for c in self.clients if c.party == party]


def sighting_event(uid: str, lat: float, lon: float, *, callsign: str, when: datetime | None = None,
                   ce: float = 25.0, cot_type: str = "a-h-G-U-C-I", stale_s: float = 120.0,
                   remarks: str | None = None) -> CotEvent:
    """A field sighting as a TAK client reports it (hostile infantry by default)."""
    when = when or datetime.now(timezone.utc)
    return CotEvent(uid=uid, type=cot_type, how="h-e", time=when, start=when,
                    stale=when + timedelta(seconds=stale_s), lat=lat, lon=lon, ce=ce,
                    callsign=callsign, remarks=remarks)


async def run_server(server: TakServer, stop: asyncio.Event | None = None) -> None:
    """Start `server`, run until `stop` is set (or forever), then close it."""
    await server.start()
    try:
        if stop is None:
            await server.serve_forever()
        else:
            await stop.wait()
    finally:
        await server.close()
