"""The interconnection protos: full names, Any type URLs, field numbers and types as upstream, and round trips."""
from __future__ import annotations

import pytest
from google.protobuf import any_pb2
from google.protobuf.descriptor import FieldDescriptor as F

from hulian.wire.interconnection.common import header_pb2
from hulian.wire.interconnection.handshake import entry_pb2
from hulian.wire.interconnection.handshake.algos import psi_pb2
from hulian.wire.interconnection.handshake.protocol_family import ecc_pb2
from hulian.wire.interconnection.link import blackbox_pb2, transport_pb2
from hulian.wire.interconnection.runtime import ecdh_psi_pb2

# (message class, full name, {field: (number, type, repeated)})
SCHEMAS = [
    (header_pb2.ResponseHeader, "org.interconnection.ResponseHeader",
     {"error_code": (1, F.TYPE_INT32, False), "error_msg": (2, F.TYPE_STRING, False)}),
    (transport_pb2.PushRequest, "org.interconnection.link.PushRequest",
     {"sender_rank": (1, F.TYPE_UINT64, False), "key": (2, F.TYPE_STRING, False), "value": (3, F.TYPE_BYTES, False),
      "trans_type": (4, F.TYPE_ENUM, False), "chunk_info": (5, F.TYPE_MESSAGE, False)}),
    (transport_pb2.ChunkInfo, "org.interconnection.link.ChunkInfo",
     {"message_length": (1, F.TYPE_UINT64, False), "chunk_offset": (2, F.TYPE_UINT64, False)}),
    (transport_pb2.PushResponse, "org.interconnection.link.PushResponse", {"header": (1, F.TYPE_MESSAGE, False)}),
    (blackbox_pb2.TransportOutbound, "blackbox_interconnect.TransportOutbound",
     {"payload": (1, F.TYPE_BYTES, False), "code": (2, F.TYPE_STRING, False), "message": (3, F.TYPE_STRING, False)}),
    (entry_pb2.HandshakeRequest, "org.interconnection.v2.HandshakeRequest",
     {"version": (1, F.TYPE_INT32, False), "requester_rank": (2, F.TYPE_INT32, False),
      "supported_algos": (3, F.TYPE_INT32, True), "algo_params": (4, F.TYPE_MESSAGE, True),
      "ops": (5, F.TYPE_INT32, True), "op_params": (6, F.TYPE_MESSAGE, True),
      "protocol_families": (7, F.TYPE_INT32, True), "protocol_family_params": (8, F.TYPE_MESSAGE, True),
      "io_param": (9, F.TYPE_MESSAGE, False)}),
    (entry_pb2.HandshakeResponse, "org.interconnection.v2.HandshakeResponse",
     {"header": (1, F.TYPE_MESSAGE, False), "algo": (2, F.TYPE_INT32, False), "algo_param": (3, F.TYPE_MESSAGE, False),
      "ops": (4, F.TYPE_INT32, True), "op_params": (5, F.TYPE_MESSAGE, True),
      "protocol_families": (6, F.TYPE_INT32, True), "protocol_family_params": (7, F.TYPE_MESSAGE, True),
      "io_param": (8, F.TYPE_MESSAGE, False)}),
    (ecc_pb2.EcSuit, "org.interconnection.v2.protocol.EcSuit",
     {"curve": (1, F.TYPE_INT32, False), "hash": (2, F.TYPE_INT32, False),
      "hash2curve_strategy": (3, F.TYPE_INT32, False)}),
    (ecc_pb2.EccProtocolProposal, "org.interconnection.v2.protocol.EccProtocolProposal",
     {"supported_versions": (1, F.TYPE_INT32, True), "ec_suits": (2, F.TYPE_MESSAGE, True),
      "point_octet_formats": (3, F.TYPE_INT32, True), "support_point_truncation": (4, F.TYPE_BOOL, False)}),
    (ecc_pb2.EccProtocolResult, "org.interconnection.v2.protocol.EccProtocolResult",
     {"version": (1, F.TYPE_INT32, False), "ec_suit": (2, F.TYPE_MESSAGE, False),
      "point_octet_format": (3, F.TYPE_INT32, False), "bit_length_after_truncated": (4, F.TYPE_INT32, False)}),
    (psi_pb2.PsiDataIoProposal, "org.interconnection.v2.algos.PsiDataIoProposal",
     {"supported_versions": (1, F.TYPE_INT32, True), "item_num": (2, F.TYPE_INT64, False),
      "result_to_rank": (3, F.TYPE_INT32, False)}),
    (psi_pb2.PsiDataIoResult, "org.interconnection.v2.algos.PsiDataIoResult",
     {"version": (1, F.TYPE_INT32, False), "result_to_rank": (2, F.TYPE_INT32, False)}),
    (ecdh_psi_pb2.EcdhPsiCipherBatch, "org.interconnection.v2.runtime.EcdhPsiCipherBatch",
     {"type": (1, F.TYPE_STRING, False), "batch_index": (3, F.TYPE_INT32, False),
      "is_last_batch": (4, F.TYPE_BOOL, False), "count": (6, F.TYPE_INT32, False),
      "ciphertext": (7, F.TYPE_BYTES, False), "duplicate_item_cnt_map": (8, F.TYPE_MESSAGE, True)}),
]


