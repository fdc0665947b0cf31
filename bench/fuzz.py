"""Fuzz running nodes from their own OpenAPI document (schemathesis), as a client, a peer and a stranger would.

Starts real node processes in a fresh temporary root: two TLS nodes as `hulian cluster up` does (node-a is
fuzzed, node-b lends its identity) and one TLS-off node. Every operation of the document is fuzzed, with
generated valid (positive) and invalid (negative) inputs, in these probe classes:

  tls-admin    north-south and container routes of the TLS node, with the admin token
  tls-peer     east-west routes of the TLS node, with node-b's client certificate and x-auth-sign signature
  tls-anon     every route of the TLS node, without any credential
  plain-admin  north-south and container routes of the TLS-off node, with the admin token
  plain-peer   east-west routes of the TLS-off node, as node-b (x-node-id, from its configured address)
  plain-anon   every route of the TLS-off node, without any credential

A third of the cases also get one hostile value (path traversal, NUL, lone surrogate, huge numbers, NaN,
UTF-8 in a header, 5,000 characters) in one of their parameters or body fields.

Reported, per class: cases sent; replies with status 5xx (or an internal-error code in a black-box link's
200); replies later than the request's own timeout (the pop's, clamped by the node) + 10 s, or none at all;
replies that violate the document (status, content type, headers, JSON schema; protobuf replies must parse as
TransportOutbound); credentialed routes that answered with success without credentials; files created in the
temporary root outside the nodes' directories; and the unexpected failures in the node logs.
docs/security.md has the details and a run.

    PYTHONPATH=. .venv/bin/python bench/fuzz.py [--cases 10000] [--json report.json] [--keep]

Needs schemathesis (in the `dev` extra). Exit status 1 when any count above is not zero. Run alone: it loads
both cores for minutes.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import machine  # bench/machine.py, beside this script
import requests
import schemathesis
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hulian.core import errors as transport_errors
from hulian.crypto import signing
from hulian.node import cluster
from hulian.wire import headers as H
from hulian.wire import ptp_pb2
from hulian.wire.codec import Format, format_of
from hulian.wire.interconnection.link import blackbox_pb2

CHECKS = [status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
PROTOBUF = "application/x-protobuf"
GRACE = 10.0  # a reply may come this long after the request's own timeout
# inline_bytes 1: payloads go to blob files, so the paths built from peers' ids are exercised
LIMITS = {"max_body_bytes": 1 << 20, "inline_bytes": 1, "pop_timeout_seconds": 0.5,
          "max_pop_timeout_seconds": 1.0, "release_timeout_seconds": 1.0}
NODE_CONFIG = {"limits": LIMITS, "transport": {"fsync": False, "request_timeout_seconds": 2.0,
                                               "retry_max_seconds": 2.0},
               "control": {"request_timeout_seconds": 2.0, "request_retries": 0}}
HOSTILE = ["../../../PROBE", "../../../nodir/X", "/PROBE-abs", "..", "a\x00b", "\ud800", "1e400", "-1e400",
           "nan", "inf", "-100", "100000000000000000000000000", "话题", "x" * 5000]

# Serialise generated protobuf bodies as the bytes schemathesis draws for `format: binary`.
schemathesis.serializer(PROTOBUF)(lambda ctx, value: value if isinstance(value, bytes)
                                                  else str(value).encode("utf-8", "surrogatepass"))


@dataclass
class Target:
    """A running node and how one probe class reaches it."""

    name: str
    url: str
    session: requests.Session
    operations: Callable[[dict], bool]  # which operations of the document this class fuzzes
    headers: dict[str, str] = field(default_factory=dict)
    signer: requests.auth.AuthBase | None = None
    credentialed: bool = True
    plausible: dict[str, list[str]] = field(default_factory=dict)
    jail: Path = Path("/nonexistent")  # the run's root: absolute message ids are moved under it


def rerooted(case: Any, jail: Path) -> None:
    """An absolute x-hulian-message-id names a file anywhere while blob paths are built from it (issue 12
    defect 7): this run moves it under its own root ("//root/..." keeps the two-character directory "/"), so a
    file the node writes there shows in the listing instead of landing in the machine's file system."""
    value = (case.headers or {}).get(H.MESSAGE_ID)
    if isinstance(value, str) and value.startswith("/"):
        case.headers[H.MESSAGE_ID] = "/" + str(jail) + value


