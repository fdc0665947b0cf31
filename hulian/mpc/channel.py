"""One party's messages to one other party inside an MPC session: numbered topics, arrays as raw
little-endian words in pieces of at most CHUNK_WORDS, every send and receive counted in a Traffic.

Both parties of a session run the same sequence of protocol steps, so the n-th step's topic is the same on
both sides without negotiation (`<step>-<n>`); a step that sends twice (a mask and then a reply) uses two
topics.
"""
from __future__ import annotations

import numpy as np

from hulian.federation import Federation, FederationError, Party, Scope, Traffic

CHUNK_WORDS = 1 << 20   # 8 MiB of uint64 per message: bounded memory on every carrier


def pieces(size: int) -> list[slice]:
    """Slices of at most CHUNK_WORDS elements covering `size` (one, empty, for size 0: both parties still take
    the step): one message per piece and round, so memory stays bounded for any input size."""
    return [slice(i, min(i + CHUNK_WORDS, size)) for i in range(0, max(size, 1), CHUNK_WORDS)]


class MpcError(Exception):
    """An MPC session failed: a peer sent what the protocol does not allow, or the parties disagree."""


class PeerChannel:
    def __init__(self, federation: Federation, scope: Scope, peer: Party, timeout: float, stats: Traffic):
        self.federation, self.scope, self.peer, self.timeout, self.stats = federation, scope, peer, timeout, stats
        self._steps = 0

    def topic(self, step: str) -> str:
        """A fresh topic for `step`: both parties number their steps alike."""
        self._steps += 1
        return f"{step}-{self._steps}"

    # ---- bytes (protobuf messages) -------------------------------------------------------------------
    def send_bytes(self, topic: str, data: bytes) -> None:
        self.federation.send(self.peer, self.scope, topic, data)
        self.stats.rounds_sent += 1
        self.stats.messages_sent += 1
        self.stats.bytes_sent += len(data)

    def recv_bytes(self, topic: str, timeout: float | None = None) -> bytes:
        data = self.federation.recv(self.peer, self.scope, topic, self.timeout if timeout is None else timeout)
        self.stats.rounds_received += 1
        self.stats.messages_received += 1
        self.stats.bytes_received += len(data)
        return data

    # ---- ring arrays ---------------------------------------------------------------------------------
    def send(self, topic: str, words: np.ndarray) -> None:
        flat = np.ascontiguousarray(words, dtype="<u8").reshape(-1)
        pieces = max(1, -(-flat.size // CHUNK_WORDS))
        for i in range(pieces):
            piece = flat[i * CHUNK_WORDS:(i + 1) * CHUNK_WORDS]
            self.federation.send(self.peer, self.scope, topic, memoryview(piece).cast("B"))
            self.stats.messages_sent += 1
            self.stats.bytes_sent += piece.nbytes
        self.stats.rounds_sent += 1

    def recv(self, topic: str, shape: tuple[int, ...] | int) -> np.ndarray:
        """The array the peer sent on `topic`; MpcError if its size is not the protocol's."""
        out = np.empty(shape, dtype=np.uint64)
        flat = out.reshape(-1)
        pieces = max(1, -(-flat.size // CHUNK_WORDS))
        for i in range(pieces):
            data = self.federation.recv(self.peer, self.scope, topic, self.timeout)
            want = min(CHUNK_WORDS, flat.size - i * CHUNK_WORDS) * 8
            if len(data) != want:
                raise MpcError(f"{self.peer} sent {len(data)} bytes on {topic!r} where {want} were expected: "
                               "the parties are running different steps or shapes")
            flat[i * CHUNK_WORDS:i * CHUNK_WORDS + want // 8] = np.frombuffer(data, dtype="<u8")
            self.stats.messages_received += 1
            self.stats.bytes_received += len(data)
        self.stats.rounds_received += 1
        return out

    def exchange(self, step: str, words: np.ndarray) -> np.ndarray:
        """Send ours and receive the peer's array of the same shape: one round."""
        topic = self.topic(step)
        self.send(topic, words)
        return self.recv(topic, np.shape(words))


__all__ = ["CHUNK_WORDS", "FederationError", "MpcError", "PeerChannel", "pieces"]