@pytest.mark.parametrize(("cls", "full_name", "fields"), SCHEMAS, ids=[s[1] for s in SCHEMAS])
def test_names_and_field_numbers_are_upstreams(cls, full_name, fields) -> None:
    d = cls.DESCRIPTOR
    assert d.full_name == full_name
    got = {f.name: (f.number, f.type, f.is_repeated) for f in d.fields}
    assert got == fields


def test_enum_values() -> None:
    assert header_pb2.ErrorCode.Value("HANDSHAKE_REFUSED") == 31100200
    assert header_pb2.ErrorCode.Value("INVALID_RESOURCE") == 31100101
    assert transport_pb2.TransType.Value("CHUNKED") == 1
    assert entry_pb2.ALGO_TYPE_ECDH_PSI == 1 and entry_pb2.PROTOCOL_FAMILY_ECC == 1
    assert (ecc_pb2.CURVE_TYPE_CURVE25519, ecc_pb2.CURVE_TYPE_SM2) == (1, 2)
    assert (ecc_pb2.HASH_TYPE_SM3, ecc_pb2.HASH_TYPE_SHA_256, ecc_pb2.HASH_TYPE_SHAKE_256) == (1, 11, 30)
    assert ecc_pb2.HASH_TO_CURVE_STRATEGY_DIRECT_HASH_AS_POINT_X == 3
    assert ecc_pb2.HASH_TO_CURVE_STRATEGY_IRTF_ELL2_NU == 13
    assert ecc_pb2.POINT_OCTET_FORMAT_X962_COMPRESSED == 2


def test_push_service_path() -> None:
    service = transport_pb2.DESCRIPTOR.services_by_name["ReceiverService"]
    path = f"/{service.full_name}/{service.methods_by_name['Push'].name}"
    assert path == "/org.interconnection.link.ReceiverService/Push"
    assert transport_pb2.DESCRIPTOR.name == "interconnection/link/transport.proto"


