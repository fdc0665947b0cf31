"""The transport's gRPC services on `grpc.port`: org.ppc.ptp.PrivateTransferTransport for containers (spec §5.1)
and org.ppc.ptp.PrivateTransferProtocol between nodes (§5.2), with the checks and semantics of the HTTP routes.

Errors answer as {code, message} with gRPC status OK, as the spec's Outbound carries them; a call never ends
with status UNKNOWN.

With TLS, one port serves containers (token, no certificate) and peers (client certificate). gRPC's Python
server can only require client certificates or not ask for them at all (`require_client_auth=False` does not
request one, so `auth_context()` never holds the peer's), so the public port is a small TLS front (Python ssl,
CERT_OPTIONAL, ALPN h2, like the HTTP port) relaying each connection to the gRPC server on a loopback port and
remembering the certificate each relayed connection presented.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar

import grpc
from google.protobuf.message import DecodeError

from hulian.core.errors import OK, BadSignature, InternalError, PtpError
from hulian.transport.envelope import delivery_metadata, metadata_header, peer_envelope, vouched_source
from hulian.transport.ingress import accept_delivery, accept_push, pop_timeout, push_target
from hulian.transport.model import Message
from hulian.transport.spool import run_blocking, spool_bytes
from hulian.wire import headers as H
from hulian.wire import ptp_pb2, ptp_pb2_grpc
from hulian.wire.codec import seconds

log = logging.getLogger("hulian.grpc")

MiB = 1 << 20
PROTOCOL_SERVICE = "org.ppc.ptp.PrivateTransferProtocol"
RELAY_PIECE = 256 * 1024
POP_REPLY_MARGIN = 1.0  # seconds kept before the caller's deadline to send a popped message back

Reply = TypeVar("Reply", ptp_pb2.TransportOutbound, ptp_pb2.Outbound)
PeerCert = Callable[[grpc.aio.ServicerContext], bytes | None]


async def _answer(reply: type[Reply], call: Awaitable[Reply]) -> Reply:
    """The call's reply, or its error as {code, message}: gRPC callers read the spec's codes, not statuses."""
    try:
        return await call
    except PtpError as e:
        return reply(code=e.code, message=e.message)
    except Exception as e:  # an unexpected failure still answers with the spec's code
        log.exception("unexpected failure in a gRPC call")
        err = InternalError(f"internal error ({type(e).__name__}); see the node log")
        return reply(code=err.code, message=err.message)


def _headers(context: grpc.aio.ServicerContext) -> dict[str, str]:
    """Invocation metadata as headers (gRPC keys are lower-case; binary `-bin` entries carry no PTP header)."""
    return {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


def _message_reply(m: Message | None, data: bytes) -> ptp_pb2.TransportOutbound:
    if m is None:
        return ptp_pb2.TransportOutbound(code=OK, message="no message")
    return ptp_pb2.TransportOutbound(code=OK, message="success", payload=data, metadata=delivery_metadata(m))


class TransportServicer(ptp_pb2_grpc.PrivateTransferTransportServicer):
    """Container-facing calls; session, token, target node and topic travel as invocation metadata."""

    def __init__(self, node):
        self.node = node

    async def push(self, request: ptp_pb2.PushInbound, context) -> ptp_pb2.TransportOutbound:
        return await _answer(ptp_pb2.TransportOutbound, self._push(request, _headers(context)))

    async def pop(self, request: ptp_pb2.PopInbound, context) -> ptp_pb2.TransportOutbound:
        return await _answer(ptp_pb2.TransportOutbound, self._pop(request, context))

    async def peek(self, request: ptp_pb2.PeekInbound, context) -> ptp_pb2.TransportOutbound:
        return await _answer(ptp_pb2.TransportOutbound, self._peek(request, _headers(context)))

    async def release(self, request: ptp_pb2.ReleaseInbound, context) -> ptp_pb2.TransportOutbound:
        return await _answer(ptp_pb2.TransportOutbound, self._release(request, _headers(context)))

    def _session(self, hdr: Mapping[str, str]) -> str:
        session_id = H.get(hdr, H.SESSION_ID)
        self.node.auth.check_token(session_id, H.get(hdr, H.TOKEN))
        return session_id

    async def _push(self, request: ptp_pb2.PushInbound, hdr: Mapping[str, str]) -> ptp_pb2.TransportOutbound:
        session_id = self._session(hdr)
        target = push_target(hdr, "metadata")

        async def body() -> tuple[str, bytes, dict[str, str]]:
            return request.topic, request.payload, dict(request.metadata)

        await accept_push(self.node.service, hdr, session_id, target, body)
        return ptp_pb2.TransportOutbound(code=OK, message="success")

    def _timeout(self, timeout: int, context: grpc.aio.ServicerContext) -> float:
        """PopInbound.timeout (s) or the default, clamped, and short enough to answer before the deadline:
        a message popped after the caller gave up would be lost."""
        t = pop_timeout(self.node.config.limits, seconds(timeout))
        remaining = context.time_remaining()
        return t if remaining is None else min(t, max(remaining - POP_REPLY_MARGIN, 0.0))

    async def _pop(self, request: ptp_pb2.PopInbound, context) -> ptp_pb2.TransportOutbound:
        node, hdr = self.node, _headers(context)
        session_id = self._session(hdr)
        topic, sender = request.topic or H.get(hdr, H.TOPIC), H.sender_of(hdr, node.config.node_id)
        delivery = await node.service.pop(session_id, topic, sender, self._timeout(request.timeout, context))
        if delivery is None:
            return _message_reply(None, b"")
        try:
            data = await node.service.payload_bytes(delivery.message)
        except BaseException:
            await node.service.queue.nack(delivery)
            raise
        await node.service.ack(delivery)
        return _message_reply(delivery.message, data)

    async def _peek(self, request: ptp_pb2.PeekInbound, hdr: Mapping[str, str]) -> ptp_pb2.TransportOutbound:
        session_id = self._session(hdr)
        m = await self.node.service.peek(session_id, request.topic or H.get(hdr, H.TOPIC),
                                         H.sender_of(hdr, self.node.config.node_id))
        return _message_reply(m, await self.node.service.payload_bytes(m) if m else b"")

    async def _release(self, request: ptp_pb2.ReleaseInbound, hdr: Mapping[str, str]) -> ptp_pb2.TransportOutbound:
        session_id = self._session(hdr)
        topic = request.topic or H.get(hdr, H.TOPIC)
        await self.node.service.release(session_id, topic or None)
        return ptp_pb2.TransportOutbound(code=OK, message=f"released {'topic ' + topic if topic else 'session'}")


def _unwrap(body: bytes, hdr: Mapping[str, str]) -> tuple[str, bytes, dict[str, str]]:
    """(topic, data, metadata) of an Inbound's payload: the message itself under x-ptp-version=1, else a
    PushInbound (a bare payload is accepted too, as on HTTP)."""
    topic = H.get(hdr, H.TOPIC)
    if H.get(hdr, H.VERSION) != H.PASSTHROUGH_VERSION:
        try:
            push = ptp_pb2.PushInbound.FromString(body)
            if push.payload or push.topic:
                return push.topic or topic, push.payload, dict(push.metadata)
        except DecodeError:
            pass
    return topic, body, metadata_header(hdr)


class ProtocolServicer(ptp_pb2_grpc.PrivateTransferProtocolServicer):
    """Node-to-node deliveries: each Inbound is one message (or chunk), checked like an HTTP invoke."""

    def __init__(self, node, peer_cert: PeerCert):
        self.node = node
        self.peer_cert = peer_cert

    async def invoke(self, request: ptp_pb2.Inbound, context) -> ptp_pb2.Outbound:
        return await _answer(ptp_pb2.Outbound, self._receive(request, context, "invoke"))

    async def transport(self, request_iterator: AsyncIterator[ptp_pb2.Inbound],
                        context) -> AsyncIterator[ptp_pb2.Outbound]:
        async for request in request_iterator:
            yield await _answer(ptp_pb2.Outbound, self._receive(request, context, "transport"))

    async def _receive(self, request: ptp_pb2.Inbound, context, method: str) -> ptp_pb2.Outbound:
        """The signature covers the method called, as on HTTP it covers the path."""
        node = self.node
        hdr = _headers(context) | {k.lower(): v for k, v in request.metadata.items()}
        who = node.auth.identify_peer(self.peer_cert(context))
        declared = node.auth.check_signature(who, "POST", f"/{PROTOCOL_SERVICE}/{method}", hdr)
        env = peer_envelope(hdr, node.config.limits.max_body_bytes)
        source = vouched_source(node.service.router, who.node_id, hdr)
        if declared is not None:
            actual = await run_blocking(lambda: hashlib.sha256(request.payload).hexdigest())
            if actual != declared:
                raise BadSignature("payload does not match the signed x-content-sha256; it was altered in transit")
        topic, data, meta = _unwrap(request.payload, hdr)
        spooler = node.service.spooler(env.msg_id, f"in{env.chunk_index}", node.config.limits.max_body_bytes)
        payload = await spool_bytes(data, spooler)
        await accept_delivery(node.service, hdr, env, source, topic, meta, payload)
        return ptp_pb2.Outbound(code=OK, message="success")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(RELAY_PIECE):
            writer.write(data)
            await writer.drain()
    except OSError:  # reset or TLS failure: the relay ends, as the connection did
        pass


class TlsFront:
    """Terminates TLS on the public gRPC port and relays each connection to the loopback gRPC server.

    `certs` maps the gRPC peer address of a relayed connection (its loopback source address, which no other
    socket can hold while the relay is open) to the client certificate presented on the public side."""

    def __init__(self, ctx: ssl.SSLContext, backend_port: int):
        self.ctx = ctx
        self.backend_port = backend_port
        self.certs: dict[str, bytes] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._relay, host, port, ssl=self.ctx)

    def cert_of(self, context: grpc.aio.ServicerContext) -> bytes | None:
        return self.certs.get(context.peer())

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
        except OSError as e:
            log.error("gRPC front cannot reach the gRPC server on port %d: %s", self.backend_port, e)
            writer.close()
            return
        host, port = up_writer.get_extra_info("sockname")[:2]
        key = f"ipv4:{host}:{port}"
        if der:
            self.certs[key] = der  # before any byte is relayed, so before the first call is seen
        self._writers |= {writer, up_writer}
        tasks = [asyncio.create_task(_pipe(reader, up_writer)), asyncio.create_task(_pipe(up_reader, writer))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            self.certs.pop(key, None)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        self.stop_accepting()
        for w in list(self._writers):
            w.close()
        if self._server is not None:
            await self._server.wait_closed()


class FrontedServer(grpc.aio.Server):
    """The gRPC server behind its TLS front, so the node's shutdown (`stop`) ends both."""

    def __init__(self, backend: grpc.aio.Server, front: TlsFront):
        self.backend = backend
        self.front = front

    def add_generic_rpc_handlers(self, generic_rpc_handlers) -> None:
        self.backend.add_generic_rpc_handlers(generic_rpc_handlers)

    def add_insecure_port(self, address: str) -> int:
        return self.backend.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self.backend.add_secure_port(address, server_credentials)

    async def start(self) -> None:
        await self.backend.start()

    async def stop(self, grace: float | None) -> None:
        self.front.stop_accepting()
        await self.backend.stop(grace)
        await self.front.close()

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        return await self.backend.wait_for_termination(timeout)


