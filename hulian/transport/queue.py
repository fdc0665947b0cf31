"""Queue backends for delivered messages: the channel a container pops from.

A channel is (session, topic); a pop may also name the source node. Backends implement `MessageQueue`;
`SqlQueue` (the built-in default) keeps messages in the node database, `RedisQueue` in Redis Streams.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from abc import ABC, abstractmethod
from collections import defaultdict

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from hulian.store.db import Database, inbox, received
from hulian.transport.model import Delivery, Message

CLAIM_LEASE_SECONDS = 60.0  # a popped message not acknowledged within this time is delivered again
RECHECK_SECONDS = 1.0  # waiters also re-check periodically, for writers in other processes


class Waiters:
    """Wakes blocked pops of a channel when a message for it arrives (or its session is released)."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], set[asyncio.Event]] = defaultdict(set)

    def notify(self, session_id: str, topic: str | None = None) -> None:
        for (s, t), events in list(self._events.items()):
            if s == session_id and (topic is None or t == topic):
                for e in events:
                    e.set()

    async def wait(self, session_id: str, topic: str, timeout: float) -> None:
        key = (session_id, topic)
        event = asyncio.Event()
        self._events[key].add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout=min(timeout, RECHECK_SECONDS))
        except asyncio.TimeoutError:
            pass
        finally:
            self._events[key].discard(event)
            if not self._events[key]:
                del self._events[key]


class MessageQueue(ABC):
    """The contract every backend passes (tests/transport/test_queue.py runs against each)."""

    def __init__(self) -> None:
        self.waiters = Waiters()

    async def start(self) -> None:
        """Connect and recover: claims held by a crashed process become visible again."""

    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    async def put(self, msg: Message) -> bool:
        """Store a complete message durably; False when its msg_id was delivered before (a duplicate)."""

    @abstractmethod
    async def delivered(self, msg_id: str) -> bool:
        """Whether `msg_id` was put before (so a late chunk of it need not be stored)."""

    @abstractmethod
    async def try_get(self, session_id: str, topic: str, source: str | None) -> Delivery | None:
        """Claim the oldest message of the channel, or None."""

    @abstractmethod
    async def ack(self, delivery: Delivery) -> list[str]:
        """Remove a claimed message for good; returns its blob paths for deletion."""

    @abstractmethod
    async def nack(self, delivery: Delivery) -> None:
        """Make a claimed message visible again (the reply could not be sent)."""

    @abstractmethod
    async def peek(self, session_id: str, topic: str, source: str | None) -> Message | None:
        """The oldest unclaimed message of the channel, left in place."""

    @abstractmethod
    async def release(self, session_id: str, topic: str | None) -> list[str]:
        """Drop the channel's (or the whole session's) messages; returns blob paths for deletion."""

    @abstractmethod
    async def session_bytes(self, session_id: str) -> int:
        """Bytes queued for a session, for its quota."""

    async def referenced_blobs(self) -> set[str] | None:
        """Blob files the queue still names (for the start-up sweep); None when the backend cannot tell."""
        return None

    async def get(self, session_id: str, topic: str, source: str | None, timeout: float,
                  is_released=None) -> Delivery | None:
        """Block up to `timeout` seconds for a message; None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            delivery = await self.try_get(session_id, topic, source)
            if delivery is not None:
                return delivery
            if is_released is not None and await is_released():
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await self.waiters.wait(session_id, topic, remaining)


class SqlQueue(MessageQueue):
    """Messages in the node's database: durable with the database, nothing else to run.

    Claims of popped-but-unacknowledged messages live in memory: a pop costs one read, no commit, and a
    restart (which loses the claims) makes every unacknowledged message visible again, as it should.
    """

    def __init__(self, db: Database):
        super().__init__()
        self.db = db
        self._claims: dict[int, float] = {}  # inbox id -> lease expiry (monotonic)
        self._lock = threading.Lock()  # select-and-claim is atomic across database threads

    async def put(self, msg: Message) -> bool:
        def tx(conn) -> bool:
            if conn.execute(select(received.c.msg_id).where(received.c.msg_id == msg.msg_id)).first():
                return False
            conn.execute(insert(received).values(msg_id=msg.msg_id, received_at=time.time()))
            row = msg.routing_row()
            row["blob_paths"] = json.dumps(msg.blob_paths) if msg.blob_paths else None
            conn.execute(insert(inbox).values(**row))
            return True

        try:
            fresh = await self.db.run(tx)
        except IntegrityError:  # a concurrent put of the same msg_id won (server databases)
            fresh = False
        if fresh:
            self.waiters.notify(msg.session_id, msg.topic)
        return fresh

    async def delivered(self, msg_id: str) -> bool:
        return await self.db.run(lambda c: c.execute(
            select(received.c.msg_id).where(received.c.msg_id == msg_id)).first() is not None)

    def _first_unclaimed(self, conn, session_id: str, topic: str, source: str | None):
        now = time.monotonic()
        self._claims = {i: t for i, t in self._claims.items() if t > now}
        cond = and_(inbox.c.session_id == session_id, inbox.c.topic == topic)
        if source:
            cond = and_(cond, inbox.c.source_node == source)
        if self._claims:
            cond = and_(cond, inbox.c.id.not_in(list(self._claims)))
        return conn.execute(select(inbox).where(cond).order_by(inbox.c.id).limit(1)).first()

    async def try_get(self, session_id: str, topic: str, source: str | None) -> Delivery | None:
        def tx(conn):
            with self._lock:
                row = self._first_unclaimed(conn, session_id, topic, source)
                if row is None:
                    return None
                self._claims[row.id] = time.monotonic() + CLAIM_LEASE_SECONDS
                return Delivery(Message.from_row(row), row.id)

        return await self.db.run(tx)

    async def ack(self, delivery: Delivery) -> list[str]:
        await self.db.run(lambda c: c.execute(delete(inbox).where(inbox.c.id == delivery.receipt)))
        self._claims.pop(delivery.receipt, None)  # type: ignore[call-overload]
        return delivery.message.blob_paths

    async def nack(self, delivery: Delivery) -> None:
        self._claims.pop(delivery.receipt, None)  # type: ignore[call-overload]
        self.waiters.notify(delivery.message.session_id, delivery.message.topic)

    async def peek(self, session_id: str, topic: str, source: str | None) -> Message | None:
        def tx(conn):
            with self._lock:
                row = self._first_unclaimed(conn, session_id, topic, source)
            return Message.from_row(row) if row else None

        return await self.db.run(tx)

    async def release(self, session_id: str, topic: str | None) -> list[str]:
        def tx(conn) -> list[str]:
            cond = inbox.c.session_id == session_id
            if topic is not None:
                cond = and_(cond, inbox.c.topic == topic)
            paths: list[str] = []
            for (p,) in conn.execute(select(inbox.c.blob_paths).where(cond, inbox.c.blob_paths.is_not(None))):
                paths.extend(json.loads(p))
            conn.execute(delete(inbox).where(cond))
            return paths

        paths = await self.db.run(tx)
        self.waiters.notify(session_id, topic)
        return paths

    async def session_bytes(self, session_id: str) -> int:
        return await self.db.run(lambda c: c.execute(
            select(func.coalesce(func.sum(inbox.c.size), 0)).where(inbox.c.session_id == session_id)).scalar_one())

    async def referenced_blobs(self) -> set[str] | None:
        def tx(conn) -> set[str]:
            rows = conn.execute(select(inbox.c.blob_paths).where(inbox.c.blob_paths.is_not(None)))
            return {p for (paths,) in rows for p in json.loads(paths)}

        return await self.db.run(tx)
