"""A test component the real component layer runs as a local process for the in-process control tests.

It reads the BFIA environment it is given: `config.self_role`, and the CONF task_params of its task as
`runtime.component.parameter.<name>`. It prints three log lines ("<role> line <i>"), then:
  fail: "<text>"   writes the text to stderr and exits 1 (its role's task FAILED with that message);
  hold: true       runs until killed (stop, timeout) - at most HOLD_CAP_SECONDS, so nothing is left behind;
  hold: "<path>"   runs until that file exists (or it is killed);
otherwise it exits 0 (SUCCESS) after a short moment. Standard library only, so it starts fast.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HOLD_CAP_SECONDS = 60.0


ENV = dict(os.environ)  # BFIA names: dotted, lower case


def parameter(name: str) -> object:
    raw = ENV.get(f"runtime.component.parameter.{name}")
    if raw is None:
        return None
    try:
        return json.loads(raw)  # non-strings arrive as JSON, strings as they are
    except ValueError:
        return raw


def main() -> int:
    role = ENV["config.self_role"]
    for i in range(3):
        print(f"{role} line {i}", flush=True)
    fail, hold = parameter("fail"), parameter("hold")
    if fail:
        print(fail, file=sys.stderr, flush=True)
        return 1
    if hold:
        release = Path(hold) if isinstance(hold, str) else None
        deadline = time.monotonic() + HOLD_CAP_SECONDS
        while time.monotonic() < deadline and not (release and release.exists()):
            time.sleep(0.02)
    else:
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
