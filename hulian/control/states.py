"""The states of the control spec (CTL §1.4) and how party states make a task's.

Task states are the component runtime's (`hulian.component.TaskState`, shared by both sides); job states are
the control plane's own.
"""
from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from hulian.component import TaskState

__all__ = ["JobState", "TaskState", "aggregate", "combine_progress"]


class JobState(StrEnum):
    """Job states of the control spec: PENDING→READY→RUNNING→FINISHED, or REJECTED."""

    PENDING = "PENDING"
    READY = "READY"
    REJECTED = "REJECTED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"

    @property
    def ended(self) -> bool:
        """Nothing more happens to a job in one of `JOB_ENDED`."""
        return self in JOB_ENDED


JOB_ENDED = frozenset({JobState.FINISHED, JobState.REJECTED})

# FATE's precedence (bfia_api.md §1.4): FAILED if any party failed, else RUNNING, READY, PENDING, SUCCESS.
_PRECEDENCE = (TaskState.FAILED, TaskState.RUNNING, TaskState.READY, TaskState.PENDING, TaskState.SUCCESS)


def aggregate(rows: Iterable[dict[str, Any]]) -> tuple[TaskState, str]:
    """(state, message) of a task over its party rows; the message names the failing party and its error."""
    rows = list(rows)
    if not rows:
        return TaskState.PENDING, ""
    states = {TaskState(r["status"]) for r in rows}
    state = next(s for s in _PRECEDENCE if s in states)
    if state == TaskState.FAILED:
        failed = [r for r in rows if r["status"] == TaskState.FAILED]
        return state, "; ".join(f"{r['role']} on node {r['node_id']}: {r['message'] or 'failed'}" for r in failed)
    if TaskState.SUCCESS in states and state in (TaskState.PENDING, TaskState.READY):
        state = TaskState.RUNNING  # some parties finished, others not yet: the task is under way
    return state, ""


def combine_progress(reports: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One task's `{"progress", "metrics"}` over its parties' reports: the least progress reported (a task is as
    far as its slowest party; None when none reported) and their metrics merged (the first party's value of a
    metric several report)."""
    reports = list(reports)
    values = [r["progress"] for r in reports if r.get("progress") is not None]
    metrics: dict[str, Any] = {}
    for r in reports:
        metrics.update({k: v for k, v in (r.get("metrics") or {}).items() if k not in metrics})
    return {"progress": min(values) if values else None, "metrics": metrics}