def test_handshake_round_trip_with_any_type_urls() -> None:
    proposal = ecc_pb2.EccProtocolProposal(
        supported_versions=[1],
        ec_suits=[ecc_pb2.EcSuit(curve=ecc_pb2.CURVE_TYPE_CURVE25519, hash=ecc_pb2.HASH_TYPE_SHA_256,
                                 hash2curve_strategy=ecc_pb2.HASH_TO_CURVE_STRATEGY_DIRECT_HASH_AS_POINT_X)],
        point_octet_formats=[ecc_pb2.POINT_OCTET_FORMAT_UNCOMPRESSED], support_point_truncation=True)
    io = psi_pb2.PsiDataIoProposal(supported_versions=[1], item_num=1 << 40, result_to_rank=-1)
    ecc_any, io_any = any_pb2.Any(), any_pb2.Any()
    ecc_any.Pack(proposal)
    io_any.Pack(io)
    assert ecc_any.type_url == "type.googleapis.com/org.interconnection.v2.protocol.EccProtocolProposal"
    assert io_any.type_url == "type.googleapis.com/org.interconnection.v2.algos.PsiDataIoProposal"
    req = entry_pb2.HandshakeRequest(version=2, requester_rank=1, supported_algos=[entry_pb2.ALGO_TYPE_ECDH_PSI],
                                     protocol_families=[entry_pb2.PROTOCOL_FAMILY_ECC],
                                     protocol_family_params=[ecc_any], io_param=io_any)
    back = entry_pb2.HandshakeRequest.FromString(req.SerializeToString())
    assert back == req
    got = ecc_pb2.EccProtocolProposal()
    assert back.protocol_family_params[0].Unpack(got) and got == proposal
    got_io = psi_pb2.PsiDataIoProposal()
    assert back.io_param.Is(psi_pb2.PsiDataIoProposal.DESCRIPTOR) and back.io_param.Unpack(got_io)
    assert got_io.result_to_rank == -1 and got_io.item_num == 1 << 40

    result = ecc_pb2.EccProtocolResult(version=1, ec_suit=proposal.ec_suits[0], point_octet_format=1,
                                       bit_length_after_truncated=-1)
    res_any = any_pb2.Any()
    res_any.Pack(result)
    resp = entry_pb2.HandshakeResponse(header=header_pb2.ResponseHeader(error_code=0), algo=1,
                                       protocol_families=[1], protocol_family_params=[res_any], io_param=io_any)
    assert entry_pb2.HandshakeResponse.FromString(resp.SerializeToString()) == resp
    assert psi_pb2.PsiDataIoResult.FromString(psi_pb2.PsiDataIoResult(version=1, result_to_rank=0)
                                              .SerializeToString()).result_to_rank == 0


def test_cipher_batch_round_trip_and_wire_bytes() -> None:
    batch = ecdh_psi_pb2.EcdhPsiCipherBatch(type="enc", batch_index=3, count=2, ciphertext=b"\x01" * 64,
                                            duplicate_item_cnt_map={5: 2})
    assert ecdh_psi_pb2.EcdhPsiCipherBatch.FromString(batch.SerializeToString()) == batch
    last = ecdh_psi_pb2.EcdhPsiCipherBatch(type="dual.enc", batch_index=7, is_last_batch=True)
    # tags: 1 type (0x0a), 3 batch_index (0x18), 4 is_last_batch (0x20)
    assert last.SerializeToString() == b"\x0a\x08dual.enc\x18\x07\x20\x01"


def test_push_request_round_trip_and_blackbox_reply() -> None:
    req = transport_pb2.PushRequest(sender_rank=1, key="root:P2P-1:1->0\x01\x021", value=b"\x00\xff",
                                    trans_type=transport_pb2.CHUNKED,
                                    chunk_info=transport_pb2.ChunkInfo(message_length=10, chunk_offset=4))
    assert transport_pb2.PushRequest.FromString(req.SerializeToString()) == req
    ok = transport_pb2.PushResponse(header=header_pb2.ResponseHeader(error_code=header_pb2.OK))
    assert transport_pb2.PushResponse.FromString(ok.SerializeToString()).header.error_code == 0
    out = blackbox_pb2.TransportOutbound(payload=req.SerializeToString(), code="E0000000000", message="ok")
    assert out.SerializeToString().startswith(b"\x0a")  # payload is field 1 here, unlike the spec's outbound
    assert blackbox_pb2.TransportOutbound.FromString(out.SerializeToString()) == out
