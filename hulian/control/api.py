"""HTTP routes of the control plane (control spec §3-5): parsing, caller identity and the `{code, msg, data}`
envelope only; the logic is in ControlService.

Liberal on input: a JSON body and/or query parameters, GET or POST for reads, hyphen or underscore headers.
East-west callers are identified as on the transport (Authenticator.identify_request): their TLS client
certificate (and x-auth-sign for peers that sign), or, for plain-HTTP peers such as FATE-Flow, the listener and
source address their configuration allows. North-south callers need the node's admin token.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hulian.control import paths as P
from hulian.control.envelope import envelope, role_of, task_state
from hulian.control.fields import integer, text
from hulian.control.public import public_text
from hulian.control.service import ControlService
from hulian.core import http, jsonio
from hulian.core.errors import (
    BadRequest,
    BodyTooLarge,
    ControlInternalError,
    Forbidden,
    HulianError,
    TaskNotFound,
    as_control,
)
from hulian.data.registry import check_address, list_datasets, on_node_storage, register_dataset
from hulian.data.storage import StorageError
from hulian.data.table import TableError
from hulian.wire import headers as H

log = logging.getLogger("hulian.control.api")
router = APIRouter(tags=["control"])
Body = dict[str, Any]


def _node(request: Request):
    return request.app.state.node


def _svc(request: Request) -> ControlService:
    svc = getattr(_node(request), "control", None)
    if svc is None:
        raise ControlInternalError("the control plane is not running on this node")
    return svc


async def read_body(request: Request) -> tuple[Body, bytes]:
    """JSON object body (may be absent, also on GET) merged over the query parameters; bounded by
    `limits.control_body_bytes` and read with the strict JSON reader (hulian.core.jsonio)."""
    limit = _node(request).config.limits.control_body_bytes
    try:
        raw = await http.read_body(request, limit)
    except BodyTooLarge:
        declared = request.headers.get("content-length", "")
        size = f"of {declared} bytes " if declared.isdigit() else ""
        raise BadRequest(f"request body {size}exceeds the control plane's limit of {limit} bytes "
                         "(limits.control_body_bytes in the node configuration)") from None
    body: Body = dict(request.query_params)
    if raw.strip():
        try:
            obj = jsonio.loads(raw)
        except ValueError as e:
            raise BadRequest(f"body is not acceptable JSON ({e}); send a JSON object") from None
        if not isinstance(obj, dict):
            raise BadRequest(f"body must be a JSON object, not {type(obj).__name__}")
        body.update(obj)
    return body, raw


def caller_of(request: Request, raw: bytes) -> str:
    """The calling node: its certificate (TLS on), its own plain-HTTP listener and source address (FATE-Flow), or
    with TLS off the node it declares if its address allows (transport.auth.Authenticator.identify_request)."""
    node = _node(request)
    who = node.auth.identify_request(request)
    declared = node.auth.check_signature(who, request.method, request.url.path, request.headers)
    if declared is not None and declared != hashlib.sha256(raw).hexdigest():
        raise Forbidden("x-content-sha256 does not match the body: refused")
    return who.node_id


def _presented_token(request: Request) -> str:
    return H.get(request.headers, H.TOKEN) or request.headers.get("authorization", "").removeprefix("Bearer ")


def is_admin(request: Request) -> bool:
    """Whether the request carries this node's admin token (`x-ptp-token` or `Authorization: Bearer`)."""
    token, admin = _presented_token(request), _node(request).config.security.admin_token
    return bool(token and admin and hmac.compare_digest(token.encode(), admin.encode()))


async def check_platform_caller(request: Request, path: str, body: Body | None = None) -> None:
    """North-south routes serve this platform's own users and components, in every mode: they need the node's
    admin token. A task callback is also accepted with the session token of that task's own job (what its
    component was given as config.token), so admin tokens never have to reach component processes."""
    if is_admin(request):
        return
    client = request.client.host if request.client else "?"
    if path == P.NS_CALLBACK and body is not None:
        session, token = H.get(request.headers, H.SESSION_ID), _presented_token(request)
        if token and session:
            _node(request).auth.check_token(session, token)  # raises Unauthorized naming why
            task_id = text(body, "task_id")
            try:
                task = await _svc(request).task_named(task_id)
            except TaskNotFound:  # refused as any other task's: a session's token does not learn which ids exist
                task = None
            if task is not None and session == f"session_{task['job_id']}":
                return
            log.warning("refused callback for task %s from %s: session %s is not its job's", task_id, client, session)
            raise Forbidden(f"x-ptp-session-id {session!r} is not the session of task {task_id!r}'s job")
    log.warning("refused %s from %s: no admin token", path, client)
    if not _node(request).config.security.admin_token:
        raise Forbidden(f"{path} needs this node's admin token, and none is configured: set security.admin_token")
    raise Forbidden(f"{path} needs this node's admin token in x-ptp-token (or Authorization: Bearer)"
                    + ("" if path != P.NS_CALLBACK else ", or the task session's token with x-ptp-session-id")
                    + "; `hulian cluster up` writes it to cluster.json as admin_token")


