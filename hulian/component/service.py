"""The component layer of one node (ComponentRunner): the registry of self-descriptions plus the runs of tasks.

A run's life: `start` records it (repo.py) and has the launcher start it detached (launcher.py); the monitor
(monitor.py) polls every run that is alive. Status comes two ways and the first final one wins: the
component's own callback (`on_callback`, from the control plane's callback route) or its exit. Every change is
saved before it is reported (runs.py), so a node that restarts (a new ComponentService on the same database)
adopts the runs still alive and reports those that ended while it was down. This module wires those parts and
answers the control plane; it holds no SQL and no manager logic of its own.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from hulian.component import logs
from hulian.component.discovery import installed_components
from hulian.component.images import InstanceState
from hulian.component.launch import ComponentRunner, StatusCallback, TaskLaunch, TaskState
from hulian.component.launcher import Launcher
from hulian.component.managers import ContainerManager
from hulian.component.monitor import Monitor
from hulian.component.registry import ComponentRegistry
from hulian.component.repo import RunRepository, TaskRun
from hulian.component.runs import Runs, end
from hulian.core.config import NodeConfig
from hulian.sdk.reported import check_metrics, check_progress
from hulian.store.db import Database

__all__ = ["ComponentService", "TaskRun"]

log = logging.getLogger("hulian.component")


class ComponentService(ComponentRunner):
    def __init__(self, config: NodeConfig, db: Database, on_status: StatusCallback,
                 manager: ContainerManager | None = None):
        self.config = config
        self.settings = config.components
        self.db = db
        self.registry = ComponentRegistry(db)
        self.repo = RunRepository(db)
        self.runs = Runs(self.repo, on_status)
        self.launcher = Launcher(config, self.registry, manager)
        self.monitor = Monitor(self.runs, self.launcher)

    @property
    def manager(self) -> ContainerManager:
        """The configured container manager (image components)."""
        return self.launcher.manager

    @property
    def task_root(self) -> Path:
        """Where task directories are made (`components.task_dir`, else `<data_dir>/tasks`)."""
        return self.launcher.task_root

    @property
    def _runs(self) -> dict[tuple[str, str], TaskRun]:
        return self.runs.live

    async def _find(self, task_id: str, role: str) -> TaskRun | None:
        return await self.runs.find(task_id, role)

    # ---- lifecycle ----------------------------------------------------------------------------------------
    async def open(self) -> None:
        """Bring the layer up (at node start): create the tables, load registrations, register the built-ins,
        adopt runs, start the monitor."""
        await self.repo.create()
        await self.registry.load()
        for description, command in await asyncio.to_thread(installed_components, self.launcher.local.python):
            await self.registry.put(self.registry.prepare(description, command=command))
        await self.runs.adopt()
        self.monitor.start()

    async def close(self) -> None:
        """Stop watching; runs go on (a restarted node adopts them)."""
        await self.monitor.stop()

    # ---- registry -----------------------------------------------------------------------------------------
    def description(self, name: str, version: str | None = None) -> dict[str, Any] | None:
        reg = self.registry.get(name, version)
        return reg.description if reg else None

    async def register(self, description: dict[str, Any], image: str = "") -> None:
        await self.registry.put(self.registry.prepare(description, image))

    async def register_image(self, description: dict[str, Any], image: str, digest: str,
                             labels: dict[str, str] | None = None) -> None:
        """Register an image component with its pinned sha256 digest and labels (log_dir, port, uds_dir)."""
        await self.registry.put(self.registry.prepare(description, image, digest, labels))

    async def register_command(self, description: dict[str, Any], command: list[str]) -> None:
        """Register a component the local process manager runs as `command` (a program on this machine)."""
        await self.registry.put(self.registry.prepare(description, command=command))

    def components(self) -> list[dict[str, Any]]:
        """Every registration, for listing: self-description plus image, digest and instance state."""
        return [{"description": r.description, "image": r.image, "digest": r.digest, "labels": r.labels,
                 "state": r.state.value} for r in self.registry.all()]

    # ---- runs ---------------------------------------------------------------------------------------------
    async def start(self, launch: TaskLaunch) -> None:
        """Run a task (ComponentRunner); a repeated start of the same (task, role) is a no-op."""
        launcher = self.launcher
        reg = self.registry.get(launch.component, launch.version or None)
        # the image is pulled before the run's lock is taken: other starts and stops never wait behind a pull
        unloadable = await launcher.load(reg) if reg is not None and launcher.refusal(launch, reg) is None else None
        async with self.runs.lock((launch.task_id, launch.role)):
            if await self.runs.find(launch.task_id, launch.role) is not None:
                return
            run = TaskRun(launch.task_id, launch.role, launch.component, reg.version if reg else launch.version,
                          launcher.manager_for(reg).kind, TaskState.PENDING,
                          reg.state if reg else InstanceState.UNLOADED, launch, str(launcher.task_dir(launch)))
            await self.runs.add(run)
            why = launcher.refusal(launch, reg) or unloadable
            if why is None and reg is not None:
                why = await launcher.launch(run, reg)
            if why is not None:
                end(run, TaskState.FAILED, why)
            await self.runs.save(run)
        await self.runs.report(run)
        self.monitor.wake()

    async def stop(self, task_id: str, role: str) -> None:
        async with self.runs.lock((task_id, role)):
            run = await self.runs.find(task_id, role)
            if run is None or run.state.ended:
                return
            end(run, TaskState.FAILED, "stopped")
            await self.runs.save(run)
            if run.alive:
                await self.launcher.kill(run)
        await self.runs.report(run)

    async def state(self, task_id: str, role: str) -> tuple[TaskState, str]:
        run = await self.runs.find(task_id, role)
        return (run.state, run.message) if run else (TaskState.PENDING, "")

    async def progress(self, task_id: str, role: str) -> dict[str, Any]:
        run = await self.runs.find(task_id, role)
        return {"progress": run.progress if run else None, "metrics": dict(run.metrics) if run else {}}

    async def on_callback(self, task_id: str, role: str, status: str, message: str = "",
                          progress: Any = None, metrics: Any = None) -> bool:
        """A component's `POST /v1/platform/schedule/task/callback {task_id, status, role}`, optionally with
        `progress` (0..1) and `metrics` (hulian's extension, kept with the run). `role` may be "guest.0" or, as
        FATE sends it, "guest" (matched when this node runs one index of it). Returns False for a task this
        node does not run; raises ValueError for a status other than RUNNING, SUCCESS, FAILED, or a bad
        progress or metric (named in the message).
        """
        try:
            new = TaskState(status.strip().upper())
        except ValueError:
            raise ValueError(f"status {status!r}: use RUNNING, SUCCESS or FAILED") from None
        fraction, values = check_progress(progress), check_metrics(metrics)
        key = await self._callback_key(task_id, role)
        if key is None:
            return False
        async with self.runs.lock(key):
            run = await self.runs.find(*key)
            if run is None:
                return False
            changed = fraction is not None or bool(values)
            if fraction is not None:
                run.progress = fraction
            run.metrics.update(values)
            if new.ended and not run.state.ended:
                log.info("task %s (%s): component called back %s", run.task_id, run.role, new)
                end(run, new, message if new == TaskState.FAILED else "")
                changed = True
            if changed:
                await self.runs.save(run)
        await self.runs.report(run)
        self.monitor.wake()
        return True

    async def _callback_key(self, task_id: str, role: str) -> tuple[str, str] | None:
        """The run a callback means: the exact (task, role), else the one run of that role, if just one."""
        exact = await self.runs.find(task_id, role) if "." in role else None
        if exact is not None:
            return exact.key
        matches = [r.key for r in self.runs.live.values() if r.task_id == task_id
                   and (not role or r.role.split(".")[0] == role.split(".")[0])]
        return matches[0] if len(matches) == 1 else None

    # ---- logs ---------------------------------------------------------------------------------------------
    async def log(self, task_id: str, role: str, start: int = 0, length: int = 1000,
                  level: str = "info") -> list[str]:
        """Lines of the captured stdout/stderr (one stream: `level` does not filter it)."""
        run = await self.runs.find(task_id, role)
        return await logs.read_lines(run.task_dir, start, length) if run else []

    async def log_line_count(self, task_id: str, role: str, level: str = "info") -> int:
        run = await self.runs.find(task_id, role)
        return await logs.count_lines(run.task_dir) if run else 0
