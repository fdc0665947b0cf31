"""The control plane without HTTP: a party's side of every control call (create, start, task/start, poll, stop,
logs) and the north-south entry points; the scheduler's side lives in `scheduler.py`.

Handlers of peer calls take `(body, caller)` — the parsed request and the authenticated calling node — and
return the reply's `data`; the scheduler calls its own node through the same handlers, without HTTP.
"""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from hulian.component.launch import ComponentRunner, TaskState
from hulian.control import paths as P
from hulian.control import repo
from hulian.control.client import ControlClient
from hulian.control.envelope import job_state, role_matches, role_of, task_state
from hulian.control.errors import (
    BadRequest,
    ControlError,
    Forbidden,
    IllegalState,
    InvalidJob,
    JobConflict,
    JobNotFound,
    NoComponentLayer,
    NotScheduler,
    TaskNotFound,
    UnknownComponent,
)
from hulian.control.launching import aggregate, build_launch
from hulian.control.models import JobState
from hulian.control.public import public_text
from hulian.control.scheduler import Scheduler
from hulian.core.config import NodeConfig
from hulian.store.db import ID, Database
from hulian.wire import dag as D

log = logging.getLogger("hulian.control")
SPEC_CACHE = 256  # parsed DAG/CONF pairs kept in memory
Body = dict[str, Any]
WATCH_SECONDS = 5.0
RELAUNCH_AFTER_SECONDS = 10.0
ASK_SCHEDULER_SECONDS = 15.0
IMAGE_URL = 2048  # longest image reference a component registration takes


