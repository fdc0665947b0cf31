"""The job the FATE-Flow tests run (the `statistics` component on both parties; FATE's part is the kit's stand-in
algorithm, hulian's the real component on an uploaded dataset) and each side's view of it."""
from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from tests.fateflow.conftest import FATE_ID, Site, wait_for

TASK = "stats_0"
DATASET = "demo#customers"
JOB_SECONDS = 60  # a one-task job with 1 s stand-in tasks takes a few seconds; this bounds a busy machine
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
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


def hulian_stop_all(site: Site, job_id: str) -> None:
    """The node's user stops the job (the node forwards to the scheduler when it is not the scheduler)."""
    with site.hulian.admin() as c:
        reply = c.post("/v1/platform/schedule/job/stop_all", json={"job_id": job_id}).json()
    assert reply["code"] == 0, reply


# ---- waiting for each side ----------------------------------------------------------------------------------
def fate_schedules(site: Site, hulian_dataset: str = DATASET) -> tuple[str, str]:
    """Submit on FATE-Flow (the initiator schedules); (job_id, flow_id)."""
    flow = flow_id()
    return site.fate.submit(DAG, conf(FATE_ID, hulian_dataset), flow), flow


def fate_task_running(site: Site, job_id: str) -> None:
    wait_for(lambda: site.fate.party_tasks(job_id), lambda v: "RUNNING" in v.values(), JOB_SECONDS,
             f"FATE-Flow's part of job {job_id}'s task RUNNING")


def running_job(make_site: Callable[..., Site], scheduler: str) -> tuple[Site, str, str]:
    """A site whose job (scheduled by FATE_ID or "node-a") runs on: FATE's part is RUNNING for a minute."""
    site = make_site(fate_env={"FAKE_ALGO_SECONDS": "60"})
    upload(site)
    if scheduler == FATE_ID:
        job_id, flow = fate_schedules(site)
    else:
        flow = flow_id()
        job_id = submit_to_hulian(site, conf(scheduler), flow)
    fate_task_running(site, job_id)
    return site, job_id, flow


def fate_finished(site: Site, job_id: str) -> dict[str, Any]:
    return wait_for(lambda: site.fate.scheduled(job_id), lambda v: v.get("job_status") == "FINISHED", JOB_SECONDS,
                    f"FATE-Flow's job {job_id} FINISHED")


def hulian_finished(site: Site, job_id: str) -> dict[str, Any]:
    return wait_for(lambda: hulian_scheduled(site, job_id), lambda v: v["job_status"] == "FINISHED", JOB_SECONDS,
                    f"hulian's job {job_id} FINISHED")


def hulian_part_finished(site: Site, job_id: str, flow: str, timeout: float = 30) -> None:
    wait_for(lambda: hulian_job(site, job_id, flow), lambda v: v == "FINISHED", timeout,
             f"hulian's part of job {job_id} FINISHED")


def fate_party_finished(site: Site, job_id: str, flow: str) -> dict[str, str]:
    """FATE-Flow as a party: its job FINISHED; its task states by task id."""
    wait_for(lambda: site.fate.party_job(job_id, flow), lambda v: v == "FINISHED", JOB_SECONDS,
             f"FATE-Flow's part of job {job_id} FINISHED")
    return site.fate.party_tasks(job_id)


def fate_schedules_to_success(site: Site) -> None:
    """FATE-Flow initiates and schedules, hulian is its partner: FINISHED on both sides, tasks SUCCESS."""
    job_id, flow = fate_schedules(site)
    assert job_id.isdigit()  # FATE's ids: a timestamp and a counter, not the spec's "job-" + 32 hex
    assert fate_finished(site, job_id)["status"] == {TASK: "SUCCESS"}
    (task_id, state), = site.fate.party_tasks(job_id).items()
    assert UUID.match(task_id) and state == "SUCCESS"  # uuid task ids, not "task_" + 32 hex
    hulian_part_finished(site, job_id, flow)  # FATE's final job/stop reached the node
    assert hulian_task(site, task_id)["status"] == "SUCCESS"


def hulian_schedules_to_success(site: Site) -> None:
    """hulian initiates and schedules, FATE-Flow is its partner (it never calls back: polled)."""
    flow = flow_id()
    job_id = submit_to_hulian(site, conf("node-a"), flow)
    status = hulian_finished(site, job_id)
    assert party_states(status) == {"guest.0": "SUCCESS", "host.0": "SUCCESS"}, status
    assert fate_party_finished(site, job_id, flow) == {status["tasks"][0]["task_id"]: "SUCCESS"}
