"""DAG planning: a job's DAG/CONF resolved for one task and one party (parameters, inputs, outputs, resources,
timeout), made into the component runtime's `TaskLaunch` (docs/control.md, "Resolution of a task for one
party"). Pure functions over the parsed wire formats of `hulian.wire.dag`; the runtime's self-descriptions come
in as plain dicts."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hulian.component import Resources, TaskLaunch
from hulian.core.config import NodeConfig
from hulian.wire import dag as D


def task_roles(conf: D.Conf, description: dict[str, Any] | None) -> list[str]:
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


def task_parameters(conf: D.Conf, task: str, party: str) -> dict[str, Any]:
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
    rest = {k: v for k, v in params.items() if k != D.SYSTEM_KEY}
    s = params.get(D.SYSTEM_KEY) or {}
    return rest, TaskSystem(float(s.get("timeout", 0)), int(s.get("max_retries", 0)), float(s.get("cpu", 0)),
                            int(s.get("memory", 0)))


def resources(conf: D.Conf, party: str, system: TaskSystem) -> dict[str, float]:
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


def outputs(dag: D.Dag, job_id: str, task: str, task_id: str, party: str) -> dict[str, dict[str, str]]:
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


def inputs(dag: D.Dag, job_id: str, task: str, party: str, params: dict[str, Any], task_ids: dict[str, str],
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


def inst_of(config: NodeConfig, node_id: str) -> str:
    if node_id == config.node_id:
        return config.inst_id
    peer = config.peer(node_id)
    return peer.inst_id if peer else ""


def task_timeout(config: NodeConfig, conf: D.Conf, task: str, parties: Iterable[str]) -> float:
    """The task's timeout in seconds: the largest `system.timeout` of its parties, else the node default."""
    values = [split_system(task_parameters(conf, task, p))[1].timeout for p in parties]
    return max(values, default=0) or config.control.task_timeout_seconds


def build_launch(config: NodeConfig, job_id: str, dag: D.Dag, conf: D.Conf, task: str, task_id: str, party: str,
                 task_ids: dict[str, str], description: dict[str, Any] | None) -> TaskLaunch:
    comp = dag.component(task)
    assert comp is not None
    params, system = split_system(task_parameters(conf, task, party))
    ins, params = inputs(dag, job_id, task, party, params, task_ids, description)
    res = resources(conf, party, system)
    parties = conf.parties()
    return TaskLaunch(
        job_id=job_id, task_id=task_id, task_name=task, session_id=f"session_{job_id}", component=comp.component,
        provider=comp.provider or comp.code, version=comp.version, role=party, parties=parties,
        insts={p: inst_of(config, n) for p, n in parties.items()}, parameters=params, inputs=ins,
        outputs=outputs(dag, job_id, task, task_id, party),
        resources=Resources(cpu=res["cpu"], memory=int(res["memory"]), disk=int(res["disk"])),
        timeout_seconds=system.timeout or config.control.task_timeout_seconds, max_retries=system.max_retries,
        trace_id=job_id)
