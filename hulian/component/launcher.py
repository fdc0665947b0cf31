"""Starting and killing one attempt of a run: which manager runs a component, why it may not run here, pulling
its image once, building its environment (env.py) and handing it to the manager."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from pathlib import Path

from hulian.component.env import NodeEndpoints, build_env, loggable
from hulian.component.images import InstanceState, transition
from hulian.component.launch import TaskLaunch, TaskState
from hulian.component.managers import ContainerManager, RunSpec, make_manager
from hulian.component.managers.process import ProcessManager
from hulian.component.registry import ComponentRegistry, Registration
from hulian.component.repo import TaskRun
from hulian.core.config import NodeConfig
from hulian.data.registry import storage_url
from hulian.transport.auth import Authenticator

log = logging.getLogger("hulian.component")


def node_endpoints(config: NodeConfig) -> NodeEndpoints:
    """How components reach this node: `components.node_url`, else its listen address."""
    url = config.components.node_url
    if not url:
        host = config.listen.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        url = f"{config.scheme}://{host}:{config.listen.port}"
    ca = str(config.tls.ca_file) if config.tls.enabled and config.tls.ca_file else ""
    return NodeEndpoints(storage_url(config), url, ca)


def path_part(value: str) -> str:
    """An id made safe as one directory name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value) or "_"


class Launcher:
    """Starts attempts of runs on the right container manager and kills them."""

    def __init__(self, config: NodeConfig, registry: ComponentRegistry, manager: ContainerManager | None = None):
        self.config = config
        self.settings = config.components
        self.registry = registry
        self.manager = manager or make_manager(config)  # runs image components
        # components registered with a command (the built-ins) always run as local processes
        self.local = (self.manager if isinstance(self.manager, ProcessManager)
                      else ProcessManager(config.components.python))
        self.managers: dict[str, ContainerManager] = {self.manager.kind: self.manager, self.local.kind: self.local}
        self.endpoints = node_endpoints(config)
        self.task_root = Path(self.settings.task_dir or config.data_dir / "tasks")
        self._auth = Authenticator(config)
        self._pulls: dict[str, asyncio.Lock] = {}  # one image pull at a time per image

    def task_dir(self, launch: TaskLaunch) -> Path:
        return self.task_root / path_part(launch.task_id) / path_part(launch.role)

    def manager_for(self, reg: Registration | None) -> ContainerManager:
        """Components with a command run locally; image components on the configured manager."""
        return self.local if reg is None or reg.command else self.manager

    def refusal(self, launch: TaskLaunch, reg: Registration | None) -> str | None:
        """Why this launch cannot run here at all (unknown component, image without a container manager, a
        role the component does not have); None when it can."""
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

    async def load(self, reg: Registration) -> str | None:
        """Pull (and check) an image component's image unless it is loaded; the failure message when it could
        not. The image becomes FAILED only when it never loaded."""
        if not reg.image or reg.state == InstanceState.LOADED:
            return None
        async with self._pulls.setdefault(reg.image, asyncio.Lock()):
            if reg.state == InstanceState.LOADED:  # pulled while this one waited
                return None
            try:
                await self.manager_for(reg).prepare(reg)
            except Exception as e:
                log.warning("component %s: image %s cannot be loaded: %s", reg.name, reg.image, e)
                if reg.state == InstanceState.UNLOADED:
                    await self.registry.set_state(reg, InstanceState.FAILED)
                return f"cannot start component {reg.name}: {getattr(e, 'message', None) or e}"
            await self.registry.set_state(reg, InstanceState.LOADED)
        return None

    async def launch(self, run: TaskRun, reg: Registration) -> str | None:
        """Start one attempt (the caller saves the run); the failure message when it could not start."""
        launch = run.launch
        manager = self.managers[run.manager]
        if (failed := await self.load(reg)) is not None:  # loaded already, except on a retry after a reload
            run.instance_state = InstanceState.FAILED
            return failed
        try:
            if run.manager != self.manager_for(reg).kind:
                raise ValueError(f"registered again for the {self.manager_for(reg).kind} manager")
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
        return None

    async def kill(self, run: TaskRun) -> None:
        try:
            await self.managers[run.manager].kill(run.handle, self.settings.kill_grace_seconds)
        except Exception:
            log.exception("task %s (%s): kill failed; will retry", run.task_id, run.role)
