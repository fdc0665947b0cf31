"""A party of a job as the carriers address it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Party:
    """`party_id` is BFIA's "<role>.<index>" ("guest.0"): it names topics; `node_id` routes messages."""

    party_id: str
    node_id: str = ""
    inst_id: str = ""

    @property
    def role(self) -> str:
        return self.party_id.split(".")[0]

    def __str__(self) -> str:
        return self.party_id
