"""Every SQL statement of the control plane: synchronous functions of a connection (one transaction each, the
compound ones included), and `ControlRepo`, the async repository the rest of the plane uses, which runs them
through `Database.run` (off the event loop, SQLite writes serialised)."""
from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection

from hulian.control.models import jobs, outbox, party_tasks, progress, tasks
from hulian.control.states import JobState, TaskState, aggregate
from hulian.store.db import Database

Row = dict[str, Any]


def _rows(result) -> list[Row]:
    return [dict(r._mapping) for r in result]


def get_job(conn: Connection, job_id: str) -> Row | None:
    rows = _rows(conn.execute(select(jobs).where(jobs.c.job_id == job_id)))
    return rows[0] if rows else None


def insert_job(conn: Connection, **values: Any) -> None:
    now = time.time()
    conn.execute(jobs.insert().values(created_at=now, updated_at=now, **values))


def update_job(conn: Connection, job_id: str, **values: Any) -> None:
    conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(updated_at=time.time(), **values))


def jobs_where(conn: Connection, scheduler: str | None = None, flow_id: str | None = None,
               statuses: tuple[str, ...] | None = None) -> list[Row]:
    q = select(jobs)
    if scheduler is not None:
        q = q.where(jobs.c.scheduler == scheduler)
    if flow_id:
        q = q.where(jobs.c.flow_id == flow_id)
    if statuses:
        q = q.where(jobs.c.status.in_(statuses))
    return _rows(conn.execute(q.order_by(jobs.c.created_at)))


def get_tasks(conn: Connection, job_id: str) -> list[Row]:
    return _rows(conn.execute(select(tasks).where(tasks.c.job_id == job_id)))


def task_by_id(conn: Connection, task_id: str) -> Row | None:
    rows = _rows(conn.execute(select(tasks).where(tasks.c.task_id == task_id)))
    return rows[0] if rows else None


def upsert_task(conn: Connection, job_id: str, task_name: str, **values: Any) -> None:
    key = (tasks.c.job_id == job_id) & (tasks.c.task_name == task_name)
    values["updated_at"] = time.time()
    if conn.execute(select(tasks.c.job_id).where(key)).first() is None:
        conn.execute(tasks.insert().values(job_id=job_id, task_name=task_name, **{"status": "PENDING", **values}))
    else:
        conn.execute(tasks.update().where(key).values(**values))


def get_parties(conn: Connection, job_id: str | None = None, task_id: str | None = None,
                node_id: str | None = None, live: bool = False) -> list[Row]:
    """Party rows, optionally of one job, task or node; `live`: only those whose task has not ended."""
    q = select(party_tasks)
    if job_id is not None:
        q = q.where(party_tasks.c.job_id == job_id)
    if task_id is not None:
        q = q.where(party_tasks.c.task_id == task_id)
    if node_id is not None:
        q = q.where(party_tasks.c.node_id == node_id)
    if live:
        q = q.where(party_tasks.c.status.not_in([s.value for s in TaskState if s.ended]))
    return _rows(conn.execute(q))


def insert_party(conn: Connection, **values: Any) -> bool:
    """Insert a (task, role) row unless present; True when inserted."""
    key = (party_tasks.c.task_id == values["task_id"]) & (party_tasks.c.role == values["role"])
    if conn.execute(select(party_tasks.c.role).where(key)).first() is not None:
        return False
    now = time.time()
    conn.execute(party_tasks.insert().values(last_seen=now, updated_at=now, **values))
    return True


def update_party(conn: Connection, task_id: str, role: str, **values: Any) -> None:
    key = (party_tasks.c.task_id == task_id) & (party_tasks.c.role == role)
    conn.execute(party_tasks.update().where(key).values(updated_at=time.time(), **values))


def stop_tasks(conn: Connection, job_id: str, names: Iterable[str], message: str) -> None:
    """The job's tasks in `names` that have not ended: FAILED, marked stopped, with `message`."""
    names = set(names)
    for t in get_tasks(conn, job_id):
        if t["task_name"] in names and not TaskState(t["status"]).ended:
            upsert_task(conn, job_id, t["task_name"], status=TaskState.FAILED, stopped=1, message=message)


def add_outbox(conn: Connection, rows: list[Row]) -> None:
    """Queue calls for delivery; a call already queued (same key) stays as it is."""
    for row in rows:
        if conn.execute(select(outbox.c.key).where(outbox.c.key == row["key"])).first() is None:
            conn.execute(outbox.insert().values(**row))


def due_outbox(conn: Connection, now: float) -> list[Row]:
    return _rows(conn.execute(select(outbox).where(outbox.c.next_at <= now).order_by(outbox.c.created_at)))


