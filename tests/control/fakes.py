"""An in-memory component layer for in-process control-plane tests: tasks finish after a short delay, succeed
unless told to fail, and report through on_status like the real one."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from hulian.component.launch import ComponentRunner, TaskLaunch, TaskState
from hulian.core.config import NodeConfig
from hulian.node.app import create_app

DESCRIPTIONS = {
    "psi": {"componentName": "psi", "provider": "test", "version": "1.0.0", "roleList": ["guest", "host"],
            "inputData": [{"name": "data", "category": "dataset"}],
            "outputData": [{"name": "result", "category": "dataset"}]},
    "stats": {"componentName": "stats", "provider": "test", "version": "1.0.0", "roleList": ["guest", "host"],
              "inputData": [{"name": "data", "category": "dataset"}],
              "outputData": [{"name": "report", "category": "report"}]},
}


class FakeRunner(ComponentRunner):
    def __init__(self) -> None:
        self.on_status: Any = None
        self.launches: dict[tuple[str, str], TaskLaunch] = {}
        self.states: dict[tuple[str, str], tuple[TaskState, str]] = {}
        self.fail: dict[tuple[str, str], str] = {}  # (component, role) -> error text
        self.hold: set[str] = set()  # components that run until stopped
        self.delay = 0.05
        self._tasks: set[asyncio.Task] = set()

    def description(self, name: str, version: str | None = None) -> dict[str, Any] | None:
        return DESCRIPTIONS.get(name)

    async def register(self, description: dict[str, Any], image: str = "") -> None:
        if not description.get("componentName"):
            raise ValueError("componentName is required")
        DESCRIPTIONS[description["componentName"]] = description

    async def start(self, launch: TaskLaunch | None = None) -> None:
        if launch is None:
            return
        key = (launch.task_id, launch.role)
        if key in self.launches:
            return
        self.launches[key] = launch
        await self._set(key, TaskState.RUNNING, "")
        if launch.component not in self.hold:
            task = asyncio.create_task(self._finish(launch))
            self._tasks.add(task)

    async def _finish(self, launch: TaskLaunch) -> None:
        await asyncio.sleep(self.delay)
        error = self.fail.get((launch.component, launch.role))
        await self._set((launch.task_id, launch.role), TaskState.FAILED if error else TaskState.SUCCESS,
                        error or "")

    async def _set(self, key: tuple[str, str], state: TaskState, message: str) -> None:
        old = self.states.get(key)
        if old and old[0].ended:
            return
        self.states[key] = (state, message)
        await self.on_status(key[0], key[1], state, message)

    async def stop(self, task_id: str, role: str) -> None:
        if (task_id, role) in self.states:
            await self._set((task_id, role), TaskState.FAILED, "stopped")

    async def state(self, task_id: str, role: str) -> tuple[TaskState, str]:
        return self.states.get((task_id, role), (TaskState.PENDING, ""))

    async def log(self, task_id: str, role: str, start: int = 0, length: int = 1000, level: str = "info") -> list[str]:
        return [f"{role} line {i}" for i in range(3)][start:start + length]

    async def log_line_count(self, task_id: str, role: str, level: str = "info") -> int:
        return 3

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()


def make_app(tmp: Path, node_id: str = "n1", **control: Any) -> tuple[FastAPI, FakeRunner]:
    """A node app (TLS off: callers declare themselves by header) whose component layer is a FakeRunner."""
    cfg = NodeConfig(node_id=node_id, data_dir=tmp / node_id, transport={"fsync": False},
                     control={"poll_interval_seconds": 0.05, "request_retries": 0, "request_timeout_seconds": 1,
                              **control},
                     peers=[{"node_id": "fate", "url": "http://127.0.0.1:9"},
                            {"node_id": "kuscia", "url": "http://127.0.0.1:9"}])
    app = create_app(cfg)
    runner = FakeRunner()
    node = app.state.node
    node.components = runner
    node.control.runner = runner
    runner.on_status = node.control.on_status
    return app, runner


def two_task_job(guest: str = "n1", host: str = "n1", sync_type: str = "poll") -> dict[str, Any]:
    dag = {"version": "1.0", "components": [
        {"name": "psi_0", "componentName": "psi", "provider": "test", "version": "1.0.0", "input": [],
         "output": [{"type": "dataset", "key": "result"}]},
        {"name": "stats_0", "componentName": "stats", "provider": "test", "version": "1.0.0",
         "input": [{"type": "dataset", "key": "psi_0.result"}], "output": [{"type": "report", "key": "report"}]}]}
    conf = {"version": "1.0", "initiator": {"role": "guest", "node_id": guest},
            "role": {"guest": [guest], "host": [host]},
            "job_params": {"common": {"sync_type": sync_type}},
            "task_params": {"common": {"stats_0": {"columns": ["a"]}},
                            "guest": {"0": {"psi_0": {"dataset_id": "ns#guest"}}},
                            "host": {"0": {"psi_0": {"dataset_id": "ns#host"}}}}}
    return {"dag": dag, "config": conf}
