"""Recovery of what a crash or a lost message left behind, every WATCH_SECONDS: queued peer calls sent again,
jobs whose scheduler ended them while this node was away stopped here, local runs whose reports were lost
read again, and local starts a crash interrupted made again."""
from __future__ import annotations

import asyncio
import logging
import time

from hulian.control.client import ControlClient
from hulian.control.envelope import job_state
from hulian.control.party import Party
from hulian.control.peers import Peers
from hulian.control.repo import ControlRepo
from hulian.control.states import JobState, TaskState
from hulian.core.errors import ControlError

log = logging.getLogger("hulian.control")
WATCH_SECONDS = 5.0
RELAUNCH_AFTER_SECONDS = 10.0
ASK_SCHEDULER_SECONDS = 15.0


class Watchdog:
    def __init__(self, me: str, repo: ControlRepo, peers: Peers, party: Party):
        self.me, self.repo, self.peers, self.party = me, repo, peers, party
        self.asked: dict[str, float] = {}  # job_id -> when its scheduler was last asked for status_all

    async def run(self) -> None:
        """Watch until cancelled (the service runs this in the background)."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self.watch_once()
            except Exception:
                log.exception("control watchdog pass failed")

    async def watch_once(self) -> None:
        await self.peers.deliver_pending()
        await self.check_schedulers()
        runtime = self.party.runtime
        if runtime is None:
            return
        for row in await self.repo.parties(node_id=self.me, live=True):
            state, message = await runtime.state(row["task_id"], row["role"])
            await self.party.apply_state(row, state, message)
            if state == TaskState.PENDING and time.time() - row["updated_at"] > RELAUNCH_AFTER_SECONDS:
                await self.party.relaunch(row)  # the component layer has no record of it (a lost start): again

    async def check_schedulers(self) -> None:
        """A job/stop this node missed (it was down) must not leave its job RUNNING: ask the scheduler now
        and then, as Kuscia's parties do, and stop locally what the scheduler has ended."""
        now = time.monotonic()
        client: ControlClient = self.peers.client
        for job in await self.repo.jobs_where(statuses=(JobState.READY, JobState.RUNNING)):
            if job["scheduler"] == self.me or now - self.asked.get(job["job_id"], 0.0) < ASK_SCHEDULER_SECONDS:
                continue
            self.asked[job["job_id"]] = now
            try:
                data = await client.status_all(job["scheduler"], job["job_id"], retries=0)
            except ControlError as e:
                log.warning("recovery: cannot ask scheduler %s for job %s (held %s here; asking again in %.0fs): %s",
                            job["scheduler"], job["job_id"], job["status"], ASK_SCHEDULER_SECONDS, e.message)
                continue
            state = job_state(data.get("job_status") if isinstance(data, dict) else None)
            if state is None:
                log.warning("recovery: scheduler %s answered status_all of job %s without a job_status we know: %s",
                            job["scheduler"], job["job_id"], str(data)[:200])
            elif state.ended:
                log.info("job %s ended at its scheduler %s; stopping it here", job["job_id"], job["scheduler"])
                await self.party.stop({"job_id": job["job_id"]}, job["scheduler"])
                self.asked.pop(job["job_id"], None)
