"""The transport's domain logic (no HTTP): push, receive from a peer, pop, peek, release.

A push is acknowledged once its message is durable on this node: in the outbox when it goes to another node
(outbound.py), in the queue when this node is the target. The forwarder drains the outbox hop by hop; every
hop persists before it acknowledges, and the target de-duplicates by message id, so delivery is at-least-once
end to end and exactly-once into the queue. Session limits are in sessions.py, chunk reassembly in chunks.py;
this module routes a message to the right one and keeps the node's records pruned.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from hulian.core.config import EastWestMode, NodeConfig
from hulian.store.db import Database
from hulian.transport.blobs import BlobStore
from hulian.transport.chunks import Reassembly
from hulian.transport.model import Delivery, Message, Payload
from hulian.transport.outbound import Outbox, StreamingPush
from hulian.transport.queue import MessageQueue
from hulian.transport.routing import Router
from hulian.transport.sessions import Sessions
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
        self.outbox = Outbox(config, db, blobs)  # the forwarder subscribes to it
        self.sessions = Sessions(config, db, queue)
        self.chunks = Reassembly(db, blobs)
        self._maintenance: asyncio.Task | None = None

    async def start(self) -> None:
        """Load the in-memory bookkeeping from the database."""
        await self.sessions.load()
        await self.outbox.load()
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
        sessions = await self.sessions.forget(horizon)
        stale = await self.chunks.prune(horizon)
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
        referenced = queued | await self.outbox.blob_paths() | await self.chunks.blob_paths()
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
        return self.sessions.is_released(session_id)

    # ---- container-facing -----------------------------------------------------------------------------
    async def push(self, msg: Message, payload: Payload) -> None:
        """Accept a container's message for `msg.target_node`; returns once it is durable here."""
        try:
            self.sessions.check_open(msg.session_id)
            if msg.target_node == self.config.node_id:
                await self._deliver(msg, payload)
                return
            hop = self.router.next_hop(msg.target_node)
            self.outbox.check_quota(msg.session_id, payload.size)
            await self.outbox.enqueue(msg, payload, hop.peer.node_id, hops=0)
        except BaseException:
            self.blobs.delete(payload.parts)
            raise

    async def open_push(self, msg: Message, total: int) -> StreamingPush | None:
        """Cut-through for a push of known size to another node, larger than one chunk: its chunks travel
        on while it still arrives. None: take the ordinary path (`push`)."""
        if msg.target_node == self.config.node_id or not self.outbox.cuts_through:
            return None
        hop = self.router.next_hop(msg.target_node)
        chunk_bytes = self.router.chunk_bytes(hop)
        if total <= chunk_bytes:
            return None
        self.sessions.check_open(msg.session_id)
        self.outbox.check_quota(msg.session_id, total)
        return StreamingPush(self.outbox, msg, hop.peer.node_id, chunk_bytes, total)

    async def pop(self, session_id: str, topic: str, source: str | None, timeout: float) -> Delivery | None:
        """The next message, waiting up to `timeout` (within the session's limit of waiting pops)."""
        self.sessions.check_open(session_id)
        with self.sessions.pop_slot(session_id):
            delivery = await self.queue.get(session_id, topic, source, timeout,
                                            is_released=lambda: self.is_released(session_id))
        if delivery is None:
            self.sessions.check_open(session_id)
        return delivery

    async def ack(self, delivery: Delivery) -> None:
        try:
            paths = await self.queue.ack(delivery)
        except Exception:
            log.exception("acknowledging message %s failed", delivery.message.msg_id)
            return
        self.sessions.taken(delivery.message.session_id, delivery.message.size)
        if paths:
            await run_blocking(lambda: self.blobs.delete(paths))

    async def payload_bytes(self, m: Message) -> bytes:
        """A queued message's whole payload in one buffer (its hot copies, else read from its files)."""
        if m.payload is not None:
            return m.payload
        return await run_blocking(lambda: b"".join(x for p in m.blob_paths for x in self.blobs.content(p).pieces))

    async def peek(self, session_id: str, topic: str, source: str | None) -> Message | None:
        self.sessions.check_open(session_id)
        return await self.queue.peek(session_id, topic, source)

    async def release(self, session_id: str, topic: str | None) -> None:
        """Drop unread messages of a topic, or of the whole session (which is then closed)."""
        if topic is None:
            await self.sessions.close(session_id)
        paths = await self.queue.release(session_id, topic)
        self.sessions.recount(session_id)
        paths += await self.chunks.drop(session_id, topic)
        await run_blocking(lambda: self.blobs.delete(paths))
        log.info("released session=%s topic=%s (%d blob files)", session_id, topic or "*", len(paths))

    # ---- node-to-node ---------------------------------------------------------------------------------
    async def receive(self, msg: Message, payload: Payload, hops: int) -> None:
        """A peer handed us a message (or a chunk): deliver it here or relay it towards its target."""
        try:
            self.sessions.check_open(msg.session_id)
            if msg.target_node != self.config.node_id:
                hop = self.router.next_hop(msg.target_node)
                await self.outbox.enqueue(msg, payload, hop.peer.node_id, hops=hops + 1, whole=False)
                return
            if msg.chunk_count > 1:
                await self._receive_chunk(msg, payload)
            else:
                await self._deliver(msg, payload)
        except BaseException:
            self.blobs.delete(payload.parts)
            raise

    async def _deliver(self, msg: Message, payload: Payload) -> None:
        await self.sessions.check_quota(msg.session_id, payload.size)
        full = replace(msg, size=payload.size, payload=payload.data, blob_paths=payload.parts,
                       created_at=msg.created_at or time.time(), chunk_index=0, chunk_count=1,
                       total_size=payload.size)
        if await self.queue.put(full):
            self.sessions.queued(msg.session_id, payload.size)
        else:
            log.info("duplicate message %s ignored (already delivered)", msg.msg_id)
            self.blobs.delete(payload.parts)

    async def _receive_chunk(self, msg: Message, payload: Payload) -> None:
        if await self.queue.delivered(msg.msg_id):  # a late repeat of a message delivered already
            self.blobs.delete(payload.parts)
            return
        parts = await self.chunks.add(msg, payload)
        if parts:
            await self._deliver(msg, Payload(size=msg.total_size, parts=parts))
            await self.chunks.delivered(msg.msg_id)
