"""The transport's domain logic (no HTTP): push, receive from a peer, pop, peek, release.

A push is acknowledged once its message is durable on this node: in the outbox when it goes to another node,
in the queue when this node is the target. The forwarder drains the outbox hop by hop; every hop persists
before it acknowledges, and the target de-duplicates by message id, so delivery is at-least-once end to end
and exactly-once into the queue.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from hulian.core.config import EastWestMode, NodeConfig
from hulian.core.errors import BufferFull, IllegalRequest, SessionReleased, TooManyPops
from hulian.store.db import Database, chunks, outbox, released
from hulian.transport.blobs import BlobStore
from hulian.transport.model import Delivery, Message, Payload
from hulian.transport.queue import MessageQueue
from hulian.transport.routing import Router
from hulian.transport.spool import Spooler, run_blocking

log = logging.getLogger("hulian.transport")


def new_msg_id() -> str:
    return uuid.uuid4().hex


class TransportService:
    def __init__(self, config: NodeConfig, db: Database, queue: MessageQueue, blobs: BlobStore):
        self.config = config
        self.db = db
        self.queue = queue
        self.blobs = blobs
        self.router = Router(config)
        # The forwarder subscribes here; it gets the outbox rows of every enqueue (of a fresh push already
        # while they commit, see _send_while_committing).
        self.on_outbox: Callable[[list[dict]], None] = lambda rows: None
        # ... and opens a lane entry for a push whose chunks are forwarded while it arrives (StreamingPush).
        self.open_unit: Callable[[tuple, int], Any] | None = None
        # Hot-path bookkeeping kept in memory (one process serves a node): released sessions and the bytes
        # each session holds in the outbox and in the queue, for its quota.
        self._released: set[str] = set()
        self._out_bytes: dict[str, int] = defaultdict(int)
        self._in_bytes: dict[str, int] = {}
        self._pops: dict[str, int] = {}  # pops waiting now, per session (limits.max_pops_per_session)
        self._maintenance: asyncio.Task | None = None

    async def start(self) -> None:
        """Load the in-memory bookkeeping from the database."""
        def load(conn):
            rel = {r.session_id for r in conn.execute(select(released.c.session_id))}
            out = conn.execute(select(outbox.c.session_id, func.sum(outbox.c.size)).group_by(outbox.c.session_id)).all()
            return rel, out

        rel, out = await self.db.run(load)
        self._released = rel
        self._out_bytes.update({s: int(n) for s, n in out})
        await self._sweep_orphans()
        self._maintenance = asyncio.create_task(self._maintain(), name="transport maintenance")

    async def stop(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            await asyncio.gather(self._maintenance, return_exceptions=True)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.config.transport.prune_interval_seconds)
            try:
                await self.prune(time.time())
            except Exception:
                log.exception("pruning old transport records failed")

    async def prune(self, now: float) -> dict[str, int]:
        """Forget what no sender can retry any more (older than message_ttl_seconds): de-duplication ids,
        released-session marks, and chunks of messages whose other chunks never came."""
        horizon = now - self.config.transport.message_ttl_seconds
        forgotten = await self.queue.forget_before(horizon)

        def tx(conn) -> tuple[list[str], list[str]]:
            gone = [s for (s,) in conn.execute(select(released.c.session_id).where(released.c.released_at < horizon))]
            conn.execute(delete(released).where(released.c.released_at < horizon))
            stale = [p for (p,) in conn.execute(select(chunks.c.blob_path).where(chunks.c.created_at < horizon))]
            conn.execute(delete(chunks).where(chunks.c.created_at < horizon))
            return gone, stale

        gone, stale = await self.db.run(tx)
        self._released.difference_update(gone)
        sessions = len(gone)
        await run_blocking(lambda: self.blobs.delete(stale))
        counts = {"message_ids": forgotten, "released_sessions": sessions, "orphan_chunks": len(stale)}
        if any(counts.values()):
            log.info("pruned transport records older than message_ttl_seconds: %s", counts)
        return counts

    async def _sweep_orphans(self) -> None:
        """Remove payload files a crash left unreferenced (written, but their row never committed)."""
        queued = await self.queue.referenced_blobs()
        if queued is None:
            return

        def tables(conn) -> set[str]:
            return {p for t in (outbox, chunks) for (p,) in conn.execute(
                select(t.c.blob_path).where(t.c.blob_path.is_not(None)))}

        referenced = queued | await self.db.run(tables)
        removed = await run_blocking(lambda: self.blobs.sweep(referenced))
        if removed:
            log.warning("removed %d orphaned payload files left by an earlier crash", removed)

    # ---- helpers for the API layer -------------------------------------------------------------------
    def spooler(self, msg_id: str, origin: str, chunk_bytes: int, digest: bool = False,
                on_part: Callable[[int, str, int], None] | None = None) -> Spooler:
        lim = self.config.limits
        return Spooler(self.blobs, msg_id, origin, chunk_bytes, lim.inline_bytes, lim.max_body_bytes,
                       run_blocking, digest=digest, on_part=on_part)

    def push_spooler(self, msg_id: str, target: str, on_part: Callable[[int, str, int], None] | None = None
                     ) -> Spooler:
        """A spooler for a push to `target` (raises when the target is unknown): cut in the next hop's chunks,
        each hashed as it is written when it will be sent signed and as it is (pass-through) and its hot copy,
        which carries the digest to the forwarder, can hold it."""
        if target == self.config.node_id:
            return self.spooler(msg_id, "out", self.config.limits.max_body_bytes)
        hop = self.router.next_hop(target)
        chunk_bytes = self.router.chunk_bytes(hop)
        digest = (self.config.tls.enabled and hop.peer.mode == EastWestMode.PASSTHROUGH
                  and chunk_bytes <= self.blobs.hot_part_bytes)
        return self.spooler(msg_id, "out", chunk_bytes, digest=digest, on_part=on_part)

    async def is_released(self, session_id: str) -> bool:
        return session_id in self._released

    def outbox_done(self, session_id: str, size: int) -> None:
        """The forwarder handed a row to the next hop (or dropped it)."""
        self._out_bytes[session_id] = max(0, self._out_bytes[session_id] - size)

    async def _queued_bytes(self, session_id: str) -> int:
        if session_id not in self._in_bytes:
            self._in_bytes[session_id] = await self.queue.session_bytes(session_id)
        return self._in_bytes[session_id]

    async def _check_open(self, session_id: str) -> None:
        if session_id in self._released:
            raise SessionReleased(f"session {session_id!r} was released on node {self.config.node_id!r}; "
                                  "start a new session")

    # ---- container-facing -----------------------------------------------------------------------------
    async def push(self, msg: Message, payload: Payload) -> None:
        """Accept a container's message for `msg.target_node`; returns once it is durable here."""
        try:
            await self._check_open(msg.session_id)
            if msg.target_node == self.config.node_id:
                await self._deliver(msg, payload)
                return
            hop = self.router.next_hop(msg.target_node)
            await self._check_outbox_quota(msg.session_id, payload.size)
            await self._enqueue_out(msg, payload, hop.peer.node_id, hops=0)
        except BaseException:
            self.blobs.delete(payload.parts)
            raise

    async def open_push(self, msg: Message, total: int) -> StreamingPush | None:
        """Cut-through for a push of known size to another node, larger than one chunk: its chunks travel
        on while it still arrives. None: take the ordinary path (`push`)."""
        if msg.target_node == self.config.node_id or self.open_unit is None:
            return None
        hop = self.router.next_hop(msg.target_node)
        chunk_bytes = self.router.chunk_bytes(hop)
        if total <= chunk_bytes:
            return None
        await self._check_open(msg.session_id)
        await self._check_outbox_quota(msg.session_id, total)
        return StreamingPush(self, msg, hop.peer.node_id, chunk_bytes, total)

    async def pop(self, session_id: str, topic: str, source: str | None, timeout: float) -> Delivery | None:
        """The next message, waiting up to `timeout`; a session holds at most limits.max_pops_per_session
        waiting pops, so one caller cannot pin the node's connections and tasks with long polls."""
        await self._check_open(session_id)
        cap, waiting = self.config.limits.max_pops_per_session, self._pops.get(session_id, 0)
        if waiting >= cap:
            raise TooManyPops(f"session {session_id!r} already has {waiting} pops waiting on node "
                              f"{self.config.node_id!r} (limits.max_pops_per_session); wait for one to return")
        self._pops[session_id] = waiting + 1
        try:
            delivery = await self.queue.get(session_id, topic, source, timeout,
                                            is_released=lambda: self.is_released(session_id))
        finally:
            if self._pops[session_id] <= 1:
                del self._pops[session_id]
            else:
                self._pops[session_id] -= 1
        if delivery is None:
            await self._check_open(session_id)
        return delivery

    async def ack(self, delivery: Delivery) -> None:
        try:
            paths = await self.queue.ack(delivery)
        except Exception:
            log.exception("acknowledging message %s failed", delivery.message.msg_id)
            return
        sid = delivery.message.session_id
        if sid in self._in_bytes:
            self._in_bytes[sid] = max(0, self._in_bytes[sid] - delivery.message.size)
        if paths:
            await run_blocking(lambda: self.blobs.delete(paths))

    async def payload_bytes(self, m: Message) -> bytes:
        """A queued message's whole payload in one buffer (its hot copies, else read from its files)."""
        if m.payload is not None:
            return m.payload
        return await run_blocking(lambda: b"".join(x for p in m.blob_paths for x in self.blobs.content(p).pieces))

    async def peek(self, session_id: str, topic: str, source: str | None) -> Message | None:
        await self._check_open(session_id)
        return await self.queue.peek(session_id, topic, source)

    async def release(self, session_id: str, topic: str | None) -> None:
        """Drop unread messages of a topic, or of the whole session (which is then closed)."""
        if topic is None:
            def close(conn) -> None:
                conn.execute(delete(released).where(released.c.session_id == session_id))
                conn.execute(insert(released).values(session_id=session_id, released_at=time.time()))

            await self.db.run(close)
            self._released.add(session_id)
        paths = await self.queue.release(session_id, topic)
        self._in_bytes.pop(session_id, None)  # recounted from the queue on next use
        paths += await self._drop_chunks(session_id, topic)
        await run_blocking(lambda: self.blobs.delete(paths))
        log.info("released session=%s topic=%s (%d blob files)", session_id, topic or "*", len(paths))

    # ---- node-to-node ---------------------------------------------------------------------------------
    async def receive(self, msg: Message, payload: Payload, hops: int) -> None:
        """A peer handed us a message (or a chunk): deliver it here or relay it towards its target."""
        try:
            await self._check_open(msg.session_id)
            if msg.target_node != self.config.node_id:
                hop = self.router.next_hop(msg.target_node)
                await self._enqueue_out(msg, payload, hop.peer.node_id, hops=hops + 1, whole=False)
                return
            if msg.chunk_count > 1:
                await self._receive_chunk(msg, payload)
            else:
                await self._deliver(msg, payload)
        except BaseException:
            self.blobs.delete(payload.parts)
            raise

    async def _deliver(self, msg: Message, payload: Payload) -> None:
        quota = self.config.limits.session_quota_bytes
        if await self._queued_bytes(msg.session_id) + payload.size > quota:
            raise BufferFull(f"session {msg.session_id!r} already holds its quota of {quota} bytes on node "
                             f"{self.config.node_id!r}; pop its messages first (limits.session_quota_bytes)")
        full = replace(msg, size=payload.size, payload=payload.data, blob_paths=payload.parts,
                       created_at=msg.created_at or time.time(), chunk_index=0, chunk_count=1,
                       total_size=payload.size)
        if await self.queue.put(full):
            self._in_bytes[msg.session_id] = self._in_bytes.get(msg.session_id, 0) + payload.size
        else:
            log.info("duplicate message %s ignored (already delivered)", msg.msg_id)
            self.blobs.delete(payload.parts)

    async def _receive_chunk(self, msg: Message, payload: Payload) -> None:
        if payload.data is not None:  # keep every chunk in a file so a message is a list of files
            path = self.blobs.path_for(msg.msg_id, msg.chunk_index, "in")
            await run_blocking(lambda: self.blobs.write(path, payload.data))
            payload = Payload(size=payload.size, parts=[path])
        (path,) = payload.parts
        if await self.queue.delivered(msg.msg_id):  # a late repeat of a message delivered already
            self.blobs.delete([path])
            return

        def tx(conn):
            row = msg.routing_row() | {"payload": None, "blob_path": path, "size": payload.size,
                                       "chunk_index": msg.chunk_index, "chunk_count": msg.chunk_count,
                                       "total_size": msg.total_size}
            try:
                with conn.begin_nested():
                    conn.execute(insert(chunks).values(**row))
            except IntegrityError:
                return None  # a repeated chunk
            rows = conn.execute(select(chunks.c.chunk_index, chunks.c.blob_path).where(
                chunks.c.msg_id == msg.msg_id).order_by(chunks.c.chunk_index)).all()
            return rows if len(rows) == msg.chunk_count else []

        rows = await self.db.run(tx)
        if rows is None:
            self.blobs.delete([path])
            return
        if rows:
            parts = [r.blob_path for r in rows]
            await self._deliver(msg, Payload(size=msg.total_size, parts=parts))
            await self.db.run(lambda c: c.execute(delete(chunks).where(chunks.c.msg_id == msg.msg_id)))

    async def _drop_chunks(self, session_id: str, topic: str | None) -> list[str]:
        def tx(conn) -> list[str]:
            cond = chunks.c.session_id == session_id
            if topic is not None:
                cond = and_(cond, chunks.c.topic == topic)
            paths = [p for (p,) in conn.execute(select(chunks.c.blob_path).where(cond))]
            conn.execute(delete(chunks).where(cond))
            return paths

        return await self.db.run(tx)

    # ---- outbox ---------------------------------------------------------------------------------------
    async def _check_outbox_quota(self, session_id: str, size: int) -> None:
        quota = self.config.limits.session_quota_bytes
        queued = self._out_bytes[session_id]
        if queued + size > quota:
            raise BufferFull(f"session {session_id!r} has {queued} bytes waiting to be sent from node "
                             f"{self.config.node_id!r} (quota {quota}, limits.session_quota_bytes); "
                             "retry when the peer has caught up")

    async def _enqueue_out(self, msg: Message, payload: Payload, next_hop: str, hops: int,
                           whole: bool = True) -> None:
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
        rows = []
        for i, ((path, data, _), size) in enumerate(zip(pieces, sizes, strict=True)):
            rows.append(msg.routing_row() | {
                "payload": data, "blob_path": path, "size": size, "created_at": msg.created_at or now,
                "chunk_index": i if whole else msg.chunk_index, "chunk_count": count, "total_size": total,
                "next_hop": next_hop, "hops": hops, "attempts": 0, "next_attempt_at": 0.0})

        def tx(conn) -> None:
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
        self._out_bytes[msg.session_id] += sum(sizes)
        self.on_outbox(rows)

    async def _send_while_committing(self, session_id: str, rows: list[dict], sizes: list[int], tx) -> None:
        """A fresh message goes to the forwarder at once and is acknowledged once committed: the next hop
        may have it before our commit ends, and the forwarder deletes a row only after its commit."""
        committed = asyncio.ensure_future(self.db.run(tx))  # runs to the end even if the push is cancelled
        self._out_bytes[session_id] += sum(sizes)
        self.on_outbox([dict(r, committed=committed) for r in rows])
        try:
            await asyncio.shield(committed)
        except Exception:
            self._out_bytes[session_id] -= sum(sizes)
            raise


