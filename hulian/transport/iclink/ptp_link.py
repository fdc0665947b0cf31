"""Black-box carrier: the link through the local node's PTP transport, as yacl's `BrpcBlackBoxLink`
(`yacl/link/transport/brpc_blackbox_link.{h,cc}`, `yacl/link/factory_brpc_blackbox.cc`).

HTTP contract (both calls POST to `system.transport`, scheme stripped; http/1.1, keep-alive):
- push: `/v1/interconn/chan/push`, body = the serialized `org.interconnection.link.PushRequest` (no
  content-type), topic `{self party}-{peer party}`.
- pop: `/v1/interconn/chan/pop?timeout=1` (seconds; yacl's pop_timeout_s_), empty body, topic
  `{peer party}-{self party}`; read timeout timeout + 1 s in yacl (we allow more).
- headers on both: x-ptp-tecn-provider-code: SecretFlow (sic), x-ptp-trace-id, x-ptp-token,
  x-ptp-session-id, x-ptp-source-node-id: own node, x-ptp-target-node-id: peer node, x-ptp-source-inst-id,
  x-ptp-target-inst-id, x-ptp-topic, host.
- replies: `blackbox_interconnect.TransportOutbound {payload=1, code=2, message=3}` (Kuscia's numbering);
  code E0000000000 = OK; on pop an empty payload or E0000000404 means "nothing yet"; on push E0000000700
  (QueueFull) is retried. We also read the spec's numbering {metadata=1, payload=2, code=3, message=4}.

Environment (the BFIA component contract, as yacl reads it):
| key | use |
|---|---|
| `system.transport` | the local node, "host:port" or a URL |
| `config.session_id`, `config.token`, `config.trace_id` | headers on every call |
| `config.self_role` | this party's id, e.g. "guest.0" |
| `config.node_id.<party>` | every party's node id; ranks are the parties in sorted order (yacl's std::map) |
| `config.inst_id.<party>` | institution ids (yacl requires them; we send them when present) |
| `config.transport_ca` | hulian extension: CA bundle for an https transport |
| `config.topic_scope` | hulian extension: topics become `<scope>:<from>-<to>` (the node sets the task id) |

The SDK reads that environment (`hulian.sdk.env`) and builds the link through `hulian.federation`, which
also decides the topics (`hulian.federation.topics`); this module takes them as a function of the two parties.
"""
from __future__ import annotations

import http.client
import logging
import threading
import time
from collections.abc import Callable, Sequence

from google.protobuf.message import DecodeError

from hulian.core.errors import OK, BufferFull, NotFound
from hulian.transport.http11 import KeepAliveClient
from hulian.transport.iclink.errors import CarrierError
from hulian.transport.iclink.link import IcLink
from hulian.transport.iclink.session import Carrier, LinkOptions, Session
from hulian.transport.party import Party
from hulian.wire import headers as H
from hulian.wire import ptp_pb2
from hulian.wire.interconnection.link import blackbox_pb2
from hulian.wire.interconnection.link import transport_pb2 as pb

log = logging.getLogger("hulian.iclink")

PREFIX = "/v1/interconn/chan/"
PROVIDER_HEADER = H.ALIASES[H.TECH_PROVIDER][0]  # yacl's spelling, x-ptp-tecn-provider-code
POP_READ_MARGIN = 10.0


def decode_outbound(body: bytes | bytearray) -> tuple[str, str, bytes]:
    """(code, message, payload) of a transport reply in Kuscia/yacl's numbering or the spec's."""
    data = bytes(body)
    for cls in (blackbox_pb2.TransportOutbound, ptp_pb2.TransportOutbound):
        try:
            out = cls.FromString(data)
        except DecodeError:
            continue
        if out.code.startswith("E") and out.code[1:].isdigit():
            return out.code, out.message, out.payload
    raise CarrierError(f"transport reply is neither layout of TransportOutbound ({len(data)} bytes: "
                       f"{data[:60]!r}); is system.transport a BFIA transport?", retryable=False)


def yacl_topic(sender: str, receiver: str) -> str:
    """yacl's topic of sender's messages to receiver."""
    return f"{sender}-{receiver}"


