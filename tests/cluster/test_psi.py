"""ECDH-PSI between real processes on loopback: `hulian psi` pairs over the white-box gRPC link for every
suite, `ecdh_psi` components talking through two real hulian nodes (black-box), a refused handshake and a
peer killed mid-stream."""
from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hulian.crypto import tokens
from hulian.engine.pool import default_workers
from hulian.node.cluster import ClusterNode, free_ports

pytestmark = pytest.mark.cluster

A_KEYS = [f"id{i:05d}" for i in range(0, 3000)] + ["id00007", "中文"]  # one duplicate, one unicode key
B_KEYS = [f"id{i:05d}" for i in range(2000, 4500)] + ["中文 "]

SUITES = {
    "25519-sha256-direct": ["--curve", "curve25519"],
    "sm2-sm3-increment": ["--curve", "sm2", "--hash", "sm3", "--hash2curve", "try_and_increment"],
    "sm2-sha256-rehash": ["--curve", "sm2", "--hash", "sha_256", "--hash2curve", "try_and_rehash"],
    "sm2-sm3-rehash": ["--curve", "sm2", "--hash", "sm3", "--hash2curve", "try_and_rehash"],
    "25519-sha512-ell2": ["--curve", "curve25519", "--hash", "sha_512", "--hash2curve", "ell2_ro"],
}


def write_csv(path: Path, keys: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "row"])
        w.writerows([k, i] for i, k in enumerate(keys))
    return path


def expected(own: list[str], other: list[str]) -> list[list[str]]:
    common = {k.strip() for k in other}
    return [[k, str(i)] for i, k in enumerate(own) if k.strip() in common]


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))[1:]


def psi_cmd(rank: int, ports: list[int], inp: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hulian.cli.main", "psi", "--rank", str(rank), "--listen",
            f"127.0.0.1:{ports[rank]}", "--peer", f"127.0.0.1:{ports[1 - rank]}", "--input", str(inp), "--keys",
            "id", "--output", str(out), "--workers", "1", *extra]


def run_both(cmds: list[list[str]], timeout: float = 120) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        outs.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return outs


@pytest.mark.parametrize("result_to", ["all", "0"])
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_white_box_every_suite(tmp_path: Path, suite: str, result_to: str):
    a, b = write_csv(tmp_path / "a.csv", A_KEYS), write_csv(tmp_path / "b.csv", B_KEYS)
    ports = free_ports(2)
    extra = [*SUITES[suite], "--result-to", result_to]
    r0, r1 = run_both([psi_cmd(0, ports, a, tmp_path / "o0.csv", *extra),
                       psi_cmd(1, ports, b, tmp_path / "o1.csv", *extra)])
    assert r0.returncode == 0, r0.stderr
    assert r1.returncode == 0, r1.stderr
    rep0, rep1 = json.loads(r0.stdout), json.loads(r1.stdout)
    assert read_rows(tmp_path / "o0.csv") == expected(A_KEYS, B_KEYS)
    assert rep0["intersection_items"] == 1001 and rep0["duplicate_rows"] == 1
    if result_to == "all":
        assert read_rows(tmp_path / "o1.csv") == expected(B_KEYS, A_KEYS)
    else:
        assert rep1["intersection_items"] is None and not (tmp_path / "o1.csv").exists()


def test_white_box_secretflow_compat(tmp_path: Path):
    a, b = write_csv(tmp_path / "a.csv", A_KEYS), write_csv(tmp_path / "b.csv", B_KEYS)
    ports = free_ports(2)
    r0, r1 = run_both([psi_cmd(rank, ports, inp, tmp_path / f"o{rank}.csv", "--curve", "sm2", "--compat",
                               "secretflow") for rank, inp in ((0, a), (1, b))])
    assert r0.returncode == 0 and r1.returncode == 0, r0.stderr + r1.stderr
    assert read_rows(tmp_path / "o1.csv") == expected(B_KEYS, A_KEYS)


def test_handshake_refused_names_the_mismatch(tmp_path: Path):
    a, b = write_csv(tmp_path / "a.csv", A_KEYS[:10]), write_csv(tmp_path / "b.csv", B_KEYS[:10])
    ports = free_ports(2)
    t0 = time.monotonic()
    r0, r1 = run_both([psi_cmd(0, ports, a, tmp_path / "o0.csv", "--curve", "sm2"),
                       psi_cmd(1, ports, b, tmp_path / "o1.csv", "--curve", "curve25519")], timeout=60)
    assert time.monotonic() - t0 < 30
    assert r0.returncode == 2 and r1.returncode == 2
    for r in (r0, r1):
        assert "HANDSHAKE_REFUSED (31100200)" in r.stderr, r.stderr
        assert "CURVE25519/SHA_256/DIRECT_HASH_AS_POINT_X" in r.stderr
    assert not (tmp_path / "o0.csv").exists()


