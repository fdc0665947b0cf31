"""The tutorial's component (examples/secure_sum, docs/writing-a-component.md), installed from its own
pyproject: on the in-memory federation (the sum, what travels, a bad parameter) and as a job between real nodes."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from hulian.data.storage import FileStorage
from hulian.federation import MemoryFederation
from hulian.sdk import ParameterError
from hulian.sdk.runner import installed as installed_components
from hulian.sdk.testing import PartyFailed, run_parties
from tests.cluster.test_cli_jobs import add, hulian
from tests.thirdparty.install import installed

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "secure_sum"


@pytest.fixture(scope="module")
def secure_sum(tmp_path_factory):
    with installed([EXAMPLE], tmp_path_factory.mktemp("secure_sum")):
        yield installed_components()["secure_sum"]


def table(path: Path, amounts: list) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "amount"])
        w.writerows([f"r{i}", a] for i, a in enumerate(amounts))
    return path


def parties(tmp_path: Path, columns: dict[str, list]) -> dict[str, dict[str, Path]]:
    return {pid: {"data": table(tmp_path / f"{pid}.csv", amounts)} for pid, amounts in columns.items()}


def test_registered_by_its_entry_point(secure_sum):
    desc = secure_sum.description
    assert (desc["componentName"], desc["provider"], desc["roleList"]) == ("secure_sum", "hulian-examples",
                                                                           ["guest", "host"])
    assert [(p["name"], p["type"], p["optional"]) for p in desc["inputParam"]] == [
        ("column", "string", "false"), ("decimals", "int", "true")]


def test_two_parties_in_memory(secure_sum, tmp_path: Path):
    reports = run_parties(secure_sum, parties(tmp_path, {"guest.0": [1.25, 2, "", -0.5], "host.0": [10, 20.75]}),
                          tmp_path, params={"column": "amount"})
    guest = reports["guest.0"]
    assert (guest["sum"], guest["rows"], guest["parties"]) == (33.5, 5, 2)
    where = guest["output_address"]
    written = json.loads(FileStorage(tmp_path / "guest.0").output_path(where["namespace"], where["name"]).read_text())
    assert written == {"column": "amount", "sum": 33.5, "rows": 5, "parties": 2}
    assert "sum" not in reports["host.0"]


def test_masks_hide_each_host_from_the_guest(secure_sum, tmp_path: Path, monkeypatch):
    sent: list[tuple[str, str, str, bytes]] = []
    original = MemoryFederation.send

    def spy(self, dst, scope, topic, data):
        sent.append((self.local.party_id, dst.party_id, scope.topic(topic), bytes(data)))
        original(self, dst, scope, topic, data)

    monkeypatch.setattr(MemoryFederation, "send", spy)
    rng = random.Random(7)
    columns = {pid: [round(rng.uniform(-1000, 1000), 2) for _ in range(50)]
               for pid in ("guest.0", "host.0", "host.1", "host.2")}
    reports = run_parties(secure_sum, parties(tmp_path, columns), tmp_path, params={"column": "amount"})
    assert reports["guest.0"]["sum"] == pytest.approx(sum(map(sum, columns.values())), abs=1e-6)
    assert reports["guest.0"]["rows"] == 200
    assert sorted((s, d, t) for s, d, t, _ in sent) == [
        ("host.0", "guest.0", "masked_total"), ("host.0", "host.1", "masks/mask"), ("host.0", "host.2", "masks/mask"),
        ("host.1", "guest.0", "masked_total"), ("host.1", "host.2", "masks/mask"),
        ("host.2", "guest.0", "masked_total")]
    to_guest = {s: data for s, d, _, data in sent if d == "guest.0"}
    for pid in ("host.0", "host.1", "host.2"):  # what the guest got from a host is not that host's [sum, rows]
        own = np.array([round(sum(columns[pid]) * 100), 50], dtype=np.int64).view(np.uint64).tobytes()
        assert own not in to_guest[pid]


def test_a_missing_parameter_is_named(secure_sum, tmp_path: Path):
    with pytest.raises(PartyFailed) as failed:
        run_parties(secure_sum, parties(tmp_path, {"guest.0": [1], "host.0": [2]}), tmp_path, timeout=5)
    assert isinstance(failed.value.__cause__, ParameterError)
    assert "runtime.component.parameter.column is missing" in str(failed.value)


@pytest.mark.cluster
def test_job_between_real_nodes(secure_sum, make_cluster, tmp_path: Path):
    nodes = make_cluster(3)
    manifest = tmp_path / "cluster0" / "cluster.json"
    columns = {node.node_id: [i * 0.25 + k for i in range(40)] for k, node in enumerate(nodes)}
    for node in nodes:
        add(manifest, node.node_id, table(tmp_path / f"{node.node_id}.csv", columns[node.node_id]), "sales")
    guest = nodes[0].node_id
    job_id = hulian("job", "submit", "--cluster", str(manifest), "--node", guest,
                    "--dag", str(EXAMPLE / "dag.json"), "--conf", str(EXAMPLE / "conf.json")).stdout.strip()
    status = hulian("job", "status", job_id, "--watch", "--cluster", str(manifest), "--node", guest).stdout
    last = status[status.rindex(f"job {job_id}:"):]
    assert last.startswith(f"job {job_id}: FINISHED") and "FAILED" not in last, status
    assert "progress" in last.splitlines()[1] and "sum_0 guest.0: rows=40" in last, last  # ctx.progress(...)
    logs = hulian("job", "logs", job_id, "--task", "sum_0", "--cluster", str(manifest), "--node", guest).stdout
    reports = {r["role"]: r for r in map(json.loads, (x for x in logs.splitlines() if x.startswith("{")))}
    assert sorted(reports) == ["guest.0", "host.0", "host.1"], logs
    assert reports["guest.0"]["sum"] == pytest.approx(sum(map(sum, columns.values())))
    assert reports["guest.0"]["rows"] == 120
    assert all("sum" not in reports[h] for h in ("host.0", "host.1"))
