"""TaskContext on the in-memory federation and on the white-box link: messages of every kind, roles, nested
scopes that never collide, typed parameters, and the self-description generated from the declaration."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hulian.core import allocator
from hulian.federation import FederationError, FederationTimeout, LinkFederation, Party, Scope
from hulian.node.cluster import free_ports
from hulian.sdk import Data, ParameterError, TaskContext, component, param
from hulian.sdk.params import describe, parse
from hulian.sdk.progress import Reporter
from hulian.sdk.runner import run
from hulian.sdk.testing import PartyFailed, contexts, run_parties
from hulian.transport.iclink import GrpcLink, LinkOptions


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_messages_roles_and_scopes(tmp_path: Path) -> None:
    ctxs = contexts({"guest.0": {}, "host.0": {}, "host.1": {}, "arbiter.0": {}}, tmp_path)
    g, h0, h1, arb = ctxs["guest.0"], ctxs["host.0"], ctxs["host.1"], ctxs["arbiter.0"]
    assert g.guest == g.local and [p.party_id for p in g.hosts] == ["host.0", "host.1"]
    assert g.arbiter == arb.local and g.role == "guest" and len(g.others) == 3

    g.send(g.hosts, "hello", {"n": 1, "b": b"\x00"})                  # to every party of a role
    assert [c.recv(g.guest, "hello") for c in (h0, h1)] == [{"n": 1, "b": b"\x00"}] * 2
    a = np.arange(12, dtype=np.int64).reshape(3, 4) - 5
    h0.send_array(arb.local, "grad", a)
    got = arb.recv_array(h0.local, "grad")
    assert got.dtype == a.dtype and np.array_equal(got, a)
    assert g.send_stream(h0.local, "big", [b"ab", b"", b"c"]) == 3
    assert list(h0.recv_stream(g.local, "big")) == [b"ab", b"", b"c"]

    # the same topic in two scopes, and a scope named like a topic, never meet
    g.sub("it-1").send(h0.local, "w", 1)
    g.sub("it-2").send(h0.local, "w", 2)
    g.send(h0.local, "w", 0)
    assert h0.sub("it-2").recv(g.local, "w") == 2
    assert h0.recv(g.local, "w") == 0
    assert h0.sub("it-1").recv(g.local, "w") == 1
    g.sub("w").send(h0.local, "w", 9)                                # a scope named like a topic
    g.send(h0.local, "w", 0)
    assert h0.sub("w").recv(g.local, "w") == 9 and h0.recv(g.local, "w") == 0
    with pytest.raises(FederationTimeout):
        h0.sub("it-1").sub("w").recv(g.local, "w", timeout=0.1)
    with pytest.raises(ValueError, match="without '/'"):
        g.sub("a/b")
    for c in ctxs.values():
        c.close()


def test_scope_wire_topics_are_todays() -> None:
    s = Scope("job1_psi_0", "job1_psi_0")
    assert s.wire_topic("data") == "job1_psi_0.data"                    # what Channel sent before the SDK
    assert s.sub("iter-3").wire_topic("data") == "job1_psi_0.iter-3/data"
    assert s.link_topic("guest.0", "host.0") == "job1_psi_0:guest.0-host.0"
    assert Scope().link_topic("guest.0", "host.0") == "guest.0-host.0"  # yacl's own, unscoped
    assert s.sub("a").link_topic("guest.0", "host.0") == "job1_psi_0/a:guest.0-host.0"  # a sub-scope's own queue
    assert s.sub("a").link_topic("guest.0", "host.0") != s.sub("b").link_topic("guest.0", "host.0")


def test_link_federation_over_grpc() -> None:
    """The white-box carrier: topic messages framed on one gRPC link, out of order by topic."""
    ports = free_ports(2)
    parties = [Party("guest.0"), Party("host.0")]
    out: dict[str, object] = {}

    def party(rank: int) -> None:
        link = GrpcLink.connect(rank, f"127.0.0.1:{ports[rank]}", {1 - rank: f"127.0.0.1:{ports[1 - rank]}"},
                                LinkOptions(recv_timeout=20))
        fed = LinkFederation(link, parties[rank], parties)
        other, root = parties[1 - rank], Scope("t")
        try:
            if rank == 0:
                fed.send(other, root, "first", b"1")
                fed.send(other, root.sub("s"), "second", b"2")
                link.send(1, (5).to_bytes(4, "little") + b"ab")           # no frame: topic cut short
                link.send(1, (2).to_bytes(4, "little") + b"\xff\xfe")     # a topic that is not UTF-8
                out["reply"] = fed.recv(other, root, "reply", 20)
            else:
                out["second"] = fed.recv(other, root.sub("s"), "second", 20)  # set aside "first" meanwhile
                out["first"] = fed.recv(other, root, "first", 20)
                out["left aside"] = dict(fed._waiting)   # a drained topic keeps no queue
                for expected in ("is no topic frame", "not UTF-8"):
                    with pytest.raises(FederationError, match=f"guest.0 sent .*{expected}"):
                        fed.recv(other, root, "reply?", 20)
                fed.send(other, root, "reply", b"ok")
        finally:
            fed.close()

    threads = [threading.Thread(target=party, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert out == {"second": b"2", "first": b"1", "left aside": {}, "reply": b"ok"}


@dataclass(frozen=True)
class Knobs:
    rounds: int = param(3, description="how many rounds", ge=1, le=10)
    scale: float = param(1.0, description="a factor")
    mode: str = param("fast", description="speed", choices=["fast", "exact"])
    names: list[str] = param(["a"], description="names")
    on: bool = param(False, description="a switch")


def test_parameters_are_typed_checked_and_described() -> None:
    k = parse(Knobs, {"rounds": "5", "scale": "2.5", "mode": "exact", "names": "x, y", "on": "true", "other": "z"})
    assert k == Knobs(5, 2.5, "exact", ["x", "y"], True)
    assert parse(Knobs, {"names": '["p", "q"]'}).names == ["p", "q"]
    for raw, message in (({"rounds": "many"}, r"rounds='many': expected int"),
                         ({"rounds": "11"}, r"rounds='11': must lie in \[1, 10\]"),
                         ({"mode": "slow"}, "use one of fast, exact"), ({"on": "maybe"}, "expected bool")):
        with pytest.raises(ParameterError, match=message):
            parse(Knobs, raw)
    shown = {p["name"]: p for p in describe(Knobs)}
    assert shown["rounds"] == {"name": "rounds", "title": "rounds", "description": "how many rounds", "type": "int",
                               "optional": "true", "defaultValue": "3"}
    assert shown["mode"]["bindingData"] == [{"label": "fast", "value": "fast"}, {"label": "exact", "value": "exact"}]
    assert shown["names"]["type"] == "object" and shown["names"]["defaultValue"] == '["a"]'


@component(name="echo_sum", summary="sums a column across parties", roles=("guest", "host"), params=Knobs,
           inputs=[Data("data", "a table")])
def echo_sum(ctx: TaskContext, params: Knobs) -> dict:
    total = sum(float(v) for b in ctx.input("data").batches() for v in b.column("x").to_pylist())
    for i in range(params.rounds):
        ctx.sub(f"round-{i}").send(ctx.others, "total", total)
    got = [ctx.sub(f"round-{i}").recv(p, "total") for i in range(params.rounds) for p in ctx.others]
    ctx.progress(1.0, rounds=params.rounds)
    return {"mine": total, "theirs": got}


def test_a_component_runs_every_party_in_memory(tmp_path: Path) -> None:
    inputs = {"guest.0": {"data": _csv(tmp_path / "g.csv", "id,x", ["1,1.5", "2,2"])},
              "host.0": {"data": _csv(tmp_path / "h.csv", "id,x", ["3,10"])}}
    reports = run_parties(echo_sum, inputs, tmp_path / "run", params={"rounds": 2})
    assert reports == {"guest.0": {"mine": 3.5, "theirs": [10.0, 10.0]},
                       "host.0": {"mine": 10.0, "theirs": [3.5, 3.5]}}
    assert echo_sum.description["inputParam"][0]["name"] == "rounds"
    with pytest.raises(PartyFailed, match="rounds='0'"):
        run_parties(echo_sum, inputs, tmp_path / "bad", params={"rounds": 0}, timeout=2)


def test_a_bad_metric_is_refused_where_it_is_reported() -> None:
    """The node refuses a callback holding one bad metric; the SDK sends all it has each time, so a bad one
    stored would silence every later report: it is refused at ctx.progress instead, and nothing is kept."""
    reporter = Reporter("", "t", "guest.0")
    reporter.report(0.5, rows=3)
    for bad in ({"nan": float("nan")}, {"x" * 65: 1}, {"nested": {"a": 1}}):  # type: ignore[dict-item]
        with pytest.raises(ValueError, match="metric"):
            reporter.report(**bad)
    with pytest.raises(ValueError, match="progress"):
        reporter.report(1.5)
    assert reporter.metrics == {"rows": 3}


class _Refused(Exception):
    pass


@component(name="refuses", summary="fails on purpose", roles=("guest",), errors=(_Refused,))
def refuses(ctx: TaskContext) -> dict:
    raise _Refused("the peer sent a batch out of order")


def test_a_declared_error_is_one_line_of_the_task_log(tmp_path: Path, capsys) -> None:
    """A component's own failure (declared in @component(errors=...)) exits 1 with "<name> failed: <why>", no
    traceback: the scheduler shows the task log's last lines on failure."""
    env = {"system.storage": tmp_path.as_uri(), "config.self_role": "guest.0", "config.task_id": "t1"}
    assert run(refuses, env) == 1
    err = capsys.readouterr().err
    assert "refuses failed: the peer sent a batch out of order" in err and "Traceback" not in err


def test_the_runner_tunes_malloc_before_the_component_runs(tmp_path: Path, capsys) -> None:
    """run() applies hulian.core.allocator first: a nonsense HULIAN_MALLOC_KEEP_MB stops the task before the
    component starts, naming the variable."""
    env = {"system.storage": tmp_path.as_uri(), "config.self_role": "guest.0", "config.task_id": "t1",
           allocator.KEEP_ENV: "lots"}
    assert run(refuses, env) == 1
    err = capsys.readouterr().err
    assert "HULIAN_MALLOC_KEEP_MB='lots'" in err and "out of order" not in err