def _reply(code: int, msg: str, data: Any = None) -> JSONResponse:
    return JSONResponse(envelope(code, msg, data))


def error_reply(err: HulianError) -> JSONResponse:
    """The control plane's reply to any error (its code decided by `hulian.core.errors.as_control`)."""
    err = as_control(err)
    return JSONResponse(envelope(err.code, public_text(err.message)), status_code=err.http_status)


Handler = Callable[[Request, Body, str], Awaitable[Any]]


def route(path: str, methods: tuple[str, ...] = ("POST",), east_west: bool = True) -> Callable[[Handler], Any]:
    """Register `fn(request, body, caller) -> data` with parsing, identity, envelope and error mapping."""

    def register(fn: Handler) -> Any:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                body, raw = await read_body(request)
                if east_west:
                    caller = caller_of(request, raw)
                else:
                    await check_platform_caller(request, path, body)
                    caller = _node(request).config.node_id
                data = await fn(request, body, caller)
                code = _node(request).config.control.success_code_by_peer.get(
                    caller, _node(request).config.control.success_code)
                return _reply(code, "success", data)
            except HulianError as e:
                return error_reply(e)
            # anything else: node.app.CatchAll answers it once, and a stalled body passes on to BodyIdleTimeout

        endpoint.__doc__ = fn.__doc__  # not functools.wraps: FastAPI must see endpoint(request), not fn's signature
        router.add_api_route(path, endpoint, methods=list(methods), name=f"{fn.__name__}_{'ew' if east_west else 'ns'}",
                             response_class=JSONResponse)
        return fn

    return register


def _delegate(path: str, method: str, east_west: bool = True) -> None:
    """A route whose body goes to the service's handler of the same path unchanged."""

    async def handler(request: Request, body: Body, caller: str) -> Any:
        return await _svc(request).handlers()[path](body, caller)

    handler.__name__ = method
    route(path, ("GET", "POST") if path.endswith("status_all") else ("POST",), east_west)(handler)


# ---- east-west (between platforms) --------------------------------------------------------------------------
for _path, _method in ((P.CREATE_ALL, "create_all"), (P.CREATE, "create"), (P.START_JOB, "start_job"),
                       (P.START_TASK, "start_task"), (P.STOP_ALL, "stop_all"), (P.STOP, "stop"),
                       (P.STATUS_ALL, "status_all"), (P.POLL, "poll"), (P.CALLBACK, "callback"),
                       (P.AUDIT_CONFIRM, "audit_confirm"), (P.TASK_LOG, "party_log")):
    _delegate(_path, _method)


@route(P.TASK_STOP)
async def task_stop(request: Request, body: Body, caller: str) -> Any:
    """Kuscia's extra, from its scheduler: stop one task by task_id (and what depends on it) here; on the
    scheduler itself it is a stop_all of that task."""
    return await _svc(request).stop_task(text(body, "task_id"), caller)


# ---- north-south (this platform's users and components) -----------------------------------------------------
@route(P.NS_CREATE_ALL, east_west=False)
async def ns_create_all(request: Request, body: Body, caller: str) -> Any:
    return await _svc(request).submit(body)


@route(P.NS_STOP_ALL, east_west=False)
async def ns_stop_all(request: Request, body: Body, caller: str) -> Any:
    return await _svc(request).stop_all(body, caller)


@route(P.NS_STOP_TASK, east_west=False)
async def ns_stop_task(request: Request, body: Body, caller: str) -> Any:
    text(body, "task_name")
    return await _svc(request).stop_all(body, caller)


@route(P.NS_STATUS_ALL, ("GET", "POST"), east_west=False)
async def ns_status_all(request: Request, body: Body, caller: str) -> Any:
    return await _svc(request).status_all(body, caller)


@route(P.NS_JOB_LIST, ("GET", "POST"), east_west=False)
async def ns_job_list(request: Request, body: Body, caller: str) -> Any:
    return await _svc(request).job_list(text(body, "flow_id", required=False))


