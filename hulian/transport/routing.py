"""Route table: which node to call to reach a target node, directly or through relays (router mode)."""
from __future__ import annotations

from dataclasses import dataclass

from hulian.core.config import NodeConfig, Peer
from hulian.core.errors import NodeNotNetworked, ServiceUnreachable

MAX_HOPS = 8


@dataclass(frozen=True)
class Hop:
    """The node we call (`peer`) to move a message one step towards `target`."""

    target: str
    peer: Peer

    @property
    def url(self) -> str:
        assert self.peer.url
        return self.peer.url.rstrip("/")


class Router:
    def __init__(self, config: NodeConfig):
        self.config = config

    def next_hop(self, target: str) -> Hop:
        seen: list[str] = []
        node = target
        while True:
            peer = self.config.peer(node)
            if peer is None:
                raise NodeNotNetworked(
                    f"node {node!r} is not in the route table of node {self.config.node_id!r}"
                    + (f" (needed to reach {target!r} via {' -> '.join(seen)})" if seen else "")
                    + "; add it under peers: in the node configuration")
            if peer.url:
                return Hop(target=target, peer=peer)
            seen.append(node)
            if peer.via in seen or len(seen) > MAX_HOPS:
                raise ServiceUnreachable(f"route to {target!r} loops through {seen}; fix the peers' via entries")
            node = peer.via  # type: ignore[assignment]

    def chunk_bytes(self, hop: Hop) -> int:
        return hop.peer.chunk_bytes or self.config.limits.chunk_bytes
