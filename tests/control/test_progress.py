"""Progress and metrics of running tasks in task/poll replies and status_all: local parties' from the component
runtime's `progress(task_id, role)`, remote parties' as their poll replies reported them."""
from __future__ import annotations

import time
from typing import Any

from hulian.control import paths as P
from hulian.control.scheduler import reported_progress
from hulian.control.states import combine_progress
from tests.control.fate_standin import FateStandIn
from tests.control.inprocess import components, make_app, running, two_task_job, with_params
from tests.control.test_api import ok, wait_parties


class HulianParty(FateStandIn):
    """A remote party whose task/poll replies carry progress and metrics, as a hulian node's do."""

    def answer(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if path == P.POLL:
            data = {"status": "RUNNING", "message": "", "progress": 0.25, "metrics": {"rows": 10, "bad": [1]}}
            return 200, {"code": 0, "msg": "success", "data": data}
        return super().answer(method, path, query, body)


def test_local_progress_is_in_poll_and_status_all(tmp_path, monkeypatch):
    with running(make_app(tmp_path)) as client:
        reported = {"guest.0": {"progress": 0.5, "metrics": {"rows": 7, "stage": "blind"}},
                    "host.0": {"progress": 0.75, "metrics": {"rows": 9, "bytes": 1024}}}

        async def progress(task_id: str, role: str) -> dict[str, Any]:
            return reported[role]
        monkeypatch.setattr(components(client), "progress", progress)
        job_id = ok(client.post(P.NS_CREATE_ALL, json=with_params(two_task_job(), "psi_0", hold=True)))["job_id"]
        data = wait_parties(client, job_id, "psi_0")
        psi = next(t for t in data["tasks"] if t["task_name"] == "psi_0")
        assert psi["progress"] == 0.5  # the slowest party
        assert psi["metrics"] == {"rows": 7, "stage": "blind", "bytes": 1024}
        assert {r: (p["progress"], p["metrics"]) for r, p in psi["parties"].items()} == \
            {r: (v["progress"], v["metrics"]) for r, v in reported.items()}
        stats = next(t for t in data["tasks"] if t["task_name"] == "stats_0")
        assert (stats["progress"], stats["metrics"]) == (None, {})  # not started: nothing reported
        poll = ok(client.post(P.POLL, json={"task_id": psi["task_id"], "role": "host.0"}))
        assert poll == {"status": "RUNNING", "message": "", "progress": 0.75, "metrics": {"rows": 9, "bytes": 1024}}


def test_remote_progress_comes_from_the_partys_poll_reply(tmp_path):
    party = HulianParty().start()
    try:
        app = make_app(tmp_path)
        app.state.node.config.peer("fate").url = party.url
        with running(app) as client:
            job = with_params(two_task_job(guest="n1", host="fate"), "psi_0", hold=True)
            job_id = ok(client.post(P.NS_CREATE_ALL, json=job))["job_id"]
            deadline = time.monotonic() + 10
            while True:
                data = ok(client.get(P.NS_STATUS_ALL, params={"job_id": job_id}))
                host = next(t for t in data["tasks"] if t["task_name"] == "psi_0")["parties"].get("host.0", {})
                if host.get("progress") is not None:
                    break
                assert time.monotonic() < deadline, data
                time.sleep(0.05)
            assert host["node_id"] == "fate" and host["progress"] == 0.25
            assert host["metrics"] == {"rows": 10}  # a metric that is neither a number nor a string is dropped
    finally:
        party.stop()


def test_reported_progress_keeps_what_is_well_formed():
    assert reported_progress({"progress": 1, "metrics": {"auc": 0.9, "phase": "fit"}}) == \
        (1.0, {"auc": 0.9, "phase": "fit"})
    assert reported_progress({"progress": 1.5, "metrics": {"x": float("nan"), "ok": True}}) == (None, {})
    assert reported_progress({"progress": "half", "metrics": [1]}) == (None, {})
    assert combine_progress([]) == {"progress": None, "metrics": {}}
    assert combine_progress([{"progress": None, "metrics": {"a": 1}}, {"progress": 0.2, "metrics": {"a": 2}}]) == \
        {"progress": 0.2, "metrics": {"a": 1}}