def _front_ssl_context(config) -> ssl.SSLContext:
    """Client certificates requested, not required, and verified against the network's CA when sent."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(config.tls.cert_file), str(config.tls.key_file))
    ctx.load_verify_locations(str(config.tls.ca_file))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["h2"])  # gRPC clients insist on HTTP/2 being negotiated
    return ctx


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start_grpc(node) -> grpc.aio.Server:
    """Serve both services on node.config.grpc.port; stop with `await server.stop(grace)`."""
    config = node.config
    limit = config.limits.max_body_bytes + MiB
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", limit)])
    front: TlsFront | None = None
    if config.tls.enabled:
        front = TlsFront(_front_ssl_context(config), server.add_insecure_port("127.0.0.1:0"))
    else:
        server.add_insecure_port(_address(config.listen.host, config.grpc.port))
    ptp_pb2_grpc.add_PrivateTransferTransportServicer_to_server(TransportServicer(node), server)
    ptp_pb2_grpc.add_PrivateTransferProtocolServicer_to_server(
        ProtocolServicer(node, front.cert_of if front else lambda _context: None), server)
    await server.start()
    if front is None:
        log.info("gRPC services on %s:%d (no TLS)", config.listen.host, config.grpc.port)
        return server
    try:
        await front.start(config.listen.host, config.grpc.port)
    except OSError:
        await server.stop(None)
        raise
    log.info("gRPC services on %s:%d (TLS)", config.listen.host, config.grpc.port)
    return FrontedServer(server, front)
