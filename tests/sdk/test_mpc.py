"""ctx.mpc: the same algorithm in memory and between three real nodes (two compute parties and the dealer)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hulian.sdk import TaskContext
from hulian.sdk.testing import PartyFailed, run_parties
from tests.sdk.nodes import run_on_nodes

RNG = np.random.default_rng(15)
X = RNG.normal(0, 10, size=(40, 6))      # the guest's features
W = RNG.normal(0, 1, size=6)             # the host's weights
Y = RNG.normal(0, 10, size=40)           # the host's offsets


def scores(ctx: TaskContext, **session: object) -> dict:
    """The guest learns x @ w + y and sum((x @ w) * y); the host learns nothing; the arbiter deals."""
    if ctx.local == ctx.arbiter:
        ctx.mpc.deal()
        return {"dealer": vars(ctx.mpc.stats)}
    guest = ctx.local == ctx.guest
    with ctx.mpc.session(**session) as mpc:
        x = mpc.share(X if guest else None, owner=0)
        w = mpc.share(None if guest else W, owner=1)
        y = mpc.share(None if guest else Y, owner=1)
        xw = x @ w
        out = {"scores": mpc.reveal(xw + y, to=0), "dot": mpc.reveal(mpc.dot(xw, y), to=0)}
    return {**out, "stats": vars(ctx.mpc.stats)}


def _check(reports: dict, dealer: bool = True) -> None:
    got = reports["guest.0"]
    assert np.allclose(got["scores"], X @ W + Y, atol=1e-3)
    assert abs(got["dot"] - (X @ W) @ Y) < 0.05
    assert reports["host.0"]["scores"] is None and reports["host.0"]["dot"] is None
    # the dealer received only the session calls: far less than the parties exchanged
    exchanged = reports["host.0"]["stats"]["bytes_received"]
    assert not dealer or reports["arbiter.0"]["dealer"]["bytes_received"] < exchanged / 4


def test_in_memory(tmp_path: Path) -> None:
    _check(run_parties(scores, {"guest.0": {}, "host.0": {}, "arbiter.0": {}}, tmp_path))


def test_in_memory_without_a_dealer(tmp_path: Path) -> None:
    reports = run_parties(lambda ctx: scores(ctx, triples="he", he_bits=1024, allow_insecure_keys=True),
                          {"guest.0": {}, "host.0": {}}, tmp_path)
    _check(reports, dealer=False)


def test_without_an_arbiter_the_dealer_mode_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PartyFailed, match=r"no arbiter; pass dealer=ctx\.party"):
        run_parties(scores, {"guest.0": {}, "host.0": {}}, tmp_path, timeout=5)


@pytest.mark.cluster
def test_between_three_real_nodes(make_cluster) -> None:
    """The same `scores`, each party in its own TaskContext on the PTP federation of its own node."""
    nodes = make_cluster(3)
    reports = run_on_nodes(scores, {"guest.0": nodes[0], "host.0": nodes[1], "arbiter.0": nodes[2]}, "mpc")
    _check(reports)