@dataclass
class Tally:
    cases: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)  # (class, operation, status)
    samples: dict[str, dict] = field(default_factory=dict)  # one case per (class, operation, status)
    server_errors: list[dict] = field(default_factory=list)
    late: list[dict] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)
    open_routes: list[dict] = field(default_factory=list)
    client_errors: Counter = field(default_factory=Counter)
    client_error_samples: dict[str, str] = field(default_factory=dict)

    def not_sent(self, what: str, e: BaseException) -> None:
        self.client_errors[what] += 1
        self.client_error_samples.setdefault(what, "".join(traceback.format_exception(e))[-1500:])


class PeerSigner(requests.auth.AuthBase):
    """x-auth-sign over the body actually sent, as PeerClient.signed does (hulian/transport/client.py)."""

    def __init__(self, key_file: str):
        self.key = signing.load_private_key(key_file)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        digest = hashlib.sha256(body if isinstance(body, bytes) else body.encode()).hexdigest()
        ts, nonce = str(int(time.time() * 1000)), secrets.token_hex(16)
        data = signing.canonical(r.method or "POST", urlparse(r.url).path, digest, ts, nonce,
                                 H.source_of(r.headers))
        r.headers.update({H.TIMESTAMP: ts, H.NONCE: nonce, H.CONTENT_SHA256: digest,
                          H.AUTH_SIGN: signing.sign(self.key, data)})
        return r


# ---- the nodes ------------------------------------------------------------------------------------------------
def start_nodes(root: Path) -> tuple[list[cluster.ClusterNode], cluster.ClusterNode, list[Path]]:
    """Two TLS nodes and one TLS-off node, deep under `root` (so `../` escapes still land inside it)."""
    base = root / "r1" / "r2" / "r3" / "r4" / "r5"
    tls = cluster.generate(base / "tls", 2, extra=NODE_CONFIG)
    plain_peer = {"node_id": "node-b", "url": f"http://127.0.0.1:{cluster.free_port()}", "auth_type": "CERT",
                  "plain_http": {"sources": ["127.0.0.1"]}}
    plain = cluster.generate(base / "plain", 1, extra={**NODE_CONFIG, "tls": {"enabled": False},
                                                       "peers": [plain_peer]})[0]
    plain.url = plain.url.replace("https://", "http://")
    nodes = [*tls, plain]
    for node in nodes:
        node.pid = cluster.start_node(node.config)
    for node in nodes:
        cluster.wait_healthy(node, timeout=60)
    dirs = [base / "tls" / "pki", base / "plain" / "pki", *(Path(n.config).parent for n in nodes)]
    return tls, plain, dirs