def text(body: Body, name: str, required: bool = True, limit: int = ID) -> str:
    """A string field of a request (ids, names: at most `limit` characters, what the id columns hold); a
    missing, mistyped or too long one is refused naming it."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{name} is required (a non-empty string)")
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise BadRequest(f"{name} is {len(value)} characters long; at most {limit} are accepted")
    return value


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def new_job_id() -> str:
    return "job-" + secrets.token_hex(16)


def new_task_id() -> str:
    return "task_" + secrets.token_hex(16)


class ControlService:
    def __init__(self, config: NodeConfig, db: Database, client: ControlClient,
                 runner: ComponentRunner | None = None):
        self.config, self.db, self.client, self.runner = config, db, client, runner
        self.me = config.node_id
        self.scheduler = Scheduler(self)
        self._specs: OrderedDict[str, tuple[D.Dag, D.Conf]] = OrderedDict()
        self._background: set[asyncio.Task] = set()
        self._watch_task: asyncio.Task | None = None
        self._asked: dict[str, float] = {}  # job_id -> when its scheduler was last asked for status_all

    # ---- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Resume what a previous run left: the scheduler's walkers, local tasks' state."""
        await self.scheduler.resume()
        self._watch_task = asyncio.create_task(self._watch(), name="control-watch")

    async def close(self) -> None:
        tasks = [t for t in (self._watch_task, *self._background) if t is not None]
        for t in tasks:
            t.cancel()
        await self.scheduler.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.client.close()

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- jobs and specs -------------------------------------------------------------------------------------
    def describe(self, component: str, version: str | None = None) -> dict[str, Any] | None:
        return self.runner.description(component, version) if self.runner is not None else None

    def _validator(self) -> D.Describe | None:
        return self.describe if self.runner is not None else None

    def parse_job(self, body: Body) -> tuple[Any, Any, D.Dag, D.Conf]:
        """(raw dag, raw config, parsed, parsed) validated against this node's components."""
        raw_dag, raw_conf = body.get("dag"), body.get("config", body.get("conf"))
        try:
            dag, conf = D.parse_dag(raw_dag), D.parse_conf(raw_conf)
            D.validate(dag, conf, self._validator())
        except D.DagError as e:
            raise (UnknownComponent if e.unknown_component else InvalidJob)(str(e)) from None
        return raw_dag, raw_conf, dag, conf

    async def job(self, job_id: str) -> repo.Row:
        row = await self.db.run(lambda c: repo.get_job(c, job_id))
        if row is None:
            raise JobNotFound(f"job_id {job_id!r} is not known on node {self.me!r}")
        return row

    def spec(self, job: repo.Row) -> tuple[D.Dag, D.Conf]:
        """The job's parsed DAG and CONF, cached for the most recent SPEC_CACHE jobs (parsed again after)."""
        job_id = job["job_id"]
        if job_id in self._specs:
            self._specs.move_to_end(job_id)
        else:
            self._specs[job_id] = (D.Dag.model_validate(json.loads(job["dag"])),
                                   D.Conf.model_validate(json.loads(job["conf"])))
            if len(self._specs) > SPEC_CACHE:
                self._specs.popitem(last=False)
        return self._specs[job_id]

    def _check_party(self, job: repo.Row, caller: str) -> None:
        """Every east-west call that reads or changes a job: the caller is a party of it (or its scheduler)."""
        _, conf = self.spec(job)
        if caller not in (self.me, job["scheduler"]) and caller not in conf.nodes():
            raise Forbidden(f"node {caller!r} is not a party of job {job['job_id']!r}")

    async def _check_task_party(self, task_id: str, caller: str) -> None:
        """As `_check_party`, for a call naming a task; a task not known here yet (a poll before task/start)
        names no job to guard."""
        task = await self.db.run(lambda c: repo.task_by_id(c, task_id))
        if task is not None:
            self._check_party(await self.job(task["job_id"]), caller)

    def _check_scheduler(self, job: repo.Row, caller: str) -> None:
        if caller not in (self.me, job["scheduler"]):
            raise Forbidden(f"only the job's scheduler {job['scheduler']!r} may do this, not node {caller!r}")

    # ---- sending (to self without HTTP) ---------------------------------------------------------------------
    def _handlers(self) -> dict[str, Callable[[Body, str], Awaitable[Any]]]:
        return {P.CREATE: self.create, P.START_JOB: self.start_job, P.START_TASK: self.start_task, P.STOP: self.stop,
                P.POLL: self.poll, P.STATUS_ALL: self.status_all, P.STOP_ALL: self.stop_all,
                P.CALLBACK: self.callback, P.CREATE_ALL: self.create_all, P.TASK_LOG: self.party_log}

    async def send(self, node: str, path: str, body: Body, retries: int | None = None) -> Any:
        if node == self.me:
            return await self._handlers()[path](body, self.me)
        return await self.client.call(node, path, body, retries=retries)

    # ---- east-west: the initiator's create_all on the scheduler --------------------------------------------
    async def create_all(self, body: Body, caller: str) -> Body:
        raw_dag, raw_conf, dag, conf = self.parse_job(body)
        job_id = text(body, "job_id", required=False) or new_job_id()
        if caller not in (self.me, conf.initiator.node_id):
            raise Forbidden(f"create_all for job {job_id!r} must come from its initiator "
                            f"{conf.initiator.node_id!r}, not node {caller!r}")
        content = (_canonical(raw_dag), _canonical(raw_conf))

        def insert(c) -> bool:
            old = repo.get_job(c, job_id)
            if old is not None:
                if (old["dag"], old["conf"]) != content:
                    raise JobConflict(f"job_id {job_id!r} exists with a different dag/config; use a new job_id")
                return False
            repo.insert_job(c, job_id=job_id, flow_id=text(body, "flow_id", required=False), dag=content[0],
                            conf=content[1], status=JobState.PENDING, scheduler=self.me, message="")
            for comp in dag.components:
                repo.upsert_task(c, job_id, comp.name, task_id=new_task_id(), status=TaskState.PENDING)
            return True

        if await self.db.run(insert):
            log.info("job %s created by %s; scheduling on this node", job_id, caller)
            await self.scheduler.create_everywhere(job_id)
            self.scheduler.launch(job_id)
        return {"job_id": job_id}

    # ---- east-west: a party's side ----------------------------------------------------------------------------
    async def create(self, body: Body, caller: str) -> Body:
        job_id = text(body, "job_id")
        raw_dag, raw_conf, _, conf = self.parse_job(body)
        content = (_canonical(raw_dag), _canonical(raw_conf))

        def insert(c) -> None:
            old = repo.get_job(c, job_id)
            if old is None:
                repo.insert_job(c, job_id=job_id, flow_id=text(body, "flow_id", required=False), dag=content[0],
                                conf=content[1], status=JobState.READY, scheduler=caller, message="")
            elif (old["dag"], old["conf"]) != content:
                raise JobConflict(f"job_id {job_id!r} exists with a different dag/config")

        if self.me not in conf.nodes():
            raise Forbidden(f"node {self.me!r} is not a party of job {job_id!r} (config.role)")
        named = (conf.job_params.get("common") or {}).get("scheduler_node_id")
        if caller != self.me and caller not in conf.nodes() and caller != named:
            raise Forbidden(f"node {caller!r} is neither a party of job {job_id!r} (config.role) nor its scheduler "
                            "(job_params.common.scheduler_node_id)")
        await self.db.run(insert)
        return {"status": JobState.READY}

    async def start_job(self, body: Body, caller: str) -> Body:
        job = await self.job(text(body, "job_id"))
        self._check_scheduler(job, caller)
        if JobState(job["status"]).ended:
            raise IllegalState(f"job {job['job_id']!r} is {job['status']}; it cannot start again")
        if job["scheduler"] != self.me and job["status"] != JobState.RUNNING:
            await self.db.run(lambda c: repo.update_job(c, job["job_id"], status=JobState.RUNNING))
        return {}

    async def start_task(self, body: Body, caller: str) -> Body:
        job_id, task_id, task_name = text(body, "job_id"), text(body, "task_id"), text(body, "task_name")
        job = await self.job(job_id)
        self._check_scheduler(job, caller)
        if JobState(job["status"]).ended:
            raise IllegalState(f"job {job_id!r} is {job['status']}; task/start of {task_name!r} refused")
        dag, conf = self.spec(job)
        comp = dag.component(task_name)
        if comp is None:
            raise TaskNotFound(f"task_name {task_name!r} is not in the DAG of job {job_id!r}")
        known = await self.db.run(lambda c: repo.get_tasks(c, job_id))
        same = next((t for t in known if t["task_name"] == task_name), None)
        if same is not None and same["task_id"] and same["task_id"] != task_id:
            raise IllegalState(f"task {task_name!r} of job {job_id!r} already runs as task_id {same['task_id']!r}")
        if job["scheduler"] != self.me:
            def record(c) -> None:
                repo.upsert_task(c, job_id, task_name, task_id=task_id, status=TaskState.RUNNING,
                                 started_at=time.time())
                if job["status"] != JobState.RUNNING:  # a task/start without job/start: be liberal
                    repo.update_job(c, job_id, status=JobState.RUNNING)
            await self.db.run(record)
        task_ids = {t["task_name"]: t["task_id"] for t in known if t["task_id"]} | {task_name: task_id}
        description = self.describe(comp.component, comp.version or None)
        parties = conf.parties()
        for party in D.task_roles(conf, description):
            if parties[party] != self.me:
                continue
            fields = dict(task_id=task_id, role=party, job_id=job_id, task_name=task_name, node_id=self.me,
                          status=TaskState.READY, message="")

            def ensure(c, f=fields) -> repo.Row:  # the row as it stands: a repeated start finds it
                repo.insert_party(c, **f)
                return next(r for r in repo.get_parties(c, task_id=f["task_id"]) if r["role"] == f["role"])
            row = await self.db.run(ensure)
            if not TaskState(row["status"]).ended:  # the component layer's start is idempotent
                await self._launch(job, task_name, task_id, party, task_ids, description)
        return {}

    async def _launch(self, job: repo.Row, task: str, task_id: str, party: str, task_ids: dict[str, str],
                      description: dict[str, Any] | None) -> None:
        dag, conf = self.spec(job)
        try:
            if self.runner is None:
                raise NoComponentLayer(f"node {self.me!r} runs no component layer")
            launch = build_launch(self.config, job["job_id"], dag, conf, task, task_id, party, task_ids,
                                  description)
            await self.runner.start(launch)
        except Exception as e:  # the component layer refused: the task fails with its reason
            reason = e.message if isinstance(e, ControlError) else f"{type(e).__name__}: {e}"
            log.warning("task %s (%s) could not start as %s: %s", task, task_id, party, reason)
            await self.on_status(task_id, party, TaskState.FAILED, f"start failed: {reason}")

    async def poll(self, body: Body, caller: str) -> Body:
        """This node's state of a task; PENDING for a task it has not started (yet). `message` is ours."""
        task_id, role = text(body, "task_id"), role_of(body.get("role"))
        await self._check_task_party(task_id, caller)
        rows = await self._local_rows(task_id, role)
        rows = [await self.refresh(r) for r in rows]
        state, message = aggregate(rows)
        return {"status": state.value, "message": public_text(message)}

    async def _local_rows(self, task_id: str, role: str) -> list[repo.Row]:
        rows = await self.db.run(lambda c: repo.get_parties(c, task_id=task_id))
        rows = [r for r in rows if r["node_id"] == self.me]
        return [r for r in rows if role_matches(r["role"], role)]

    async def runs_here(self, task_id: str, role: str) -> bool:
        return bool(await self._local_rows(task_id, role))

    async def refresh(self, row: repo.Row) -> repo.Row:
        """A local party row brought up to date with the component layer (the source of truth)."""
        if self.runner is None or TaskState(row["status"]).ended:
            return row
        state, message = await self.runner.state(row["task_id"], row["role"])
        return await self._apply_state(row, state, message)

    async def _apply_state(self, row: repo.Row, state: TaskState, message: str) -> repo.Row:
        """Record what the component layer says of a local party (PENDING: it has no record: nothing to say)."""
        if state == TaskState.PENDING or (state == row["status"] and message == row["message"]):
            return row
        await self.on_status(row["task_id"], row["role"], state, message)
        return {**row, "status": state.value, "message": message}

    async def stop(self, body: Body, caller: str) -> Body:
        job = await self.job(text(body, "job_id"))
        self._check_scheduler(job, caller)
        task_name = text(body, "task_name", required=False)
        dag, _ = self.spec(job)
        if task_name and dag.component(task_name) is None:
            raise TaskNotFound(f"task_name {task_name!r} is not in the DAG of job {job['job_id']!r}")
        names = set(D.downstream(dag, task_name) if task_name else [c.name for c in dag.components])
        rows = await self.db.run(lambda c: repo.get_parties(c, job_id=job["job_id"]))
        for r in rows:
            if r["node_id"] == self.me and r["task_name"] in names and not TaskState(r["status"]).ended:
                await self._stop_local(r, f"stopped by node {caller}")
        if job["scheduler"] != self.me:
            def mark(c) -> None:
                repo.stop_tasks(c, job["job_id"], names, f"stopped by node {caller}")
                if not task_name and not JobState(job["status"]).ended:
                    repo.update_job(c, job["job_id"], status=JobState.FINISHED)
            await self.db.run(mark)
        return {}

    async def _stop_local(self, row: repo.Row, why: str) -> None:
        if self.runner is not None:
            try:
                await self.runner.stop(row["task_id"], row["role"])
            except Exception:
                log.exception("component layer failed to stop task %s (%s)", row["task_id"], row["role"])
        await self.db.run(lambda c: repo.update_party(c, row["task_id"], row["role"], status=TaskState.FAILED,
                                                      message=why))

    async def party_log(self, body: Body, caller: str) -> Body:
        """hulian extension: this party's log of a task, for the initiator's get_log."""
        task_id, role = text(body, "task_id"), text(body, "role")
        await self._check_task_party(task_id, caller)
        rows = await self._local_rows(task_id, role)
        if not rows:
            raise TaskNotFound(f"task_id {task_id!r} has no role {role!r} on node {self.me!r}")
        level = text(body, "log_level", required=False) or "info"
        start, length = integer(body, "start", 0), integer(body, "length", 1000)
        lines = await self._runner().log(task_id, rows[0]["role"], start, length, level) if length else []
        if caller != self.me:  # the initiator's user elsewhere: this node's layout stays here
            lines = [public_text(line) for line in lines]
        return {"lines": lines, "num": await self._runner().log_line_count(task_id, rows[0]["role"], level),
                "role": rows[0]["role"]}

    def _runner(self) -> ComponentRunner:
        if self.runner is None:
            raise NoComponentLayer(f"node {self.me!r} runs no component layer")
        return self.runner

    # ---- state reports (component layer, container callback, peers' callbacks) -----------------------------
    async def on_status(self, task_id: str, role: str, state: TaskState, message: str = "") -> None:
        """The component layer's report for a local (task, role): record it, tell the scheduler."""
        rows = await self._local_rows(task_id, role)
        if not rows:
            log.warning("status %s for unknown local task %s (%s) ignored", state, task_id, role)
            return
        for row in rows:
            if TaskState(row["status"]).ended or (row["status"] == state and row["message"] == message):
                continue
            await self.db.run(lambda c, r=row: repo.update_party(c, r["task_id"], r["role"], status=state,
                                                                 message=message or "", last_seen=time.time()))
            job = await self.job(row["job_id"])
            if job["scheduler"] == self.me:
                self.scheduler.wake(job["job_id"])
                continue
            await self._local_task_state(job, row["task_name"], task_id)
            _, conf = self.spec(job)
            if state.ended or conf.sync_type == "callback":
                body = {"task_id": task_id, "role": row["role"], "status": state.value,
                        "message": public_text(message)}
                self.spawn(self._callback_scheduler(job["scheduler"], body), f"callback-{task_id}")

    async def _local_task_state(self, job: repo.Row, task_name: str, task_id: str) -> None:
        def update(c) -> None:
            rows = [r for r in repo.get_parties(c, task_id=task_id) if r["node_id"] == self.me]
            state, message = aggregate(rows)
            repo.upsert_task(c, job["job_id"], task_name, status=state, message=message)
        await self.db.run(update)

    async def _callback_scheduler(self, scheduler: str, body: Body) -> None:
        try:
            await self.client.call(scheduler, P.CALLBACK, body)
        except ControlError as e:
            log.warning("callback of task %s to scheduler %s failed (it will poll): %s", body["task_id"], scheduler,
                        e.message)

    async def callback(self, body: Body, caller: str) -> Body:
        """A party's report to the scheduler (east-west task/callback)."""
        task_id, role = text(body, "task_id"), role_of(body.get("role"))
        state = task_state(body.get("status"))
        if state is None:
            raise BadRequest(f"status {body.get('status')!r} is not one of {[s.value for s in TaskState]}")
        await self._check_task_party(task_id, caller)
        rows = await self.db.run(lambda c: repo.get_parties(c, task_id=task_id))
        if caller != self.me:
            rows = [r for r in rows if r["node_id"] == caller]
        rows = [r for r in rows if role_matches(r["role"], role)]
        if not rows:
            raise TaskNotFound(f"task_id {task_id!r} has no party {role or '(any role)'!r} of node {caller!r} here")
        message = str(body.get("message") or body.get("msg") or "")
        for r in rows:
            if not TaskState(r["status"]).ended:
                await self.db.run(lambda c, r=r: repo.update_party(c, task_id, r["role"], status=state,
                                                                   message=message, last_seen=time.time()))
        self.scheduler.wake(rows[0]["job_id"])
        return {}

    async def audit_confirm(self, body: Body, caller: str) -> Body:
        job = await self.job(text(body, "job_id"))
        self._check_party(job, caller)
        status = job_state(body.get("status"))
        if status not in (JobState.READY, JobState.REJECTED):
            raise BadRequest(f"status {body.get('status')!r} must be READY or REJECTED")
        if job["scheduler"] != self.me:
            raise NotScheduler(f"node {self.me!r} is not the scheduler of job {job['job_id']!r}; "
                               f"send audit_confirm to {job['scheduler']!r}")
        if status == JobState.REJECTED:
            await self.scheduler.reject(job["job_id"], f"rejected by node {caller}")
        return {}

    # ---- scheduler-side queries and stops (forwarded when the scheduler is elsewhere) ------------------------
    async def status_all(self, body: Body, caller: str) -> Body:
        job = await self.job(text(body, "job_id"))
        self._check_party(job, caller)
        if job["scheduler"] != self.me:
            return await self.client.status_all(job["scheduler"], job["job_id"])
        return await self.scheduler.view(job["job_id"])

    async def stop_all(self, body: Body, caller: str) -> Body:
        job = await self.job(text(body, "job_id"))
        self._check_party(job, caller)
        task_name = text(body, "task_name", required=False)
        if job["scheduler"] != self.me:
            forward = {"job_id": job["job_id"], **({"task_name": task_name} if task_name else {})}
            return await self.client.call(job["scheduler"], P.STOP_ALL, forward)
        await self.scheduler.stop(job["job_id"], task_name, by=caller)
        return {}

    # ---- north-south ------------------------------------------------------------------------------------------
    async def submit(self, body: Body) -> Body:
        """The initiator's create_all: validate here, then hand the job to its scheduler."""
        _, raw_conf, _, conf = self.parse_job(body)
        if conf.initiator.node_id != self.me:
            raise InvalidJob(f"config.initiator.node_id: {conf.initiator.node_id!r} is not this node ({self.me!r}); "
                             "submit the job on its initiator")
        common = conf.job_params.get("common") or {}
        scheduler = str(common.get("scheduler_node_id") or self.config.control.scheduler_node_id or self.me)
        body = {**body, "job_id": text(body, "job_id", required=False) or new_job_id()}
        if scheduler not in conf.nodes() and "scheduler_node_id" not in common:
            # this node's control.scheduler_node_id, not a party: the CONF names it, for the parties accept
            # job/create only from a party or the scheduler the CONF names
            job_params = raw_conf.get("job_params") or {}
            named = {**job_params, "common": {**(job_params.get("common") or {}), "scheduler_node_id": scheduler}}
            body = {**{k: v for k, v in body.items() if k != "conf"}, "config": {**raw_conf, "job_params": named}}
        if scheduler == self.me:
            return await self.create_all(body, self.me)
        await self.client.call(scheduler, P.CREATE_ALL, body)
        return {"job_id": body["job_id"]}

    async def job_list(self, flow_id: str) -> Body:
        rows = await self.db.run(lambda c: repo.jobs_where(c, flow_id=flow_id or None))
        return {"job_list": {r["job_id"]: r["status"] for r in rows}}

    async def task_named(self, task_id: str) -> repo.Row:
        task = await self.db.run(lambda c: repo.task_by_id(c, task_id))
        if task is None:
            raise TaskNotFound(f"task_id {task_id!r} is not known on node {self.me!r}")
        return task

    async def _log_target(self, task_id: str, role: str) -> tuple[str, str]:
        """(party, node) whose log to read: the named role, else a failed party (local first), else a local one."""
        task = await self.task_named(task_id)
        _, conf = self.spec(await self.job(task["job_id"]))
        parties = conf.parties()
        if role:
            party = role if "." in role else f"{role}.0"
            if party not in parties:
                raise BadRequest(f"role {role!r} is not a party of job {task['job_id']!r} ({sorted(parties)})")
            return party, parties[party]
        rows = await self.db.run(lambda c: repo.get_parties(c, task_id=task_id))
        rows.sort(key=lambda r: (r["status"] != TaskState.FAILED, r["message"].startswith("stopped"),
                                 r["node_id"] != self.me))  # the party that failed first, not those stopped
        if not rows:
            raise TaskNotFound(f"task_id {task_id!r} has not started on any party yet")
        return rows[0]["role"], rows[0]["node_id"]

    async def task_log(self, task_id: str, role: str, level: str, start: int, length: int) -> Body:
        party, node = await self._log_target(task_id, role)
        body = {"task_id": task_id, "role": party, "log_level": level, "start": start, "length": length}
        return await self.send(node, P.TASK_LOG, body)

    async def register(self, body: Body) -> Body:
        info = body.get("component_info", body.get("componentInfo"))
        if not isinstance(info, dict):
            raise BadRequest("component_info is required: the component's self-description (an object)")
        try:
            await self._runner().register(info, text(body, "imageUrl", required=False, limit=IMAGE_URL) or
                                          text(body, "image_url", required=False, limit=IMAGE_URL))
        except ValueError as e:
            raise BadRequest(f"component_info: {e}") from None
        return {}

    # ---- watchdog: local tasks whose reports were lost, or whose start a crash interrupted -------------------
    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self._watch_once()
            except Exception:
                log.exception("control watchdog pass failed")

    async def _watch_once(self) -> None:
        await self.scheduler.deliver_pending()
        await self._check_schedulers()
        if self.runner is None:
            return
        rows = await self.db.run(lambda c: repo.get_parties(c, node_id=self.me, live=True))
        for row in rows:
            state, message = await self.runner.state(row["task_id"], row["role"])
            await self._apply_state(row, state, message)
            if state == TaskState.PENDING and time.time() - row["updated_at"] > RELAUNCH_AFTER_SECONDS:
                await self._relaunch(row)  # the component layer has no record of it (a lost start): again

    async def _check_schedulers(self) -> None:
        """A job/stop this node missed (it was down) must not leave its job RUNNING: ask the scheduler now
        and then, as Kuscia's parties do, and stop locally what the scheduler has ended."""
        now = time.monotonic()
        live = (JobState.READY, JobState.RUNNING)
        rows = await self.db.run(lambda c: repo.jobs_where(c, statuses=live))
        for job in rows:
            if job["scheduler"] == self.me or now - self._asked.get(job["job_id"], 0.0) < ASK_SCHEDULER_SECONDS:
                continue
            self._asked[job["job_id"]] = now
            try:
                data = await self.client.status_all(job["scheduler"], job["job_id"], retries=0)
            except ControlError as e:
                log.warning("recovery: cannot ask scheduler %s for job %s (held %s here; asking again in %.0fs): %s",
                            job["scheduler"], job["job_id"], job["status"], ASK_SCHEDULER_SECONDS, e.message)
                continue
            state = job_state(data.get("job_status") if isinstance(data, dict) else None)
            if state is None:
                log.warning("recovery: scheduler %s answered status_all of job %s without a job_status we know: %s",
                            job["scheduler"], job["job_id"], str(data)[:200])
            elif state.ended:
                log.info("job %s ended at its scheduler %s; stopping it here", job["job_id"], job["scheduler"])
                await self.stop({"job_id": job["job_id"]}, job["scheduler"])
                self._asked.pop(job["job_id"], None)

    async def _relaunch(self, row: repo.Row) -> None:
        job = await self.job(row["job_id"])
        if JobState(job["status"]).ended:
            return
        dag, _ = self.spec(job)
        known = await self.db.run(lambda c: repo.get_tasks(c, row["job_id"]))
        comp = dag.component(row["task_name"])
        assert comp is not None
        log.info("relaunching task %s (%s) as %s", row["task_name"], row["task_id"], row["role"])
        await self.db.run(lambda c: repo.update_party(c, row["task_id"], row["role"]))
        await self._launch(job, row["task_name"], row["task_id"], row["role"],
                           {t["task_name"]: t["task_id"] for t in known if t["task_id"]},
                           self.describe(comp.component, comp.version or None))


MAX_INTEGER = 2**31 - 1  # bound of integer fields (log line offsets and counts)


def integer(body: Body, name: str, default: int) -> int:
    """A non-negative integer field (a JSON number or a numeric string), refused naming it when it is not one or
    is beyond MAX_INTEGER."""
    value = body.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf), should a float get this far
        raise BadRequest(f"{name} must be an integer, not {str(value)[:40]!r}") from None
    if not 0 <= number <= MAX_INTEGER:
        raise BadRequest(f"{name} must be between 0 and {MAX_INTEGER}, not {number if number < 0 else 'more'}")
    return number


__all__ = ["ControlService", "integer", "new_job_id", "new_task_id", "text"]
