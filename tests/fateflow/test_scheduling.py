"""A real FATE-Flow 2.2.0 site and a hulian node schedule jobs for each other: both directions to FINISHED, a
task failing on either side, a stop from either side. FATE-Flow calls the node as it does in production: plain
HTTP, underscore headers, an empty x_auth_sign, numeric job ids, uuid task ids, polls with role ""."""
from __future__ import annotations

import re

import pytest

from tests.fateflow import jobs
from tests.fateflow.conftest import FATE_ID, wait_for

pytestmark = [pytest.mark.fateflow, pytest.mark.timeout(180)]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
JOB_SECONDS = 60  # a one-task job with 1 s stand-in tasks takes a few seconds; this bounds a busy machine


def fate_schedules(site, hulian_dataset: str = jobs.DATASET) -> tuple[str, str]:
    """Submit on FATE-Flow (the initiator schedules); (job_id, flow_id)."""
    flow = jobs.flow_id()
    return site.fate.submit(jobs.DAG, jobs.conf(FATE_ID, hulian_dataset), flow), flow


def fate_finished(site, job_id: str) -> dict:
    return wait_for(lambda: site.fate.scheduled(job_id), lambda v: v.get("job_status") == "FINISHED", JOB_SECONDS,
                    f"FATE-Flow's job {job_id} FINISHED")


def hulian_finished(site, job_id: str) -> dict:
    return wait_for(lambda: jobs.hulian_scheduled(site, job_id), lambda v: v["job_status"] == "FINISHED",
                    JOB_SECONDS, f"hulian's job {job_id} FINISHED")


def fate_party_finished(site, job_id: str, flow: str) -> dict[str, str]:
    """FATE-Flow as a party: its job FINISHED; its task states by task id."""
    wait_for(lambda: site.fate.party_job(job_id, flow), lambda v: v == "FINISHED", JOB_SECONDS,
             f"FATE-Flow's part of job {job_id} FINISHED")
    return site.fate.party_tasks(job_id)


def test_fate_schedules_hulian_partner_finishes(make_site):
    site = make_site()
    jobs.upload(site)
    job_id, flow = fate_schedules(site)
    assert job_id.isdigit()  # FATE's ids: a timestamp and a counter, not the spec's "job-" + 32 hex
    assert fate_finished(site, job_id)["status"] == {jobs.TASK: "SUCCESS"}
    (task_id, state), = site.fate.party_tasks(job_id).items()
    assert UUID.match(task_id) and state == "SUCCESS"  # uuid task ids, not "task_" + 32 hex
    assert wait_for(lambda: jobs.hulian_job(site, job_id, flow), lambda v: v == "FINISHED", 30,
                    "hulian's part FINISHED (FATE's final job/stop)") == "FINISHED"
    assert jobs.hulian_task(site, task_id)["status"] == "SUCCESS"


def test_hulian_schedules_fate_partner_finishes(make_site):
    site = make_site()
    jobs.upload(site)
    flow = jobs.flow_id()
    job_id = jobs.submit_to_hulian(site, jobs.conf("node-a"), flow)
    status = hulian_finished(site, job_id)
    assert jobs.party_states(status) == {"guest.0": "SUCCESS", "host.0": "SUCCESS"}, status
    task_id = status["tasks"][0]["task_id"]
    assert fate_party_finished(site, job_id, flow) == {task_id: "SUCCESS"}


def test_fate_task_failure_reaches_hulian_scheduler(make_site):
    site = make_site(fate_env={"FAKE_ALGO_RESULT": "FAILED"})  # the only FATE party: FATE's part fails
    jobs.upload(site)
    flow = jobs.flow_id()
    job_id = jobs.submit_to_hulian(site, jobs.conf("node-a"), flow)
    status = hulian_finished(site, job_id)
    assert status["tasks"][0]["status"] == "FAILED"
    assert jobs.party_states(status)["host.0"] == "FAILED", status
    assert FATE_ID in status["message"], status  # the job's message names the failing node
    assert set(fate_party_finished(site, job_id, flow).values()) == {"FAILED"}


def test_hulian_task_failure_reaches_fate_scheduler(make_site):
    site = make_site(fate_env={"FAKE_ALGO_SECONDS": "20"})  # FATE's part runs on until the failure stops it
    job_id, flow = fate_schedules(site, hulian_dataset=jobs.MISSING)  # no such dataset on the hulian node
    assert fate_finished(site, job_id)["status"] == {jobs.TASK: "FAILED"}
    (task_id, state), = site.fate.party_tasks(job_id).items()
    assert state == "FAILED"
    part = jobs.hulian_task(site, task_id)
    assert part["status"] == "FAILED" and jobs.MISSING in part["message"], part
    assert wait_for(lambda: jobs.hulian_job(site, job_id, flow), lambda v: v == "FINISHED", 30,
                    "hulian's part FINISHED") == "FINISHED"


def test_hulian_stops_a_job_fate_schedules(make_site):
    site = make_site(fate_env={"FAKE_ALGO_SECONDS": "60"})
    jobs.upload(site)
    job_id, flow = fate_schedules(site)
    wait_for(lambda: site.fate.scheduled(job_id), lambda v: v.get("job_status") == "RUNNING", JOB_SECONDS,
             "FATE-Flow's job RUNNING")
    with site.hulian.admin() as c:  # the partner's user stops it: hulian forwards stop_all to FATE's scheduler
        reply = c.post("/v1/platform/schedule/job/stop_all", json={"job_id": job_id}).json()
    assert reply["code"] == 0, reply
    assert fate_finished(site, job_id)["status"] == {jobs.TASK: "FAILED"}
    assert set(site.fate.party_tasks(job_id).values()) == {"FAILED"}
    assert wait_for(lambda: jobs.hulian_job(site, job_id, flow), lambda v: v == "FINISHED", 30,
                    "hulian's part FINISHED") == "FINISHED"


def test_fate_stops_a_job_hulian_schedules(make_site):
    site = make_site(fate_env={"FAKE_ALGO_SECONDS": "60"})
    jobs.upload(site)
    flow = jobs.flow_id()
    job_id = jobs.submit_to_hulian(site, jobs.conf("node-a"), flow)
    wait_for(lambda: site.fate.party_tasks(job_id), lambda v: "RUNNING" in v.values(), JOB_SECONDS,
             "FATE-Flow's part of the task RUNNING")
    site.fate.stop_job(job_id)  # FATE's user stops it: FATE sends stop_all to the scheduler, hulian
    status = hulian_finished(site, job_id)
    # FATE stops its own part first, then asks the scheduler: hulian reads either that failure or the stop
    assert status["tasks"][0]["status"] == "FAILED" and FATE_ID in status["message"], status
    assert set(fate_party_finished(site, job_id, flow).values()) == {"FAILED"}
