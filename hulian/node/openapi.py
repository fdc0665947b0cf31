"""The node's OpenAPI document, declared in one place: every route's parameters, request bodies, replies and
error replies, for client generators and the fuzzer (bench/fuzz.py).

The routes read the raw request themselves (liberal input: JSON or protobuf, hyphen or underscore headers,
body or query), so FastAPI cannot infer anything from their signatures; `OPERATIONS` below says what each
one takes. `install` replaces FastAPI's generator with `openapi_document` and serves `/docs` and
`/openapi.json` only to the admin unless `api.publish_docs` is set. A route of the app missing from
`OPERATIONS` makes `openapi_document` raise (tests/unit/test_openapi.py builds it), so none goes undeclared.

Error replies come from the error classes themselves (`error_statuses`): when their roots change, only
`CONTROL_ERRORS` / `TRANSPORT_ERRORS` change here.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hulian.control import paths as P
from hulian.control.api import is_admin
from hulian.core import errors as hulian_errors
from hulian.sdk.reported import MAX_METRICS, MAX_NAME, MAX_TEXT
from hulian.wire import headers as H

log = logging.getLogger("hulian.node.openapi")
CHAN = "/v1/interconn/chan"
HEALTH = "/v1/interconn/node/health"
DOCS, SCHEMA = "/docs", "/openapi.json"

# The roots of each plane's errors (both under hulian.core.errors.HulianError).
CONTROL_ERRORS: type[Exception] = hulian_errors.ControlError
TRANSPORT_ERRORS: type[Exception] = hulian_errors.PtpError


def error_statuses(root: type[Exception]) -> dict[int, list[str]]:
    """HTTP status -> the codes answered with it, from every error class under `root`."""
    out: dict[int, list[str]] = {}
    todo = [root]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        out.setdefault(cls.http_status, [])
        if str(cls.code) not in out[cls.http_status]:
            out[cls.http_status].append(str(cls.code))
    return dict(sorted(out.items()))


# ---- models ---------------------------------------------------------------------------------------------------
class _Open(BaseModel):
    """Request bodies: the named fields are what the node reads; others are accepted and ignored."""

    model_config = ConfigDict(extra="allow")


class ControlReply(BaseModel):
    """The control plane's envelope (control spec §2): `code` 0 (or the peer's configured success code)."""

    code: int
    msg: str
    data: Any = None


class NodeInfo(BaseModel):
    node_id: str
    inst_id: str
    tls: bool = Field(description="whether the node serves TLS on its main port")
    warning: str | None = Field(None, description="present when TLS is off (development only)")


class HealthReply(ControlReply):
    data: NodeInfo


class TransportReply(BaseModel):
    """TransportOutbound in JSON (proto3 JSON mapping; bytes as base64 in `content`)."""

    code: str = Field(description="E-code: E0000000000 on success")
    message: str
    content: str | None = Field(None, description="payload, base64 (pop and peek)")
    metadata: dict[str, str] | None = None


class PushJson(_Open):
    topic: str = ""
    payload: str = Field(description="message bytes, base64 (`content` is accepted too)")
    metadata: dict[str, str] = Field(default_factory=dict)


class TopicJson(_Open):
    """PopInbound / PeekInbound / ReleaseInbound."""

    topic: str = ""
    timeout: int = Field(0, ge=0, description="seconds (pop; 0: the node's default)")


class InboundJson(_Open):
    """Inbound{metadata, payload}: the payload is a serialised PushInbound (encapsulated mode)."""

    metadata: dict[str, str] = Field(default_factory=dict)
    payload: str = Field("", description="base64")


class JobCreate(_Open):
    job_id: str = ""
    flow_id: str = ""
    dag: dict[str, Any]
    config: dict[str, Any]


class JobRef(_Open):
    job_id: str


class JobStop(_Open):
    job_id: str
    task_name: str = ""


class JobTask(_Open):
    job_id: str
    task_name: str


class TaskStart(_Open):
    job_id: str
    task_id: str
    task_name: str


class TaskRef(_Open):
    task_id: str
    role: str = ""


class TaskState(_Open):
    task_id: str
    role: str = ""
    status: str = Field(description="RUNNING, SUCCESS or FAILED")
    message: str = ""


class ComponentCallback(TaskState):
    """hulian's extension of a component's callback: how far it is, kept with the run and shown in the job's
    status."""

    progress: float | None = Field(None, ge=0, le=1, description="hulian: the fraction done, 0..1")
    metrics: dict[Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)],
                  float | Annotated[str, StringConstraints(max_length=MAX_TEXT)]] = Field(
        default_factory=dict, max_length=MAX_METRICS,
        description=f"hulian: named numbers or strings (at most {MAX_METRICS}; names up to {MAX_NAME} characters, "
                    f"strings up to {MAX_TEXT}); each report updates the ones it names")


class AuditConfirm(_Open):
    job_id: str
    status: str = Field(description="the party's answer: SUCCESS/FAILED (or a job state)")


class LogQuery(_Open):
    task_id: str
    role: str = ""
    log_level: str = Field("info", description="info, debug or error")
    start: int = 0
    length: int = 1000


class JobList(_Open):
    flow_id: str = ""


class Register(_Open):
    component_info: dict[str, Any] = Field(description="the component description (componentInfo is accepted too)")
    imageUrl: str = ""  # the spec's spelling (image_url is accepted too)


class DatasetMeta(BaseModel):
    namespace: str
    name: str


# ---- parameters -----------------------------------------------------------------------------------------------
def _header(name: str, description: str, required: bool = False, schema: dict | None = None) -> dict:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def _query(name: str, description: str, required: bool = False, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


COMMON = (_header(H.TRACE_ID, "trace id, echoed in logs"), _header(H.TECH_PROVIDER, "caller's vendor code"),
          _header(H.ALIASES[H.TECH_PROVIDER][0], "SecretFlow's black-box link spelling: with a raw body the reply "
                  "is blackbox_interconnect.TransportOutbound {payload=1, code=2, message=3}, always HTTP 200"))
CONTAINER = (_header(H.SESSION_ID, "the session (also x_ptp_session_id)", required=True),
             _header(H.TOKEN, "the session's token, issued by this node", required=True),
             _header(H.TOPIC, "topic, when the body names none"), *COMMON)
RECEIVE = (_header(H.SOURCE_NODE, "only messages from this node"),
           _header(H.TARGET_NODE, "only messages from this node, when it is not this node (Kuscia)"))
POP = (_header(H.TIMEOUT_MS, "pop timeout in milliseconds", schema={"type": "integer", "minimum": 0}),
       _query("timeout", "pop timeout in seconds", schema={"type": "number", "minimum": 0}))
METADATA = _header(H.METADATA, "raw body: the push's metadata, a flat JSON object of strings")
PUSH = (_header(H.TARGET_NODE, "the node the message is for", required=True), METADATA)
SIGNED = (_header(H.AUTH_SIGN, "signature of the canonical request (peers with auth_type SHA256_*)"),
          _header(H.TIMESTAMP, "milliseconds since the epoch, within security.replay_window_seconds"),
          _header(H.NONCE, "unique per request"), _header(H.CONTENT_SHA256, "hex SHA-256 of the body"))
PEER = (_header(H.SOURCE_NODE, "the calling node"),
        _header(H.TARGET_NODE, "the node the message is for", required=True),
        _header(H.SESSION_ID, "the message's session", required=True),
        _header(H.TOPIC, "topic (raw and pass-through bodies)"),
        _header(H.VERSION, "1: pass-through (the push body as sent); otherwise an Inbound"),
        _header(H.URI, "the resource requested across nodes"),
        _header(H.MESSAGE_ID, "hulian: message id (de-duplication)"),
        _header(H.CHUNK, "hulian: `<index>/<count>` of a chunked message"),
        _header(H.TOTAL_SIZE, "hulian: size of the whole message", schema={"type": "integer", "minimum": 0}),
        _header(H.HOPS, "hulian: relays passed", schema={"type": "integer", "minimum": 0}), METADATA, *SIGNED,
        *COMMON)
CALLER = (_header("x-source-node-id", "the calling node (also x-node-id, x_node_id)"), *SIGNED)

# ---- bodies and replies ---------------------------------------------------------------------------------------
BINARY = {"type": "string", "format": "binary"}


REFERENCED: dict[str, type[BaseModel]] = {}  # every model a $ref names: components/schemas holds each


def _ref(model: type[BaseModel]) -> dict:
    REFERENCED[model.__name__] = model
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _proto(message: str) -> dict:
    return {"schema": {**BINARY, "x-protobuf-message": f"org.ppc.ptp.{message}"}}


def _transport_body(json_model: type[BaseModel], message: str, raw: bool) -> dict:
    content = {"application/json": {"schema": _ref(json_model)}, "application/x-protobuf": _proto(message)}
    if raw:
        content["application/octet-stream"] = {"schema": BINARY}
    return {"required": False, "content": content}


def _json_body(model: type[BaseModel] | None, required: bool = True) -> dict | None:
    if model is None:
        return None
    return {"required": required, "content": {"application/json": {"schema": _ref(model)}}}


TRANSPORT_CONTENT = {"application/json": {"schema": _ref(TransportReply)},
                     "application/x-protobuf": _proto("TransportOutbound")}
RAW_MESSAGE = {"application/octet-stream": {"schema": BINARY}}
RAW_HEADERS = {H.CODE: {"schema": {"type": "string"}, "description": "E-code of a raw (octet-stream) reply"},
               H.MESSAGE: {"schema": {"type": "string"}}}
CONTROL_CONTENT = {"application/json": {"schema": _ref(ControlReply)}}
# A request that is not valid HTTP (a NUL or line break in a header, a bad chunk) is refused by the HTTP server
# before it reaches a route, in plain text.
MALFORMED_HTTP = {"text/plain": {"schema": {"type": "string"}}}


def _responses(plane: str, raw_reply: bool = False, reply: type[BaseModel] = ControlReply) -> dict:
    if plane == "control":
        ok = {"description": "{code, msg, data}", "content": {"application/json": {"schema": _ref(reply)}}}
        errors, content = error_statuses(CONTROL_ERRORS), CONTROL_CONTENT
    else:
        ok = {"description": "TransportOutbound in the request's format (protobuf for raw requests)",
              "content": {**TRANSPORT_CONTENT, **(RAW_MESSAGE if raw_reply else {})}, "headers": RAW_HEADERS}
        errors, content = error_statuses(TRANSPORT_ERRORS), TRANSPORT_CONTENT
    out = {"200": ok}
    for status, codes in errors.items():
        out[str(status)] = {"description": f"error codes {', '.join(codes)}", "content": content}
    out["400"]["content"] = {**out["400"]["content"], **MALFORMED_HTTP}
    return out


# ---- the table ------------------------------------------------------------------------------------------------
ADMIN = [{"adminToken": []}, {"bearer": []}]
PEER_AUTH = [{"peerCertificate": []}]


@dataclass(frozen=True)
class Operation:
    summary: str
    plane: str = "control"  # control | transport
    params: tuple[dict, ...] = ()
    body: dict | None = None
    security: list[dict] = field(default_factory=list)
    raw_reply: bool = False
    reply: type[BaseModel] = ControlReply  # the control plane's success reply


def _container(summary: str, json_model: type[BaseModel], message: str, params: tuple = (), raw: bool = True,
               raw_reply: bool = False) -> Operation:
    return Operation(summary, "transport", CONTAINER + params, _transport_body(json_model, message, raw),
                     raw_reply=raw_reply)


def _ew(summary: str, model: type[BaseModel]) -> Operation:
    return Operation(summary, params=CALLER, body=_json_body(model), security=PEER_AUTH)


def _ns(summary: str, model: type[BaseModel] | None, required: bool = True) -> Operation:
    return Operation(summary, body=_json_body(model, required), security=ADMIN)


def _ns_get(summary: str, model: type[BaseModel] | None) -> Operation:
    """A read also served on GET: the body's fields as query parameters."""
    params = tuple(_query(name, f.description or name, f.is_required(),
                          {"type": "integer"} if f.annotation is int else None)
                   for name, f in (model.model_fields.items() if model else ()))
    return Operation(summary, params=params, security=ADMIN)


