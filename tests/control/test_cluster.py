"""Jobs on two real nodes (TLS with client certificates, real component processes): a two-task job (ecdh_psi
then statistics) to FINISHED, a failing component failing the job on both parties with its error at the
initiator, and the scheduler killed with -9 mid-job and restarted."""
from __future__ import annotations

import csv
import os
import signal
import time
from pathlib import Path

import pytest

from hulian.control import paths as P
from hulian.core.config import load_config
from hulian.data.registry import register_dataset, storage_url
from hulian.data.storage import open_storage
from hulian.node import cluster
from hulian.node.cluster import ClusterNode
from tests.conftest import container_client

pytestmark = pytest.mark.cluster


def add_dataset(node: ClusterNode, tmp: Path, name: str, keys: range) -> None:
    path = tmp / f"{node.node_id}-{name}.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "x"])
        w.writerows([f"id{k:04d}", k * 0.5] for k in keys)
    register_dataset(open_storage(storage_url(load_config(node.config))), "test", name, path)


def job(a: ClusterNode, b: ClusterNode, host_dataset: str = "test#host", recv_timeout: int = 60) -> dict:
    dag = {"version": "1.0", "components": [
        {"name": "psi_0", "componentName": "ecdh_psi", "provider": "hulian", "version": "1.0.0", "input": [],
         "output": [{"type": "dataset", "key": "result"}]},
        {"name": "stats_0", "componentName": "statistics", "provider": "hulian", "version": "1.0.0",
         "input": [{"type": "dataset", "key": "psi_0.result"}], "output": [{"type": "report", "key": "report"}]}]}
    conf = {"version": "1.0", "initiator": {"role": "guest", "node_id": a.node_id},
            "role": {"guest": [a.node_id], "host": [b.node_id]},
            "job_params": {"common": {"sync_type": "poll"}},
            "task_params": {"common": {"psi_0": {"recv_timeout": recv_timeout, "curve_type": "curve25519"},
                                       "stats_0": {"columns": ["x"]}},
                            "guest": {"0": {"psi_0": {"dataset_id": "test#guest"}}},
                            "host": {"0": {"psi_0": {"dataset_id": host_dataset}}}}}
    return {"dag": dag, "config": conf}


def call(node: ClusterNode, method: str, path: str, **kw) -> dict:
    """A north-south call as the platform's user makes it: with the node's admin token."""
    with container_client(node) as c:
        out = c.request(method, path, headers={"x-ptp-token": node.admin_token}, **kw).json()
    assert out["code"] == 0, out
    return out["data"]


