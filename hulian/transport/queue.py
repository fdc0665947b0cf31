"""Queue backends for delivered messages: the channel a container pops from.

A channel is (session, topic); a pop may also name the source node. Backends implement `MessageQueue`;
`SqlQueue` (the built-in default) keeps messages in the node database, `RedisQueue` in Redis Streams.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, defaultdict

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from hulian.store.db import Database, inbox, received
from hulian.transport.model import Delivery, Message

log = logging.getLogger("hulian.transport.queue")

CLAIM_LEASE_SECONDS = 60.0  # a popped message not acknowledged within this time is delivered again
RECHECK_SECONDS = 1.0  # waiters also re-check periodically, for writers in other processes


class Waiters:
    """Blocked pops of each channel. A put wakes them to look again (`notify`), or hands its message
    straight to the oldest one whose source filter matches (`take`), sparing the popper a round trip."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[str, str], list[tuple[str | None, asyncio.Future]]] = defaultdict(list)

    def notify(self, session_id: str, topic: str | None = None) -> None:
        for (s, t), waiting in list(self._waiting.items()):
            if s == session_id and (topic is None or t == topic):
                for _, fut in waiting:
                    if not fut.done():
                        fut.set_result(None)

    def take(self, session_id: str, topic: str, source: str) -> asyncio.Future | None:
        """Remove and return the oldest pending waiter that accepts a message from `source`."""
        waiting = self._waiting.get((session_id, topic), [])
        for i, (wanted, fut) in enumerate(waiting):
            if not fut.done() and wanted in (None, source):
                del waiting[i]
                return fut
        return None

    async def wait(self, session_id: str, topic: str, source: str | None, timeout: float) -> Delivery | None:
        """Wait until woken (None: look again) or handed a message (its Delivery)."""
        key = (session_id, topic)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        entry = (source, fut)
        self._waiting[key].append(entry)
        try:
            await asyncio.wait({fut}, timeout=min(timeout, RECHECK_SECONDS))
        finally:
            if entry in self._waiting.get(key, []):
                self._waiting[key].remove(entry)
            if not self._waiting.get(key):
                self._waiting.pop(key, None)
        if fut.done():
            return fut.result()
        fut.cancel()  # nobody may hand a message to a waiter that left
        return None


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

    async def forget_before(self, horizon: float) -> int:
        """Drop de-duplication ids of messages received before `horizon` (unix s); how many went.
        Backends whose ids expire by themselves keep the default."""
        return 0

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
            delivery = await self.waiters.wait(session_id, topic, source, remaining)
            if delivery is not None:
                return delivery


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
        self._putting: Counter[str] = Counter()  # msg_ids whose put is under way (how many puts)
        self._reader: sqlite3.Connection | None = None  # see _surely_new

    async def start(self) -> None:
        if self.db.is_sqlite and self.db.engine.url.database not in (None, "", ":memory:"):
            self._reader = sqlite3.connect(self.db.engine.url.database, check_same_thread=False)
            self._reader.execute("PRAGMA busy_timeout=0")  # never wait on the event loop: fall back instead

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _surely_new(self, msg_id: str) -> bool:
        """True when `msg_id` (with no other put of it under way) is certainly not received yet: no row in
        ptp_received. Only with a SQLite file, where this process is the one writer; the look-up is a primary
        key read of a local file on the event loop (tens of µs), cheaper than the two thread hops of asking the
        database thread, which cost a waiting pop 0.5-1 ms."""
        if self._reader is None:
            return False
        try:
            return self._reader.execute(f"SELECT 1 FROM {received.name} WHERE msg_id = ?",
                                        (msg_id,)).fetchone() is None
        except sqlite3.Error:
            return False  # e.g. busy during recovery: the database thread decides

    async def put(self, msg: Message) -> bool:
        """Store a message; when a pop is waiting for it, hand it over as soon as it is known to be new (before
        the database thread looks when `_surely_new` can tell), while the commit proceeds (the popper
        acknowledges after the commit, through the receipt)."""
        loop = asyncio.get_running_loop()
        # A put of the same msg_id under way (a sender's retry overtaking its first attempt) hands nothing to a
        # waiting pop: the two duplicate checks could both pass before either commits. It stores the message
        # only if the first put failed, and waiting pops then find it as usual.
        concurrent = self._putting[msg.msg_id] > 0
        waiter = None if concurrent else self.waiters.take(msg.session_id, msg.topic, msg.source_node)
        receipt: asyncio.Future = loop.create_future()
        handed = {"accepted": False}

        def hand() -> None:
            if waiter is not None and not waiter.done():
                waiter.set_result(Delivery(msg, receipt))
                handed["accepted"] = True

        early = waiter is not None and self._surely_new(msg.msg_id)
        self._putting[msg.msg_id] += 1
        if early:
            hand()

        def tx(conn) -> int | None:
            if conn.execute(select(received.c.msg_id).where(received.c.msg_id == msg.msg_id)).first():
                return None
            # handed only once this transaction holds the msg_id: on a server database a concurrent put (from
            # another process, or a retry) may have inserted it uncommitted, which the select cannot see
            conn.execute(insert(received).values(msg_id=msg.msg_id, received_at=time.time()))
            if waiter is not None and not early:
                loop.call_soon_threadsafe(hand)
            row = msg.routing_row()
            row["blob_paths"] = json.dumps(msg.blob_paths) if msg.blob_paths else None
            rid = conn.execute(insert(inbox).values(**row)).inserted_primary_key[0]
            if waiter is not None:
                with self._lock:  # claimed before it becomes visible to other pops
                    self._claims[rid] = time.monotonic() + CLAIM_LEASE_SECONDS
            return rid

        try:
            rid = await self.db.run(tx)
        except BaseException as e:
            if not receipt.done():
                receipt.set_exception(e if isinstance(e, Exception) else RuntimeError("put cancelled"))
                receipt.exception()  # retrieved: a popper that never acknowledges must not warn
            if isinstance(e, IntegrityError):  # a concurrent put of the same msg_id won (server databases)
                return False
            raise
        finally:
            self._putting[msg.msg_id] -= 1
            if not self._putting[msg.msg_id]:
                del self._putting[msg.msg_id]
        if rid is None:
            if waiter is not None and not waiter.done():
                waiter.set_result(None)  # a duplicate: let the waiter look again
            if early:  # cannot happen with this process the database's one writer; never leave an ack waiting
                log.error("message %s was handed to a pop before its duplicate check found it delivered",
                          msg.msg_id)
                receipt.set_exception(RuntimeError(f"message {msg.msg_id} was a duplicate"))
                receipt.exception()
            return False
        receipt.set_result(rid)
        if waiter is not None and not handed["accepted"]:
            self._claims.pop(rid, None)  # the waiter left meanwhile: the message waits for the next pop
        self.waiters.notify(msg.session_id, msg.topic)
        return True

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

    @staticmethod
    async def _row_id(delivery: Delivery) -> int:
        """The inbox id of a delivery; for a handed-over message, once its put has committed."""
        receipt = delivery.receipt
        return await receipt if isinstance(receipt, asyncio.Future) else receipt  # type: ignore[return-value]

    async def ack(self, delivery: Delivery) -> list[str]:
        rid = await self._row_id(delivery)

        def tx(conn) -> None:
            # the claim goes with the row, even when the awaiting caller is cancelled: SQLite reuses the id of
            # a deleted last row, and a claim left behind would hide the next message for the lease
            conn.execute(delete(inbox).where(inbox.c.id == rid))
            with self._lock:
                self._claims.pop(rid, None)

        await self.db.run(tx)
        return delivery.message.blob_paths

    async def nack(self, delivery: Delivery) -> None:
        self._claims.pop(await self._row_id(delivery), None)
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

    async def forget_before(self, horizon: float) -> int:
        return await self.db.run(lambda c: c.execute(delete(received).where(received.c.received_at < horizon)).rowcount)
