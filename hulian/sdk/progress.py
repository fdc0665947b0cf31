"""Progress and metrics of a running task, sent to the node (`system.callback`, status RUNNING) so that they
show in the job's status and the CLI. Reporting never fails the task: a node that cannot be told is logged."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from hulian.sdk.reported import check_metrics, check_progress
from hulian.wire import headers as H

log = logging.getLogger("hulian.sdk")
MIN_INTERVAL = 1.0   # seconds between two reports; the last one of a run is always sent
TIMEOUT = 5.0


class Reporter:
    def __init__(self, callback: str, task_id: str, role: str, session_id: str = "", token: str = "",
                 ca_file: str | None = None):
        self._url, self._body = callback, {"task_id": task_id, "role": role, "status": "RUNNING"}
        self._headers = {H.SESSION_ID: session_id, H.TOKEN: token} if token else {}
        self._verify: str | bool = ca_file or True
        self._metrics: dict[str, Any] = {}
        self._last = 0.0
        self._unsent = False
        self._lock = threading.Lock()

    def report(self, progress: float | None = None, **metrics: float | int | str) -> None:
        """Record `progress` (0..1) and `metrics`; sent at most once a second (`flush` sends the rest)."""
        check_progress(progress)  # the node's rules, here: one bad value would make it refuse every later report
        with self._lock:
            self._metrics.update(check_metrics({**self._metrics, **metrics}))
            if progress is not None:
                self._body["progress"] = progress
            self._unsent = True
        self._send(force=False)

    def flush(self) -> None:
        """Send what was recorded and not sent yet (at the end of a run)."""
        self._send(force=True)

    def _send(self, force: bool) -> None:
        with self._lock:
            now = time.monotonic()
            if not self._url or not self._unsent or (not force and now - self._last < MIN_INTERVAL):
                return
            self._last, self._unsent = now, False
            body = {**self._body, "metrics": dict(self._metrics)}
        try:
            httpx.post(self._url, json=body, headers=self._headers, verify=self._verify, timeout=TIMEOUT,
                       trust_env=False).raise_for_status()
        except httpx.HTTPError as e:
            log.warning("progress not reported to %s: %s", self._url, e)

    @property
    def metrics(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._metrics)
