"""Server shutdown with a WebSocket the client is already closing.

uvicorn's WebSocket protocol sends a close frame at shutdown whatever the
connection's state; when the client has already started closing, websockets
raises ``InvalidState`` and the server stopped with a traceback, leaving its
other connections open (seen in CI at the end of the channel demo). The
protocol classes `make_server` installs close the connection instead.
"""

from __future__ import annotations

import asyncio

from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.exceptions import InvalidState
from websockets.protocol import State

from borderwatch.channel.api import PeerRegistry, _with_registry


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8443)}.get(name, default)

    def write(self, data) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def _closing_connection(cls):
    config = Config(app=lambda scope, receive, send: None, ws="websockets-sansio")
    config.load()
    proto = cls(config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop())
    transport = _Transport()
    proto.connection_made(transport)
    proto.handshake_complete, proto.initial_response = True, None
    proto.conn.state = State.CLOSING          # the client's close frame has arrived
    return proto, transport


def test_a_closing_websocket_at_shutdown_is_closed_not_raised():
    async def main():
        bare, _ = _closing_connection(WebSocketsSansIOProtocol)
        try:
            bare.shutdown()
        except InvalidState:
            pass            # the uvicorn bug (0.55): without our wrapper the server stopped here
        ours, transport = _closing_connection(_with_registry(WebSocketsSansIOProtocol, PeerRegistry()))
        ours.shutdown()
        assert transport.closed

    asyncio.run(main())
