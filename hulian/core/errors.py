"""Every error hulian answers with, under one root, and the one mapping of an error onto a plane's reply.

`HulianError` carries `code` (what goes into the reply), `http_status` (the response's status) and a message
that names the problem and how to fix it. Two families share it:
- `PtpError`: the transport spec's E-codes (the list of the spec's reference implementation, 传输相关参考实现 /
  mesh error table);
- `ControlError`: the control plane's numeric codes in the `{code, msg, data}` envelope (docs/control.md). The
  spec fixes only success (0); the non-zero codes are ours, grouped like HTTP statuses so a reader can guess them.

A `PtpError` raised while serving the control plane (caller identity, a malformed or stalled body) is answered
in the control plane's codes through `as_control`, the one place that decides that mapping.
"""
from __future__ import annotations

from functools import partial
from typing import TypeVar


class HulianError(Exception):
    """Root of every error hulian answers with: `code` goes into the reply, `http_status` onto the response."""

    code: str | int = "E0000000500"
    http_status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PtpError(HulianError):
    """Base of every error a transport call can answer with; `code` is the spec's E-code."""

    code = "E0000000500"


class ControlError(HulianError):
    """Base of the control plane's errors; `code` is the envelope's numeric code."""

    code = 5000


E = TypeVar("E", bound=HulianError)


def _error(base: type[E], name: str, code: str | int, http_status: int, doc: str) -> type[E]:
    return type(name, (base,), {"code": code, "http_status": http_status, "__doc__": doc})


_ptp, _control = partial(_error, PtpError), partial(_error, ControlError)


# ---- transport (E-codes) -------------------------------------------------------------------------------------
OK = "E0000000000"
IllegalRequest = _ptp("IllegalRequest", "E0000000400", 400, "Request is malformed (请求非法).")
Unauthorized = _ptp("Unauthorized", "E0000000403", 403, "Bad token or replayed request (请求资源未被授权).")
NotFound = _ptp("NotFound", "E0000000404", 404, "Unknown resource (请求资源不存在).")
BodyTooLarge = _ptp("BodyTooLarge", "E0000000413", 413, "Body exceeds the node's limit (报文超长).")
InternalError = _ptp("InternalError", "E0000000500", 500, "Unexpected failure (系统异常).")
ServiceUnreachable = _ptp("ServiceUnreachable", "E0000000503", 503, "Routing loop (循环请求服务不可达).")
Incompatible = _ptp("Incompatible", "E0000000600", 400, "Incompatible system (系统不兼容).")
Timeout = _ptp("Timeout", "E0000000601", 504, "Request timed out (请求超时).")
CertificateError = _ptp("CertificateError", "E0000000603", 403, "Certificate check failed (数字证书校验异常).")
NetworkError = _ptp("NetworkError", "E0000000607", 502, "Peer unreachable (网络不通).")
SessionReleased = _ptp("SessionReleased", "E0000000608", 410, "Session was released (会话已释放).")
BadSignature = _ptp("BadSignature", "E0000000615", 403, "Signature invalid (证书签名非法).")
CodecError = _ptp("CodecError", "E0000000616", 400, "Body cannot be decoded (报文编解码异常).")
NodeNotNetworked = _ptp("NodeNotNetworked", "E0000000618", 403, "Node not networked (节点或机构未组网).")
UnsupportedUri = _ptp("UnsupportedUri", "E0000000619", 404, "Unsupported uri (地址非法或无法访问).")
BufferFull = _ptp("BufferFull", "E0000000700", 507, "Queue quota exceeded (消息缓冲区满).")
# The same codes for resources held too long or too many times at once, with the HTTP status that says so.
TooManyPops = _ptp("TooManyPops", BufferFull.code, 429, "Too many long polls of one session at once.")
# 400, not 408: every plane maps a 400 to its own "bad request" reply (the control plane a 5xx otherwise).
BodyStalled = _ptp("BodyStalled", Timeout.code, 400, "The request body stopped arriving (请求超时).")

# Codes after which a sender stops retrying: the message itself can never be accepted. Errors of
# configuration (unknown node, certificate, signature, token) are retried, since an operator can fix them.
FINAL_CODES = frozenset({IllegalRequest.code, BodyTooLarge.code, CodecError.code, SessionReleased.code,
                         UnsupportedUri.code})

# ---- control plane (numeric codes) ---------------------------------------------------------------------------
BadRequest = _control("BadRequest", 4000, 400, "Body or query is not what the endpoint takes (names the field).")
InvalidJob = _control("InvalidJob", 4001, 400, "DAG or CONF refused (names the field path).")
UnknownComponent = _control("UnknownComponent", 4002, 400, "A DAG component is not registered on this node.")
Forbidden = _control("Forbidden", 4003, 403, "Caller not authenticated, or not a party of the job.")
JobNotFound = _control("JobNotFound", 4004, 404, "No job with this job_id here.")
TaskNotFound = _control("TaskNotFound", 4005, 404, "No task with this task_id or task_name here.")
RouteNotFound = _control("RouteNotFound", 4006, 404, "No such path, or method not allowed.")
JobConflict = _control("JobConflict", 4009, 409, "job_id exists with a different DAG/CONF.")
IllegalState = _control("IllegalState", 4010, 409, "The job's state forbids this (e.g. task/start on a FINISHED job).")
NotScheduler = _control("NotScheduler", 4011, 400, "This node is not the job's scheduler.")
# The control plane's InternalError; `InternalError` above is the transport's (E0000000500).
ControlInternalError = _control("InternalError", 5000, 500, "Unexpected failure; the node log has the traceback.")
NoComponentLayer = _control("NoComponentLayer", 5001, 503, "This node runs no component layer.")
PeerRefused = _control("PeerRefused", 5002, 502, "A peer answered with an error (its code and message are quoted).")
PeerUnreachable = _control("PeerUnreachable", 5004, 504, "A peer did not answer within the timeout and retries.")

CONTROL_ERRORS: tuple[type[ControlError], ...] = (
    BadRequest, InvalidJob, UnknownComponent, Forbidden, JobNotFound, TaskNotFound, RouteNotFound, JobConflict,
    IllegalState, NotScheduler, ControlInternalError, NoComponentLayer, PeerRefused, PeerUnreachable)

# How a transport error raised on the control plane is answered there (docs/control.md, "Envelope and codes").
_CONTROL_BY_STATUS: dict[int, type[ControlError]] = {400: BadRequest, 403: Forbidden, 404: RouteNotFound}


def as_control(err: HulianError) -> ControlError:
    """`err` in the control plane's codes: a ControlError as it is; a PtpError by its HTTP status (400 →
    BadRequest 4000, 403 → Forbidden 4003, 404 → RouteNotFound 4006, anything else → InternalError 5000), its
    message keeping the E-code."""
    if isinstance(err, ControlError):
        return err
    return _CONTROL_BY_STATUS.get(err.http_status, ControlInternalError)(f"{err.message} ({err.code})")
