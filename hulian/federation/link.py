"""The white-box carrier: a task's topic messages over one interconnection link (gRPC, yacl semantics).

A link orders messages per peer but knows no topics, so each message travels as msgpack [topic, data] on the
link's next key and the receiver sets aside messages of other topics until they are asked for. `link()`
hands out the link itself, so an open protocol run through it (ECDH-PSI with a SecretFlow peer) sends
exactly yacl's keys, `root:P2P-{n}:{src}->{dst}`.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection, Sequence

import msgpack

from hulian.federation.base import Federation, FederationError, FederationTimeout, Party, deadline_left
from hulian.federation.topics import Scope
from hulian.transport.iclink import Link, LinkError, LinkTimeout


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
        framed = msgpack.packb([scope.topic(topic), bytes(data)], use_bin_type=True)
        try:
            self._link.send(self._rank(dst), framed, scope.topic(topic))
        except LinkError as e:
            raise FederationError(f"sending {topic!r} to {dst}: {e}") from e

    def recv(self, src: Party, scope: Scope, topic: str, timeout: float) -> bytes:
        rank, key = self._rank(src), scope.topic(topic)
        deadline = time.monotonic() + timeout
        while not (waiting := self._waiting.get((rank, key))):
            try:
                got, data = msgpack.unpackb(self._link.recv(rank, deadline_left(deadline, f"from {src} on {key!r}")),
                                            raw=False)
            except LinkTimeout as e:
                raise FederationTimeout(f"nothing from {src} on {key!r} within {timeout:g} s") from e
            except LinkError as e:
                raise FederationError(f"receiving {topic!r} from {src}: {e}") from e
            except (ValueError, msgpack.UnpackException) as e:
                raise FederationError(f"{src} sent a message that is no [topic, data] frame: {e}") from e
            self._waiting.setdefault((rank, got), deque()).append(data)
        return waiting.popleft()

    def link(self, scope: Scope, roles: Collection[str] | None = None, timeout: float = 30.0) -> Link:
        parties, _ = self.link_parties(roles)
        if len(parties) != self._link.world_size:
            raise FederationError(f"the white-box link joins {self._link.world_size} parties; a link among "
                                  f"{[str(p) for p in parties]} needs its own")
        return self._link

    def close(self) -> None:
        self._link.close()
