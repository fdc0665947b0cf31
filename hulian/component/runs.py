"""The runs a node watches: kept in memory while alive or unreported, saved before they are reported.

Every change to a run is written to the database (repo.RunRepository) before the control plane hears of it,
and a report that did not get through is repeated by the monitor; one lock per run serialises the changes.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref

from hulian.component.images import InstanceState
from hulian.component.launch import StatusCallback, TaskState
from hulian.component.repo import RunRepository, TaskRun

log = logging.getLogger("hulian.component")


def end(run: TaskRun, state: TaskState, message: str = "") -> None:
    """Record a final state (the first one wins)."""
    if run.state.ended:
        return
    run.state, run.message, run.ended_at = state, message, time.time()
    if run.instance_state == InstanceState.STARTED:
        run.instance_state = InstanceState.STOPPED if state == TaskState.SUCCESS else InstanceState.FAILED


class Runs:
    """The watched runs by (task, role), their locks, and the way each change is saved and reported."""

    def __init__(self, repo: RunRepository, on_status: StatusCallback):
        self.repo = repo
        self.on_status = on_status
        self.live: dict[tuple[str, str], TaskRun] = {}
        # one lock per (task, role): a slow manager call (start, poll, kill) for one run holds up only that run
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()

    async def adopt(self) -> None:
        """Take over the runs a previous process left alive or unreported."""
        for run in await self.repo.pending():
            self.live[run.key] = run
            if run.state == TaskState.PENDING:  # the node stopped between recording and starting it
                end(run, TaskState.FAILED, "the node stopped while starting the component")
                await self.save(run)
        if self.live:
            log.info("adopting %d task run(s) from before the restart", len(self.live))

    async def find(self, task_id: str, role: str) -> TaskRun | None:
        run = self.live.get((task_id, role))
        return run if run is not None else await self.repo.find(task_id, role)

    async def add(self, run: TaskRun) -> None:
        await self.repo.save(run, insert=True)
        self.live[run.key] = run

    async def save(self, run: TaskRun) -> None:
        await self.repo.save(run)

    def lock(self, key: tuple[str, str]) -> asyncio.Lock:
        """The run's lock; it lives while a caller holds or awaits it."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def report(self, run: TaskRun) -> None:
        """Tell the control plane, once per state; retried by the monitor when it fails."""
        if run.reported == run.state.value:
            return
        state = run.state
        try:
            await self.on_status(run.task_id, run.role, state, run.message)
        except Exception:
            log.exception("task %s (%s): reporting %s failed; will retry", run.task_id, run.role, state)
            return
        run.reported = state.value
        await self.repo.save(run)
        if not run.alive and run.reported == run.state.value:
            self.live.pop(run.key, None)
