"""PTP header names (transport spec §2.1 and §3.1) and a liberal reader for what real peers send."""
from __future__ import annotations

from collections.abc import Mapping

from hulian.core.errors import IllegalRequest

VERSION = "x-ptp-version"
TECH_PROVIDER = "x-ptp-tech-provider-code"
TRACE_ID = "x-ptp-trace-id"
TOKEN = "x-ptp-token"
URI = "x-ptp-uri"
SESSION_ID = "x-ptp-session-id"
SOURCE_NODE = "x-ptp-source-node-id"
TARGET_NODE = "x-ptp-target-node-id"
SOURCE_INST = "x-ptp-source-inst-id"
TARGET_INST = "x-ptp-target-inst-id"
TOPIC = "x-ptp-topic"  # the reference mesh, Kuscia and SecretFlow's black-box link
TIMEOUT_MS = "x-ptp-timeout"  # milliseconds (reference mesh)
CODE = "x-ptp-code"  # on raw (octet-stream) pop replies
MESSAGE = "x-ptp-message"

# Request signing between nodes (the control spec's x-auth-sign family).
AUTH_SIGN = "x-auth-sign"
TIMESTAMP = "x-timestamp"
NONCE = "x-nonce"
CONTENT_SHA256 = "x-content-sha256"

# hulian extensions, ignored by peers that do not know them.
MESSAGE_ID = "x-hulian-message-id"
CHUNK = "x-hulian-chunk"  # "<index>/<count>"
TOTAL_SIZE = "x-hulian-total-size"
HOPS = "x-hulian-hops"
METADATA = "x-hulian-metadata"  # JSON object: the push's metadata map

ALIASES = {
    TECH_PROVIDER: ("x-ptp-tecn-provider-code",),  # Kuscia / SecretFlow spelling
    SOURCE_NODE: ("x-ptp-from-node-id",),  # FATE
}

CONTROL_SOURCE_NODE = ("x-source-node-id", "x-node-id")  # the control spec's, and FATE's

PASSTHROUGH_VERSION = "1"  # x-ptp-version=1: pass-through; anything else: encapsulated (spec §5.2)
PUSH_PATHS = ("/v1/interconn/chan/push", "/org.ppc.ptp.PrivateTransferTransport/push")


def get(headers: Mapping[str, str], name: str, default: str = "") -> str:
    """Header `name` as text (UTF-8 header bytes, such as a topic 话题, decoded as UTF-8), also under its known
    aliases and with underscores instead of hyphens; IllegalRequest when its bytes are not UTF-8."""
    for candidate in (name, *ALIASES.get(name, ())):
        for spelling in (candidate, candidate.replace("-", "_")):
            value = headers.get(spelling)
            if value:
                return _text(spelling, value)
    return default


def _text(name: str, raw: str) -> str:
    """A header value as text: ASGI servers give header bytes decoded as latin-1, while peers send UTF-8 (a topic
    like 话题); undo that, refusing bytes that are not UTF-8."""
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:
        return raw  # already text beyond latin-1: it did not come from raw header bytes
    except UnicodeDecodeError:
        raise IllegalRequest(f"header {name} value {raw[:40]!r} is not UTF-8; send header values as UTF-8") from None


def wire_text(value: str) -> str:
    """`value` spelt so that a latin-1 header encoder (Starlette's replies, http.client) sends its UTF-8 bytes:
    the inverse of what `get` undoes."""
    return value.encode("utf-8").decode("latin-1")


def source_of(headers: Mapping[str, str]) -> str:
    """The calling node as the request declares it: the transport's x-ptp-source-node-id, else the control
    plane's x-source-node-id or x-node-id (FATE sends x_node_id). A signature covers this value."""
    return next((value for name in (SOURCE_NODE, *CONTROL_SOURCE_NODE) if (value := get(headers, name))), "")


def sender_of(headers: Mapping[str, str], own_node: str) -> str | None:
    """Whose messages a pop/peek takes. x-ptp-target-node-id names the sender when it is another node
    (Kuscia's queue `<target>-<topic>`; yacl's black-box link also sends its own id as source); otherwise
    x-ptp-source-node-id does (hulian's Channel); neither: any sender."""
    target = get(headers, TARGET_NODE)
    if target and target != own_node:
        return target
    return get(headers, SOURCE_NODE) or None


def is_push_uri(uri: str) -> bool:
    """x-ptp-uri names the resource requested across nodes; peers send a path or a full URL."""
    return any(uri.rstrip("/").endswith(p) for p in PUSH_PATHS)
