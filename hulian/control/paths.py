"""Paths of the control spec (CTL §3-5) and hulian's one extension."""
from __future__ import annotations

EW = "/v1/interconn/schedule"
NS = "/v1/platform/schedule"

CREATE_ALL = f"{EW}/job/create_all"
CREATE = f"{EW}/job/create"
START_JOB = f"{EW}/job/start"
START_TASK = f"{EW}/task/start"
STOP_ALL = f"{EW}/job/stop_all"
STOP = f"{EW}/job/stop"
STATUS_ALL = f"{EW}/job/status_all"
POLL = f"{EW}/task/poll"
CALLBACK = f"{EW}/task/callback"
AUDIT_CONFIRM = f"{EW}/job/audit_confirm"
TASK_STOP = f"{EW}/task/stop"  # Kuscia's extra: stop one task by task_id
TASK_LOG = f"{EW}/task/get_log"  # hulian extension: a party's task log, for the initiator's get_log


def _ns(east_west: str) -> str:
    """The north-south twin of an east-west call: the same tail under the platform's prefix."""
    return east_west.replace(EW, NS, 1)


NS_CREATE_ALL = _ns(CREATE_ALL)
NS_STOP_ALL = _ns(STOP_ALL)
NS_STATUS_ALL = _ns(STATUS_ALL)
NS_LOG = _ns(TASK_LOG)
NS_CALLBACK = _ns(CALLBACK)
NS_LOG_LINE = f"{NS}/task/get_log_line"
NS_JOB_LIST = f"{NS}/job/query_job_list"
NS_STOP_TASK = f"{NS}/job/stop_task"
NS_REGISTER = "/v1/platform/component/register"

PREFIXES = (EW, "/v1/platform/")
NS_DATASET_UPLOAD = "/v1/platform/dataset/upload"  # hulian extension: `hulian data add`
NS_DATASET_LIST = "/v1/platform/dataset/list"  # hulian extension
