"""The BFIA component environment (component spec §3.3-3.4, guide §4.1.1) built from a TaskLaunch.

Every value is a string. Parameters that are strings are passed as they are, every other value
JSON-encoded (numbers, booleans, lists, dicts), which components JSON-decode with a fallback to the plain
string. hulian adds two keys of its own: `config.transport_ca` (CA bundle of an https transport) and
`config.topic_scope` (the task id: the black-box link prefixes its topics with it, so two tasks of one
job's session never read each other's messages).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hulian.component.launch import TaskLaunch
from hulian.data.storage import redact

CALLBACK_PATH = "/v1/platform/schedule/task/callback"


@dataclass(frozen=True)
class NodeEndpoints:
    """What a component reaches on its own node."""

    storage: str        # system.storage URL
    transport: str      # the node's base URL (the PTP container routes)
    transport_ca: str = ""

    @property
    def callback(self) -> str:
        return self.transport.rstrip("/") + CALLBACK_PATH


def encode_parameter(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def build_env(launch: TaskLaunch, node: NodeEndpoints, token: str, log_path: str,
              topic_scope: bool = True) -> dict[str, str]:
    """The environment of one component run; `token` is the session token minted for launch.session_id."""
    env = {
        "system.storage": node.storage,
        "system.transport": node.transport,
        "system.callback": node.callback,
        "config.self_role": launch.role,
        "config.task_id": launch.task_id,
        "config.session_id": launch.session_id,
        "config.trace_id": launch.trace_id,
        "config.token": token,
        "config.log.path": log_path,
        "runtime.component.name": launch.component,
    }
    for party, node_id in sorted(launch.parties.items()):
        env[f"config.node_id.{party}"] = node_id
        env[f"config.inst_id.{party}"] = launch.insts.get(party, "")
    for name, value in launch.parameters.items():
        env[f"runtime.component.parameter.{name}"] = encode_parameter(value)
    for name, address in launch.inputs.items():
        env[f"runtime.component.input.{name}"] = json.dumps(
            {"namespace": address["namespace"], "name": address["name"]}, ensure_ascii=False)
    for name, address in launch.outputs.items():
        env[f"runtime.component.output.{name}"] = json.dumps(
            {"namespace": address["namespace"], "name": address["name"]}, ensure_ascii=False)
    if node.transport_ca:
        env["config.transport_ca"] = node.transport_ca
    if topic_scope:
        env["config.topic_scope"] = launch.task_id
    return env


SECRET_KEYS = frozenset({"config.token"})


def is_secret(key: str, value: str) -> bool:
    """Whether an entry carries a credential: the session token, or a storage address with a password."""
    return key in SECRET_KEYS or (key == "system.storage" and redact(value) != value)


def loggable(env: dict[str, str]) -> dict[str, str]:
    """The environment with secrets masked (tokens, storage passwords), for logs and debugging."""
    return {k: "***" if k in SECRET_KEYS else redact(v) if k == "system.storage" else v for k, v in env.items()}
