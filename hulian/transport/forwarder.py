"""Drains the outbox: sends each queued message (chunk) to its next hop, in order per channel, with retries.

Lanes are (session, topic, target, next hop): one message at a time per lane keeps a channel's order, while
chunks of one message and different lanes go in parallel. A failed send is retried with exponential backoff
(the attempt count and last error are recorded in the outbox row);
codes in FINAL_CODES (the message itself is unacceptable) and messages older than message_ttl_seconds are
dropped with an error log line naming the message.
"""
from __future__ import annotations

import asyncio
import http.client
import json
import logging
import time
from collections import deque

from hulian.core.config import EastWestMode
from hulian.core.errors import FINAL_CODES, OK
from hulian.transport.blobs import Pieces
from hulian.transport.client import PeerClient, metadata_header
from hulian.transport.outbound import Row
from hulian.transport.service import TransportService
from hulian.transport.spool import run_blocking
from hulian.wire import headers as H
from hulian.wire import ptp_pb2

log = logging.getLogger("hulian.transport.forwarder")

CHUNKS_IN_FLIGHT = 3


class Unit:
    """The rows of one message on its lane. A push still arriving adds its chunks as they are written
    (`add`) until `expected` rows are there; `close` ends a push that failed with what it has."""

    def __init__(self, rows: list[Row], expected: int | None = None):
        self.rows = rows
        self.expected = len(rows) if expected is None else expected
        self.changed = asyncio.Event()

    def add(self, row: Row) -> None:
        self.rows.append(row)
        self.changed.set()

    def close(self) -> None:
        self.expected = len(self.rows)
        self.changed.set()


def lane_of(row: Row) -> tuple:
    return row["session_id"], row["topic"], row["target_node"], row["next_hop"]


