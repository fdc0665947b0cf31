"""The scheduler's side of a job (guide §3.1-3.2): fan out create and start, walk the DAG sending task/start with
one task_id per task, sync party states by poll (or callback plus a slow safety poll), aggregate, and stop the
job everywhere when a task fails. All progress is in the database: a restarted node resumes every walk."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from hulian.control import paths as P
from hulian.control.client import PeerError, is_duplicate
from hulian.control.envelope import job_state, role_matches, role_of, task_state
from hulian.control.fields import Body, text
from hulian.control.jobs import Jobs
from hulian.control.party import Party
from hulian.control.peers import Peers
from hulian.control.planning import task_roles, task_timeout
from hulian.control.public import public_text
from hulian.control.repo import ControlRepo, Row
from hulian.control.states import JobState, TaskState, aggregate, combine_progress
from hulian.core.config import NodeConfig
from hulian.core.errors import BadRequest, ControlError, NotScheduler, PeerRefused, TaskNotFound
from hulian.sdk.reported import well_formed
from hulian.wire import dag as D

log = logging.getLogger("hulian.control.scheduler")
ACTIVE = (TaskState.READY, TaskState.RUNNING)


class Scheduler:
    def __init__(self, config: NodeConfig, repo: ControlRepo, jobs: Jobs, peers: Peers, party: Party):
        self.node_config, self.config = config, config.control
        self.repo, self.jobs, self.peers, self.party = repo, jobs, peers, party
        self.me = config.node_id
        self._walkers: dict[str, asyncio.Task] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._polled: dict[str, float] = {}

    # ---- lifecycle ------------------------------------------------------------------------------------------
    async def resume(self) -> None:
        live = (JobState.PENDING, JobState.READY, JobState.RUNNING)
        await self.peers.deliver_now()  # undelivered stops: at once
        rows = await self.repo.jobs_where(scheduler=self.me, statuses=live)
        for job in rows:
            log.info("resuming job %s (%s)", job["job_id"], job["status"])
            self.launch(job["job_id"], resumed=True)

    def launch(self, job_id: str, resumed: bool = False) -> None:
        if job_id in self._walkers and not self._walkers[job_id].done():
            return
        self._wake.setdefault(job_id, asyncio.Event())
        self._walkers[job_id] = asyncio.create_task(self._walk(job_id, resumed), name=f"walk-{job_id}")

    def wake(self, job_id: str) -> None:
        if job_id in self._wake:
            self._wake[job_id].set()

    def lock(self, job_id: str) -> asyncio.Lock:
        return self._locks.setdefault(job_id, asyncio.Lock())

    def _forget(self, job_id: str) -> None:
        """A job's walk has ended: drop its in-memory state (a later walk, e.g. after a restart, makes it anew)."""
        self._walkers.pop(job_id, None)
        self._wake.pop(job_id, None)
        self._polled.pop(job_id, None)
        lock = self._locks.get(job_id)
        if lock is not None and not lock.locked():
            del self._locks[job_id]

    async def close(self) -> None:
        for t in self._walkers.values():
            t.cancel()
        await asyncio.gather(*self._walkers.values(), return_exceptions=True)

    # ---- fan-out ----------------------------------------------------------------------------------------------
    async def create_everywhere(self, job_id: str) -> None:
        """job/create on every party; any refusal rejects the job (and raises with the parties' reasons)."""
        job = await self.jobs.job(job_id)
        _, conf = self.jobs.spec(job)
        body = {"job_id": job_id, "flow_id": job["flow_id"], "dag": json.loads(job["dag"]),
                "config": json.loads(job["conf"])}
        results = await self.peers.broadcast(conf.nodes(), P.CREATE, body)
        refused = {n: e for n, e in results.items()
                   if e is not None and not (isinstance(e, PeerError) and is_duplicate(e))}
        if refused:
            why = "; ".join(f"node {n} refused the job: {e.message}" for n, e in refused.items())
            await self.repo.update_job(job_id, status=JobState.REJECTED, message=why)
            accepted = [n for n in results if n not in refused]
            await self.peers.deliver(job_id, accepted, P.STOP, {"job_id": job_id}, retries=1)
            raise PeerRefused(why)
        await self.repo.update_job(job_id, status=JobState.READY)

    # ---- the walk -----------------------------------------------------------------------------------------------
    async def _walk(self, job_id: str, resumed: bool) -> None:
        """Drive the job until it ends; an unexpected failure (database, bug) is logged and the step retried."""
        while True:
            try:
                ended, resumed = await self._step(job_id, resumed)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduling step of job %s failed; retrying", job_id)
                ended = False
                await asyncio.sleep(max(1.0, 5 * self.config.poll_interval_seconds))
            if ended:
                self._forget(job_id)
                return
            event = self._wake[job_id]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), self.config.poll_interval_seconds)
            event.clear()

    async def _step(self, job_id: str, resumed: bool) -> tuple[bool, bool]:
        """One pass: (ended, still to resend starts)."""
        job = await self.jobs.job(job_id)
        status = JobState(job["status"])
        if status.ended:
            return True, resumed
        if status == JobState.PENDING:
            try:
                await self.create_everywhere(job_id)
            except PeerRefused:
                return True, resumed
            return False, resumed
        if status == JobState.READY:
            await self._start_job(job)
            return False, resumed
        if resumed:
            await self._resend_starts(job)
        await self._sync(job)
        async with self.lock(job_id):
            return await self._advance(job_id), False

    async def _start_job(self, job: Row) -> None:
        _, conf = self.jobs.spec(job)
        results = await self.peers.broadcast(conf.nodes(), P.START_JOB, {"job_id": job["job_id"]})
        failed = {n: e for n, e in results.items() if e is not None}
        if failed:
            why = "; ".join(f"node {n} did not start the job: {e.message}" for n, e in failed.items())
            await self._finish(job["job_id"], why)
            return
        await self.repo.update_job(job["job_id"], status=JobState.RUNNING)

    async def _resend_starts(self, job: Row) -> None:
        """After a restart: task/start again (idempotent) wherever a started task has not ended."""
        tasks, parties = await self.repo.tasks_and_parties(job["job_id"])
        for t in tasks:
            if t["status"] not in ACTIVE:
                continue
            nodes = sorted({p["node_id"] for p in parties if p["task_id"] == t["task_id"]
                            and not TaskState(p["status"]).ended})
            await self._send_task_start(job["job_id"], t["task_id"], t["task_name"], nodes)

    async def _sync(self, job: Row) -> None:
        """Bring party rows up to date: local ones from the component layer, remote ones by task/poll."""
        job_id = job["job_id"]
        _, conf = self.jobs.spec(job)
        interval = (self.config.callback_poll_interval_seconds if conf.sync_type == "callback"
                    else self.config.poll_interval_seconds)
        due = time.monotonic() - self._polled.get(job_id, 0.0) >= interval * 0.9
        rows = [r for r in await self.repo.parties(job_id=job_id) if not TaskState(r["status"]).ended]
        if due:
            self._polled[job_id] = time.monotonic()
        await asyncio.gather(*(self.party.refresh(r) if r["node_id"] == self.me else self._poll(r)
                               for r in rows if r["node_id"] == self.me or due))

    async def _poll(self, row: Row) -> None:
        now = time.time()
        body = {"task_id": row["task_id"], "role": row["role"]}
        try:
            data = await self.peers.client.call(row["node_id"], P.POLL, body, retries=0) or {}
        except PeerError:  # FATE answers code 6000 for a task it has not created yet: not an answer about state
            await self.repo.update_party(row["task_id"], row["role"], last_seen=now)
            return
        except ControlError as e:
            silent = now - row["last_seen"]
            if silent > self.config.party_unreachable_seconds:
                why = f"node {row['node_id']} unreachable for {silent:.0f}s: {e.message}"
                await self.repo.update_party(row["task_id"], row["role"], status=TaskState.FAILED, message=why)
            return
        state = task_state(data.get("status") if isinstance(data, dict) else None) or TaskState(row["status"])
        message = str(data.get("message") or "") if isinstance(data, dict) else ""
        if state == TaskState.PENDING and row["status"] != TaskState.PENDING:
            state = TaskState(row["status"])  # a poll that raced the task/start
        await self.repo.update_party(row["task_id"], row["role"], status=state, message=message, last_seen=now)
        if isinstance(data, dict) and ("progress" in data or "metrics" in data):  # a hulian party's poll reply
            await self.repo.set_progress(row["task_id"], row["role"], row["job_id"], *reported_progress(data))

    async def _advance(self, job_id: str) -> bool:
        """Aggregate, fail, start ready tasks, finish; True when the job has ended."""
        job = await self.jobs.job(job_id)
        if JobState(job["status"]).ended:
            return True
        dag, conf = self.jobs.spec(job)
        tasks, parties = await self.repo.tasks_and_parties(job_id)
        by_name = {t["task_name"]: t for t in tasks}
        now = time.time()
        for t in tasks:
            if t["status"] not in ACTIVE:
                continue
            state, message = aggregate(p for p in parties if p["task_id"] == t["task_id"])
            if not state.ended and t["deadline"] and now > t["deadline"]:
                state = TaskState.FAILED
                message = (f"timed out after {t['deadline'] - t['started_at']:.0f}s (task_params system.timeout "
                           "or control.task_timeout_seconds)")
            if state == TaskState.PENDING:
                state = TaskState.READY
            if state != t["status"] or message != t["message"]:
                t.update(status=state.value, message=message)
                await self.repo.upsert_task(job_id, t["task_name"], status=t["status"], message=t["message"])
        failed = [t for t in tasks if t["status"] == TaskState.FAILED and not t["stopped"]]
        if failed:
            await self._finish(job_id, "; ".join(f"task {t['task_name']} failed: {t['message']}" for t in failed))
            return True
        started = False
        for name in D.order(dag):
            t = by_name[name]
            comp = dag.component(name)
            if t["status"] == TaskState.PENDING and comp is not None and \
                    all(by_name[u]["status"] == TaskState.SUCCESS for u in comp.upstream):
                await self._start_task(job_id, dag, conf, t)
                started = True
        if not started and not any(t["status"] in ACTIVE for t in tasks):
            await self._finish(job_id, "")
            return True
        return False

    async def _start_task(self, job_id: str, dag: D.Dag, conf: D.Conf, t: Row) -> None:
        comp = dag.component(t["task_name"])
        assert comp is not None
        parties = conf.parties()
        roles = task_roles(conf, self.party.describe(comp.component, comp.version or None))
        now = time.time()
        deadline = now + task_timeout(self.node_config, conf, t["task_name"], roles) + \
            self.config.timeout_grace_seconds
        await self.repo.schedule_task(job_id, t, {role: parties[role] for role in roles}, now, deadline)
        t.update(status=TaskState.READY.value)
        log.info("job %s: starting task %s (%s) on %s", job_id, t["task_name"], t["task_id"], roles)
        await self._send_task_start(job_id, t["task_id"], t["task_name"], sorted({parties[r] for r in roles}))

    async def _send_task_start(self, job_id: str, task_id: str, task_name: str, nodes: list[str]) -> None:
        body = {"job_id": job_id, "task_id": task_id, "task_name": task_name}
        results = await self.peers.broadcast(nodes, P.START_TASK, body)
        for node, err in results.items():
            if err is not None:
                await self.repo.fail_node_parties(task_id, node, f"task/start refused by node {node}: {err.message}")
        self.wake(job_id)

    async def _finish(self, job_id: str, failure: str) -> None:
        """Unfinished tasks FAILED, job/stop on every party (they end their job too), then FINISHED here: a
        crash in between repeats the stop after the restart."""
        job = await self.jobs.job(job_id)
        _, conf = self.jobs.spec(job)
        why = f"stopped: {failure}" if failure else "stopped"
        await self.repo.fail_unfinished(job_id, self.me, why, failure)  # local parties: stopped by the job/stop
        if failure:
            log.warning("job %s stopped: %s", job_id, failure)
        else:
            log.info("job %s finished", job_id)
        await self.peers.deliver(job_id, conf.nodes(), P.STOP, {"job_id": job_id})
        await self.repo.update_job(job_id, status=JobState.FINISHED)

    # ---- requests from parties and users ------------------------------------------------------------------
    async def stop(self, job_id: str, task_name: str, by: str) -> None:
        """stop_all: the named task and everything downstream (or the whole job) FAILED, everywhere."""
        async with self.lock(job_id):
            job = await self.jobs.job(job_id)
            if JobState(job["status"]).ended:
                return
            dag, conf = self.jobs.spec(job)
            if task_name and dag.component(task_name) is None:
                raise TaskNotFound(f"task_name {task_name!r} is not in the DAG of job {job_id!r}")
            if not task_name:
                await self._finish(job_id, f"stopped by node {by}")
                return
            names = D.downstream(dag, task_name)
            await self.repo.stop_tasks(job_id, names, f"stopped by node {by}")
            await self.peers.deliver(job_id, conf.nodes(), P.STOP, {"job_id": job_id, "task_name": task_name})
        self.wake(job_id)

    async def reject(self, job_id: str, why: str) -> None:
        async with self.lock(job_id):
            await self._finish(job_id, why)
            await self.repo.update_job(job_id, status=JobState.REJECTED)

    async def callback(self, body: Body, caller: str) -> Body:
        """A party's report to the scheduler (east-west task/callback)."""
        task_id, role = text(body, "task_id"), role_of(body.get("role"))
        state = task_state(body.get("status"))
        if state is None:
            raise BadRequest(f"status {body.get('status')!r} is not one of {[s.value for s in TaskState]}")
        await self.jobs.check_task_party(task_id, caller)
        rows = await self.repo.parties(task_id=task_id)
        if caller != self.me:
            rows = [r for r in rows if r["node_id"] == caller]
        rows = [r for r in rows if role_matches(r["role"], role)]
        if not rows:
            raise TaskNotFound(f"task_id {task_id!r} has no party {role or '(any role)'!r} of node {caller!r} here")
        message = str(body.get("message") or body.get("msg") or "")
        for r in rows:
            if not TaskState(r["status"]).ended:
                await self.repo.update_party(task_id, r["role"], status=state, message=message, last_seen=time.time())
        self.wake(rows[0]["job_id"])
        return {}

    async def audit_confirm(self, body: Body, caller: str) -> Body:
        job = await self.jobs.job(text(body, "job_id"))
        self.jobs.check_party(job, caller)
        status = job_state(body.get("status"))
        if status not in (JobState.READY, JobState.REJECTED):
            raise BadRequest(f"status {body.get('status')!r} must be READY or REJECTED")
        if job["scheduler"] != self.me:
            raise NotScheduler(f"node {self.me!r} is not the scheduler of job {job['job_id']!r}; "
                               f"send audit_confirm to {job['scheduler']!r}")
        if status == JobState.REJECTED:
            await self.reject(job["job_id"], f"rejected by node {caller}")
        return {}

    async def view(self, job_id: str) -> dict[str, Any]:
        """status_all: `job_status`, `status` keyed by task name and by task id (FATE reads names, Kuscia and
        the north-south spec ids), and hulian's `tasks` with every party's state and error text, and each task's
        and party's latest `progress` and `metrics` (local parties from the component runtime, remote ones as
        their last poll reply said)."""
        job = await self.jobs.job(job_id)
        tasks, parties = await self.repo.tasks_and_parties(job_id)
        remote = await self.repo.job_progress(job_id)
        status: dict[str, str] = {}
        detail = []
        for t in tasks:
            status[t["task_name"]] = t["status"]
            if t["task_id"]:
                status[t["task_id"]] = t["status"]
            mine = [p for p in parties if p["task_id"] == t["task_id"]]
            reports = {p["role"]: await self.party.progress([p]) if p["node_id"] == self.me else
                       remote.get((p["task_id"], p["role"]), combine_progress([])) for p in mine}
            detail.append({"task_name": t["task_name"], "task_id": t["task_id"], "status": t["status"],
                           "message": public_text(t["message"]), **combine_progress(reports.values()),
                           "parties": {p["role"]: {"node_id": p["node_id"], "status": p["status"],
                                                   "message": public_text(p["message"]), **reports[p["role"]]}
                                       for p in mine}})
        return {"job_id": job_id, "job_status": job["status"], "status": status,
                "message": public_text(job["message"]), "tasks": detail}


def reported_progress(data: dict[str, Any]) -> tuple[float | None, dict[str, Any]]:
    """(progress, metrics) of a party's poll reply: what of it is well formed."""
    return well_formed(data.get("progress"), data.get("metrics"))
