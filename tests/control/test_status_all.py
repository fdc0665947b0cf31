"""status_all across vendors and the recovery that rests on it (issue 12, defect 1): a party asks its
scheduler in the spec's form first (POST, job_id in the query and the JSON body), then GET with both, and keeps
the form the scheduler answered; a party that missed a job/stop learns it from status_all, and logs every
attempt that fails; a scheduler whose job/stop did not reach a party sends it again, from the database, until
the party answers, also after a restart. The schedulers and parties here are FATE-Flow's, Kuscia's and the
spec's answers served by a stand-in HTTP server (tests/control/fate_standin.py)."""
from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from hulian.control import paths as P
from hulian.control import repo
from tests.control.fate_standin import FateStandIn
from tests.control.inprocess import component_states, make_app, running, two_task_job, with_params

FATE = {"x_node_id": "fate", "x_auth_sign": "", "x_nonce": "n", "x_trace_id": ""}
JOB = "202401010000042"  # FATE's numeric job ids
TASK = "3f1c2a4e-8b7d-4c55-9a0e-2f6d1b7c9e10"  # and uuid4 task ids


def ok(resp) -> dict:
    out = resp.json()
    assert out["code"] == 0, out
    return out["data"]


def app_with(tmp_path, standin: FateStandIn):
    """This node (n1), with the route table's peer `fate` served by the stand-in."""
    app = make_app(tmp_path)
    app.state.node.config.peer("fate").url = standin.url
    return app


@pytest.fixture
def standin():
    server = FateStandIn().start()
    yield server
    server.stop()


def party_of_fates_job(client, hold: bool = True) -> None:
    """n1 as host of a job the FATE scheduler created, started, and whose psi_0 it started here."""
    body = {"job_id": JOB, **with_params(two_task_job(guest="fate", host="n1"), "psi_0", hold=hold)}
    ok(client.post(P.CREATE, json=body, headers=FATE))
    ok(client.post(P.START_JOB, json={"job_id": JOB}, headers=FATE))
    ok(client.post(P.START_TASK, json={"job_id": JOB, "task_id": TASK, "task_name": "psi_0"}, headers=FATE))


@pytest.mark.parametrize(("flavour", "first", "then"), [
    ("fate", ["POST", "GET"], ["GET"]),
    ("kuscia", ["POST", "GET"], ["GET"]),
    ("spec", ["POST"], ["POST"]),
])
def test_status_all_reaches_every_kind_of_scheduler(tmp_path, flavour, first, then):
    """`hulian job status` on a party proxies status_all to the scheduler, whichever form it serves."""
    standin = FateStandIn(flavour).start()
    try:
        standin.jobs[JOB] = {"job_status": "RUNNING", "status": {"psi_0": "RUNNING"}}
        with running(app_with(tmp_path, standin)) as client:
            party_of_fates_job(client)
            assert ok(client.get(P.NS_STATUS_ALL, params={"job_id": JOB}))["job_status"] == "RUNNING"
            asked = [c for c in standin.calls if c[1] == P.STATUS_ALL]
            assert [c[0] for c in asked] == first
            assert all(c[2] == {"job_id": JOB} and c[3] == {"job_id": JOB} for c in asked)  # query and body
            standin.calls.clear()
            assert ok(client.get(P.NS_STATUS_ALL, params={"job_id": JOB}))["status"] == {"psi_0": "RUNNING"}
            assert standin.paths() == [P.STATUS_ALL] * len(then) and standin.paths(then[0]) == [P.STATUS_ALL]
    finally:
        standin.stop()


def test_party_stops_a_job_its_fate_scheduler_ended_while_it_was_away(tmp_path, standin, caplog):
    """FATE never polls back: the party's watchdog asks FATE's status_all, and stops the job FATE ended."""
    with running(app_with(tmp_path, standin)) as client:
        party_of_fates_job(client)
        svc = client.app.state.node.control
        standin.jobs[JOB] = {"job_status": "RUNNING", "status": {"psi_0": "RUNNING"}}
        client.portal.call(svc.watchdog.check_schedulers)
        assert ok(client.get(P.NS_JOB_LIST))["job_list"][JOB] == "RUNNING"
        standin.jobs[JOB] = {"job_status": "FINISHED", "status": {"psi_0": "FAILED"}}
        svc.watchdog.asked.clear()  # the watchdog asks each job's scheduler every 15 s; the test does not wait
        with caplog.at_level(logging.INFO, logger="hulian.control"):
            client.portal.call(svc.watchdog.check_schedulers)
        assert ok(client.get(P.NS_JOB_LIST))["job_list"][JOB] == "FINISHED"
        assert component_states(client)[(TASK, "host.0")] == ("FAILED", "stopped")
        assert f"job {JOB} ended at its scheduler fate; stopping it here" in caplog.text


