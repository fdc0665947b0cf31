"""White-box carrier: the interconnection gRPC service `org.interconnection.link.ReceiverService/Push`.

Each rank serves Push on its `listen` address and calls each peer's. A SecretFlow (yacl) peer must be set to
`brpc_channel_protocol="h2:grpc"` to call us; its brpc server accepts our grpcio calls as they are.
The handler only stores the message (or chunk) and answers error_code 0; the application reads it later.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc

from hulian.transport.iclink.errors import CarrierError, LinkError
from hulian.transport.iclink.link import IcLink
from hulian.transport.iclink.session import Carrier, LinkOptions, Session
from hulian.wire.interconnection.common import header_pb2
from hulian.wire.interconnection.link import transport_pb2 as pb
from hulian.wire.interconnection.link import transport_pb2_grpc as pb_grpc

log = logging.getLogger("hulian.iclink")

MAX_GRPC_MESSAGE = 256 << 20  # a peer may configure chunks far above 1 MiB
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_GRPC_MESSAGE),
    ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE),
    # Reconnect quickly: the connect handshake retries every second while the peer starts.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.ABORTED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
              grpc.StatusCode.CANCELLED}


@dataclass(frozen=True)
class GrpcTls:
    """PEM files: our certificate and key (served, and presented to peers), and the CA that verifies peers."""

    cert_file: str
    key_file: str
    ca_file: str
    require_client_cert: bool = True
    server_name: str | None = None  # overrides the name checked in peers' certificates (ssl_target_name_override)

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(Path(self.key_file).read_bytes(), Path(self.cert_file).read_bytes())],
                                           root_certificates=Path(self.ca_file).read_bytes(),
                                           require_client_auth=self.require_client_cert)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(Path(self.ca_file).read_bytes(), Path(self.key_file).read_bytes(),
                                            Path(self.cert_file).read_bytes())


class _Receiver(pb_grpc.ReceiverServiceServicer):
    def __init__(self, session: Session):
        self._session = session

    def Push(self, request: pb.PushRequest, context: grpc.ServicerContext) -> pb.PushResponse:
        return pb.PushResponse(header=self._session.on_request(request))


class GrpcCarrier(Carrier):
    def __init__(self, listen: str, peers: Mapping[int, str], tls: GrpcTls | None = None, workers: int = 16):
        self.listen, self.peers, self.tls = listen, dict(peers), tls
        self._workers = workers
        self._server: grpc.Server | None = None
        self.port = 0
        self._channels: dict[int, grpc.Channel] = {}
        self._stubs: dict[int, pb_grpc.ReceiverServiceStub] = {}
        for rank, address in self.peers.items():
            options = list(_CHANNEL_OPTIONS)
            if tls is None:
                channel = grpc.insecure_channel(address, options=options)
            else:
                if tls.server_name:
                    options.append(("grpc.ssl_target_name_override", tls.server_name))
                channel = grpc.secure_channel(address, tls.channel_credentials(), options=options)
            self._channels[rank] = channel
            self._stubs[rank] = pb_grpc.ReceiverServiceStub(channel)

    def describe(self, peer: int) -> str:
        return f"grpc {self.peers.get(peer, '?')}"

    def start(self, session: Session) -> None:
        server = grpc.server(ThreadPoolExecutor(self._workers, thread_name_prefix=f"iclink{session.rank}-recv"),
                             options=_CHANNEL_OPTIONS[:2])
        pb_grpc.add_ReceiverServiceServicer_to_server(_Receiver(session), server)
        try:
            if self.tls is None:
                self.port = server.add_insecure_port(self.listen)
            else:
                self.port = server.add_secure_port(self.listen, self.tls.server_credentials())
        except RuntimeError as e:
            raise LinkError(f"cannot listen on {self.listen!r}: {e}; is the port taken?") from e
        if not self.port:
            raise LinkError(f"cannot listen on {self.listen!r}; is the port taken or the host wrong?")
        server.start()
        self._server = server

    def reachable(self, peer: int, timeout: float) -> bool | None:
        """The channel is (or within `timeout` becomes) READY; a dead peer's refuses its reconnects. Only the
        TCP/TLS/HTTP2 connect goes to the peer, no Push."""
        channel = self._channels.get(peer)
        if channel is None:  # stopped
            return None
        ready = grpc.channel_ready_future(channel)
        try:
            ready.result(timeout=timeout)
            return True
        except grpc.FutureTimeoutError:
            return False
        except ValueError:  # closed meanwhile
            return None
        finally:
            ready.cancel()

    def push(self, peer: int, request: pb.PushRequest, timeout: float) -> None:
        try:
            response = self._stubs[peer].Push(request, timeout=timeout)
        except ValueError as e:  # "Cannot invoke RPC on closed channel!": the link was torn down meanwhile
            raise CarrierError(f"the link is closed: {e}", retryable=False) from e
        except grpc.RpcError as e:
            code = e.code() if hasattr(e, "code") else None
            details = e.details() if hasattr(e, "details") else str(e)
            raise CarrierError(f"gRPC {code.name if code else 'error'}: {details}", code in _RETRYABLE) from e
        if response.header.error_code != header_pb2.OK:
            raise CarrierError(f"peer refused the push with error_code {response.header.error_code}: "
                               f"{response.header.error_msg}", retryable=False)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=1.0)
            self._server = None
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()


class GrpcLink(IcLink):
    """The white-box link over gRPC."""

    @classmethod
    def connect(cls, rank: int, listen: str, peers: Mapping[int, str], options: LinkOptions | None = None,
                tls: GrpcTls | None = None) -> GrpcLink:
        """Serve on `listen`, reach each peer at `peers[rank]` ("host:port"), run the connect handshake and
        return the ready root link. `options` carries yacl's defaults (recv 30 s, 1 MiB chunks, window 10,
        connect 10 x 1 s)."""
        world = len(peers) + 1
        if rank in peers or set(peers) | {rank} != set(range(world)):
            raise ValueError(f"peers {sorted(peers)} and rank {rank} must together be the ranks 0..{world - 1}")
        carrier = GrpcCarrier(listen, peers, tls)
        return cls.over(carrier, rank, world, options or LinkOptions())
