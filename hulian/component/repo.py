"""The component plane in the database, the one place that writes its SQL: task runs and registrations.

A run is one (task, local role); its row holds all the service needs to adopt it after a restart (the launch,
the manager's handle, the last state reported) and the latest progress the component called back.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect, or_, select, text
from sqlalchemy.engine import Connection

from hulian.component import models as m
from hulian.component.images import InstanceState
from hulian.component.launch import Resources, TaskLaunch, TaskState
from hulian.store.db import Database


@dataclass
class TaskRun:
    """One (task, role) as the database row holds it."""

    task_id: str
    role: str
    component: str
    version: str
    manager: str
    state: TaskState
    instance_state: InstanceState
    launch: TaskLaunch
    task_dir: str
    message: str = ""
    reported: str = ""
    alive: bool = False
    handle: dict[str, Any] = dataclasses.field(default_factory=dict)
    attempts: int = 0
    started_at: float = 0.0
    deadline: float = 0.0
    ended_at: float = 0.0
    progress: float | None = None
    metrics: dict[str, float | int | str] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return self.task_id, self.role

    def row(self) -> dict[str, Any]:
        reported = self.progress is not None or self.metrics
        return {"task_id": self.task_id, "role": self.role, "component": self.component, "version": self.version,
                "manager": self.manager, "state": self.state.value, "instance_state": self.instance_state.value,
                "message": self.message, "reported": self.reported, "alive": int(self.alive),
                "handle": json.dumps(self.handle), "attempts": self.attempts,
                "launch": json.dumps(dataclasses.asdict(self.launch), ensure_ascii=False),
                "task_dir": self.task_dir, "started_at": self.started_at, "deadline": self.deadline,
                "ended_at": self.ended_at,
                "progress": json.dumps({"progress": self.progress, "metrics": self.metrics}, ensure_ascii=False)
                if reported else None}

    @classmethod
    def from_row(cls, row: Any) -> TaskRun:
        raw = json.loads(row["launch"])
        launch = TaskLaunch(**{**raw, "resources": Resources(**raw.get("resources", {}))})
        progress = json.loads(row.get("progress") or "{}")
        return cls(row["task_id"], row["role"], row["component"], row["version"], row["manager"],
                   TaskState(row["state"]), InstanceState(row["instance_state"]), launch, row["task_dir"],
                   row["message"], row["reported"], bool(row["alive"]), json.loads(row["handle"]),
                   row["attempts"], row["started_at"], row["deadline"], row["ended_at"],
                   progress.get("progress"), progress.get("metrics") or {})


class RunRepository:
    """Reads and writes `component_tasks` (and creates the component plane's tables)."""

    def __init__(self, db: Database):
        self.db = db

    async def create(self) -> None:
        """Create the tables; a table from before the `progress` column gains it (nullable, so old rows and
        every dialect accept the ALTER)."""
        def create() -> None:
            m.metadata.create_all(self.db.engine, tables=[m.components, m.tasks])
            columns = {c["name"] for c in inspect(self.db.engine).get_columns(m.tasks.name)}
            if "progress" not in columns:
                with self.db.engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {m.tasks.name} ADD COLUMN progress TEXT NULL"))

        await self.db.call(create)

    async def pending(self) -> list[TaskRun]:
        """Runs still alive, or whose last state the control plane has not been told: what a restart adopts."""
        def read(conn: Connection) -> list[Any]:
            t = m.tasks.c
            return list(conn.execute(select(m.tasks).where(or_(t.alive == 1, t.reported != t.state))).mappings())

        return [TaskRun.from_row(row) for row in await self.db.run(read)]

    async def find(self, task_id: str, role: str) -> TaskRun | None:
        def read(conn: Connection) -> Any:
            return conn.execute(select(m.tasks).where(m.tasks.c.task_id == task_id, m.tasks.c.role == role)
                                ).mappings().first()

        row = await self.db.run(read)
        return TaskRun.from_row(row) if row is not None else None

    async def save(self, run: TaskRun, insert: bool = False) -> None:
        row = run.row()

        def write(conn: Connection) -> None:
            if insert:
                conn.execute(m.tasks.insert().values(**row))
            else:
                conn.execute(m.tasks.update().where(m.tasks.c.task_id == run.task_id, m.tasks.c.role == run.role)
                             .values(**row))

        await self.db.run(write)


class RegistrationRepository:
    """Reads and writes `component_registry`: one row per (name, version)."""

    def __init__(self, db: Database):
        self.db = db

    async def all(self) -> list[Any]:
        return await self.db.run(lambda conn: list(conn.execute(select(m.components)).mappings()))

    async def replace(self, name: str, version: str, values: dict[str, Any]) -> None:
        """The registration of (name, version) becomes `values`, whatever was there."""
        def write(conn: Connection) -> None:
            c = m.components.c
            conn.execute(m.components.delete().where(c.name == name, c.version == version))
            conn.execute(m.components.insert().values(name=name, version=version, **values))

        await self.db.run(write)

    async def set_state(self, name: str, version: str, state: str) -> None:
        c = m.components.c
        await self.db.run(lambda conn: conn.execute(
            m.components.update().where(c.name == name, c.version == version).values(state=state)))
