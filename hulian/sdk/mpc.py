"""`ctx.mpc`: secret sharing between two compute parties of a task (docs/mpc.md).

    if ctx.local == ctx.arbiter:                 # the dealer serves triples and sees no data
        ctx.mpc.deal()
        return
    with ctx.mpc.session() as mpc:              # guest and the first host; triples from the arbiter
        x = mpc.share(features if ctx.local == ctx.guest else None, owner=0)
        w = mpc.share(weights if ctx.local == ctx.hosts[0] else None, owner=1)
        score = mpc.reveal(x @ w, to=0)

`ctx.mpc.session(triples="he")` needs no third party (the triples come from HE between the two).
Rank 0 is the compute party with the smaller party id. `ctx.mpc.stats` counts every session's traffic
(including the dealer's answers at rank 0); `session.last` is the traffic of the last operation.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hulian.crypto.ss.ring import DEFAULT_FXP
from hulian.federation import Federation, Party, Scope, Traffic
from hulian.mpc import PRECISE, Semi2k
from hulian.mpc.dealer import IDLE_TIMEOUT
from hulian.mpc.session import DEALER, deal, open_session

SCOPE_NAME = "mpc"


class Task(Protocol):
    """What ctx.mpc needs of a TaskContext."""

    federation: Federation
    scope: Scope
    timeout: float
    parties: tuple[Party, ...]
    guest: Party | None
    hosts: list[Party]
    arbiter: Party | None


class MpcContext:
    """ctx.mpc over the task's federation, in the task's scope (each session in its own sub-scope)."""

    def __init__(self, ctx: Task, stats: Traffic, opened: dict[str, int]):
        self._ctx, self.stats = ctx, stats
        self._opened = opened   # sessions opened per name in this task: each gets its own scope

    def _next_scope(self, name: str) -> Scope:
        """`<name>-<n>` for the n-th session of that name: a session opened after a failed one (or a second one
        with the same dealer) never reads the other's messages. Every party opens its sessions in one order."""
        n = self._opened.get(name, 0)
        self._opened[name] = n + 1
        return self._ctx.scope.sub(f"{name}-{n}")

    def _compute_parties(self, parties: Sequence[Party] | None) -> list[Party]:
        if parties is not None:
            return list(parties)
        chosen = [p for p in (self._ctx.guest, *self._ctx.hosts[:1]) if p is not None]
        if len(chosen) != 2:
            raise ValueError("ctx.mpc needs two compute parties: by default the guest and the first host; "
                             f"this job has {[p.party_id for p in self._ctx.parties]} (pass parties=...)")
        return chosen

    def session(self, parties: Sequence[Party] | None = None, *, triples: str = DEALER, dealer: Party | None = None,
                fxp: int = DEFAULT_FXP, trunc: str = PRECISE, name: str = SCOPE_NAME, he_scheme: str = "ou",
                he_bits: int = 2048, allow_insecure_keys: bool = False) -> Semi2k:
        """This party's semi2k session with the other compute party (the dealer, by default the arbiter,
        must call `deal` with the same parties and name)."""
        if triples == DEALER and dealer is None:
            dealer = self._ctx.arbiter
            if dealer is None:
                raise ValueError("triples from a dealer need a third party: this job has no arbiter; pass "
                                 "dealer=ctx.party(...) or use triples='he'")
        return open_session(self._ctx.federation, self._next_scope(name), self._compute_parties(parties),
                            dealer_party=dealer, triples=triples, fxp=fxp, trunc=trunc, timeout=self._ctx.timeout,
                            stats=self.stats, he_scheme=he_scheme, he_bits=he_bits,
                            allow_insecure_keys=allow_insecure_keys)

    def deal(self, parties: Sequence[Party] | None = None, name: str = SCOPE_NAME,
             idle: float = IDLE_TIMEOUT) -> Traffic:
        """Serve the session's Beaver triples at this party until both compute parties close it; `idle`: how
        long to wait for the next call while they compute without triples (an hour by default)."""
        return deal(self._ctx.federation, self._next_scope(name), self._compute_parties(parties), self._ctx.timeout,
                    self.stats, idle)