class Forwarder:
    """Lanes live in memory, fed by the service after each committed enqueue and, at start, from the outbox
    table; the database is touched only to delete a row once the next hop has acknowledged it."""

    def __init__(self, service: TransportService, client: PeerClient):
        self.service = service
        self.client = client
        self.config = service.config
        self._queues: dict[tuple, deque[Unit]] = {}
        self._tasks: dict[tuple, asyncio.Task] = {}
        service.outbox.on_rows = self.submit
        service.outbox.open_unit = self.open_unit

    async def start(self) -> None:
        """Resume what the outbox held when the node stopped."""
        rows = await self.service.outbox.rows()
        unit: list[Row] = []
        for row in rows:
            if unit and row["msg_id"] != unit[0]["msg_id"]:
                self.submit(unit)
                unit = []
            unit.append(row)
        if unit:
            self.submit(unit)
        if rows:
            log.info("resuming %d outbox rows", len(rows))

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def submit(self, rows: list[Row]) -> None:
        """Queue the rows of one message (all its chunks, or one relayed chunk) on its lane."""
        self._enqueue(lane_of(rows[0]), Unit(rows))

    def open_unit(self, lane: tuple, expected: int) -> Unit:
        """Queue a message whose `expected` chunks are still being received: each is sent once written."""
        unit = Unit([], expected)
        self._enqueue(lane, unit)
        return unit

    def _enqueue(self, lane: tuple, unit: Unit) -> None:
        self._queues.setdefault(lane, deque()).append(unit)
        if lane not in self._tasks:
            self._tasks[lane] = asyncio.create_task(self._drain(lane), name=f"lane {lane}")

    async def _drain(self, lane: tuple) -> None:
        queue = self._queues[lane]
        try:
            while queue:
                unit = queue[0]
                if await self._send_unit(unit):
                    queue.popleft()
                    continue
                attempts = max(r["attempts"] for r in unit.rows)
                await asyncio.sleep(min(self.config.transport.retry_initial_seconds * 2 ** (attempts - 1),
                                        self.config.transport.retry_max_seconds))
        finally:
            del self._tasks[lane]
            if not queue:
                del self._queues[lane]

    async def _send_unit(self, unit: Unit) -> bool:
        """Send the chunks not yet acknowledged, each as soon as it is there; True when every one is done."""
        sem = asyncio.Semaphore(CHUNKS_IN_FLIGHT)
        sends: list[asyncio.Task] = []

        async def one(row: Row) -> bool:
            return True if row.get("done") else await self._send_chunk(row, sem)

        try:
            while True:
                sends += [asyncio.create_task(one(r)) for r in unit.rows[len(sends):]]
                if len(sends) >= unit.expected:
                    return all(await asyncio.gather(*sends))
                unit.changed.clear()
                await unit.changed.wait()
        finally:
            for t in sends:
                t.cancel()

    async def _send_chunk(self, row: Row, sem: asyncio.Semaphore) -> bool:
        """Send one row; `sem` bounds the sends in flight (not the wait for a streaming push's commit)."""
        commit = row.get("committed")
        if commit is not None and commit.done() and commit.exception() is not None:
            row["done"] = True  # the push failed before it was stored: its sender got the error
            return True
        if time.time() - row["created_at"] > self.config.transport.message_ttl_seconds:
            log.error("message %s chunk %d for %s dropped: undelivered for message_ttl_seconds (last error: %s)",
                      row["msg_id"], row["chunk_index"], row["target_node"], row.get("last_error"))
            await self._done(row)
            return True
        try:
            hop = self.service.router.next_hop(row["target_node"])
            async with sem:
                code, message = await self.client.invoke(hop.url, self._headers(row, hop.peer.mode),
                                                         lambda: self._load(row, hop.peer.mode))
        except (OSError, http.client.HTTPException) as e:  # unreachable, reset, timed out
            code, message = "E0000000607", f"{type(e).__name__}: {e}"
        except Exception as e:
            code, message = getattr(e, "code", "E0000000500"), str(e)
        if code == OK:
            await self._done(row)
            return True
        if code in FINAL_CODES:
            log.error("message %s chunk %d for %s dropped: next hop %s refused it for good: %s %s",
                      row["msg_id"], row["chunk_index"], row["target_node"], row["next_hop"], code, message)
            await self._done(row)
            return True
        row["attempts"] += 1
        row["last_error"] = f"{code} {message}"[:1000]
        log.warning("message %s chunk %d to %s via %s failed (attempt %d): %s",
                    row["msg_id"], row["chunk_index"], row["target_node"], row["next_hop"], row["attempts"],
                    row["last_error"])
        await self.service.outbox.record_failure(row)
        return False

    async def _done(self, row: Row) -> None:
        if await _committed(row):
            await self.service.outbox.delete(row)
        row["done"] = True
        self.service.outbox.done(row["session_id"], row["size"])
        if row["blob_path"]:
            await run_blocking(lambda: self.service.blobs.delete([row["blob_path"]]))

    def _load(self, row: Row, mode: EastWestMode) -> tuple[Pieces, str | None]:
        """A row's payload (its file's hot copy when it has one, with the SHA-256 its writer took), framed for
        an encapsulating peer (runs on a sending thread)."""
        if row["blob_path"] is None:
            pieces, sha256 = [row["payload"]], None
        else:
            content = self.service.blobs.content(row["blob_path"])
            pieces, sha256 = content.pieces, content.sha256
        if mode == EastWestMode.ENCAPSULATED:
            push = ptp_pb2.PushInbound(topic=row["topic"], payload=b"".join(pieces),
                                       metadata=json.loads(row["meta"] or "{}"))
            inbound = ptp_pb2.Inbound(metadata={H.TOPIC: row["topic"]}, payload=push.SerializeToString())
            pieces, sha256 = [inbound.SerializeToString()], None
        return pieces, sha256

    def _headers(self, row: Row, mode: EastWestMode) -> dict[str, str]:
        cfg = self.config
        h = {
            H.VERSION: H.PASSTHROUGH_VERSION if mode == EastWestMode.PASSTHROUGH else "2",
            H.TECH_PROVIDER: cfg.transport.tech_provider_code, H.TRACE_ID: row["trace_id"] or row["msg_id"],
            H.TOKEN: "", H.URI: H.PUSH_PATHS[0], H.SESSION_ID: row["session_id"],
            H.SOURCE_NODE: row["source_node"], H.TARGET_NODE: row["target_node"],
            H.SOURCE_INST: row["source_inst"], H.TARGET_INST: row["target_inst"], H.TOPIC: H.wire_text(row["topic"]),
            H.MESSAGE_ID: row["msg_id"], H.CHUNK: f"{row['chunk_index']}/{row['chunk_count']}",
            H.TOTAL_SIZE: str(row["total_size"]), H.HOPS: str(row["hops"]),
            "content-type": "application/octet-stream" if mode == EastWestMode.PASSTHROUGH
            else "application/x-protobuf",
        }
        h.update(metadata_header(json.loads(row["meta"] or "{}")))
        return h


async def _committed(row: Row) -> bool:
    """Whether the row is in the outbox table (a fresh push's row only once its commit has ended)."""
    commit = row.get("committed")
    if commit is None:
        return True
    try:
        await asyncio.shield(commit)
        return True
    except Exception:
        return False


