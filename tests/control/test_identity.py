"""Callers of the control plane on a TLS-off node, in process: an anonymous east-west call is never the node
itself (it stopped a running job: "stopped by node n1"), and north-south routes need the admin token, except a
task callback, which takes that task's own session token and no other (the loopback exemption is gone)."""
from __future__ import annotations

import pytest

from hulian.control import paths as P
from hulian.crypto import tokens
from tests.control.inprocess import make_app, running, two_task_job, with_params
from tests.control.test_api import ok, wait_parties


@pytest.fixture
def node(tmp_path):
    with running(make_app(tmp_path)) as client:
        yield client


def test_an_anonymous_call_does_not_stop_a_running_job(node):
    client = node
    job_id = ok(client.post(P.NS_CREATE_ALL, json=with_params(two_task_job(), "psi_0", hold=True)))["job_id"]
    wait_parties(client, job_id, "psi_0")
    anonymous = {k: v for k, v in client.headers.items() if k not in ("x_node_id", "x-ptp-token")}
    client.headers.clear()
    try:
        out = client.post(P.STOP_ALL, json={"job_id": job_id}, headers=anonymous).json()
        assert out["code"] == 4003 and "names no node" in out["msg"], out
        out = client.get(P.NS_LOG, params={"task_id": "t"}).json()  # north-south: the admin token, always
        assert out["code"] == 4003 and "admin token" in out["msg"], out
    finally:
        client.headers.update({"x-ptp-token": client.app.state.node.config.security.admin_token,
                               "x_node_id": "n1"})
    assert ok(client.get(P.NS_STATUS_ALL, params={"job_id": job_id}))["job_status"] == "RUNNING"


def test_a_task_callback_takes_its_own_session_token_only(node):
    client = node
    job_id = ok(client.post(P.NS_CREATE_ALL, json=with_params(two_task_job(), "psi_0", hold=True)))["job_id"]
    data = wait_parties(client, job_id, "psi_0")
    task_id = next(t["task_id"] for t in data["tasks"] if t["task_name"] == "psi_0")
    secret = client.app.state.node.config.security.token_secret
    body = {"task_id": task_id, "status": "RUNNING", "role": "guest.0"}

    def callback(session: str | None, token: str | None) -> dict:
        headers = {"x-ptp-token": token or ""}
        if session:
            headers["x-ptp-session-id"] = session
        return client.post(P.NS_CALLBACK, json=body, headers=headers).json()

    own = f"session_{job_id}"
    assert callback(own, tokens.issue(secret, own, 60))["code"] == 0
    other = "session_job-of-someone-else"
    out = callback(other, tokens.issue(secret, other, 60))  # a valid token, of another job's session
    assert out["code"] == 4003 and "not the session" in out["msg"], out
    body["task_id"] = "task-that-does-not-exist"  # the same refusal: a session's token learns no task ids
    out = callback(other, tokens.issue(secret, other, 60))
    body["task_id"] = task_id
    assert out["code"] == 4003 and "not the session" in out["msg"], out
    out = callback(own, tokens.issue(tokens.new_secret(), own, 60))  # not minted by this node
    assert out["code"] == 4003, out
    out = callback(None, None)  # from this machine, with nothing: no longer enough
    assert out["code"] == 4003 and "session" in out["msg"], out


def test_a_task_session_token_opens_no_other_platform_route(node):
    """The session token a component holds is for its task's callback only: with it, and its own task named in
    the body, a stop, a status read or a log read still needs the admin token."""
    client = node
    job_id = ok(client.post(P.NS_CREATE_ALL, json=with_params(two_task_job(), "psi_0", hold=True)))["job_id"]
    data = wait_parties(client, job_id, "psi_0")
    task_id = next(t["task_id"] for t in data["tasks"] if t["task_name"] == "psi_0")
    session = f"session_{job_id}"
    token = tokens.issue(client.app.state.node.config.security.token_secret, session, 60)
    headers = {"x-ptp-token": token, "x-ptp-session-id": session}
    body = {"job_id": job_id, "task_id": task_id, "task_name": "psi_0", "role": "guest.0"}
    for path in (P.NS_STOP_ALL, P.NS_STOP_TASK, P.NS_STATUS_ALL, P.NS_LOG, P.NS_JOB_LIST):
        out = client.post(path, json=body, headers=headers).json()
        assert out["code"] == 4003 and "admin token" in out["msg"], (path, out)
    assert ok(client.get(P.NS_STATUS_ALL, params={"job_id": job_id}))["job_status"] == "RUNNING"


def test_without_an_admin_token_configured_the_platform_routes_are_closed(tmp_path):
    """A node with no security.admin_token serves no north-south route to anyone (it says what to set)."""
    app = make_app(tmp_path)
    app.state.node.config.security.admin_token = None
    with running(app) as client:
        client.headers.pop("x-ptp-token", None)
        for headers in ({}, {"x-ptp-token": ""}, {"authorization": "Bearer "}):
            out = client.get(P.NS_JOB_LIST, headers=headers).json()
            assert out["code"] == 4003 and "none is configured" in out["msg"], (headers, out)


def test_a_dataset_upload_needs_the_admin_token(node, tmp_path):
    """Uploading registers data on this node: without the admin token nothing is written, not even the body."""
    client = node
    params = {"namespace": "bank", "name": "people"}
    for headers in ({"x-ptp-token": ""}, {"x-ptp-token": "not-the-admin-token"}):
        out = client.post(P.NS_DATASET_UPLOAD, params=params, content=b"id,age\n1,30\n", headers=headers).json()
        assert out["code"] == 4003 and "admin token" in out["msg"], (headers, out)
    assert not list((tmp_path / "n1").glob("uploads/*")) and not (tmp_path / "n1" / "storage" / "bank").exists()
