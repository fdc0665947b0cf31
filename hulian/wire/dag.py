"""The job's DAG and CONF wire formats (control spec §6.6-6.7, guide §3.1.1): models, parsing and validation.
Pure functions, no I/O: the control plane asks the component layer for self-descriptions through the
`describe` callable it passes in, and resolves a job per task and party itself (`hulian.control.planning`).

Both DAG shapes are accepted: the spec's `componentName`/`provider`/`version`, and Kuscia's `code` (the image)
plus `module_name` (the component inside it). Input keys are `<task name>.<output key>`.

Task system parameters (hulian's documented keys, docs/control.md): `task_params.<...>.<task>.system` is a
dict of `timeout` (seconds), `max_retries`, `cpu`, `memory` (MB); it is removed from the component's parameters,
and `cpu`/`memory` override the job's resources for that task.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SYSTEM_KEY = "system"
SYSTEM_PARAMS = ("timeout", "max_retries", "cpu", "memory")
_INDEX_KEY = re.compile(r"^\d+(\|\d+)*$")

Describe = Callable[[str, str | None], dict[str, Any] | None]


class DagError(ValueError):
    """A DAG or CONF the node refuses; `path` names the offending field (e.g. `dag.components[1].input[0].key`)."""

    def __init__(self, path: str, message: str, unknown_component: bool = False):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.unknown_component = unknown_component


class IoItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = ""
    key: str


class DagComponent(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    name: str = Field(min_length=1)
    component_name: str = Field("", alias="componentName")
    provider: str = ""
    version: str = ""
    code: str = ""          # Kuscia: the AppImage holding the component
    module_name: str = ""   # Kuscia: the component inside the image
    input: list[IoItem] = Field(default_factory=list)
    output: list[IoItem] = Field(default_factory=list)

    @property
    def component(self) -> str:
        """The component to run, in either shape."""
        return self.component_name or self.module_name

    @property
    def upstream(self) -> list[str]:
        return [i.key.split(".", 1)[0] for i in self.input if "." in i.key]


class Dag(BaseModel):
    model_config = ConfigDict(extra="allow")
    version: str = ""
    components: list[DagComponent] = Field(min_length=1)

    def component(self, name: str) -> DagComponent | None:
        return next((c for c in self.components if c.name == name), None)


class Initiator(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    node_id: str = Field(min_length=1)


class Conf(BaseModel):
    model_config = ConfigDict(extra="allow")
    version: str = ""
    initiator: Initiator
    role: dict[str, list[str]]
    job_params: dict[str, Any] = Field(default_factory=dict)
    task_params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("role")
    @classmethod
    def _some_party(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        if not any(v.values()):
            raise ValueError("names no node; give at least one role with node ids")
        return v

    @property
    def sync_type(self) -> str:
        common = self.job_params.get("common") or {}
        return str(common.get("sync_type") or "poll").lower()

    def parties(self) -> dict[str, str]:
        """Every party: "guest.0" -> node id."""
        return {f"{r}.{i}": node for r, nodes in self.role.items() for i, node in enumerate(nodes or [])}

    def nodes(self) -> list[str]:
        """Distinct node ids, initiator first (a node holding several roles appears once)."""
        seen = [self.initiator.node_id]
        for node in self.parties().values():
            if node not in seen:
                seen.append(node)
        return seen


def _path_of(prefix: str, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = prefix
    for part in first["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else f".{part}"
    return loc


def _parse(model: type[BaseModel], raw: Any, where: str, expect: str) -> Any:
    if not isinstance(raw, dict):
        raise DagError(where, f"must be an object with {expect}")
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise DagError(_path_of(where, e), e.errors()[0]["msg"]) from None


def parse_dag(raw: Any) -> Dag:
    return _parse(Dag, raw, "dag", "version and components")


def parse_conf(raw: Any) -> Conf:
    return _parse(Conf, raw, "config", "initiator, role, job_params, task_params")


# ---- validation --------------------------------------------------------------------------------------------
def validate(dag: Dag, conf: Conf, describe: Describe | None = None) -> None:
    """Refuse what cannot run, naming the field: duplicate names, dangling or cyclic inputs, unknown components,
    roles without nodes, bad index keys."""
    names: dict[str, int] = {}
    for i, c in enumerate(dag.components):
        if c.name in names:
            raise DagError(f"dag.components[{i}].name", f"{c.name!r} repeats dag.components[{names[c.name]}].name; "
                           "task names must be unique in a job")
        names[c.name] = i
        if not c.component:
            raise DagError(f"dag.components[{i}].componentName", "is empty (give componentName, or module_name)")
    for i, c in enumerate(dag.components):
        for j, item in enumerate(c.input):
            if "." not in item.key:
                continue
            producer, key = item.key.split(".", 1)
            where = f"dag.components[{i}].input[{j}].key"
            if producer not in names:
                raise DagError(where, f"{item.key!r} names task {producer!r}, which is not in the DAG")
            outputs = [o.key for o in dag.components[names[producer]].output]
            if key not in outputs:
                raise DagError(where, f"{item.key!r}: task {producer!r} has no output {key!r} (outputs: {outputs})")
    order(dag)  # raises on cycles
    _validate_roles(conf)
    _validate_index_keys(conf, names)
    if describe is not None:
        for i, c in enumerate(dag.components):
            desc = describe(c.component, c.version or None)
            if desc is None:
                raise DagError(f"dag.components[{i}].componentName",
                               f"component {c.component!r} (version {c.version or 'any'}) is not registered on this "
                               "node; register it (/v1/platform/component/register) or fix the name",
                               unknown_component=True)
            role_list = desc.get("roleList") or []
            if role_list and not any(conf.role.get(r) for r in role_list):
                raise DagError("config.role", f"component {c.component!r} of task {c.name!r} runs as "
                               f"{role_list}, but the CONF gives none of these roles a node")
            for role, per_index in conf.task_params.items():
                if role != "common" and role_list and role not in role_list and isinstance(per_index, dict) and \
                        any(isinstance(v, dict) and c.name in v for v in per_index.values()):
                    raise DagError(f"config.task_params.{role}", f"sets parameters of task {c.name!r}, but its "
                                   f"component {c.component!r} has no role {role!r} (roleList {role_list})")


def _validate_roles(conf: Conf) -> None:
    for role, nodes in conf.role.items():
        for i, node in enumerate(nodes or []):
            if not isinstance(node, str) or not node:
                raise DagError(f"config.role.{role}[{i}]", "must be a non-empty node id")
    if conf.initiator.role not in conf.role or conf.initiator.node_id not in conf.role[conf.initiator.role]:
        raise DagError("config.initiator", f"node {conf.initiator.node_id!r} does not hold role "
                       f"{conf.initiator.role!r} in config.role")
    sync = conf.sync_type
    if sync not in ("poll", "callback"):
        raise DagError("config.job_params.common.sync_type", f"{sync!r} is neither poll nor callback")


def _validate_index_keys(conf: Conf, task_names: Iterable[str]) -> None:
    tasks = set(task_names)
    for section in ("job_params", "task_params"):
        params = getattr(conf, section)
        for role, per_index in params.items():
            where = f"config.{section}.{role}"
            if role == "common":
                if not isinstance(per_index, dict):
                    raise DagError(where, "must be an object")
                if section == "task_params":
                    for task, p in per_index.items():
                        _check_task_entry(f"{where}.{task}", task, p, tasks)
                continue
            if role not in conf.role:
                raise DagError(where, f"role {role!r} is not in config.role ({sorted(conf.role)})")
            if not isinstance(per_index, dict):
                raise DagError(where, 'must be an object keyed by party index ("0", "1", "0|1")')
            for key, value in per_index.items():
                indexes = _indexes(f"{where}.{key}", key)
                n = len(conf.role[role] or [])
                bad = [i for i in indexes if i >= n]
                if bad:
                    raise DagError(f"{where}.{key}", f"index {bad[0]} but role {role!r} has {n} node(s)")
                if not isinstance(value, dict):
                    raise DagError(f"{where}.{key}", "must be an object")
                if section == "task_params":
                    for task, p in value.items():
                        _check_task_entry(f"{where}.{key}.{task}", task, p, tasks)


def _check_task_entry(where: str, task: str, params: Any, tasks: set[str]) -> None:
    if task not in tasks:
        raise DagError(where, f"task {task!r} is not in the DAG ({sorted(tasks)})")
    if not isinstance(params, dict):
        raise DagError(where, "must be an object of parameters")
    system = params.get(SYSTEM_KEY)
    if system is None:
        return
    if not isinstance(system, dict):
        raise DagError(f"{where}.{SYSTEM_KEY}", f"must be an object of {SYSTEM_PARAMS}")
    for k, v in system.items():
        if k not in SYSTEM_PARAMS:
            raise DagError(f"{where}.{SYSTEM_KEY}.{k}", f"unknown system parameter; known: {SYSTEM_PARAMS}")
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise DagError(f"{where}.{SYSTEM_KEY}.{k}", f"must be a non-negative number, not {v!r}")


def _indexes(where: str, key: Any) -> list[int]:
    if not isinstance(key, str) or not _INDEX_KEY.match(key):
        raise DagError(where, f'index key {key!r} must be "0", "1", ... or several joined by "|" ("0|1")')
    return [int(k) for k in key.split("|")]


def order(dag: Dag) -> list[str]:
    """Task names in a topological order (ties in DAG order); a cycle is refused naming one of its tasks."""
    deps = {c.name: set(c.upstream) for c in dag.components}
    done: list[str] = []
    while len(done) < len(deps):
        ready = [n for n, d in deps.items() if n not in done and d <= set(done)]
        if not ready:
            stuck = next(n for n in deps if n not in done)
            i = next(i for i, c in enumerate(dag.components) if c.name == stuck)
            raise DagError(f"dag.components[{i}].input", f"task {stuck!r} is part of a cycle of inputs")
        done.extend(ready)
    return done


def downstream(dag: Dag, name: str) -> list[str]:
    """`name` and every task that consumes its outputs, directly or not (what stop with task_name stops)."""
    out = [name]
    for n in order(dag):
        if n not in out and set(dag.component(n).upstream) & set(out):  # type: ignore[union-attr]
            out.append(n)
    return out
