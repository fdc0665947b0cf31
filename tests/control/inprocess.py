"""In-process nodes for the control-plane tests: the real node app (TLS off: peers declare themselves by header
and are allowed from the test client's address; north-south calls carry the admin token) with its real component
layer, whose test components `psi` and `stats` are `component.py` run as local processes. What a task does is
said by the job itself (CONF task_params `fail`, `hold`)."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from hulian.component import TaskLaunch, TaskState
from hulian.component import models as m
from hulian.component.service import ComponentService, TaskRun
from hulian.core.config import NodeConfig
from hulian.crypto import tokens
from hulian.node.app import create_app

COMPONENT = [sys.executable, str(Path(__file__).with_name("component.py"))]
ADMIN = "admin-token-of-the-tests"
CLIENT = ("127.0.0.1", 50000)  # where the test client connects from: peers fate and kuscia are allowed from there
PLAIN = {"sources": [CLIENT[0]]}


def _description(name: str, inputs: list[dict], outputs: list[dict]) -> dict[str, Any]:
    return {"componentName": name, "title": name, "provider": "test", "version": "1.0.0",
            "description": "a test component (tests/control/component.py)", "roleList": ["guest", "host"],
            "desVersion": "1.2.0", "storageEngine": ["file"], "inputParam": [], "inputData": inputs,
            "outputData": outputs, "result": []}


DESCRIPTIONS = {
    "psi": _description("psi", [{"name": "data", "category": "dataset"}], [{"name": "result", "category": "dataset"}]),
    "stats": _description("stats", [{"name": "data", "category": "dataset"}],
                          [{"name": "report", "category": "report"}]),
}


def make_app(tmp: Path, node_id: str = "n1", **control: Any) -> FastAPI:
    """A node app on `tmp/node_id` (a second one on the same directory is the same node restarted)."""
    cfg = NodeConfig(node_id=node_id, data_dir=tmp / node_id, transport={"fsync": False},
                     security={"token_secret": tokens.new_secret(),  # the component layer mints task tokens
                               "admin_token": ADMIN},
                     control={"poll_interval_seconds": 0.05, "request_retries": 0, "request_timeout_seconds": 1,
                              **control},
                     components={"poll_interval_seconds": 0.05, "kill_grace_seconds": 1.0},
                     peers=[{"node_id": node_id, "url": "http://127.0.0.1:9", "plain_http": PLAIN},  # itself too
                            {"node_id": "fate", "url": "http://127.0.0.1:9", "plain_http": PLAIN},
                            {"node_id": "kuscia", "url": "http://127.0.0.1:9", "plain_http": PLAIN}])
    app = create_app(cfg)
    assert isinstance(app.state.node.components, ComponentService)
    return app


def components(client: TestClient) -> ComponentService:
    return client.app.state.node.components


@contextmanager
def running(app: FastAPI, stop_runs: bool = True) -> Iterator[TestClient]:
    """The app serving, with the test components registered; at the end the runs still going are stopped
    (unless `stop_runs` is False: a node going down leaves them to the node that comes back)."""
    # east-west calls come from the node itself unless a test names another caller (in either spelling: the
    # hyphenated x-node-id is read before this underscored default)
    me = app.state.node.config.node_id
    with TestClient(app, headers={"x-ptp-token": ADMIN, "x_node_id": me}, client=CLIENT) as client:
        service = components(client)
        for description in DESCRIPTIONS.values():
            client.portal.call(service.register_command, description, COMPONENT)
        try:
            yield client
        finally:
            if stop_runs:
                for task_id, role in component_states(client):
                    client.portal.call(service.stop, task_id, role)


def _runs(client: TestClient) -> list[TaskRun]:
    """Every run the component layer has recorded, in start order."""
    def read(conn: Any) -> list[Any]:
        return list(conn.execute(select(m.tasks).order_by(m.tasks.c.started_at)).mappings())

    return [TaskRun.from_row(r) for r in client.portal.call(components(client).db.run, read)]


def launches(client: TestClient) -> dict[tuple[str, str], TaskLaunch]:
    """(task_id, role) -> the launch the control plane gave the component layer."""
    return {r.key: r.launch for r in _runs(client)}


def component_states(client: TestClient) -> dict[tuple[str, str], tuple[TaskState, str]]:
    """(task_id, role) -> (state, message) as the component layer has it."""
    return {r.key: client.portal.call(components(client).state, *r.key) for r in _runs(client)}


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


def with_params(job: dict[str, Any], task: str, role: str = "common", **params: Any) -> dict[str, Any]:
    """`job` with task_params of `task` added: for all parties (role "common") or one ("host.0")."""
    task_params = job["config"]["task_params"]
    if role == "common":
        task_params["common"].setdefault(task, {}).update(params)
    else:
        name, index = role.split(".")
        task_params.setdefault(name, {}).setdefault(index, {}).setdefault(task, {}).update(params)
    return job
