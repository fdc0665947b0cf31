"""The contract between the control plane (which decides that a task runs) and the component layer (which
runs it): what a task launch carries, and what the component layer answers.

The control plane builds one `TaskLaunch` per (task, local role) from the job's DAG and CONF and calls
`ComponentRunner.start`; the component layer turns it into the BFIA component environment (spec part 3,
`system.*`, `config.*`, `runtime.*`), starts the component, and reports every state change through the
`on_status` callback it was given. Both sides keep their own durable state; `start` and `stop` are idempotent.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TaskState(StrEnum):
    """Task states of the control spec (CTL §1.4)."""

    PENDING = "PENDING"
    READY = "READY"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"

    @property
    def ended(self) -> bool:
        return self in (TaskState.SUCCESS, TaskState.FAILED)


@dataclass(frozen=True)
class Resources:
    """CONF `job_params.<role>.<index>.resources`; -1 = unlimited. Memory in MB, disk in MB."""

    cpu: float = -1
    memory: int = -1
    disk: int = -1


@dataclass(frozen=True)
class TaskLaunch:
    job_id: str
    task_id: str                       # made by the scheduler, shared by all parties
    task_name: str                     # the DAG component's `name`
    session_id: str                    # "session_" + job_id
    component: str                     # componentName (or Kuscia's module_name), e.g. "ecdh_psi"
    provider: str
    version: str
    role: str                          # this party's role and index, e.g. "guest.0"
    parties: dict[str, str]            # every party of the job: "guest.0" -> node id
    insts: dict[str, str]              # "guest.0" -> institution id ("" when unknown)
    parameters: dict[str, Any]         # CONF task_params common merged with this role/index's, for this task
    inputs: dict[str, dict[str, str]]  # input name -> {"namespace", "name"} (resolved dataset or upstream output)
    outputs: dict[str, dict[str, str]]  # output key -> {"namespace", "name"}
    resources: Resources = field(default_factory=Resources)
    timeout_seconds: float = 0         # 0: none; the component is killed and FAILED after this long
    max_retries: int = 0               # restarts of a component that is gone (not of one that failed)
    trace_id: str = ""


StatusCallback = Callable[[str, str, TaskState, str], Awaitable[None]]
"""on_status(task_id, role, state, message): message is the error text when FAILED."""


class ComponentRunner(ABC):
    """The component layer as the control plane sees it (hulian.component.service implements it)."""

    @abstractmethod
    async def open(self) -> None:
        """Bring the layer up at node start (and adopt the runs a previous process left)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop watching at node stop; runs go on and are adopted by the next `open`."""

    @abstractmethod
    def description(self, name: str, version: str | None = None) -> dict[str, Any] | None:
        """The registered self-description (component spec §2: componentName, provider, version, roleList,
        inputParam, inputData, outputData, ...) of a component, newest version when `version` is None;
        None when unknown (the control plane refuses such a DAG at create)."""

    @abstractmethod
    async def register(self, description: dict[str, Any], image: str = "") -> None:
        """Register (or replace) a component from its self-description (`/v1/platform/component/register`);
        raises ValueError naming the offending field."""

    @abstractmethod
    async def start(self, launch: TaskLaunch) -> None:
        """Start the component for (launch.task_id, launch.role); a repeated start is a no-op."""

    @abstractmethod
    async def on_callback(self, task_id: str, role: str, status: str, message: str = "",
                          progress: Any = None, metrics: Any = None) -> bool:
        """A component's status callback, optionally with its `progress` (0..1) and `metrics` (name -> number
        or string); False for a task this node does not run, ValueError for a status other than RUNNING,
        SUCCESS or FAILED or for a bad progress or metric."""

    @abstractmethod
    async def progress(self, task_id: str, role: str) -> dict[str, Any]:
        """The latest progress the run reported: {"progress": float | None, "metrics": {...}} (None and {}
        when it reported none, or for a task never started here)."""

    @abstractmethod
    async def stop(self, task_id: str, role: str) -> None:
        """Stop it if running (its state becomes FAILED with message "stopped"); unknown ids are a no-op."""

    @abstractmethod
    async def state(self, task_id: str, role: str) -> tuple[TaskState, str]:
        """(state, message); PENDING for a task never started here."""

    @abstractmethod
    async def log(self, task_id: str, role: str, start: int = 0, length: int = 1000,
                  level: str = "info") -> list[str]:
        """Lines `start`..`start+length` of the task's captured stdout/stderr."""

    @abstractmethod
    async def log_line_count(self, task_id: str, role: str, level: str = "info") -> int:
        """Number of lines the task's log holds (get_log_line)."""
