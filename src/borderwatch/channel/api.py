"""The channel's REST and WebSocket API (FastAPI): publish, history, acknowledge, live.

`make_app(deployment, store)` builds the ASGI app; `make_server(...)` runs it
under uvicorn, with mutual TLS from the deployment's certificates.

Every request is made by a party, authenticated one of two ways (``auth``
names those accepted):

* ``"mtls"`` — the TLS client certificate, issued by the deployment's CA,
  whose Common Name is the party id (only under `make_server` with TLS);
* ``"token"`` — ``Authorization: Borderwatch <party>:<unix-time>:<nonce>:<sig>``
  where ``sig`` is the party's Ed25519 signature (base64) over
  ``TOKEN_CONTEXT + "METHOD\\npath?query\\ntime\\nnonce"``. A token is good
  for `token_window_s` either side of the server's clock, and once: a
  replayed (party, nonce) is refused.

When both are present they must name the same party.

Routes (JSON; errors are ``{"detail": "one sentence"}``)::

    POST /envelopes               a signed envelope → its receipt (201; 200 if already stored)
    POST /envelopes/batch         [envelopes] → receipts, stored in one transaction
    GET  /envelopes               history: ?after=&limit=&kind=&sender=&since=&until=
    GET  /envelopes/count         ?after=&kind=&sender=
    GET  /envelopes/{id}          one delivery
    POST /envelopes/{id}/ack      acknowledge it
    GET  /envelopes/{id}/acks     acknowledgements (all of them for the sender)
    GET  /cursor  PUT /cursor     the party's durable cursor
    GET  /whoami                  the authenticated party
    WS   /live?after=N            deliveries as they are stored, resuming after N
                                  (the party's cursor if N is not given)

Nothing unreleased is visible anywhere: an envelope not released to the
caller is answered exactly like one that does not exist (404, same words).
The sender of a published envelope must be the authenticated party (403),
and its signature must verify with that party's key (403).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gc
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from ..errors import ChannelError
from .canonical import escape_string
from .deployment import Deployment
from .envelope import (KINDS, MAX_ENVELOPE_BYTES, Envelope, format_time, parse_time,
                       read_envelope, sign_message, verify_signature)
from .group_commit import GroupCommitter
from .live import LiveHub, frame_text
from .refusals import RefusalLog, tls_first
from .store import MAX_LIMIT, Acknowledgement, Delivery, Receipt, Store
from .tls import server_context

TOKEN_CONTEXT = b"borderwatch/token/v1\x00"
TOKEN_SCHEME = "Borderwatch"
DEFAULT_WINDOW_S = 60.0
MAX_BATCH = 1000
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_NOT_FOUND = re.compile(r'^envelope [0-9a-f-]{36}: no such envelope for "')


# -- tokens ----------------------------------------------------------------------


def token_message(method: str, target: str, when: int, nonce: str) -> bytes:
    """What a token signs: the request's method and target (path and query), time, nonce."""
    return TOKEN_CONTEXT + f"{method.upper()}\n{target}\n{when}\n{nonce}".encode("utf-8")


def make_token(identity: Any, method: str, target: str, *, when: int | None = None,
               nonce: str | None = None) -> str:
    """The ``Authorization`` header value for one request by `identity` (a `PartyIdentity`)."""
    import secrets

    when = int(time.time()) if when is None else int(when)
    nonce = nonce or secrets.token_urlsafe(12)
    sig = sign_message(identity.private_key, token_message(method, target, when, nonce))
    return f"{TOKEN_SCHEME} {identity.party}:{when}:{nonce}:{base64.b64encode(sig).decode('ascii')}"


