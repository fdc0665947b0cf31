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

NS_CREATE_ALL = f"{NS}/job/create_all"
NS_STOP_ALL = f"{NS}/job/stop_all"
NS_STATUS_ALL = f"{NS}/job/status_all"
NS_LOG_LINE = f"{NS}/task/get_log_line"
NS_LOG = f"{NS}/task/get_log"
NS_JOB_LIST = f"{NS}/job/query_job_list"
NS_STOP_TASK = f"{NS}/job/stop_task"
NS_CALLBACK = f"{NS}/task/callback"
NS_REGISTER = "/v1/platform/component/register"

PREFIXES = (EW, "/v1/platform/")
NS_DATASET_UPLOAD = "/v1/platform/dataset/upload"  # hulian extension: `hulian data add`
NS_DATASET_LIST = "/v1/platform/dataset/list"  # hulian extension
