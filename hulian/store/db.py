"""Database engine and the transport's tables (SQLAlchemy Core: SQLite by default, PostgreSQL or MySQL by URL).

Calls are synchronous; async callers go through `Database.run`, which uses one worker thread for SQLite
(a single writer, no 'database is locked') and a small pool for server databases.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")
metadata = MetaData()

# The longest ids the specs use are far below these lengths; MySQL needs bounded VARCHARs for indexes.
ID = 190
_blob = LargeBinary().with_variant(LargeBinary(length=2**32 - 1), "mysql")  # LONGBLOB on MySQL
# Timestamps are Double: Float is single precision on MySQL/MariaDB (epoch seconds off by up to 64 s).


def _message_columns() -> list[Column]:
    return [
        Column("msg_id", String(64), nullable=False),
        Column("session_id", String(ID), nullable=False),
        Column("topic", String(ID), nullable=False),
        Column("source_node", String(ID), nullable=False),
        Column("source_inst", String(ID), nullable=False, default=""),
        Column("target_node", String(ID), nullable=False),
        Column("target_inst", String(ID), nullable=False, default=""),
        Column("trace_id", String(ID), nullable=False, default=""),
        Column("meta", Text, nullable=False, default="{}"),
        Column("size", BigInteger, nullable=False),
        Column("payload", _blob, nullable=True),
        Column("blob_path", Text, nullable=True),
        Column("created_at", Double, nullable=False),
    ]


# Messages (or chunks of them) acknowledged to a sender and not yet acknowledged by the next hop.
outbox = Table(
    "ptp_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *_message_columns(),
    Column("chunk_index", Integer, nullable=False),
    Column("chunk_count", Integer, nullable=False),
    Column("total_size", BigInteger, nullable=False),
    Column("next_hop", String(ID), nullable=False),
    Column("hops", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Double, nullable=False, default=0.0),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("msg_id", "chunk_index", name="uq_outbox_chunk"),
)

# Chunks of a message that arrived here and wait for their siblings.
chunks = Table(
    "ptp_chunks", metadata,
    *_message_columns(),
    Column("chunk_index", Integer, nullable=False),
    Column("chunk_count", Integer, nullable=False),
    Column("total_size", BigInteger, nullable=False),
    UniqueConstraint("msg_id", "chunk_index", name="uq_chunks_chunk"),
)

# Complete messages waiting for pop (the built-in queue backend).
inbox = Table(
    "ptp_inbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *_message_columns(),
    Column("blob_paths", Text, nullable=True),
    Index("ix_inbox_channel", "session_id", "topic", "id"),
)

# Ids of messages delivered here, kept for de-duplication of redelivered messages.
received = Table(
    "ptp_received", metadata,
    Column("msg_id", String(64), primary_key=True),
    Column("received_at", Double, nullable=False),
)

# Sessions released by a container: later messages for them are refused with E0000000608.
released = Table(
    "ptp_released", metadata,
    Column("session_id", String(ID), primary_key=True),
    Column("released_at", Double, nullable=False),
)


def _sqlite_pragmas(fsync: bool) -> Callable:
    """WAL always; synchronous=FULL makes every commit survive power loss, NORMAL only a process crash."""

    def on_connect(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    return on_connect


class Database:
    """One engine plus the executor that keeps blocking database calls off the event loop."""

    def __init__(self, url: str, fsync: bool = True):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs = {"connect_args": {"check_same_thread": False}} if self.is_sqlite else {"pool_pre_ping": True}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(fsync))
        self._executor = ThreadPoolExecutor(max_workers=1 if self.is_sqlite else 4, thread_name_prefix="db")

    def create_all(self) -> None:
        metadata.create_all(self.engine)

    def tx(self, fn: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            return fn(conn)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` in one transaction on the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.tx, fn)

    async def call(self, fn: Callable[[], T]) -> T:
        """Run blocking `fn` (file IO belonging to a database step) on the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()
