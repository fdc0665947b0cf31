"""The link API (yacl `link::Context` semantics) and its implementation over a `Session`.

What yacl does, and therefore what this does (secretflow/yacl, files named below):
- P2P keys `{channel}:P2P-{n}:{src}->{dst}`; n counts per (src, dst) pair in each context, from 1
  (`yacl/link/context.cc` NextP2PId: `++p2p_counter_[(src, dst)]`). A spawned context starts its own counters.
- Spawn names `{parent id}-{k}` with k = 0, 1, ... per parent (`context.cc` Spawn: `child_counter_++`), so
  root's children are root-0, root-1 and root-0's are root-0-0, ...; children share the parent's channels.
- Every wire key ends in `\\x01\\x02<seq>`; seq counts messages per peer channel from 1 and is shared by root and
  all spawned contexts, since they share the per-peer `transport::Channel` (`yacl/link/transport/channel.cc`
  BuildChannelKey, `msg_seq_id_`). Duplicated seq ids (retried pushes) are dropped (OnNormalMessage).
- Connect: each rank pushes `connect_{rank}` with seq 0 and empty value to every peer, retrying
  connect_retry_times (10) x 1 s with a 2..12 s cycling timeout, then waits recv_timeout for each peer's
  (`context.cc` ConnectToMesh, `channel.cc` TestSend/TestRecv). A repeated connect is answered with ours.
- ACK: the receiver pushes `ACK\\x01\\x02` with the seq as ASCII value when the application *reads* the message
  (`channel.cc` Recv -> SendAck), and for unread or late messages once closing. The sender blocks while
  acked + window <= seq (ThrottleWindowWait, window 10 by default).
- FIN (`channel.cc` WaitLinkTaskFinish): ack unread messages and stop storing new ones; push `FIN\\x01\\x02`
  with the number of messages sent; wait for the peer's FIN and all messages it announced; wait for our own
  pushes; wait for ACKs of all our messages.
- Chunking: a message above http_max_payload_size (1 MiB) goes as CHUNKED pushes of that size with
  chunk_info{message_length, chunk_offset}, up to 8 in parallel (SendChunked); the receiver fills a buffer by
  offset, ignoring repeated offsets (ChunkedMessage::AddChunk). A yacl peer on h2 uses 1 MiB - 4 KiB
  (`interconnection_link.cc` MakeOptions).
- recv waits recv_timeout (30 s by default, `context.h` kDefaultRecvTimeoutMs) for the exact key.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Self

from hulian.transport.iclink.keys import p2p_key
from hulian.transport.iclink.session import Carrier, LinkOptions, Session

log = logging.getLogger("hulian.iclink")


class Link(ABC):
    """One channel of a link between `world_size` ranks; not thread-safe (spawn one per thread, as yacl)."""

    rank: int
    world_size: int

    @abstractmethod
    def send(self, dst: int, value: bytes | bytearray | memoryview, tag: str = "") -> None:
        """Queue the next P2P message to `dst`; blocks only while 10 (the window) messages are un-ACKed."""

    @abstractmethod
    def send_async(self, dst: int, value: bytes | bytearray | memoryview, tag: str = "") -> None:
        """Queue the next P2P message to `dst` without waiting for the window (yacl SendAsync): for a flow
        that must never wait on the peer reading another flow, or two parties could wait on each other."""

    @abstractmethod
    def recv(self, src: int, timeout: float | None = None) -> bytes:
        """The next P2P message from `src` on this channel; LinkTimeout after `timeout` (default recv_timeout)."""

    @abstractmethod
    def check(self) -> None:
        """Raise LinkError if the link cannot go on (a peer gone or unreachable, or the link aborted): for long
        local work between its steps, so a dead peer stops it within the timeout instead of at the next recv."""

    @abstractmethod
    def spawn(self) -> Self:
        """A sub-channel (`{id}-{k}`) sharing this link's connections; use it in another thread."""

    @abstractmethod
    def close(self, timeout: float | None = None) -> None:
        """FIN exchange with every peer, then release the connections."""

    @abstractmethod
    def abort(self, reason: str) -> None:
        """Stop at once after a failure (no FIN); every waiting call fails with LinkError naming `reason`."""


class IcLink(Link):
    """The link over a Session; carriers (GrpcLink, PtpLink) only add how the session is built."""

    def __init__(self, session: Session, channel_id: str = "root", *, _root: bool = True):
        self._session = session
        self.id = channel_id
        self.rank = session.rank
        self.world_size = session.world_size
        self._counters: dict[tuple[int, int], int] = {}
        self._children = 0
        self._root = _root

    @classmethod
    def over(cls, carrier: Carrier, rank: int, world_size: int, options: LinkOptions,
             handshake: bool = True) -> Self:
        """The root link of `rank` over `carrier`, after yacl's connect exchange (ConnectToMesh) when
        `handshake`; a failed start leaves nothing running."""
        session = Session(rank, world_size, carrier, options)
        try:
            carrier.start(session)
            if handshake:
                session.connect_to_mesh()
        except BaseException:
            session.abort("the connect handshake failed")
            raise
        return cls(session)

    def _next_key(self, src: int, dst: int) -> str:
        n = self._counters.get((src, dst), 0) + 1
        self._counters[(src, dst)] = n
        return p2p_key(self.id, n, src, dst)

    def send(self, dst: int, value: bytes | bytearray | memoryview, tag: str = "") -> None:
        key = self._next_key(self.rank, dst)
        log.debug("send %s (%s, %d bytes)", key, tag, len(value))
        self._session.send(dst, key, value)

    def send_async(self, dst: int, value: bytes | bytearray | memoryview, tag: str = "") -> None:
        key = self._next_key(self.rank, dst)
        log.debug("send_async %s (%s, %d bytes)", key, tag, len(value))
        self._session.send(dst, key, value, throttled=False)

    def recv(self, src: int, timeout: float | None = None) -> bytes:
        return self._session.recv(src, self._next_key(src, self.rank), timeout)

    def check(self) -> None:
        self._session.check()

    def spawn(self) -> Self:
        child = type(self)(self._session, f"{self.id}-{self._children}", _root=False)
        self._children += 1
        return child

    def close(self, timeout: float | None = None) -> None:
        """On the root link: the FIN exchange (bounded by `timeout`, default recv_timeout) and teardown.
        On a spawned link: nothing, since its connections belong to the root (as yacl's sub-contexts)."""
        if self._root:
            self._session.close(timeout)

    def abort(self, reason: str = "the link was aborted") -> None:
        """Stop without the FIN exchange (after a failure); every waiting call fails with LinkError."""
        self._session.abort(reason)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
