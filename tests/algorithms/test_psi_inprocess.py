"""Two parties in one process (threads), each with its own gRPC link on loopback and its own curve worker:
intersections against the set arithmetic, for edge cases and random sets."""
from __future__ import annotations

import csv
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hulian.algorithms.ecdh_psi.params import PsiParams, build_suite
from hulian.algorithms.ecdh_psi.run import PsiReport, run_and_close
from hulian.data.table import TableSource
from hulian.node.cluster import free_ports
from hulian.transport.iclink import GrpcLink, LinkOptions

X25519 = PsiParams(build_suite("curve25519"), 96)


def write_csv(path: Path, keys: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "row"])
        w.writerows([k, i] for i, k in enumerate(keys))


def read_rows(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [(r["id"], r["row"]) for r in csv.DictReader(f)]


def run_pair(tmp: Path, a: list[str], b: list[str], p0: PsiParams = X25519, p1: PsiParams | None = None
             ) -> list[PsiReport]:
    """Both parties' reports; outputs in tmp/out0.csv and tmp/out1.csv."""
    ports = free_ports(2)
    reports: list[PsiReport | None] = [None, None]
    errors: list[BaseException] = []

    def party(rank: int, keys: list[str], params: PsiParams) -> None:
        try:
            write_csv(tmp / f"in{rank}.csv", keys)
            link = GrpcLink.connect(rank, f"127.0.0.1:{ports[rank]}", {1 - rank: f"127.0.0.1:{ports[1 - rank]}"},
                                    LinkOptions(recv_timeout=30))
            reports[rank] = run_and_close(link, params, TableSource(tmp / f"in{rank}.csv", ["id"]),
                                          tmp / f"out{rank}.csv", negotiate=True, workers=1, timeout=30)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=party, args=(0, a, p0)),
               threading.Thread(target=party, args=(1, b, p1 or p0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    return reports  # type: ignore[return-value]


def expected_rows(own: list[str], other: list[str]) -> list[tuple[str, str]]:
    common = {k.strip() for k in own} & {k.strip() for k in other}
    return [(k, str(i)) for i, k in enumerate(own) if k.strip() in common]


@pytest.mark.parametrize(("a", "b"), [
    ([], []),
    (["x", "y"], []),
    ([], ["x"]),
    (["1", "2", "2", "3", "3", "3"], ["3", "2", "9"]),
    (["中文", "naïve", "emoji 😀", " padded "], ["padded", "emoji 😀", "中文"]),
])
def test_edge_cases(tmp_path: Path, a: list[str], b: list[str]):
    r0, r1 = run_pair(tmp_path, a, b)
    assert read_rows(tmp_path / "out0.csv") == expected_rows(a, b)
    assert read_rows(tmp_path / "out1.csv") == expected_rows(b, a)
    distinct = len({k.strip() for k in a})
    assert (r0.input_rows, r0.unique_items, r0.duplicate_rows) == (len(a), distinct, len(a) - distinct)
    assert r0.intersection_items == r1.intersection_items == len({k.strip() for k in a} & {k.strip() for k in b})
    assert r0.peer_items == r1.unique_items


def test_result_to_one_rank(tmp_path: Path):
    params = X25519.with_(result_to_rank=0)
    r0, r1 = run_pair(tmp_path, ["a", "b", "c"], ["b", "c", "d"], params)
    assert read_rows(tmp_path / "out0.csv") == [("b", "1"), ("c", "2")]
    assert r0.intersection_items == 2
    assert r1.intersection_items is None and not (tmp_path / "out1.csv").exists()


def test_parquet_and_two_key_columns(tmp_path: Path):
    pq.write_table(pa.table({"phone": [1380000, 1390000, 1380000, 1500000], "name": ["li", "wang", "li", "zhao"],
                             "v": [1.5, 2.5, 3.5, 4.5]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"phone": [1500000, 1380000], "name": ["zhao", "li"]}), tmp_path / "b.parquet")
    ports = free_ports(2)
    reports: list[PsiReport] = []

    def party(rank: int) -> None:
        link = GrpcLink.connect(rank, f"127.0.0.1:{ports[rank]}", {1 - rank: f"127.0.0.1:{ports[1 - rank]}"})
        src = TableSource(tmp_path / ("a.parquet" if rank == 0 else "b.parquet"), ["phone", "name"])
        reports.append(run_and_close(link, X25519, src, tmp_path / f"out{rank}.parquet", negotiate=True, workers=1))

    threads = [threading.Thread(target=party, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    out = pq.read_table(tmp_path / "out0.parquet").to_pydict()
    assert out == {"phone": [1380000, 1380000, 1500000], "name": ["li", "li", "zhao"], "v": [1.5, 3.5, 4.5]}
    assert sorted(r.intersection_items for r in reports) == [2, 2]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sets(st.text(min_size=1, max_size=12).filter(lambda s: s.strip() and "\x00" not in s), max_size=60),
       st.sets(st.integers(0, 10**6), max_size=60), st.sets(st.integers(0, 10**6), max_size=60))
def test_random_sets(tmp_path: Path, shared: set[str], only_a: set[int], only_b: set[int]):
    clean = [s.replace("\r", " ").replace("\n", " ") for s in shared]
    a = clean + [f"a{i}" for i in only_a]
    b = [f"b{i}" for i in only_b] + clean
    run_pair(tmp_path, a, b)
    assert read_rows(tmp_path / "out0.csv") == expected_rows(a, b)
