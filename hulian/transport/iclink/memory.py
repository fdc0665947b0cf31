"""In-process carrier: a link's pushes go straight to the peer's Session, with the link's full semantics
(keys, seq ids, ACK, FIN, chunking) and no network. For algorithm tests on the in-memory federation."""
from __future__ import annotations

import threading

from hulian.transport.iclink.errors import CarrierError
from hulian.transport.iclink.link import IcLink
from hulian.transport.iclink.session import Carrier, LinkOptions, Session
from hulian.wire.interconnection.link import transport_pb2 as pb

IN_PROCESS = LinkOptions(connect_retries=400, connect_interval=0.05)  # 20 s for the other threads to start


class MemoryWorld:
    """The sessions of one link's ranks in this process; a rank not joined yet is 'unreachable' (retried)."""

    def __init__(self, world_size: int):
        self.world_size = world_size
        self._sessions: dict[int, Session] = {}
        self._lock = threading.Lock()

    def join(self, rank: int, session: Session) -> None:
        with self._lock:
            self._sessions[rank] = session

    def leave(self, rank: int) -> None:
        with self._lock:
            self._sessions.pop(rank, None)

    def session(self, rank: int) -> Session | None:
        with self._lock:
            return self._sessions.get(rank)


class MemoryCarrier(Carrier):
    def __init__(self, world: MemoryWorld, rank: int):
        self.world, self.rank = world, rank

    def describe(self, peer: int) -> str:
        return f"rank {peer} in this process"

    def push(self, peer: int, request: pb.PushRequest, timeout: float) -> None:
        session = self.world.session(peer)
        if session is None:  # its thread has not built its link yet: the connect exchange retries
            raise CarrierError(f"rank {peer} has not joined the link yet")
        header = session.on_request(request)
        if header.error_code:
            raise CarrierError(f"rank {peer} refused the message: {header.error_msg}", retryable=False)

    def start(self, session: Session) -> None:
        self.world.join(self.rank, session)

    def stop(self) -> None:
        self.world.leave(self.rank)


class MemoryLink(IcLink):
    @classmethod
    def connect(cls, world: MemoryWorld, rank: int, options: LinkOptions | None = None) -> MemoryLink:
        """The root link of `rank`, after yacl's connect exchange with every other rank of `world`."""
        carrier = MemoryCarrier(world, rank)
        return cls.over(carrier, rank, world.world_size, options or IN_PROCESS)