def update_outbox(conn: Connection, key: str | None, **values: Any) -> None:
    """Update the queued call `key` (None: every queued call)."""
    q = outbox.update() if key is None else outbox.update().where(outbox.c.key == key)
    conn.execute(q.values(**values))


def delete_outbox(conn: Connection, key: str) -> None:
    conn.execute(outbox.delete().where(outbox.c.key == key))


def outbox_rows(conn: Connection, job_id: str | None = None) -> list[Row]:
    q = select(outbox) if job_id is None else select(outbox).where(outbox.c.job_id == job_id)
    return _rows(conn.execute(q.order_by(outbox.c.created_at)))


# ---- compound writes (one transaction each) -----------------------------------------------------------------
def create_job(conn: Connection, task_ids: dict[str, str], **values: Any) -> Row | None:
    """Insert a job (and, on its scheduler, its tasks PENDING with their ids) unless its id is taken; the row
    holding the id when it is, else None."""
    old = get_job(conn, values["job_id"])
    if old is not None:
        return old
    insert_job(conn, **values)
    for name, task_id in task_ids.items():
        upsert_task(conn, values["job_id"], name, task_id=task_id, status=TaskState.PENDING)
    return None


def start_local_task(conn: Connection, job: Row, task_name: str, task_id: str) -> None:
    """A party's record of a task/start: the task RUNNING, and its job too (a task/start without job/start)."""
    upsert_task(conn, job["job_id"], task_name, task_id=task_id, status=TaskState.RUNNING, started_at=time.time())
    if job["status"] != JobState.RUNNING:
        update_job(conn, job["job_id"], status=JobState.RUNNING)


def ensure_party(conn: Connection, **values: Any) -> Row:
    """The (task, role) row as it stands, inserted first when absent (a repeated task/start finds it)."""
    insert_party(conn, **values)
    return next(r for r in get_parties(conn, task_id=values["task_id"]) if r["role"] == values["role"])


def settle_local_task(conn: Connection, job_id: str, task_name: str, task_id: str, node_id: str) -> None:
    """A party's task row from its own roles' rows (FATE's precedence)."""
    state, message = aggregate(r for r in get_parties(conn, task_id=task_id) if r["node_id"] == node_id)
    upsert_task(conn, job_id, task_name, status=state, message=message)


def stop_local_tasks(conn: Connection, job: Row, names: Iterable[str], message: str, whole_job: bool) -> None:
    """A party's record of a job/stop: the named tasks stopped, and the job FINISHED when all of it stops."""
    stop_tasks(conn, job["job_id"], names, message)
    if whole_job and not JobState(job["status"]).ended:
        update_job(conn, job["job_id"], status=JobState.FINISHED)


def schedule_task(conn: Connection, job_id: str, task: Row, parties: dict[str, str], started_at: float,
                  deadline: float) -> None:
    """The scheduler's record of a task it starts: READY with its deadline, one READY row per party."""
    upsert_task(conn, job_id, task["task_name"], status=TaskState.READY, started_at=started_at, deadline=deadline)
    for role, node_id in parties.items():
        insert_party(conn, task_id=task["task_id"], role=role, job_id=job_id, task_name=task["task_name"],
                     node_id=node_id, status=TaskState.READY, message="")


def fail_node_parties(conn: Connection, task_id: str, node_id: str, message: str) -> None:
    """The task's unfinished parties on `node_id` FAILED with `message` (that node refused task/start)."""
    for p in get_parties(conn, task_id=task_id):
        if p["node_id"] == node_id and not TaskState(p["status"]).ended:
            update_party(conn, task_id, p["role"], status=TaskState.FAILED, message=message)


def fail_unfinished(conn: Connection, job_id: str, local_node: str, message: str, failure: str) -> None:
    """Before the scheduler's job/stop: active tasks FAILED (stopped), remote unfinished parties FAILED (local
    ones are stopped through the runtime), the job's `failure` recorded."""
    for t in get_tasks(conn, job_id):
        if t["status"] in (TaskState.READY, TaskState.RUNNING):
            upsert_task(conn, job_id, t["task_name"], status=TaskState.FAILED, stopped=1, message=message)
    for p in get_parties(conn, job_id=job_id):
        if p["node_id"] != local_node and not TaskState(p["status"]).ended:
            update_party(conn, p["task_id"], p["role"], status=TaskState.FAILED, message=message)
    update_job(conn, job_id, message=failure)


def set_progress(conn: Connection, task_id: str, role: str, job_id: str, value: float | None,
                 metrics: dict[str, Any]) -> None:
    key = (progress.c.task_id == task_id) & (progress.c.role == role)
    values = {"progress": value, "metrics": json.dumps(metrics), "updated_at": time.time()}
    if conn.execute(select(progress.c.role).where(key)).first() is None:
        conn.execute(progress.insert().values(task_id=task_id, role=role, job_id=job_id, **values))
    else:
        conn.execute(progress.update().where(key).values(**values))


