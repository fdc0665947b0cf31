"""DAG/CONF validation (hulian.wire.dag) and resolution (hulian.control.planning) with FATE's and Kuscia's shapes."""
from __future__ import annotations

import copy

import pytest

from hulian.control import planning as PL
from hulian.wire import dag as D

G, H = "JG0100001100000010", "JH0100001100000020"


def fate_job() -> tuple[dict, dict]:
    """Adapted from FATE-Flow's examples/job/fate/fate_psi_lr.json (bfia_api.md §2)."""
    dag = {"version": "2.0.0", "components": [
        {"name": "psi_0", "componentName": "psi", "provider": "fate", "version": "2.0.0", "input": [],
         "output": [{"type": "dataset", "key": "output_data"}, {"type": "report", "key": "metric"}]},
        {"name": "lr_0", "componentName": "coordinated_lr", "provider": "fate", "version": "2.0.0",
         "input": [{"type": "dataset", "key": "psi_0.output_data"}],
         "output": [{"type": "dataset", "key": "train_output_data"}, {"type": "model", "key": "output_model"},
                    {"type": "report", "key": "metric"}]},
    ]}
    conf = {"version": "2.0.0", "initiator": {"role": "guest", "node_id": G},
            "role": {"guest": [G], "host": [H], "arbiter": [G]},
            "job_params": {"common": {"sync_type": "poll"},
                           "guest": {"0": {"resources": {"cpu": -1, "memory": -1, "disk": -1}}},
                           "host": {"0": {"resources": {"cpu": 4, "memory": 2048, "disk": -1}}}},
            "task_params": {"common": {"lr_0": {"max_iter": 10, "learning_rate": 0.1,
                                                "system": {"timeout": 600, "max_retries": 2}}},
                            "guest": {"0": {"psi_0": {"dataset_id": "test_data#guest"},
                                            "lr_0": {"learning_rate": 0.2}}},
                            "host": {"0": {"psi_0": {"name": "host", "namespace": "test_data"},
                                           "lr_0": {"system": {"cpu": 2, "memory": 512}}}}}}
    return dag, conf


DESCRIPTIONS = {
    "psi": {"componentName": "psi", "roleList": ["guest", "host"],
            "inputData": [{"name": "input_data", "category": "dataset"}]},
    "coordinated_lr": {"componentName": "coordinated_lr", "roleList": ["guest", "host", "arbiter"],
                       "inputData": [{"name": "train_data", "category": "dataset"}]},
    "intersect": {"componentName": "intersect", "roleList": ["guest", "host"]},
}


def describe(name: str, version: str | None = None) -> dict | None:
    return DESCRIPTIONS.get(name)


def parsed(dag: dict, conf: dict) -> tuple[D.Dag, D.Conf]:
    d, c = D.parse_dag(dag), D.parse_conf(conf)
    D.validate(d, c, describe)
    return d, c


def refused(dag: dict, conf: dict) -> D.DagError:
    with pytest.raises(D.DagError) as e:
        parsed(dag, conf)
    return e.value


def test_fate_shape_resolves_per_task_and_party():
    dag, conf = parsed(*fate_job())
    assert D.order(dag) == ["psi_0", "lr_0"]
    assert conf.parties() == {"guest.0": G, "host.0": H, "arbiter.0": G}
    assert conf.nodes() == [G, H]
    assert PL.task_roles(conf, describe("psi")) == ["guest.0", "host.0"]
    assert PL.task_roles(conf, describe("coordinated_lr")) == ["guest.0", "host.0", "arbiter.0"]

    params, system = PL.split_system(PL.task_parameters(conf, "lr_0", "guest.0"))
    assert params == {"max_iter": 10, "learning_rate": 0.2}
    assert system == PL.TaskSystem(timeout=600, max_retries=2)
    _, host_sys = PL.split_system(PL.task_parameters(conf, "lr_0", "host.0"))
    assert host_sys.cpu == 2 and host_sys.memory == 512 and host_sys.timeout == 600
    assert PL.resources(conf, "host.0", host_sys) == {"cpu": 2, "memory": 512, "disk": -1}
    assert PL.resources(conf, "guest.0", PL.TaskSystem()) == {"cpu": -1, "memory": -1, "disk": -1}

    ids = {"psi_0": "task_a", "lr_0": "task_b"}
    ins, rest = PL.inputs(dag, "job-1", "psi_0", "guest.0", PL.task_parameters(conf, "psi_0", "guest.0"), ids,
                         describe("psi"))
    assert ins == {"input_data": {"namespace": "test_data", "name": "guest"}} and rest == {}
    ins, rest = PL.inputs(dag, "job-1", "psi_0", "host.0", PL.task_parameters(conf, "psi_0", "host.0"), ids,
                         describe("psi"))
    assert ins == {"input_data": {"namespace": "test_data", "name": "host"}} and rest == {}
    ins, _ = PL.inputs(dag, "job-1", "lr_0", "host.0", {}, ids, describe("coordinated_lr"))
    assert ins == {"train_data": {"namespace": "job-1-host-0", "name": "task_a-output_data"}}
    assert PL.outputs(dag, "job-1", "psi_0", "task_a", "guest.0")["output_data"] == \
        {"namespace": "job-1-guest-0", "name": "task_a-output_data"}


