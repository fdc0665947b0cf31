"""Session tokens a node mints for the containers of one task session (x-ptp-token on push/pop/peek/release).

A token is `hl1.<expiry unix s>.<base64url HMAC-SHA256(secret, session_id|expiry)>`: stateless, bound to one
session, checked in constant time.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

PREFIX = "hl1"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _mac(secret: str, session_id: str, expiry: int) -> str:
    digest = hmac.new(secret.encode(), f"{session_id}|{expiry}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(secret: str, session_id: str, ttl_seconds: int) -> str:
    expiry = int(time.time()) + ttl_seconds
    return f"{PREFIX}.{expiry}.{_mac(secret, session_id, expiry)}"


def check(secret: str, session_id: str, token: str) -> str | None:
    """None when `token` is valid for `session_id`; otherwise why it is not."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isdigit():
        return "token is not a hulian session token (hl1.<expiry>.<mac>)"
    expiry = int(parts[1])
    if not hmac.compare_digest(parts[2], _mac(secret, session_id, expiry)):
        return "token was not issued by this node for this session"
    if expiry < time.time():
        return "token expired; issue a new one"
    return None
