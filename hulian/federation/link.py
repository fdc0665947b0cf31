"""The white-box carrier: a task's topic messages over one interconnection link (gRPC, yacl semantics).

A link orders messages per peer but knows no topics, so each message travels as a frame on the link's next
key: the topic's UTF-8 length (4 bytes, little-endian), the topic, then the data as it is (one copy: large
MPC arrays cross it every round) and the receiver sets aside messages of other topics until they are asked for. `link()`
hands out the link itself, so an open protocol run through it (ECDH-PSI with a SecretFlow peer) sends
exactly yacl's keys, `root:P2P-{n}:{src}->{dst}`.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection, Sequence

from hulian.federation.base import Federation, FederationError, FederationTimeout, Party, deadline_left
from hulian.federation.topics import Scope
from hulian.transport.iclink import Link, LinkError, LinkTimeout

_LEN = 4


def _unframe(frame: bytes, src: Party) -> tuple[str, bytes]:
    """(topic, data) of a frame; FederationError naming the sender when it is none."""
    size = int.from_bytes(frame[:_LEN], "little")
    if len(frame) < _LEN + size:
        raise FederationError(f"{src} sent a message that is no topic frame ({len(frame)} bytes, topic of {size})")
    try:
        topic = frame[_LEN:_LEN + size].decode()
    except UnicodeDecodeError as e:
        raise FederationError(f"{src} sent a frame whose topic is not UTF-8: {e}") from e
    return topic, frame[_LEN + size:]


class LinkFederation(Federation):
    def __init__(self, link: Link, local: Party, parties: Sequence[Party]):
        """`parties` in the link's rank order; `local` is the party of `link.rank`."""
        super().__init__(local, parties)
        self._ranks = {p.party_id: r for r, p in enumerate(parties)}
        if len(parties) != link.world_size or self._ranks.get(local.party_id) != link.rank:
            raise ValueError(f"{local} is not rank {link.rank} of a link among {[str(p) for p in parties]}")
        self._link = link
        self._waiting: dict[tuple[int, str], deque[bytes]] = {}

    def _rank(self, party: Party) -> int:
        if party.party_id not in self._ranks:
            raise FederationError(f"{party} is not on this link ({sorted(self._ranks)})")
        return self._ranks[party.party_id]

    def send(self, dst: Party, scope: Scope, topic: str, data: bytes | bytearray | memoryview) -> None:
        key = scope.topic(topic)
        encoded = key.encode()
        framed = b"".join((len(encoded).to_bytes(_LEN, "little"), encoded, data))
        try:
            self._link.send(self._rank(dst), framed, key)
        except LinkError as e:
            raise FederationError(f"sending {topic!r} to {dst}: {e}") from e

    def recv(self, src: Party, scope: Scope, topic: str, timeout: float) -> bytes:
        rank, key = self._rank(src), scope.topic(topic)
        deadline = time.monotonic() + timeout
        while not (waiting := self._waiting.get((rank, key))):
            try:
                frame = self._link.recv(rank, deadline_left(deadline, f"from {src} on {key!r}"))
            except LinkTimeout as e:
                raise FederationTimeout(f"nothing from {src} on {key!r} within {timeout:g} s") from e
            except LinkError as e:
                raise FederationError(f"receiving {topic!r} from {src}: {e}") from e
            got, data = _unframe(frame, src)
            self._waiting.setdefault((rank, got), deque()).append(data)
        data = waiting.popleft()
        if not waiting:   # MPC uses each topic once: keep no empty queue per topic
            del self._waiting[(rank, key)]
        return data

    def link(self, scope: Scope, roles: Collection[str] | None = None, timeout: float = 30.0) -> Link:
        parties, _ = self.link_parties(roles)
        if len(parties) != self._link.world_size:
            raise FederationError(f"the white-box link joins {self._link.world_size} parties; a link among "
                                  f"{[str(p) for p in parties]} needs its own")
        return self._link

    def close(self) -> None:
        self._link.close()