def test_kuscia_shape():
    dag = {"version": "2.0.0", "components": [
        {"code": "secretflow", "name": "intersect_rsa_1", "module_name": "intersect_rsa", "version": "v1.0.0",
         "input": [], "output": [{"type": "dataset", "key": "result"}]},
        {"code": "secretflow", "name": "lr_1", "module_name": "ss_lr", "version": "v1.0.0",
         "input": [{"type": "dataset", "key": "intersect_rsa_1.result"}], "output": []}]}
    conf = {"initiator": {"role": "host", "node_id": "bob"}, "role": {"host": ["bob"], "guest": ["alice"]},
            "job_params": {"host": {"0": {}}, "guest": {"0": {}}},
            "task_params": {"host": {"0": {"intersect_rsa_1": {"name": "test_data", "namespace": "testspace"}}}}}
    d, c = D.parse_dag(dag), D.parse_conf(conf)
    D.validate(d, c)  # no describe: component names are not checked
    assert d.components[0].component == "intersect_rsa"
    assert PL.task_roles(c, None) == ["host.0", "guest.0"]
    ins, _ = PL.inputs(d, "j", "lr_1", "guest.0", {}, {"intersect_rsa_1": "t1"})
    assert ins == {"dataset": {"namespace": "j-guest-0", "name": "t1-result"}}
    ins, rest = PL.inputs(d, "j", "intersect_rsa_1", "host.0", PL.task_parameters(c, "intersect_rsa_1", "host.0"), {})
    assert ins == {"data": {"namespace": "testspace", "name": "test_data"}} and rest == {}


def test_index_groups_apply_to_each_party():
    dag, conf = fate_job()
    conf["role"]["host"] = [H, "third"]
    conf["task_params"]["host"] = {"0|1": {"psi_0": {"dataset_id": "shared#host", "k": 1}},
                                   "1": {"psi_0": {"k": 2}}}
    _, c = parsed(dag, conf)
    assert PL.task_parameters(c, "psi_0", "host.0") == {"dataset_id": "shared#host", "k": 1}
    assert PL.task_parameters(c, "psi_0", "host.1") == {"dataset_id": "shared#host", "k": 2}


def test_downstream():
    dag, _ = parsed(*fate_job())
    assert D.downstream(dag, "psi_0") == ["psi_0", "lr_0"]
    assert D.downstream(dag, "lr_0") == ["lr_0"]


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda d, c: d["components"][1].update(name="psi_0"), "dag.components[1].name"),
    (lambda d, c: d["components"][1]["input"][0].update(key="nope_0.output_data"), "dag.components[1].input[0].key"),
    (lambda d, c: d["components"][1]["input"][0].update(key="psi_0.nothing"), "dag.components[1].input[0].key"),
    (lambda d, c: d["components"][0]["input"].append({"type": "dataset", "key": "lr_0.train_output_data"}),
     "dag.components[0].input"),
    (lambda d, c: d["components"][0].update(componentName="unknown_algo"), "dag.components[0].componentName"),
    (lambda d, c: d["components"][0].update(componentName="intersect") or c["role"].update(guest=[], host=[],
                                                                                          arbiter=[G]) or
     c["initiator"].update(role="arbiter") or c["task_params"].update(guest={}, host={}) or
     c["job_params"].update(guest={}, host={}), "config.role"),
    (lambda d, c: c["task_params"].update(arbiter={"0": {"psi_0": {}}}), "config.task_params.arbiter"),
    (lambda d, c: c["task_params"]["guest"].update({"x": {}}), "config.task_params.guest.x"),
    (lambda d, c: c["task_params"]["guest"].update({"1": {}}), "config.task_params.guest.1"),
    (lambda d, c: c["job_params"].update(nobody={"0": {}}), "config.job_params.nobody"),
    (lambda d, c: c["task_params"]["common"].update(ghost_0={}), "config.task_params.common.ghost_0"),
    (lambda d, c: c["task_params"]["common"]["lr_0"]["system"].update(timeout="soon"),
     "config.task_params.common.lr_0.system.timeout"),
    (lambda d, c: c["job_params"]["common"].update(sync_type="push"), "config.job_params.common.sync_type"),
    (lambda d, c: c["initiator"].update(node_id="stranger"), "config.initiator"),
    (lambda d, c: d["components"][0].pop("name"), "dag.components[0].name"),
    (lambda d, c: c.pop("role"), "config.role"),
])
def test_refusals_name_the_field(mutate, path):
    dag, conf = copy.deepcopy(fate_job())
    mutate(dag, conf)
    err = refused(dag, conf)
    assert err.path == path, str(err)
    assert path in str(err)


def test_unknown_component_is_flagged():
    dag, conf = fate_job()
    dag["components"][0]["componentName"] = "nope"
    assert refused(dag, conf).unknown_component


def test_dataset_addresses():
    assert PL.dataset_address("ns#a#b") == {"namespace": "ns", "name": "a#b"}
    assert PL.dataset_address({"dataset_id": "x#y"}) == {"namespace": "x", "name": "y"}
    assert PL.dataset_address("plain") is None
