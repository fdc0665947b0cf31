"""Handshake v2 for ECDH-PSI (`org.interconnection.v2.HandshakeRequest/Response`).

Rank 1 proposes exactly what it was configured with (one suite, one point format, whether it can truncate,
result_to_rank, its item count); rank 0 decides: its own configured suite and format must be in the
proposal (as SecretFlow's reference implementation requires), result_to_rank must be equal, truncation is
rank 0's length if the proposer supports truncation, else -1. A refusal is a response with a 311xxxxx code
and a message; both sides then stop. What we send is strict (io_param of the response is PsiDataIoResult);
what we accept is liberal (io_param typed as Proposal or Result, as the reference implementation sends).
"""
from __future__ import annotations

from google.protobuf import any_pb2

from hulian.algorithms.ecdh_psi.errors import (
    HANDSHAKE_REFUSED,
    INVALID_REQUEST,
    OK,
    UNSUPPORTED_ALGO,
    UNSUPPORTED_PARAMS,
    UNSUPPORTED_VERSION,
    PsiError,
)
from hulian.algorithms.ecdh_psi.params import Compat, ParamError, PsiParams
from hulian.crypto.ecc import CurveType, EcSuite, HashToCurveStrategy, HashType, PointOctetFormat
from hulian.wire.interconnection.common.header_pb2 import ResponseHeader
from hulian.wire.interconnection.handshake import entry_pb2
from hulian.wire.interconnection.handshake.algos.psi_pb2 import PsiDataIoProposal, PsiDataIoResult
from hulian.wire.interconnection.handshake.protocol_family.ecc_pb2 import (
    EccProtocolProposal,
    EccProtocolResult,
    EcSuit,
)

HANDSHAKE_VERSION = 2
ECC_VERSION = 1
PSI_IO_VERSION = 1


def _pack(msg) -> any_pb2.Any:
    a = any_pb2.Any()
    a.Pack(msg)
    return a


def _suit(suite: EcSuite) -> EcSuit:
    return EcSuit(curve=suite.curve, hash=suite.hash, hash2curve_strategy=suite.hash2curve)


def _suite(suit: EcSuit, point_format: int) -> EcSuite:
    try:
        return EcSuite(CurveType(suit.curve), HashType(suit.hash), HashToCurveStrategy(suit.hash2curve_strategy),
                       PointOctetFormat(point_format))
    except ValueError as e:
        raise PsiError(UNSUPPORTED_PARAMS, f"unknown suite value in handshake: {e}") from None


def propose(params: PsiParams, item_num: int, rank: int) -> bytes:
    """Rank 1's HandshakeRequest."""
    ecc = EccProtocolProposal(supported_versions=[ECC_VERSION], ec_suits=[_suit(params.suite)],
                              point_octet_formats=[params.suite.point_format],
                              support_point_truncation=params.compat == Compat.STANDARD)
    io = PsiDataIoProposal(supported_versions=[PSI_IO_VERSION], item_num=item_num,
                           result_to_rank=params.result_to_rank)
    req = entry_pb2.HandshakeRequest(version=HANDSHAKE_VERSION, requester_rank=rank,
                                     supported_algos=[entry_pb2.ALGO_TYPE_ECDH_PSI],
                                     protocol_families=[entry_pb2.PROTOCOL_FAMILY_ECC],
                                     protocol_family_params=[_pack(ecc)], io_param=_pack(io))
    return req.SerializeToString()


def _io_result_to_rank(io: any_pb2.Any, where: str) -> int:
    """result_to_rank from an io_param typed PsiDataIoProposal or PsiDataIoResult."""
    for cls in (PsiDataIoResult, PsiDataIoProposal):
        if io.Is(cls.DESCRIPTOR):
            msg = cls()
            io.Unpack(msg)
            return msg.result_to_rank
    raise PsiError(INVALID_REQUEST, f"{where}: io_param is {io.type_url or 'missing'}, expected "
                   "PsiDataIoProposal or PsiDataIoResult")


def decide(raw: bytes, own: PsiParams) -> tuple[bytes, PsiParams | None, PsiError | None]:
    """Rank 0: the response to send, the agreed parameters (None when refused) and the refusal."""
    req = entry_pb2.HandshakeRequest()
    try:
        req.ParseFromString(raw)
        agreed = _decide(req, own)
    except PsiError as e:
        return entry_pb2.HandshakeResponse(header=ResponseHeader(error_code=e.code, error_msg=e.message)
                                           ).SerializeToString(), None, e
    except Exception as e:  # DecodeError
        err = PsiError(INVALID_REQUEST, f"handshake request is not a HandshakeRequest ({e})")
        return entry_pb2.HandshakeResponse(header=ResponseHeader(error_code=err.code, error_msg=err.message)
                                           ).SerializeToString(), None, err
    result = EccProtocolResult(version=ECC_VERSION, ec_suit=_suit(agreed.suite),
                               point_octet_format=agreed.suite.point_format,
                               bit_length_after_truncated=agreed.bit_length_after_truncated)
    resp = entry_pb2.HandshakeResponse(
        header=ResponseHeader(error_code=OK), algo=entry_pb2.ALGO_TYPE_ECDH_PSI,
        protocol_families=[entry_pb2.PROTOCOL_FAMILY_ECC], protocol_family_params=[_pack(result)],
        io_param=_pack(PsiDataIoResult(version=PSI_IO_VERSION, result_to_rank=agreed.result_to_rank)))
    return resp.SerializeToString(), agreed, None


