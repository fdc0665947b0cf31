"""The control plane of one node, composed: the repository, the jobs, peer calls, a party's side, the scheduler's
side and the watchdog; and its entry points: the east-west handlers by path, the calls that go to wherever a
job's scheduler is (create_all, status_all, stop_all), and the north-south ones (submit, job list, logs,
component registration)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from hulian.control import paths as P
from hulian.control.client import ControlClient
from hulian.control.fields import Body, canonical, new_job_id, new_task_id, text
from hulian.control.jobs import Jobs
from hulian.control.party import Party
from hulian.control.peers import Handler, Peers
from hulian.control.ports import ComponentRuntime
from hulian.control.repo import ControlRepo, Row
from hulian.control.scheduler import Scheduler
from hulian.control.states import JobState, TaskState
from hulian.control.watchdog import Watchdog
from hulian.core.config import NodeConfig
from hulian.core.errors import BadRequest, Forbidden, InvalidJob, JobConflict, TaskNotFound, UnknownComponent
from hulian.store.db import Database
from hulian.wire import dag as D

log = logging.getLogger("hulian.control")
IMAGE_URL = 2048  # longest image reference a component registration takes


class ControlService:
    def __init__(self, config: NodeConfig, db: Database, client: ControlClient):
        self.config, self.db, self.me = config, db, config.node_id
        self.repo = ControlRepo(db)
        self.jobs = Jobs(self.repo, self.me)
        self.peers = Peers(self.me, client, self.repo, config.transport.message_ttl_seconds)
        self.party = Party(config, self.repo, self.jobs, self.peers, wake=self._wake, spawn=self.spawn)
        self.scheduler = Scheduler(config, self.repo, self.jobs, self.peers, self.party)
        self.watchdog = Watchdog(self.me, self.repo, self.peers, self.party)
        self.peers.serve_locally(self.handlers())
        self._background: set[asyncio.Task] = set()

    @property
    def runtime(self) -> ComponentRuntime | None:
        """The component runtime tasks run on (None: this node runs none); `hulian.node` sets it."""
        return self.party.runtime

    @runtime.setter
    def runtime(self, runtime: ComponentRuntime | None) -> None:
        self.party.runtime = runtime

    # ---- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Resume what a previous run left: the scheduler's walkers, then watch local tasks."""
        await self.scheduler.resume()
        self.spawn(self.watchdog.run(), "control-watch")

    async def close(self) -> None:
        tasks = list(self._background)
        for t in tasks:
            t.cancel()
        await self.scheduler.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.peers.client.close()

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _wake(self, job_id: str) -> None:
        self.scheduler.wake(job_id)

    # ---- east-west handlers -----------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Handler]:
        """Every east-west call this node answers, by path: `handler(body, caller) -> data`."""
        return {P.CREATE_ALL: self.create_all, P.CREATE: self.create, P.START_JOB: self.party.start_job,
                P.START_TASK: self.party.start_task, P.STOP: self.party.stop, P.POLL: self.party.poll,
                P.STATUS_ALL: self.status_all, P.STOP_ALL: self.stop_all, P.CALLBACK: self.scheduler.callback,
                P.AUDIT_CONFIRM: self.scheduler.audit_confirm, P.TASK_LOG: self.party.party_log}

    def parse_job(self, body: Body) -> tuple[Any, Any, D.Dag, D.Conf]:
        """(raw dag, raw config, parsed, parsed) validated against this node's components."""
        raw_dag, raw_conf = body.get("dag"), body.get("config", body.get("conf"))
        try:
            dag, conf = D.parse_dag(raw_dag), D.parse_conf(raw_conf)
            D.validate(dag, conf, self.party.validator())
        except D.DagError as e:
            raise (UnknownComponent if e.unknown_component else InvalidJob)(str(e)) from None
        return raw_dag, raw_conf, dag, conf

    async def create_all(self, body: Body, caller: str) -> Body:
        """The initiator's create_all, on the job's scheduler: store the job, create it everywhere, walk it."""
        raw_dag, raw_conf, dag, conf = self.parse_job(body)
        job_id = text(body, "job_id", required=False) or new_job_id()
        if caller not in (self.me, conf.initiator.node_id):
            raise Forbidden(f"create_all for job {job_id!r} must come from its initiator "
                            f"{conf.initiator.node_id!r}, not node {caller!r}")
        content = (canonical(raw_dag), canonical(raw_conf))
        old = await self.repo.create_job({comp.name: new_task_id() for comp in dag.components}, job_id=job_id,
                                         flow_id=text(body, "flow_id", required=False), dag=content[0],
                                         conf=content[1], status=JobState.PENDING, scheduler=self.me, message="")
        if old is None:
            log.info("job %s created by %s; scheduling on this node", job_id, caller)
            await self.scheduler.create_everywhere(job_id)
            self.scheduler.launch(job_id)
        elif (old["dag"], old["conf"]) != content:
            raise JobConflict(f"job_id {job_id!r} exists with a different dag/config; use a new job_id")
        return {"job_id": job_id}

    async def create(self, body: Body, caller: str) -> Body:
        text(body, "job_id")  # named before what is wrong with the job
        raw_dag, raw_conf, _, conf = self.parse_job(body)
        return await self.party.create(body, caller, raw_dag, raw_conf, conf)

    async def status_all(self, body: Body, caller: str) -> Body:
        job = await self.jobs.job(text(body, "job_id"))
        self.jobs.check_party(job, caller)
        if job["scheduler"] != self.me:
            return await self.peers.client.status_all(job["scheduler"], job["job_id"])
        return await self.scheduler.view(job["job_id"])

    async def stop_all(self, body: Body, caller: str) -> Body:
        job = await self.jobs.job(text(body, "job_id"))
        self.jobs.check_party(job, caller)
        task_name = text(body, "task_name", required=False)
        if job["scheduler"] != self.me:
            forward = {"job_id": job["job_id"], **({"task_name": task_name} if task_name else {})}
            return await self.peers.client.call(job["scheduler"], P.STOP_ALL, forward)
        await self.scheduler.stop(job["job_id"], task_name, by=caller)
        return {}

    async def stop_task(self, task_id: str, caller: str) -> Body:
        """Kuscia's task/stop: the task and what depends on it, everywhere on its scheduler, else here."""
        task = await self.jobs.task(task_id)
        job = await self.jobs.job(task["job_id"])
        stop = self.stop_all if job["scheduler"] == self.me else self.party.stop
        return await stop({"job_id": task["job_id"], "task_name": task["task_name"]}, caller)

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
        await self.peers.client.call(scheduler, P.CREATE_ALL, body)
        return {"job_id": body["job_id"]}

    async def job_list(self, flow_id: str) -> Body:
        rows = await self.repo.jobs_where(flow_id=flow_id or None)
        return {"job_list": {r["job_id"]: r["status"] for r in rows}}

    async def task_named(self, task_id: str) -> Row:
        return await self.jobs.task(task_id)

    async def _log_target(self, task_id: str, role: str) -> tuple[str, str]:
        """(party, node) whose log to read: the named role, else a failed party (local first), else a local one."""
        task = await self.jobs.task(task_id)
        _, conf = self.jobs.spec(await self.jobs.job(task["job_id"]))
        parties = conf.parties()
        if role:
            party = role if "." in role else f"{role}.0"
            if party not in parties:
                raise BadRequest(f"role {role!r} is not a party of job {task['job_id']!r} ({sorted(parties)})")
            return party, parties[party]
        rows = await self.repo.parties(task_id=task_id)
        rows.sort(key=lambda r: (r["status"] != TaskState.FAILED, r["message"].startswith("stopped"),
                                 r["node_id"] != self.me))  # the party that failed first, not those stopped
        if not rows:
            raise TaskNotFound(f"task_id {task_id!r} has not started on any party yet")
        return rows[0]["role"], rows[0]["node_id"]

    async def task_log(self, task_id: str, role: str, level: str, start: int, length: int) -> Body:
        party, node = await self._log_target(task_id, role)
        body = {"task_id": task_id, "role": party, "log_level": level, "start": start, "length": length}
        return await self.peers.send(node, P.TASK_LOG, body)

    async def register(self, body: Body) -> Body:
        info = body.get("component_info", body.get("componentInfo"))
        if not isinstance(info, dict):
            raise BadRequest("component_info is required: the component's self-description (an object)")
        try:
            await self.party.require_runtime().register(
                info, text(body, "imageUrl", required=False, limit=IMAGE_URL) or
                text(body, "image_url", required=False, limit=IMAGE_URL))
        except ValueError as e:
            raise BadRequest(f"component_info: {e}") from None
        return {}
