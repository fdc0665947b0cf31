"""The interface every container manager implements, and what it is given and answers.

A manager is stateless across node restarts: all it needs to find a run again is the `handle` it returned
from `start` (stored in the database by the service).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hulian.component.launch import Resources
from hulian.component.registry import Registration

Handle = dict[str, Any]
SignatureVerifier = Callable[[str, str], None]
"""verify(image_reference, digest): raises ImageError when the image's signature does not verify."""

STATUS_FILE = "status.json"
LOG_FILE = "task.log"


class PollKind(StrEnum):
    RUNNING = "RUNNING"
    EXITED = "EXITED"  # ended with an exit code
    GONE = "GONE"      # vanished without a result (killed, machine restarted, container removed)


@dataclass(frozen=True)
class Poll:
    kind: PollKind
    exit_code: int | None = None
    message: str = ""  # stderr's last lines when it failed


@dataclass(frozen=True)
class RunSpec:
    """One run of a component for (task, role)."""

    task_id: str
    role: str
    registration: Registration
    env: dict[str, str]
    task_dir: Path  # the node-side directory of the task: log, status, component log dir
    resources: Resources = field(default_factory=Resources)
    timeout_seconds: float = 0
    attempt: int = 1

    @property
    def log_path(self) -> Path:
        return self.task_dir / LOG_FILE

    @property
    def status_path(self) -> Path:
        return self.task_dir / STATUS_FILE


def last_lines(text: str, n: int = 10) -> str:
    """The last `n` non-empty lines: what a failed component said last."""
    return "\n".join([ln for ln in text.splitlines() if ln.strip()][-n:])


class ContainerManager(ABC):
    kind: str = ""

    async def prepare(self, registration: Registration) -> None:
        """Make the component's image present and verified (raises ImageError); local processes need nothing."""

    def component_log_dir(self, spec: RunSpec) -> str:
        """`config.log.path` as the component sees it."""
        return str(spec.task_dir / "logs")

    @abstractmethod
    async def start(self, spec: RunSpec) -> Handle:
        """Start the run detached from the node; returns what finds it again."""

    @abstractmethod
    async def poll(self, handle: Handle) -> Poll:
        """Is it running, did it exit (with which code), or is it gone?"""

    @abstractmethod
    async def kill(self, handle: Handle, grace_seconds: float) -> None:
        """End it: politely, then by force after `grace_seconds`."""

    async def collect(self, handle: Handle, log_path: Path) -> None:
        """After the end: bring its output into the task log and remove what is left of it."""


DEFAULT_LOG_DIR = "/var/log/component"


def log_dir_in_container(reg: Registration) -> str:
    """Where an image writes its logs: its `log_dir` label, else a fixed directory we mount."""
    return reg.labels.get("log_dir") or DEFAULT_LOG_DIR


class ImageManager(ContainerManager):
    """What the container managers of images share: the signature hook and the log directory label."""

    def __init__(self, verify_signature: SignatureVerifier | None = None):
        self.verify_signature = verify_signature

    def component_log_dir(self, spec: RunSpec) -> str:
        return log_dir_in_container(spec.registration)
