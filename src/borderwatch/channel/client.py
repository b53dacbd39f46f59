"""A Python client for the channel API: publish, history, acknowledge, subscribe.

    client = ChannelClient("https://127.0.0.1:8443", deployment.identity("us"),
                           verify=deployment.ca_cert_path,
                           cert=(deployment.client_cert_path("us"), deployment.client_key_path("us")))
    receipt = client.publish("sighting", {"lon": 41.0, "lat": 34.4}, releasable_to=["iq-mod"])
    async for delivery in client.subscribe(after=0):
        ...

Each request carries a fresh signed token (`borderwatch.channel.api.make_token`)
and, with `cert`, the party's TLS client certificate. Given the deployment
(`keys=deployment`), the client verifies the sender's signature on every
envelope it receives, so it need not trust the server either.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Collection, Iterable
from pathlib import Path
from typing import Any

import httpx

from ..errors import ChannelError
from .api import make_token
from .envelope import Body, Envelope, parse_time
from .keys import PartyIdentity
from .store import Acknowledgement, Delivery, Receipt


class ChannelHTTPError(ChannelError):
    """The server refused a request; `status` is the HTTP status (or WebSocket close code)."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"channel server: {status}: {detail}")


class _TokenAuth(httpx.Auth):
    def __init__(self, identity: PartyIdentity) -> None:
        self.identity = identity

    def auth_flow(self, request: httpx.Request):
        target = request.url.path + ("?" + request.url.query.decode("latin-1") if request.url.query else "")
        request.headers["Authorization"] = make_token(self.identity, request.method, target)
        yield request


