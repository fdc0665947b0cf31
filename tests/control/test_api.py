"""The control routes in process (TLS off, callers declared by header) over the real component layer, whose
test components are local processes (tests/control/component.py) told by the job's task_params to succeed,
fail or hold: the scheduler running one-node jobs, FATE-Flow's and Kuscia's request shapes, and envelopes for
bad input."""
from __future__ import annotations

import time

import pytest

from hulian.control import paths as P
from hulian.control.envelope import parse_reply
from tests.control.inprocess import component_states, launches, make_app, running, two_task_job, with_params


@pytest.fixture
def node(tmp_path):
    with running(make_app(tmp_path, success_code_by_peer={"kuscia": 200})) as client:
        yield client


def ok(resp, code: int = 0):
    body = resp.json()
    assert resp.status_code == 200 and body["code"] == code, body
    return body["data"]


def wait_status(client, job_id: str, want: str = "FINISHED", timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = ok(client.get(P.NS_STATUS_ALL, params={"job_id": job_id}))
        if data["job_status"] == want:
            return data
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not {want}: {data}")


def wait_parties(client, job_id: str, task_name: str, want: str = "RUNNING", timeout: float = 10.0) -> dict:
    """Until every party of the task is in state `want` (the component layer has reported it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = ok(client.get(P.NS_STATUS_ALL, params={"job_id": job_id}))
        task = next((t for t in data["tasks"] if t["task_name"] == task_name), None)
        if task and task["parties"] and all(p["status"] == want for p in task["parties"].values()):
            return data
        time.sleep(0.05)
    raise AssertionError(f"task {task_name} of job {job_id} not {want} everywhere: {data}")


def test_two_task_job_runs_to_finished(node):
    client = node
    job_id = ok(client.post(P.NS_CREATE_ALL, json={**two_task_job(), "flow_id": "flow-1"}))["job_id"]
    assert job_id.startswith("job-")
    data = wait_status(client, job_id)
    tasks = {t["task_name"]: t for t in data["tasks"]}
    assert {t["status"] for t in tasks.values()} == {"SUCCESS"}
    assert data["status"]["psi_0"] == "SUCCESS" and data["status"][tasks["stats_0"]["task_id"]] == "SUCCESS"
    psi_id = tasks["psi_0"]["task_id"]
    runs = launches(client)
    assert len(runs) == 4  # two tasks, two parties each, all on this node
    launch = runs[(tasks["stats_0"]["task_id"], "host.0")]
    assert launch.inputs == {"data": {"namespace": f"{job_id}-host-0", "name": f"{psi_id}-result"}}
    assert launch.parameters == {"columns": ["a"]} and launch.session_id == f"session_{job_id}"
    assert runs[(psi_id, "guest.0")].inputs == {"data": {"namespace": "ns", "name": "guest"}}
    assert ok(client.get(P.NS_JOB_LIST, params={"flow_id": "flow-1"})) == {"job_list": {job_id: "FINISHED"}}
    # the component's captured output: the process manager's header line, then what it printed
    lines = ok(client.get(P.NS_LOG, params={"task_id": psi_id, "role": "host.0"}))
    assert lines[0].startswith("--- hulian: psi for host.0") and lines[1:] == [f"host.0 line {i}" for i in range(3)]
    assert ok(client.get(P.NS_LOG, params={"task_id": psi_id, "role": "host.0", "start": 2, "length": 1})) == \
        ["host.0 line 1"]
    assert ok(client.get(P.NS_LOG_LINE, params={"task_id": psi_id, "log_level": "info"})) == {"num": 4}
    # idempotent: a repeated east-west create_all of the same job is accepted
    body = {**two_task_job(), "job_id": job_id, "flow_id": "flow-1"}
    assert ok(client.post(P.CREATE_ALL, json=body)) == {"job_id": job_id}


def test_an_ended_job_leaves_no_scheduler_state_behind(node):
    """A long-running scheduler keeps per-job state only while a job is walked."""
    job_id = ok(node.post(P.NS_CREATE_ALL, json=two_task_job()))["job_id"]
    wait_status(node, job_id)
    scheduler = node.app.state.node.control.scheduler
    deadline = time.monotonic() + 5
    while job_id in scheduler._walkers and time.monotonic() < deadline:  # the walk ends just after FINISHED
        time.sleep(0.05)
    assert all(job_id not in state for state in (scheduler._walkers, scheduler._wake, scheduler._polled,
                                                 scheduler._locks))


def test_failed_party_stops_the_job_with_its_error(node):
    client = node
    job = with_params(two_task_job(), "psi_0", "host.0", fail="host exploded: table missing")
    job_id = ok(client.post(P.NS_CREATE_ALL, json=job))["job_id"]
    data = wait_status(client, job_id)
    tasks = {t["task_name"]: t for t in data["tasks"]}
    assert tasks["psi_0"]["status"] == "FAILED"
    assert "host exploded" in data["message"] and "host.0" in data["message"]
    assert tasks["psi_0"]["parties"]["host.0"]["message"] == "host exploded: table missing"
    assert tasks["stats_0"]["status"] == "PENDING"  # never started
    lines = ok(client.get(P.NS_LOG, params={"task_id": tasks["psi_0"]["task_id"]}))  # the failed party's
    assert lines[0].startswith("--- hulian: psi for host.0") and "host exploded: table missing" in lines


def test_stop_task_cascades_downstream(node):
    client = node
    job_id = ok(client.post(P.NS_CREATE_ALL, json=with_params(two_task_job(), "psi_0", hold=True)))["job_id"]
    wait_parties(client, job_id, "psi_0", "RUNNING")
    ok(client.post(P.NS_STOP_TASK, json={"job_id": job_id, "task_name": "psi_0"}))
    data = wait_status(client, job_id)
    assert {t["task_name"]: t["status"] for t in data["tasks"]} == {"psi_0": "FAILED", "stats_0": "FAILED"}
    states = component_states(client)
    assert len(states) == 2 and set(states.values()) == {("FAILED", "stopped")}  # both psi processes killed
    ok(client.post(P.NS_STOP_ALL, json={"job_id": job_id}))  # stopping a finished job is a no-op


def test_callback_sync_type(node):
    client = node
    job_id = ok(client.post(P.NS_CREATE_ALL, json=two_task_job(sync_type="callback")))["job_id"]
    assert wait_status(client, job_id)["status"]["stats_0"] == "SUCCESS"


TASK_UUID = "9b2e4c1a-7f3d-4e8b-a6c5-1d2e3f4a5b6c"  # FATE's task ids are uuid4


def fate_headers() -> dict[str, str]:
    return {"x_node_id": "fate", "x_auth_sign": "", "x_nonce": "n", "x_trace_id": "",
            "x_timestamp": str(int(time.time() * 1000))}


def test_fate_flow_scheduler_drives_us_as_a_party(node):
    """FATE as scheduler: underscore headers, code 0, poll with role "" and before task/start."""
    client = node
    job = two_task_job(guest="fate", host="n1")
    body = {"job_id": "202401010000001", **job}
    hdr = fate_headers()
    assert ok(client.post(P.CREATE, json=body, headers=hdr)) == {"status": "READY"}
    ok(client.post(P.CREATE, json=body, headers=hdr))  # duplicate create
    ok(client.post(P.START_JOB, json={"job_id": body["job_id"]}, headers=hdr))
    ok(client.post(P.START_JOB, json={"job_id": body["job_id"]}, headers=hdr))
    assert ok(client.post(P.POLL, json={"task_id": TASK_UUID, "role": ""}, headers=hdr))["status"] == "PENDING"
    start = {"job_id": body["job_id"], "task_id": TASK_UUID, "task_name": "psi_0"}
    ok(client.post(P.START_TASK, json=start, headers=hdr))
    ok(client.post(P.START_TASK, json=start, headers=hdr))
    assert list(launches(client)) == [(TASK_UUID, "host.0")]
    deadline = time.monotonic() + 5
    while ok(client.post(P.POLL, json={"task_id": TASK_UUID, "role": ""}, headers=hdr))["status"] != "SUCCESS":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ok(client.post(P.STOP, json={"job_id": body["job_id"], "task_name": "psi_0"}, headers=hdr))
    ok(client.post(P.STOP, json={"job_id": body["job_id"]}, headers=hdr))
    resp = client.post(P.START_TASK, json={**start, "task_id": "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                                           "task_name": "stats_0"}, headers=hdr)
    assert resp.json()["code"] == 4010  # the job is FINISHED
    # another node may not drive this job
    resp = client.post(P.START_JOB, json={"job_id": body["job_id"]}, headers={"x-node-id": "kuscia"})
    assert resp.json()["code"] == 4003


def test_fate_reads_status_all_by_get_with_json_body(node):
    client = node
    job_id = ok(client.post(P.NS_CREATE_ALL, json=two_task_job()))["job_id"]
    wait_status(client, job_id)
    resp = client.request("GET", P.STATUS_ALL, json={"job_id": job_id}, headers={"x_node_id": "n1"})
    data = ok(resp)
    assert data["job_status"] == "FINISHED" and data["status"]["psi_0"] == "SUCCESS"
    assert ok(client.post(P.STATUS_ALL + f"?job_id={job_id}"))["job_status"] == "FINISHED"


def test_kuscia_shapes_get_code_200(node):
    client = node
    job = with_params(two_task_job(guest="kuscia", host="n1"), "psi_0", hold=True)
    for comp in job["dag"]["components"]:
        comp["module_name"] = comp.pop("componentName")
        comp["code"] = "test-image"
    body = {"job_id": "kjob-1", **job}
    hdr = {"X-Node-Id": "kuscia", "X-Timestamp": str(int(time.time()))}  # seconds
    assert ok(client.post(P.CREATE, json=body, headers=hdr), code=200)["status"] == "READY"
    ok(client.post(P.START_JOB, json={"job_id": "kjob-1"}, headers=hdr), code=200)
    ok(client.post(P.START_TASK, json={"job_id": "kjob-1", "task_id": "kjob-1-abc", "task_name": "psi_0"},
                   headers=hdr), code=200)
    assert launches(client)[("kjob-1-abc", "host.0")].provider == "test"
    ok(client.post(P.TASK_STOP, json={"task_id": "kjob-1-abc"}, headers=hdr), code=200)
    assert component_states(client)[("kjob-1-abc", "host.0")] == ("FAILED", "stopped")


def test_peer_replies_are_read_liberally():
    assert parse_reply(200, b'{"code": 200, "message": "ok", "data": {"status": "RUNNING"}}')[0]
    assert parse_reply(200, b'{"code": "0", "msg": "", "data": {}}')[0]
    assert parse_reply(200, b'{"code": 0, "message": "success"}') == (True, 0, "success", None)  # FATE: no data
    assert not parse_reply(200, b'{"code": 6000, "message": "task not found"}')[0]
    assert parse_reply(200, b'{"code": 400, "msg": "Job already exists"}')[2] == "Job already exists"
    assert not parse_reply(500, b"<html>")[0]


@pytest.mark.parametrize(("method", "path", "body", "code", "names"), [
    ("POST", P.NS_CREATE_ALL, {}, 4001, "dag"),
    ("POST", P.NS_CREATE_ALL, {"dag": {"components": []}, "config": {}}, 4001, "dag.components"),
    ("POST", P.CREATE, {"job_id": 5, "dag": 1}, 4001, "dag"),
    ("POST", P.START_JOB, {}, 4000, "job_id"),
    ("POST", P.START_JOB, {"job_id": "nope"}, 4004, "nope"),
    ("POST", P.POLL, {"role": "guest"}, 4000, "task_id"),
    ("POST", P.CALLBACK, {"task_id": "t", "status": "WEIRD"}, 4000, "status"),
    ("POST", P.NS_CALLBACK, {"task_id": "t", "status": "SUCCESS", "role": "guest.0"}, 4005, "t"),
    ("GET", P.NS_LOG, {"task_id": "t", "log_level": "verbose"}, 4000, "log_level"),
    ("GET", P.NS_STATUS_ALL, {}, 4000, "job_id"),
    ("POST", P.NS_REGISTER, {"component_info": "x"}, 4000, "component_info"),
    ("POST", P.AUDIT_CONFIRM, {"job_id": "j", "status": "MAYBE"}, 4004, "j"),
    ("GET", P.CREATE, {}, 4006, "no route GET"),
    ("POST", P.EW + "/job/nothing", {}, 4006, "no route"),
])
def test_bad_input_gets_a_code_and_a_message(node, method, path, body, code, names):
    client = node
    resp = client.request(method, path, json=body) if method == "POST" else client.get(path, params=body)
    out = resp.json()
    assert out["code"] == code and names in out["msg"], out
    assert resp.status_code < 500


def test_not_json_body(node):
    client = node
    out = client.post(P.CREATE, content=b"{nope", headers={"content-type": "application/json"}).json()
    assert out["code"] == 4000 and "JSON" in out["msg"]


def test_oversized_body_is_refused(node):
    """A body over the control plane's limit, with a Content-Length or chunked, gets 4000 naming the limit
    (that it is refused as it streams, not after it is read whole, is not observable here)."""
    too_big = node.app.state.node.config.limits.control_body_bytes + 1
    declared = node.post(P.CREATE, content=b"x" * too_big, headers={"content-type": "application/json"})
    assert declared.status_code == 400 and declared.json()["code"] == 4000
    assert f"of {too_big} bytes exceeds" in declared.json()["msg"] and "limits.control_body_bytes" in declared.text
    chunks = (b"x" * (1 << 20) for _ in range((too_big >> 20) + 1))  # chunked: no Content-Length
    streamed = node.post(P.CREATE, content=chunks, headers={"content-type": "application/json"})
    assert streamed.status_code == 400 and streamed.json()["code"] == 4000 and "exceeds" in streamed.json()["msg"]


def test_task_timeout_fails_the_job(tmp_path):
    job = with_params(two_task_job(), "psi_0", hold=True, system={"timeout": 0.3})
    with running(make_app(tmp_path, timeout_grace_seconds=0)) as client:
        job_id = ok(client.post(P.NS_CREATE_ALL, json=job))["job_id"]
        data = wait_status(client, job_id)
        assert "timed out" in data["message"], data
        runs = launches(client)
        assert len(runs) == 2 and {psi.timeout_seconds for psi in runs.values()} == {0.3}  # the component layer
        assert next(iter(runs.values())).parameters == {"hold": True}  # gets it too, not as a parameter
        states = component_states(client)
        assert {s for s, _ in states.values()} == {"FAILED"}, states  # killed everywhere


def test_scheduler_resumes_from_the_database(tmp_path):
    """A node that restarts (new app on the same database) finishes the job a previous run left RUNNING."""
    release = tmp_path / "release-psi"
    job = with_params(two_task_job(), "psi_0", hold=str(release))
    with running(make_app(tmp_path), stop_runs=False) as client:  # going down leaves the psi processes be
        job_id = ok(client.post(P.NS_CREATE_ALL, json=job))["job_id"]
        wait_parties(client, job_id, "psi_0", "RUNNING")
    with running(make_app(tmp_path)) as client:  # restarted: its component layer adopts the psi runs
        # the first node may go down before its scheduler folds the parties' RUNNING into the task's state:
        # the restarted one does it on its next pass
        deadline = time.monotonic() + 10
        while (data := wait_status(client, job_id, "RUNNING"))["status"]["psi_0"] != "RUNNING" \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert data["status"]["psi_0"] == "RUNNING"
        release.touch()  # the psi processes end well while the restarted node watches them
        data = wait_status(client, job_id, timeout=20)
        assert {t["status"] for t in data["tasks"]} == {"SUCCESS"}, data
        assert len(launches(client)) == 4  # psi ran once per party, not again


def test_unreachable_party_rejects_the_job(node):
    client = node
    job = two_task_job(guest="n1", host="fate")  # fate's url answers nothing
    out = client.post(P.NS_CREATE_ALL, json={**job, "job_id": "job-r"}).json()
    assert out["code"] == 5002 and "node fate refused the job" in out["msg"], out
    data = ok(client.get(P.NS_STATUS_ALL, params={"job_id": "job-r"}))
    assert data["job_status"] == "REJECTED" and "fate" in data["message"]


def test_audit_confirm_rejected(node):
    client = node
    job_id = ok(client.post(P.NS_CREATE_ALL, json=with_params(two_task_job(), "psi_0", hold=True)))["job_id"]
    ok(client.post(P.AUDIT_CONFIRM, json={"job_id": job_id, "status": "READY"}))
    ok(client.post(P.AUDIT_CONFIRM, json={"job_id": job_id, "status": "REJECTED"}))
    assert wait_status(client, job_id, "REJECTED")["message"] == "rejected by node n1"