def test_every_failed_recovery_attempt_is_logged(tmp_path, standin, caplog):
    """The watchdog is never silently inert: each attempt that fails is a WARNING naming the scheduler, the job
    and why (scheduler down; scheduler answering neither form)."""
    with running(app_with(tmp_path, standin)) as client:
        party_of_fates_job(client)
        svc = client.app.state.node.control
        for setup, reason in ((lambda: None, "in either form (POST: code 6000"), (standin.stop, "did not answer")):
            setup()
            svc.watchdog.asked.clear()
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="hulian.control"):
                client.portal.call(svc.watchdog.check_schedulers)
            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert any("recovery" in w and "scheduler fate" in w and JOB in w and reason in w for w in warnings), \
                warnings
        assert ok(client.get(P.NS_JOB_LIST))["job_list"][JOB] == "RUNNING"  # nothing decided on no answer


def test_a_stop_a_party_missed_is_sent_again_after_a_restart(tmp_path, standin, caplog):
    """The scheduler (n1) stops a job while its FATE party is down: the job/stop stays queued in the database,
    survives a restart of n1, and reaches the party when it is back."""
    job = with_params(two_task_job(guest="n1", host="fate"), "psi_0", hold=True)
    with running(app_with(tmp_path, standin)) as client:
        job_id = ok(client.post(P.NS_CREATE_ALL, json=job))["job_id"]
        deadline = time.monotonic() + 10
        while P.POLL not in standin.paths():  # the party has its task; the scheduler polls it
            assert time.monotonic() < deadline, standin.paths()
            time.sleep(0.05)
        standin.stop()
        with caplog.at_level(logging.WARNING, logger="hulian.control"):
            ok(client.post(P.NS_STOP_ALL, json={"job_id": job_id}))
        assert ok(client.get(P.NS_STATUS_ALL, params={"job_id": job_id}))["job_status"] == "FINISHED"
        assert f"job/stop of job {job_id} did not reach node fate (attempt 1" in caplog.text
        svc = client.app.state.node.control
        queued = client.portal.call(svc.db.run, lambda c: repo.outbox_rows(c, job_id))
        assert [(r["node_id"], r["path"]) for r in queued] == [("fate", P.STOP)]
    standin.calls.clear()
    standin.start()  # the party is back, on the same address
    with running(app_with(tmp_path, standin)) as client:  # and so is the scheduler, restarted
        svc = client.app.state.node.control
        deadline = time.monotonic() + 20  # the watchdog's first pass, 5 s after the start
        while {"job_id": job_id} not in standin.bodies(P.STOP):
            assert time.monotonic() < deadline, standin.calls
            time.sleep(0.1)
        while client.portal.call(svc.db.run, lambda c: repo.outbox_rows(c, job_id)):
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_silent_peer_holds_a_delivery_pass_for_one_timeout_only(tmp_path):
    """Stops queued for a peer that accepts connections and never answers: one pass of the watchdog tries the
    first, then leaves the others for their next attempt (before, each waited out its own request timeout, and
    the watchdog's other duties with it)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; nobody ever answers
        app = make_app(tmp_path)
        app.state.node.config.peer("fate").url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with running(app) as client:
            svc = client.app.state.node.control
            now = time.time()
            rows = [{"key": f"k{i}", "job_id": f"job-{i}", "node_id": "fate", "path": P.STOP,
                     "body": json.dumps({"job_id": f"job-{i}"}), "attempts": 0, "next_at": now, "last_error": "",
                     "created_at": now + i} for i in range(3)]
            client.portal.call(svc.db.run, lambda c: repo.add_outbox(c, rows))
            started = time.monotonic()
            client.portal.call(svc.peers.deliver_pending)
            took = time.monotonic() - started
            timeout = client.app.state.node.config.control.request_timeout_seconds
            assert timeout <= took < 2.5 * timeout, took  # three calls in a row would take 3 timeouts
            queued = client.portal.call(svc.db.run, lambda c: repo.outbox_rows(c))
            assert [(r["attempts"], r["next_at"] > now) for r in queued] == [(1, True)] * 3
            assert all(r["last_error"] for r in queued)
