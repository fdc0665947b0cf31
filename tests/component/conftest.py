"""Fixtures of the component layer: a node config and database in a temporary directory, a status recorder."""
from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hulian.component.launch import TaskLaunch, TaskState
from hulian.component.service import ComponentService
from hulian.core.config import NodeConfig
from hulian.crypto import tokens
from hulian.store.db import Database


class Recorder:
    """on_status as the control plane would receive it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, TaskState, str]] = []

    async def __call__(self, task_id: str, role: str, state: TaskState, message: str) -> None:
        self.calls.append((task_id, role, state, message))

    def states(self, task_id: str) -> list[TaskState]:
        return [c[2] for c in self.calls if c[0] == task_id]

    async def wait(self, task_id: str, state: TaskState, timeout: float = 30.0) -> tuple:
        """The call reporting `state`; fails at once when the task ended in another state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in self.calls:
                if call[0] == task_id and call[2] == state:
                    return call
                if call[0] == task_id and call[2].ended and state.ended:
                    raise AssertionError(f"{task_id} ended {call[2]} ({call[3]}), not {state}")
            await asyncio.sleep(0.05)
        raise AssertionError(f"{task_id} never reported {state}; got {self.calls}")


def description(name: str, roles: tuple[str, ...] = ("guest", "host")) -> dict[str, Any]:
    return {"componentName": name, "title": name, "provider": "test", "version": "1.0.0",
            "description": "a test component", "roleList": list(roles), "desVersion": "1.2.0",
            "storageEngine": ["file"], "inputParam": [], "inputData": [], "outputData": [], "result": []}


def python_command(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def launch(task_id: str, component: str, role: str = "guest.0", **kw: Any) -> TaskLaunch:
    base: dict[str, Any] = dict(
        job_id="job1", task_id=task_id, task_name=component, session_id="session_job1", component=component,
        provider="test", version="", role=role, parties={"guest.0": "node-a", "host.0": "node-b"},
        insts={"guest.0": "inst-a", "host.0": "inst-b"}, parameters={}, inputs={}, outputs={})
    base.update(kw)
    return TaskLaunch(**base)


@pytest.fixture
def config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(node_id="node-a", inst_id="inst-a", data_dir=tmp_path / "node",
                      security={"token_secret": tokens.new_secret()},
                      components={"poll_interval_seconds": 0.05, "kill_grace_seconds": 1.0,
                                  "callback_linger_seconds": 0.5})


@pytest.fixture
def db(config: NodeConfig) -> Database:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(config.db_url)
    yield database
    database.close()


@pytest.fixture
async def make_service(config: NodeConfig, db: Database) -> AsyncIterator[Callable]:
    """make_service() -> (service, recorder), started; closed at the end (runs are left alone, as a node does)."""
    made: list[ComponentService] = []

    async def make() -> tuple[ComponentService, Recorder]:
        recorder = Recorder()
        service = ComponentService(config, db, recorder)
        await service.open()
        made.append(service)
        return service, recorder

    yield make
    for service in made:
        for run in list(service._runs.values()):
            if run.alive:
                await service.manager.kill(run.handle, 0.5)
        await service.close()
