"""Where a semi2k session's correlated randomness comes from: a dealer (the interconnection BeaverService,
served by a third party of the job) or the two parties themselves (HE, no third party). Each method returns
this party's shares; across the two parties they satisfy the stated relation mod 2^64 (XOR for `and_`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeAlias

import numpy as np

# A share that may still be on its way (a dealer's adjustment in flight): resolve() it when it is needed,
# so the parties' exchange of masked values overlaps the dealer's work.
Later: TypeAlias = np.ndarray | Callable[[], np.ndarray]


def resolve(share: Later) -> np.ndarray:
    return share if isinstance(share, np.ndarray) else share()


class Triples(Protocol):
    name: str            # "dealer" or "he": what the handshake and the benchmarks call this source
    has_trunc_pr: bool   # whether trunc_pr is served (a dealer's AdjustTruncPr)

    def mul(self, size: int) -> tuple[np.ndarray, np.ndarray, Later]:
        """(a, b, c), each `size` words, with c = a * b."""

    def square(self, size: int) -> tuple[np.ndarray, Later]:
        """(a, c), each `size` words, with c = a * a."""

    def dot(self, m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray, Later]:
        """(a (m, k), b (k, n), c (m, n)) with c = a @ b."""

    def and_(self, size: int) -> tuple[np.ndarray, np.ndarray, Later]:
        """(a, b, c), each `size` words of 64 independent bits, with c = a & b (XOR-shared)."""

    def trunc_pr(self, size: int, bits: int) -> tuple[np.ndarray, Later, Later]:
        """(r, (r mod 2^63) >> bits, msb(r)), each `size` words, arithmetic shares of a random r."""

    def close(self) -> None:
        """End the source's session (the dealer forgets this party's seed)."""
