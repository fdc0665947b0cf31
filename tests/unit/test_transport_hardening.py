"""Issue 12's transport hardening, piece by piece (the attacks themselves run against real nodes in
tests/cluster/test_transport_hardening.py): file names from peer ids, header text, strict JSON fields, the
slow-body middleware."""
from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hulian.core.errors import CodecError, IllegalRequest
from hulian.core.http import BodyIdleTimeout
from hulian.transport.blobs import BlobStore
from hulian.wire import headers as H
from hulian.wire.codec import Format, decode_push, seconds, string_map


@pytest.mark.parametrize("msg_id", ["../../../PROBE", "/etc/passwd", "a/b\x00c", "..", "\ud800", "话题/../x"])
def test_blob_file_names_never_come_from_the_message_id(tmp_path: Path, msg_id: str):
    store = BlobStore(tmp_path / "blobs", fsync=False)
    path = Path(store.path_for(msg_id, 0, "in0"))
    assert path.parent.parent == tmp_path / "blobs" and ".." not in path.parts
    assert path.name.split(".")[1:3] == ["in0", "0"]


def test_header_text_is_utf8_and_non_utf8_is_refused():
    assert H.get({H.TOPIC: "话题".encode().decode("latin-1")}, H.TOPIC) == "话题"
    assert H.get({H.TOPIC: H.wire_text("话题")}, H.TOPIC) == "话题"
    with pytest.raises(IllegalRequest, match="UTF-8"):
        H.get({H.TOPIC: b"\xff\xfe".decode("latin-1")}, H.TOPIC)


@pytest.mark.parametrize("value", ["nan", "NaN", float("nan"), -1, "-0.5"])
def test_nan_and_negative_timeouts_are_refused(value):
    with pytest.raises(IllegalRequest):
        seconds(value)


def test_timeouts_absent_zero_or_infinite():
    assert seconds(None) is None and seconds("0") is None and seconds(0.0) is None
    assert seconds("1e400") == math.inf  # the caller clamps it to limits.max_pop_timeout_seconds
    assert seconds("1500", scale=1000) == 1.5


@pytest.mark.parametrize("meta", [{"a": {"b": [1, 2]}}, {"c": 1}, {"d": None}, [1], "x"])
def test_metadata_must_be_a_flat_object_of_strings(meta):
    with pytest.raises(IllegalRequest, match="flat JSON object of strings"):
        string_map(meta)


@pytest.mark.parametrize("body,error", [
    (b"{", CodecError),
    (b'{"payload": "", "c": 1e400}', IllegalRequest),
    (b'{"payload": "", "c": NaN}', IllegalRequest),
    (b'{"payload": "", "topic": "\\ud800"}', IllegalRequest),
    (b"[" * 100_000 + b"]" * 100_000, IllegalRequest),
    (b'{"payload": "", "topic": "\xff"}', IllegalRequest),
])
def test_json_push_bodies_no_later_step_can_carry_are_refused(body, error):
    with pytest.raises(error):
        decode_push(Format.JSON, body)


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


async def _call(app, pieces: list[bytes], stall: bool) -> list[dict]:
    """Drive the ASGI app as a server would: the body in `pieces`, then (with `stall`) nothing more."""
    sent: list[dict] = []
    queue: asyncio.Queue = asyncio.Queue()
    for i, p in enumerate(pieces):
        queue.put_nowait({"type": "http.request", "body": p, "more_body": stall or i < len(pieces) - 1})

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/echo", "headers": [], "query_string": b"",
             "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1), "root_path": ""}
    await asyncio.wait_for(app(scope, queue.get, send), 5)
    return sent


async def test_a_stalled_body_is_answered_and_a_steady_one_is_not():
    app = BodyIdleTimeout(Starlette(routes=[Route("/echo", _echo, methods=["POST"])]), seconds=0.2)
    stalled = await _call(app, [b"12345"], stall=True)
    assert stalled[0]["status"] == 400 and b"E0000000601" in stalled[1]["body"]
    steady = await _call(app, [b"12", b"345"], stall=False)
    assert steady[0]["status"] == 200 and steady[1]["body"] == b'{"size":5}'
