"""A message's envelope read from its x-ptp-* headers, shared by the HTTP routes and the gRPC services so
both transports check and build messages the same way. `hdr` is any mapping of lower-case header names."""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from hulian.core.config import NodeConfig
from hulian.core.errors import IllegalRequest, UnsupportedUri
from hulian.transport.model import Message
from hulian.transport.routing import MAX_HOPS
from hulian.transport.service import new_msg_id
from hulian.wire import headers as H


def metadata_header(hdr: Mapping[str, str]) -> dict[str, str]:
    """The push's metadata map when it travels as the x-hulian-metadata JSON header (raw bodies)."""
    raw = H.get(hdr, H.METADATA)
    if not raw:
        return {}
    try:
        meta = json.loads(raw)
        return {str(k): str(v) for k, v in meta.items()}
    except (ValueError, AttributeError):
        raise IllegalRequest(f"{H.METADATA} header must be a JSON object of strings") from None


def int_header(hdr: Mapping[str, str], name: str, default: int) -> int:
    raw = H.get(hdr, name)
    try:
        return int(raw) if raw else default
    except ValueError:
        raise IllegalRequest(f"header {name} must be an integer, got {raw!r}") from None


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


def peer_envelope(hdr: Mapping[str, str]) -> PeerEnvelope:
    uri = H.get(hdr, H.URI)
    if uri and not H.is_push_uri(uri):
        raise UnsupportedUri(f"x-ptp-uri {uri!r} is not supported here; this node accepts pushes "
                             f"({' or '.join(H.PUSH_PATHS)})")
    session_id, target = H.get(hdr, H.SESSION_ID), H.get(hdr, H.TARGET_NODE)
    if not session_id or not target:
        raise IllegalRequest("x-ptp-session-id and x-ptp-target-node-id headers are required on invoke")
    hops = int_header(hdr, H.HOPS, 0)
    if hops >= MAX_HOPS:
        raise UnsupportedUri(f"message passed {hops} relays; the route tables form a loop")
    index, count = chunk_header(hdr)
    return PeerEnvelope(session_id, target, hops, index, count, H.get(hdr, H.MESSAGE_ID) or new_msg_id())


def pushed_message(config: NodeConfig, hdr: Mapping[str, str], msg_id: str, session_id: str, target: str,
                   topic: str, meta: dict[str, str], size: int) -> Message:
    """A container's push from this node; `topic` from the body wins over x-ptp-topic."""
    return Message(
        msg_id=msg_id, session_id=session_id, topic=topic or H.get(hdr, H.TOPIC),
        source_node=config.node_id, source_inst=config.inst_id, target_node=target,
        target_inst=H.get(hdr, H.TARGET_INST), trace_id=H.get(hdr, H.TRACE_ID),
        meta=meta, size=size, created_at=time.time())


def received_message(hdr: Mapping[str, str], env: PeerEnvelope, sender: str, topic: str, meta: dict[str, str],
                     size: int) -> Message:
    """A message (or chunk) a peer delivered; `sender` names the source when x-ptp-source-node-id is absent."""
    return Message(
        msg_id=env.msg_id, session_id=env.session_id, topic=topic, source_node=H.get(hdr, H.SOURCE_NODE) or sender,
        source_inst=H.get(hdr, H.SOURCE_INST), target_node=env.target, target_inst=H.get(hdr, H.TARGET_INST),
        trace_id=H.get(hdr, H.TRACE_ID), meta=meta, size=size, created_at=time.time(),
        chunk_index=env.chunk_index, chunk_count=env.chunk_count, total_size=int_header(hdr, H.TOTAL_SIZE, size))


def delivery_metadata(m: Message) -> dict[str, str]:
    """The metadata map of a popped or peeked message's reply."""
    return {H.SOURCE_NODE: m.source_node, H.TOPIC: m.topic, H.MESSAGE_ID: m.msg_id, **m.meta}
