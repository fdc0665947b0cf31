"""Errors of the interconnection link."""
from __future__ import annotations


class LinkError(Exception):
    """The link cannot go on: a peer is unreachable, refused a message, or broke the protocol."""


class LinkTimeout(LinkError, TimeoutError):
    """A wait (receive, throttle window, close) ran out of time."""


class CarrierError(Exception):
    """One push failed; `retryable` says whether sending it again may succeed (network) or not (refused)."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable
