"""The jobs this node knows: a job by id (or JobNotFound), its parsed DAG/CONF, and who may touch it."""
from __future__ import annotations

import json
from collections import OrderedDict

from hulian.control.repo import ControlRepo, Row
from hulian.core.errors import Forbidden, JobNotFound, TaskNotFound
from hulian.wire import dag as D

SPEC_CACHE = 256  # parsed DAG/CONF pairs kept in memory


class Jobs:
    def __init__(self, repo: ControlRepo, me: str):
        self.repo, self.me = repo, me
        self._specs: OrderedDict[str, tuple[D.Dag, D.Conf]] = OrderedDict()

    async def job(self, job_id: str) -> Row:
        row = await self.repo.job(job_id)
        if row is None:
            raise JobNotFound(f"job_id {job_id!r} is not known on node {self.me!r}")
        return row

    async def task(self, task_id: str) -> Row:
        task = await self.repo.task_by_id(task_id)
        if task is None:
            raise TaskNotFound(f"task_id {task_id!r} is not known on node {self.me!r}")
        return task

    def spec(self, job: Row) -> tuple[D.Dag, D.Conf]:
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

    def check_party(self, job: Row, caller: str) -> None:
        """Every east-west call that reads or changes a job: the caller is a party of it (or its scheduler)."""
        _, conf = self.spec(job)
        if caller not in (self.me, job["scheduler"]) and caller not in conf.nodes():
            raise Forbidden(f"node {caller!r} is not a party of job {job['job_id']!r}")

    async def check_task_party(self, task_id: str, caller: str) -> None:
        """As `check_party`, for a call naming a task; a task not known here yet (a poll before task/start)
        names no job to guard."""
        task = await self.repo.task_by_id(task_id)
        if task is not None:
            self.check_party(await self.job(task["job_id"]), caller)

    def check_scheduler(self, job: Row, caller: str) -> None:
        if caller not in (self.me, job["scheduler"]):
            raise Forbidden(f"only the job's scheduler {job['scheduler']!r} may do this, not node {caller!r}")