def job_progress(conn: Connection, job_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(task_id, role) -> {"progress", "metrics"} as last recorded for the job's parties."""
    rows = _rows(conn.execute(select(progress).where(progress.c.job_id == job_id)))
    return {(r["task_id"], r["role"]): {"progress": r["progress"], "metrics": json.loads(r["metrics"])}
            for r in rows}


T = TypeVar("T")


class ControlRepo:
    """The control plane's database, one awaitable method per read or transaction."""

    def __init__(self, db: Database):
        self.db = db

    def _run(self, fn: Callable[[Connection], T]) -> Awaitable[T]:
        return self.db.run(fn)

    # jobs
    async def job(self, job_id: str) -> Row | None:
        return await self._run(lambda c: get_job(c, job_id))

    async def create_job(self, task_ids: dict[str, str], **values: Any) -> Row | None:
        return await self._run(lambda c: create_job(c, task_ids, **values))

    async def update_job(self, job_id: str, **values: Any) -> None:
        await self._run(lambda c: update_job(c, job_id, **values))

    async def jobs_where(self, scheduler: str | None = None, flow_id: str | None = None,
                         statuses: tuple[str, ...] | None = None) -> list[Row]:
        return await self._run(lambda c: jobs_where(c, scheduler, flow_id, statuses))

    # tasks and parties
    async def tasks(self, job_id: str) -> list[Row]:
        return await self._run(lambda c: get_tasks(c, job_id))

    async def task_by_id(self, task_id: str) -> Row | None:
        return await self._run(lambda c: task_by_id(c, task_id))

    async def tasks_and_parties(self, job_id: str) -> tuple[list[Row], list[Row]]:
        return await self._run(lambda c: (get_tasks(c, job_id), get_parties(c, job_id)))

    async def upsert_task(self, job_id: str, task_name: str, **values: Any) -> None:
        await self._run(lambda c: upsert_task(c, job_id, task_name, **values))

    async def parties(self, job_id: str | None = None, task_id: str | None = None, node_id: str | None = None,
                      live: bool = False) -> list[Row]:
        return await self._run(lambda c: get_parties(c, job_id, task_id, node_id, live))

    async def update_party(self, task_id: str, role: str, **values: Any) -> None:
        await self._run(lambda c: update_party(c, task_id, role, **values))

    async def start_local_task(self, job: Row, task_name: str, task_id: str) -> None:
        await self._run(lambda c: start_local_task(c, job, task_name, task_id))

    async def ensure_party(self, **values: Any) -> Row:
        return await self._run(lambda c: ensure_party(c, **values))

    async def settle_local_task(self, job_id: str, task_name: str, task_id: str, node_id: str) -> None:
        await self._run(lambda c: settle_local_task(c, job_id, task_name, task_id, node_id))

    async def stop_tasks(self, job_id: str, names: Iterable[str], message: str) -> None:
        await self._run(lambda c: stop_tasks(c, job_id, names, message))

    async def stop_local_tasks(self, job: Row, names: Iterable[str], message: str, whole_job: bool) -> None:
        await self._run(lambda c: stop_local_tasks(c, job, names, message, whole_job))

    async def schedule_task(self, job_id: str, task: Row, parties: dict[str, str], started_at: float,
                            deadline: float) -> None:
        await self._run(lambda c: schedule_task(c, job_id, task, parties, started_at, deadline))

    async def fail_node_parties(self, task_id: str, node_id: str, message: str) -> None:
        await self._run(lambda c: fail_node_parties(c, task_id, node_id, message))

    async def fail_unfinished(self, job_id: str, local_node: str, message: str, failure: str) -> None:
        await self._run(lambda c: fail_unfinished(c, job_id, local_node, message, failure))

    # progress
    async def set_progress(self, task_id: str, role: str, job_id: str, value: float | None,
                           metrics: dict[str, Any]) -> None:
        await self._run(lambda c: set_progress(c, task_id, role, job_id, value, metrics))

    async def job_progress(self, job_id: str) -> dict[tuple[str, str], dict[str, Any]]:
        return await self._run(lambda c: job_progress(c, job_id))

    # outbox
    async def add_outbox(self, rows: list[Row]) -> None:
        await self._run(lambda c: add_outbox(c, rows))

    async def due_outbox(self, now: float) -> list[Row]:
        return await self._run(lambda c: due_outbox(c, now))

    async def update_outbox(self, key: str | None, **values: Any) -> None:
        await self._run(lambda c: update_outbox(c, key, **values))

    async def delete_outbox(self, key: str) -> None:
        await self._run(lambda c: delete_outbox(c, key))
