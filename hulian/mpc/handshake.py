"""The semi2k session handshake: rank 0 proposes, rank 1 decides, both check.

Messages are the interconnection's: a HandshakeRequest with the SS protocol family (SSProtocolProposal) and
a HandshakeResponse with its SSProtocolResult (protocol SEMI2K, FIELD_64, the truncation mode, AES128_CTR,
RAW shares, fxp_fraction_bits and the TTP's TripleConfigResult: the dealer's party id as server_host, the
session id, adjust_rank 0). hulian's dealer-free mode rides along as protocol family 1001 (wire/mpc_ext.proto).
Rank 1 refuses, with the interconnection's error code and a message naming the difference, when rank 0's
preferences (the first of each list, and the extension's fxp) are not its own; both sides then raise.
"""
from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from hulian.mpc.channel import MpcError, PeerChannel
from hulian.wire import mpc_ext_pb2 as ext
from hulian.wire.interconnection.common import header_pb2 as header
from hulian.wire.interconnection.handshake import entry_pb2 as entry
from hulian.wire.interconnection.handshake.protocol_family import ss_pb2 as ss

VERSION = 2
SS_VERSION = 1
TRIPLE_SOURCE_FAMILY = 1001
SOURCES = {"dealer": ext.TRIPLE_SOURCE_DEALER, "he": ext.TRIPLE_SOURCE_HE}
TRUNC_MODES = {"precise": ss.TRUNC_MODE_PRECISE, "probabilistic": ss.TRUNC_MODE_PROBABILISTIC}


@dataclass(frozen=True)
class SessionConfig:
    """What both compute parties must agree on before the first share."""

    triples: str            # "dealer" | "he"
    fxp: int
    trunc: str              # "precise" | "probabilistic"
    session_id: str
    dealer: str = ""        # the dealer's party id (triples="dealer")
    he_scheme: str = "ou"
    he_bits: int = 2048


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _unpack(packed: any_pb2.Any, cls: type[Message], what: str) -> Message:
    out = cls()
    if not packed.Unpack(out):
        raise MpcError(f"the {what} is a {packed.TypeName()}, not a {cls.DESCRIPTOR.full_name}")
    return out


def _proposal(config: SessionConfig) -> entry.HandshakeRequest:
    trunc_order = sorted(TRUNC_MODES, key=lambda m: m != config.trunc)
    ss_proposal = ss.SSProtocolProposal(
        supported_versions=[SS_VERSION], supported_protocols=[ss.PROTOCOL_KIND_SEMI2K], field_types=[ss.FIELD_TYPE_64],
        trunc_modes=[ss.TruncationModeProposal(supported_versions=[SS_VERSION], method=TRUNC_MODES[m])
                     for m in trunc_order],
        prg_configs=[ss.PrgConfigProposal(supported_versions=[SS_VERSION], crypto_type=ss.CRYPTO_TYPE_AES128_CTR)],
        shard_serialize_formats=[ss.SHARED_SERIALIZE_FORMAT_RAW],
        triple_configs=[ss.TripleConfigProposal(supported_versions=[SS_VERSION], sever_version=1)])
    sources = sorted(SOURCES, key=lambda s: s != config.triples)
    extension = ext.TripleSourceProposal(sources=[SOURCES[s] for s in sources], fxp_fraction_bits=config.fxp,
                                         he_scheme=config.he_scheme, he_key_bits=config.he_bits,
                                         dealer=config.dealer, session_id=config.session_id)
    return entry.HandshakeRequest(
        version=VERSION, requester_rank=0, protocol_families=[entry.PROTOCOL_FAMILY_SS, TRIPLE_SOURCE_FAMILY],
        protocol_family_params=[_pack(ss_proposal), _pack(extension)])


def _result(config: SessionConfig) -> entry.HandshakeResponse:
    ss_result = ss.SSProtocolResult(
        version=SS_VERSION, protocol=ss.PROTOCOL_KIND_SEMI2K, field_type=ss.FIELD_TYPE_64,
        trunc_mode=ss.TruncationModeResult(version=SS_VERSION, method=TRUNC_MODES[config.trunc]),
        prg_config=ss.PrgConfigResult(version=SS_VERSION, crypto_type=ss.CRYPTO_TYPE_AES128_CTR),
        fxp_fraction_bits=config.fxp, shard_serialize_format=ss.SHARED_SERIALIZE_FORMAT_RAW,
        triple_config=ss.TripleConfigResult(version=SS_VERSION, server_host=config.dealer, sever_version=1,
                                            session_id=config.session_id, adjust_rank=0))
    extension = ext.TripleSourceResult(source=SOURCES[config.triples], he_scheme=config.he_scheme,
                                       he_key_bits=config.he_bits)
    return entry.HandshakeResponse(
        header=header.ResponseHeader(error_code=header.OK),
        protocol_families=[entry.PROTOCOL_FAMILY_SS, TRIPLE_SOURCE_FAMILY],
        protocol_family_params=[_pack(ss_result), _pack(extension)])