def listing(root: Path, inside: list[Path]) -> set[str]:
    """Every file under `root` except under the nodes' own directories."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in inside]
        out.update(str((here / f).relative_to(root)) for f in filenames)
    return out


def probes() -> set[str]:
    """Files named like the hostile ids in the system's temporary directory (escapes past the run's root)."""
    return {str(p) for p in Path(tempfile.gettempdir()).glob("*PROBE*")}


def targets(tls: list[cluster.ClusterNode], plain: cluster.ClusterNode, jail: Path) -> list[Target]:
    a, b = tls

    def session(cert: tuple[str, str] | None = None, verify: str | bool = False) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        s.verify, s.cert = verify, cert
        return s

    def tagged(*planes: str) -> Callable[[dict], bool]:
        return lambda op: _plane(op) in planes

    def everything(op: dict) -> bool:
        return True

    admin = {"x-ptp-token": a.admin_token}
    plausible = {H.TARGET_NODE: [a.node_id, b.node_id], H.SOURCE_NODE: [b.node_id, a.node_id],
                 H.SESSION_ID: ["s1", "s2"], H.TOPIC: ["t1", "t2"], "topic": ["t1", "t2"],
                 H.TIMEOUT_MS: ["200", "1500", "nan", "1e400"], "timeout": ["0.2", "2", "nan", "1e400"],
                 H.VERSION: ["1"],
                 "x-source-node-id": [b.node_id], "role": ["host", "guest"], "status": ["SUCCESS", "FAILED"],
                 "namespace": ["fuzz"], "name": ["d1", "d2"], "format": ["csv"],
                 H.MESSAGE_ID: ["../../../PROBE", "../../../../../../PROBE", "/PROBE-abs"],
                 H.URI: ["/v1/interconn/chan/push"], H.CHUNK: ["0/1"], H.HOPS: ["0", "1"]}
    found = [
        Target("tls-admin", a.url, session(verify=a.ca_file), tagged("ns", "container"), admin),
        Target("tls-peer", a.url, session((b.client_cert, b.client_key), a.ca_file), tagged("ew"),
               {H.SOURCE_NODE: b.node_id}, PeerSigner(b.client_key)),
        Target("tls-anon", a.url, session(verify=a.ca_file), everything, credentialed=False),
        Target("plain-admin", plain.url, session(), tagged("ns", "container"), {"x-ptp-token": plain.admin_token}),
        Target("plain-peer", plain.url, session(), tagged("ew"), {"x-node-id": b.node_id}),
        Target("plain-anon", plain.url, session(), everything, credentialed=False),
    ]
    # A stranger may claim any node, but cannot connect from a peer's allowed address (on TLS-off nodes that
    # address is the peer's identity, docs/configuration.md): the anonymous classes claim nodes that are not
    # theirs to claim from here, never node-b, whose plain_http.sources holds the fuzzer's own address.
    stranger = {**plausible, H.SOURCE_NODE: ["mallory", a.node_id], "x-source-node-id": ["mallory", a.node_id]}
    for t in found:
        t.plausible, t.jail = stranger if not t.credentialed else plausible, jail
    return found


def _plane(op: dict) -> str:
    """ns (admin token), ew (a peer's identity), container (a session token), open (the health check)."""
    schemes = {name for req in op.get("security", []) for name in req}
    if "peerCertificate" in schemes:
        return "ew"
    if "adminToken" in schemes:
        return "ns"
    return "container" if op["tags"] == ["transport"] else "open"


# ---- one case -------------------------------------------------------------------------------------------------
def own_timeout(case: Any, kwargs: dict) -> float:
    """The request's own timeout as the node reads it (body, x-ptp-timeout ms, ?timeout= s), clamped: 0 when
    the route takes none."""
    if not case.operation.path.endswith("/pop"):
        return 0.0
    t = None
    body = kwargs.get("json")
    if isinstance(body, dict):
        t = body.get("timeout")
    elif isinstance(kwargs.get("data"), bytes) and "protobuf" in str(case.media_type):
        with contextlib.suppress(DecodeError):
            t = ptp_pb2.PopInbound.FromString(kwargs["data"]).timeout
    if not t and (ms := H.get(kwargs.get("headers") or {}, H.TIMEOUT_MS)):
        t = _number(ms, 1000)
    if not t and (q := (kwargs.get("params") or {}).get("timeout")):
        t = _number(q, 1)
    t = _number(t, 1) if t else None
    if not t or t <= 0 or math.isnan(t):
        t = LIMITS["pop_timeout_seconds"]
    return min(t, LIMITS["max_pop_timeout_seconds"])


def _number(value: Any, per_second: float) -> float | None:
    try:
        return float(value) / per_second
    except (TypeError, ValueError, OverflowError):
        return None


def make_plausible(case: Any, data: st.DataObject, plausible: dict[str, list[str]]) -> None:
    """Give most parameters and body fields values that name real things (the nodes, a few sessions and topics),
    so that pushes are delivered and pops find messages, not only refused at the first check."""
    for p in case.operation.definition.raw.get("parameters", []):
        if p["name"] in plausible and data.draw(st.integers(0, 3)) > 0:
            value = data.draw(st.sampled_from(plausible[p["name"]]))
            if p["in"] == "header":
                case.headers = {**(case.headers or {}), p["name"]: value}
            else:
                case.query = {**(case.query or {}), p["name"]: value}
    if isinstance(case.body, dict):
        for name in [k for k in case.body if k in plausible]:
            if data.draw(st.integers(0, 3)) > 0:
                case.body[name] = data.draw(st.sampled_from(plausible[name]))
    if case.media_type == PROTOBUF and data.draw(st.booleans()):
        case.body = protobuf_body(case, data, plausible)


def protobuf_body(case: Any, data: st.DataObject, plausible: dict[str, list[str]]) -> bytes:
    """A well-formed message of the type the document names for this body (the drawn bytes rarely parse), with
    drawn fields: the decoders past the wire format get exercised too."""
    schema = case.operation.definition.raw["requestBody"]["content"][PROTOBUF]["schema"]
    cls = getattr(ptp_pb2, schema["x-protobuf-message"].rsplit(".", 1)[1])
    text = st.one_of(st.sampled_from(plausible["topic"]), st.text(max_size=20))
    strings = st.dictionaries(st.sampled_from([H.TOPIC, H.SESSION_ID, "k"]), text, max_size=3)
    msg = cls()
    for f in cls.DESCRIPTOR.fields:
        if f.name == "topic":
            msg.topic = data.draw(text)
        elif f.name == "timeout":
            msg.timeout = data.draw(st.integers(-(2**31), 2**31 - 1) | st.integers(0, 3))
        elif f.name == "metadata":
            msg.metadata.update(data.draw(strings))
        elif f.name == "payload":
            inner = ptp_pb2.PushInbound(topic=data.draw(text), payload=data.draw(st.binary(max_size=64)))
            msg.payload = inner.SerializeToString() if cls is ptp_pb2.Inbound else data.draw(st.binary(max_size=64))
    return msg.SerializeToString()


def make_hostile(case: Any, data: st.DataObject) -> str | None:
    """Put one hostile value into one of the case's parameters or body fields; returns where."""
    value = data.draw(st.sampled_from(HOSTILE))
    slots = [("header", p["name"]) for p in case.operation.definition.raw.get("parameters", [])
             if p["in"] == "header"] + [("query", p["name"]) for p in case.operation.definition.raw.get(
                 "parameters", []) if p["in"] == "query"]
    if isinstance(case.body, dict):
        slots += [("body", k) for k in case.body]
    if not slots:
        return None
    where, name = data.draw(st.sampled_from(slots))
    if where == "header":
        # header values go out as latin-1: these are the value's UTF-8 bytes on the wire
        case.headers = {**(case.headers or {}), name: value.encode("utf-8", "surrogatepass").decode("latin-1")}
    elif where == "query":
        case.query = {**(case.query or {}), name: value}
    else:
        case.body[name] = value
    return f"{where} {name}={value[:40]!r}"


def _header(response: Any, name: str) -> str:
    value = response.headers.get(name) or [""]  # schemathesis' Response: lists of values
    return value[0] if isinstance(value, list) else value


def reply_code(response: Any) -> str:
    """The code a reply carries, whatever its format; raises ValueError when it carries none it may."""
    ctype = _header(response, "content-type")
    if "protobuf" in ctype:
        sent = response.request.headers
        blackbox = H.ALIASES[H.TECH_PROVIDER][0] in sent and format_of(sent.get("content-type")) == Format.RAW
        try:
            code = (blackbox_pb2 if blackbox else ptp_pb2).TransportOutbound.FromString(response.content).code
        except DecodeError as e:
            raise ValueError(f"protobuf reply is not a TransportOutbound ({e})") from None
        if not (code.startswith("E") and code[1:].isdigit() and len(code) == 11):
            raise ValueError(f"protobuf reply code {code!r} is not an E-code")
        return code
    if "octet-stream" in ctype:
        return _header(response, H.CODE)
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(response.content).get("code"))
    return ""


