"""The BFIA component environment (component spec §3.3-3.4, guide §4.1.1) built from a TaskLaunch: the one
writer of the contract whose keys, and one reader, are in `hulian.sdk.env`.

Every value is a string: parameters that are strings as they are, every other value JSON-encoded. hulian adds
`config.transport_ca` (CA bundle of an https transport) and `config.topic_scope` (the task id: the black-box
link prefixes its topics with it, so two tasks of one job's session never read each other's messages).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from hulian.component.launch import TaskLaunch
from hulian.data.storage import redact
from hulian.sdk import env as K

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


def _address(address: dict[str, str]) -> str:
    return json.dumps({"namespace": address["namespace"], "name": address["name"]}, ensure_ascii=False)


def build_env(launch: TaskLaunch, node: NodeEndpoints, token: str, log_path: str,
              topic_scope: bool = True) -> dict[str, str]:
    """The environment of one component run; `token` is the session token minted for launch.session_id."""
    env = {
        K.STORAGE: node.storage,
        K.TRANSPORT: node.transport,
        K.CALLBACK: node.callback,
        K.SELF_ROLE: launch.role,
        K.TASK_ID: launch.task_id,
        K.SESSION_ID: launch.session_id,
        K.TRACE_ID: launch.trace_id,
        K.TOKEN: token,
        K.LOG_PATH: log_path,
        K.COMPONENT: launch.component,
    }
    for party, node_id in sorted(launch.parties.items()):
        env[K.NODE_ID + party] = node_id
        env[K.INST_ID + party] = launch.insts.get(party, "")
    for name, value in launch.parameters.items():
        env[K.PARAMETER + name] = K.encode_parameter(value)
    for name, address in launch.inputs.items():
        env[K.INPUT + name] = _address(address)
    for name, address in launch.outputs.items():
        env[K.OUTPUT + name] = _address(address)
    if node.transport_ca:
        env[K.TRANSPORT_CA] = node.transport_ca
    if topic_scope:
        env[K.TOPIC_SCOPE] = launch.task_id
    return env


def is_secret(key: str, value: str) -> bool:
    """Whether an entry carries a credential: the session token, or a storage address with a password."""
    return key in K.SECRET_KEYS or (key == K.STORAGE and redact(value) != value)


def loggable(env: dict[str, str]) -> dict[str, str]:
    """The environment with secrets masked (tokens, storage passwords), for logs and debugging."""
    return {k: "***" if k in K.SECRET_KEYS else redact(v) if k == K.STORAGE else v for k, v in env.items()}
