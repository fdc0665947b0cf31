"""Structured logs: one JSON object per line, with the ids of the job/session when a line has them."""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

_CONTEXT_KEYS = ("node_id", "job_id", "task_id", "session_id", "trace_id")


class JsonFormatter(logging.Formatter):
    def __init__(self, node_id: str):
        super().__init__()
        self.node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "node_id": self.node_id, "msg": record.getMessage(),
        }
        for key in _CONTEXT_KEYS[1:]:
            if (value := getattr(record, key, None)) is not None:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def setup_logging(node_id: str, level: str = "INFO", file: Path | None = None) -> None:
    handler: logging.Handler = logging.FileHandler(file) if file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(node_id))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