_INVOKE = Operation("a peer node delivers a message (pass-through body, or an Inbound)", "transport", PEER,
                    _transport_body(InboundJson, "Inbound", raw=True), PEER_AUTH)
_STATUS_EW = Operation("the job's status on every party (callers: its parties)", params=(
    *CALLER, _query("job_id", "the job (spec v1.2: query; a JSON body is read too)")),
    body=_json_body(JobRef, required=False), security=PEER_AUTH)

def _read(path: str, summary: str, model: type[BaseModel] | None, required: bool = True
          ) -> dict[tuple[str, str], Operation]:
    """A northbound read: served on POST (JSON body) and on GET (the body's fields as query parameters)."""
    return {("get", path): _ns_get(summary, model), ("post", path): _ns(summary, model, required)}


# East-west calls by the body they carry: each a POST from a peer (client certificate, caller headers).
_EAST_WEST: dict[type[BaseModel], dict[str, str]] = {
    JobCreate: {P.CREATE_ALL: "the scheduler creates a job on every party",
                P.CREATE: "create the job here (from its scheduler)"},
    JobRef: {P.START_JOB: "start the job here"},
    TaskStart: {P.START_TASK: "start a task here"},
    JobStop: {P.STOP_ALL: "stop the job on every party", P.STOP: "stop the job (or one task) here"},
    TaskRef: {P.POLL: "a task's state here", P.TASK_STOP: "Kuscia: stop one task by task_id"},
    TaskState: {P.CALLBACK: "a party reports a task's state to the scheduler"},
    AuditConfirm: {P.AUDIT_CONFIRM: "a party accepts or refuses the job"},
    LogQuery: {P.TASK_LOG: "hulian: a party's task log, for the initiator"},
}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("post", f"{CHAN}/push"): _container("push a message to a node", PushJson, "PushInbound", PUSH),
    ("post", f"{CHAN}/pop"): _container("take the next message of a topic (waits up to the timeout)", TopicJson,
                                        "PopInbound", RECEIVE + POP, raw_reply=True),
    ("post", f"{CHAN}/peek"): _container("look at the next message without taking it", TopicJson, "PeekInbound",
                                         RECEIVE, raw_reply=True),
    ("post", f"{CHAN}/release"): _container("release a topic or the whole session", TopicJson, "ReleaseInbound"),
    ("post", f"{CHAN}/invoke"): _INVOKE,
    ("post", f"{CHAN}/transport"): _INVOKE,
    ("get", HEALTH): Operation("liveness; node and institution id", reply=HealthReply),
    **{("post", path): _ew(summary, model) for model, calls in _EAST_WEST.items() for path, summary in calls.items()},
    ("get", P.STATUS_ALL): Operation(_STATUS_EW.summary, params=_STATUS_EW.params, security=PEER_AUTH),
    ("post", P.STATUS_ALL): _STATUS_EW,
    ("post", P.NS_CREATE_ALL): _ns("submit a job (this node initiates it)", JobCreate),
    ("post", P.NS_STOP_ALL): _ns("stop a job", JobStop),
    ("post", P.NS_STOP_TASK): _ns("stop one task of a job", JobTask),
    **_read(P.NS_STATUS_ALL, "a job's status", JobRef),
    **_read(P.NS_JOB_LIST, "jobs, optionally of one flow", JobList, required=False),
    **_read(P.NS_LOG, "lines of a task's log", LogQuery),
    **_read(P.NS_LOG_LINE, "number of lines of a task's log", LogQuery),
    **_read(P.NS_DATASET_LIST, "hulian: the datasets on this node", None),
    ("post", P.NS_REGISTER): _ns("register a component", Register),
    ("post", P.NS_CALLBACK): Operation("a component reports its task's state (its session token or the admin's)",
                                       params=(_header(H.SESSION_ID, "the task's session"),
                                               _header(H.TOKEN, "the task's session token")),
                                       body=_json_body(ComponentCallback), security=[{}, *ADMIN]),
    ("post", P.NS_DATASET_UPLOAD): Operation(
        "hulian: register the body (CSV or Parquet) as dataset namespace#name",
        params=(_query("namespace", "dataset namespace", required=True), _query("name", "dataset name", True),
                _query("format", "csv or parquet", schema={"type": "string", "enum": ["csv", "parquet"]}),
                _query("replace", "true to overwrite", schema={"type": "boolean"}),
                _query("filename", "the uploaded file's name, for the description")),
        body={"required": True, "content": {"text/csv": {"schema": {"type": "string"}},
                                            "application/octet-stream": {"schema": BINARY}}},
        security=ADMIN),
}
SECURITY_SCHEMES = {
    "adminToken": {"type": "apiKey", "in": "header", "name": H.TOKEN, "description": "security.admin_token"},
    "bearer": {"type": "http", "scheme": "bearer", "description": "security.admin_token"},
    "peerCertificate": {"type": "mutualTLS", "description": "a TLS client certificate of a route-table peer, "
                        "plus x-auth-sign for peers whose auth_type is SHA256_*"},
}


