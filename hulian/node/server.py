"""Serve a node on one port with uvicorn: TLS with client certificates requested (not required), so
containers connect with a token and peers with their certificate on the same port."""
from __future__ import annotations

import asyncio
import ssl

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hulian.core.config import NodeConfig
from hulian.core.logging import setup_logging
from hulian.node.app import create_app
from hulian.node.listeners import SERVER_OPTIONS


class PeerCertHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that also puts the peer's TLS certificate into the ASGI scope
    (`scope["extensions"]["tls"]["client_cert_der"]`), so node-to-node routes can see who called."""

    _peer_der: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        self._peer_der = ssl_object.getpeercert(binary_form=True) if ssl_object else None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {"tls": {"client_cert_der": self._peer_der}}  # type: ignore[typeddict-unknown-key]


def uvicorn_config(config: NodeConfig) -> uvicorn.Config:
    kwargs: dict = {}
    if config.tls.enabled:
        kwargs = dict(ssl_certfile=str(config.tls.cert_file), ssl_keyfile=str(config.tls.key_file),
                      ssl_ca_certs=str(config.tls.ca_file), ssl_cert_reqs=ssl.CERT_OPTIONAL,
                      ssl_version=ssl.PROTOCOL_TLS_SERVER)
    return uvicorn.Config(
        create_app(config), host=config.listen.host, port=config.listen.port, http=PeerCertHttpProtocol,
        loop="uvloop", timeout_graceful_shutdown=3, **SERVER_OPTIONS, **kwargs)


def serve(config: NodeConfig) -> None:
    setup_logging(config.node_id, config.log.level, config.log.file)
    uvicorn.Server(uvicorn_config(config)).run()
