"""A party's side of a job's lifecycle (control spec §3.2): accept a job (create), start it and its tasks on the
local component runtime, answer polls, stop, show a task's log, and report local state changes to the job's
scheduler. The scheduler's side is `scheduler.py`.

Handlers of peer calls take `(body, caller)` — the parsed request and the authenticated calling node — and
return the reply's `data`; the scheduler calls its own node through the same handlers, without HTTP.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hulian.control import paths as P
from hulian.control.envelope import role_matches, role_of
from hulian.control.fields import Body, canonical, integer, text
from hulian.control.jobs import Jobs
from hulian.control.peers import Peers
from hulian.control.planning import build_launch, task_roles
from hulian.control.ports import ComponentRuntime
from hulian.control.public import public_text
from hulian.control.repo import ControlRepo, Row
from hulian.control.states import JobState, TaskState, aggregate, combine_progress
from hulian.core.config import NodeConfig
from hulian.core.errors import (
    ControlError,
    Forbidden,
    IllegalState,
    JobConflict,
    NoComponentLayer,
    TaskNotFound,
)
from hulian.wire import dag as D

log = logging.getLogger("hulian.control")


class Party:
    def __init__(self, config: NodeConfig, repo: ControlRepo, jobs: Jobs, peers: Peers,
                 wake: Callable[[str], None], spawn: Callable[[Awaitable[Any], str], None]):
        self.config, self.repo, self.jobs, self.peers = config, repo, jobs, peers
        self.me = config.node_id
        self.runtime: ComponentRuntime | None = None  # wired in by hulian.node
        self._wake, self._spawn = wake, spawn  # the scheduler's walk of a job; a background task

    # ---- the component runtime ------------------------------------------------------------------------------
    def describe(self, component: str, version: str | None = None) -> dict[str, Any] | None:
        return self.runtime.description(component, version) if self.runtime is not None else None

    def validator(self) -> D.Describe | None:
        return self.describe if self.runtime is not None else None

    def require_runtime(self) -> ComponentRuntime:
        if self.runtime is None:
            raise NoComponentLayer(f"node {self.me!r} runs no component layer")
        return self.runtime

    # ---- job/create, job/start, task/start ------------------------------------------------------------------
    async def create(self, body: Body, caller: str, raw_dag: Any, raw_conf: Any, conf: D.Conf) -> Body:
        """job/create of a parsed job (the service parses it against this node's components)."""
        job_id = text(body, "job_id")
        if self.me not in conf.nodes():
            raise Forbidden(f"node {self.me!r} is not a party of job {job_id!r} (config.role)")
        named = (conf.job_params.get("common") or {}).get("scheduler_node_id")
        if caller != self.me and caller not in conf.nodes() and caller != named:
            raise Forbidden(f"node {caller!r} is neither a party of job {job_id!r} (config.role) nor its scheduler "
                            "(job_params.common.scheduler_node_id)")
        content = (canonical(raw_dag), canonical(raw_conf))
        old = await self.repo.create_job({}, job_id=job_id, flow_id=text(body, "flow_id", required=False),
                                         dag=content[0], conf=content[1], status=JobState.READY, scheduler=caller,
                                         message="")
        if old is not None and (old["dag"], old["conf"]) != content:
            raise JobConflict(f"job_id {job_id!r} exists with a different dag/config")
        return {"status": JobState.READY}

    async def start_job(self, body: Body, caller: str) -> Body:
        job = await self.jobs.job(text(body, "job_id"))
        self.jobs.check_scheduler(job, caller)
        if JobState(job["status"]).ended:
            raise IllegalState(f"job {job['job_id']!r} is {job['status']}; it cannot start again")
        if job["scheduler"] != self.me and job["status"] != JobState.RUNNING:
            await self.repo.update_job(job["job_id"], status=JobState.RUNNING)
        return {}

    async def start_task(self, body: Body, caller: str) -> Body:
        job_id, task_id, task_name = text(body, "job_id"), text(body, "task_id"), text(body, "task_name")
        job = await self.jobs.job(job_id)
        self.jobs.check_scheduler(job, caller)
        if JobState(job["status"]).ended:
            raise IllegalState(f"job {job_id!r} is {job['status']}; task/start of {task_name!r} refused")
        dag, conf = self.jobs.spec(job)
        comp = dag.component(task_name)
        if comp is None:
            raise TaskNotFound(f"task_name {task_name!r} is not in the DAG of job {job_id!r}")
        known = await self.repo.tasks(job_id)
        same = next((t for t in known if t["task_name"] == task_name), None)
        if same is not None and same["task_id"] and same["task_id"] != task_id:
            raise IllegalState(f"task {task_name!r} of job {job_id!r} already runs as task_id {same['task_id']!r}")
        if job["scheduler"] != self.me:
            await self.repo.start_local_task(job, task_name, task_id)
        task_ids = {t["task_name"]: t["task_id"] for t in known if t["task_id"]} | {task_name: task_id}
        description = self.describe(comp.component, comp.version or None)
        parties = conf.parties()
        for party in task_roles(conf, description):
            if parties[party] != self.me:
                continue
            row = await self.repo.ensure_party(task_id=task_id, role=party, job_id=job_id, task_name=task_name,
                                               node_id=self.me, status=TaskState.READY, message="")
            if not TaskState(row["status"]).ended:  # the component layer's start is idempotent
                await self._launch(job, task_name, task_id, party, task_ids, description)
        return {}

    async def _launch(self, job: Row, task: str, task_id: str, party: str, task_ids: dict[str, str],
                      description: dict[str, Any] | None) -> None:
        dag, conf = self.jobs.spec(job)
        try:
            runtime = self.require_runtime()
            await runtime.start(build_launch(self.config, job["job_id"], dag, conf, task, task_id, party, task_ids,
                                             description))
        except Exception as e:  # the component layer refused: the task fails with its reason
            reason = e.message if isinstance(e, ControlError) else f"{type(e).__name__}: {e}"
            log.warning("task %s (%s) could not start as %s: %s", task, task_id, party, reason)
            await self.on_status(task_id, party, TaskState.FAILED, f"start failed: {reason}")

    async def relaunch(self, row: Row) -> None:
        """Start again a local (task, role) the runtime has no record of (a crash between recording and start)."""
        job = await self.jobs.job(row["job_id"])
        if JobState(job["status"]).ended:
            return
        dag, _ = self.jobs.spec(job)
        known = await self.repo.tasks(row["job_id"])
        comp = dag.component(row["task_name"])
        assert comp is not None
        log.info("relaunching task %s (%s) as %s", row["task_name"], row["task_id"], row["role"])
        await self.repo.update_party(row["task_id"], row["role"])
        await self._launch(job, row["task_name"], row["task_id"], row["role"],
                           {t["task_name"]: t["task_id"] for t in known if t["task_id"]},
                           self.describe(comp.component, comp.version or None))

    # ---- task/poll and the local view of a task ---------------------------------------------------------------
    async def poll(self, body: Body, caller: str) -> Body:
        """This node's state of a task (PENDING for one it has not started yet), with its components' latest
        progress and metrics. `message` is ours."""
        task_id, role = text(body, "task_id"), role_of(body.get("role"))
        await self.jobs.check_task_party(task_id, caller)
        rows = [await self.refresh(r) for r in await self.local_rows(task_id, role)]
        state, message = aggregate(rows)
        return {"status": state.value, "message": public_text(message), **await self.progress(rows)}

    async def progress(self, rows: list[Row]) -> dict[str, Any]:
        """`{"progress", "metrics"}` of local party rows, from the component runtime."""
        if self.runtime is None:
            return combine_progress([])
        return combine_progress([await self.runtime.progress(r["task_id"], r["role"]) for r in rows])

    async def local_rows(self, task_id: str, role: str) -> list[Row]:
        rows = await self.repo.parties(task_id=task_id)
        return [r for r in rows if r["node_id"] == self.me and role_matches(r["role"], role)]

    async def runs_here(self, task_id: str, role: str) -> bool:
        return bool(await self.local_rows(task_id, role))

    async def refresh(self, row: Row) -> Row:
        """A local party row brought up to date with the component layer (the source of truth)."""
        if self.runtime is None or TaskState(row["status"]).ended:
            return row
        state, message = await self.runtime.state(row["task_id"], row["role"])
        return await self.apply_state(row, state, message)

    async def apply_state(self, row: Row, state: TaskState, message: str) -> Row:
        """Record what the component layer says of a local party (PENDING: it has no record: nothing to say)."""
        if state == TaskState.PENDING or (state == row["status"] and message == row["message"]):
            return row
        await self.on_status(row["task_id"], row["role"], state, message)
        return {**row, "status": state.value, "message": message}

    # ---- job/stop ----------------------------------------------------------------------------------------------
    async def stop(self, body: Body, caller: str) -> Body:
        job = await self.jobs.job(text(body, "job_id"))
        self.jobs.check_scheduler(job, caller)
        task_name = text(body, "task_name", required=False)
        dag, _ = self.jobs.spec(job)
        if task_name and dag.component(task_name) is None:
            raise TaskNotFound(f"task_name {task_name!r} is not in the DAG of job {job['job_id']!r}")
        names = set(D.downstream(dag, task_name) if task_name else [c.name for c in dag.components])
        for r in await self.repo.parties(job_id=job["job_id"]):
            if r["node_id"] == self.me and r["task_name"] in names and not TaskState(r["status"]).ended:
                await self.stop_local(r, f"stopped by node {caller}")
        if job["scheduler"] != self.me:
            await self.repo.stop_local_tasks(job, names, f"stopped by node {caller}", whole_job=not task_name)
        return {}

    async def stop_local(self, row: Row, why: str) -> None:
        if self.runtime is not None:
            try:
                await self.runtime.stop(row["task_id"], row["role"])
            except Exception:
                log.exception("component layer failed to stop task %s (%s)", row["task_id"], row["role"])
        await self.repo.update_party(row["task_id"], row["role"], status=TaskState.FAILED, message=why)

    # ---- task/get_log (hulian extension) -----------------------------------------------------------------------
    async def party_log(self, body: Body, caller: str) -> Body:
        """hulian extension: this party's log of a task, for the initiator's get_log."""
        task_id, role = text(body, "task_id"), text(body, "role")
        await self.jobs.check_task_party(task_id, caller)
        rows = await self.local_rows(task_id, role)
        if not rows:
            raise TaskNotFound(f"task_id {task_id!r} has no role {role!r} on node {self.me!r}")
        level = text(body, "log_level", required=False) or "info"
        start, length = integer(body, "start", 0), integer(body, "length", 1000)
        runtime, role = self.require_runtime(), rows[0]["role"]
        lines = await runtime.log(task_id, role, start, length, level) if length else []
        if caller != self.me:  # the initiator's user elsewhere: this node's layout stays here
            lines = [public_text(line) for line in lines]
        return {"lines": lines, "num": await runtime.log_line_count(task_id, role, level), "role": role}

    # ---- state reports of local runs ---------------------------------------------------------------------------
    async def on_status(self, task_id: str, role: str, state: TaskState, message: str = "") -> None:
        """The component layer's report for a local (task, role): record it, tell the scheduler."""
        rows = await self.local_rows(task_id, role)
        if not rows:
            log.warning("status %s for unknown local task %s (%s) ignored", state, task_id, role)
            return
        for row in rows:
            if TaskState(row["status"]).ended or (row["status"] == state and row["message"] == message):
                continue
            await self.repo.update_party(row["task_id"], row["role"], status=state, message=message or "",
                                         last_seen=time.time())
            job = await self.jobs.job(row["job_id"])
            if job["scheduler"] == self.me:
                self._wake(job["job_id"])
                continue
            await self.repo.settle_local_task(job["job_id"], row["task_name"], task_id, self.me)
            _, conf = self.jobs.spec(job)
            if state.ended or conf.sync_type == "callback":
                body = {"task_id": task_id, "role": row["role"], "status": state.value,
                        "message": public_text(message)}
                self._spawn(self._callback_scheduler(job["scheduler"], body), f"callback-{task_id}")

    async def _callback_scheduler(self, scheduler: str, body: Body) -> None:
        try:
            await self.peers.client.call(scheduler, P.CALLBACK, body)
        except ControlError as e:
            log.warning("callback of task %s to scheduler %s failed (it will poll): %s", body["task_id"], scheduler,
                        e.message)


