"""The interpreter of a peer's side venv (bench/side_venv.sh through bench/<name>_env.sh), made on first use,
and what the scripts that run in those venvs share (stdlib only: they cannot import hulian)."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

BENCH = Path(__file__).resolve().parent


def side_python(env_script: str, what: str) -> Path | None:
    """The side venv's python, or None (with the reason on stderr) when it cannot be installed here."""
    made = subprocess.run(["bash", str(BENCH / env_script)], capture_output=True, text=True)
    if made.returncode != 0:
        print(f"  no {what} reference: it could not be installed ({made.stderr[-300:]})", file=sys.stderr)
        return None
    return Path(made.stdout.strip().splitlines()[-1])


# What the side scripts (run by a side venv's python, stdlib only here) share with ours.
def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """fn's result and its median seconds over `repeat` runs (a cheap op's one run is noise)."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def json_stdout() -> TextIO:
    """The real stdout, for the one JSON result line; fd 1 goes to stderr from now on, because a peer's C++
    logging (spu, yacl) writes to fd 1."""
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return out


def write_json(out: TextIO, result: Any) -> None:
    out.write(json.dumps(result) + "\n")
    out.flush()


def free_ports(n: int) -> list[int]:
    """`n` distinct free loopback ports, all held open while chosen (a port let go may be handed out again at
    once); hulian.node.cluster.free_ports for the scripts that cannot import hulian."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
