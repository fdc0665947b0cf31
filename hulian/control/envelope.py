"""The control spec's `{code, msg, data}` envelope and a liberal reader of what real peers send: success code 0
(spec v1.1+) or 200 (v1.0, Kuscia), `msg` or `message`, state names of other vendors."""
from __future__ import annotations

from enum import StrEnum
from typing import Any

from hulian.control.states import JobState, TaskState
from hulian.core import jsonio

SUCCESS_CODES = frozenset({0, 200})

_TASK_ALIASES = {
    "SUCCEEDED": TaskState.SUCCESS, "SUCCESSFUL": TaskState.SUCCESS, "FINISHED": TaskState.SUCCESS,
    "COMPLETE": TaskState.SUCCESS, "COMPLETED": TaskState.SUCCESS, "PASS": TaskState.SUCCESS,
    "FAIL": TaskState.FAILED, "FAILURE": TaskState.FAILED, "ERROR": TaskState.FAILED, "CANCELED": TaskState.FAILED,
    "CANCELLED": TaskState.FAILED, "STOPPED": TaskState.FAILED, "TIMEOUT": TaskState.FAILED,
    "KILLED": TaskState.FAILED, "INIT": TaskState.PENDING, "WAITING": TaskState.PENDING, "CREATED": TaskState.PENDING,
    "RUN": TaskState.RUNNING, "STARTED": TaskState.RUNNING, "START": TaskState.RUNNING,
}
_JOB_ALIASES = {"SUCCESS": JobState.FINISHED, "FAILED": JobState.FINISHED, "SUCCEEDED": JobState.FINISHED,
                "STOPPED": JobState.FINISHED, "CANCELED": JobState.FINISHED, "INIT": JobState.PENDING}


def envelope(code: int, msg: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": {} if data is None else data}


def _state(value: Any, kind: type[StrEnum], aliases: dict[str, Any]) -> Any:
    if not isinstance(value, str):
        return None
    v = value.strip().upper()
    return kind(v) if v in kind.__members__ else aliases.get(v)


def task_state(value: Any) -> TaskState | None:
    """A task state from any vendor's spelling; None when it is none of them."""
    return _state(value, TaskState, _TASK_ALIASES)


def job_state(value: Any) -> JobState | None:
    """A job state; Kuscia's SUCCESS/FAILED are FINISHED."""
    return _state(value, JobState, _JOB_ALIASES)


def parse_reply(status: int, body: bytes) -> tuple[bool, Any, str, Any]:
    """(ok, code, message, data) of a peer's reply."""
    try:
        obj = jsonio.loads(body) if body else {}
    except ValueError as e:
        return False, status, f"HTTP {status}, body not acceptable JSON ({e}): {body[:200]!r}", None
    if not isinstance(obj, dict):
        return False, status, f"HTTP {status}, body not an object: {body[:200]!r}", None
    code = obj.get("code", status if status != 200 else 0)
    message = str(obj.get("msg") or obj.get("message") or obj.get("retmsg") or "")
    try:
        ok = int(code) in SUCCESS_CODES
    except (TypeError, ValueError):
        ok = False
    return ok and status < 400, code, message, obj.get("data")


def role_of(value: Any) -> str:
    """A role as peers send it ("guest.0", "guest", "" from FATE's poll) normalised to str."""
    return value.strip() if isinstance(value, str) else ""


def role_matches(party: str, role: str) -> bool:
    """Does party "guest.0" answer to `role`: "" (any, FATE's poll), "guest" (any index) or "guest.0"?"""
    return not role or party == role or ("." not in role and party.split(".", 1)[0] == role)
