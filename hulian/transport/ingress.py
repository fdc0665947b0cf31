"""What both transports (the HTTP routes and the gRPC services) do with a call once it is parsed: take a
container's push, hand a peer's delivery to the service, and bound how long a pop waits. One place, so the
two transports cannot drift apart in what they accept."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from hulian.core.config import Limits
from hulian.core.errors import IllegalRequest
from hulian.transport.envelope import PeerEnvelope, pushed_message, received_message
from hulian.transport.model import Payload
from hulian.transport.service import TransportService, new_msg_id
from hulian.transport.spool import spool_bytes
from hulian.wire import headers as H

Body = Callable[[], Awaitable[tuple[str, bytes, dict[str, str]]]]
"""Reads (topic, data, metadata) of a push; called once its target is known to be routable."""


def push_target(hdr: Mapping[str, str], carrier: str) -> str:
    """The node a push is for (x-ptp-target-node-id, carried as a `carrier`: header or metadata)."""
    target = H.get(hdr, H.TARGET_NODE)
    if not target:
        raise IllegalRequest(f"{H.TARGET_NODE} {carrier} is missing: name the node the message is for")
    return target


async def accept_push(service: TransportService, hdr: Mapping[str, str], session_id: str, target: str,
                      body: Body) -> None:
    """A container's push of a body held in memory: spooled in the next hop's chunks, then pushed. An unknown
    target is refused before the body is read."""
    msg_id = new_msg_id()
    spooler = service.push_spooler(msg_id, target)
    topic, data, meta = await body()
    payload = await spool_bytes(data, spooler)
    await service.push(pushed_message(service.config, hdr, msg_id, session_id, target, topic, meta, payload.size),
                       payload)


async def accept_delivery(service: TransportService, hdr: Mapping[str, str], env: PeerEnvelope, source: str,
                          topic: str, meta: dict[str, str], payload: Payload) -> None:
    """A peer's message (or chunk), its signature checked: delivered here or relayed on."""
    await service.receive(received_message(hdr, env, source, topic, meta, payload.size), payload, env.hops)


def pop_timeout(limits: Limits, seconds: float | None) -> float:
    """How long a pop waits: `seconds`, else the default; at most limits.max_pop_timeout_seconds (an infinite
    wait included)."""
    return min(seconds or limits.pop_timeout_seconds, limits.max_pop_timeout_seconds)
