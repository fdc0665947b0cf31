"""Sigmoids, reciprocal and square root against numpy on the encoded inputs, over their documented ranges and at
the edges of their segments, within the bounds their docstrings state."""
from __future__ import annotations

import numpy as np
import pytest

from hulian.crypto.ss import ring
from hulian.mpc import PROBABILISTIC, nonlinear
from tests.unit.mpc.conftest import run_with

FXP = 18
ULP = 2.0 ** -FXP


def encoded(x: np.ndarray, fxp: int = FXP) -> np.ndarray:
    return ring.decode(ring.encode(x, fxp), fxp)


def evaluate(fn, x: np.ndarray, source: str = "dealer", fxp: int = FXP, **kwargs) -> tuple[np.ndarray, object]:
    def body(s):
        out = fn(s, s.share(x if s.rank == 0 else None, 0), **kwargs)
        traffic = s.last
        return s.reveal(out), traffic

    (value, _), (_, traffic) = run_with(source, body, fxp=fxp)
    return value, traffic


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(x / 2))


SIGMOID_EDGES = [0.0, ULP, -ULP, 2.5, -2.5, 2.5 - ULP, -2.5 - ULP, 6.25, -6.25, 6.25 - ULP, 14.0, -14.0, 14 - ULP,
                 -14 + ULP, 30.0, -30.0, 1e9, -1e9, 1.7e13, -1.7e13]


def test_sigmoid_mm1(source: str) -> None:
    x = encoded(np.concatenate([np.random.default_rng(1).uniform(-10, 10, 28), [0.0, ULP, -1e6, 1e6]]))
    precise, traffic = evaluate(nonlinear.sigmoid_mm1, x, source)
    assert np.abs(precise - (0.5 + 0.125 * x)).max() <= ULP
    # the truncation's one opening (HE triples add the two rounds that make its triple)
    assert traffic.rounds_sent == (1 if source == "dealer" else 3)
    local, traffic = evaluate(nonlinear.sigmoid_mm1, x, source, mode=PROBABILISTIC)
    assert np.abs(local - (0.5 + 0.125 * x)).max() <= ULP
    assert traffic.bytes_sent == 0 and traffic.rounds_sent == 0


def test_sigmoid(source: str) -> None:
    x = encoded(np.concatenate([np.random.default_rng(2).uniform(-16, 16, 12), SIGMOID_EDGES]))
    got, _ = evaluate(nonlinear.sigmoid, x, source)
    assert np.abs(got - sigmoid(x)).max() <= 9e-7 + ULP


def test_reciprocal(source: str) -> None:
    rng = np.random.default_rng(3)
    x = 2.0 ** rng.uniform(-18, 18, 12) * rng.choice([-1, 1], 12)
    edges = [ULP, -ULP, 2.0 ** 18 - ULP, -(2.0 ** 18 - ULP), 1.0, -1.0, 4.0, 4.0 - ULP, 0.25, 0.25 - ULP, 3.0, 1e-3]
    x = encoded(np.concatenate([x, edges]))
    got, _ = evaluate(nonlinear.reciprocal, x, source)
    assert np.all(np.abs(got - 1 / x) <= 1e-7 / np.abs(x) + ULP)


def test_reciprocal_outside_its_range_and_zero() -> None:
    x = encoded(np.array([0.0, 2.0 ** 18, -(2.0 ** 18), 1e9, -1.7e13, 123456.5]))
    got, _ = evaluate(nonlinear.reciprocal, x)
    assert np.array_equal(got[:5], np.zeros(5))                  # 1/x <= 2^-18 there: zero is within an ulp
    assert abs(got[5] - 1 / x[5]) <= ULP


