"""Messages leaving this node: the outbox table, each session's share of it, and hand-over to the forwarder.

A push to another node is acknowledged once its rows are committed here. A fresh message goes to the forwarder
while it commits (the forwarder deletes a row only after that commit); a large push of known size is cut
through chunk by chunk while it still arrives (StreamingPush). Every hop persists before it acknowledges, so
delivery is at-least-once end to end.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hulian.core.config import NodeConfig
from hulian.core.errors import BufferFull, IllegalRequest
from hulian.store.db import Database, outbox
from hulian.transport.blobs import BlobStore
from hulian.transport.model import Message, Payload
from hulian.transport.spool import run_blocking

log = logging.getLogger("hulian.transport")

Row = dict  # one outbox row: the columns of hulian.store.db.outbox


class Outbox:
    """The outbox rows and the bytes each session holds in them (limits.session_quota_bytes)."""

    def __init__(self, config: NodeConfig, db: Database, blobs: BlobStore):
        self.config = config
        self.db = db
        self.blobs = blobs
        # The forwarder subscribes here; it gets the rows of every enqueue (of a fresh push already while
        # they commit, see _send_while_committing) ...
        self.on_rows: Callable[[list[Row]], None] = lambda rows: None
        # ... and opens a lane entry for a push whose chunks are forwarded while it arrives (StreamingPush).
        self.open_unit: Callable[[tuple, int], Any] | None = None
        self._bytes: dict[str, int] = defaultdict(int)  # kept in memory: one process serves a node

    async def load(self) -> None:
        """Count what each session holds in the outbox (at node start)."""
        def read(conn: Connection) -> list[Any]:
            return conn.execute(select(outbox.c.session_id, func.sum(outbox.c.size))
                                .group_by(outbox.c.session_id)).all()

        self._bytes.update({s: int(n) for s, n in await self.db.run(read)})

    async def rows(self) -> list[Row]:
        """Every row, oldest first (what the forwarder resumes at start)."""
        return await self.db.run(lambda c: [dict(r._mapping) for r in c.execute(
            select(outbox).order_by(outbox.c.id))])

    async def blob_paths(self) -> set[str]:
        return await self.db.run(lambda c: {p for (p,) in c.execute(
            select(outbox.c.blob_path).where(outbox.c.blob_path.is_not(None)))})

    async def record_failure(self, row: Row) -> None:
        """Keep a row's attempt count and last error (the forwarder retries it)."""
        await self.db.run(lambda c: c.execute(update(outbox).where(
            outbox.c.msg_id == row["msg_id"], outbox.c.chunk_index == row["chunk_index"]).values(
            attempts=row["attempts"], last_error=row["last_error"])))

    async def delete(self, row: Row) -> None:
        await self.db.run(lambda c: c.execute(delete(outbox).where(
            outbox.c.msg_id == row["msg_id"], outbox.c.chunk_index == row["chunk_index"])))

    def done(self, session_id: str, size: int) -> None:
        """The forwarder handed a row to the next hop (or dropped it)."""
        self._bytes[session_id] = max(0, self._bytes[session_id] - size)

    def check_quota(self, session_id: str, size: int) -> None:
        quota = self.config.limits.session_quota_bytes
        queued = self._bytes[session_id]
        if queued + size > quota:
            raise BufferFull(f"session {session_id!r} has {queued} bytes waiting to be sent from node "
                             f"{self.config.node_id!r} (quota {quota}, limits.session_quota_bytes); "
                             "retry when the peer has caught up")

    async def enqueue(self, msg: Message, payload: Payload, next_hop: str, hops: int, whole: bool = True) -> None:
        """Persist a message (cut in its chunks) or, when relaying, one chunk as it came, for `next_hop`."""
        now = time.time()
        if whole:
            pieces = [(None, payload.data, payload.size)] if payload.data is not None else \
                [(p, None, None) for p in payload.parts]
            count, total = len(pieces), payload.size
        else:
            pieces = [(payload.parts[0] if payload.parts else None, payload.data, payload.size)]
            count, total = msg.chunk_count, msg.total_size
        sizes = [s for _, _, s in pieces]
        if None in sizes:  # parts written by a spooler: their sizes are on disk
            sizes = await run_blocking(lambda: [s if s is not None else os.path.getsize(p) for p, _, s in pieces])
        rows = [self.row(msg, path, data, size, msg.created_at or now, i if whole else msg.chunk_index, count,
                         total, next_hop, hops)
                for i, ((path, data, _), size) in enumerate(zip(pieces, sizes, strict=True))]

        def tx(conn: Connection) -> None:
            conn.execute(insert(outbox), rows)

        if whole:
            await self._send_while_committing(msg.session_id, rows, sizes, tx)
            return
        try:  # a relayed chunk may come again while its first copy still waits here
            await self.db.run(tx)
        except IntegrityError:
            log.info("message %s chunk %s already queued for %s; duplicate ignored",
                     msg.msg_id, msg.chunk_index, next_hop)
            self.blobs.delete(payload.parts)
            return
        self._bytes[msg.session_id] += sum(sizes)
        self.on_rows(rows)

    @staticmethod
    def row(msg: Message, path: str | None, data: bytes | None, size: int, created_at: float, index: int,
            count: int, total: int, next_hop: str, hops: int) -> Row:
        return msg.routing_row() | {
            "payload": data, "blob_path": path, "size": size, "created_at": created_at, "chunk_index": index,
            "chunk_count": count, "total_size": total, "next_hop": next_hop, "hops": hops, "attempts": 0,
            "next_attempt_at": 0.0}

    async def _send_while_committing(self, session_id: str, rows: list[Row], sizes: list[int],
                                     tx: Callable[[Connection], None]) -> None:
        """A fresh message goes to the forwarder at once and is acknowledged once committed: the next hop
        may have it before our commit ends, and the forwarder deletes a row only after its commit."""
        committed = asyncio.ensure_future(self.db.run(tx))  # runs to the end even if the push is cancelled
        self._bytes[session_id] += sum(sizes)
        self.on_rows([dict(r, committed=committed) for r in rows])
        try:
            await asyncio.shield(committed)
        except Exception:
            self._bytes[session_id] -= sum(sizes)
            raise

    @property
    def cuts_through(self) -> bool:
        """Whether a forwarder takes pushes chunk by chunk while they arrive (StreamingPush)."""
        return self.open_unit is not None


