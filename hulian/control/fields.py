"""Fields of control requests, read strictly (each refusal names the field), and the ids the plane makes."""
from __future__ import annotations

import json
import secrets
from typing import Any

from hulian.core.errors import BadRequest
from hulian.store.db import ID

Body = dict[str, Any]
MAX_INTEGER = 2**31 - 1  # bound of integer fields (log line offsets and counts)


def text(body: Body, name: str, required: bool = True, limit: int = ID) -> str:
    """A string field of a request (ids, names: at most `limit` characters, what the id columns hold); a
    missing, mistyped or too long one is refused naming it."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{name} is required (a non-empty string)")
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise BadRequest(f"{name} is {len(value)} characters long; at most {limit} are accepted")
    return value


def integer(body: Body, name: str, default: int) -> int:
    """A non-negative integer field (a JSON number or a numeric string), refused naming it when it is not one or
    is beyond MAX_INTEGER."""
    value = body.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf), should a float get this far
        raise BadRequest(f"{name} must be an integer, not {str(value)[:40]!r}") from None
    if not 0 <= number <= MAX_INTEGER:
        raise BadRequest(f"{name} must be between 0 and {MAX_INTEGER}, not {number if number < 0 else 'more'}")
    return number


def canonical(obj: Any) -> str:
    """The stored form of a job's DAG or CONF: a repeated create compares equal whatever its key order."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def new_job_id() -> str:
    return "job-" + secrets.token_hex(16)


def new_task_id() -> str:
    return "task_" + secrets.token_hex(16)
