"""The BFIA component environment contract (component spec §3.3-3.4, guide §4.1.1): its keys, and the one
reader of it. The component runtime writes these keys (`hulian.component.env`); nothing else reads them.

Every value is a string. Parameters that are strings come as they are, every other value JSON-encoded, so
`parameter()` JSON-decodes with a fallback to the plain string. hulian adds two keys of its own:
`config.transport_ca` (CA bundle of an https transport) and `config.topic_scope` (the task id: the black-box
link prefixes its topics with it, so two tasks of one job's session never read each other's messages).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hulian.data.storage import parse_address
from hulian.transport.party import Party

STORAGE = "system.storage"
TRANSPORT = "system.transport"
CALLBACK = "system.callback"
SELF_ROLE = "config.self_role"
TASK_ID = "config.task_id"
SESSION_ID = "config.session_id"
TRACE_ID = "config.trace_id"
TOKEN = "config.token"
LOG_PATH = "config.log.path"
COMPONENT = "runtime.component.name"
NODE_ID = "config.node_id."          # + "<role>.<index>"
INST_ID = "config.inst_id."          # + "<role>.<index>"
PARAMETER = "runtime.component.parameter."
INPUT = "runtime.component.input."
OUTPUT = "runtime.component.output."
TRANSPORT_CA = "config.transport_ca"  # hulian extension
TOPIC_SCOPE = "config.topic_scope"    # hulian extension
SECRET_KEYS = frozenset({TOKEN})


class EnvError(ValueError):
    """The environment lacks a key or holds a value the contract does not allow; names the key."""


def encode_parameter(value: Any) -> str:
    """A parameter as the environment carries it: strings as they are, anything else JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def decode_parameter(raw: str) -> Any:
    """A parameter's value: JSON-decoded (the spec JSON-encodes non-strings), else the plain string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@dataclass(frozen=True)
class ComponentEnv:
    """The typed environment of one component run."""

    storage: str = ""
    transport: str = ""
    callback: str = ""
    self_role: str = ""
    task_id: str = ""
    session_id: str = ""
    trace_id: str = ""
    token: str = field(default="", repr=False)
    log_path: str = ""
    component: str = ""
    parties: tuple[Party, ...] = ()
    parameters: Mapping[str, str] = field(default_factory=dict)       # raw strings, for typed parsing
    inputs: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    outputs: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    transport_ca: str = ""
    topic_scope: str = ""

    @classmethod
    def read(cls, env: Mapping[str, str] = os.environ) -> ComponentEnv:
        """Parse `env`; EnvError naming the key when a value breaks the contract."""
        nodes = {k.removeprefix(NODE_ID): v for k, v in env.items() if k.startswith(NODE_ID)}
        parties = tuple(Party(pid, nodes[pid], env.get(INST_ID + pid, "")) for pid in sorted(nodes))
        return cls(
            storage=env.get(STORAGE, ""), transport=env.get(TRANSPORT, ""), callback=env.get(CALLBACK, ""),
            self_role=env.get(SELF_ROLE, "").split(",")[0].strip(), task_id=env.get(TASK_ID, ""),
            session_id=env.get(SESSION_ID, ""), trace_id=env.get(TRACE_ID, ""), token=env.get(TOKEN, ""),
            log_path=env.get(LOG_PATH, ""), component=env.get(COMPONENT, ""), parties=parties,
            parameters={k.removeprefix(PARAMETER): v for k, v in env.items() if k.startswith(PARAMETER)},
            inputs={k.removeprefix(INPUT): parse_address(v, k) for k, v in sorted(env.items()) if k.startswith(INPUT)},
            outputs={k.removeprefix(OUTPUT): parse_address(v, k) for k, v in sorted(env.items())
                     if k.startswith(OUTPUT)},
            transport_ca=env.get(TRANSPORT_CA, ""), topic_scope=env.get(TOPIC_SCOPE, ""))

    def require(self, *names: str) -> None:
        """EnvError naming every contract key among `names` (attribute names) that is empty."""
        keys = {"storage": STORAGE, "transport": TRANSPORT, "session_id": SESSION_ID, "self_role": SELF_ROLE}
        missing = [keys.get(n, n) for n in names if not getattr(self, n)]
        if missing:
            raise EnvError(f"the component environment lacks {', '.join(missing)}; the scheduler must inject them")

    @property
    def local(self) -> Party:
        """This party; EnvError when `config.self_role` names no party of `config.node_id.*`."""
        for party in self.parties:
            if party.party_id == self.self_role:
                return party
        if not self.parties and self.self_role:  # a task alone on its node (local statistics)
            return Party(self.self_role)
        raise EnvError(f"{SELF_ROLE}={self.self_role!r} has no {NODE_ID}{self.self_role} in the environment "
                       f"(parties: {[p.party_id for p in self.parties]})")

    @property
    def job_id(self) -> str:
        return self.session_id.removeprefix("session_") or "job"

    def input_address(self, key: str) -> tuple[str, str]:
        """(namespace, name) of input `key`, else of the first input given; EnvError when there is none."""
        if key in self.inputs:
            return self.inputs[key]
        if self.inputs:
            return next(iter(self.inputs.values()))
        raise EnvError(f"no {INPUT}<name> in the environment: the task needs the party's dataset")

    def output_address(self, key: str, fallback_task: str = "task") -> tuple[str, str]:
        """(namespace, name) of output `key` (or the first output given), else the guide's default address:
        namespace `<job_id>-<role>-<index>`, name `<task_id>-<key>`."""
        if key in self.outputs:
            return self.outputs[key]
        if self.outputs:
            return next(iter(self.outputs.values()))
        role = (self.self_role or "party.0").replace(".", "-")
        return f"{self.job_id}-{role}", f"{self.task_id or fallback_task}-{key}"
