"""The built-in components on the in-memory federation: the same code the nodes run, all parties in one
process. ECDH-PSI's yacl link runs over the in-memory carrier with its full semantics (ACK, FIN, chunks)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from hulian.algorithms.ecdh_psi.component import ecdh_psi
from hulian.algorithms.statistics.component import statistics
from hulian.sdk.testing import run_parties


def _write(path: Path, keys: list[str]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "v"])
        w.writerows([k, i] for i, k in enumerate(keys))
    return path


def _rows(path: Path) -> list[str]:
    with path.open(newline="") as f:
        return [r["id"] for r in csv.DictReader(f)]


def test_ecdh_psi_in_memory(tmp_path: Path) -> None:
    a = [f"k{i}" for i in range(0, 3000)]
    b = [f"k{i}" for i in range(2000, 6000)] + ["k2500"]      # a duplicate row of an intersecting key
    inputs = {"guest.0": {"data": _write(tmp_path / "a.csv", a)}, "host.0": {"data": _write(tmp_path / "b.csv", b)}}
    params = {"curve_type": "curve25519", "bit_length_after_truncated": 96, "recv_timeout": 30}
    reports = run_parties(ecdh_psi, inputs, tmp_path / "run", params=params)
    for party, mine in (("guest.0", a), ("host.0", b)):
        r = reports[party]
        assert r["intersection_items"] == 1000 and r["output_rows"] == len([k for k in mine if k in set(a) & set(b)])
        ns, name = r["output_address"]["namespace"], r["output_address"]["name"]
        out = tmp_path / "run" / party / ns / name
        assert _rows(out / "data_0") == [k for k in mine if k in set(a) & set(b)]
        assert json.loads((out / "metadata").read_text())["source"] == "ecdh_psi"


def test_ecdh_psi_result_to_one_party_in_memory(tmp_path: Path) -> None:
    inputs = {"guest.0": {"data": _write(tmp_path / "a.csv", ["x", "y", "z"])},
              "host.0": {"data": _write(tmp_path / "b.csv", ["y", "z", "w"])}}
    reports = run_parties(ecdh_psi, inputs, tmp_path / "run", params={"curve_type": "sm2", "result_to_rank": 1})
    assert reports["guest.0"]["intersection_items"] is None and reports["host.0"]["intersection_items"] == 2


def test_statistics_in_memory(tmp_path: Path) -> None:
    x = np.random.default_rng(3).normal(size=500)
    (tmp_path / "t.csv").write_text("id,x\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(x)))
    reports = run_parties(statistics, {"guest.0": {"data": tmp_path / "t.csv"}}, tmp_path / "run",
                          params={"quantiles": [0.5]})
    col = reports["guest.0"]["columns"]["x"]
    assert col["count"] == 500 and abs(col["q50"] - float(np.median(x))) < 1e-12