class PtpCarrier(Carrier):
    def __init__(self, transport: str, parties: Sequence[Party], rank: int, session_id: str, token: str = "",
                 trace_id: str = "", ca_file: str | None = None, pop_timeout_s: int = 1,
                 topic: Callable[[str, str], str] = yacl_topic):
        url = transport if "://" in transport else f"{'https' if ca_file else 'http'}://{transport}"
        self.url, self.parties, self.rank = url, list(parties), rank
        self._ca, self._pop_timeout = ca_file, pop_timeout_s
        me = self.parties[rank]
        base = {PROVIDER_HEADER: "SecretFlow", H.TRACE_ID: trace_id, H.TOKEN: token, H.SESSION_ID: session_id,
                H.SOURCE_NODE: me.node_id, H.SOURCE_INST: me.inst_id}
        self._push_headers: dict[int, dict[str, str]] = {}
        self._pop_headers: dict[int, dict[str, str]] = {}
        for r, p in enumerate(self.parties):
            if r == rank:
                continue
            peer = {**base, H.TARGET_NODE: p.node_id, H.TARGET_INST: p.inst_id}
            peer = {k: v for k, v in peer.items() if v}
            self._push_headers[r] = {**peer, H.TOPIC: topic(me.party_id, p.party_id)}
            self._pop_headers[r] = {**peer, H.TOPIC: topic(p.party_id, me.party_id)}
        self._local = threading.local()
        self._push_clients: list[KeepAliveClient] = []  # every thread's, closed at stop
        self._clients_lock = threading.Lock()
        self._running = False
        self._threads: list[threading.Thread] = []

    def describe(self, peer: int) -> str:
        p = self.parties[peer]
        return f"party {p.party_id} on node {p.node_id} via {self.url}"

    def _client(self) -> KeepAliveClient:
        """One keep-alive connection per thread (KeepAliveClient is not thread-safe)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = KeepAliveClient(self.url, self._ca)
            with self._clients_lock:
                self._push_clients.append(client)
        return client

    def push(self, peer: int, request: pb.PushRequest, timeout: float) -> None:
        try:
            reply = self._client().post(PREFIX + "push", self._push_headers[peer], request.SerializeToString(),
                                        timeout)
        except (OSError, http.client.HTTPException) as e:
            raise CarrierError(f"local transport {self.url} unreachable: {type(e).__name__}: {e}") from e
        code, message, _ = decode_outbound(reply.body) if reply.body else (f"HTTP{reply.status}", "", b"")
        if code == OK:
            return
        raise CarrierError(f"transport refused the push: {code} {message}", retryable=code == BufferFull.code)

    def start(self, session: Session) -> None:
        self._running = True
        for peer in self._pop_headers:
            t = threading.Thread(target=self._pop_loop, args=(session, peer), daemon=True,
                                 name=f"iclink{self.rank}-pop{peer}")
            t.start()
            self._threads.append(t)

    def _pop_loop(self, session: Session, peer: int) -> None:
        """Long-poll the peer's topic and hand each PushRequest to the session (yacl ReceiverLoopBlackBox)."""
        path = f"{PREFIX}pop?timeout={self._pop_timeout}"
        client = KeepAliveClient(self.url, self._ca)
        failures = 0
        try:
            while self._running:
                try:
                    reply = client.post(path, self._pop_headers[peer], b"", self._pop_timeout + POP_READ_MARGIN)
                    code, message, payload = decode_outbound(reply.body)
                    failures = 0
                except (OSError, http.client.HTTPException, CarrierError) as e:
                    failures += 1
                    if failures in (1, 10) or failures % 100 == 0:
                        log.warning("pop from %s failed %d times: %s", self.url, failures, e)
                    time.sleep(min(1.0, 0.1 * failures))
                    continue
                if code == NotFound.code or (code == OK and not payload):
                    continue
                if code != OK:
                    log.warning("pop of rank %d's topic answered %s %s", peer, code, message)
                    time.sleep(0.5)
                    continue
                try:
                    header = session.on_request(pb.PushRequest.FromString(payload))
                except DecodeError:
                    log.warning("rank %d's topic carried %d bytes that are no PushRequest", peer, len(payload))
                    continue
                if header.error_code:
                    log.warning("message from rank %d refused: %s", peer, header.error_msg)
        finally:
            client.close()

    def stop(self) -> None:
        self._running = False
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(self._pop_timeout + POP_READ_MARGIN + 1)
        self._threads.clear()
        with self._clients_lock:
            clients, self._push_clients = self._push_clients, []
        for client in clients:  # the session's senders have finished: their connections go now, not at GC
            client.close()


class PtpLink(IcLink):
    """The black-box link through a BFIA node's transport."""

    @classmethod
    def connect(cls, transport: str, parties: Sequence[Party], rank: int, session_id: str, token: str = "",
                trace_id: str = "", ca_file: str | None = None, options: LinkOptions | None = None,
                handshake: bool = True, topic: Callable[[str, str], str] = yacl_topic) -> PtpLink:
        """The root link of `parties[rank]`; `handshake` runs yacl's connect exchange (ConnectToMesh)."""
        carrier = PtpCarrier(transport, parties, rank, session_id, token, trace_id, ca_file, topic=topic)
        return cls.over(carrier, rank, len(parties), options or LinkOptions(), handshake)
