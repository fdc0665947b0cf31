"""The in-memory carrier: every party of a task in one process (threads), for algorithm tests."""
from __future__ import annotations

import queue
import threading
from collections.abc import Collection, Sequence
from dataclasses import replace

from hulian.federation.base import Federation, FederationError, FederationTimeout, Party
from hulian.federation.topics import Scope
from hulian.transport.iclink import Link
from hulian.transport.iclink.memory import IN_PROCESS, MemoryLink, MemoryWorld

Key = tuple[str, str, str]  # (sender, receiver, scoped topic)


class MemoryHub:
    """The mailboxes and link worlds the parties of one in-process run share."""

    def __init__(self) -> None:
        self._queues: dict[Key, queue.SimpleQueue[bytes]] = {}
        self._worlds: dict[tuple[str, ...], MemoryWorld] = {}
        self._lock = threading.Lock()

    def mailbox(self, key: Key) -> queue.SimpleQueue[bytes]:
        with self._lock:
            return self._queues.setdefault(key, queue.SimpleQueue())

    def world(self, key: tuple[str, ...], size: int) -> MemoryWorld:
        with self._lock:
            return self._worlds.setdefault(key, MemoryWorld(size))


class MemoryFederation(Federation):
    def __init__(self, hub: MemoryHub, local: Party, parties: Sequence[Party]):
        super().__init__(local, parties)
        self.hub = hub

    def _party(self, party: Party) -> str:
        if party not in self.parties:
            raise FederationError(f"{party} is not a party of this task ({[str(p) for p in self.parties]})")
        return party.party_id

    def send(self, dst: Party, scope: Scope, topic: str, data: bytes | bytearray | memoryview) -> None:
        self.hub.mailbox((self.local.party_id, self._party(dst), scope.wire_topic(topic))).put(bytes(data))

    def recv(self, src: Party, scope: Scope, topic: str, timeout: float) -> bytes:
        wire = scope.wire_topic(topic)
        try:
            return self.hub.mailbox((self._party(src), self.local.party_id, wire)).get(timeout=timeout)
        except queue.Empty:
            raise FederationTimeout(f"nothing from {src} on topic {wire!r} within {timeout:g} s") from None

    def link(self, scope: Scope, roles: Collection[str] | None = None, timeout: float = 30.0) -> Link:
        parties, rank = self.link_parties(roles)
        key = (scope.link_prefix, *(p.party_id for p in parties))  # one world per scope and set of parties
        return MemoryLink.connect(self.hub.world(key, len(parties)), rank, replace(IN_PROCESS, recv_timeout=timeout))
