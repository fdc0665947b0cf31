"""Watching the runs that are alive: reaping those that exited (0 = SUCCESS, else FAILED with stderr's last
lines), killing those past their timeout or lingering after their final callback, and starting again those
gone without a result while `max_retries` allows. Reports that did not get through are repeated here."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from hulian.component.images import InstanceState
from hulian.component.launch import TaskState
from hulian.component.launcher import Launcher
from hulian.component.logs import log_path
from hulian.component.managers import PollKind
from hulian.component.repo import TaskRun
from hulian.component.runs import Runs, end

log = logging.getLogger("hulian.component")


class Monitor:
    """One background loop over the watched runs; `wake` starts the next pass at once."""

    def __init__(self, runs: Runs, launcher: Launcher):
        self.runs = runs
        self.launcher = launcher
        self.settings = launcher.settings
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="component-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()  # before the pass: a start or callback during it wakes the next one at once
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("component monitor pass failed")
            with contextlib.suppress(TimeoutError):  # asyncio.timeout, not wait_for: never swallows a cancel
                async with asyncio.timeout(self.settings.poll_interval_seconds):
                    await self._wake.wait()

    async def check(self) -> None:
        """One pass over every run being watched."""
        for run in list(self.runs.live.values()):
            async with self.runs.lock(run.key):
                if run.alive:
                    await self._check_run(run)
            await self.runs.report(run)

    async def _check_run(self, run: TaskRun) -> None:
        now = time.time()
        manager = self.launcher.managers.get(run.manager)
        if manager is None:  # the node's configuration changed while it ran
            run.alive = False
            end(run, TaskState.FAILED, f"its {run.manager} manager is no longer configured on this node")
            await self.runs.save(run)
            return
        poll = await manager.poll(run.handle)
        if poll.kind == PollKind.RUNNING:
            if not run.state.ended and run.deadline and now > run.deadline:
                end(run, TaskState.FAILED, f"timed out after {run.launch.timeout_seconds:g} s")
                await self.runs.save(run)
                await self.launcher.kill(run)
            elif run.state.ended and now > run.ended_at + self.settings.callback_linger_seconds:
                await self.launcher.kill(run)
            return
        run.alive = False
        if poll.kind == PollKind.EXITED:
            if poll.exit_code == 0:
                end(run, TaskState.SUCCESS)
            else:
                end(run, TaskState.FAILED, poll.message or f"exit code {poll.exit_code}")
            with contextlib.suppress(Exception):
                await manager.collect(run.handle, log_path(run.task_dir))
        elif not run.state.ended:
            await self._gone(run, poll.message)
        await self.runs.save(run)

    async def _gone(self, run: TaskRun, why: str) -> None:
        """Vanished without a result: start it again while retries remain."""
        retries = run.attempts - 1
        if retries < run.launch.max_retries:
            reg = self.launcher.registry.get(run.component, run.version or None)
            log.warning("task %s (%s): %s; restarting (retry %d of %d)", run.task_id, run.role, why, retries + 1,
                        run.launch.max_retries)
            run.instance_state = InstanceState.FAILED
            failure = (await self.launcher.launch(run, reg) if reg
                       else f"component {run.component} is no longer registered")
            if failure is None:
                return
            why = failure
        end(run, TaskState.FAILED, f"{why} (after {run.attempts} attempt(s))")
