"""What crossed the federation for one protocol (HE arrays, MPC rounds): counted, so algorithms and
benchmarks report communication."""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Traffic:
    """A round is one send (or recv) call of a protocol step; messages and payload bytes as carried."""

    rounds_sent: int = 0
    rounds_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    def add(self, other: Traffic) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def __sub__(self, other: Traffic) -> Traffic:
        return Traffic(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def copy(self) -> Traffic:
        return Traffic(*(getattr(self, f.name) for f in fields(self)))
