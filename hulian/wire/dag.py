"""The job's DAG and CONF (control spec §6.6-6.7, guide §3.1.1): models, validation and resolution per task
and party. Pure functions, no I/O: the control plane asks the component layer for self-descriptions through
the `describe` callable it passes in.

Both DAG shapes are accepted: the spec's `componentName`/`provider`/`version`, and Kuscia's `code` (the image)
plus `module_name` (the component inside it). Input keys are `<task name>.<output key>`.

Task system parameters (hulian's documented keys, docs/control.md): `task_params.<...>.<task>.system` is a
dict of `timeout` (seconds), `max_retries`, `cpu`, `memory` (MB); it is removed from the component's parameters,
and `cpu`/`memory` override the job's resources for that task.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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


# ---- resolution per task and party ------------------------------------------------------------------------
def task_roles(conf: Conf, description: dict[str, Any] | None) -> list[str]:
    """The parties ("guest.0", ...) taking part in a task: the component's roleList ∩ the CONF's roles (every
    CONF role when the component is not described here)."""
    role_list = (description or {}).get("roleList") or list(conf.role)
    return [p for p in conf.parties() if p.split(".", 1)[0] in role_list]


def _for_index(section: dict[str, Any], role: str, index: int) -> list[dict[str, Any]]:
    """The entries of `section[role]` that apply to `index`, "0" before "0|1"-style groups, in CONF order."""
    per_index = section.get(role) or {}
    exact = [v for k, v in per_index.items() if k == str(index) and isinstance(v, dict)]
    groups = [v for k, v in per_index.items() if "|" in str(k) and str(index) in str(k).split("|")
              and isinstance(v, dict)]
    return groups + exact  # later entries win


def _split_party(party: str) -> tuple[str, int]:
    role, _, index = party.partition(".")
    return role, int(index or 0)


def task_parameters(conf: Conf, task: str, party: str) -> dict[str, Any]:
    """task_params.common.<task>, then the party's role/index entry for the task (deep-merged; later wins)."""
    role, index = _split_party(party)
    merged: dict[str, Any] = {}
    for entry in [conf.task_params.get("common") or {}, *_for_index(conf.task_params, role, index)]:
        _deep_merge(merged, entry.get(task) or {})
    return merged


def _deep_merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _deep_merge(into[k], v)
        else:
            into[k] = v


@dataclass(frozen=True)
class TaskSystem:
    """The task system parameters (hulian keys under `system`); 0 = not set."""

    timeout: float = 0
    max_retries: int = 0
    cpu: float = 0
    memory: int = 0


def split_system(params: dict[str, Any]) -> tuple[dict[str, Any], TaskSystem]:
    """(component parameters without `system`, the system parameters)."""
    rest = {k: v for k, v in params.items() if k != SYSTEM_KEY}
    s = params.get(SYSTEM_KEY) or {}
    return rest, TaskSystem(float(s.get("timeout", 0)), int(s.get("max_retries", 0)), float(s.get("cpu", 0)),
                            int(s.get("memory", 0)))


def resources(conf: Conf, party: str, system: TaskSystem) -> dict[str, float]:
    """job_params.common.resources, then the party's role/index entry; the task's system cpu/memory win."""
    role, index = _split_party(party)
    res: dict[str, float] = {"cpu": -1, "memory": -1, "disk": -1}
    for entry in [conf.job_params.get("common") or {}, *_for_index(conf.job_params, role, index)]:
        res.update({k: v for k, v in (entry.get("resources") or {}).items() if k in res})
    if system.cpu:
        res["cpu"] = system.cpu
    if system.memory:
        res["memory"] = system.memory
    return res


def output_address(job_id: str, task_id: str, party: str, key: str) -> dict[str, str]:
    """Guide §4: namespace `<job_id>-<role>-<index>`, name `<task_id>-<key>`."""
    role, index = _split_party(party)
    return {"namespace": f"{job_id}-{role}-{index}", "name": f"{task_id}-{key}"}


def outputs(dag: Dag, job_id: str, task: str, task_id: str, party: str) -> dict[str, dict[str, str]]:
    comp = dag.component(task)
    return {o.key: output_address(job_id, task_id, party, o.key) for o in (comp.output if comp else [])}


def dataset_address(value: Any) -> dict[str, str] | None:
    """A dataset given as "ns#name", or {namespace, name}/{dataset_id}; None when `value` is neither."""
    if isinstance(value, str) and "#" in value:
        ns, name = value.split("#", 1)
        return {"namespace": ns, "name": name}
    if isinstance(value, dict):
        if "dataset_id" in value:
            return dataset_address(value["dataset_id"])
        if isinstance(value.get("name"), str) and isinstance(value.get("namespace"), str):
            return {"namespace": value["namespace"], "name": value["name"]}
    return None


def _input_names(description: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(name, category) of the component's declared inputs."""
    return [(d.get("name", ""), d.get("category", "")) for d in (description or {}).get("inputData") or []
            if isinstance(d, dict) and d.get("name")]


def inputs(dag: Dag, job_id: str, task: str, party: str, params: dict[str, Any], task_ids: dict[str, str],
           description: dict[str, Any] | None = None) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """(inputs, parameters left for the component).

    Upstream inputs `<producer>.<key>` become the same party's output address of the producer (skipped when the
    party has no task id for it, i.e. did not take part). Each goes to the component's next declared input of
    the same category (`inputData[].category` = the DAG input's `type`), else is named by its type.
    Datasets come from the parameters: `dataset_id` ("ns#name") or `name`+`namespace` go to the first declared
    dataset input (else "data"); a parameter named like a declared input whose value is a dataset address goes
    to that input. Those parameters are removed from what the component receives."""
    declared = _input_names(description)
    free = list(declared)
    found: dict[str, dict[str, str]] = {}

    def slot(category: str, fallback: str) -> str:
        for i, (_name, cat) in enumerate(free):
            if cat == category or (category in ("dataset", "training_set", "test_set") and cat in
                                   ("dataset", "training_set", "test_set")):
                return free.pop(i)[0]
        return fallback if fallback not in found else f"{fallback}_{len(found)}"

    comp = dag.component(task)
    for item in comp.input if comp else []:
        producer, _, key = item.key.partition(".")
        if not key or producer not in task_ids:
            continue
        found[slot(item.type or "dataset", item.type or key)] = output_address(job_id, task_ids[producer], party,
                                                                                key)
    rest = dict(params)
    for name, _cat in declared:
        addr = dataset_address(rest.get(name))
        if addr is not None and name not in found:
            found[name] = addr
            rest.pop(name)
            free = [f for f in free if f[0] != name]
    direct = dataset_address(rest.get("dataset_id")) or (
        dataset_address({"name": rest["name"], "namespace": rest["namespace"]})
        if isinstance(rest.get("name"), str) and isinstance(rest.get("namespace"), str) else None)
    if direct is not None:
        found[slot("dataset", "data")] = direct
        for k in ("dataset_id", "name", "namespace"):
            rest.pop(k, None)
    return found, rest
