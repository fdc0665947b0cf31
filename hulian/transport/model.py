"""What the transport moves: one message (or one chunk of one), independent of wire format and backend."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace


@dataclass
class Message:
    """A message as stored in a queue. The payload is inline (`payload`) or in blob files (`blob_paths`)."""

    msg_id: str
    session_id: str
    topic: str
    source_node: str
    target_node: str
    size: int
    payload: bytes | None = None
    blob_paths: list[str] = field(default_factory=list)
    source_inst: str = ""
    target_inst: str = ""
    trace_id: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    # chunking: a message larger than the hop's chunk size travels as chunk_count pieces
    chunk_index: int = 0
    chunk_count: int = 1
    total_size: int = 0

    def routing_row(self) -> dict:
        """The columns every message table shares."""
        return {
            "msg_id": self.msg_id, "session_id": self.session_id, "topic": self.topic,
            "source_node": self.source_node, "source_inst": self.source_inst, "target_node": self.target_node,
            "target_inst": self.target_inst, "trace_id": self.trace_id, "meta": json.dumps(self.meta),
            "size": self.size, "payload": self.payload, "created_at": self.created_at,
        }

    @classmethod
    def from_row(cls, row) -> Message:
        m = row._mapping
        paths = m.get("blob_paths")
        return cls(
            msg_id=m["msg_id"], session_id=m["session_id"], topic=m["topic"], source_node=m["source_node"],
            source_inst=m["source_inst"], target_node=m["target_node"], target_inst=m["target_inst"],
            trace_id=m["trace_id"], meta=json.loads(m["meta"] or "{}"), size=m["size"], payload=m["payload"],
            blob_paths=json.loads(paths) if paths else ([m["blob_path"]] if m.get("blob_path") else []),
            created_at=m["created_at"], chunk_index=m.get("chunk_index", 0), chunk_count=m.get("chunk_count", 1),
            total_size=m.get("total_size", m["size"]),
        )

    def with_parts(self, payload: bytes | None, blob_paths: list[str], size: int) -> Message:
        return replace(self, payload=payload, blob_paths=blob_paths, size=size)


@dataclass
class Delivery:
    """A message handed to a popping container; `receipt` acknowledges it once the reply was sent."""

    message: Message
    receipt: object


@dataclass
class Payload:
    """A received body: inline bytes, or blob files of at most one chunk each (in order)."""

    size: int
    data: bytes | None = None
    parts: list[str] = field(default_factory=list)