class StreamingPush:
    """A push forwarded chunk by chunk while its body arrives. Each chunk file goes to the forwarder once it
    is durable; the rows of all chunks are committed together when the body is complete, and only then is
    the push acknowledged (the forwarder deletes a row only after that commit). A push that fails midway
    drops what was not sent; the chunks that were are pruned by the receiver as an incomplete message."""

    def __init__(self, out: Outbox, msg: Message, next_hop: str, chunk_bytes: int, total: int):
        self.out, self.msg, self.next_hop, self.total = out, msg, next_hop, total
        self.chunk_bytes = chunk_bytes
        self.count = -(-total // chunk_bytes)
        self.rows: list[Row] = []
        self.committed: asyncio.Future = asyncio.get_running_loop().create_future()
        assert out.open_unit is not None
        self.unit = out.open_unit((msg.session_id, msg.topic, msg.target_node, next_hop), self.count)
        out._bytes[msg.session_id] += total

    def on_part(self, index: int, path: str, size: int) -> None:
        """A chunk file is complete and durable (the spooler's callback)."""
        row = Outbox.row(self.msg, path, None, size, self.msg.created_at or time.time(), index, self.count,
                         self.total, self.next_hop, 0)
        self.rows.append(row)
        self.unit.add(dict(row, committed=self.committed))

    async def commit(self, payload: Payload) -> None:
        """The body is complete: store every chunk's row; returns once they are durable."""
        if payload.size != self.total or len(self.rows) != self.count:
            raise IllegalRequest(f"body has {payload.size} bytes, but Content-Length said {self.total}")

        def tx(conn: Connection) -> None:
            conn.execute(insert(outbox), self.rows)

        commit = asyncio.ensure_future(self.out.db.run(tx))  # runs to the end even if the push is cancelled
        commit.add_done_callback(self._settle)
        await asyncio.shield(commit)

    def _settle(self, commit: asyncio.Future) -> None:
        if commit.cancelled():
            self.abort(asyncio.CancelledError())
        elif commit.exception() is not None:
            self.abort(commit.exception())
        else:
            self.committed.set_result(True)

    def abort(self, error: BaseException) -> None:
        """The push failed before it was stored: nothing more will be sent, and its quota is given back."""
        if self.committed.done():
            return
        self.committed.set_exception(error if isinstance(error, Exception) else RuntimeError("push cancelled"))
        self.committed.exception()  # retrieved: rows already handed over just stop
        self.unit.close()
        self.out.done(self.msg.session_id, self.total)
