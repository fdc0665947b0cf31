"""A task's log as the control plane reads it: lines of the one file every manager writes (`task.log`)."""
from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from hulian.component.managers.base import LOG_FILE


def log_path(task_dir: str) -> Path:
    return Path(task_dir) / LOG_FILE


async def read_lines(task_dir: str, start: int, length: int) -> list[str]:
    """Lines `start`..`start+length` (none when the log is not there yet)."""
    first = max(start, 0)

    def read() -> list[str]:
        try:
            with log_path(task_dir).open(errors="replace") as f:
                return [ln.rstrip("\n") for ln in itertools.islice(f, first, first + max(length, 0))]
        except FileNotFoundError:
            return []

    return await asyncio.to_thread(read)


async def count_lines(task_dir: str) -> int:
    def count() -> int:
        try:
            with log_path(task_dir).open("rb") as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0

    return await asyncio.to_thread(count)