def wait_finished(node: ClusterNode, job_id: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    data: dict = {}
    while time.monotonic() < deadline:
        try:
            data = call(node, "GET", P.NS_STATUS_ALL, params={"job_id": job_id})
        except Exception as e:  # a node restarting
            data = {"error": str(e)}
        if data.get("job_status") == "FINISHED":
            return data
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not FINISHED within {timeout}s: {data}")


@pytest.fixture
def pair(make_cluster, tmp_path):
    a, b = make_cluster(2, extra={"control": {"poll_interval_seconds": 0.5}})
    add_dataset(a, tmp_path, "guest", range(0, 300))
    add_dataset(b, tmp_path, "host", range(100, 500))
    return a, b


def task_states(data: dict) -> dict[str, str]:
    return {t["task_name"]: t["status"] for t in data["tasks"]}


def test_two_task_job_finishes_on_both_parties(pair):
    a, b = pair
    job_id = call(a, "POST", P.NS_CREATE_ALL, json=job(a, b))["job_id"]
    data = wait_finished(a, job_id)
    assert task_states(data) == {"psi_0": "SUCCESS", "stats_0": "SUCCESS"}, data
    assert data["tasks"][0]["parties"].keys() == {"guest.0", "host.0"}
    seen_by_b = call(b, "GET", P.NS_STATUS_ALL, params={"job_id": job_id})  # proxied to the scheduler
    assert seen_by_b["job_status"] == "FINISHED"
    assert call(b, "GET", P.NS_JOB_LIST)["job_list"][job_id] == "FINISHED"
    stats_id = next(t["task_id"] for t in data["tasks"] if t["task_name"] == "stats_0")
    assert call(a, "GET", P.NS_LOG_LINE, params={"task_id": stats_id, "role": "host.0"})["num"] > 0


def test_platform_routes_need_the_admin_token(pair):
    a, b = pair
    with container_client(a) as c:
        out = c.post(P.NS_CREATE_ALL, json=job(a, b))
        wrong = c.get(P.NS_STATUS_ALL, params={"job_id": "x"}, headers={"x-ptp-token": "not-the-token"})
    assert out.status_code == 403 and out.json()["code"] == 4003 and "admin token" in out.json()["msg"]
    assert wrong.json()["code"] == 4003


def test_failing_component_fails_the_job_everywhere(pair):
    a, b = pair
    t0 = time.monotonic()
    job_id = call(a, "POST", P.NS_CREATE_ALL, json=job(a, b, host_dataset="test#missing"))["job_id"]
    data = wait_finished(a, job_id, timeout=60)
    assert time.monotonic() - t0 < 15, "one party's failure must end the job within seconds"
    psi = next(t for t in data["tasks"] if t["task_name"] == "psi_0")
    assert psi["status"] == "FAILED"
    assert psi["parties"]["host.0"]["status"] == "FAILED"
    assert "missing" in data["message"] and "host.0" in data["message"], data["message"]
    assert task_states(data)["stats_0"] == "PENDING"
    deadline = time.monotonic() + 20  # the guest's half, waiting for its peer, is stopped too
    while time.monotonic() < deadline and psi["parties"]["guest.0"]["status"] not in ("FAILED", "SUCCESS"):
        time.sleep(0.3)
        data = call(a, "GET", P.NS_STATUS_ALL, params={"job_id": job_id})
        psi = next(t for t in data["tasks"] if t["task_name"] == "psi_0")
    assert psi["parties"]["guest.0"]["status"] == "FAILED"
    assert call(b, "GET", P.NS_JOB_LIST)["job_list"][job_id] == "FINISHED"
    log = call(a, "GET", P.NS_LOG, params={"task_id": psi["task_id"]})  # the failing party's log, via a
    assert any("missing" in line for line in log), log


def test_scheduler_killed_mid_job_resumes(pair):
    a, b = pair
    job_id = call(a, "POST", P.NS_CREATE_ALL, json=job(a, b))["job_id"]
    time.sleep(0.5)
    assert call(a, "GET", P.NS_STATUS_ALL, params={"job_id": job_id})["job_status"] in ("READY", "RUNNING")
    os.kill(a.pid, signal.SIGKILL)
    time.sleep(0.5)
    a.pid = cluster.start_node(a.config)
    cluster.wait_healthy(a)
    cluster.write_manifest(Path(a.config).parent.parent, [a, b])
    data = wait_finished(a, job_id)
    assert task_states(data) == {"psi_0": "SUCCESS", "stats_0": "SUCCESS"}, data
    assert f"resuming job {job_id}" in (Path(a.config).parent / "node.log").read_text()


def test_scheduler_named_in_conf(pair):
    """The initiator hands the job to the scheduler the CONF names; both read its status there."""
    a, b = pair
    body = job(a, b)
    body["config"]["job_params"]["common"]["scheduler_node_id"] = b.node_id
    job_id = call(a, "POST", P.NS_CREATE_ALL, json=body)["job_id"]
    data = wait_finished(a, job_id)  # a proxies status_all to b
    assert task_states(data) == {"psi_0": "SUCCESS", "stats_0": "SUCCESS"}, data
    assert call(b, "GET", P.NS_STATUS_ALL, params={"job_id": job_id})["job_status"] == "FINISHED"
