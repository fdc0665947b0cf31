"""What the control plane needs of a component runtime: the one interface it reaches the runtime through.

`hulian.node` wires the real runtime (`hulian.component.service.ComponentService`) in; the control plane
imports nothing of the runtime but its shared models (`hulian.component`'s `TaskLaunch` and `TaskState`).
"""
from __future__ import annotations

from typing import Any, Protocol

from hulian.component import TaskLaunch, TaskState


class ComponentRuntime(Protocol):
    """The component layer as the control plane uses it; `start` and `stop` are idempotent."""

    def description(self, name: str, version: str | None = None) -> dict[str, Any] | None:
        """The registered self-description of a component (newest version when `version` is None); None when
        unknown, which makes the control plane refuse a DAG naming it."""

    async def register(self, description: dict[str, Any], image: str = "") -> None:
        """Register or replace a component (`/v1/platform/component/register`); ValueError names a bad field."""

    async def start(self, launch: TaskLaunch) -> None:
        """Start the component for (launch.task_id, launch.role); a repeated start is a no-op."""

    async def stop(self, task_id: str, role: str) -> None:
        """Stop the run if it runs (FAILED, "stopped"); unknown ids are a no-op."""

    async def state(self, task_id: str, role: str) -> tuple[TaskState, str]:
        """(state, message) of the run; PENDING for a task never started here."""

    async def progress(self, task_id: str, role: str) -> dict[str, Any]:
        """`{"progress": float 0..1 | None, "metrics": {name: number | str}}`: the latest the component
        reported to its callback (None and {} when it reported none)."""

    async def on_callback(self, task_id: str, role: str, status: str, message: str = "",
                          progress: Any = None, metrics: Any = None) -> bool:
        """A component's status callback, optionally with its `progress` (0..1) and `metrics`; False for a task
        not run here, ValueError for a status that is not RUNNING, SUCCESS or FAILED, or a bad progress or
        metric."""

    async def log(self, task_id: str, role: str, start: int = 0, length: int = 1000,
                  level: str = "info") -> list[str]:
        """Lines `start`..`start+length` of the run's captured output."""

    async def log_line_count(self, task_id: str, role: str, level: str = "info") -> int:
        """How many lines the run's log holds (get_log_line)."""
