"""The Federation interface: bytes between the parties of one task, addressed by party and scoped topic."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Sequence

from hulian.federation.topics import Scope
from hulian.transport.iclink import Link
from hulian.transport.party import Party

STREAM_PIECE, STREAM_END = b"\x00", b"\x01"  # generic stream framing (carriers without their own)


class FederationError(Exception):
    """A message could not be sent or received (peer or local node refused, unreachable, aborted)."""


class FederationTimeout(FederationError, TimeoutError):
    """Nothing arrived from the peer within the timeout."""


class Federation(ABC):
    """What every carrier offers; one instance per party per task, not thread-safe (one per thread)."""

    def __init__(self, local: Party, parties: Sequence[Party]):
        if local.party_id not in {p.party_id for p in parties}:
            raise ValueError(f"party {local} is not among the job's parties {[str(p) for p in parties]}")
        self.local = local
        self.parties = tuple(sorted(parties, key=lambda p: p.party_id))

    @abstractmethod
    def send(self, dst: Party, scope: Scope, topic: str, data: bytes | bytearray | memoryview) -> None:
        """Deliver `data` to `dst` on `topic`; returns once the carrier holds it (not once it is read)."""

    @abstractmethod
    def recv(self, src: Party, scope: Scope, topic: str, timeout: float) -> bytes:
        """The next message `src` sent on `topic`; FederationTimeout after `timeout` seconds."""

    def send_stream(self, dst: Party, scope: Scope, topic: str,
                    pieces: Iterable[bytes | bytearray | memoryview]) -> int:
        """Send `pieces` as one stream on `topic` (each piece one message); returns their number."""
        count = 0
        for piece in pieces:
            self.send(dst, scope, topic, STREAM_PIECE + bytes(piece))
            count += 1
        self.send(dst, scope, topic, STREAM_END)
        return count

    def recv_stream(self, src: Party, scope: Scope, topic: str, timeout: float) -> Iterator[bytes]:
        """The pieces of one stream in order, waiting at most `timeout` seconds for each."""
        while True:
            message = self.recv(src, scope, topic, timeout)
            if message[:1] == STREAM_END:
                return
            if message[:1] != STREAM_PIECE:
                raise FederationError(f"topic {topic!r} from {src}: a message that is no stream piece; did "
                                      "something other than one send_stream send here?")
            yield message[1:]

    @abstractmethod
    def link(self, scope: Scope, roles: Collection[str] | None = None, timeout: float = 30.0) -> Link:
        """A yacl-semantics link among the parties of `roles` (all when None), ranked by party id as yacl's
        GetPartyNodeInfoFromEnv: for the open protocols whose peers (SecretFlow) speak the link's keys."""

    def close(self) -> None:
        """Release what the carrier holds (connections, unread messages of this task)."""

    def link_parties(self, roles: Collection[str] | None) -> tuple[list[Party], int]:
        """(the link's parties in rank order, own rank)."""
        chosen = [p for p in self.parties if roles is None or p.role in roles]
        ids = [p.party_id for p in chosen]
        if self.local.party_id not in ids:
            raise ValueError(f"party {self.local} has no role in {sorted(roles or [])}: it takes no part in the link")
        return chosen, ids.index(self.local.party_id)


def deadline_left(deadline: float, what: str) -> float:
    """Seconds left until `deadline` (monotonic); FederationTimeout naming `what` when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise FederationTimeout(f"nothing {what} in time")
    return left
