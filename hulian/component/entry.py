"""What every component's entry point does the same way (light: components import it at start).

- `component_main`: log to stderr, run, print the JSON report on stdout and exit 0, or print
  "<name> failed: <why>" on stderr and exit 1 (the component layer turns both into the task's status);
- `input_address` / `output_address`: a component's dataset addresses from `runtime.component.input|output.*`;
  an output the scheduler did not name gets the guide's address (`default_output`): namespace
  `<job_id>-<role>-<index>`, name `<task_id>-<key>`.
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

from hulian.data.storage import StorageError, parse_address

Env = Mapping[str, str]


INPUT_PREFIX = "runtime.component.input."
OUTPUT_PREFIX = "runtime.component.output."


def default_output(env: Env, key: str, fallback_task: str = "task") -> tuple[str, str]:
    job = env.get("config.session_id", "job").removeprefix("session_")
    role = env.get("config.self_role", "party.0").split(",")[0].strip().replace(".", "-")
    return f"{job}-{role}", f"{env.get('config.task_id', fallback_task)}-{key}"


def _named_or_first(env: Env, prefix: str, key: str) -> tuple[str, str] | None:
    """(env key, value) of `prefix + key`, else of the first key with `prefix`, else None."""
    if prefix + key in env:
        return prefix + key, env[prefix + key]
    first = next((k for k in sorted(env) if k.startswith(prefix)), None)
    return (first, env[first]) if first else None


def input_address(env: Env, key: str) -> tuple[str, str]:
    """(namespace, name) of the input `key`, or of the first input given; StorageError when there is none."""
    given = _named_or_first(env, INPUT_PREFIX, key)
    if given is None:
        raise StorageError(f"no {INPUT_PREFIX}<name> in the environment: the task needs the party's dataset")
    return parse_address(given[1], given[0])


def output_address(env: Env, key: str, fallback_task: str = "task") -> tuple[str, str]:
    """(namespace, name) of the output `key` (or the first output given), else the guide's default address."""
    given = _named_or_first(env, OUTPUT_PREFIX, key)
    return parse_address(given[1], given[0]) if given else default_output(env, key, fallback_task)


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
