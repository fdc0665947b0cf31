"""Bodies of the transport's HTTP calls in the formats the spec requires (§5.1): JSON and protobuf, plus the
raw body Kuscia and SecretFlow's black-box link send. JSON carries bytes as base64 (proto3 JSON mapping)."""
from __future__ import annotations

import base64
import binascii
import json
import math
from enum import Enum

from google.protobuf.message import DecodeError

from hulian.core import jsonio
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


def json_value(raw: bytes | str, what: str = "body"):
    """A peer's JSON (jsonio's strict reader): CodecError when it is not JSON at all, IllegalRequest when it is
    JSON holding what no later step can carry (non-finite numbers, lone surrogates, nesting, non-UTF-8)."""
    try:
        return jsonio.loads(raw)
    except json.JSONDecodeError as e:
        raise CodecError(f"{what} is not valid JSON ({e}); send a JSON object or use Content-Type "
                         "application/x-protobuf or application/octet-stream") from None
    except ValueError as e:
        raise IllegalRequest(f"{what} refused: {e}") from None


def _json_object(body: bytes) -> dict:
    if not body.strip():
        return {}
    obj = json_value(body)
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
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise IllegalRequest(f"field {name!r} must be a string")
    return str(value)


def string_map(value, what: str = "field 'metadata'") -> dict[str, str]:
    """A metadata map as the spec's map<string, string>: a flat object of strings, carried unchanged; anything
    else (nested objects, numbers, lists) is refused rather than turned into some other text."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise IllegalRequest(f"{what} must be a flat JSON object of strings, such as {{\"k\": \"v\"}}")
    return value


def seconds(value, what: str = "timeout", scale: float = 1.0) -> float | None:
    """A timeout in seconds (`value` / `scale`); None for absent or 0 (the default applies). Infinite or huge
    values are the caller's to clamp; NaN and negative ones are refused."""
    if value in (None, "", 0, "0"):
        return None
    try:
        t = float(value) / scale
    except (TypeError, ValueError):
        raise IllegalRequest(f"{what} {value!r} is not a number") from None
    if math.isnan(t) or t < 0:
        raise IllegalRequest(f"{what} {value!r} must be a number of seconds, not negative or NaN")
    return t or None


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
    return _str_field(obj, "topic"), payload, string_map(obj.get("metadata"))


def decode_inbound(fmt: Format, body: bytes) -> tuple[str, bytes, dict[str, str]]:
    """An encapsulated east-west body: Inbound{metadata, payload=PushInbound}; a bare payload is accepted too."""
    if fmt == Format.PROTO:
        inbound = _proto(ptp_pb2.Inbound, body)
        meta, inner = dict(inbound.metadata), inbound.payload
    else:
        obj = _json_object(body)
        meta, inner = string_map(obj.get("metadata")), _bytes_field(obj, "payload") or b""
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
        return m.topic, seconds(getattr(m, "timeout", None))
    if fmt == Format.RAW:
        return "", None
    obj = _json_object(body)
    return _str_field(obj, "topic"), seconds(obj.get("timeout"))


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
            obj = jsonio.loads(body)
            code = str(obj.get("code", ""))
            message = str(obj.get("message") or obj.get("msg") or "")
    except (ValueError, AttributeError, DecodeError):
        message = bytes(body[:200]).decode("utf-8", "replace")
    if code in ("0", "200") or (not code and status == 200):
        code = "E0000000000"
    return code or f"HTTP{status}", message