def ssl_context(verify: Any = None, cert: Any = None) -> ssl.SSLContext | None:
    """An SSL context trusting `verify` (the deployment's CA file) with an optional client
    certificate `cert` = (certificate file, key file). None when neither is given."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is None and cert is None:
        return None
    ctx = ssl.create_default_context(cafile=str(verify) if verify not in (None, True) else None)
    if cert is not None:
        crt, key = (cert, None) if isinstance(cert, (str, Path)) else cert
        ctx.load_cert_chain(str(crt), str(key) if key else None)
    return ctx


def _receipt(d: dict[str, Any]) -> Receipt:
    return Receipt(uuid.UUID(d["id"]), int(d["position"]), tuple(d["recipients"]),
                   tuple(d["withheld"]), parse_time(d["stored"]), bool(d["duplicate"]))


def _ack(d: dict[str, Any]) -> Acknowledgement:
    return Acknowledgement(uuid.UUID(d["envelope_id"]), d["party"], parse_time(d["at"]))


class ChannelClient:
    """One party's connection to a channel server (synchronous; `subscribe` is async)."""

    def __init__(self, base_url: str, identity: PartyIdentity, *, verify: Any = None,
                 cert: Any = None, keys: Any = None, token: bool = True,
                 timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.identity = identity
        self.party = identity.party
        self._ssl = ssl_context(verify, cert)
        self._auth = _TokenAuth(identity) if token else None
        self._keys = ({p.id: p.public_key for p in keys.parties} if hasattr(keys, "parties")
                      else dict(keys) if keys is not None else None)
        self._timeout = timeout
        self._http = httpx.Client(base_url=self.base_url, auth=self._auth, timeout=timeout,
                                  verify=self._ssl if self._ssl is not None else True)
        self._ahttp: httpx.AsyncClient | None = None

    def close(self) -> None:
        self._http.close()

    async def aclose(self) -> None:
        if self._ahttp is not None:
            await self._ahttp.aclose()
            self._ahttp = None

    def __enter__(self) -> "ChannelClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -------------------------------------------------------------

    def _check(self, r: httpx.Response) -> Any:
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise ChannelHTTPError(r.status_code, str(detail))
        return r.json()

    def _request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ChannelError(f"{self.base_url}: {type(exc).__name__}: {exc}") from None
        return self._check(r)

    def seal(self, kind: str, body: Body, *, releasable_to: Collection[str], caveat: str = "") -> Envelope:
        return self.identity.seal(kind, body, releasable_to=releasable_to, caveat=caveat)

    def publish(self, envelope: Envelope | str, body: Body | None = None, *,
                releasable_to: Collection[str] = (), caveat: str = "") -> Receipt:
        """Publish an envelope, or seal one (`kind`, `body`, `releasable_to`) and publish it."""
        env = envelope if isinstance(envelope, Envelope) else self.seal(
            envelope, body if body is not None else {}, releasable_to=releasable_to, caveat=caveat)
        return _receipt(self._request("POST", "/envelopes", content=env.to_json(),
                                      headers={"content-type": "application/json"}))

    def publish_many(self, envelopes: Iterable[Envelope]) -> list[Receipt]:
        """Publish a batch in one transaction (all or nothing)."""
        data = "[" + ",".join(e.to_json().decode("utf-8") for e in envelopes) + "]"
        out = self._request("POST", "/envelopes/batch", content=data.encode("utf-8"),
                            headers={"content-type": "application/json"})
        return [_receipt(r) for r in out["receipts"]]

    async def publish_async(self, envelope: Envelope) -> Receipt:
        """`publish` for asyncio code (a shared `httpx.AsyncClient`)."""
        if self._ahttp is None:
            self._ahttp = httpx.AsyncClient(base_url=self.base_url, auth=self._auth,
                                            timeout=self._timeout,
                                            verify=self._ssl if self._ssl is not None else True,
                                            limits=httpx.Limits(max_connections=256))
        r = await self._ahttp.post("/envelopes", content=envelope.to_json(),
                                   headers={"content-type": "application/json"})
        return _receipt(self._check(r))

    def history(self, *, after: int = 0, limit: int = 100, kind: str | None = None,
                sender: str | None = None) -> list[Delivery]:
        params: dict[str, Any] = {"after": after, "limit": limit}
        if kind is not None:
            params["kind"] = kind
        if sender is not None:
            params["sender"] = sender
        out = self._request("GET", "/envelopes", params=params)
        return [self._delivery(d) for d in out["deliveries"]]

    def get(self, envelope_id: uuid.UUID | str) -> Delivery:
        return self._delivery(self._request("GET", f"/envelopes/{envelope_id}"))

    def count(self, *, after: int = 0, kind: str | None = None, sender: str | None = None) -> int:
        params: dict[str, Any] = {"after": after}
        if kind is not None:
            params["kind"] = kind
        if sender is not None:
            params["sender"] = sender
        return int(self._request("GET", "/envelopes/count", params=params)["count"])

    def acknowledge(self, envelope_id: uuid.UUID | str) -> Acknowledgement:
        return _ack(self._request("POST", f"/envelopes/{envelope_id}/ack"))

    def acknowledgements(self, envelope_id: uuid.UUID | str) -> list[Acknowledgement]:
        out = self._request("GET", f"/envelopes/{envelope_id}/acks")
        return [_ack(a) for a in out["acknowledgements"]]

    def cursor(self) -> int:
        return int(self._request("GET", "/cursor")["position"])

    def advance(self, position: int) -> None:
        self._request("PUT", "/cursor", json={"position": position})

    def whoami(self) -> str:
        return str(self._request("GET", "/whoami")["party"])

    # -- live -------------------------------------------------------------------

    def _delivery(self, d: dict[str, Any]) -> Delivery:
        env = Envelope.from_json(d["envelope"])
        if self._keys is not None:
            if env.sender not in self._keys:
                raise ChannelError(f'envelope {env.id}: unknown sender "{env.sender}"')
            env.verify(self._keys[env.sender])
        return Delivery(int(d["position"]), env, parse_time(d["stored"]))

    async def subscribe(self, after: int | None = None, *, reconnect: bool = True,
                        retry_s: float = 0.5) -> AsyncIterator[Delivery]:
        """Deliveries as they are stored, starting after position `after` (the party's
        durable cursor when None). On a dropped connection it reconnects after the last
        position it yielded, so every envelope comes exactly once."""
        import websockets

        last = after
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        root = scheme + self.base_url[self.base_url.index(":"):]
        while True:
            path = "/live" + (f"?after={last}" if last is not None else "")
            headers = {"Authorization": make_token(self.identity, "GET", path)} if self._auth else {}
            try:
                async with websockets.connect(root + path, additional_headers=headers,
                                              ssl=self._ssl, max_size=None,
                                              open_timeout=self._timeout) as ws:
                    async for message in ws:
                        obj = json.loads(message)
                        if obj.get("type") == "error":
                            raise ChannelHTTPError(400, str(obj.get("detail")))
                        for d in obj.get("deliveries", ()):
                            delivery = self._delivery(d)
                            if last is not None and delivery.position <= last:
                                continue  # never yield twice, whatever the server sends
                            last = delivery.position
                            yield delivery
                    code = ws.close_code
                    if code is not None and code >= 4000:
                        raise ChannelHTTPError(code, ws.close_reason or "refused")
            except websockets.InvalidStatus as exc:
                raise ChannelHTTPError(exc.response.status_code,
                                       "the server refused the live connection") from None
            except (OSError, websockets.ConnectionClosedError, websockets.InvalidHandshake) as exc:
                if not reconnect:
                    raise ChannelError(f"{self.base_url}/live: {type(exc).__name__}: {exc}") from None
            if not reconnect:
                return
            await asyncio.sleep(retry_s)