class StreamingPush:
    """A push forwarded chunk by chunk while its body arrives. Each chunk file goes to the forwarder once it
    is durable; the rows of all chunks are committed together when the body is complete, and only then is
    the push acknowledged (the forwarder deletes a row only after that commit). A push that fails midway
    drops what was not sent; the chunks that were are pruned by the receiver as an incomplete message."""

    def __init__(self, service: TransportService, msg: Message, next_hop: str, chunk_bytes: int, total: int):
        self.service, self.msg, self.next_hop, self.total = service, msg, next_hop, total
        self.chunk_bytes = chunk_bytes
        self.count = -(-total // chunk_bytes)
        self.rows: list[dict] = []
        self.committed: asyncio.Future = asyncio.get_running_loop().create_future()
        assert service.open_unit is not None
        self.unit = service.open_unit((msg.session_id, msg.topic, msg.target_node, next_hop), self.count)
        service._out_bytes[msg.session_id] += total

    def on_part(self, index: int, path: str, size: int) -> None:
        """A chunk file is complete and durable (the spooler's callback)."""
        row = self.msg.routing_row() | {
            "payload": None, "blob_path": path, "size": size, "created_at": self.msg.created_at or time.time(),
            "chunk_index": index, "chunk_count": self.count, "total_size": self.total,
            "next_hop": self.next_hop, "hops": 0, "attempts": 0, "next_attempt_at": 0.0}
        self.rows.append(row)
        self.unit.add(dict(row, committed=self.committed))

    async def commit(self, payload: Payload) -> None:
        """The body is complete: store every chunk's row; returns once they are durable."""
        if payload.size != self.total or len(self.rows) != self.count:
            raise IllegalRequest(f"body has {payload.size} bytes, but Content-Length said {self.total}")

        def tx(conn) -> None:
            conn.execute(insert(outbox), self.rows)

        commit = asyncio.ensure_future(self.service.db.run(tx))  # runs to the end even if the push is cancelled
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
        self.service.outbox_done(self.msg.session_id, self.total)
