"""The component layer's durable state, on the node's database (`hulian.store.db.metadata`)."""
from __future__ import annotations

from sqlalchemy import Column, Double, Index, Integer, String, Table, Text

from hulian.store.db import ID, metadata

# Registered components: one row per (name, version); `description` is the spec §2 JSON.
components = Table(
    "component_registry", metadata,
    Column("name", String(ID), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("provider", String(ID), nullable=False, default=""),
    Column("description", Text, nullable=False),
    Column("image", Text, nullable=False, default=""),   # "" = a local-process component (`command`)
    Column("digest", String(128), nullable=False, default=""),  # sha256:<hex> pinned at registration
    Column("labels", Text, nullable=False, default="{}"),  # image labels: log_dir, port, uds_dir
    Column("command", Text, nullable=False, default="[]"),  # local-process components: argv to run
    Column("state", String(16), nullable=False),  # component instance state (images.InstanceState)
    Column("registered_at", Double, nullable=False),
)

# One row per (task, local role) this node runs; `handle` is what the container manager needs to find it
# again after a restart (pid + start time, container id, job name).
tasks = Table(
    "component_tasks", metadata,
    Column("task_id", String(ID), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("component", String(ID), nullable=False),
    Column("version", String(64), nullable=False, default=""),
    Column("manager", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # TaskState
    Column("instance_state", String(16), nullable=False),  # InstanceState of the task's container
    Column("message", Text, nullable=False, default=""),
    Column("reported", String(16), nullable=False, default=""),  # last state given to on_status
    Column("alive", Integer, nullable=False, default=0),  # a process/container to watch or reap
    Column("handle", Text, nullable=False, default="{}"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("launch", Text, nullable=False),  # the TaskLaunch as JSON, to start it again
    Column("task_dir", Text, nullable=False),
    Column("started_at", Double, nullable=False, default=0.0),
    Column("deadline", Double, nullable=False, default=0.0),  # 0: none
    Column("ended_at", Double, nullable=False, default=0.0),
    # the latest progress the component reported, JSON {"progress": float|null, "metrics": {...}}; nullable,
    # because a database from before it gains the column by ALTER TABLE (repo.RunRepository.create)
    Column("progress", Text, nullable=True),
    Index("ix_component_tasks_alive", "alive"),
)
