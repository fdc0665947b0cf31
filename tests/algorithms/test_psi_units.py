"""Unit tests of the ECDH-PSI pieces that need no peer: parameters, handshake decisions, duals, duplicates."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hulian.algorithms.ecdh_psi import handshake
from hulian.algorithms.ecdh_psi.component import EcdhPsiParameters
from hulian.algorithms.ecdh_psi.duals import dual_size, intersect, truncate
from hulian.algorithms.ecdh_psi.errors import (
    HANDSHAKE_REFUSED,
    INVALID_REQUEST,
    UNSUPPORTED_PARAMS,
    UNSUPPORTED_VERSION,
    PsiError,
)
from hulian.algorithms.ecdh_psi.params import (
    Compat,
    ParamError,
    PsiParams,
    build_suite,
    parse_result_to,
)
from hulian.algorithms.ecdh_psi.prepare import index_duplicates
from hulian.crypto.ecc import HashToCurveStrategy, HashType, PointOctetFormat
from hulian.data.table import canonical_keys
from hulian.sdk.params import ParameterError, parse
from hulian.wire.interconnection.handshake import entry_pb2
from hulian.wire.interconnection.handshake.algos.psi_pb2 import PsiDataIoProposal
from hulian.wire.interconnection.handshake.protocol_family.ecc_pb2 import EccProtocolResult

X25519 = build_suite("curve25519")
SM2 = build_suite("sm2")


def test_suite_names_numbers_and_reference_spellings():
    assert build_suite(1) == X25519
    assert build_suite("CURVE_TYPE_SM2", "sha_256", "try_and_rehash", "x962_compressed") == SM2
    s = build_suite("sm2", "SM3", "HASH_TO_CURVE_STRATEGY_TRY_AND_INCREMENT", "2")
    assert (s.hash, s.hash2curve, s.point_format) == (HashType.SM3, HashToCurveStrategy.TRY_AND_INCREMENT,
                                                      PointOctetFormat.X962_COMPRESSED)
    with pytest.raises(ParamError, match=r"curve_type='secp256k1'.*curve25519 \(1\)"):
        build_suite("secp256k1")
    assert parse_result_to("all") == -1 and parse_result_to("1") == 1
    with pytest.raises(ParamError):
        parse_result_to("guest")


def test_longest_name_wins():
    assert build_suite("sm2", point_format="x962_uncompressed").point_format == PointOctetFormat.X962_UNCOMPRESSED
    assert build_suite("sm2", point_format="POINT_OCTET_FORMAT_X962_HYBRID").point_format == \
        PointOctetFormat.X962_HYBRID
    assert build_suite("sm2", hash_type="sha3-256").hash == HashType.SHA3_256
    assert build_suite("sm2", hash_type="sha256").hash == HashType.SHA_256


def test_component_env_parameters():
    raw = {"curve_type": '"sm2"', "hash_type": "sha_256", "hash2curve_strategy": "2",
           "bit_length_after_truncated": "96", "result_to_rank": "0", "field_names": '["id", "phone"]'}
    declared = parse(EcdhPsiParameters, raw)
    params, fields = declared.psi(), declared.field_names
    assert params.suite == SM2 and params.bit_length_after_truncated == 96 and params.result_to_rank == 0
    assert fields == ["id", "phone"]
    with pytest.raises(ParameterError, match="curve_type is missing"):
        parse(EcdhPsiParameters, {})


def _roundtrip(p0: PsiParams, p1: PsiParams) -> tuple[PsiParams, PsiParams]:
    resp, agreed, refusal = handshake.decide(handshake.propose(p1, 10, 1), p0)
    if refusal:
        with pytest.raises(PsiError) as e:
            handshake.accept(resp, p1)
        assert e.value.code == refusal.code
        raise refusal
    return agreed, handshake.accept(resp, p1)


def test_handshake_agrees_and_rank0_decides_truncation():
    a, b = _roundtrip(PsiParams(X25519, 96), PsiParams(X25519, 128))
    assert a == b and a.bit_length_after_truncated == 96
    a, b = _roundtrip(PsiParams(X25519, 96), PsiParams(X25519, 96, compat=Compat.SECRETFLOW))
    assert a.bit_length_after_truncated == -1  # the proposer cannot truncate by the standard's rule


def test_handshake_refuses_other_suite_and_receiver():
    with pytest.raises(PsiError, match="SM2") as e:
        _roundtrip(PsiParams(X25519), PsiParams(SM2))
    assert e.value.code == HANDSHAKE_REFUSED
    with pytest.raises(PsiError, match="result_to_rank differs") as e:
        _roundtrip(PsiParams(X25519, result_to_rank=0), PsiParams(X25519))
    assert e.value.code == HANDSHAKE_REFUSED


def test_unusable_truncation_or_receiver_is_refused_before_any_work():
    for bits in (0, 257):
        with pytest.raises(ParamError, match="bit_length_after_truncated"):
            PsiParams(X25519, bits)
    with pytest.raises(ParamError, match="result_to_rank=5"):
        PsiParams(X25519, result_to_rank=parse_result_to("5"))
    # rank 0 (another vendor) decides a truncation rank 1 cannot use: refused at the handshake
    resp_raw, _, _ = handshake.decide(handshake.propose(PsiParams(X25519, 96), 10, 1), PsiParams(X25519, 96))
    resp = entry_pb2.HandshakeResponse.FromString(resp_raw)
    ecc = EccProtocolResult()
    resp.protocol_family_params[0].Unpack(ecc)
    ecc.bit_length_after_truncated = 300
    resp.protocol_family_params[0].Pack(ecc)
    with pytest.raises(PsiError, match="bit_length_after_truncated=300") as e:
        handshake.accept(resp.SerializeToString(), PsiParams(X25519, 96))
    assert e.value.code == UNSUPPORTED_PARAMS


def test_handshake_versions_garbage_and_io_as_proposal():
    req = entry_pb2.HandshakeRequest()
    req.ParseFromString(handshake.propose(PsiParams(X25519), 5, 1))
    req.version = 1
    _, agreed, refusal = handshake.decide(req.SerializeToString(), PsiParams(X25519))
    assert agreed is None and refusal.code == UNSUPPORTED_VERSION
    _, _, refusal = handshake.decide(b"\xff\xff\xff", PsiParams(X25519))
    assert refusal.code == INVALID_REQUEST
    # a response whose io_param is typed Proposal (as the reference implementation sends) is accepted
    resp = entry_pb2.HandshakeResponse()
    resp.ParseFromString(handshake.decide(handshake.propose(PsiParams(X25519), 5, 1), PsiParams(X25519))[0])
    resp.io_param.Pack(PsiDataIoProposal(supported_versions=[1], result_to_rank=-1))
    assert handshake.accept(resp.SerializeToString(), PsiParams(X25519)).result_to_rank == -1


def test_truncation_takes_low_bits_of_x():
    pts = bytes(range(32)) + bytes(range(100, 132))
    p = PsiParams(X25519, 96)
    assert truncate(p, pts, 32) == bytes(range(12)) + bytes(range(100, 112))
    assert dual_size(p, 32) == 12
    sf = PsiParams(X25519, -1, compat=Compat.SECRETFLOW)
    assert truncate(sf, pts, 32) == bytes(range(20, 32)) + bytes(range(120, 132))
    sm2_point = b"\x02" + bytes(range(32))
    assert truncate(PsiParams(SM2, 12), sm2_point, 33) == bytes([30 & 0x0F, 31])
    assert truncate(PsiParams(SM2, -1), sm2_point, 33) == sm2_point


@given(st.lists(st.integers(0, 20), max_size=200))
def test_index_duplicates(values):
    keys = np.array(values, dtype="<u8")
    is_first, row_unique = index_duplicates(keys, keys * 7)
    firsts = [i for i, v in enumerate(values) if v not in values[:i]]
    assert list(np.flatnonzero(is_first)) == firsts
    order = [values[i] for i in firsts]
    assert [order[u] for u in row_unique] == values


def test_index_duplicates_when_64_bits_collide():
    hi = np.array([5, 5, 5, 1, 5], dtype="<u8")  # distinct keys sharing `hi`: the exact path
    lo = np.array([2, 1, 2, 9, 1], dtype="<u8")
    is_first, row_unique = index_duplicates(hi, lo)
    assert list(is_first) == [True, True, False, True, False]
    assert list(row_unique) == [0, 1, 0, 2, 1]


def test_intersect_exact_bytes():
    own = np.frombuffer(b"aaaabbbbccccdddd", dtype=np.uint8).reshape(4, 4)
    peer = np.frombuffer(b"ddddxxxxbbbb", dtype=np.uint8).reshape(3, 4)
    assert list(intersect(own, peer)) == [False, True, False, True]
    assert not intersect(own, peer[:0]).any()


def test_canonical_keys_trim_and_join():
    batch = pa.record_batch({"id": [" 1 ", "2", "中文 "], "k": ["a", " b", "c"], "n": [1, 2, 3]})
    assert canonical_keys(batch, ["id", "k"]) == [b"1,a", b"2,b", "中文,c".encode()]
    assert canonical_keys(batch, ["n"]) == [b"1", b"2", b"3"]
