"""Only a job's parties (and its scheduler) may read or change it over the east-west routes (issue 12, defect
4): a node in no job is refused with 4003 on every route that names a job or a task, whether this node
schedules the job or is a party of a job another node schedules. Two outsiders: `mallory`, unknown to this
node, and `kuscia`, a route-table peer that is simply not in these jobs (the party check itself, whatever
the identity layer does with unknown nodes). Callers declare themselves by header here (TLS off, in process)."""
from __future__ import annotations

import time

import pytest

from hulian.control import paths as P
from tests.control.fate_standin import FateStandIn
from tests.control.inprocess import make_app, running, two_task_job, with_params

FATE = {"x_node_id": "fate", "x_auth_sign": "", "x_nonce": "n", "x_trace_id": ""}
THEIRS = "202401010000009"  # scheduled by fate, this node n1 is the host
HELD = "t-held"


def ok(resp) -> dict:
    assert resp.json()["code"] == 0, resp.json()
    return resp.json()["data"]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """n1 schedules `ours` (both parties local, psi held running) and is host of fate's job THEIRS."""
    with running(make_app(tmp_path_factory.mktemp("parties"))) as client:
        ours = ok(client.post(P.NS_CREATE_ALL, json=with_params(two_task_job(), "psi_0", hold=True)))["job_id"]
        theirs = {"job_id": THEIRS, **with_params(two_task_job(guest="fate", host="n1"), "psi_0", hold=True)}
        ok(client.post(P.CREATE, json=theirs, headers=FATE))
        ok(client.post(P.START_JOB, json={"job_id": THEIRS}, headers=FATE))
        ok(client.post(P.START_TASK, json={"job_id": THEIRS, "task_id": HELD, "task_name": "psi_0"}, headers=FATE))
        deadline = time.monotonic() + 10
        while not (tasks := ok(client.get(P.NS_STATUS_ALL, params={"job_id": ours}))["tasks"])[0]["parties"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client.ours, client.ours_task = ours, tasks[0]["task_id"]
        client.theirs = theirs
        yield client


def _cases(client) -> dict[str, tuple[str, str, dict]]:
    ours, task = client.ours, client.ours_task
    return {
        "create_all": ("POST", P.CREATE_ALL, {**two_task_job(guest="fate", host="n1"), "job_id": "job-m"}),
        "create": ("POST", P.CREATE, client.theirs),
        "create_new": ("POST", P.CREATE, {**client.theirs, "job_id": "job-new-by-mallory"}),
        "start": ("POST", P.START_JOB, {"job_id": THEIRS}),
        "task_start": ("POST", P.START_TASK, {"job_id": THEIRS, "task_id": "t-m", "task_name": "stats_0"}),
        "stop": ("POST", P.STOP, {"job_id": THEIRS}),
        "stop_all": ("POST", P.STOP_ALL, {"job_id": ours}),
        "stop_all_theirs": ("POST", P.STOP_ALL, {"job_id": THEIRS}),
        "status_all_post": ("POST", P.STATUS_ALL + f"?job_id={ours}", {"job_id": ours}),
        "status_all_get": ("GET", P.STATUS_ALL, {"job_id": ours}),
        "status_all_theirs": ("POST", P.STATUS_ALL, {"job_id": THEIRS}),
        "poll": ("POST", P.POLL, {"task_id": HELD, "role": ""}),
        "poll_ours": ("POST", P.POLL, {"task_id": task, "role": "guest.0"}),
        "callback": ("POST", P.CALLBACK, {"task_id": task, "role": "guest.0", "status": "FAILED"}),
        "audit_confirm": ("POST", P.AUDIT_CONFIRM, {"job_id": ours, "status": "REJECTED"}),
        "task_log": ("POST", P.TASK_LOG, {"task_id": HELD, "role": "host.0"}),
        "task_stop": ("POST", P.TASK_STOP, {"task_id": HELD}),
        "task_stop_ours": ("POST", P.TASK_STOP, {"task_id": task}),
    }




@pytest.mark.parametrize("outsider", ["mallory", "kuscia"])
@pytest.mark.parametrize("case", ["create_all", "create", "create_new", "start", "task_start", "stop", "stop_all",
                                  "stop_all_theirs", "status_all_post", "status_all_get", "status_all_theirs",
                                  "poll", "poll_ours", "callback", "audit_confirm", "task_log", "task_stop",
                                  "task_stop_ours"])
def test_a_node_outside_the_job_is_refused(node, case, outsider):
    method, path, body = _cases(node)[case]
    resp = node.request(method, path, json=body, headers={"x-node-id": outsider})
    out = resp.json()
    assert out["code"] == 4003 and resp.status_code == 403, (case, out)
    assert outsider in out["msg"], out
    assert "tasks" not in str(out["data"]), out  # nothing of the job's view


def test_nothing_changed_for_the_parties(node):
    """After mallory's attempts both jobs run on, and their parties still read them."""
    assert ok(node.get(P.NS_STATUS_ALL, params={"job_id": node.ours}))["job_status"] == "RUNNING"
    assert ok(node.post(P.POLL, json={"task_id": HELD, "role": ""}, headers=FATE))["status"] == "RUNNING"
    ok(node.post(P.TASK_LOG, json={"task_id": HELD, "role": "host.0"}, headers=FATE))
    resp = node.post(P.CREATE, json={**node.theirs, "job_id": "job-new-by-mallory"}, headers=FATE)
    assert ok(resp) == {"status": "READY"}  # the job's party may create it


def test_a_scheduler_outside_the_job_is_named_in_its_conf(tmp_path):
    """An initiator whose control.scheduler_node_id is no party of the job names that scheduler in the CONF
    (job_params.common.scheduler_node_id), and a party accepts job/create from the scheduler named there."""
    standin = FateStandIn().start()
    try:
        app = make_app(tmp_path, scheduler_node_id="fate")
        app.state.node.config.peer("fate").url = standin.url
        with running(app) as client:
            job_id = ok(client.post(P.NS_CREATE_ALL, json=two_task_job()))["job_id"]  # n1 both parties
            [sent] = standin.bodies(P.CREATE_ALL)
            assert sent["job_id"] == job_id and sent["config"]["job_params"]["common"] == {
                "sync_type": "poll", "scheduler_node_id": "fate"}
            create = {"job_id": job_id, "dag": sent["dag"], "config": sent["config"]}
            assert ok(client.post(P.CREATE, json=create, headers=FATE)) == {"status": "READY"}
            resp = client.post(P.CREATE, json={**create, "job_id": "job-other"}, headers={"x-node-id": "kuscia"})
            assert resp.json()["code"] == 4003
    finally:
        standin.stop()


def test_a_party_that_is_not_the_scheduler_does_not_drive_the_job(node):
    """Of a job's parties, only its scheduler starts it, starts its tasks and stops it here: fate, the guest of a
    job kuscia schedules, is refused each (it reads the job, it does not drive it)."""
    job_id = "202401010000077"
    job = {"job_id": job_id, **two_task_job(guest="fate", host="n1")}
    job["config"]["job_params"]["common"]["scheduler_node_id"] = "kuscia"
    assert ok(node.post(P.CREATE, json=job, headers={"x-node-id": "kuscia"})) == {"status": "READY"}
    for path, body in ((P.START_JOB, {"job_id": job_id}),
                       (P.START_TASK, {"job_id": job_id, "task_id": "t-by-fate", "task_name": "psi_0"}),
                       (P.STOP, {"job_id": job_id})):
        out = node.post(path, json=body, headers=FATE).json()
        assert out["code"] == 4003 and "only the job's scheduler" in out["msg"], (path, out)
    assert ok(node.get(P.NS_JOB_LIST))["job_list"][job_id] == "READY"
