"""A TLS-terminating gateway in front of a FATE-Flow site, as FATE sites deploy one (nginx, an API gateway),
reduced to what matters for the pairing: it holds the FATE site's certificate, issued by the network's CA.

- ingress: peers call it in HTTPS with their client certificate (verified against the CA); it forwards the
  bytes to FATE-Flow in plain HTTP.
- egress: FATE-Flow calls it in plain HTTP (FATE's route table names it for the hulian node); it opens mutual
  TLS to the node with the FATE site's certificate, so the node identifies the caller by that certificate.

A byte pipe per connection (HTTP/1.1 keep-alive passes through unchanged), in a thread with its own loop.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading

from hulian.node.cluster import free_ports

BUFFER = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class Gateway:
    def __init__(self, cert: str, key: str, ca: str, fate_port: int, node_host: str, node_port: int,
                 ports: tuple[int, int] | None = None):
        self.ingress_port, self.egress_port = ports or free_ports(2)
        self._fate_port, self._node = fate_port, (node_host, node_port)
        self._server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
        self._server_ctx.load_cert_chain(cert, key)
        self._server_ctx.verify_mode = ssl.CERT_REQUIRED  # only certificate-holding peers of the network
        self._client_ctx = ssl.create_default_context(cafile=ca)
        self._client_ctx.load_cert_chain(cert, key)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fate-gateway", daemon=True)
        self._servers: list[asyncio.Server] = []

    async def _ingress(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._splice(reader, writer, "127.0.0.1", self._fate_port, None)

    async def _egress(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._splice(reader, writer, *self._node, self._client_ctx)

    @staticmethod
    async def _splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int,
                      ctx: ssl.SSLContext | None) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ctx), 10.0)
        except (OSError, TimeoutError, ssl.SSLError):
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def _listen(self) -> None:
        self._servers = [
            await asyncio.start_server(self._ingress, "127.0.0.1", self.ingress_port, ssl=self._server_ctx),
            await asyncio.start_server(self._egress, "127.0.0.1", self.egress_port)]

    def start(self) -> Gateway:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10.0)
        return self

    def stop(self) -> None:
        async def close() -> None:
            for server in self._servers:
                server.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