def _operation(method: str, path: str, op: Operation) -> dict:
    out: dict[str, Any] = {"operationId": f"{method}_{path.strip('/').replace('/', '_').replace('.', '_')}",
                           "summary": op.summary, "tags": [op.plane], "parameters": list(op.params),
                           "responses": _responses(op.plane, op.raw_reply, op.reply)}
    if op.body is not None:
        out["requestBody"] = op.body
    if op.security:
        out["security"] = op.security
    return out


def served_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves in its schema, whoever registered it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI's duplicate operation ids of GET+POST routes
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    return {(method, path) for path, item in doc.get("paths", {}).items() for method in item}


def openapi_document(app: FastAPI, strict: bool = True) -> dict[str, Any]:
    """The document of the routes the app serves. A route `OPERATIONS` does not declare raises (`strict`, the
    tests) or is listed bare with a warning in the log (a serving node: its docs must not fail)."""
    served = served_operations(app)
    missing = served - OPERATIONS.keys()
    if missing:
        why = f"routes without an OpenAPI declaration in hulian/node/openapi.py: {sorted(missing)}"
        if strict:
            raise LookupError(why)
        log.warning(why)
    paths: dict[str, dict] = {}
    for method, path in sorted(served, key=lambda mp: (mp[1], mp[0])):
        op = OPERATIONS.get((method, path)) or Operation("undeclared: add it to hulian/node/openapi.py")
        paths.setdefault(path, {})[method] = _operation(method, path, op)
    schemas: dict[str, Any] = {}
    for model in REFERENCED.values():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {"openapi": "3.1.0", "info": {"title": app.title, "version": app.version,
                                         "description": "hulian node: BFIA transport and control planes; "
                                                        "see docs/api.md and docs/control.md"},
            "paths": paths, "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES}}


def _refused(request: Request) -> Response:
    err = hulian_errors.Forbidden(f"{request.url.path} is served to this node's admin only: send the admin token "
                                  "in x-ptp-token or Authorization: Bearer (or set api.publish_docs: true)")
    return JSONResponse({"code": err.code, "msg": err.message, "data": {}}, status_code=err.http_status)


def install(app: FastAPI) -> None:
    """Serve this document at /openapi.json and Swagger UI at /docs, to the admin only unless published."""
    publish = app.state.node.config.api.publish_docs
    builtin = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in builtin]
    cached: dict[str, Any] = {}

    def document() -> dict[str, Any]:
        if not cached:
            cached.update(openapi_document(app, strict=False))
        return cached

    app.openapi = document  # type: ignore[method-assign]

    async def schema(request: Request) -> Response:
        return JSONResponse(document()) if publish or is_admin(request) else _refused(request)

    async def docs(request: Request) -> Response:
        if not (publish or is_admin(request)):
            return _refused(request)
        # the document goes inline: the browser's own fetch of /openapi.json would carry no token
        html: HTMLResponse = get_swagger_ui_html(openapi_url=SCHEMA, title=f"{app.title} - API",
                                                 swagger_ui_parameters={"spec": document()})
        return html

    app.add_api_route(SCHEMA, schema, methods=["GET"], include_in_schema=False)
    app.add_api_route(DOCS, docs, methods=["GET"], include_in_schema=False)