class TokenVerifier:
    """Checks tokens: the party's key, the freshness window, and one use per nonce."""

    def __init__(self, deployment: Deployment, window_s: float = DEFAULT_WINDOW_S) -> None:
        self.keys = {p.id: p.public_key for p in deployment.parties}
        self.window_s = float(window_s)
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, header: str, method: str, target: str, now: float | None = None) -> str:
        """The party a valid token names; `ChannelError` saying why otherwise."""
        now = time.time() if now is None else now
        scheme, _, value = header.partition(" ")
        if scheme != TOKEN_SCHEME or not value:
            raise ChannelError(f'authorization: expected "{TOKEN_SCHEME} <party>:<time>:<nonce>:'
                               '<signature>"')
        parts = value.strip().split(":")
        if len(parts) != 4:
            raise ChannelError("authorization: token must have four parts, party:time:nonce:signature")
        party, when_text, nonce, sig_text = parts
        if party not in self.keys:
            raise ChannelError("authorization: unknown party or bad signature")
        if not when_text.isdigit() or len(when_text) > 12:
            raise ChannelError("authorization: time must be whole Unix seconds")
        when = int(when_text)
        if abs(now - when) > self.window_s:
            raise ChannelError(f"authorization: token time is more than {self.window_s:g} s from "
                               "the server's clock (expired, or the clock is wrong)")
        if not _NONCE.fullmatch(nonce):
            raise ChannelError("authorization: nonce must be 8–64 characters of [A-Za-z0-9_-]")
        try:
            sig = base64.b64decode(sig_text, validate=True)
        except (binascii.Error, ValueError):
            sig = b""
        try:
            if len(sig) != 64 or not verify_signature(self.keys[party], sig,
                                                      token_message(method, target, when, nonce)):
                raise ValueError
        except Exception:
            raise ChannelError("authorization: unknown party or bad signature") from None
        with self._lock:
            self._prune(now)
            if (party, nonce) in self._seen:
                raise ChannelError("authorization: this token was already used (replay)")
            self._seen[(party, nonce)] = when
        return party

    def _prune(self, now: float) -> None:
        horizon = now - 2 * self.window_s
        while self._seen:
            key, when = next(iter(self._seen.items()))
            if when >= horizon and len(self._seen) < 1_000_000:
                break
            self._seen.popitem(last=False)


# -- mutual TLS --------------------------------------------------------------------


class PeerRegistry:
    """Client-certificate party of each live TLS connection, by (host, port) of the peer.

    uvicorn does not put the peer certificate in the ASGI scope, so the
    protocol classes `make_server` installs record it here when a connection
    is made (after the handshake) and forget it when it is lost.
    """

    def __init__(self) -> None:
        self._by_peer: dict[tuple[str, int], str | None] = {}

    def connected(self, transport: Any) -> tuple[str, int] | None:
        """Record the connection's party; returns the key to give `lost`."""
        peer = transport.get_extra_info("peername")
        if not peer:
            return None
        party = None
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            cert = ssl_object.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for key, value in rdn:
                        if key == "commonName":
                            party = str(value)
        key = (str(peer[0]), int(peer[1]))
        self._by_peer[key] = party
        return key

    def lost(self, key: tuple[str, int] | None) -> None:
        # By the key `connected` gave, not by asking the transport again: a TLS transport
        # closed twice has let go of its SSL protocol (Python 3.11), and asking it then
        # raised AttributeError in asyncio's callback, a traceback per connection at the
        # end of `channel demo`.
        if key is not None:
            self._by_peer.pop(key, None)

    def party(self, client: Any) -> str | None:
        if not client:
            return None
        return self._by_peer.get((str(client[0]), int(client[1])))


def _with_registry(cls: type, registry: PeerRegistry) -> type:
    class Recording(cls):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any, *args: Any) -> None:
            self._bw_peer = registry.connected(transport)
            super().connection_made(transport, *args)

        def connection_lost(self, exc: Any) -> None:
            registry.lost(getattr(self, "_bw_peer", None))
            super().connection_lost(exc)

        def shutdown(self) -> None:
            # uvicorn's WebSocket protocol sends a close frame at shutdown even when the
            # client is already closing, and websockets raises InvalidState: the server
            # then stopped with a traceback and left the other connections open.
            try:
                super().shutdown()
            except Exception:  # noqa: BLE001 - the connection is going anyway; close it
                transport = getattr(self, "transport", None)
                if transport is not None:
                    transport.close()

    Recording.__name__ = f"PeerRecording{cls.__name__}"
    return Recording


