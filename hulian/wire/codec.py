"""Bodies of the transport's HTTP calls in the formats the spec requires (§5.1): JSON and protobuf, plus the
raw body Kuscia and SecretFlow's black-box link send. JSON carries bytes as base64 (proto3 JSON mapping)."""
from __future__ import annotations

import base64
import binascii
import json
from enum import Enum

from google.protobuf.message import DecodeError

from hulian.core.errors import CodecError, IllegalRequest
from hulian.wire import ptp_pb2
from hulian.wire.interconnection.link import blackbox_pb2


class Format(str, Enum):
    JSON = "json"
    PROTO = "protobuf"
    RAW = "raw"


def format_of(content_type: str | None) -> Format:
    ct = (content_type or "").lower()
    if "json" in ct:
        return Format.JSON
    if "protobuf" in ct or "proto" in ct:
        return Format.PROTO
    return Format.RAW


def _json_object(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise CodecError(f"body is not valid JSON ({e}); send a JSON object or use Content-Type "
                         "application/x-protobuf or application/octet-stream") from None
    if not isinstance(obj, dict):
        raise CodecError("JSON body must be an object such as {\"topic\": ..., \"payload\": \"<base64>\"}")
    return obj


def _bytes_field(obj: dict, *names: str) -> bytes | None:
    for name in names:
        value = obj.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            padded = value + "=" * (-len(value) % 4)
            altchars = b"-_" if ("-" in value or "_" in value) else None  # proto3 JSON accepts URL-safe too
            try:
                return base64.b64decode(padded, altchars=altchars, validate=True)
            except (binascii.Error, ValueError):
                raise CodecError(f"JSON field {name!r} must be base64-encoded bytes") from None
        if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
            return bytes(value)
        raise CodecError(f"JSON field {name!r} must be base64-encoded bytes")
    return None


def _str_field(obj: dict, name: str) -> str:
    value = obj.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, (str, int)):
        raise IllegalRequest(f"field {name!r} must be a string")
    return str(value)


def _metadata(value) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise IllegalRequest("field 'metadata' must be an object of strings")
    return {str(k): str(v) for k, v in value.items()}


def _timeout(value) -> float | None:
    if value in (None, "", 0, "0"):
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise IllegalRequest(f"timeout {value!r} is not a number of seconds") from None
    if t < 0:
        raise IllegalRequest(f"timeout {value!r} must not be negative")
    return t


def _proto(cls, body: bytes):
    try:
        return cls.FromString(body)
    except DecodeError as e:
        raise CodecError(f"body is not a valid {cls.__name__} protobuf ({e})") from None


def decode_push(fmt: Format, body: bytes) -> tuple[str, bytes, dict[str, str]]:
    """(topic, payload, metadata) of a PushInbound in JSON or protobuf."""
    if fmt == Format.PROTO:
        m = _proto(ptp_pb2.PushInbound, body)
        return m.topic, m.payload, dict(m.metadata)
    obj = _json_object(body)
    payload = _bytes_field(obj, "payload", "content")
    if payload is None:
        raise IllegalRequest("push body needs 'payload' (base64 bytes)")
    return _str_field(obj, "topic"), payload, _metadata(obj.get("metadata"))


def decode_inbound(fmt: Format, body: bytes) -> tuple[str, bytes, dict[str, str]]:
    """An encapsulated east-west body: Inbound{metadata, payload=PushInbound}; a bare payload is accepted too."""
    if fmt == Format.PROTO:
        inbound = _proto(ptp_pb2.Inbound, body)
        meta, inner = dict(inbound.metadata), inbound.payload
    else:
        obj = _json_object(body)
        meta, inner = _metadata(obj.get("metadata")), _bytes_field(obj, "payload") or b""
    try:
        push = ptp_pb2.PushInbound.FromString(inner)
        if push.payload or push.topic:
            return push.topic or meta.get("x-ptp-topic", ""), push.payload, dict(push.metadata)
    except DecodeError:
        pass
    return meta.get("x-ptp-topic", ""), inner, {}


def decode_topic_timeout(fmt: Format, body: bytes, cls) -> tuple[str, float | None]:
    """(topic, timeout seconds) of a Pop/Peek/ReleaseInbound."""
    if fmt == Format.PROTO:
        m = _proto(cls, body)
        return m.topic, _timeout(getattr(m, "timeout", None))
    if fmt == Format.RAW:
        return "", None
    obj = _json_object(body)
    return _str_field(obj, "topic"), _timeout(obj.get("timeout"))


def encode_reply(fmt: Format, code: str, message: str, payload: bytes | None = None,
                 metadata: dict[str, str] | None = None, blackbox: bool = False) -> tuple[bytes, str]:
    """(body, content type) of a TransportOutbound in the caller's format (protobuf for raw callers, as Kuscia).
    `blackbox`: yacl's black-box link and Kuscia number it {payload=1, code=2, message=3}, not as the spec."""
    if fmt == Format.JSON:
        obj: dict = {"code": code, "message": message}
        if payload is not None:
            obj["content"] = base64.b64encode(payload).decode()
        if metadata:
            obj["metadata"] = metadata
        return json.dumps(obj).encode(), "application/json"
    if blackbox:
        bb = blackbox_pb2.TransportOutbound(payload=payload or b"", code=code, message=message)
        return bb.SerializeToString(), "application/x-protobuf"
    out = ptp_pb2.TransportOutbound(code=code, message=message, payload=payload or b"", metadata=metadata or {})
    return out.SerializeToString(), "application/x-protobuf"


def decode_reply(status: int, content_type: str, body: bytes | bytearray) -> tuple[str, str]:
    """(code, message) of a transport reply: JSON or protobuf, spec codes or plain success numbers
    (0, 200), judged by the HTTP status when the body says nothing."""
    code, message = "", ""
    try:
        if "protobuf" in content_type:
            out = ptp_pb2.TransportOutbound.FromString(bytes(body))
            code, message = out.code, out.message
        else:
            obj = json.loads(body)
            code = str(obj.get("code", ""))
            message = str(obj.get("message") or obj.get("msg") or "")
    except (ValueError, AttributeError, DecodeError):
        message = bytes(body[:200]).decode("utf-8", "replace")
    if code in ("0", "200") or (not code and status == 200):
        code = "E0000000000"
    return code or f"HTTP{status}", message
