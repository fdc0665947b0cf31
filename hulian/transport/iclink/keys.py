"""Message keys and chunk reassembly of the yacl link protocol (wire-level, no I/O).

A key on the wire is `<message key>\\x01\\x02<seq>`: the message key is `{channel}:P2P-{n}:{src}->{dst}` (or
`connect_{rank}` for the handshake, seq 0), seq is the per-peer ASCII-decimal message number from 1. ACK and FIN
are the bare keys `ACK\\x01\\x02` and `FIN\\x01\\x02`, their value the ASCII-decimal seq id / sent count.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

SEQ_SEP = "\x01\x02"
ACK_KEY = "ACK" + SEQ_SEP
FIN_KEY = "FIN" + SEQ_SEP
CONNECT_PREFIX = "connect_"


def p2p_key(channel_id: str, counter: int, src: int, dst: int) -> str:
    return f"{channel_id}:P2P-{counter}:{src}->{dst}"


def connect_key(rank: int) -> str:
    return f"{CONNECT_PREFIX}{rank}"


def with_seq(msg_key: str, seq: int) -> str:
    return f"{msg_key}{SEQ_SEP}{seq}"


def split_seq(key: str) -> tuple[str, int]:
    """(message key, seq); a key without the suffix (a peer with seq ids disabled) has seq 0."""
    head, sep, tail = key.rpartition(SEQ_SEP)
    if not sep:
        return key, 0
    if not tail.isdigit():
        raise ValueError(f"key {key!r} ends in a non-numeric seq id {tail!r}")
    return head, int(tail)


@dataclass
class _Partial:
    buf: bytearray
    offsets: set[int] = field(default_factory=set)
    written: int = 0


class ChunkAssembler:
    """Reassembles CHUNKED pushes by offset: chunks may arrive in any order and more than once (idempotent)."""

    def __init__(self, remember: int = 4096) -> None:
        self._partials: dict[str, _Partial] = {}
        self._done: OrderedDict[str, None] = OrderedDict()  # recently completed keys: late duplicates are dropped
        self._remember = remember
        self._lock = threading.Lock()

    def add(self, key: str, offset: int, total: int, data: bytes) -> bytes | None:
        """Place one chunk; returns the whole message when this chunk completed it, else None."""
        if offset + len(data) > total:
            raise ValueError(f"chunk of key {key!r} at offset {offset} with {len(data)} bytes overruns the "
                             f"message length {total}")
        with self._lock:
            if key in self._done:
                return None  # a duplicate of a chunk of a message already delivered
            part = self._partials.get(key)
            if part is None:
                part = self._partials[key] = _Partial(bytearray(total))
            elif len(part.buf) != total:
                raise ValueError(f"chunk of key {key!r} says the message has {total} bytes, an earlier one "
                                 f"said {len(part.buf)}")
            if offset in part.offsets:
                return None  # a duplicate (a retried push)
            part.offsets.add(offset)
            part.buf[offset:offset + len(data)] = data
            part.written += len(data)
            if part.written < total:
                return None
            del self._partials[key]
            self._done[key] = None
            if len(self._done) > self._remember:
                self._done.popitem(last=False)
        return bytes(part.buf)

    def pending(self) -> int:
        with self._lock:
            return len(self._partials)