def check_protobuf(response: Any) -> str | None:
    """A protobuf reply must be a TransportOutbound with an E-code (black-box link callers: its own numbering)."""
    try:
        reply_code(response)
    except ValueError as e:
        return str(e)
    return None


def internal_error(response: Any) -> bool:
    """A reply with an internal-error code, whatever its status (black-box link replies are always 200)."""
    with contextlib.suppress(ValueError):
        return reply_code(response) in (transport_errors.InternalError.code,
                                        str(transport_errors.ControlInternalError.code))
    return False


def succeeded(response: Any) -> bool:
    """2xx and a success code: black-box link replies are 200 whatever their code."""
    with contextlib.suppress(ValueError):
        return 200 <= response.status_code < 300 and reply_code(response) in ("0", "E0000000000")
    return False


def _describe(case: Any, kwargs: dict, hostile: str | None) -> dict:
    body = kwargs.get("json", kwargs.get("data"))
    text = json.dumps(body, default=repr)[:300] if body is not None else None
    return {"operation": f"{case.operation.method.upper()} {case.operation.path}",
            "headers": {k: str(v)[:100] for k, v in (kwargs.get("headers") or {}).items()
                        if k.lower().startswith("x-") and k.lower() not in ("x-schemathesis-testcaseid",)},
            "url": kwargs.get("url", "")[:300],
            "query": {k: str(v)[:100] for k, v in (kwargs.get("params") or {}).items()},
            "media_type": case.media_type, "body": text, "hostile": hostile}


