"""A message's envelope read from its x-ptp-* headers, shared by the HTTP routes and the gRPC services so
both transports check and build messages the same way. `hdr` is any mapping of lower-case header names."""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from hulian.core.config import NodeConfig
from hulian.core.errors import IllegalRequest, PtpError, Unauthorized, UnsupportedUri
from hulian.transport.model import Message
from hulian.transport.routing import MAX_HOPS, Router
from hulian.transport.service import new_msg_id
from hulian.wire import headers as H
from hulian.wire.codec import json_value, string_map

MAX_MESSAGE_ID_BYTES = 256  # x-hulian-message-id: free-form text up to this many UTF-8 bytes


def metadata_header(hdr: Mapping[str, str]) -> dict[str, str]:
    """The push's metadata map when it travels as the x-hulian-metadata JSON header (raw bodies)."""
    raw = H.get(hdr, H.METADATA)
    return string_map(json_value(raw, f"{H.METADATA} header"), f"{H.METADATA} header") if raw else {}


def int_header(hdr: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer header within [low, high] (`default` when absent)."""
    raw = H.get(hdr, name)
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise IllegalRequest(f"header {name} must be an integer, got {raw[:40]!r}") from None
    if raw and not low <= value <= high:
        raise IllegalRequest(f"header {name} {raw[:40]!r} is out of range ({low}..{high})")
    return value


def message_id(hdr: Mapping[str, str]) -> str:
    """x-hulian-message-id (free-form UTF-8 text, never used as a file name), or a fresh id."""
    msg_id = H.get(hdr, H.MESSAGE_ID)
    if len(msg_id.encode("utf-8")) > MAX_MESSAGE_ID_BYTES:
        raise IllegalRequest(f"{H.MESSAGE_ID} is longer than {MAX_MESSAGE_ID_BYTES} bytes")
    return msg_id or new_msg_id()


def chunk_header(hdr: Mapping[str, str]) -> tuple[int, int]:
    """(index, count) of x-hulian-chunk; a message sent whole is chunk 0 of 1."""
    raw = H.get(hdr, H.CHUNK)
    if not raw:
        return 0, 1
    try:
        index, count = (int(x) for x in raw.split("/"))
    except ValueError:
        raise IllegalRequest(f"{H.CHUNK} must be '<index>/<count>', got {raw!r}") from None
    if not (0 <= index < count <= 1_000_000):
        raise IllegalRequest(f"{H.CHUNK} {raw!r} is out of range")
    return index, count


@dataclass(frozen=True)
class PeerEnvelope:
    """What a peer's delivery says about itself, checked before its body is read."""

    session_id: str
    target: str
    hops: int
    chunk_index: int
    chunk_count: int
    msg_id: str
    total_size: int | None  # of the whole message when it travels in chunks (None: this body's size)


def peer_envelope(hdr: Mapping[str, str], max_body_bytes: int) -> PeerEnvelope:
    uri = H.get(hdr, H.URI)
    if uri and not H.is_push_uri(uri):
        raise UnsupportedUri(f"x-ptp-uri {uri!r} is not supported here; this node accepts pushes "
                             f"({' or '.join(H.PUSH_PATHS)})")
    session_id, target = H.get(hdr, H.SESSION_ID), H.get(hdr, H.TARGET_NODE)
    if not session_id or not target:
        raise IllegalRequest("x-ptp-session-id and x-ptp-target-node-id headers are required on invoke")
    hops = int_header(hdr, H.HOPS, 0, 0, MAX_HOPS)
    if hops >= MAX_HOPS:
        raise UnsupportedUri(f"message passed {hops} relays; the route tables form a loop")
    index, count = chunk_header(hdr)
    total = int_header(hdr, H.TOTAL_SIZE, -1, 0, max_body_bytes)
    return PeerEnvelope(session_id, target, hops, index, count, message_id(hdr), None if total < 0 else total)


def vouched_source(router: Router, caller: str, hdr: Mapping[str, str]) -> str:
    """The source node of a delivery: the authenticated caller, or a node the caller relays for, which is a
    node this node's route table reaches through the caller (`via`). A declared source is never taken alone."""
    declared = H.get(hdr, H.SOURCE_NODE)
    if not declared or declared == caller:
        return caller
    try:
        relay = router.next_hop(declared).peer.node_id
    except PtpError:  # not in our route table, or its route loops: no one vouches for it
        relay = None
    if relay != caller:
        raise Unauthorized(f"node {caller!r} may not send as {declared!r}: {H.SOURCE_NODE} must be the calling "
                           "node, or a node this node's route table reaches through it (peers: via)")
    return declared


def pushed_message(config: NodeConfig, hdr: Mapping[str, str], msg_id: str, session_id: str, target: str,
                   topic: str, meta: dict[str, str], size: int) -> Message:
    """A container's push from this node; `topic` from the body wins over x-ptp-topic."""
    return Message(
        msg_id=msg_id, session_id=session_id, topic=topic or H.get(hdr, H.TOPIC),
        source_node=config.node_id, source_inst=config.inst_id, target_node=target,
        target_inst=H.get(hdr, H.TARGET_INST), trace_id=H.get(hdr, H.TRACE_ID),
        meta=meta, size=size, created_at=time.time())


def received_message(hdr: Mapping[str, str], env: PeerEnvelope, source: str, topic: str, meta: dict[str, str],
                     size: int) -> Message:
    """A message (or chunk) a peer delivered; `source` is what `vouched_source` allowed."""
    return Message(
        msg_id=env.msg_id, session_id=env.session_id, topic=topic, source_node=source,
        source_inst=H.get(hdr, H.SOURCE_INST), target_node=env.target, target_inst=H.get(hdr, H.TARGET_INST),
        trace_id=H.get(hdr, H.TRACE_ID), meta=meta, size=size, created_at=time.time(),
        chunk_index=env.chunk_index, chunk_count=env.chunk_count,
        total_size=size if env.total_size is None else env.total_size)


def delivery_metadata(m: Message) -> dict[str, str]:
    """The metadata map of a popped or peeked message's reply."""
    return {H.SOURCE_NODE: m.source_node, H.TOPIC: m.topic, H.MESSAGE_ID: m.msg_id, **m.meta}
