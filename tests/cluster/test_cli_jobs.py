"""The platform user's commands against real nodes: `hulian data add`, `hulian job submit/status/logs/stop`,
with the example DAG/CONF (two parties) and a three-party job (PSI of guest and host, statistics on all three)."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "psi_statistics"
pytestmark = pytest.mark.cluster


def hulian(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "hulian.cli.main", *args], capture_output=True, text=True,
                         timeout=120)
    if ok:
        assert out.returncode == 0, out.stderr
    return out


def table(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def add(manifest: Path, node: str, file: Path, name: str) -> None:
    out = hulian("data", "add", "--cluster", str(manifest), "--node", node, "--file", str(file),
                 "--namespace", "demo", "--name", name).stdout
    assert f"dataset demo#{name}:" in out


def test_two_party_example_job(make_cluster, tmp_path: Path):
    a, b = make_cluster(2)
    manifest = tmp_path / "cluster0" / "cluster.json"
    add(manifest, a.node_id, table(tmp_path / "bank.csv", ["id", "age", "income", "balance"],
                                   [[f"c{i}", 20 + i % 50, 1000 + i, i * 3] for i in range(300)]), "bank_customers")
    add(manifest, b.node_id, table(tmp_path / "partner.csv", ["id", "monthly_spend", "visits"],
                                   [[f"c{i}", i * 2, i % 7] for i in range(200, 500)]), "partner_customers")
    listed = hulian("data", "list", "--cluster", str(manifest), "--node", a.node_id).stdout
    assert re.search(r"^demo#bank_customers\s+300\s", listed, re.M), listed
    job_id = hulian("job", "submit", "--cluster", str(manifest), "--node", a.node_id,
                    "--dag", str(EXAMPLE / "dag.json"), "--conf", str(EXAMPLE / "conf.json")).stdout.strip()
    status = hulian("job", "status", job_id, "--watch", "--cluster", str(manifest), "--node", a.node_id).stdout
    last = status[status.rindex(f"job {job_id}:"):]
    assert last.startswith(f"job {job_id}: FINISHED"), status
    assert last.count("SUCCESS") == 6  # two tasks: overall + two parties each
    logs = hulian("job", "logs", job_id, "--task", "stats_0", "--cluster", str(manifest), "--node", a.node_id).stdout
    reports = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert sorted(r["role"] for r in reports) == ["guest.0", "host.0"]
    assert all(r["rows"] == 100 for r in reports)
    guest = next(r for r in reports if r["role"] == "guest.0")
    assert guest["columns"]["age"]["count"] == 100
    # a user error gets the node's message and a non-zero exit
    bad = hulian("job", "status", "job-unknown", "--cluster", str(manifest), "--node", a.node_id, ok=False)
    assert bad.returncode == 1 and "job-unknown" in bad.stderr


def test_three_party_job_and_stop(make_cluster, tmp_path: Path):
    # sync_type callback below, and no safety poll within the test's time: the job ends only if parties call back
    a, b, c = make_cluster(3, extra={"control": {"callback_poll_interval_seconds": 600}})
    manifest = tmp_path / "cluster0" / "cluster.json"
    add(manifest, a.node_id, table(tmp_path / "g.csv", ["id", "x"], [[f"k{i}", i] for i in range(100)]), "g")
    add(manifest, b.node_id, table(tmp_path / "h.csv", ["id", "y"], [[f"k{i}", i] for i in range(50, 150)]), "h")
    add(manifest, c.node_id, table(tmp_path / "r.csv", ["id", "z"], [[f"k{i}", i] for i in range(10)]), "r")
    dag = {"version": "1.0", "components": [
        {"name": "psi_0", "componentName": "ecdh_psi", "provider": "hulian", "version": "1.0.0", "input": [],
         "output": [{"type": "dataset", "key": "result"}]},
        {"name": "stats_all", "componentName": "statistics", "provider": "hulian", "version": "1.0.0",
         "input": [], "output": [{"type": "report", "key": "report"}]}]}
    conf = {"version": "1.0", "initiator": {"role": "guest", "node_id": a.node_id},
            "role": {"guest": [a.node_id], "host": [b.node_id], "arbiter": [c.node_id]},
            "job_params": {"common": {"sync_type": "callback"}},
            "task_params": {"common": {"psi_0": {"curve_type": "sm2"}},
                            "guest": {"0": {"psi_0": {"dataset_id": "demo#g"}, "stats_all": {"dataset_id": "demo#g"}}},
                            "host": {"0": {"psi_0": {"dataset_id": "demo#h"}, "stats_all": {"dataset_id": "demo#h"}}},
                            "arbiter": {"0": {"stats_all": {"dataset_id": "demo#r"}}}}}
    (tmp_path / "dag.json").write_text(json.dumps(dag))
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    job_id = hulian("job", "submit", "--cluster", str(manifest), "--node", a.node_id, "--dag",
                    str(tmp_path / "dag.json"), "--conf", str(tmp_path / "conf.json")).stdout.strip()
    status = hulian("job", "status", job_id, "--watch", "--cluster", str(manifest), "--node", b.node_id).stdout
    last = status[status.rindex(f"job {job_id}:"):]
    assert last.startswith(f"job {job_id}: FINISHED"), status
    assert "arbiter.0" in last and "FAILED" not in last
    logs = hulian("job", "logs", job_id, "--task", "stats_all", "--cluster", str(manifest), "--node", a.node_id).stdout
    rows = {r["role"]: r["rows"] for r in map(json.loads, (x for x in logs.splitlines() if x.startswith("{")))}
    assert rows == {"guest.0": 100, "host.0": 100, "arbiter.0": 10}
    # stopping a finished job is accepted and changes nothing
    hulian("job", "stop", job_id, "--cluster", str(manifest), "--node", c.node_id)
    time.sleep(0.5)
    again = hulian("job", "status", job_id, "--cluster", str(manifest), "--node", a.node_id).stdout
    assert again.startswith(f"job {job_id}: FINISHED")


def test_stop_mid_run_stops_every_party(make_cluster, tmp_path: Path):
    a, b = make_cluster(2)
    manifest = tmp_path / "cluster0" / "cluster.json"
    n = 300_000  # long enough (SM2) to be stopped while running
    add(manifest, a.node_id, table(tmp_path / "g.csv", ["id", "age", "income", "balance"],
                                   [[f"k{i}", 1, 2, 3] for i in range(n)]), "bank_customers")
    add(manifest, b.node_id, table(tmp_path / "h.csv", ["id", "monthly_spend", "visits"],
                                   [[f"k{i}", 1, 2] for i in range(n)]), "partner_customers")
    conf = json.loads((EXAMPLE / "conf.json").read_text())
    conf["task_params"]["common"]["psi_0"]["curve_type"] = "sm2"
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    job_id = hulian("job", "submit", "--cluster", str(manifest), "--node", a.node_id,
                    "--dag", str(EXAMPLE / "dag.json"), "--conf", str(tmp_path / "conf.json")).stdout.strip()
    deadline = time.monotonic() + 60
    while not re.search(r"psi_0\s+RUNNING\s+RUNNING\s+RUNNING", hulian(
            "job", "status", job_id, "--cluster", str(manifest), "--node", a.node_id).stdout):
        assert time.monotonic() < deadline, "psi_0 never ran on both parties"
        time.sleep(0.3)
    t0 = time.monotonic()
    hulian("job", "stop", job_id, "--cluster", str(manifest), "--node", b.node_id)  # a party, not the scheduler
    status = hulian("job", "status", job_id, "--watch", "--cluster", str(manifest), "--node", a.node_id).stdout
    last = status[status.rindex(f"job {job_id}:"):]
    assert last.startswith(f"job {job_id}: FINISHED"), last
    assert "SUCCESS" not in last and last.count("FAILED") >= 3, last
    assert time.monotonic() - t0 < 20