def send(target: Target, case: Any, hostile: str | None, tally: Tally) -> None:
    case.headers = {**(case.headers or {}), **target.headers}
    rerooted(case, target.jail)
    kwargs = case.as_transport_kwargs(base_url=target.url)
    bound = own_timeout(case, kwargs) + GRACE
    label = f"{target.name}"
    tally.cases[label] += 1
    started = time.monotonic()
    try:
        response = case.call(base_url=target.url, session=target.session, timeout=bound + 5, auth=target.signer,
                             verify=target.session.verify, cert=target.session.cert)
    except requests.Timeout:
        tally.late.append({**_describe(case, kwargs, hostile), "class": label, "elapsed": None, "bound": bound})
        return
    except (requests.RequestException, ValueError, UnicodeError) as e:  # not sendable, or the node hung up
        tally.not_sent(type(e).__name__, e)
        if isinstance(e, requests.ConnectionError):
            tally.server_errors.append({**_describe(case, kwargs, hostile), "class": label,
                                        "status": f"connection dropped: {e}"[:200]})
        return
    elapsed = time.monotonic() - started
    seen = {**_describe(case, kwargs, hostile), "class": label, "status": response.status_code,
            "reply": response.content[:300].decode("utf-8", "replace"), "elapsed": round(elapsed, 2)}
    tally.statuses[(label, seen["operation"], response.status_code)] += 1
    tally.samples.setdefault(f"{label} {seen['operation']} {response.status_code}", seen)
    if response.status_code >= 500 or internal_error(response):
        tally.server_errors.append(seen)
    if elapsed > bound:
        tally.late.append({**seen, "bound": bound})
    if not target.credentialed and succeeded(response) and _plane(case.operation.definition.raw) != "open":
        tally.open_routes.append(seen)
    problems = []
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        problems += [f"{f.title}: {f.message}"[:300] for f in group.exceptions]
    except Failure as f:
        problems.append(f"{f.title}: {f.message}"[:300])
    if (why := check_protobuf(response)) is not None:
        problems.append(why)
    if problems:
        tally.violations.append({**seen, "problems": problems})


# ---- the run --------------------------------------------------------------------------------------------------
def fuzz(schema: Any, all_targets: list[Target], total: int, tally: Tally) -> None:
    pairs = [(t, op) for t in all_targets for op in (r.ok() for r in schema.get_all_operations())
             if t.operations(op.definition.raw)]
    per_pair = max(1, math.ceil(total / (2 * len(pairs))))
    for target, op in pairs:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = op.as_strategy(generation_mode=mode)
            except Exception as e:  # an operation schemathesis cannot generate for (reported, not fatal)
                tally.not_sent(f"strategy {op.label} {mode.value}: {type(e).__name__}", e)
                continue

            run = _fuzzer(target, strategy, per_pair, tally)
            try:
                run()
            except Unsatisfiable:  # nothing to generate (no inputs to make invalid)
                pass
            except Exception as e:  # generation failed midway: keep the cases sent, go on
                tally.not_sent(f"generation {op.label} {mode.value}: {type(e).__name__}", e)


