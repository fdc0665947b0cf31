"""Opening a semi2k session among a job's parties: who is rank 0 and 1, where triples come from, and the
dealer's side of it. The same code runs on every carrier (in memory, PTP between nodes, a white-box link).
"""
from __future__ import annotations

from collections.abc import Sequence

from hulian.crypto.ss import ring
from hulian.federation import Federation, Party, Scope, Traffic
from hulian.mpc import dealer
from hulian.mpc.channel import PeerChannel
from hulian.mpc.handshake import SessionConfig, negotiate
from hulian.mpc.hetriples import HeTriples
from hulian.mpc.semi2k import PRECISE, Semi2k
from hulian.mpc.triples import Triples

DEALER, HE = "dealer", "he"
DEFAULT_TIMEOUT = 120.0


def ranked(parties: Sequence[Party]) -> list[Party]:
    """The two compute parties in rank order (by party id, as yacl ranks a link)."""
    ordered = sorted(parties, key=lambda p: p.party_id)
    if len(ordered) != 2 or ordered[0].party_id == ordered[1].party_id:
        raise ValueError(f"semi2k runs between exactly two parties, not {[str(p) for p in parties]}")
    return ordered


def session_id(scope: Scope) -> str:
    """The BeaverService session id: the task and the scope path, the same at every party of the session."""
    return ":".join((scope.task_id or "task", *scope.path, "semi2k"))


def open_session(federation: Federation, scope: Scope, parties: Sequence[Party], *, dealer_party: Party | None = None,
                 triples: str = DEALER, fxp: int = ring.DEFAULT_FXP, trunc: str = PRECISE,
                 timeout: float = DEFAULT_TIMEOUT, stats: Traffic | None = None, he_scheme: str = "ou",
                 he_bits: int = 2048, allow_insecure_keys: bool = False) -> Semi2k:
    """This party's session with the other compute party. `triples` is "dealer" (then `dealer_party`, a third
    party of the job, must run `deal`) or "he" (no third party)."""
    order = ranked(parties)
    if federation.local not in order:
        raise ValueError(f"{federation.local} is not one of the session's parties {[str(p) for p in order]}; "
                         "a dealer runs deal()")
    rank = order.index(federation.local)
    stats = stats if stats is not None else Traffic()
    if triples == DEALER and (dealer_party is None or dealer_party in order):
        raise ValueError("triples from a dealer need a third party of the job as dealer_party")
    if triples not in (DEALER, HE):
        raise ValueError(f"triples must be {DEALER!r} or {HE!r}, not {triples!r}")
    channel = PeerChannel(federation, scope, order[1 - rank], timeout, stats)
    negotiate(channel, rank, SessionConfig(triples, fxp, trunc, session_id(scope),
                                           dealer_party.party_id if dealer_party else "", he_scheme, he_bits))
    source: Triples
    if triples == DEALER:
        source = dealer.DealerTriples(federation, scope, dealer_party, rank, len(order), session_id(scope),
                                      timeout, stats)
    else:
        source = HeTriples(channel, rank, he_scheme, he_bits, allow_insecure_keys=allow_insecure_keys)
    return Semi2k(channel, rank, source, fxp, trunc)


def deal(federation: Federation, scope: Scope, parties: Sequence[Party], timeout: float = DEFAULT_TIMEOUT,
         stats: Traffic | None = None, idle: float = dealer.IDLE_TIMEOUT) -> Traffic:
    """Serve the session's BeaverService at this (third) party until both compute parties close it (`idle`:
    how long it waits for a call while the parties compute without triples)."""
    return dealer.serve(federation, scope, ranked(parties), session_id(scope), timeout, stats, idle)