# -- the app --------------------------------------------------------------------------


@dataclass
class ChannelState:
    """What the app's routes share: deployment, store, committer, live hub, auth."""

    deployment: Deployment
    store: Store
    committer: GroupCommitter
    hub: LiveHub
    tokens: TokenVerifier
    auth: frozenset[str]
    peers: PeerRegistry
    loop: Any = None   # the event loop the committer tells of new envelopes, once serving


def _error(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


def _store_error(exc: ChannelError) -> HTTPException:
    text = str(exc)
    if _NOT_FOUND.match(text):
        return _error(404, text)
    return _error(400, text)


def receipt_json(r: Receipt) -> dict[str, Any]:
    return {"id": str(r.id), "position": r.position, "recipients": list(r.recipients),
            "withheld": list(r.withheld), "stored": format_time(r.stored), "duplicate": r.duplicate}


def receipt_text(r: Receipt) -> str:
    """`receipt_json` as compact JSON text, written directly (the batch route's hot path)."""
    e = escape_string
    return ('{"id":"' + str(r.id) + '","position":' + str(r.position) + ',"recipients":['
            + ",".join(map(e, r.recipients)) + '],"withheld":[' + ",".join(map(e, r.withheld))
            + '],"stored":"' + format_time(r.stored) + '","duplicate":'
            + ("true" if r.duplicate else "false") + "}")


def receipts_body(receipts: list[Receipt]) -> bytes:
    """``{"receipts":[…]}`` of the batch route, as `receipt_text` writes each receipt, with
    what a batch repeats (the commit's time, the recipient lists) written once."""
    e = escape_string
    times: dict[datetime, str] = {}
    lists: dict[tuple[str, ...], str] = {}
    parts = []
    for r in receipts:
        stored = times.get(r.stored)
        if stored is None:
            stored = times[r.stored] = format_time(r.stored)
        rec = lists.get(r.recipients)
        if rec is None:
            rec = lists[r.recipients] = ",".join(map(e, r.recipients))
        held = lists.get(r.withheld)
        if held is None:
            held = lists[r.withheld] = ",".join(map(e, r.withheld))
        parts.append('{"id":"' + str(r.id) + '","position":' + str(r.position) + ',"recipients":['
                     + rec + '],"withheld":[' + held + '],"stored":"' + stored + '","duplicate":'
                     + ("true" if r.duplicate else "false") + "}")
    return ('{"receipts":[' + ",".join(parts) + "]}").encode("utf-8")


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {"position": d.position, "stored": format_time(d.stored), "envelope": d.envelope.to_dict()}


def ack_json(a: Acknowledgement) -> dict[str, Any]:
    return {"envelope_id": str(a.envelope_id), "party": a.party, "at": format_time(a.at)}


_ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["v", "id", "sender", "kind", "created", "caveat", "releasable_to", "body", "signature"],
    "additionalProperties": False,
    "properties": {
        "v": {"type": "integer", "enum": [1]},
        "id": {"type": "string", "format": "uuid"},
        "sender": {"type": "string"},
        "kind": {"type": "string", "enum": list(KINDS)},
        "created": {"type": "string", "description": "UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ"},
        "caveat": {"type": "string"},
        "releasable_to": {"type": "array", "items": {"type": "string"}},
        "body": {"oneOf": [{"type": "object"}, {"type": "string", "description": "CoT XML"}]},
        "signature": {"type": "string", "description": "Ed25519 over the RFC 8785 canonical "
                                                       "JSON of the other fields, base64"},
    },
}


