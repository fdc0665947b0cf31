"""Defect 1 of issue 12 with a real FATE-Flow: FATE's `status_all` reads `job_id` from a JSON body (even on GET)
and FATE never polls back. A hulian partner must ask FATE in the form FATE reads (its user's `job status`, and
its watchdog recovering a missed `job/stop`), and a hulian scheduler must retry `job/stop` until the partner
answers: the partner down while the scheduler sends `job/stop`, then restarted, must converge to a terminal
state on both sides."""
from __future__ import annotations

from tests.fateflow import jobs, pairing
from tests.fateflow.conftest import FATE_ID, MARKS, wait_for

pytestmark = MARKS
# a restarted hulian partner asks the scheduler within its watchdog period (5 s) and the ask interval (15 s)
CONVERGE_SECONDS = 60


def test_hulian_partner_down_during_fate_stop_converges(make_site):
    site, job_id, flow = jobs.running_job(make_site, FATE_ID)
    assert jobs.hulian_job(site, job_id, flow) == "RUNNING"
    pairing.stop(site.hulian)
    site.fate.stop_job(job_id)  # FATE's job/stop to the hulian node finds nobody
    jobs.fate_finished(site, job_id)
    pairing.start(site.hulian)
    jobs.hulian_part_finished(site, job_id, flow, CONVERGE_SECONDS)  # it asks FATE's status_all


def test_fate_partner_down_during_hulian_stop_converges(make_site):
    site, job_id, flow = jobs.running_job(make_site, "node-a")
    site.fate.stop()
    jobs.hulian_stop_all(site, job_id)
    jobs.hulian_finished(site, job_id)
    site.fate.start()
    assert wait_for(lambda: site.fate.party_job(job_id, flow), lambda v: v == "FINISHED", CONVERGE_SECONDS,
                    "the restarted FATE partner's job FINISHED (hulian retries job/stop)") == "FINISHED"


def test_hulian_partner_reads_fate_scheduler_status(make_site):
    """`hulian job status` on the partner: the node proxies status_all to FATE's scheduler, in the form FATE
    reads (GET with job_id in a JSON body; FATE answers other forms with HTTP 200 and code 6000 or 5001)."""
    site = make_site()
    jobs.upload(site)
    job_id, _ = jobs.fate_schedules(site)
    jobs.fate_finished(site, job_id)
    status = jobs.hulian_scheduled(site, job_id)
    assert status["job_status"] == "FINISHED" and status["status"] == {jobs.TASK: "SUCCESS"}, status
