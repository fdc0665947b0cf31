"""Sessions as the transport's limits see them: which are released (closed for good), the bytes each holds in
this node's queue (limits.session_quota_bytes) and the pops each has waiting (limits.max_pops_per_session).
Kept in memory (one process serves a node); the released marks are also in `ptp_released`."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from hulian.core.config import NodeConfig
from hulian.core.errors import BufferFull, SessionReleased, TooManyPops
from hulian.store.db import Database, released
from hulian.transport.queue import MessageQueue


class Sessions:
    def __init__(self, config: NodeConfig, db: Database, queue: MessageQueue):
        self.config = config
        self.db = db
        self.queue = queue
        self._released: set[str] = set()
        self._in_bytes: dict[str, int] = {}
        self._pops: dict[str, int] = {}

    async def load(self) -> None:
        self._released = await self.db.run(
            lambda c: {r.session_id for r in c.execute(select(released.c.session_id))})

    def is_released(self, session_id: str) -> bool:
        return session_id in self._released

    def check_open(self, session_id: str) -> None:
        if session_id in self._released:
            raise SessionReleased(f"session {session_id!r} was released on node {self.config.node_id!r}; "
                                  "start a new session")

    async def close(self, session_id: str) -> None:
        """Mark a session released: every later call for it is refused."""
        def tx(conn: Connection) -> None:
            conn.execute(delete(released).where(released.c.session_id == session_id))
            conn.execute(insert(released).values(session_id=session_id, released_at=time.time()))

        await self.db.run(tx)
        self._released.add(session_id)

    async def forget(self, horizon: float) -> int:
        """Forget released marks older than `horizon` (no sender can retry into them any more)."""
        def tx(conn: Connection) -> list[str]:
            gone = [s for (s,) in conn.execute(select(released.c.session_id).where(released.c.released_at < horizon))]
            conn.execute(delete(released).where(released.c.released_at < horizon))
            return gone

        gone = await self.db.run(tx)
        self._released.difference_update(gone)
        return len(gone)

    # ---- queue quota ------------------------------------------------------------------------------------
    async def check_quota(self, session_id: str, size: int) -> None:
        quota = self.config.limits.session_quota_bytes
        if session_id not in self._in_bytes:
            self._in_bytes[session_id] = await self.queue.session_bytes(session_id)
        if self._in_bytes[session_id] + size > quota:
            raise BufferFull(f"session {session_id!r} already holds its quota of {quota} bytes on node "
                             f"{self.config.node_id!r}; pop its messages first (limits.session_quota_bytes)")

    def queued(self, session_id: str, size: int) -> None:
        self._in_bytes[session_id] = self._in_bytes.get(session_id, 0) + size

    def taken(self, session_id: str, size: int) -> None:
        if session_id in self._in_bytes:
            self._in_bytes[session_id] = max(0, self._in_bytes[session_id] - size)

    def recount(self, session_id: str) -> None:
        """Count the session's queued bytes from the queue again on next use (after a release)."""
        self._in_bytes.pop(session_id, None)

    # ---- waiting pops -----------------------------------------------------------------------------------
    @contextmanager
    def pop_slot(self, session_id: str) -> Iterator[None]:
        """Hold one of the session's waiting pops, so one caller cannot pin the node's connections and tasks
        with long polls."""
        cap, waiting = self.config.limits.max_pops_per_session, self._pops.get(session_id, 0)
        if waiting >= cap:
            raise TooManyPops(f"session {session_id!r} already has {waiting} pops waiting on node "
                              f"{self.config.node_id!r} (limits.max_pops_per_session); wait for one to return")
        self._pops[session_id] = waiting + 1
        try:
            yield
        finally:
            if self._pops[session_id] <= 1:
                del self._pops[session_id]
            else:
                self._pops[session_id] -= 1
