"""Local processes: each run is `hulian.component.wrapper` in its own session and process group.

Detached (new session, stdin from /dev/null, output to the task log), so a node that stops or restarts
leaves it running; the handle (pid + the kernel's start time of that pid) lets a restarted node tell the
same process from a recycled pid. The wrapper writes the exit status file, which is the result whether or
not the node was there to see the exit.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hulian.component.managers.base import (
    STATUS_FILE,
    ContainerManager,
    Handle,
    Poll,
    PollKind,
    RunSpec,
    last_lines,
)
from hulian.core import allocator
from hulian.engine.pool import THREADS_ENV

# Passed from the node's environment to components; nothing else (the node's own secrets stay out). The
# tuning a node's operator sets for native code and malloc (docs/configuration.md) reaches its tasks.
PASS_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
            "HULIAN_ECC_BACKEND", "SSL_CERT_FILE", THREADS_ENV, allocator.KEEP_ENV, *allocator.GLIBC_ENV,
            "GLIBC_TUNABLES")


def proc_start_time(pid: int) -> str:
    """The kernel's start time of `pid` (clock ticks since boot) and "Z" appended for a zombie; "" if none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
    return fields[19] + ("Z" if fields[0] in ("Z", "X") else "")


def alive(pid: int, start_time: str) -> bool:
    """Whether the process we started is still there (not a zombie, not another process on a reused pid)."""
    if Path("/proc").is_dir():
        now = proc_start_time(pid)
        return bool(now) and now == start_time
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class ProcessManager(ContainerManager):
    kind = "process"

    def __init__(self, python: str | None = None):
        self.python = python or sys.executable
        self._children: dict[int, subprocess.Popen] = {}

    def command(self, spec: RunSpec) -> list[str]:
        res = spec.resources
        cpu_seconds = int(spec.timeout_seconds * max(res.cpu, 1)) + 1 if spec.timeout_seconds > 0 else -1
        return [self.python, "-m", "hulian.component.wrapper", "--status", str(spec.status_path),
                "--log", str(spec.log_path), "--memory-mb", str(res.memory), "--cpu-seconds", str(cpu_seconds),
                "--cores", str(res.cpu), "--disk-mb", str(res.disk), "--", *spec.registration.command]

    def environment(self, spec: RunSpec) -> dict[str, str]:
        base = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        return {**base, **spec.env}

    async def start(self, spec: RunSpec) -> Handle:
        return await asyncio.to_thread(self._spawn, spec)

    def _spawn(self, spec: RunSpec) -> Handle:
        if not spec.registration.command:
            raise ValueError(f"component {spec.registration.name} has no command to run as a local process "
                             "(register it with one, or use the docker or kubernetes manager for images)")
        Path(self.component_log_dir(spec)).mkdir(parents=True, exist_ok=True)
        spec.status_path.unlink(missing_ok=True)
        with spec.log_path.open("ab") as log:
            log.write(f"--- hulian: {spec.registration.name} for {spec.role}, attempt {spec.attempt}, "
                      f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} ---\n".encode())
            log.flush()
            child = subprocess.Popen(self.command(spec), env=self.environment(spec), cwd=spec.task_dir,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                     close_fds=True)
        self._children[child.pid] = child
        return {"pid": child.pid, "start_time": proc_start_time(child.pid), "task_dir": str(spec.task_dir)}

    def _running(self, handle: Handle) -> bool:
        """Whether the run's wrapper is still there (reaps it when it is our child); reads /proc: off the loop."""
        pid = int(handle["pid"])
        child = self._children.get(pid)
        return child.poll() is None if child is not None else alive(pid, handle.get("start_time", ""))

    async def poll(self, handle: Handle) -> Poll:
        return await asyncio.to_thread(self._poll, handle)

    def _poll(self, handle: Handle) -> Poll:
        pid = int(handle["pid"])
        running = self._running(handle)
        status = read_status(Path(handle["task_dir"]) / STATUS_FILE)
        if running and status is None:
            return Poll(PollKind.RUNNING)
        if status is None:
            self._children.pop(pid, None)
            return Poll(PollKind.GONE, message="the component's process ended without writing its exit status")
        if running:  # status written, wrapper about to exit
            return Poll(PollKind.RUNNING)
        self._children.pop(pid, None)
        code = int(status.get("exit_code", 1))
        message = "" if code == 0 else (last_lines(status.get("stderr_tail", "")) or f"exit code {code}")
        if status.get("signal"):
            message = f"killed by signal {status['signal']}" + (f": {message}" if message else "")
        return Poll(PollKind.EXITED, code, message)

    async def kill(self, handle: Handle, grace_seconds: float) -> None:
        pid = int(handle["pid"])
        if not await asyncio.to_thread(self._running, handle):
            return
        self._signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            if not await asyncio.to_thread(self._running, handle):
                return
            await asyncio.sleep(0.05)
        self._signal(pid, signal.SIGKILL)
        child = self._children.get(pid)
        if child is not None:
            await asyncio.to_thread(child.wait, 5)

    @staticmethod
    def _signal(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
