"""A third-party component (tests/thirdparty/acme_minmax, its own pyproject and entry point), pip-installed
into the test environment, runs in a job between real nodes under the process manager; hulian is unchanged."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hulian.data.storage import FileStorage
from tests.cluster.test_cli_jobs import add, hulian, table
from tests.thirdparty.install import installed

PACKAGE = Path(__file__).resolve().parent / "acme_minmax"
pytestmark = pytest.mark.cluster


@pytest.fixture
def acme(tmp_path: Path):
    with installed([PACKAGE], tmp_path / "acme"):
        yield


def test_installed_component_runs_in_a_job(acme, make_cluster, tmp_path: Path):
    a, b = make_cluster(2)  # started after the install: the nodes register it at start
    manifest = tmp_path / "cluster0" / "cluster.json"
    add(manifest, a.node_id, table(tmp_path / "g.csv", ["id", "t"], [[f"k{i}", i - 5] for i in range(30)]), "g")
    add(manifest, b.node_id, table(tmp_path / "h.csv", ["id", "t"], [[f"k{i}", 2 * i] for i in range(20)]), "h")
    dag = {"version": "1.0", "components": [
        {"name": "range_0", "componentName": "acme_minmax", "provider": "acme", "version": "0.3.0", "input": [],
         "output": [{"type": "report", "key": "range"}]}]}
    conf = {"version": "1.0", "initiator": {"role": "guest", "node_id": a.node_id},
            "role": {"guest": [a.node_id], "host": [b.node_id]},
            "task_params": {"common": {"range_0": {"column": "t", "scale": 0.5}},
                            "guest": {"0": {"range_0": {"dataset_id": "demo#g"}}},
                            "host": {"0": {"range_0": {"dataset_id": "demo#h"}}}}}
    (tmp_path / "dag.json").write_text(json.dumps(dag))
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    job_id = hulian("job", "submit", "--cluster", str(manifest), "--node", a.node_id, "--dag",
                    str(tmp_path / "dag.json"), "--conf", str(tmp_path / "conf.json")).stdout.strip()
    status = hulian("job", "status", job_id, "--watch", "--cluster", str(manifest), "--node", a.node_id).stdout
    last = status[status.rindex(f"job {job_id}:"):]
    assert last.startswith(f"job {job_id}: FINISHED") and "FAILED" not in last, status
    logs = hulian("job", "logs", job_id, "--task", "range_0", "--cluster", str(manifest), "--node", a.node_id).stdout
    reports = {r["role"]: r for r in map(json.loads, (x for x in logs.splitlines() if x.startswith("{")))}
    assert reports["host.0"] == {"role": "host.0", "sent": True}
    guest = reports["guest.0"]
    assert (guest["min"], guest["max"]) == (-2.5, 19.0)
    where = guest["output_address"]  # the output, in the guest node's storage (<data_dir>/storage)
    storage = FileStorage(Path(a.config).parent / "data" / "storage")
    assert json.loads(storage.input_path(where["namespace"], where["name"]).read_text()) == {"min": -2.5, "max": 19.0}
    assert storage.read_metadata(where["namespace"], where["name"])["source"] == "acme_minmax"
