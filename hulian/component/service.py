"""The component layer of one node: registry of self-descriptions plus the runs of tasks (ComponentRunner).

A run's life: `start` builds the environment (env.py), asks the container manager to start it detached and
records the handle; a monitor polls every run that is alive. Status comes two ways and the first final one
wins: the component's own callback (`on_callback`, from the control plane's callback route) or its exit
(0 = SUCCESS, else FAILED with stderr's last lines). A run still alive `callback_linger_seconds` after its
final callback is killed; one past its timeout is killed and FAILED; one gone without any result (killed
from outside, machine restart) is started again while `max_retries` allows. Every change is written to the
database before it is reported, and reports that did not get through are repeated, so a node that restarts
(a new ComponentService on the same database) adopts the runs still alive and reports those that ended
while it was down.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import re
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from hulian.component import models as m
from hulian.component.discovery import installed_components
from hulian.component.env import NodeEndpoints, build_env, loggable
from hulian.component.images import InstanceState, transition
from hulian.component.launch import ComponentRunner, Resources, StatusCallback, TaskLaunch, TaskState
from hulian.component.managers import ContainerManager, PollKind, RunSpec, make_manager
from hulian.component.managers.base import LOG_FILE
from hulian.component.managers.process import ProcessManager
from hulian.component.registry import ComponentRegistry, Registration
from hulian.core.config import NodeConfig
from hulian.data.registry import storage_url
from hulian.store.db import Database
from hulian.transport.auth import Authenticator

log = logging.getLogger("hulian.component")


@dataclass
class TaskRun:
    """One (task, role) as the database row holds it."""

    task_id: str
    role: str
    component: str
    version: str
    manager: str
    state: TaskState
    instance_state: InstanceState
    launch: TaskLaunch
    task_dir: str
    message: str = ""
    reported: str = ""
    alive: bool = False
    handle: dict[str, Any] = dataclasses.field(default_factory=dict)
    attempts: int = 0
    started_at: float = 0.0
    deadline: float = 0.0
    ended_at: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        return self.task_id, self.role

    def row(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "role": self.role, "component": self.component, "version": self.version,
                "manager": self.manager, "state": self.state.value, "instance_state": self.instance_state.value,
                "message": self.message, "reported": self.reported, "alive": int(self.alive),
                "handle": json.dumps(self.handle), "attempts": self.attempts,
                "launch": json.dumps(dataclasses.asdict(self.launch), ensure_ascii=False),
                "task_dir": self.task_dir, "started_at": self.started_at, "deadline": self.deadline,
                "ended_at": self.ended_at}

    @classmethod
    def from_row(cls, row: Any) -> TaskRun:
        raw = json.loads(row["launch"])
        launch = TaskLaunch(**{**raw, "resources": Resources(**raw.get("resources", {}))})
        return cls(row["task_id"], row["role"], row["component"], row["version"], row["manager"],
                   TaskState(row["state"]), InstanceState(row["instance_state"]), launch, row["task_dir"],
                   row["message"], row["reported"], bool(row["alive"]), json.loads(row["handle"]),
                   row["attempts"], row["started_at"], row["deadline"], row["ended_at"])


def _path_part(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value) or "_"


def node_endpoints(config: NodeConfig) -> NodeEndpoints:
    """How components reach this node: `components.node_url`, else its listen address."""
    url = config.components.node_url
    if not url:
        host = config.listen.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        url = f"{config.scheme}://{host}:{config.listen.port}"
    ca = str(config.tls.ca_file) if config.tls.enabled and config.tls.ca_file else ""
    return NodeEndpoints(storage_url(config), url, ca)


class ComponentService(ComponentRunner):
    def __init__(self, config: NodeConfig, db: Database, on_status: StatusCallback,
                 manager: ContainerManager | None = None):
        self.config = config
        self.settings = config.components
        self.db = db
        self.on_status = on_status
        self.registry = ComponentRegistry(db)
        self.manager = manager or make_manager(config)  # runs image components
        # components registered with a command (the built-ins) always run as local processes
        self.local = (self.manager if isinstance(self.manager, ProcessManager)
                      else ProcessManager(config.components.python))
        self.endpoints = node_endpoints(config)
        self.task_root = Path(self.settings.task_dir or config.data_dir / "tasks")
        self._auth = Authenticator(config)
        self._runs: dict[tuple[str, str], TaskRun] = {}
        # one lock per (task, role): a slow manager call (start, poll, kill) for one run holds up only that run
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        self._pulls: dict[str, asyncio.Lock] = {}  # one image pull at a time per image
        self._monitor: asyncio.Task | None = None
        self._wake = asyncio.Event()

    # ---- lifecycle ----------------------------------------------------------------------------------------
    async def open(self) -> None:
        """Bring the layer up (at node start): create the tables, load registrations, register the built-ins,
        adopt runs, start the monitor."""
        await self.db.call(lambda: m.metadata.create_all(self.db.engine, tables=[m.components, m.tasks]))
        await self.db.run(self.registry.load)
        for description, command in await asyncio.to_thread(installed_components, self.local.python):
            await self.registry.put(self.registry.prepare(description, command=command))

        def pending(conn: Connection) -> list[Any]:
            t = m.tasks.c
            return list(conn.execute(select(m.tasks).where(or_(t.alive == 1, t.reported != t.state))).mappings())

        for row in await self.db.run(pending):
            run = TaskRun.from_row(row)
            self._runs[run.key] = run
            if run.state == TaskState.PENDING:  # the node stopped between recording and starting it
                self._end(run, TaskState.FAILED, "the node stopped while starting the component")
                await self._save(run)
        if self._runs:
            log.info("adopting %d task run(s) from before the restart", len(self._runs))
        self._monitor = asyncio.create_task(self._monitor_loop(), name="component-monitor")

    async def close(self) -> None:
        """Stop watching; runs go on (a restarted node adopts them)."""
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None

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
    async def _find(self, task_id: str, role: str) -> TaskRun | None:
        run = self._runs.get((task_id, role))
        if run is not None:
            return run

        def read(conn: Connection) -> Any:
            return conn.execute(select(m.tasks).where(m.tasks.c.task_id == task_id, m.tasks.c.role == role)
                                ).mappings().first()

        row = await self.db.run(read)
        return TaskRun.from_row(row) if row is not None else None

    async def _save(self, run: TaskRun, insert: bool = False) -> None:
        row = run.row()

        def write(conn: Connection) -> None:
            if insert:
                conn.execute(m.tasks.insert().values(**row))
            else:
                conn.execute(m.tasks.update().where(m.tasks.c.task_id == run.task_id, m.tasks.c.role == run.role)
                             .values(**row))

        await self.db.run(write)

    async def start(self, launch: TaskLaunch) -> None:
        """Run a task (ComponentRunner); a repeated start of the same (task, role) is a no-op."""
        reg = self.registry.get(launch.component, launch.version or None)
        # the image is pulled before the service lock is taken: other starts and stops never wait behind a pull
        unloadable = await self._load(reg) if reg is not None and self._refusal(launch, reg) is None else None
        async with self._lock_for((launch.task_id, launch.role)):
            if await self._find(launch.task_id, launch.role) is not None:
                return
            task_dir = self.task_root / _path_part(launch.task_id) / _path_part(launch.role)
            run = TaskRun(launch.task_id, launch.role, launch.component, reg.version if reg else launch.version,
                          self._manager_for(reg).kind, TaskState.PENDING,
                          reg.state if reg else InstanceState.UNLOADED, launch, str(task_dir))
            await self._save(run, insert=True)
            self._runs[run.key] = run
            why = self._refusal(launch, reg) or unloadable
            if why is None and reg is not None:
                why = await self._launch(run, reg)
            if why is not None:
                self._end(run, TaskState.FAILED, why)
                await self._save(run)
        await self._report(run)
        self._wake.set()

    @property
    def _managers(self) -> dict[str, ContainerManager]:
        return {self.manager.kind: self.manager, self.local.kind: self.local}

    def _manager_for(self, reg: Registration | None) -> ContainerManager:
        """Components with a command run locally; image components on the configured manager."""
        return self.local if reg is None or reg.command else self.manager

    def _refusal(self, launch: TaskLaunch, reg: Registration | None) -> str | None:
        if reg is None:
            version = f" version {launch.version}" if launch.version else ""
            return f"component {launch.component!r}{version} is not registered on node {self.config.node_id}"
        if not reg.command and self.manager is self.local:
            return (f"component {reg.name} is an image ({reg.image}) and components.manager is process; "
                    "configure docker or kubernetes to run images")
        role = launch.role.split(".")[0]
        if role not in reg.description.get("roleList", []):
            return f"component {reg.name} has no role {role!r} (its roleList is {reg.description['roleList']})"
        return None

    async def _load(self, reg: Registration) -> str | None:
        """Pull (and check) an image component's image unless it is loaded; the failure message when it could
        not. The image becomes FAILED only when it never loaded."""
        if not reg.image or reg.state == InstanceState.LOADED:
            return None
        async with self._pulls.setdefault(reg.image, asyncio.Lock()):
            if reg.state == InstanceState.LOADED:  # pulled while this one waited
                return None
            try:
                await self._manager_for(reg).prepare(reg)
            except Exception as e:
                log.warning("component %s: image %s cannot be loaded: %s", reg.name, reg.image, e)
                if reg.state == InstanceState.UNLOADED:
                    await self.registry.set_state(reg, InstanceState.FAILED)
                return f"cannot start component {reg.name}: {getattr(e, 'message', None) or e}"
            await self.registry.set_state(reg, InstanceState.LOADED)
        return None

    async def _launch(self, run: TaskRun, reg: Registration) -> str | None:
        """Start one attempt; the failure message when it could not start."""
        launch = run.launch
        manager = self._managers[run.manager]
        if (failed := await self._load(reg)) is not None:  # loaded already, except on a retry after a reload
            run.instance_state = InstanceState.FAILED
            return failed
        try:
            if run.manager != self._manager_for(reg).kind:
                raise ValueError(f"registered again for the {self._manager_for(reg).kind} manager")
            token = self._auth.issue_token(launch.session_id, self.settings.token_ttl_seconds)  # None: security's
            spec = RunSpec(run.task_id, run.role, reg, {}, Path(run.task_dir), launch.resources,
                           launch.timeout_seconds, run.attempts + 1)
            # every manager's task log (task.log, collected at the end for containers) lives here
            await asyncio.to_thread(spec.task_dir.mkdir, parents=True, exist_ok=True)
            env = build_env(launch, self.endpoints, token, manager.component_log_dir(spec),
                            self.settings.task_scoped_topics)
            log.debug("task %s (%s): environment %s", run.task_id, run.role, loggable(env))
            run.handle = await manager.start(dataclasses.replace(spec, env=env))
        except Exception as e:  # whatever stops a start is the task's failure, said in its message
            log.warning("task %s (%s): %s cannot start: %s", run.task_id, run.role, reg.name, e)
            run.instance_state = InstanceState.FAILED
            return f"cannot start component {reg.name}: {getattr(e, 'message', None) or e}"
        now = time.time()
        run.attempts += 1
        run.state, run.alive, run.started_at = TaskState.RUNNING, True, now
        run.instance_state = transition(InstanceState.LOADED if run.instance_state == InstanceState.UNLOADED
                                        else run.instance_state, InstanceState.STARTED)
        run.deadline = now + launch.timeout_seconds if launch.timeout_seconds > 0 else 0.0
        log.info("task %s (%s): %s started (attempt %d, %s)", run.task_id, run.role, reg.name, run.attempts,
                 run.manager)
        await self._save(run)
        return None

    @staticmethod
    def _end(run: TaskRun, state: TaskState, message: str = "") -> None:
        """Record a final state (the first one wins)."""
        if run.state.ended:
            return
        run.state, run.message, run.ended_at = state, message, time.time()
        if run.instance_state == InstanceState.STARTED:
            run.instance_state = InstanceState.STOPPED if state == TaskState.SUCCESS else InstanceState.FAILED

    async def _report(self, run: TaskRun) -> None:
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
        await self._save(run)
        if not run.alive and run.reported == run.state.value:
            self._runs.pop(run.key, None)

    def _lock_for(self, key: tuple[str, str]) -> asyncio.Lock:
        """The run's lock; it lives while a caller holds or awaits it."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def stop(self, task_id: str, role: str) -> None:
        async with self._lock_for((task_id, role)):
            run = await self._find(task_id, role)
            if run is None or run.state.ended:
                return
            self._end(run, TaskState.FAILED, "stopped")
            await self._save(run)
            if run.alive:
                await self._kill(run)
        await self._report(run)

    async def _kill(self, run: TaskRun) -> None:
        try:
            await self._managers[run.manager].kill(run.handle, self.settings.kill_grace_seconds)
        except Exception:
            log.exception("task %s (%s): kill failed; will retry", run.task_id, run.role)

    async def state(self, task_id: str, role: str) -> tuple[TaskState, str]:
        run = await self._find(task_id, role)
        return (run.state, run.message) if run else (TaskState.PENDING, "")

    async def on_callback(self, task_id: str, role: str, status: str, message: str = "") -> bool:
        """A component's `POST /v1/platform/schedule/task/callback {task_id, status, role}`. `role` may be
        "guest.0" or, as FATE sends it, "guest" (matched when this node runs one index of it). Returns False
        for a task this node does not run; raises ValueError for a status other than RUNNING, SUCCESS, FAILED.
        """
        try:
            new = TaskState(status.strip().upper())
        except ValueError:
            raise ValueError(f"status {status!r}: use RUNNING, SUCCESS or FAILED") from None
        exact = await self._find(task_id, role) if "." in role else None
        if exact is not None:
            key = exact.key
        else:  # "guest" (or an index this node does not run): the one run of that role, if there is just one
            matches = [r.key for r in self._runs.values() if r.task_id == task_id
                       and (not role or r.role.split(".")[0] == role.split(".")[0])]
            if len(matches) != 1:
                return False
            key = matches[0]
        async with self._lock_for(key):
            run = await self._find(*key)
            if run is None:
                return False
            if new.ended and not run.state.ended:
                log.info("task %s (%s): component called back %s", run.task_id, run.role, new)
                self._end(run, new, message if new == TaskState.FAILED else "")
                await self._save(run)
        await self._report(run)
        self._wake.set()
        return True

    # ---- logs ---------------------------------------------------------------------------------------------
    def _log_path(self, run: TaskRun) -> Path:
        return Path(run.task_dir) / LOG_FILE

    async def log(self, task_id: str, role: str, start: int = 0, length: int = 1000,
                  level: str = "info") -> list[str]:
        """Lines of the captured stdout/stderr (one stream: `level` does not filter it)."""
        run = await self._find(task_id, role)
        if run is None:
            return []
        first = max(start, 0)

        def read() -> list[str]:
            try:
                with self._log_path(run).open(errors="replace") as f:
                    return [ln.rstrip("\n") for ln in itertools.islice(f, first, first + max(length, 0))]
            except FileNotFoundError:
                return []

        return await asyncio.to_thread(read)

    async def log_line_count(self, task_id: str, role: str, level: str = "info") -> int:
        run = await self._find(task_id, role)
        if run is None:
            return 0

        def count() -> int:
            try:
                with self._log_path(run).open("rb") as f:
                    return sum(1 for _ in f)
            except FileNotFoundError:
                return 0

        return await asyncio.to_thread(count)

    # ---- monitor ------------------------------------------------------------------------------------------
    async def _monitor_loop(self) -> None:
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
        """One pass over every run being watched (the monitor calls it; tests may too)."""
        for run in list(self._runs.values()):
            async with self._lock_for(run.key):
                if run.alive:
                    await self._check_run(run)
            await self._report(run)

    async def _check_run(self, run: TaskRun) -> None:
        now = time.time()
        manager = self._managers.get(run.manager)
        if manager is None:  # the node's configuration changed while it ran
            run.alive = False
            self._end(run, TaskState.FAILED, f"its {run.manager} manager is no longer configured on this node")
            await self._save(run)
            return
        poll = await manager.poll(run.handle)
        if poll.kind == PollKind.RUNNING:
            if not run.state.ended and run.deadline and now > run.deadline:
                self._end(run, TaskState.FAILED, f"timed out after {run.launch.timeout_seconds:g} s")
                await self._save(run)
                await self._kill(run)
            elif run.state.ended and now > run.ended_at + self.settings.callback_linger_seconds:
                await self._kill(run)
            return
        run.alive = False
        if poll.kind == PollKind.EXITED:
            if poll.exit_code == 0:
                self._end(run, TaskState.SUCCESS)
            else:
                self._end(run, TaskState.FAILED, poll.message or f"exit code {poll.exit_code}")
            with contextlib.suppress(Exception):
                await manager.collect(run.handle, self._log_path(run))
        elif not run.state.ended:
            await self._gone(run, poll.message)
        await self._save(run)

    async def _gone(self, run: TaskRun, why: str) -> None:
        """Vanished without a result: start it again while retries remain."""
        retries = run.attempts - 1
        if retries < run.launch.max_retries:
            reg = self.registry.get(run.component, run.version or None)
            log.warning("task %s (%s): %s; restarting (retry %d of %d)", run.task_id, run.role, why, retries + 1,
                        run.launch.max_retries)
            run.instance_state = InstanceState.FAILED
            failure = await self._launch(run, reg) if reg else f"component {run.component} is no longer registered"
            if failure is None:
                return
            why = failure
        self._end(run, TaskState.FAILED, f"{why} (after {run.attempts} attempt(s))")