def _log_args(body: Body) -> tuple[str, str, str]:
    level = text(body, "log_level", required=False).lower() or "info"
    if level not in ("info", "debug", "error"):
        raise BadRequest(f"log_level {level!r} must be info, debug or error")
    return text(body, "task_id"), role_of(body.get("role")), level


@route(P.NS_LOG, ("GET", "POST"), east_west=False)
async def ns_get_log(request: Request, body: Body, caller: str) -> Any:
    task_id, role, level = _log_args(body)
    data = await _svc(request).task_log(task_id, role, level, integer(body, "start", 0),
                                        integer(body, "length", 1000))
    return data["lines"]


@route(P.NS_LOG_LINE, ("GET", "POST"), east_west=False)
async def ns_get_log_line(request: Request, body: Body, caller: str) -> Any:
    task_id, role, level = _log_args(body)
    data = await _svc(request).task_log(task_id, role, level, 0, 0)
    return {"num": data["num"]}


@route(P.NS_REGISTER, east_west=False)
async def ns_register(request: Request, body: Body, caller: str) -> Any:
    return await _svc(request).register(body)


@route(P.NS_CALLBACK, east_west=False)
async def ns_callback(request: Request, body: Body, caller: str) -> Any:
    """A component reports its state (RUNNING/SUCCESS/FAILED); FATE's components send role "guest" or "guest.0";
    hulian's may add `progress` (0..1) and `metrics`. The component layer records it first (it owns the run) and
    reports to the control plane through on_status."""
    state = task_state(body.get("status"))
    if state is None:
        raise BadRequest(f"status {body.get('status')!r} must be RUNNING, SUCCESS or FAILED")
    task_id, role = text(body, "task_id"), role_of(body.get("role"))
    message = str(body.get("message") or body.get("msg") or "")
    svc = _svc(request)
    if svc.runtime is None:  # no component layer on this node: the control plane's own record of the task
        if not await svc.party.runs_here(task_id, role):
            raise TaskNotFound(f"task_id {task_id!r} (role {role or 'any'!r}) does not run on this node")
        await svc.party.on_status(task_id, role, state, message)
        return {}
    try:
        known = await svc.runtime.on_callback(task_id, role, state.value, message, progress=body.get("progress"),
                                              metrics=body.get("metrics"))
    except ValueError as e:
        raise BadRequest(str(e)) from None
    if not known:
        raise TaskNotFound(f"task_id {task_id!r} (role {role or 'any'!r}) does not run on this node")
    return {}


# ---- datasets (hulian extension: `hulian data add`) ---------------------------------------------------------
@router.post(P.NS_DATASET_UPLOAD)
async def dataset_upload(request: Request) -> JSONResponse:
    """Register the uploaded CSV/Parquet body as dataset `namespace#name` (query parameters; `format` csv or
    parquet, `replace` true to overwrite). The body is streamed to a temporary file first, never held whole."""
    node = _node(request)
    tmp: Path | None = None
    try:
        await check_platform_caller(request, P.NS_DATASET_UPLOAD)
        q = request.query_params
        namespace, name = q.get("namespace", ""), q.get("name", "")
        fmt = q.get("format", "csv").lower()
        if not namespace or not name:
            raise BadRequest("namespace and name query parameters are required (dataset namespace#name)")
        check_address(namespace, name)  # before a byte of the body is written
        if fmt not in ("csv", "parquet"):
            raise BadRequest(f"format={fmt!r}: use csv or parquet")
        upload_dir = Path(node.config.data_dir) / "uploads"
        upload_dir.mkdir(parents=True, exist_ok=True)
        tmp = upload_dir / f"{secrets.token_hex(8)}.{fmt}"
        with tmp.open("wb") as f:
            async for piece in request.stream():
                await asyncio.to_thread(f.write, piece)
        replace = q.get("replace", "").lower() in ("1", "true", "yes")
        description = f"uploaded from {q.get('filename') or 'a client'}"
        meta = await asyncio.to_thread(on_node_storage, node.config, lambda storage: register_dataset(
            storage, namespace, name, tmp, replace=replace, description=description))
        return _reply(0, "success", meta)
    except HulianError as e:
        return error_reply(e)
    except (StorageError, TableError) as e:
        log.warning("dataset upload %r#%r refused: %s", q.get("namespace"), q.get("name"), e)  # the local detail
        return error_reply(BadRequest(str(e)))
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


@route(P.NS_DATASET_LIST, ("GET", "POST"), east_west=False)
async def dataset_list(request: Request, body: Body, caller: str) -> Any:
    return await asyncio.to_thread(on_node_storage, _node(request).config, list_datasets)
