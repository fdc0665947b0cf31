"""The job the FATE-Flow tests run (the `statistics` component on both parties; FATE's part is the kit's stand-in
algorithm, hulian's the real component on an uploaded dataset) and each side's view of it."""
from __future__ import annotations

import secrets
from typing import Any

from tests.fateflow.conftest import FATE_ID, Site

TASK = "stats_0"
DATASET = "demo#customers"
MISSING = "demo#missing"  # no such dataset on the hulian node: its part of the task fails
DAG = {"version": "1.0", "components": [
    {"name": TASK, "componentName": "statistics", "provider": "hulian", "version": "1.0.0", "input": [],
     "output": [{"type": "report", "key": "report"}]}]}


def upload(site: Site, dataset: str = DATASET, rows: int = 50) -> None:
    namespace, name = dataset.split("#")
    table = b"id,age,income\n" + b"".join(f"c{i},{20 + i % 40},{1000 + i}\n".encode() for i in range(rows))
    with site.hulian.admin() as c:
        r = c.post("/v1/platform/dataset/upload", params={"namespace": namespace, "name": name, "format": "csv"},
                   content=table)
    assert r.status_code == 200 and r.json()["code"] == 0, r.text


def conf(initiator: str, hulian_dataset: str = DATASET) -> dict[str, Any]:
    """guest = the initiator (and so the scheduler), host = the other side; polled, as FATE never calls back."""
    me = "node-a"
    guest, host = (FATE_ID, me) if initiator == FATE_ID else (me, FATE_ID)
    params = {guest: {TASK: {"dataset_id": DATASET}}, host: {TASK: {"dataset_id": DATASET}}}
    params[me] = {TASK: {"dataset_id": hulian_dataset}}
    return {"version": "1.0", "initiator": {"role": "guest", "node_id": initiator},
            "role": {"guest": [guest], "host": [host]}, "job_params": {"common": {"sync_type": "poll"}},
            "task_params": {"guest": {"0": params[guest]}, "host": {"0": params[host]}}}


def flow_id() -> str:
    return "flow-" + secrets.token_hex(4)


# ---- the hulian node's views ---------------------------------------------------------------------------------
def submit_to_hulian(site: Site, body_conf: dict[str, Any], flow: str) -> str:
    with site.hulian.admin() as c:
        reply = c.post("/v1/platform/schedule/job/create_all", json={"dag": DAG, "config": body_conf,
                                                                      "flow_id": flow}).json()
    assert reply["code"] == 0, reply
    return reply["data"]["job_id"]


def hulian_job(site: Site, job_id: str, flow: str) -> str | None:
    """The node's own state of the job (query_job_list: local, not proxied to the scheduler)."""
    with site.hulian.admin() as c:
        reply = c.post("/v1/platform/schedule/job/query_job_list", json={"flow_id": flow}).json()
    assert reply["code"] == 0, reply
    return reply["data"]["job_list"].get(job_id)


def hulian_scheduled(site: Site, job_id: str) -> dict[str, Any]:
    """status_all of a job the node schedules: job_status, and each task with every party's state."""
    with site.hulian.admin() as c:
        reply = c.post("/v1/platform/schedule/job/status_all", json={"job_id": job_id}).json()
    assert reply["code"] == 0, reply
    return reply["data"]


def hulian_task(site: Site, task_id: str) -> dict[str, Any]:
    """The node's part of a task as FATE's scheduler polls it: underscore headers, role ""."""
    with site.hulian.as_fate() as c:
        reply = c.post("/v1/interconn/schedule/task/poll", json={"task_id": task_id, "role": ""}).json()
    assert reply["code"] == 0, reply
    return reply["data"]


def party_states(status: dict[str, Any]) -> dict[str, str]:
    """{party: state} of the one task of a hulian status_all reply."""
    (task,) = status["tasks"]
    return {party: p["status"] for party, p in task["parties"].items()}
