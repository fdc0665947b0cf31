"""A real FATE-Flow 2.2.0 site and a hulian node schedule jobs for each other: both directions to FINISHED, a
task failing on either side, a stop from either side. FATE-Flow calls the node as it does in production: plain
HTTP, underscore headers, an empty x_auth_sign, numeric job ids, uuid task ids, polls with role ""."""
from __future__ import annotations

from pathlib import Path

from tests.fateflow import jobs
from tests.fateflow.conftest import FATE_ID, MARKS

pytestmark = MARKS


def test_fate_schedules_hulian_partner_finishes(make_site):
    site = make_site()
    jobs.upload(site)
    jobs.fate_schedules_to_success(site)


def test_hulian_schedules_fate_partner_finishes(make_site):
    site = make_site()
    jobs.upload(site)
    jobs.hulian_schedules_to_success(site)


def test_fate_task_failure_reaches_hulian_scheduler(make_site):
    site = make_site(fate_env={"FAKE_ALGO_RESULT": "FAILED"})  # the only FATE party: FATE's part fails
    jobs.upload(site)
    flow = jobs.flow_id()
    job_id = jobs.submit_to_hulian(site, jobs.conf("node-a"), flow)
    status = jobs.hulian_finished(site, job_id)
    assert status["tasks"][0]["status"] == "FAILED"
    assert jobs.party_states(status)["host.0"] == "FAILED", status
    assert FATE_ID in status["message"], status  # the job's message names the failing node
    assert set(jobs.fate_party_finished(site, job_id, flow).values()) == {"FAILED"}


def test_hulian_task_failure_reaches_fate_scheduler(make_site):
    site = make_site(fate_env={"FAKE_ALGO_SECONDS": "20"})  # FATE's part runs on until the failure stops it
    job_id, flow = jobs.fate_schedules(site, hulian_dataset=jobs.MISSING)  # no such dataset on the hulian node
    assert jobs.fate_finished(site, job_id)["status"] == {jobs.TASK: "FAILED"}
    (task_id, state), = site.fate.party_tasks(job_id).items()
    assert state == "FAILED"
    part = jobs.hulian_task(site, task_id)
    assert part["status"] == "FAILED" and jobs.MISSING in part["message"], part
    node_dir = str(Path(site.hulian.node.config).parent)
    assert node_dir not in part["message"], part  # the peer learns the address and the reason, not our paths
    jobs.hulian_part_finished(site, job_id, flow)


def test_hulian_stops_a_job_fate_schedules(make_site):
    site, job_id, flow = jobs.running_job(make_site, FATE_ID)
    jobs.hulian_stop_all(site, job_id)  # the partner's user: hulian forwards stop_all to FATE's scheduler
    assert jobs.fate_finished(site, job_id)["status"] == {jobs.TASK: "FAILED"}
    assert set(site.fate.party_tasks(job_id).values()) == {"FAILED"}
    jobs.hulian_part_finished(site, job_id, flow)


def test_fate_stops_a_job_hulian_schedules(make_site):
    site, job_id, flow = jobs.running_job(make_site, "node-a")
    site.fate.stop_job(job_id)  # FATE's user stops it: FATE sends stop_all to the scheduler, hulian
    status = jobs.hulian_finished(site, job_id)
    # FATE stops its own part first, then asks the scheduler: hulian reads either that failure or the stop
    assert status["tasks"][0]["status"] == "FAILED" and FATE_ID in status["message"], status
    assert set(jobs.fate_party_finished(site, job_id, flow).values()) == {"FAILED"}
