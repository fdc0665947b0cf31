"""TaskContext: what an algorithm sees of its task — the parties by role, role-scoped messages, nested scopes,
its inputs and outputs, progress, and a logger — and never the transport, the storage engine or the env.

Messages: `send`/`recv` carry plain data (msgpack: dict, list, str, numbers, bytes; never code),
`send_bytes`/`recv_bytes` raw bytes, `send_array`/`recv_array` numpy arrays (dtype and shape kept),
`send_stream`/`recv_stream` payloads too large for one message. `to` is a Party or several (a role's
parties: `ctx.hosts`); a topic is used once per direction per scope unless both sides agree on its order.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import msgpack
import numpy as np

from hulian.data.storage import Storage
from hulian.federation import Federation, Party, Scope, Traffic
from hulian.sdk.env import ComponentEnv
from hulian.sdk.he import HeContext
from hulian.sdk.io import Output, TableInput
from hulian.sdk.mpc import MpcContext
from hulian.sdk.progress import Reporter
from hulian.transport.iclink import Link

DEFAULT_TIMEOUT = 120.0   # seconds a recv waits for the peer unless told otherwise
HEADER_LEN = 4            # bytes of the array header's length prefix


def _many(to: Party | Sequence[Party]) -> Sequence[Party]:
    return (to,) if isinstance(to, Party) else to


def pack_array(array: np.ndarray) -> bytes:
    a = np.ascontiguousarray(array)
    if a.dtype.hasobject:
        raise TypeError("arrays of Python objects cannot be sent; convert to a numeric or bytes dtype")
    header = msgpack.packb([a.dtype.str, list(a.shape)])
    return len(header).to_bytes(HEADER_LEN, "little") + header + a.tobytes()


def unpack_array(data: bytes) -> np.ndarray:
    n = int.from_bytes(data[:HEADER_LEN], "little")
    dtype, shape = msgpack.unpackb(data[HEADER_LEN:HEADER_LEN + n])
    return np.frombuffer(data, dtype=np.dtype(dtype), offset=HEADER_LEN + n).reshape(shape)


class TaskContext:
    def __init__(self, env: ComponentEnv, federation: Federation, storage: Storage, reporter: Reporter,
                 scope: Scope | None = None, timeout: float = DEFAULT_TIMEOUT):
        self.env, self.federation, self.storage, self.reporter = env, federation, storage, reporter
        self.scope = scope or Scope(env.task_id, env.topic_scope)
        self.timeout = timeout
        self.log = logging.getLogger(f"hulian.component.{env.component or 'task'}")
        self._he: HeContext | None = None
        self._he_stats = Traffic()   # one count for a context and its sub-scopes
        self._mpc_stats = Traffic()
        self._mpc_opened: dict[str, int] = {}

    # ---- parties ----------------------------------------------------------------------------------------
    @property
    def local(self) -> Party:
        return self.federation.local

    @property
    def parties(self) -> tuple[Party, ...]:
        return self.federation.parties

    @property
    def role(self) -> str:
        return self.local.role

    def party(self, party_id: str) -> Party:
        """The party "<role>.<index>"; ValueError when the job has none."""
        for p in self.parties:
            if p.party_id == party_id:
                return p
        raise ValueError(f"no party {party_id!r} in this job ({[p.party_id for p in self.parties]})")

    def of_role(self, role: str) -> list[Party]:
        return [p for p in self.parties if p.role == role]

    @property
    def guest(self) -> Party | None:
        return next(iter(self.of_role("guest")), None)

    @property
    def hosts(self) -> list[Party]:
        return self.of_role("host")

    @property
    def arbiter(self) -> Party | None:
        return next(iter(self.of_role("arbiter")), None)

    @property
    def others(self) -> list[Party]:
        return [p for p in self.parties if p != self.local]

    def sub(self, name: str) -> TaskContext:
        """A nested scope (an iteration, a sub-protocol): its topics can never meet the parent's or a sibling's."""
        child = TaskContext(self.env, self.federation, self.storage, self.reporter, self.scope.sub(name),
                            self.timeout)
        child._he_stats, child._mpc_stats, child._mpc_opened = self._he_stats, self._mpc_stats, self._mpc_opened
        return child

    # ---- messages ---------------------------------------------------------------------------------------
    def send_bytes(self, to: Party | Sequence[Party], topic: str, data: bytes | bytearray | memoryview) -> None:
        for party in _many(to):
            self.federation.send(party, self.scope, topic, data)

    def recv_bytes(self, frm: Party, topic: str, timeout: float | None = None) -> bytes:
        return self.federation.recv(frm, self.scope, topic, self.timeout if timeout is None else timeout)

    def send(self, to: Party | Sequence[Party], topic: str, obj: Any) -> None:
        self.send_bytes(to, topic, msgpack.packb(obj, use_bin_type=True))

    def recv(self, frm: Party, topic: str, timeout: float | None = None) -> Any:
        return msgpack.unpackb(self.recv_bytes(frm, topic, timeout), raw=False, strict_map_key=False)

    def recv_all(self, frm: Sequence[Party], topic: str, timeout: float | None = None) -> list[Any]:
        """One object from each of `frm`, in their order."""
        return [self.recv(p, topic, timeout) for p in frm]

    def send_array(self, to: Party | Sequence[Party], topic: str, array: np.ndarray) -> None:
        self.send_bytes(to, topic, pack_array(array))

    def recv_array(self, frm: Party, topic: str, timeout: float | None = None) -> np.ndarray:
        return unpack_array(self.recv_bytes(frm, topic, timeout))

    def send_stream(self, to: Party, topic: str, pieces: Iterable[bytes | bytearray | memoryview]) -> int:
        return self.federation.send_stream(to, self.scope, topic, pieces)

    def recv_stream(self, frm: Party, topic: str, timeout: float | None = None) -> Iterator[bytes]:
        return self.federation.recv_stream(frm, self.scope, topic, self.timeout if timeout is None else timeout)

    def link(self, roles: Sequence[str] | None = None, timeout: float | None = None) -> Link:
        """A yacl-semantics link among the parties of `roles` (for open protocols SecretFlow peers speak, such
        as ECDH-PSI); one per scope."""
        return self.federation.link(self.scope, roles, self.timeout if timeout is None else timeout)

    @property
    def he(self) -> HeContext:
        """Additively homomorphic encryption among the parties: keys, encrypted arrays, counters (docs/he.md)."""
        if self._he is None:
            self._he = HeContext(self, self._he_stats)
        return self._he

    @property
    def mpc(self) -> MpcContext:
        """Secret sharing between two compute parties: sessions, the dealer, counters (docs/mpc.md)."""
        return MpcContext(self, self._mpc_stats, self._mpc_opened)

    # ---- data -------------------------------------------------------------------------------------------
    def input(self, name: str) -> TableInput:
        """The dataset given as input `name` (else the first input given)."""
        return TableInput(self.storage, *self.env.input_address(name))

    def output(self, name: str) -> Output:
        """Where output `name` goes: the CONF's address, else the guide's default."""
        return Output(self.storage, *self.env.output_address(name, self.env.component or "task"))

    def close(self) -> None:
        """After the run: this task's unread messages dropped at the node, storage caches removed."""
        try:
            self.federation.close()
        finally:
            self.storage.close()

    # ---- progress ---------------------------------------------------------------------------------------
    def progress(self, fraction: float | None = None, **metrics: float | int | str) -> None:
        """Report how far this party is (0..1) and any metrics; they show in the job's status."""
        self.reporter.report(fraction, **metrics)
