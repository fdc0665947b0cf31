"""Errors of an ECDH-PSI run, with the interconnection protocol's codes (`org.interconnection.ErrorCode`)."""
from __future__ import annotations

from hulian.wire.interconnection.common import header_pb2

OK = header_pb2.OK
GENERIC_ERROR = header_pb2.GENERIC_ERROR
UNEXPECTED_ERROR = header_pb2.UNEXPECTED_ERROR
NETWORK_ERROR = header_pb2.NETWORK_ERROR
INVALID_REQUEST = header_pb2.INVALID_REQUEST
INVALID_RESOURCE = header_pb2.INVALID_RESOURCE
HANDSHAKE_REFUSED = header_pb2.HANDSHAKE_REFUSED
UNSUPPORTED_VERSION = header_pb2.UNSUPPORTED_VERSION
UNSUPPORTED_ALGO = header_pb2.UNSUPPORTED_ALGO
UNSUPPORTED_PARAMS = header_pb2.UNSUPPORTED_PARAMS


class PsiError(Exception):
    """A PSI run failed; `code` is the protocol's error code, the message names the cause and the fix."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{header_pb2.ErrorCode.Name(code) if code in header_pb2.ErrorCode.values() else code}"
                         f" ({code}): {message}")
        self.code = code
        self.message = message
