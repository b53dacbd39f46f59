"""A log line for every request the channel API refuses.

Five parties that do not trust each other share this server: an operator must
be able to see, afterwards, who tried what and was turned away (a forged
signature, a replayed or borrowed token, a release list widened after
signing, a party publishing as another). The handlers answer each refusal
with a status and one sentence; this ASGI middleware, outermost, writes that
same sentence to the ``borderwatch.api`` logger with the method, path and
peer address:

    refused 403 POST /envelopes from 127.0.0.1:50212: envelope 3f2a…: signature does not verify …

Authentication and authorisation refusals (401, 403) are WARNING; other
client errors (400, 404, 409, 413, 422 …) INFO; server-side failures (5xx,
e.g. a store that cannot commit) ERROR. A WebSocket closed with a policy or
error code is logged the same way. Only the response's own text is logged:
request headers (tokens) and bodies never are, so the log holds nothing a
party could not already see in its own answer.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("borderwatch.api")

_KEEP_BODY = 4096          # refusal answers are one sentence; never buffer more than this
_WS_DENIED = (1008, 4401, 4403)   # policy violation; the API's "401" and "403" close codes


def _level(status: int) -> int:
    if status in (401, 403):
        return logging.WARNING
    if status >= 500:
        return logging.ERROR
    return logging.INFO


def _reason(body: bytes) -> str:
    """The answer's ``detail`` sentence (FastAPI's shape), else its first line."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body[:300].decode("utf-8", "replace").split("\n", 1)[0]
    detail = obj.get("detail") if isinstance(obj, dict) else None
    if isinstance(detail, str):
        return detail
    return json.dumps(detail if detail is not None else obj)[:300]


def _peer(scope: Any) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"


class RefusalLog:
    """ASGI middleware: log each 4xx/5xx answer and each abnormal WebSocket close."""

    def __init__(self, app: Any, logger: logging.Logger = log) -> None:
        self.app = app
        self.log = logger

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope.get("type")
        if kind == "http":
            await self.app(scope, receive, self._http_send(scope, send))
        elif kind == "websocket":
            await self.app(scope, receive, self._ws_send(scope, send))
        else:
            await self.app(scope, receive, send)

    def _http_send(self, scope: Any, send: Any) -> Any:
        status = 0
        body = bytearray()

        async def wrapped(message: Any) -> None:
            nonlocal status
            t = message.get("type")
            if t == "http.response.start":
                status = int(message.get("status", 0))
            elif t == "http.response.body" and status >= 400:
                if len(body) < _KEEP_BODY:
                    body.extend(message.get("body", b"")[: _KEEP_BODY - len(body)])
                if not message.get("more_body", False):
                    self.log.log(_level(status), "refused %d %s %s from %s: %s", status,
                                 scope.get("method", "?"), scope.get("path", "?"), _peer(scope),
                                 _reason(bytes(body)))
            await send(message)

        return wrapped

    def _ws_send(self, scope: Any, send: Any) -> Any:
        async def wrapped(message: Any) -> None:
            t = message.get("type")
            if t == "websocket.close":
                code = int(message.get("code", 1000))
                if code not in (1000, 1001):
                    self.log.log(logging.WARNING if code in _WS_DENIED else logging.INFO,
                                 "refused websocket %s from %s: close %d %s", scope.get("path", "?"),
                                 _peer(scope), code, message.get("reason") or "")
            elif t == "websocket.http.response.start":
                status = int(message.get("status", 0))
                if status >= 400:
                    self.log.log(_level(status), "refused websocket %s from %s: %d", scope.get("path", "?"),
                                 _peer(scope), status)
            await send(message)

        return wrapped


# -- TLS handshakes ------------------------------------------------------------------

tls_log = logging.getLogger("borderwatch.api.tls")


def refusal_reason(exc: BaseException) -> str:
    """OpenSSL's own words for a failed handshake ("certificate has expired"), else the error."""
    return getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or \
        (str(exc) or type(exc).__name__)


def tls_first(protocol_class: type, context: Any, *, handshake_timeout_s: float = 10.0,
              logger: logging.Logger = tls_log) -> type:
    """`protocol_class` (uvicorn's HTTP protocol) behind a TLS handshake of our own.

    asyncio drops a failed server-side handshake silently (a foreign CA, an
    expired certificate, a client with no certificate at all never reach the
    application), so the channel's HTTPS port would refuse them without a
    trace. Here the listener is plain TCP and each connection is upgraded
    with ``loop.start_tls``: a refusal raises into this code, which logs the
    peer and OpenSSL's reason and drops the connection; a good handshake
    hands the TLS transport to the real protocol as if uvicorn had done it.
    Data that arrives between the handshake and the hand-over is kept.
    """
    import asyncio
    import ssl

    class TLSFirst(protocol_class):  # type: ignore[misc, valid-type]
        _bw_ready = False

        def connection_made(self, transport: Any, *args: Any) -> None:
            self._bw_early: list[bytes] = []
            self._bw_args = args
            transport.pause_reading()      # the ClientHello is for start_tls, not for HTTP
            loop = asyncio.get_running_loop()
            self._bw_task = loop.create_task(self._bw_handshake(loop, transport))

        async def _bw_handshake(self, loop: Any, raw: Any) -> None:
            peer = raw.get_extra_info("peername")
            where = f"{peer[0]}:{peer[1]}" if peer else "?"
            try:
                tls = await loop.start_tls(raw, self, context, server_side=True,
                                           ssl_handshake_timeout=handshake_timeout_s)
            except (ssl.SSLError, ConnectionError, OSError, asyncio.TimeoutError) as exc:
                logger.warning("%s: TLS handshake refused: %s", where, refusal_reason(exc))
                raw.abort()
                return
            if tls is None or tls.is_closing():
                return
            self._bw_ready = True
            super().connection_made(tls, *self._bw_args)
            early, self._bw_early = self._bw_early, []
            for data in early:
                super().data_received(data)

        def data_received(self, data: bytes) -> None:
            if not self._bw_ready:
                self._bw_early.append(data)
                return
            super().data_received(data)

        def eof_received(self) -> Any:
            if not self._bw_ready:
                return None
            return super().eof_received()

        def connection_lost(self, exc: Any) -> None:
            if not self._bw_ready:
                return
            super().connection_lost(exc)

        def pause_writing(self) -> None:
            if self._bw_ready:
                super().pause_writing()

        def resume_writing(self) -> None:
            if self._bw_ready:
                super().resume_writing()

    TLSFirst.__name__ = f"TLSFirst{protocol_class.__name__}"
    return TLSFirst
