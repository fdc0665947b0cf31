"""What every component's entry point does the same way (light: components import it at start).

- `component_main`: log to stderr, run, print the JSON report on stdout and exit 0, or print
  "<name> failed: <why>" on stderr and exit 1 (the component layer turns both into the task's status);
- `default_output`: the guide's output address when the scheduler gave none: namespace
  `<job_id>-<role>-<index>`, name `<task_id>-<key>`.
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

Env = Mapping[str, str]


def default_output(env: Env, key: str, fallback_task: str = "task") -> tuple[str, str]:
    job = env.get("config.session_id", "job").removeprefix("session_")
    role = env.get("config.self_role", "party.0").split(",")[0].strip().replace(".", "-")
    return f"{job}-{role}", f"{env.get('config.task_id', fallback_task)}-{key}"


def component_main(name: str, run: Callable[[Env], Any], errors: tuple[type[BaseException], ...], env: Env) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        report = run(env)
    except errors as e:
        print(f"{name} failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps(report, ensure_ascii=False))
    return 0
