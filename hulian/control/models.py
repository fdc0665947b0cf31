"""The control plane's tables on the node database (shared `metadata`): everything a restarted node needs to
resume — jobs with their DAG/CONF, tasks with the scheduler's progress, and per-party task states."""
from __future__ import annotations

from sqlalchemy import Column, Double, Index, Integer, String, Table, Text

from hulian.store.db import ID, metadata

__all__ = ["jobs", "outbox", "party_tasks", "progress", "tasks"]


jobs = Table(
    "ctl_jobs", metadata,
    Column("job_id", String(ID), primary_key=True),
    Column("flow_id", String(ID), nullable=False, default=""),
    Column("dag", Text, nullable=False),
    Column("conf", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("scheduler", String(ID), nullable=False),   # node id of the job's scheduler
    Column("message", Text, nullable=False, default=""),  # why it was rejected or failed
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Index("ix_ctl_jobs_flow", "flow_id"),
)

# One row per DAG task. On the scheduler: the aggregate state and progress; elsewhere: the local view.
tasks = Table(
    "ctl_tasks", metadata,
    Column("job_id", String(ID), primary_key=True),
    Column("task_name", String(ID), primary_key=True),
    Column("task_id", String(ID), nullable=True, unique=True),
    Column("status", String(16), nullable=False),
    Column("stopped", Integer, nullable=False, default=0),  # 1: FAILED because someone stopped it
    Column("message", Text, nullable=False, default=""),
    Column("started_at", Double, nullable=True),
    Column("deadline", Double, nullable=True),  # the scheduler fails the task after this (timeout)
    Column("updated_at", Double, nullable=False),
)

# One row per (task, party). The scheduler holds every party's; a party holds its own roles'.
party_tasks = Table(
    "ctl_party_tasks", metadata,
    Column("task_id", String(ID), primary_key=True),
    Column("role", String(64), primary_key=True),  # "guest.0"
    Column("job_id", String(ID), nullable=False),
    Column("task_name", String(ID), nullable=False),
    Column("node_id", String(ID), nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("last_seen", Double, nullable=False),  # last answer from that party (unreachable detection)
    Column("updated_at", Double, nullable=False),
    Index("ix_ctl_party_job", "job_id"),
)

# Calls the scheduler must get to a party (job/stop): kept until the party answers, across restarts (a FATE-Flow
# party never asks back for a stop it missed).
outbox = Table(
    "ctl_outbox", metadata,
    Column("key", String(64), primary_key=True),  # sha256 of node, path and body: one row per distinct call
    Column("job_id", String(ID), nullable=False),
    Column("node_id", String(ID), nullable=False),
    Column("path", String(128), nullable=False),
    Column("body", Text, nullable=False),  # JSON
    Column("attempts", Integer, nullable=False),
    Column("next_at", Double, nullable=False),
    Column("last_error", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
)

# The latest progress and metrics a party's component reported, as the scheduler last heard them from that
# party's task/poll (local parties are read from the component runtime instead). A table of its own: the tables
# above keep the columns nodes of earlier versions created.
progress = Table(
    "ctl_progress", metadata,
    Column("job_id", String(ID), nullable=False),
    Column("task_id", String(ID), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("progress", Double, nullable=True),  # 0..1; NULL: none reported
    Column("metrics", Text, nullable=False, default="{}"),  # JSON object
    Column("updated_at", Double, nullable=False),
    Index("ix_ctl_progress_job", "job_id"),
)