@contextlib.contextmanager
def busy_cores() -> Iterator[None]:
    """A busy host: one spinning process per core, for as long as the block runs (killed after it)."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(default_workers())]
    try:
        yield
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def kill_party(proc: subprocess.Popen) -> None:
    """SIGKILL a party started in its own session, with its curve workers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_for_stage(tmp: Path, marker: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until a party whose TMPDIR is `tmp` has written its stage's file (`points.bin`: it is hashing its
    table, so its link is up; `peer_duals.bin`: it has masked the peer's batches, mid-stream)."""
    deadline = time.monotonic() + timeout
    while not any(f.stat().st_size for f in tmp.glob(f"hulian-psi-*/{marker}")):
        assert proc.poll() is None and time.monotonic() < deadline, f"no {marker} from the survivor"
        time.sleep(0.05)


@pytest.mark.parametrize(("marker", "suite", "n"), [("points.bin", "25519-sha512-ell2", 100_000),
                                                    ("peer_duals.bin", "25519-sha256-direct", 300_000)],
                         ids=["prepare", "exchange"])
def test_peer_killed_mid_stream_fails_within_timeout(tmp_path: Path, marker: str, suite: str, n: int):
    """On a busy host (a spinning process per core), the peer dies while the survivor hashes its table to the
    curve (prepare: elligator2, many CPU-bound seconds on the loaded host, no receive pending) or mid-stream
    (exchange); the survivor fails within its --timeout plus slack, naming rank 1, whatever its own stage is
    doing. Before, it noticed only at its next receive: after hashing all, then the 60 s handshake wait."""
    a = write_csv(tmp_path / "a.csv", [f"a{i}" for i in range(n)])
    b = write_csv(tmp_path / "b.csv", [f"b{i}" for i in range(n)])
    ports = free_ports(2)
    timeout = ["--timeout", "5", "--handshake-timeout", "60", *SUITES[suite]]
    tmp0 = tmp_path / "tmp0"
    tmp0.mkdir()
    with busy_cores():
        p0 = subprocess.Popen(psi_cmd(0, ports, a, tmp_path / "o0.csv", *timeout), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True,
                              env={**os.environ, "TMPDIR": str(tmp0)})
        p1 = subprocess.Popen(psi_cmd(1, ports, b, tmp_path / "o1.csv", *timeout), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_stage(tmp0, marker, p0)
        finally:
            kill_party(p1)
        t_kill = time.monotonic()
        try:
            out, err = p0.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            out, err = "", "(still running 60 s after the peer was killed)"
        finally:
            kill_party(p0)
        elapsed = time.monotonic() - t_kill
    assert p0.returncode == 2, (out, err)
    assert elapsed < 15, f"the survivor took {elapsed:.1f} s to fail: {err[-2000:]}"
    assert "psi failed" in err and "rank 1" in err, err
    assert not (tmp_path / "o0.csv").exists()


# ---- black-box: components through two real nodes ------------------------------------------------------

def component_env(node: ClusterNode, role: str, nodes: list[ClusterNode], storage: Path, dataset: str,
                  params: dict[str, str], session: str) -> dict[str, str]:
    secret = yaml.safe_load(Path(node.config).read_text())["security"]["token_secret"]
    env = {"system.transport": node.url, "config.transport_ca": node.ca_file, "config.session_id": session,
           "config.token": tokens.issue(secret, session, 600), "config.trace_id": "trace-psi",
           "config.task_id": "psi_0", "config.self_role": role, "system.storage": f"file://{storage}",
           "config.node_id.guest.0": nodes[0].node_id, "config.node_id.host.0": nodes[1].node_id,
           "config.inst_id.guest.0": nodes[0].inst_id, "config.inst_id.host.0": nodes[1].inst_id,
           "runtime.component.name": "ecdh_psi",
           "runtime.component.input.data": json.dumps({"namespace": "bench", "name": dataset}),
           "runtime.component.output.result": json.dumps({"namespace": "out", "name": role})}
    env.update({f"runtime.component.parameter.{k}": v for k, v in params.items()})
    return {**os.environ, **env}


COMPONENT_SUITES = {  # the same suites as runtime.component.parameter values (numbers and names mixed)
    "25519-sha256-direct": {"curve_type": '"curve25519"'},
    "sm2-sm3-increment": {"curve_type": "2", "hash_type": '"sm3"', "hash2curve_strategy": '"try_and_increment"'},
    "sm2-sha256-rehash": {"curve_type": '"sm2"', "hash_type": '"sha_256"', "hash2curve_strategy": "2"},
    "sm2-sm3-rehash": {"curve_type": '"sm2"', "hash_type": "1", "hash2curve_strategy": '"TRY_AND_REHASH"'},
    "25519-sha512-ell2": {"curve_type": "1", "hash_type": '"sha_512"', "hash2curve_strategy": "12"},
}


@pytest.mark.parametrize(("suite", "result_to"), [(s, "-1") for s in sorted(COMPONENT_SUITES)]
                         + [("25519-sha256-direct", "1")])
def test_black_box_through_nodes(make_cluster, tmp_path: Path, suite: str, result_to: str):
    a, b = make_cluster(2)
    storage = tmp_path / "storage"
    for name, keys in (("guest", A_KEYS), ("host", B_KEYS)):
        (storage / "bench" / name).mkdir(parents=True)
        write_csv(storage / "bench" / name / "data_0", keys)
    params = {**COMPONENT_SUITES[suite], "result_to_rank": result_to, "field_names": '["id"]',
              "bit_length_after_truncated": "96", "recv_timeout": "30"}
    session = f"session_job_{suite}_{result_to}"
    cmds = [[sys.executable, "-m", "hulian.algorithms.ecdh_psi"]] * 2
    envs = [component_env(a, "guest.0", [a, b], storage, "guest", params, session),
            component_env(b, "host.0", [a, b], storage, "host", params, session)]
    procs = [subprocess.Popen(c, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c, e in zip(cmds, envs, strict=True)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    host = json.loads(outs[1][0])
    assert host["intersection_items"] == 1001
    assert read_rows(storage / "out" / "host.0" / "data_0") == expected(B_KEYS, A_KEYS)
    meta = json.loads((storage / "out" / "host.0" / "metadata").read_text())
    assert meta["count"] == len(expected(B_KEYS, A_KEYS))
    guest = json.loads(outs[0][0])
    if result_to == "-1":
        assert read_rows(storage / "out" / "guest.0" / "data_0") == expected(A_KEYS, B_KEYS)
    else:
        assert guest["intersection_items"] is None
