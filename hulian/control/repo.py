"""Reads and writes of the control tables, as synchronous functions of a connection (run them through
`Database.run`, which keeps them off the event loop and serialises SQLite writes)."""
from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from hulian.control.models import TaskState, jobs, outbox, party_tasks, tasks

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
