"""Errors of the control plane and their codes in the `{code, msg, data}` envelope (docs/control.md).

The spec fixes only success (0); the non-zero codes are ours, grouped like HTTP statuses so a reader can guess
them. Every message names the offending field or id and what to do.
"""
from __future__ import annotations


class ControlError(Exception):
    """Base: `code` goes into the envelope, `http_status` onto the response."""

    code = 5000
    http_status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _error(name: str, code: int, http_status: int, doc: str) -> type[ControlError]:
    return type(name, (ControlError,), {"code": code, "http_status": http_status, "__doc__": doc})


BadRequest = _error("BadRequest", 4000, 400, "Body or query is not what the endpoint takes (names the field).")
InvalidJob = _error("InvalidJob", 4001, 400, "DAG or CONF refused (names the field path).")
UnknownComponent = _error("UnknownComponent", 4002, 400, "A DAG component is not registered on this node.")
Forbidden = _error("Forbidden", 4003, 403, "Caller not authenticated, or not a party of the job.")
JobNotFound = _error("JobNotFound", 4004, 404, "No job with this job_id here.")
TaskNotFound = _error("TaskNotFound", 4005, 404, "No task with this task_id or task_name here.")
RouteNotFound = _error("RouteNotFound", 4006, 404, "No such path, or method not allowed.")
JobConflict = _error("JobConflict", 4009, 409, "job_id exists with a different DAG/CONF.")
IllegalState = _error("IllegalState", 4010, 409, "The job's state forbids this (e.g. task/start on a FINISHED job).")
NotScheduler = _error("NotScheduler", 4011, 400, "This node is not the job's scheduler.")
InternalError = _error("InternalError", 5000, 500, "Unexpected failure; the node log has the traceback.")
NoComponentLayer = _error("NoComponentLayer", 5001, 503, "This node runs no component layer.")
PeerRefused = _error("PeerRefused", 5002, 502, "A peer answered with an error (its code and message are quoted).")
PeerUnreachable = _error("PeerUnreachable", 5004, 504, "A peer did not answer within the timeout and retries.")

ALL: tuple[type[ControlError], ...] = (BadRequest, InvalidJob, UnknownComponent, Forbidden, JobNotFound,
                                       TaskNotFound, RouteNotFound, JobConflict, IllegalState, NotScheduler,
                                       InternalError, NoComponentLayer, PeerRefused, PeerUnreachable)
