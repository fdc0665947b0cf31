"""Control calls to other nodes beyond one request: to this node itself without HTTP, to several nodes at once,
and durably (the `ctl_outbox` queue) where a call must arrive even if the node is down now.

The HTTP side of one call is `client.ControlClient`; handlers for calls to this node itself are given by the
service that owns them (`serve_locally`), which keeps this module free of the lifecycle modules."""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hulian.control import paths as P
from hulian.control.client import ControlClient
from hulian.control.repo import ControlRepo, Row
from hulian.core.errors import ControlError, PeerUnreachable

log = logging.getLogger("hulian.control.peers")
Body = dict[str, Any]
Handler = Callable[[Body, str], Awaitable[Any]]
OUTBOX_FIRST_RETRY_SECONDS = 5.0  # a job/stop a party did not answer: again after this, doubling ...
OUTBOX_MAX_RETRY_SECONDS = 60.0  # ... up to this, until it answers (or transport.message_ttl_seconds pass)


class Peers:
    def __init__(self, me: str, client: ControlClient, repo: ControlRepo, message_ttl_seconds: float):
        self.me, self.client, self.repo = me, client, repo
        self.message_ttl_seconds = message_ttl_seconds
        self._local: dict[str, Handler] = {}

    def serve_locally(self, handlers: dict[str, Handler]) -> None:
        """The handlers a call to this node itself goes to, by path (no HTTP, the caller is this node)."""
        self._local = handlers

    async def send(self, node: str, path: str, body: Body, retries: int | None = None) -> Any:
        if node == self.me:
            return await self._local[path](body, self.me)
        return await self.client.call(node, path, body, retries=retries)

    async def broadcast(self, nodes: list[str], path: str, body: Body,
                        retries: int | None = None) -> dict[str, ControlError | None]:
        async def one(node: str) -> ControlError | None:
            try:
                await self.send(node, path, body, retries=retries)
                return None
            except ControlError as e:
                return e
            except Exception as e:  # a bug on our side must not stop the fan-out to the others
                log.exception("%s to %s failed", path, node)
                return ControlError(f"{type(e).__name__}: {e}")
        results = await asyncio.gather(*(one(n) for n in nodes))
        return dict(zip(nodes, results, strict=True))

    async def deliver(self, job_id: str, nodes: list[str], path: str, body: Body,
                      retries: int | None = None) -> dict[str, ControlError | None]:
        """`broadcast`, durably: the call is queued in the database (ctl_outbox) before it is sent, and a remote
        node that does not answer gets it again from the watchdog (`deliver_pending`) until it does, also after
        a restart of this node. For job/stop: FATE-Flow never asks back for a stop it missed."""
        now = time.time()
        raw = json.dumps(body, sort_keys=True, separators=(",", ":"))
        queued = [{"key": hashlib.sha256(f"{n}\n{path}\n{raw}".encode()).hexdigest(), "job_id": job_id,
                   "node_id": n, "path": path, "body": raw, "attempts": 0, "next_at": now, "last_error": "",
                   "created_at": now} for n in nodes if n != self.me]
        await self.repo.add_outbox(queued)
        results = await self.broadcast(nodes, path, body, retries)
        for row in queued:
            await self._settle(row, results[row["node_id"]])
        return results

    async def deliver_now(self) -> None:
        """After a restart: every undelivered call is due at once."""
        await self.repo.update_outbox(None, next_at=0.0)

    async def deliver_pending(self) -> None:
        """Send again every queued call that is due (the control watchdog runs this every few seconds): nodes in
        parallel, each node's calls in order. Once a node proves unreachable in a pass its other calls wait for
        their next attempt without a call each, so one dead peer holding many stops cannot stretch the pass (and
        the watchdog's other duties) to stops x request timeout."""
        rows = await self.repo.due_outbox(time.time())
        by_node: dict[str, list[Row]] = {}
        for row in rows:
            by_node.setdefault(row["node_id"], []).append(row)
        await asyncio.gather(*(self._deliver_to(node_rows) for node_rows in by_node.values()))

    async def _deliver_to(self, rows: list[Row]) -> None:
        down: PeerUnreachable | None = None
        for row in rows:
            err: ControlError | None = down
            if down is None:
                try:
                    await self.client.call(row["node_id"], row["path"], json.loads(row["body"]), retries=0)
                except ControlError as e:
                    err = e
                    down = e if isinstance(e, PeerUnreachable) else None
            await self._settle(row, err)

    async def _settle(self, row: Row, err: ControlError | None) -> None:
        """After one attempt of a queued call: done when the node answered (even with a refusal: it is there
        to refuse), else the next attempt scheduled and the failure logged."""
        what = f"{row['path'].removeprefix(P.EW + '/')} of job {row['job_id']}"
        attempts = row["attempts"] + 1
        if err is None or not isinstance(err, PeerUnreachable):
            if err is not None:
                log.warning("%s: node %s refused it: %s", what, row["node_id"], err.message)
            elif attempts > 1:
                log.info("%s reached node %s after %d attempts", what, row["node_id"], attempts)
            await self.repo.delete_outbox(row["key"])
            return
        now = time.time()
        if now - row["created_at"] > self.message_ttl_seconds:
            log.error("%s never reached node %s (%d attempts since %.0fs ago; transport.message_ttl_seconds); "
                      "giving up: %s", what, row["node_id"], attempts, now - row["created_at"], err.message)
            await self.repo.delete_outbox(row["key"])
            return
        delay = min(OUTBOX_FIRST_RETRY_SECONDS * 2 ** (attempts - 1), OUTBOX_MAX_RETRY_SECONDS)
        log.warning("%s did not reach node %s (attempt %d; again in %.0fs): %s", what, row["node_id"], attempts,
                    delay, err.message)
        await self.repo.update_outbox(row["key"], attempts=attempts, next_at=now + delay, last_error=err.message)
