"""Assembles one node: configuration, database, transport service, forwarder and one ASGI app."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hulian.component import ComponentRunner, StatusCallback
from hulian.control import api as control_api
from hulian.control.client import ControlClient
from hulian.control.paths import PREFIXES as CONTROL_PREFIXES
from hulian.control.service import ControlService
from hulian.core.config import NodeConfig
from hulian.core.errors import IllegalRequest, InternalError, NotFound, PtpError, RouteNotFound
from hulian.core.http import BodyIdleTimeout
from hulian.node import openapi
from hulian.node.listeners import PeerListeners
from hulian.store.db import Database
from hulian.transport import api as transport_api
from hulian.transport.auth import Authenticator
from hulian.transport.blobs import BlobStore
from hulian.transport.client import PeerClient
from hulian.transport.forwarder import Forwarder
from hulian.transport.queue import MessageQueue, SqlQueue
from hulian.transport.service import TransportService
from hulian.wire.codec import format_of

log = logging.getLogger("hulian.node")


@dataclass
class Node:
    config: NodeConfig
    db: Database
    queue: MessageQueue
    service: TransportService
    auth: Authenticator
    client: PeerClient
    forwarder: Forwarder
    control: ControlService = field(repr=False, default=None)  # type: ignore[assignment]
    components: ComponentRunner | None = None


def make_queue(config: NodeConfig, db: Database) -> MessageQueue:
    if config.transport.backend == "sql":
        return SqlQueue(db)
    if config.transport.backend == "redis":
        from hulian.transport.redis_queue import RedisQueue

        return RedisQueue(config.transport.redis_url, namespace=config.transport.redis_namespace + config.node_id,
                          dedup_ttl_seconds=int(config.transport.message_ttl_seconds))
    raise ValueError(f"transport.backend {config.transport.backend!r} is unknown; use 'sql' or 'redis'")


def build_node(config: NodeConfig) -> Node:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(config.db_url, fsync=config.transport.fsync)
    db.create_all()
    queue = make_queue(config, db)
    blobs = BlobStore(config.data_dir / "blobs", fsync=config.transport.fsync,
                      hot_bytes=config.transport.hot_cache_bytes)
    service = TransportService(config, db, queue, blobs)
    client = PeerClient(config)
    node = Node(config, db, queue, service, Authenticator(config), client, Forwarder(service, client))
    node.control = ControlService(config, db, ControlClient(config, client if config.tls.enabled else None))
    node.components = make_components(config, db, node.control.party.on_status)
    node.control.runtime = node.components  # the control plane reaches the runtime through its port only
    return node


def make_components(config: NodeConfig, db: Database, on_status: StatusCallback) -> ComponentRunner | None:
    """The component layer, reporting task states to the control plane (`on_status`); None while it is not
    installed."""
    try:
        from hulian.component.service import ComponentService
    except ModuleNotFoundError as e:
        if e.name != "hulian.component.service":
            raise
        log.warning("no component layer (hulian.component.service): tasks cannot run on this node")
        return None
    return ComponentService(config, db, on_status)


def create_app(config: NodeConfig) -> FastAPI:
    node = build_node(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not config.tls.enabled:
            log.warning(TLS_OFF_WARNING)
        await node.queue.start()
        await node.service.start()
        await node.forwarder.start()
        if node.components is not None:
            await node.components.open()
        await node.control.start()
        grpc_server = None
        if config.grpc.enabled:
            from hulian.transport.grpc_server import start_grpc

            grpc_server = await start_grpc(node)
        await listeners.start()
        log.info("node %s serving (backend %s)", config.node_id, config.transport.backend)
        try:
            yield
        finally:
            await listeners.stop()
            if grpc_server is not None:
                await grpc_server.stop(grace=2)
            await node.control.close()
            if node.components is not None:
                await node.components.close()
            await node.forwarder.stop()
            await node.service.stop()
            await node.client.close()
            await node.queue.close()
            node.db.close()

    app = FastAPI(title=f"hulian node {config.node_id}", version="0.1.0", lifespan=lifespan)
    app.state.node = node
    app.include_router(transport_api.router)
    app.include_router(control_api.router)
    listeners = PeerListeners(config, app)  # started by the lifespan above

    @app.get("/v1/interconn/node/health")
    async def health() -> dict:
        data = {"node_id": config.node_id, "inst_id": config.inst_id, "tls": config.tls.enabled}
        if not config.tls.enabled:
            data["warning"] = TLS_OFF_WARNING
        return {"code": 0, "msg": "ok", "data": data}

    install_error_handlers(app)
    openapi.install(app)
    app.add_middleware(BodyIdleTimeout, seconds=config.limits.body_idle_timeout_seconds, reply=_error_reply)
    app.add_middleware(CatchAll)  # outermost: a stall is BodyIdleTimeout's to answer, not an unexpected error
    return app


TLS_OFF_WARNING = ("TLS IS OFF: this node serves plain HTTP on its main port; peers are told apart only by the "
                   "node id they declare and their source address (peers[].plain_http.sources), and traffic is "
                   "readable on the network. Development only: configure tls: (docs/configuration.md)")


class CatchAll:
    """Turns an unexpected exception into the plane's error reply, logged once. Left to Starlette's last-resort
    handler, the exception is re-raised to the server after the reply, which logs it again and closes the
    keep-alive connection (peers then see a reset on their next request)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as err:
            log.exception("unexpected failure on %s", scope.get("path"))
            if started:
                raise  # the reply is under way: only closing the connection can tell the client
            reply = _error_reply(Request(scope), InternalError(f"internal error ({type(err).__name__}); see the "
                                                               "node log"))
            await reply(scope, receive, send)


def _error_reply(request: Request, err: PtpError) -> Response:
    """The reply to `err` in the plane the request addressed: the control plane's envelope (its codes decided by
    `hulian.core.errors.as_control`), else the transport's E-code reply."""
    if request.url.path.startswith(CONTROL_PREFIXES):  # the control plane answers {code, msg, data}
        return control_api.error_reply(err)
    blackbox = transport_api.is_blackbox(request)
    return transport_api.reply(format_of(request.headers.get("content-type")), err.code, err.message,
                               status=200 if blackbox else err.http_status, blackbox=blackbox)


def install_error_handlers(app: FastAPI) -> None:
    """Every failure becomes the spec's {code, message}: bad input never surfaces as a bare 500 (unexpected
    exceptions: CatchAll)."""

    @app.exception_handler(PtpError)
    async def ptp_error(request: Request, err: PtpError) -> Response:
        return _error_reply(request, err)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> Response:
        return _error_reply(request, IllegalRequest(f"invalid request: {err.errors()}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        if err.status_code in (404, 405) and request.url.path.startswith(CONTROL_PREFIXES):
            return control_api.error_reply(RouteNotFound(
                f"no route {request.method} {request.url.path}; see docs/control.md"))
        if err.status_code == 404:
            return _error_reply(request, NotFound(f"no route {request.url.path}; see docs/api.md"))
        if err.status_code == 405:
            return _error_reply(request, IllegalRequest(f"method {request.method} not allowed on {request.url.path}"))
        return JSONResponse({"code": f"HTTP{err.status_code}", "message": str(err.detail)}, status_code=err.status_code)

    @app.exception_handler(ClientDisconnect)
    async def disconnected(request: Request, err: ClientDisconnect) -> Response:
        return Response(status_code=499)
