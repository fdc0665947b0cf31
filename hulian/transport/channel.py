"""Channel: topic messages between a job's parties through the local node (the PTP carrier under `hulian.federation`).

A component reaches it through the SDK (`hulian.federation.PtpFederation`, built from the BFIA component
environment by `hulian.sdk.env`), which also scopes the topics by task (`hulian.federation.topics`): a
channel given a `topic` function sends on `topic(name)` and is task-scoped; without one, names go verbatim.
Peers are named by "role.index" or by node id. An address without scheme is reached over https:// when a CA
bundle is given, else over http://.

Payloads travel as raw application/octet-stream bodies (no base64). Objects are msgpack, which every
language reads and which cannot run code when decoded (unlike pickle).

Streams (`send_stream` / `recv_stream`) carry a payload too large for one message, or produced piecewise,
as consecutive messages on one topic; the transport keeps a topic's order. Every piece carries the
x-hulian-metadata {"stream_seq": "<n>"} (n = 0, 1, ...); after the last piece an empty message
{"stream_seq": "<count>", "stream_end": "1"} ends the stream, so empty streams and empty pieces are exact.
"""
from __future__ import annotations

import http.client
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Self, cast

import msgpack

from hulian.core.errors import OK, IllegalRequest, Incompatible, NetworkError
from hulian.transport.http11 import KeepAliveClient, Reply
from hulian.wire import headers as H
from hulian.wire.codec import decode_reply

PREFIX = "/v1/interconn/chan"
OCTET = "application/octet-stream"
POP_READ_MARGIN = 30.0  # the HTTP read timeout of a pop exceeds its wait by this much

STREAM_SEQ = "stream_seq"
STREAM_END = "stream_end"