def test_sqrt(source: str) -> None:
    rng = np.random.default_rng(4)
    x = 2.0 ** rng.uniform(-18, 44, 12) * (1 - 2.0 ** -30)
    edges = [0.0, ULP, 2 * ULP, 2.0 ** 44 - 1, 1.0, 4.0, 4.0 - ULP, 2.0, 0.25, 1e9, 1.5e-5, -3.0]
    x = encoded(np.concatenate([x, edges]))
    got, _ = evaluate(nonlinear.sqrt, x, source)
    want = np.sqrt(np.maximum(x, 0))                             # a negative input gives 0
    assert np.all(np.abs(got - want) <= 1e-7 * want + ULP)


def test_many_inputs_within_the_bounds() -> None:
    """Dealer triples, a few thousand inputs each, spread over each function's whole range."""
    rng = np.random.default_rng(5)
    n = 1500
    x = encoded(np.concatenate([rng.uniform(-16, 16, n), rng.normal(0, 4, n)]))
    assert np.abs(evaluate(nonlinear.sigmoid, x)[0] - sigmoid(x)).max() <= 9e-7 + ULP
    x = encoded(2.0 ** rng.uniform(-18, 18, n) * rng.choice([-1, 1], n))
    assert np.all(np.abs(evaluate(nonlinear.reciprocal, x)[0] - 1 / x) <= 1e-7 / np.abs(x) + ULP)
    x = encoded(2.0 ** rng.uniform(-18, 44, n) * (1 - 2.0 ** -30))
    assert np.all(np.abs(evaluate(nonlinear.sqrt, x)[0] - np.sqrt(x)) <= 1e-7 * np.sqrt(x) + ULP)


@pytest.mark.parametrize("fxp", [13, 24])
def test_other_scales(fxp: int) -> None:
    rng = np.random.default_rng(fxp)
    ulp = 2.0 ** -fxp
    h = min(-(-fxp // 2), 9)
    x = encoded(2.0 ** rng.uniform(-2 * h + 1, 2 * h - 1, 64) * rng.choice([-1, 1], 64), fxp)
    assert np.all(np.abs(evaluate(nonlinear.reciprocal, x, fxp=fxp)[0] - 1 / x) <= 1e-7 / np.abs(x) + ulp)
    top = (62 - fxp) // 2
    x = encoded(2.0 ** rng.uniform(-fxp, 2 * top, 64) * (1 - 2.0 ** -30), fxp)
    assert np.all(np.abs(evaluate(nonlinear.sqrt, x, fxp=fxp)[0] - np.sqrt(x)) <= 1e-7 * np.sqrt(x) + ulp)
    x = encoded(np.concatenate([rng.uniform(-16, 16, 44), SIGMOID_EDGES[:18]]), fxp)
    assert np.abs(evaluate(nonlinear.sigmoid, x, fxp=fxp)[0] - sigmoid(x)).max() <= 9e-7 + ulp


def test_rounds_per_function() -> None:
    x = encoded(np.linspace(0.5, 8, 8))
    assert evaluate(nonlinear.sigmoid, x)[1].rounds_sent == 16       # rank 1: its peer only
    assert evaluate(nonlinear.reciprocal, x)[1].rounds_sent == 30
    assert evaluate(nonlinear.sqrt, x)[1].rounds_sent == 21


def test_large_inputs_go_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nonlinear, "CHUNK_WORDS", 640)          # sqrt: pieces of 10 elements, sigmoid of 40
    rng = np.random.default_rng(6)
    x = encoded(rng.uniform(-16, 16, 95)).reshape(5, 19)
    got, traffic = evaluate(nonlinear.sigmoid, x)
    assert got.shape == (5, 19) and np.abs(got - sigmoid(x)).max() <= 9e-7 + ULP
    assert traffic.rounds_sent == 16 * 3
    x = encoded(2.0 ** rng.uniform(-18, 44, 25) * (1 - 2.0 ** -30))
    got, traffic = evaluate(nonlinear.sqrt, x)
    assert np.all(np.abs(got - np.sqrt(x)) <= 1e-7 * np.sqrt(x) + ULP) and traffic.rounds_sent == 21 * 3
