"""Drains the outbox: sends each queued message (chunk) to its next hop, in order per channel, with retries.

Lanes are (session, topic, target, next hop): one message at a time per lane keeps a channel's order, while
chunks of one message and different lanes go in parallel. A failed send is retried with exponential backoff;
codes in FINAL_CODES (the message itself is unacceptable) and messages older than message_ttl_seconds are
dropped with an error log line naming the message.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time

import httpx
from sqlalchemy import delete, select, update

from hulian.core.config import EastWestMode
from hulian.core.errors import FINAL_CODES, OK
from hulian.store.db import outbox
from hulian.transport.blobs import BlobStore
from hulian.transport.client import PeerClient, metadata_header
from hulian.transport.service import TransportService
from hulian.transport.spool import run_blocking
from hulian.wire import headers as H
from hulian.wire import ptp_pb2

log = logging.getLogger("hulian.transport.forwarder")

CHUNKS_IN_FLIGHT = 3
SCAN_LIMIT = 512
_LIGHT = [c for c in outbox.c if c.name != "payload"]  # scan without loading payloads


class Forwarder:
    def __init__(self, service: TransportService, client: PeerClient):
        self.service = service
        self.client = client
        self.config = service.config
        self._lanes: dict[tuple, asyncio.Task] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="forwarder")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._lanes.values()) if t]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self.service.outbox_event.clear()
            try:
                wait = await self._schedule()
            except Exception:  # noqa: BLE001 - keep forwarding whatever one scan hit
                log.exception("outbox scan failed; retrying")
                wait = 1.0
            try:
                await asyncio.wait_for(self.service.outbox_event.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass

    async def _schedule(self) -> float:
        """Start a task for each lane with due work; returns how long to sleep until the next retry."""
        now = time.time()
        rows = await self.service.db.run(lambda c: c.execute(
            select(outbox.c.session_id, outbox.c.topic, outbox.c.target_node, outbox.c.next_hop,
                   outbox.c.next_attempt_at).order_by(outbox.c.id).limit(SCAN_LIMIT)).all())
        wait = 1.0
        for r in rows:
            lane = (r.session_id, r.topic, r.target_node, r.next_hop)
            if lane in self._lanes:
                continue
            if r.next_attempt_at > now:
                wait = min(wait, r.next_attempt_at - now)
                continue
            self._lanes[lane] = asyncio.create_task(self._drain(lane), name=f"lane {lane}")
        return max(wait, 0.01)

    async def _drain(self, lane: tuple) -> None:
        try:
            while True:
                rows = await self._lane_head(lane)
                if not rows or rows[0].next_attempt_at > time.time():
                    return
                if not await self._send_message(rows):
                    return
        except Exception:  # noqa: BLE001
            log.exception("lane %s failed; it will be retried", lane)
        finally:
            self._lanes.pop(lane, None)
            self.service.outbox_event.set()

    async def _lane_head(self, lane: tuple):
        """The rows of the oldest message of a lane."""
        session_id, topic, target, hop = lane

        def tx(conn):
            first = conn.execute(select(outbox.c.msg_id).where(
                outbox.c.session_id == session_id, outbox.c.topic == topic, outbox.c.target_node == target,
                outbox.c.next_hop == hop).order_by(outbox.c.id).limit(1)).first()
            if first is None:
                return []
            return conn.execute(select(*_LIGHT).where(outbox.c.msg_id == first.msg_id)
                                .order_by(outbox.c.chunk_index)).all()

        return await self.service.db.run(tx)

    async def _send_message(self, rows) -> bool:
        """Send all chunks of one message; True when every chunk was accepted (or dropped for good)."""
        sem = asyncio.Semaphore(CHUNKS_IN_FLIGHT)

        async def one(row) -> bool:
            async with sem:
                return await self._send_chunk(row)

        results = await asyncio.gather(*(one(r) for r in rows))
        return all(results)

    async def _send_chunk(self, row) -> bool:
        svc = self.service
        if time.time() - row.created_at > self.config.transport.message_ttl_seconds:
            log.error("message %s chunk %d for %s dropped: undelivered for message_ttl_seconds (last error: %s)",
                      row.msg_id, row.chunk_index, row.target_node, row.last_error)
            await self._done(row)
            return True
        try:
            hop = svc.router.next_hop(row.target_node)
            body, digest = await _load(svc, row, hop.peer.mode)
            code, message = await self.client.invoke(hop.url, self._headers(row, hop.peer.mode), body, digest)
        except httpx.HTTPError as e:
            code, message = "E0000000607", f"{type(e).__name__}: {e}"
        except Exception as e:  # noqa: BLE001 - e.g. a route removed from the table; retried
            code, message = getattr(e, "code", "E0000000500"), str(e)
        if code == OK:
            await self._done(row)
            return True
        if code in FINAL_CODES:
            log.error("message %s chunk %d for %s dropped: next hop %s refused it for good: %s %s",
                      row.msg_id, row.chunk_index, row.target_node, row.next_hop, code, message)
            await self._done(row)
            return True
        attempts = row.attempts + 1
        delay = min(self.config.transport.retry_initial_seconds * 2 ** (attempts - 1),
                    self.config.transport.retry_max_seconds)
        log.warning("message %s chunk %d to %s via %s failed (attempt %d, retry in %.1fs): %s %s",
                    row.msg_id, row.chunk_index, row.target_node, row.next_hop, attempts, delay, code, message)
        await svc.db.run(lambda c: c.execute(update(outbox).where(outbox.c.id == row.id).values(
            attempts=attempts, next_attempt_at=time.time() + delay, last_error=f"{code} {message}"[:1000])))
        return False

    async def _done(self, row) -> None:
        await self.service.db.run(lambda c: c.execute(delete(outbox).where(outbox.c.id == row.id)))
        if row.blob_path:
            BlobStore.delete([row.blob_path])

    def _headers(self, row, mode: EastWestMode) -> dict[str, str]:
        cfg = self.config
        h = {
            H.VERSION: H.PASSTHROUGH_VERSION if mode == EastWestMode.PASSTHROUGH else "2",
            H.TECH_PROVIDER: cfg.transport.tech_provider_code, H.TRACE_ID: row.trace_id or row.msg_id,
            H.TOKEN: "", H.URI: H.PUSH_PATHS[0], H.SESSION_ID: row.session_id,
            H.SOURCE_NODE: row.source_node, H.TARGET_NODE: row.target_node,
            H.SOURCE_INST: row.source_inst, H.TARGET_INST: row.target_inst, H.TOPIC: row.topic,
            H.MESSAGE_ID: row.msg_id, H.CHUNK: f"{row.chunk_index}/{row.chunk_count}",
            H.TOTAL_SIZE: str(row.total_size), H.HOPS: str(row.hops),
            "content-type": "application/octet-stream" if mode == EastWestMode.PASSTHROUGH
            else "application/x-protobuf",
        }
        h.update(metadata_header(json.loads(row.meta or "{}")))
        return h


async def _load(svc: TransportService, row, mode: EastWestMode) -> tuple[bytes, str]:
    """A row's payload, framed for an encapsulating peer, and its SHA-256; file IO off the event loop."""
    if row.blob_path:
        payload = await run_blocking(lambda: BlobStore.read(row.blob_path))
    else:
        payload = await svc.db.run(lambda c: c.execute(
            select(outbox.c.payload).where(outbox.c.id == row.id)).scalar_one())
    if mode == EastWestMode.ENCAPSULATED:
        push = ptp_pb2.PushInbound(topic=row.topic, payload=payload, metadata=json.loads(row.meta or "{}"))
        payload = ptp_pb2.Inbound(metadata={H.TOPIC: row.topic}, payload=push.SerializeToString()).SerializeToString()
    digest = await run_blocking(lambda: hashlib.sha256(payload).hexdigest())
    return payload, digest
