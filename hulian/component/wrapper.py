"""The tiny parent of a local-process component: `python -m hulian.component.wrapper --status F --log L -- argv`.

Why it exists: the node may restart while a component runs. The wrapper, not the node, waits for the
component, so its exit status is written to the status file (atomically, JSON {exit_code, signal,
stderr_tail, ended_at}) even when no node is there to see it; a restarted node reads it. It applies the
task's OS limits to the component only (memory: RLIMIT_AS, CPU time: RLIMIT_CPU, cores: CPU affinity,
disk: RLIMIT_FSIZE per file), appends stdout and stderr to the task log, and keeps stderr's tail for the
failure message. Standard library only, so it starts fast and never pulls the node in.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import subprocess
import sys
import time

TAIL_BYTES = 4096
MiB = 1 << 20


def limiter(memory_mb: int, cpu_seconds: int, cores: float, disk_mb: int):
    """A preexec function applying the limits in the component's process (-1 / 0 = unlimited)."""

    def apply() -> None:
        if memory_mb > 0:
            resource.setrlimit(resource.RLIMIT_AS, (memory_mb * MiB, memory_mb * MiB))
        if cpu_seconds > 0:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
        if disk_mb > 0:
            resource.setrlimit(resource.RLIMIT_FSIZE, (disk_mb * MiB, disk_mb * MiB))
        if cores > 0 and hasattr(os, "sched_setaffinity"):
            allowed = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, allowed[:max(1, math.ceil(cores))])

    return apply


def write_status(path: str, status: dict) -> None:
    tmp = path + ".part"
    with open(tmp, "w") as f:
        json.dump(status, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hulian.component.wrapper")
    ap.add_argument("--status", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--memory-mb", type=int, default=-1)
    ap.add_argument("--cpu-seconds", type=int, default=-1)
    ap.add_argument("--cores", type=float, default=-1)
    ap.add_argument("--disk-mb", type=int, default=-1)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no component command after --")
    # SIGTERM to the task's process group ends the component; the wrapper stays to record how it ended.
    signal.signal(signal.SIGTERM, lambda *_: None)
    tail = b""
    with open(args.log, "ab") as log:
        try:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.PIPE,
                                     preexec_fn=limiter(args.memory_mb, args.cpu_seconds, args.cores,
                                                        args.disk_mb))
        except OSError as e:
            message = f"cannot start the component {command[0]!r}: {e}\n".encode()
            log.write(message)
            write_status(args.status, {"exit_code": 127, "signal": 0, "stderr_tail": message.decode(),
                                       "ended_at": time.time()})
            return 127
        fd = child.stderr.fileno()
        while chunk := os.read(fd, 65536):
            log.write(chunk)
            log.flush()
            tail = (tail + chunk)[-TAIL_BYTES:]
        code = child.wait()
    exit_code, sig = (code, 0) if code >= 0 else (128 - code, -code)  # killed by signal N: the shell's 128+N
    write_status(args.status, {"exit_code": exit_code, "signal": sig,
                               "stderr_tail": tail.decode("utf-8", "replace"), "ended_at": time.time()})
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