def _decide(req: entry_pb2.HandshakeRequest, own: PsiParams) -> PsiParams:
    if req.version != HANDSHAKE_VERSION:
        raise PsiError(UNSUPPORTED_VERSION, f"handshake version {req.version} from rank {req.requester_rank}; "
                       f"this node speaks version {HANDSHAKE_VERSION}")
    if entry_pb2.ALGO_TYPE_ECDH_PSI not in req.supported_algos:
        raise PsiError(UNSUPPORTED_ALGO, f"rank {req.requester_rank} proposes algorithms "
                       f"{list(req.supported_algos)}, not ECDH_PSI (1)")
    families = list(req.protocol_families)
    if entry_pb2.PROTOCOL_FAMILY_ECC not in families or len(req.protocol_family_params) != len(families):
        raise PsiError(INVALID_REQUEST, "handshake lacks the ECC protocol family or its parameters "
                       "(protocol_family_params must be index-aligned with protocol_families)")
    ecc = EccProtocolProposal()
    if not req.protocol_family_params[families.index(entry_pb2.PROTOCOL_FAMILY_ECC)].Unpack(ecc):
        raise PsiError(INVALID_REQUEST, "the ECC protocol family parameter is not an EccProtocolProposal")
    if ECC_VERSION not in ecc.supported_versions:
        raise PsiError(UNSUPPORTED_VERSION, f"ECC protocol versions {list(ecc.supported_versions)} proposed; "
                       f"this node supports {ECC_VERSION}")
    offered = [_suite(s, f) for s in ecc.ec_suits for f in ecc.point_octet_formats]
    if own.suite not in offered:
        names = ", ".join(f"{s.curve.name}/{s.hash.name}/{s.hash2curve.name}/{s.point_format.name}"
                          for s in offered) or "none"
        raise PsiError(HANDSHAKE_REFUSED, f"rank 0 runs {own.describe()}; the proposal offers only {names}. "
                       "Configure both parties with the same curve, hash, hash-to-curve and point format")
    if not req.HasField("io_param"):
        raise PsiError(INVALID_REQUEST, "handshake lacks io_param (PsiDataIoProposal)")
    result_to = _io_result_to_rank(req.io_param, "handshake request")
    if result_to != own.result_to_rank:
        raise PsiError(HANDSHAKE_REFUSED, f"result_to_rank differs: rank {req.requester_rank} asks {result_to}, "
                       f"rank 0 is configured with {own.result_to_rank}; both must name the same receiver")
    bits = own.bit_length_after_truncated if ecc.support_point_truncation else -1
    return own.with_(bit_length_after_truncated=bits)


def accept(raw: bytes, own: PsiParams) -> PsiParams:
    """Rank 1: the parameters rank 0 decided, or PsiError with rank 0's refusal."""
    resp = entry_pb2.HandshakeResponse()
    try:
        resp.ParseFromString(raw)
    except Exception as e:
        raise PsiError(INVALID_REQUEST, f"handshake response is not a HandshakeResponse ({e})") from None
    if resp.header.error_code != OK:
        raise PsiError(resp.header.error_code, f"rank 0 refused the handshake: {resp.header.error_msg}")
    families = list(resp.protocol_families)
    if entry_pb2.PROTOCOL_FAMILY_ECC not in families or len(resp.protocol_family_params) != len(families):
        raise PsiError(INVALID_REQUEST, "handshake response lacks the ECC protocol family result")
    ecc = EccProtocolResult()
    if not resp.protocol_family_params[families.index(entry_pb2.PROTOCOL_FAMILY_ECC)].Unpack(ecc):
        raise PsiError(INVALID_REQUEST, "the ECC protocol family result is not an EccProtocolResult")
    suite = _suite(ecc.ec_suit, ecc.point_octet_format)
    if suite != own.suite:
        raise PsiError(HANDSHAKE_REFUSED, f"rank 0 chose {suite}, which this party did not propose")
    try:
        return own.with_(bit_length_after_truncated=ecc.bit_length_after_truncated,
                         result_to_rank=_io_result_to_rank(resp.io_param, "handshake response"))
    except ParamError as e:
        raise PsiError(UNSUPPORTED_PARAMS, f"rank 0 decided parameters this party cannot use: {e}") from None
