"""The PTP carrier: messages through the local node's transport (a component container's only way out).

Topic messages go over the Channel (`<task_id>.<path>/<topic>`, raw bodies, streams with their metadata),
links over yacl's black-box framing (PtpLink); both reach the node at `system.transport` with the session's
token, exactly as before the SDK.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass

from hulian.federation.base import Federation, FederationError, FederationTimeout, Party
from hulian.federation.topics import Scope
from hulian.transport.channel import Channel, ChannelError, ChannelTimeout
from hulian.transport.iclink import Link, LinkOptions
from hulian.transport.iclink.ptp_link import PtpLink


@dataclass(frozen=True)
class NodeSession:
    """How a component reaches its node: the transport address and the job session's credentials."""

    transport: str
    session_id: str
    token: str = ""
    trace_id: str = ""
    ca_file: str | None = None


class PtpFederation(Federation):
    def __init__(self, node: NodeSession, local: Party, parties: Sequence[Party]):
        super().__init__(local, parties)
        self.node = node
        self._channel: Channel | None = None

    @property
    def channel(self) -> Channel:
        """Opened on first use: a component that only uses a link never holds this connection. Callers give it
        wire topics (`Scope.wire_topic`, sub-scope path included); it stays task-scoped (`topic=str`), so that
        `release` drops exactly the topics this task used."""
        self._check_node()
        if self._channel is None:
            self._channel = Channel(self.node.transport, self.node.session_id, self.node.token,
                                    self.local.node_id, {p.party_id: p.node_id for p in self.parties},
                                    topic=str, ca_file=self.node.ca_file,
                                    inst_ids={p.party_id: p.inst_id for p in self.parties if p.inst_id})
        return self._channel

    def send(self, dst: Party, scope: Scope, topic: str, data: bytes | bytearray | memoryview) -> None:
        try:
            self.channel.send(dst.party_id, scope.wire_topic(topic), data)
        except ChannelError as e:
            raise FederationError(f"sending {topic!r} to {dst}: {e}") from e

    def recv(self, src: Party, scope: Scope, topic: str, timeout: float) -> bytes:
        try:
            return self.channel.recv(src.party_id, scope.wire_topic(topic), timeout)
        except ChannelTimeout as e:
            raise FederationTimeout(str(e)) from e
        except ChannelError as e:
            raise FederationError(f"receiving {topic!r} from {src}: {e}") from e

    def send_stream(self, dst: Party, scope: Scope, topic: str,
                    pieces: Iterable[bytes | bytearray | memoryview]) -> int:
        try:
            return self.channel.send_stream(dst.party_id, scope.wire_topic(topic), pieces)
        except ChannelError as e:
            raise FederationError(f"streaming {topic!r} to {dst}: {e}") from e

    def recv_stream(self, src: Party, scope: Scope, topic: str, timeout: float) -> Iterator[bytes]:
        try:
            yield from self.channel.recv_stream(src.party_id, scope.wire_topic(topic), timeout)
        except ChannelTimeout as e:
            raise FederationTimeout(str(e)) from e
        except ChannelError as e:
            raise FederationError(f"stream {topic!r} from {src}: {e}") from e

    def _check_node(self) -> None:
        if not self.node.transport or not self.node.session_id:
            raise FederationError("system.transport and config.session_id must be set for a task to reach other "
                                  "parties; the scheduler injects them")

    def link(self, scope: Scope, roles: Collection[str] | None = None, timeout: float = 30.0) -> Link:
        self._check_node()
        parties, rank = self.link_parties(roles)
        n = self.node
        return PtpLink.connect(n.transport, parties, rank, n.session_id, n.token, n.trace_id, n.ca_file,
                               LinkOptions(recv_timeout=timeout), topic=scope.link_topic)

    def close(self) -> None:
        """Drop this task's unread messages at the node (the session stays for the job's other tasks)."""
        if self._channel is not None:
            try:
                self._channel.release()
            except ChannelError:
                pass  # the node is gone or the session ended: nothing of ours is left to drop
            finally:
                self._channel.close()
