"""Typed errors carrying the transport spec's E-codes.

The codes are the list of the spec's reference implementation (传输相关参考实现 / mesh error table);
every error carries a message that names the problem and how to fix it.
"""
from __future__ import annotations


class PtpError(Exception):
    """Base of every error a transport call can answer with; `code` is the spec's E-code."""

    code = "E0000000500"
    http_status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _error(name: str, code: str, http_status: int, doc: str) -> type[PtpError]:
    return type(name, (PtpError,), {"code": code, "http_status": http_status, "__doc__": doc})


OK = "E0000000000"
IllegalRequest = _error("IllegalRequest", "E0000000400", 400, "Request is malformed (请求非法).")
Unauthorized = _error("Unauthorized", "E0000000403", 403, "Bad token or replayed request (请求资源未被授权).")
NotFound = _error("NotFound", "E0000000404", 404, "Unknown resource (请求资源不存在).")
BodyTooLarge = _error("BodyTooLarge", "E0000000413", 413, "Body exceeds the node's limit (报文超长).")
InternalError = _error("InternalError", "E0000000500", 500, "Unexpected failure (系统异常).")
ServiceUnreachable = _error("ServiceUnreachable", "E0000000503", 503, "Routing loop (循环请求服务不可达).")
Incompatible = _error("Incompatible", "E0000000600", 400, "Incompatible system (系统不兼容).")
Timeout = _error("Timeout", "E0000000601", 504, "Request timed out (请求超时).")
CertificateError = _error("CertificateError", "E0000000603", 403, "Certificate check failed (数字证书校验异常).")
NetworkError = _error("NetworkError", "E0000000607", 502, "Peer unreachable (网络不通).")
SessionReleased = _error("SessionReleased", "E0000000608", 410, "Session was released (会话已释放).")
BadSignature = _error("BadSignature", "E0000000615", 403, "Signature invalid (证书签名非法).")
CodecError = _error("CodecError", "E0000000616", 400, "Body cannot be decoded (报文编解码异常).")
NodeNotNetworked = _error("NodeNotNetworked", "E0000000618", 403, "Node not networked (节点或机构未组网).")
UnsupportedUri = _error("UnsupportedUri", "E0000000619", 404, "Unsupported uri (地址非法或无法访问).")
BufferFull = _error("BufferFull", "E0000000700", 507, "Queue quota exceeded (消息缓冲区满).")
# The same codes for resources held too long or too many times at once, with the HTTP status that says so.
TooManyPops = _error("TooManyPops", BufferFull.code, 429, "Too many long polls of one session at once.")
# 400, not 408: every plane maps a 400 to its own "bad request" reply (the control plane a 5xx otherwise).
BodyStalled = _error("BodyStalled", Timeout.code, 400, "The request body stopped arriving (请求超时).")

# Codes after which a sender stops retrying: the message itself can never be accepted. Errors of
# configuration (unknown node, certificate, signature, token) are retried, since an operator can fix them.
FINAL_CODES = frozenset({IllegalRequest.code, BodyTooLarge.code, CodecError.code, SessionReleased.code,
                         UnsupportedUri.code})
