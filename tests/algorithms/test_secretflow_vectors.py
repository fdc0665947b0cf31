"""Byte-level agreement with SecretFlow's deployed ECDH stage (spu 0.9.5), on vectors spu itself produced with
fixed keys (`bench/spu_vectors.py`; how they were made: docs/interop/secretflow-ecdh.md).

Checked per party: hash-to-point and masking (the stage-1 points it sent), the peer's re-masking and the
truncation to SecretFlow's 12-byte duals (the duals it received and sent), on every backend available here.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hulian.algorithms.ecdh_psi.duals import truncate
from hulian.algorithms.ecdh_psi.params import Compat, PsiParams, build_suite
from hulian.crypto.ecc import BackendUnavailable, UnsupportedSuite, available_backends, open_cipher

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "interop" / "vectors"
CASES = [("ecdh_25519_fixedkey.json", "curve25519"), ("ecdh_sm2_fixedkey.json", "sm2")]
SUITES = {"curve25519": build_suite("curve25519"), "sm2": build_suite("sm2")}


def _serves(backend: str, curve: str) -> bool:
    try:
        open_cipher(SUITES[curve], backend)
        return True
    except (UnsupportedSuite, BackendUnavailable):  # this backend does not serve this curve; anything else fails
        return False


CASES_BY_BACKEND = [(name, curve, backend) for name, curve in CASES
                    for backend, ok in available_backends().items() if ok and _serves(backend, curve)]
assert {curve for _, curve, _ in CASES_BY_BACKEND} == set(SUITES), "a curve lost every backend that serves it"


def _x(point: bytes, size: int) -> bytes:
    """What both sides compare: the whole u for X25519; x without the parity byte for compressed SM2 (our
    masking re-encodes with even y, since crypto_mb returns only x; SecretFlow keeps the true parity)."""
    return point if size == 32 else point[1:]


@pytest.mark.parametrize(("name", "curve", "backend"), CASES_BY_BACKEND)
def test_matches_secretflow(name: str, curve: str, backend: str):
    vec = json.loads((VECTORS / name).read_text())
    params = PsiParams(SUITES[curve], compat=Compat.SECRETFLOW)
    cipher = open_cipher(params.suite, backend)
    keys = [bytes.fromhex(vec["keys"]["a"]), bytes.fromhex(vec["keys"]["b"])]
    ps = cipher.point_size
    for party in vec["parties"]:
        rank = party["rank"]
        items = [i.encode() for i in party["items"]]
        sent = cipher.mask(keys[rank], cipher.hash_to_points(items))
        expected = [bytes.fromhex(h) for h in party["stage1_sent"]]
        assert [_x(sent[i * ps:(i + 1) * ps], ps) for i in range(len(items))] == [_x(e, ps) for e in expected]
        # the peer re-masks what we sent (SecretFlow's true points) and returns the last 12 bytes
        duals = truncate(params, cipher.mask(keys[1 - rank], b"".join(expected)), ps)
        ours = [duals[i * 12:(i + 1) * 12].hex() for i in range(len(items))]
        assert ours == party["dual_received"]
        assert ours == vec["parties"][1 - rank]["dual_sent"]  # what the peer computed and sent back
