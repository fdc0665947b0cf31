"""Plain-HTTP listeners of their own for peers that cannot speak TLS to us (FATE-Flow hard-codes http:// and
presents no client certificate). Each serves one peer: the same app, with the scope marked so that identity
comes from the listener and the connection's source address (transport.auth), and only east-west routes
reachable; the node's own port stays TLS-only."""
from __future__ import annotations

import logging

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from hulian.control import api as control_api
from hulian.core.config import NodeConfig, Peer
from hulian.core.errors import RouteNotFound
from hulian.transport.auth import PEER_LISTENER

log = logging.getLogger("hulian.node.listeners")
# How every server of a node runs (its main port here too, node.server): our own JSON log, no access log,
# keep-alive for pooled peer connections, and a 64 KiB bound on a request's head.
SERVER_OPTIONS = {"log_config": None, "access_log": False, "timeout_keep_alive": 75,
                  "h11_max_incomplete_event_size": 64 * 1024}
EAST_WEST = ("/v1/interconn/schedule/", "/v1/interconn/chan/invoke", "/v1/interconn/chan/transport",
             "/v1/interconn/node/health")


class PeerListenerApp:
    """The ASGI app behind one peer's listener: marks each request with the peer and refuses other planes."""

    def __init__(self, app: ASGIApp, peer_id: str):
        self.app, self.peer_id = app, peer_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if not scope["path"].startswith(EAST_WEST):
            reply = control_api.error_reply(RouteNotFound(
                f"{scope['path']} is not served on node {self.peer_id!r}'s listener: it carries node-to-node routes "
                "only"))
            return await reply(scope, receive, send)
        await self.app({**scope, PEER_LISTENER: self.peer_id}, receive, send)


class PeerListeners:
    """Starts and stops the listeners of every peer with plain_http.port, inside the main server's loop."""

    def __init__(self, config: NodeConfig, app: ASGIApp):
        self.config, self.app = config, app
        self._servers: list[uvicorn.Server] = []

    async def start(self) -> None:
        for peer in self.config.peer_listeners:
            server = uvicorn.Server(self._uvicorn_config(peer))
            server.config.load()
            server.lifespan = server.config.lifespan_class(server.config)
            await server.startup()
            if not server.started:
                raise OSError(f"cannot listen on {peer.plain_http.host}:{peer.plain_http.port} for peer "
                              f"{peer.node_id!r} (peers[].plain_http); is the port free?")
            self._servers.append(server)
            log.info("plain-HTTP listener for peer %s on %s:%d (sources %s)", peer.node_id, peer.plain_http.host,
                     peer.plain_http.port, ", ".join(peer.plain_http.sources))

    def _uvicorn_config(self, peer: Peer) -> uvicorn.Config:
        plain = peer.plain_http
        assert plain is not None and plain.host is not None and plain.port is not None
        return uvicorn.Config(PeerListenerApp(self.app, peer.node_id), host=plain.host, port=plain.port,
                              lifespan="off", **SERVER_OPTIONS)

    async def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
            await server.shutdown()
        self._servers.clear()
