"""`hulian job status`'s table: states per party, and the progress and metrics components report."""
from __future__ import annotations

import re

from hulian.cli.platform import status_table


def _job(**guest: object) -> dict:
    """A status_all reply as the scheduler sends it: a task's progress is the least of its parties'."""
    task_progress = {"progress": guest["progress"]} if "progress" in guest else {}
    return {"job_id": "j1", "job_status": "RUNNING", "tasks": [
        {"task_name": "psi_0", "status": "RUNNING", **task_progress,
         "parties": {"guest.0": {"status": "RUNNING", **guest}, "host.0": {"status": "RUNNING"}}}]}


def test_states_per_party_without_progress() -> None:
    out = status_table(_job())
    assert out.splitlines()[0] == "job j1: RUNNING"
    assert re.search(r"^\s+task\s+state\s+guest\.0\s+host\.0$", out, re.M), out
    assert re.search(r"psi_0\s+RUNNING\s+RUNNING\s+RUNNING$", out, re.M), out
    assert "progress" not in out


def test_progress_and_metrics_are_shown() -> None:
    out = status_table(_job(progress=0.25, metrics={"rows": 1000, "stage": "blind"}, message=""))
    assert re.search(r"task\s+state\s+guest\.0\s+host\.0\s+progress", out), out
    assert re.search(r"psi_0\s+RUNNING\s+RUNNING\s+RUNNING\s+25%", out), out
    assert "psi_0 guest.0: rows=1000 stage=blind" in out


def test_task_level_progress_wins_and_a_long_row_is_not_cut() -> None:
    job = _job()
    job["tasks"][0].update(progress=1, metrics={"auc": 0.9})
    job["message"] = "x" * 300
    out = status_table(job)
    assert "100%" in out and "psi_0: auc=0.9" in out and "x" * 300 in out