class _FastPath:
    """ASGI middleware: the hot routes named in `routes` ((method, path) → ASGI handler)
    are answered directly; everything else goes on to the app as usual."""

    def __init__(self, app: Any, routes: dict[tuple[str, str], Any]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            handler = self.routes.get((scope["method"], scope["path"]))
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.app(scope, receive, send)


def make_app(deployment: Deployment, store: Store, *,
             auth: Collection[str] = ("mtls", "token"), token_window_s: float = DEFAULT_WINDOW_S,
             committer: GroupCommitter | None = None, hub: LiveHub | None = None,
             peers: PeerRegistry | None = None, poll_s: float = 1.0) -> FastAPI:
    """The channel API for `deployment` over `store`.

    `auth` holds ``"mtls"`` and/or ``"token"``; a `GroupCommitter` and a
    `LiveHub` are made when not given (the committer is closed with the app).
    """
    auth = frozenset(auth)
    if not auth or auth - {"mtls", "token"}:
        raise ChannelError(f"auth: one or both of 'mtls' and 'token', got {sorted(auth)}")
    own_committer = committer is None
    committer = committer or GroupCommitter(store)
    state = ChannelState(deployment, store, committer, hub or LiveHub(store, poll_s=poll_s),
                         TokenVerifier(deployment, token_window_s), auth, peers or PeerRegistry())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # The committer tells the hub of every stored envelope once per transaction, in
        # commit order, on this loop: live delivery does not wait for the HTTP replies.
        loop = asyncio.get_running_loop()

        def stored(items: list) -> None:
            loop.call_soon_threadsafe(state.hub.deliver, items)

        committer.add_listener(stored)
        await run_in_threadpool(committer.verifier.warm)     # ready before the first request
        state.loop = loop
        try:
            yield
        finally:
            state.loop = None
            committer.remove_listener(stored)
            if own_committer:
                await run_in_threadpool(committer.close)
            await run_in_threadpool(committer.verifier.stop)

    def deliver_here(items: Any) -> None:
        # Without the lifespan (say, a test client used outside ``with``) the route delivers.
        if state.loop is not asyncio.get_running_loop():
            state.hub.deliver(items)

    app = FastAPI(title="borderwatch channel",
                  description="Signed envelopes between parties that do not trust each other, "
                              "released per party, stored durably, audited.",
                  version="1", lifespan=lifespan)
    app.state.channel = state

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid request')}"},
                            status_code=422)

    def identify(scope_client: Any, headers: Any, method: str, path: str, query: bytes) -> str:
        cert_party = state.peers.party(scope_client) if "mtls" in state.auth else None
        if cert_party is not None and cert_party not in state.tokens.keys:
            raise _error(403, f'client certificate names "{cert_party}", not a party of this '
                              "deployment")
        header = headers.get("authorization")
        token_party = None
        if header is not None and "token" in state.auth:
            target = path + ("?" + query.decode("latin-1") if query else "")
            try:
                token_party = state.tokens.verify(header, method, target)
            except ChannelError as exc:
                raise _error(401, str(exc)) from None
        if cert_party and token_party and cert_party != token_party:
            raise _error(403, f'the token is for "{token_party}" but the client certificate is '
                              f'for "{cert_party}"')
        party = cert_party or token_party
        if party is None:
            how = " or ".join(sorted(state.auth))
            raise _error(401, f"not authenticated: present a client certificate or an "
                              f"Authorization token ({how})")
        return party

    async def authenticated(request: Request) -> str:
        return identify(request.scope.get("client"), request.headers, request.method,
                        request.scope["path"], request.scope.get("query_string", b""))

    party_ids = frozenset(deployment.party_ids)

    def read_checked(obj: Any, party: str, where: str = "") -> tuple[Envelope, str]:
        if not isinstance(obj, (dict, bytes)):
            kind = "an array" if isinstance(obj, list) else type(obj).__name__
            raise _error(400, f"{where}envelope: must be a JSON object, got {kind}")
        try:
            env, body_text = read_envelope(obj, parties=party_ids)
        except ChannelError as exc:
            raise _error(400, f"{where}{exc}") from None
        if env.sender != party:
            raise _error(403, f'{where}envelope {env.id}: sender is "{env.sender}" but you are '
                              f'"{party}"; a party publishes only its own envelopes')
        return env, body_text

    def publish_error(exc: BaseException) -> HTTPException:
        text = str(exc)
        if isinstance(exc, ChannelError):
            if "signature does not verify" in text:
                return _error(403, text)
            if "already stored with different content" in text:
                return _error(409, text)
            if "sent twice in one batch" in text:
                return _error(400, text)
            return _error(503, text)
        return _error(503, f"store failed, nothing was stored ({type(exc).__name__})")

    def parse_json(raw: bytes, batch: bool = False) -> Any:
        if len(raw) > MAX_ENVELOPE_BYTES * (MAX_BATCH if batch else 1):
            raise _error(413, f"request body of {len(raw)} bytes is too large")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _error(400, f"request body is not JSON ({exc})") from None

    async def read_json(request: Request) -> Any:
        return parse_json(await request.body(), request.url.path.endswith("/batch"))

    async def commit_job(job: Any) -> list[Receipt]:
        # Authentication, parsing and the signature check run in the committer's checking
        # threads (Ed25519 releases the GIL), so the event loop keeps serving and delivering.
        try:
            return await asyncio.wrap_future(state.committer.submit_job(job))
        except HTTPException:
            raise
        except Exception as exc:
            raise publish_error(exc) from None

    def request_facts(request: Request) -> tuple[Any, Any, str, str, bytes]:
        scope = request.scope
        return (scope.get("client"), request.headers, request.method, scope["path"],
                scope.get("query_string", b""))

    @app.post("/envelopes", status_code=201, summary="Publish a signed envelope",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": _ENVELOPE_SCHEMA}}}})
    async def publish(request: Request) -> JSONResponse:
        facts = request_facts(request)
        raw = await request.body()

        def job() -> list[Any]:
            party = identify(*facts)
            if len(raw) > MAX_ENVELOPE_BYTES:
                raise _error(413, f"request body of {len(raw)} bytes is more than the limit of "
                                  f"{MAX_ENVELOPE_BYTES}")
            env, body_text = read_checked(raw, party)
            made.append(store.prepare(env, body_text=body_text))
            return made

        made: list[Any] = []
        receipt = (await commit_job(job))[0]
        if not receipt.duplicate:
            deliver_here([(receipt, made[0])])
        return JSONResponse(receipt_json(receipt), status_code=200 if receipt.duplicate else 201)

    async def fast_body(receive: Any, limit: int) -> bytes | None:
        # The whole request body, or None if the client left; stops reading past `limit`
        # (the caller answers 413 from the length).
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"\0" * size
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def fast_answer(send: Any, status: int, body: bytes, extra: Any = None) -> None:
        headers = [(b"content-length", str(len(body)).encode("latin-1")),
                   (b"content-type", b"application/json")]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in (extra or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def fast_json(content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("utf-8")

    async def fast_publish(scope: Any, receive: Any, send: Any) -> None:
        # POST /envelopes as the route above answers it, minus FastAPI's routing, dependency
        # and exception-middleware layers: on the single-envelope path they cost more
        # event-loop time than everything else the request needs.
        raw = await fast_body(receive, MAX_ENVELOPE_BYTES + 1)
        if raw is None:
            return
        facts = (scope.get("client"), Headers(scope=scope), "POST", scope["path"],
                 scope.get("query_string", b""))
        made: list[Any] = []

        def job() -> list[Any]:
            party = identify(*facts)
            if len(raw) > MAX_ENVELOPE_BYTES:
                raise _error(413, f"request body of {len(raw)} bytes is more than the limit of "
                                  f"{MAX_ENVELOPE_BYTES}")
            env, body_text = read_checked(raw, party)
            made.append(store.prepare(env, body_text=body_text))
            return made

        extra: Any = None
        try:
            receipt = (await commit_job(job))[0]
        except HTTPException as exc:
            status, body, extra = exc.status_code, fast_json({"detail": exc.detail}), exc.headers
        else:
            if not receipt.duplicate:
                deliver_here([(receipt, made[0])])
            status, body = (200 if receipt.duplicate else 201), fast_json(receipt_json(receipt))
        await fast_answer(send, status, body, extra)

    async def fast_publish_batch(scope: Any, receive: Any, send: Any) -> None:
        # POST /envelopes/batch as `publish_batch` answers it, by the same shortcut; the
        # receipts are written as text (their fields are ids, party ids, numbers and times,
        # nothing that needs escaping beyond what escape_string does).
        raw = await fast_body(receive, MAX_ENVELOPE_BYTES * MAX_BATCH + 1)
        if raw is None:
            return
        facts = (scope.get("client"), Headers(scope=scope), "POST", scope["path"],
                 scope.get("query_string", b""))
        made: list[Any] = []
        extra: Any = None
        try:
            receipts = await commit_job(lambda: batch_job(facts, raw, made))
        except HTTPException as exc:
            status, body, extra = exc.status_code, fast_json({"detail": exc.detail}), exc.headers
        else:
            deliver_here([(r, p) for r, p in zip(receipts, made) if not r.duplicate])
            status = 201
            body = receipts_body(receipts)
        await fast_answer(send, status, body, extra)

    def batch_job(facts: tuple[Any, ...], raw: bytes, made: list[Any]) -> list[Any]:
        party = identify(*facts)
        data = parse_json(raw, batch=True)
        if not isinstance(data, list) or not data:
            raise _error(400, "request body must be a non-empty JSON array of envelopes")
        if len(data) > MAX_BATCH:
            raise _error(413, f"{len(data)} envelopes in one batch, more than {MAX_BATCH}")
        envs = [read_checked(obj, party, f"[{i}] ") for i, obj in enumerate(data)]
        prepared = []
        # The signatures are checked together, after every other check (see batch_verify);
        # a bad one is checked again here, which raises the error it always raised.
        for i, (e, body_text) in enumerate(envs):
            try:
                prepared.append(store.prepare(e, body_text=body_text, verify=False))
            except ChannelError as exc:
                raise ChannelError(f"[{i}] {exc}") from None
        for i in state.committer.verifier.bad([store.signature_item(p) for p in prepared]):
            try:
                store.prepare(envs[i][0], body_text=envs[i][1])
            except ChannelError as exc:
                raise ChannelError(f"[{i}] {exc}") from None
            raise ChannelError(f"[{i}] envelope {envs[i][0].id}: the signature does not verify")
        made.extend(prepared)
        return prepared

    app.add_middleware(_FastPath, routes={("POST", "/envelopes"): fast_publish,
                                          ("POST", "/envelopes/batch"): fast_publish_batch})

    @app.post("/envelopes/batch", status_code=201, summary="Publish many, in one transaction",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"type": "array", "items": _ENVELOPE_SCHEMA,
                                                  "maxItems": MAX_BATCH}}}}})
    async def publish_batch(request: Request) -> JSONResponse:
        facts = request_facts(request)
        raw = await request.body()
        made: list[Any] = []
        receipts = await commit_job(lambda: batch_job(facts, raw, made))
        deliver_here([(r, p) for r, p in zip(receipts, made) if not r.duplicate])
        return JSONResponse({"receipts": [receipt_json(r) for r in receipts]}, status_code=201)

    def _kind(kind: str | None) -> str | None:
        if kind is not None and kind not in KINDS:
            raise _error(400, f'kind: unknown kind "{kind}" (one of {", ".join(KINDS)})')
        return kind

    def _sender(sender: str | None) -> str | None:
        if sender is not None and sender not in deployment.party_ids:
            raise _error(400, f'sender: unknown party "{sender}"')
        return sender

    def _time(text: str | None, name: str) -> datetime | None:
        if text is None:
            return None
        try:
            return parse_time(text, name)
        except ChannelError as exc:
            raise _error(400, str(exc)) from None

    @app.get("/envelopes", summary="History: envelopes released to you, in your order")
    def history(party: str = Depends(authenticated),
                after: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=MAX_LIMIT),
                kind: str | None = None, sender: str | None = None,
                since: str | None = None, until: str | None = None) -> dict[str, Any]:
        k, s = _kind(kind), _sender(sender)
        t0, t1 = _time(since, "since"), _time(until, "until")
        try:
            rows = store.search(party, kind=k, sender=s, since=t0, until=t1, after=after, limit=limit)
        except ChannelError as exc:
            raise _store_error(exc) from None
        return {"deliveries": [delivery_json(d) for d in rows],
                "last": rows[-1].position if rows else after}

    @app.get("/envelopes/count", summary="How many envelopes released to you match")
    def count(party: str = Depends(authenticated), after: int = Query(0, ge=0),
              kind: str | None = None, sender: str | None = None) -> dict[str, int]:
        try:
            return {"count": store.count(party, after=after, kind=_kind(kind), sender=_sender(sender))}
        except ChannelError as exc:
            raise _store_error(exc) from None

    @app.get("/envelopes/{envelope_id}", summary="One envelope released to you")
    def get(envelope_id: str, party: str = Depends(authenticated)) -> dict[str, Any]:
        try:
            return delivery_json(store.get(party, envelope_id))
        except ChannelError as exc:
            raise _store_error(exc) from None

    @app.post("/envelopes/{envelope_id}/ack", summary="Acknowledge an envelope released to you")
    def acknowledge(envelope_id: str, party: str = Depends(authenticated)) -> dict[str, Any]:
        try:
            return ack_json(store.acknowledge(party, envelope_id))
        except ChannelError as exc:
            raise _store_error(exc) from None

    @app.get("/envelopes/{envelope_id}/acks", summary="Acknowledgements you may see")
    def acknowledgements(envelope_id: str, party: str = Depends(authenticated)) -> dict[str, Any]:
        try:
            return {"acknowledgements": [ack_json(a) for a in
                                         store.acknowledgements(party, envelope_id)]}
        except ChannelError as exc:
            raise _store_error(exc) from None

    @app.get("/cursor", summary="Your durable cursor: the last position you confirmed")
    def get_cursor(party: str = Depends(authenticated)) -> dict[str, Any]:
        return {"party": party, "position": store.cursor(party)}

    @app.put("/cursor", summary="Move your cursor forward",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object", "properties": {"position": {"type": "integer"}},
                            "required": ["position"]}}}}})
    async def put_cursor(request: Request, party: str = Depends(authenticated)) -> dict[str, Any]:
        data = await read_json(request)
        pos = data.get("position") if isinstance(data, dict) else None
        if not isinstance(pos, int) or isinstance(pos, bool) or pos < 0:
            raise _error(400, 'body must be {"position": <whole number ≥ 0>}')
        try:
            await run_in_threadpool(store.advance, party, pos)
        except ChannelError as exc:
            raise _store_error(exc) from None
        return {"party": party, "position": pos}

    @app.get("/whoami", summary="The party you are authenticated as")
    async def whoami(party: str = Depends(authenticated)) -> dict[str, str]:
        return {"party": party}

    @app.get("/health", summary="Liveness (no authentication)")
    async def health() -> dict[str, str]:
        return {"status": "ok", "deployment": deployment.id}

    @app.websocket("/live")
    async def live(ws: WebSocket) -> None:
        try:
            party = identify(ws.scope.get("client"), ws.headers, "GET", ws.scope["path"],
                             ws.scope.get("query_string", b""))
        except HTTPException as exc:
            await ws.close(code=4401 if exc.status_code == 401 else 4403, reason=exc.detail[:120])
            return
        after_text = ws.query_params.get("after")
        if after_text is None:
            after = await run_in_threadpool(store.cursor, party)
        elif after_text.isdigit() and len(after_text) < 19:
            after = int(after_text)
        else:
            await ws.close(code=4400, reason="after: must be a whole number ≥ 0")
            return
        await ws.accept()
        sub = state.hub.subscribe(party, after)

        async def pump() -> None:
            while True:
                await ws.send_text(frame_text(await sub.next_batch()))

        async def listen() -> None:
            # Clients may confirm positions to move their durable cursor: {"cursor": N}.
            while True:
                msg = await ws.receive_text()
                try:
                    pos = json.loads(msg).get("cursor")
                    if isinstance(pos, int) and not isinstance(pos, bool):
                        await run_in_threadpool(store.advance, party, pos)
                except (ValueError, AttributeError, ChannelError) as exc:
                    await ws.send_text(json.dumps({"type": "error", "detail": str(exc)}))

        tasks = [asyncio.create_task(pump()), asyncio.create_task(listen())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sub.close()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                    await t
            with contextlib.suppress(Exception):
                await ws.close()

    app.add_middleware(RefusalLog)       # outermost: sees every answer, the fast path's too
    return app


# -- serving ---------------------------------------------------------------------------


def make_server(deployment: Deployment, store: Store, *, host: str = "127.0.0.1", port: int = 8443,
                tls: bool = True, auth: Collection[str] = ("mtls", "token"),
                log_level: str = "warning", freeze_gc: bool | None = None, **app_options: Any):
    """A `uvicorn.Server` for the channel; with `tls`, mutual TLS with the deployment's CA.

    Under TLS every client must present a certificate from the deployment's
    CA (CERT_REQUIRED), and its Common Name is the party it speaks for.

    `freeze_gc`: once serving, collect and then freeze (`gc.freeze`) everything the
    process holds, so that the collector's full passes, which otherwise walk every
    object of the libraries loaded (tens of milliseconds, stalling deliveries), look
    only at what was made since. None (the default) does so when the server runs in
    the process's main thread, that is when the process is the server; a server
    thread inside another program (tests, the demo) leaves that program's collector alone.
    """
    import uvicorn

    peers = PeerRegistry()
    app = make_app(deployment, store, auth=auth, peers=peers, **app_options)
    # TLS is not uvicorn's: each connection is upgraded by `refusals.tls_first`, so that a
    # refused handshake (foreign CA, expired or missing certificate) is logged, not dropped
    # silently by asyncio. The context is what uvicorn's ssl_* options would have built.
    context = server_context(deployment.server_cert_path, deployment.server_key_path,
                             deployment.ca_cert_path) if tls else None

    class Config(uvicorn.Config):
        def load(self) -> None:
            super().load()
            http = _with_registry(self.http_protocol_class, peers)
            self.http_protocol_class = tls_first(http, context) if context is not None else http
            if self.ws_protocol_class is not None:
                self.ws_protocol_class = _with_registry(self.ws_protocol_class, peers)

    class Server(uvicorn.Server):
        """`signal`: the signal (SIGINT, SIGTERM) that stopped `run()`, else None."""

        signal: int | None = None

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            # uvicorn shuts down gracefully on SIGINT/SIGTERM and then raises the signal again,
            # which kills the process (exit -15, nothing after `run()` runs: the store was not
            # closed) or raises KeyboardInterrupt. Here `run()` returns and says which signal
            # stopped it, so `channel serve` ends as `serve` does: closed cleanly, exit 0.
            with super().capture_signals():
                try:
                    yield
                finally:
                    captured = getattr(self, "_captured_signals", None)    # uvicorn >= 0.29
                    if captured:
                        self.signal = captured[-1]
                        captured.clear()

        async def startup(self, *args: Any, **kwargs: Any) -> None:
            await super().startup(*args, **kwargs)
            freeze = (threading.current_thread() is threading.main_thread()
                      if freeze_gc is None else freeze_gc)
            if freeze:
                gc.collect()
                gc.freeze()

    config = Config(app, host=host, port=port, log_level=log_level, access_log=False,
                    lifespan="on", ws_max_size=16 * 1024 * 1024,
                    # uvloop's start_tls can hand the ClientHello to the plain protocol before
                    # it switches (a handshake that then times out, about 1 in 6 connections
                    # here); asyncio's loop does not. Plain HTTP keeps uvicorn's choice.
                    loop="asyncio" if context is not None else "auto")
    return Server(config)


class ServerThread:
    """Run a `uvicorn.Server` in a background thread (tests, the demo, benchmarks)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.run, name="borderwatch-channel-api", daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ChannelError("channel server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
