"""One contract for every queue backend: SqlQueue on SQLite, PostgreSQL and MariaDB, and RedisQueue.

Server-backed cases skip when their server is absent (and fail under CI=true); each test gets its own
PostgreSQL schema, MariaDB database or Redis namespace, so concurrent runs cannot see each other's rows.
"""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hulian.store.db import Database
from hulian.transport import queue as queue_module
from hulian.transport import redis_queue
from hulian.transport.model import Message
from hulian.transport.queue import MessageQueue, SqlQueue
from hulian.transport.redis_queue import RedisQueue
from tests.conftest import require_service

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
REDIS_URL = "redis://127.0.0.1:6379/15"


@contextmanager
def _server_database(admin_url: str, create: str, drop: str, url: str) -> Iterator[Database]:
    """Runs `create` before and `drop` after the test, so the tables live and die with it."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(create))
    db = Database(url)
    try:
        yield db
    finally:
        db.close()
        with admin.connect() as c:
            c.execute(text(drop))
        admin.dispose()


@contextmanager
def _database(backend: str, name: str, tmp_path: Path) -> Iterator[Database]:
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'queue.db'}")
        try:
            yield db
        finally:
            db.close()
    elif backend == "postgresql":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        with _server_database(PG_URL, f'CREATE SCHEMA "{name}"', f'DROP SCHEMA "{name}" CASCADE',
                              f"{PG_URL}?options=-csearch_path%3D{name}") as db:
            yield db
    else:
        require_service("MariaDB", "127.0.0.1", 3306)
        with _server_database(MARIADB_URL, f"CREATE DATABASE `{name}`", f"DROP DATABASE `{name}`",
                              MARIADB_URL.rsplit("/", 1)[0] + f"/{name}") as db:
            yield db


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.service),
                        pytest.param("mariadb", marks=pytest.mark.service),
                        pytest.param("redis", marks=pytest.mark.service)])
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MessageQueue]:
    """A started queue on empty storage of its own."""
    name = f"hulian_test_{uuid.uuid4().hex[:12]}"
    if request.param == "redis":
        require_service("Redis", "127.0.0.1", 6379)
        q = RedisQueue(REDIS_URL, namespace=name, dedup_ttl_seconds=3600)
        await q.start()
        try:
            yield q
        finally:
            keys = [k async for k in q.redis.scan_iter(match=f"{q.prefix}*")]
            if keys:
                await q.redis.delete(*keys)
            await q.close()
        return
    with _database(request.param, name, tmp_path) as db:
        db.create_all()
        q = SqlQueue(db)
        await q.start()
        try:
            yield q
        finally:
            await q.close()


def msg(n: int, session: str = "s1", topic: str = "t1", source: str = "node-a", payload: bytes | None = b"x",
        blob_paths: list[str] | None = None, size: int | None = None) -> Message:
    size = len(payload or b"") if size is None else size
    return Message(msg_id=f"m{n}", session_id=session, topic=topic, source_node=source, target_node="node-b",
                   size=size, total_size=size, payload=payload, blob_paths=blob_paths or [],
                   created_at=1_700_000_000.123456 + n)


async def drain(q: MessageQueue, session: str = "s1", topic: str = "t1", source: str | None = None) -> list[str]:
    """Pop and acknowledge until empty; the msg_ids in pop order."""
    ids = []
    while (d := await q.try_get(session, topic, source)) is not None:
        ids.append(d.message.msg_id)
        await q.ack(d)
    return ids


async def test_message_round_trips(queue: MessageQueue) -> None:
    inline = Message(msg_id="m1", session_id="sess-ü", topic="topic/1", source_node="node-a", source_inst="ia",
                     target_node="node-b", target_inst="ib", trace_id="trace", meta={"k": "v", "ü": "1"},
                     size=4, total_size=4, payload=b"\x00\xff\x01z", created_at=1_700_000_000.123456)
    filed = msg(2, session="sess-ü", topic="topic/1", payload=None, blob_paths=["/b/1", "/b/2"], size=10 << 20)
    assert await queue.put(inline) and await queue.put(filed)
    assert await queue.peek("sess-ü", "topic/1", None) == inline
    assert (await queue.try_get("sess-ü", "topic/1", None)).message == inline
    assert (await queue.try_get("sess-ü", "topic/1", None)).message == filed
    big = msg(3, payload=bytes(range(256)) * 4096)  # 1 MiB inline, far above limits.inline_bytes
    await queue.put(big)
    assert (await queue.try_get("s1", "t1", None)).message == big


async def test_fifo_per_channel(queue: MessageQueue) -> None:
    for n in range(6):
        await queue.put(msg(n, topic="t1" if n % 2 else "t2"))
    assert await drain(queue, topic="t1") == ["m1", "m3", "m5"]
    assert await drain(queue, topic="t2") == ["m0", "m2", "m4"]


async def test_channels_are_isolated(queue: MessageQueue) -> None:
    await queue.put(msg(1, session="s1", topic="t1"))
    for session, topic in [("s1", "t2"), ("s2", "t1"), ("s", "1:t1"), ("s1:t", "1")]:
        assert await queue.try_get(session, topic, None) is None
        assert await queue.peek(session, topic, None) is None
    assert await drain(queue) == ["m1"]


async def test_source_filter(queue: MessageQueue) -> None:
    await queue.put(msg(1, source="node-a"))
    await queue.put(msg(2, source="node-c"))
    await queue.put(msg(3, source="node-a"))
    assert (await queue.peek("s1", "t1", "node-c")).msg_id == "m2"
    assert await queue.try_get("s1", "t1", "node-x") is None
    assert await drain(queue, source="node-c") == ["m2"]
    assert await drain(queue, source="node-a") == ["m1", "m3"]


async def test_duplicate_put_is_refused(queue: MessageQueue) -> None:
    assert await queue.put(msg(1)) is True
    assert await queue.put(msg(1)) is False
    assert await queue.session_bytes("s1") == 1
    assert await drain(queue) == ["m1"]
    assert await queue.put(msg(1)) is False  # also once it was popped and acknowledged
    assert await queue.try_get("s1", "t1", None) is None


async def test_delivered_remembers_put_ids(queue: MessageQueue) -> None:
    assert await queue.delivered("m1") is False
    await queue.put(msg(1))
    assert await queue.delivered("m1") is True
    await drain(queue)
    assert await queue.delivered("m1") is True  # still known after it was popped


async def test_forget_before_drops_only_old_ids(queue: MessageQueue) -> None:
    await queue.put(msg(1))
    assert await queue.forget_before(time.time() - 3600) == 0
    assert await queue.delivered("m1") is True
    if isinstance(queue, SqlQueue):  # Redis ids expire by themselves (dedup_ttl_seconds)
        assert await queue.forget_before(time.time() + 1) == 1
        assert await queue.delivered("m1") is False


async def test_concurrent_duplicate_puts_store_one(queue: MessageQueue) -> None:
    assert sorted(await asyncio.gather(*(queue.put(msg(1)) for _ in range(4)))) == [False, False, False, True]
    assert await drain(queue) == ["m1"]


async def _until_waiting(q: MessageQueue, count: int, timeout: float = 5.0) -> None:
    """Until `count` pops wait on channel (s1, t1): a put must find them there."""
    deadline = time.monotonic() + timeout
    while len(q.waiters._waiting.get(("s1", "t1"), [])) < count:
        assert time.monotonic() < deadline, f"fewer than {count} pops came to wait"
        await asyncio.sleep(0.01)


async def test_concurrent_duplicate_puts_reach_one_waiting_pop(queue: MessageQueue) -> None:
    """With pops waiting, a message put four times at once still reaches exactly one of them."""
    getters = [asyncio.create_task(queue.get("s1", "t1", None, timeout=1.5)) for _ in range(4)]
    await _until_waiting(queue, 4)
    assert sorted(await asyncio.gather(*(queue.put(msg(1)) for _ in range(4)))) == [False, False, False, True]
    got = [d for d in await asyncio.gather(*getters) if d is not None]
    assert [d.message.msg_id for d in got] == ["m1"]
    await queue.ack(got[0])
    getter = asyncio.create_task(queue.get("s1", "t1", None, timeout=0.5))
    await _until_waiting(queue, 1)
    assert await queue.put(msg(1)) is False  # delivered before: the waiting pop gets nothing
    assert await getter is None


async def test_sqlite_hands_a_new_message_to_a_waiting_pop_before_the_database_thread(tmp_path: Path) -> None:
    """With a SQLite file the duplicate check of a put that a pop waits for is made on the event loop, so the
    pop has the message while the database thread is still busy (here: held by a blocking call)."""
    db = Database(f"sqlite:///{tmp_path / 'queue.db'}")
    db.create_all()
    q = SqlQueue(db)
    await q.start()
    gate = threading.Event()
    try:
        getter = asyncio.create_task(q.get("s1", "t1", None, timeout=5))
        await _until_waiting(q, 1)
        busy = asyncio.ensure_future(db.call(lambda: gate.wait(5)))
        put = asyncio.create_task(q.put(msg(1)))
        delivery = await asyncio.wait_for(getter, 2)
        assert delivery.message.msg_id == "m1" and not put.done()
        gate.set()
        assert await put is True
        await busy
        await q.ack(delivery)
        assert await drain(q) == []
    finally:
        gate.set()
        await q.close()
        db.close()


async def test_get_wakes_on_put(queue: MessageQueue) -> None:
    getter = asyncio.create_task(queue.get("s1", "t1", None, timeout=10))
    await asyncio.sleep(0.2)
    assert not getter.done()
    start = time.monotonic()
    await queue.put(msg(1))
    delivery = await getter
    assert time.monotonic() - start < 0.5
    assert delivery.message.msg_id == "m1"


async def test_get_times_out(queue: MessageQueue) -> None:
    await queue.put(msg(1, topic="other"))
    start = time.monotonic()
    assert await queue.get("s1", "t1", None, timeout=0.3) is None
    assert 0.3 <= time.monotonic() - start < 0.8


async def test_claim_hides_nack_restores_ack_removes(queue: MessageQueue) -> None:
    await queue.put(msg(1, payload=None, blob_paths=["/b/1"], size=5))
    first = await queue.try_get("s1", "t1", None)
    assert await queue.try_get("s1", "t1", None) is None
    assert await queue.get("s1", "t1", None, timeout=0.1) is None
    await queue.nack(first)
    again = await queue.try_get("s1", "t1", None)
    assert again.message == first.message
    assert await queue.ack(again) == ["/b/1"]
    assert await queue.try_get("s1", "t1", None) is None
    assert await queue.peek("s1", "t1", None) is None
    assert await queue.session_bytes("s1") == 0


async def test_claim_expires_after_lease(queue: MessageQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_module, "CLAIM_LEASE_SECONDS", 0.2)
    monkeypatch.setattr(redis_queue, "CLAIM_LEASE_SECONDS", 0.2)
    await queue.put(msg(1))
    assert await queue.try_get("s1", "t1", None) is not None
    assert await queue.try_get("s1", "t1", None) is None
    await asyncio.sleep(0.4)
    assert (await queue.try_get("s1", "t1", None)).message.msg_id == "m1"


async def test_restart_frees_claims_of_a_crashed_process(queue: MessageQueue) -> None:
    await queue.put(msg(1))
    assert await queue.try_get("s1", "t1", None) is not None
    successor = (SqlQueue(queue.db) if isinstance(queue, SqlQueue)
                 else RedisQueue(REDIS_URL, queue.namespace, dedup_ttl_seconds=3600))
    await successor.start()  # the next process, on the same storage
    try:
        assert (await successor.try_get("s1", "t1", None)).message.msg_id == "m1"
    finally:
        await successor.close()


async def test_referenced_blobs_names_every_queued_file(queue: MessageQueue) -> None:
    await queue.put(msg(1, payload=None, blob_paths=["/b/1", "/b/2"], size=2))
    await queue.put(msg(2, topic="t2"))
    await queue.put(msg(3, session="s2", payload=None, blob_paths=["/b/3"], size=1))
    assert await queue.try_get("s2", "t1", None) is not None
    assert await queue.referenced_blobs() == {"/b/1", "/b/2", "/b/3"}
    await drain(queue)
    assert await queue.referenced_blobs() == {"/b/3"}


async def test_peek_leaves_message_in_place(queue: MessageQueue) -> None:
    await queue.put(msg(1))
    await queue.put(msg(2, source="node-c"))
    assert (await queue.peek("s1", "t1", None)).msg_id == "m1"
    assert (await queue.peek("s1", "t1", None)).msg_id == "m1"
    assert (await queue.try_get("s1", "t1", None)).message.msg_id == "m1"
    assert (await queue.peek("s1", "t1", None)).msg_id == "m2"  # the oldest *unclaimed*
    assert await queue.peek("s1", "t1", "node-a") is None
    assert await queue.session_bytes("s1") == 2


async def test_release_topic_then_session(queue: MessageQueue) -> None:
    await queue.put(msg(1, topic="t1", payload=None, blob_paths=["/b/1"], size=100))
    await queue.put(msg(2, topic="t1", size=1))
    await queue.put(msg(3, topic="t2", payload=None, blob_paths=["/b/2", "/b/3"], size=200))
    await queue.put(msg(4, topic="t3", payload=None, blob_paths=["/b/4"], size=300))
    await queue.put(msg(5, session="s2", payload=None, blob_paths=["/b/5"], size=50))
    assert await queue.try_get("s1", "t3", None) is not None  # claimed messages are released too
    assert await queue.release("s1", "t1") == ["/b/1"]
    assert await queue.try_get("s1", "t1", None) is None
    assert await queue.session_bytes("s1") == 500
    assert sorted(await queue.release("s1", None)) == ["/b/2", "/b/3", "/b/4"]
    assert await queue.session_bytes("s1") == 0
    assert await queue.peek("s1", "t2", None) is None
    assert await queue.session_bytes("s2") == 50
    await queue.put(msg(6, topic="t1"))  # a released channel takes new messages
    assert await drain(queue) == ["m6"]
    assert await queue.release("s1", None) == []


async def test_session_bytes_sums_sizes(queue: MessageQueue) -> None:
    assert await queue.session_bytes("s1") == 0
    await queue.put(msg(1, topic="t1", payload=b"abc"))
    await queue.put(msg(2, topic="t2", payload=None, blob_paths=["/b/2"], size=5 << 30))
    await queue.put(msg(3, session="s2", payload=b"zz"))
    assert await queue.session_bytes("s1") == 3 + (5 << 30)
    assert await queue.session_bytes("s2") == 2
    await drain(queue, topic="t2")
    assert await queue.session_bytes("s1") == 3


async def test_concurrent_getters_get_distinct_messages(queue: MessageQueue) -> None:
    getters = [asyncio.create_task(queue.get("s1", "t1", None, timeout=10)) for _ in range(5)]
    await asyncio.sleep(0.2)
    for n in range(5):
        await queue.put(msg(n))
    deliveries = await asyncio.wait_for(asyncio.gather(*getters), timeout=5)
    assert sorted(d.message.msg_id for d in deliveries) == [f"m{n}" for n in range(5)]


async def test_concurrent_try_get_claims_each_message_once(queue: MessageQueue) -> None:
    for n in range(10):
        await queue.put(msg(n))
    first = await asyncio.gather(*(queue.try_get("s1", "t1", None) for _ in range(5)))
    assert None not in first  # a popper that lost a race takes the next message, not nothing
    rest = await asyncio.gather(*(queue.try_get("s1", "t1", None) for _ in range(8)))
    ids = [d.message.msg_id for d in first + rest if d is not None]
    assert sorted(ids) == sorted(f"m{n}" for n in range(10))


@pytest.mark.parametrize("queue", [pytest.param("redis", marks=pytest.mark.service)], indirect=True)
async def test_redis_late_nack_keeps_a_later_claim(queue: MessageQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_queue, "CLAIM_LEASE_SECONDS", 0.2)
    await queue.put(msg(1))
    stale = await queue.try_get("s1", "t1", None)
    await asyncio.sleep(0.3)
    assert await queue.try_get("s1", "t1", None) is not None  # the lease expired: claimed again
    await queue.nack(stale)
    assert await queue.try_get("s1", "t1", None) is None


@pytest.mark.parametrize("queue", [pytest.param("redis", marks=pytest.mark.service)], indirect=True)
async def test_redis_empty_queue_leaves_only_dedup_keys(queue: RedisQueue) -> None:
    for n in range(3):
        await queue.put(msg(n, topic=f"t{n}", payload=None, blob_paths=[f"/b/{n}"], size=1))
    await drain(queue, topic="t0")
    await queue.nack(await queue.try_get("s1", "t1", None))
    await queue.release("s1", "t1")
    await queue.release("s1", None)
    keys = {k.decode() async for k in queue.redis.scan_iter(match=f"{queue.prefix}*")}
    assert keys == {f"{queue.prefix}seen:m{n}" for n in range(3)}
    assert 0 < await queue.redis.ttl(f"{queue.prefix}seen:m0") <= 3600