def _fuzzer(target: Target, strategy: Any, n: int, tally: Tally) -> Callable[[], None]:
    """`n` cases of `strategy` sent to `target` (generation only: every failure is recorded, none shrunk)."""

    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    @given(case=strategy, data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        make_plausible(case, data, target.plausible)
        hostile = make_hostile(case, data) if data.draw(st.integers(0, 2)) == 0 else None
        send(target, case, hostile, tally)

    return run


def node_failures(nodes: list[cluster.ClusterNode]) -> dict[str, Counter]:
    """Unexpected failures (tracebacks) in each node's log: exception type and route -> count."""
    out = {}
    for node in nodes:
        found: Counter = Counter()
        log = Path(node.config).parent / "node.log"
        for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if rec.get("level") in ("ERROR", "CRITICAL") and ("exc" in rec or "exc_info" in rec
                                                                  or "traceback" in line.lower()):
                    exc = str(rec.get("exc") or rec.get("exc_info") or "").strip().splitlines()
                    ours = [x.strip() for x in exc if x.strip().startswith("File") and "/hulian/" in x]
                    where = ours[-1].split("/hulian/", 1)[1] if ours else ""
                    found[f"{rec.get('msg', '')[:90]} | {exc[-1][:150] if exc else ''} | at hulian/{where}"] += 1
        out[node.node_id + (" (TLS off)" if node.url.startswith("http://") else "")] = found
    return out


def fetch_schema(node: cluster.ClusterNode) -> dict:
    r = httpx.get(node.url + "/openapi.json", headers={"x-ptp-token": node.admin_token},
                  verify=cluster.ssl_context(node), trust_env=False, timeout=30)
    r.raise_for_status()
    return r.json()


def report(tally: Tally, created: set[str], failures: dict[str, Counter], seconds: float) -> dict:
    by_class: dict[str, dict[str, int]] = defaultdict(dict)
    for name, n in tally.cases.items():
        by_class[name] = {"cases": n,
                          "5xx": sum(1 for x in tally.server_errors if x["class"] == name),
                          "late": sum(1 for x in tally.late if x["class"] == name),
                          "schema_violations": sum(1 for x in tally.violations if x["class"] == name),
                          "open_without_credentials": sum(1 for x in tally.open_routes if x["class"] == name)}
    return {"machine": machine.describe(), "seconds": round(seconds), "cases": sum(tally.cases.values()),
            "classes": by_class, "files_outside": sorted(created),
            "statuses": {" ".join(map(str, k)): n for k, n in sorted(tally.statuses.items())},
            "samples": tally.samples,
            "client_errors": dict(tally.client_errors), "client_error_samples": tally.client_error_samples,
            "node_failures": {k: dict(v) for k, v in failures.items()},
            "server_errors": tally.server_errors, "late": tally.late, "violations": tally.violations,
            "open_routes": tally.open_routes}


def summarise(rep: dict) -> Iterator[str]:
    yield f"machine: {rep['machine']}; {rep['cases']} cases in {rep['seconds']} s"
    yield f"{'class':<12} {'cases':>7} {'5xx':>5} {'late':>5} {'schema':>7} {'open':>5}"
    for name, c in rep["classes"].items():
        yield (f"{name:<12} {c['cases']:>7} {c['5xx']:>5} {c['late']:>5} {c['schema_violations']:>7} "
               f"{c['open_without_credentials']:>5}")
    yield f"files created outside the nodes' directories: {len(rep['files_outside'])} {rep['files_outside'][:10]}"
    for node, found in rep["node_failures"].items():
        for what, n in found.items():
            yield f"node log {node}: {n} x {what}"
    by_kind = Counter(p.split(":")[0] for v in rep["violations"] for p in v["problems"])
    for kind, n in by_kind.most_common():
        yield f"schema violation: {n} x {kind}"
    errors = Counter((e["operation"], str(e["status"])[:60]) for e in rep["server_errors"])
    for (op, status), n in errors.most_common():
        yield f"5xx: {n} x {op} -> {status}"
    for what, n in rep["client_errors"].items():
        yield f"not sent: {n} x {what}"


def failed(rep: dict) -> bool:
    return bool(rep["files_outside"] or rep["server_errors"] or rep["late"] or rep["violations"]
                or rep["open_routes"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000, help="generated cases in all (about)")
    ap.add_argument("--json", type=Path, help="write the full report (every finding with its input) here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary root (node logs) after the run")
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # schemathesis' and urllib3's per-case warnings
    root = Path(tempfile.mkdtemp(prefix="hulian-fuzz-"))
    nodes: list[cluster.ClusterNode] = []
    started = time.monotonic()
    try:
        tls, plain, inside = start_nodes(root)
        nodes = [*tls, plain]
        before, probes_before = listing(root, inside), probes()
        schema = schemathesis.openapi.from_dict(fetch_schema(tls[0]))
        tally = Tally()
        fuzz(schema, targets(tls, plain, root), args.cases, tally)
        created = (listing(root, inside) - before) | (probes() - probes_before)
        rep = report(tally, created, node_failures(nodes), time.monotonic() - started)
    finally:
        for node in nodes:
            cluster.stop_pid(node.pid)
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    for line in summarise(rep):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(rep, indent=1, default=str))
    return 1 if failed(rep) else 0


if __name__ == "__main__":
    sys.exit(main())
