"""The semi2k handshake: agreement, the interconnection messages on the wire, and refusals that name the
difference at both parties."""
from __future__ import annotations

import threading

import pytest

from hulian.federation import MemoryFederation, MemoryHub, Traffic
from hulian.mpc import MpcError
from hulian.mpc.channel import PeerChannel
from hulian.mpc.handshake import TRIPLE_SOURCE_FAMILY, SessionConfig, _proposal, negotiate
from hulian.wire import mpc_ext_pb2 as ext
from hulian.wire.interconnection.handshake import entry_pb2 as entry
from hulian.wire.interconnection.handshake.protocol_family import ss_pb2 as ss
from tests.unit.mpc.conftest import GUEST, HOST, SCOPE

BASE = SessionConfig("dealer", 18, "precise", "task:semi2k", dealer="arbiter.0")


def _both(c0: SessionConfig, c1: SessionConfig) -> list[BaseException | None]:
    hub = MemoryHub()
    outcome: list[BaseException | None] = [None, None]

    def run(rank: int, config: SessionConfig) -> None:
        me, peer = (GUEST, HOST) if rank == 0 else (HOST, GUEST)
        channel = PeerChannel(MemoryFederation(hub, me, [GUEST, HOST]), SCOPE, peer, 5, Traffic())
        try:
            negotiate(channel, rank, config)
        except BaseException as e:   # any failure is an outcome: a crash or a timeout must not read as agreement
            outcome[rank] = e
    threads = [threading.Thread(target=run, args=(r, c)) for r, c in ((0, c0), (1, c1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "a party is still negotiating after 10 s"
    return outcome


def test_agreement() -> None:
    assert _both(BASE, BASE) == [None, None]


def test_the_proposal_is_the_interconnection_message_with_the_extension_family() -> None:
    request = entry.HandshakeRequest.FromString(_proposal(BASE).SerializeToString())
    assert list(request.protocol_families) == [entry.PROTOCOL_FAMILY_SS, TRIPLE_SOURCE_FAMILY]
    proposal = ss.SSProtocolProposal()
    assert request.protocol_family_params[0].Unpack(proposal)
    assert list(proposal.supported_protocols) == [ss.PROTOCOL_KIND_SEMI2K]
    assert [m.method for m in proposal.trunc_modes] == [ss.TRUNC_MODE_PRECISE, ss.TRUNC_MODE_PROBABILISTIC]
    extension = ext.TripleSourceProposal()
    assert request.protocol_family_params[1].Unpack(extension)
    assert list(extension.sources) == [ext.TRIPLE_SOURCE_DEALER, ext.TRIPLE_SOURCE_HE]


@pytest.mark.parametrize(("change", "words"), [
    ({"fxp": 20}, "fixed point: rank 0 uses 18 fraction bits, rank 1 20"),
    ({"triples": "he"}, "triples: rank 0 prefers TRIPLE_SOURCE_DEALER, rank 1 uses he"),
    ({"trunc": "probabilistic"}, "truncation"),
])
def test_a_difference_is_refused_at_both_parties_naming_it(change: dict, words: str) -> None:
    rank0, rank1 = _both(BASE, SessionConfig(**{**BASE.__dict__, **change}))
    assert isinstance(rank0, MpcError) and isinstance(rank1, MpcError)
    assert words in str(rank0) and "UNSUPPORTED_PARAMS" in str(rank0) and words in str(rank1)


@pytest.mark.parametrize("change", [{"dealer": "arbiter.1"}, {"session_id": "task:other"}])
def test_a_different_dealer_or_session_is_refused_at_both_parties(change: dict) -> None:
    rank0, rank1 = _both(BASE, SessionConfig(**{**BASE.__dict__, **change}))
    assert isinstance(rank0, MpcError) and isinstance(rank1, MpcError)
    assert "dealer: rank 0 uses 'arbiter.0'" in str(rank0) and "dealer:" in str(rank1)
