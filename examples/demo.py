"""`make demo`: a bank and a partner run a joint job — private set intersection, then statistics of the
aligned customers — through the standard's scheduling, component and transport layers.

Steps (each printed as it runs): two nodes on loopback with a fresh CA, certificates and tokens
(`hulian cluster up`); a customer table for each institution, registered as a dataset on its own node
(`hulian data add`); the job of `examples/psi_statistics/` (DAG + CONF) submitted to the bank's node, which
schedules it (`hulian job submit`); its progress until FINISHED (`hulian job status --watch`); each task's
state and results per party (`hulian job logs`); the nodes stopped.
"""
from __future__ import annotations

import csv
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

from hulian.node import cluster

DEMO_DIR = Path(os.environ.get("HULIAN_DEMO_DIR", ".demo"))  # the tests run it elsewhere
EXAMPLE = Path(__file__).resolve().parent / "psi_statistics"
BANK_ROWS, PARTNER_ROWS, SHARED = 20_000, 15_000, 8_000


def hulian(*args: str, echo: bool = True) -> str:
    """Run the `hulian` CLI as a user would, echoing the command (and its output unless `echo` is off)."""
    print(f"$ hulian {' '.join(args)}", flush=True)
    out = subprocess.run([sys.executable, "-m", "hulian.cli.main", *args], capture_output=True, text=True)
    if echo and out.stdout.strip():
        print("  " + out.stdout.strip().replace("\n", "\n  "), flush=True)
    if out.returncode != 0:
        raise SystemExit(f"demo failed: hulian {args[0]} {args[1]}: {out.stderr.strip()}")
    return out.stdout.strip()


def write_tables(directory: Path) -> tuple[Path, Path]:
    """A bank's customers (age, income, balance) and a partner's (monthly spend, visits); SHARED ids in both."""
    rng = random.Random(20261124)
    ids = [f"{rng.randrange(10**17, 10**18)}" for _ in range(BANK_ROWS + PARTNER_ROWS - SHARED)]
    bank_ids, partner_ids = ids[:BANK_ROWS], ids[:SHARED] + ids[BANK_ROWS:]
    rng.shuffle(partner_ids)
    bank, partner = directory / "bank_customers.csv", directory / "partner_customers.csv"
    with bank.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "age", "income", "balance"])
        w.writerows([i, rng.randint(18, 80), round(rng.lognormvariate(9, 0.5), 2), round(rng.uniform(0, 5e5), 2)]
                    for i in bank_ids)
    with partner.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "monthly_spend", "visits"])
        w.writerows([i, round(rng.expovariate(1 / 800), 2), rng.randint(0, 30)] for i in partner_ids)
    return bank, partner


def main() -> None:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    print("== two nodes: a bank (node-a) and a partner (node-b), TLS with client certificates")
    bank_node, partner_node = cluster.up(DEMO_DIR, 2)
    manifest = str(DEMO_DIR / "cluster.json")
    try:
        for n in (bank_node, partner_node):
            print(f"  {n.node_id} at {n.url} (pid {n.pid})")
        print(f"== each institution registers its customer table on its own node "
              f"({BANK_ROWS} and {PARTNER_ROWS} rows, {SHARED} customers in common)")
        bank, partner = write_tables(DEMO_DIR)
        hulian("data", "add", "--cluster", manifest, "--node", bank_node.node_id, "--file", str(bank),
               "--namespace", "demo", "--name", "bank_customers")
        hulian("data", "add", "--cluster", manifest, "--node", partner_node.node_id, "--file", str(partner),
               "--namespace", "demo", "--name", "partner_customers")
        print("== the bank submits the job psi_0 (ECDH-PSI) -> stats_0 (statistics); its node schedules it")
        print(f"  DAG {EXAMPLE / 'dag.json'}, CONF {EXAMPLE / 'conf.json'}")
        job_id = hulian("job", "submit", "--cluster", manifest, "--node", bank_node.node_id,
                        "--dag", str(EXAMPLE / "dag.json"), "--conf", str(EXAMPLE / "conf.json"))
        print("== progress (every party runs its own components; they talk through their nodes)")
        final = hulian("job", "status", job_id, "--watch", "--cluster", manifest, "--node", bank_node.node_id)
        last = final[final.rindex(f"job {job_id}:"):].splitlines()
        rows = [r for r in map(str.split, last[2:]) if len(r) > 1 and r[1].isalpha() and r[1].isupper()]  # tasks
        if ": FINISHED" not in last[0] or len(rows) != 2 or any(r[1:4] != ["SUCCESS"] * 3 for r in rows):
            raise SystemExit(f"demo failed: the job did not finish with every task SUCCESS:\n{chr(10).join(last)}")
        print("== results, from each party's task log")
        for task in ("psi_0", "stats_0"):
            logs = hulian("job", "logs", job_id, "--task", task, "--cluster", manifest, "--node", bank_node.node_id,
                          echo=False)
            summarise(task, logs)
        print("demo finished: job FINISHED, every task SUCCESS on both parties")
    finally:
        cluster.down(DEMO_DIR)
        print("nodes stopped")


def summarise(task: str, logs: str) -> None:
    """The JSON report each component printed as the last line of its log."""
    party = ""
    for line in logs.splitlines():
        if line.startswith("== "):
            party = line.split()[-1]
        elif line.startswith("{"):
            report = json.loads(line)
            if task == "psi_0":
                print(f"  {party}: {report['input_rows']} rows in, {report['intersection_items']} customers in common, "
                      f"{report['output_rows']} rows out ({report['params'].split(',')[0]})")
                continue
            print(f"  {party}: {report['rows']} aligned rows")
            for name, st in report["columns"].items():
                print(f"    {name:<14} mean {st['mean']:>12,.2f}  std {st['std']:>12,.2f}  min {st['min']:>10,.2f}  "
                      f"median {st['q50']:>10,.2f}  max {st['max']:>12,.2f}  missing {st['missing_rate']:.1%}")


if __name__ == "__main__":
    main()