def _family(families: list[int], params: list[any_pb2.Any], family: int) -> any_pb2.Any | None:
    for f, p in zip(families, params, strict=False):   # liberal: a peer may send fewer params
        if f == family:
            return p
    return None


def _differences(request: entry.HandshakeRequest, config: SessionConfig) -> list[str]:
    """What in rank 0's proposal rank 1 (with `config`) cannot accept."""
    packed = _family(list(request.protocol_families), list(request.protocol_family_params), entry.PROTOCOL_FAMILY_SS)
    if packed is None:
        return ["no SS protocol family was proposed"]
    proposal = _unpack(packed, ss.SSProtocolProposal, "SS proposal")
    problems = []
    if ss.PROTOCOL_KIND_SEMI2K not in proposal.supported_protocols or ss.FIELD_TYPE_64 not in proposal.field_types:
        problems.append("semi2k over FIELD_64 was not proposed")
    if not proposal.trunc_modes or proposal.trunc_modes[0].method != TRUNC_MODES[config.trunc]:
        theirs = [ss.TruncMode.Name(m.method) for m in proposal.trunc_modes[:1]]
        problems.append(f"truncation: rank 0 prefers {theirs}, rank 1 uses {config.trunc}")
    if ss.CRYPTO_TYPE_AES128_CTR not in [c.crypto_type for c in proposal.prg_configs]:
        problems.append("the PRG AES128_CTR was not proposed")
    packed_ext = _family(list(request.protocol_families), list(request.protocol_family_params), TRIPLE_SOURCE_FAMILY)
    extension = (_unpack(packed_ext, ext.TripleSourceProposal, "triple-source proposal") if packed_ext else
                 ext.TripleSourceProposal(sources=[ext.TRIPLE_SOURCE_DEALER]))   # a peer without the extension
    preferred = extension.sources[0] if extension.sources else ext.TRIPLE_SOURCE_UNSPECIFIED
    if preferred != SOURCES[config.triples]:
        problems.append(f"triples: rank 0 prefers {ext.TripleSource.Name(preferred)}, rank 1 uses {config.triples}")
    if packed_ext and config.triples == "dealer" and (extension.dealer, extension.session_id) != (
            config.dealer, config.session_id):
        problems.append(f"dealer: rank 0 uses {extension.dealer!r} (session {extension.session_id!r}), rank 1 "
                        f"{config.dealer!r} (session {config.session_id!r})")
    if packed_ext and extension.fxp_fraction_bits != config.fxp:
        problems.append(f"fixed point: rank 0 uses {extension.fxp_fraction_bits} fraction bits, rank 1 {config.fxp}")
    if config.triples == "he" and (extension.he_scheme, extension.he_key_bits) != (config.he_scheme, config.he_bits):
        problems.append(f"HE: rank 0 proposes {extension.he_scheme}-{extension.he_key_bits}, "
                        f"rank 1 uses {config.he_scheme}-{config.he_bits}")
    return problems


def _check_result(response: entry.HandshakeResponse, config: SessionConfig) -> None:
    if response.header.error_code != header.OK:
        raise MpcError(f"rank 1 refused the semi2k handshake ({header.ErrorCode.Name(response.header.error_code)}): "
                       f"{response.header.error_msg}")
    packed = _family(list(response.protocol_families), list(response.protocol_family_params),
                     entry.PROTOCOL_FAMILY_SS)
    if packed is None:
        raise MpcError("rank 1's handshake response has no SS protocol result")
    result = _unpack(packed, ss.SSProtocolResult, "SS result")
    expected = _result(config)
    mine = _unpack(expected.protocol_family_params[0], ss.SSProtocolResult, "SS result")
    if result != mine:
        raise MpcError(f"rank 1's SS result differs from this party's session: {result} vs {mine}")


def negotiate(channel: PeerChannel, rank: int, config: SessionConfig) -> None:
    """Agree on `config` with the peer or raise MpcError naming what differs (at both parties)."""
    topic = channel.topic("handshake")
    if rank == 0:
        channel.send_bytes(topic, _proposal(config).SerializeToString())
        try:
            response = entry.HandshakeResponse.FromString(channel.recv_bytes(f"{topic}-reply"))
        except DecodeError as e:
            raise MpcError(f"rank 1's handshake reply is no HandshakeResponse: {e}") from e
        _check_result(response, config)
        return
    try:
        request = entry.HandshakeRequest.FromString(channel.recv_bytes(topic))
        problems = ([f"version {request.version}, not {VERSION}"] if request.version != VERSION else
                    _differences(request, config))
        code = header.UNSUPPORTED_PARAMS
    except (DecodeError, MpcError) as e:
        problems, code = [f"rank 0's handshake is malformed: {e}"], header.INVALID_REQUEST
    if problems:
        message = "; ".join(problems)
        channel.send_bytes(f"{topic}-reply", entry.HandshakeResponse(
            header=header.ResponseHeader(error_code=code, error_msg=message)).SerializeToString())
        raise MpcError(f"this party refused rank 0's semi2k handshake: {message}")
    channel.send_bytes(f"{topic}-reply", _result(config).SerializeToString())