class ChannelError(Exception):
    """The node refused a call; `code` is the transport spec's E-code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ChannelTimeout(TimeoutError):
    """Nothing arrived before the timeout."""


class Channel:
    """Send to and receive from peers of one session through the local node (one keep-alive connection)."""

    def __init__(self, transport_url: str, session_id: str, token: str, self_node_id: str,
                 parties: Mapping[str, str], topic: Callable[[str], str] | None = None,
                 ca_file: str | None = None, timeout: float = 60.0, inst_ids: Mapping[str, str] | None = None):
        """`parties` maps "role.index" to node id, `inst_ids` "role.index" to institution id; `topic` gives
        a name's wire topic (task scoping); `timeout` bounds push and release calls (pops have their own)."""
        self.session_id = session_id
        self.self_node_id = self_node_id
        self.parties = dict(parties)
        self._topic = topic
        self._insts = {self.parties[k]: v for k, v in (inst_ids or {}).items() if k in self.parties}
        self._used_topics: set[str] = set()
        scheme = "https" if ca_file else "http"
        url = transport_url if "://" in transport_url else f"{scheme}://{transport_url}"
        self._http = KeepAliveClient(url, ca_file)
        self._timeout = timeout
        self._auth = {H.SESSION_ID: session_id, H.TOKEN: token}
        self._buffer = bytearray()  # recv_view's

    # ---- bytes ------------------------------------------------------------------------------------------
    def send(self, peer: str, topic: str, data: bytes | bytearray | memoryview) -> None:
        """Push `data` to `peer`; returns once the local node holds it durably."""
        self._push(self._node_of(peer), self._wire_topic(topic), data, {})

    def recv(self, peer: str, topic: str, timeout: float) -> bytes:
        """The next message `peer` sent on `topic` (read into one buffer, not copied again); raises
        ChannelTimeout after `timeout` seconds."""
        return cast(bytes, self._pop(self._node_of(peer), self._wire_topic(topic), timeout)[0])

    def recv_view(self, peer: str, topic: str, timeout: float) -> memoryview:
        """Like `recv`, but read into this channel's receive buffer, which the next `recv_view` reuses: no
        allocation per message. A fresh buffer costs a page fault per 4 KiB (about 35 ms of CPU for 64 MiB
        here, as much as decrypting it), so this is the way to receive many large messages. The view is valid
        until the next `recv_view` or `close`; copy what must outlive that."""
        return self._pop(self._node_of(peer), self._wire_topic(topic), timeout, self._receive_buffer)[0]

    # ---- objects ----------------------------------------------------------------------------------------
    def send_obj(self, peer: str, topic: str, obj: object) -> None:
        """Send plain data (dict, list, str, int, float, bytes, bool, None) as msgpack."""
        self.send(peer, topic, msgpack.packb(obj, use_bin_type=True))

    def recv_obj(self, peer: str, topic: str, timeout: float) -> object:
        """Receive what send_obj sent (tuples come back as lists)."""
        return msgpack.unpackb(self.recv(peer, topic, timeout), raw=False, strict_map_key=False)

    # ---- streams ----------------------------------------------------------------------------------------
    def send_stream(self, peer: str, topic: str, pieces: Iterable[bytes | bytearray | memoryview]) -> int:
        """Send `pieces` as one stream (framing in the module doc); returns the number of pieces."""
        node, wire = self._node_of(peer), self._wire_topic(topic)
        count = 0
        for piece in pieces:
            self._push(node, wire, piece, {STREAM_SEQ: str(count)})
            count += 1
        self._push(node, wire, b"", {STREAM_SEQ: str(count), STREAM_END: "1"})
        return count

    def recv_stream(self, peer: str, topic: str, timeout: float) -> Iterator[bytes]:
        """Yield the pieces of one stream in order; waits at most `timeout` seconds for each piece."""
        node, wire = self._node_of(peer), self._wire_topic(topic)
        expected = 0
        while True:
            data, meta = self._pop(node, wire, timeout)
            if meta.get(STREAM_SEQ) != str(expected):
                raise ChannelError(IllegalRequest.code, f"topic {wire!r} from {node!r}: expected stream "
                                   f"piece {expected}, got metadata {meta}; did something other than one "
                                   "send_stream send here?")
            if meta.get(STREAM_END) == "1":
                return
            yield cast(bytes, data)
            expected += 1

    # ---- release ----------------------------------------------------------------------------------------
    def release(self, topic: str | None = None) -> None:
        """Drop this node's unread messages of `topic`. Without a topic: a task-scoped channel drops every
        topic it used (the session stays open for the other tasks); an unscoped one releases the session."""
        if topic is not None:
            topics: list[str | None] = [self._wire_topic(topic)]
        elif self._topic is not None:
            topics = sorted(self._used_topics)
        else:
            topics = [None]
        for wire in topics:
            headers = {**self._auth, "content-type": OCTET, **({H.TOPIC: H.wire_text(wire)} if wire else {})}
            self._check(self._post("release", headers, b"", self._timeout))

    def close(self) -> None:
        self._http.close()
        self._buffer = bytearray()

    def _receive_buffer(self, size: int) -> memoryview:
        """The first `size` bytes of the receive buffer, replaced by a larger one when too small (views of the
        old one stay valid)."""
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        return memoryview(self._buffer)[:size]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals --------------------------------------------------------------------------------------
    def _node_of(self, peer: str) -> str:
        """A node id from a node id or "role.index"."""
        if peer in self.parties:
            return self.parties[peer]
        if self.parties and peer not in self.parties.values():
            raise ValueError(f"unknown peer {peer!r}: name a party {sorted(self.parties)} "
                             "or one of their node ids")
        return peer

    def _wire_topic(self, topic: str) -> str:
        """Topics are scoped by task, so tasks sharing a session never read or release each other's data."""
        wire = self._topic(topic) if self._topic is not None else topic
        self._used_topics.add(wire)
        return wire

    def _push(self, node: str, wire: str, data: bytes | bytearray | memoryview, meta: dict[str, str]) -> None:
        headers = {**self._auth, "content-type": OCTET, H.TARGET_NODE: node, H.TOPIC: H.wire_text(wire)}
        if node in self._insts:
            headers[H.TARGET_INST] = self._insts[node]
        if meta:
            headers[H.METADATA] = json.dumps(meta, separators=(",", ":"))
        self._check(self._post("push", headers, memoryview(data).cast("B"), self._timeout))

    def _pop(self, node: str, wire: str, timeout: float,
             into: Callable[[int], memoryview] | None = None) -> tuple[bytes | memoryview, dict[str, str]]:
        """(payload, metadata) of the next message from `node` on `wire`, read into `into(size)` when given;
        ChannelTimeout when none came."""
        wait_ms = max(1, math.ceil(timeout * 1000))  # the node reads 0 as "use the default wait"
        headers = {**self._auth, "content-type": OCTET, "accept": OCTET, H.TOPIC: H.wire_text(wire),
                   H.SOURCE_NODE: node, H.TIMEOUT_MS: str(wait_ms)}
        reply = self._post("pop", headers, b"", wait_ms / 1000 + POP_READ_MARGIN, into)
        if reply.status != 200 or OCTET not in reply.content_type:
            self._check(reply)
            raise ChannelError(Incompatible.code, f"node answered a raw pop with {reply.content_type!r}, "
                               f"not {OCTET}")
        if reply.headers.get(H.CODE, OK) != OK:
            raise ChannelError(reply.headers[H.CODE], reply.headers.get(H.MESSAGE, ""))
        if not reply.headers.get(H.MESSAGE_ID):
            raise ChannelTimeout(f"nothing from {node!r} on topic {wire!r} (session {self.session_id!r}) "
                                 f"within {timeout:g} s")
        return reply.body, json.loads(reply.headers.get(H.METADATA) or "{}")

    @staticmethod
    def _check(reply: Reply) -> None:
        code, message = decode_reply(reply.status, reply.content_type, reply.body)
        if code != OK:
            raise ChannelError(code, message)

    def _post(self, route: str, headers: dict[str, str], body: bytes | memoryview, timeout: float,
              into: Callable[[int], memoryview] | None = None) -> Reply:
        """One exchange with the node; a failure to reach it becomes a ChannelError naming the node."""
        try:
            return self._http.post(f"{PREFIX}/{route}", headers, body, timeout, into)
        except (OSError, http.client.HTTPException) as e:
            raise ChannelError(NetworkError.code, f"local node {self._http.base_url} unreachable: "
                               f"{type(e).__name__}: {e}") from e
