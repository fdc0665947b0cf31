"""From a job's DAG/CONF to the component layer's `TaskLaunch` for one (task, local party), and the aggregation of
party states into a task state (control spec and FATE's precedence)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hulian.component.launch import Resources, TaskLaunch, TaskState
from hulian.core.config import NodeConfig
from hulian.wire import dag as D

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


def inst_of(config: NodeConfig, node_id: str) -> str:
    if node_id == config.node_id:
        return config.inst_id
    peer = config.peer(node_id)
    return peer.inst_id if peer else ""


def task_timeout(config: NodeConfig, conf: D.Conf, task: str, parties: Iterable[str]) -> float:
    """The task's timeout in seconds: the largest `system.timeout` of its parties, else the node default."""
    values = [D.split_system(D.task_parameters(conf, task, p))[1].timeout for p in parties]
    return max(values, default=0) or config.control.task_timeout_seconds


def build_launch(config: NodeConfig, job_id: str, dag: D.Dag, conf: D.Conf, task: str, task_id: str, party: str,
                 task_ids: dict[str, str], description: dict[str, Any] | None) -> TaskLaunch:
    comp = dag.component(task)
    assert comp is not None
    params, system = D.split_system(D.task_parameters(conf, task, party))
    ins, params = D.inputs(dag, job_id, task, party, params, task_ids, description)
    res = D.resources(conf, party, system)
    parties = conf.parties()
    return TaskLaunch(
        job_id=job_id, task_id=task_id, task_name=task, session_id=f"session_{job_id}", component=comp.component,
        provider=comp.provider or comp.code, version=comp.version, role=party, parties=parties,
        insts={p: inst_of(config, n) for p, n in parties.items()}, parameters=params, inputs=ins,
        outputs=D.outputs(dag, job_id, task, task_id, party),
        resources=Resources(cpu=res["cpu"], memory=int(res["memory"]), disk=int(res["disk"])),
        timeout_seconds=system.timeout or config.control.task_timeout_seconds, max_retries=system.max_retries,
        trace_id=job_id)
