"""A stand-in HTTP server that answers the control routes exactly as FATE-Flow 2.2.0 does, as observed in the
issue 12 run and written down in /work/shared/reference/bfia_api.md §1.5 (the real FATE-Flow is exercised by
tests/fateflow/): not a model of our own components.

- `status_all` is served as GET only and reads `job_id` from the JSON body: a POST is answered HTTP 200
  `{"code": 6000, "message": "<MethodNotAllowed '405: Method Not Allowed'>"}`, a GET without the body
  `{"code": 5001, "message": "...Missing data for required field..."}`;
- every other call is answered `{"code": 0, "message": "success"}` (no `data`); `task/poll` answers the state
  the test sets (with `data`);
- an unknown path gets an HTML 404, as Flask gives.
`flavour="kuscia"` answers `status_all` as Kuscia does instead (GET `?job_id=`; POST gets HTTP 405);
`flavour="spec"` as the spec v1.2 says (POST with the query; GET gets HTTP 405).
The server can be stopped and started again on the same port (a partner down for a while).
"""
from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hulian.control import paths as P


class FateStandIn:
    def __init__(self, flavour: str = "fate"):
        self.flavour = flavour
        self.calls: list[tuple[str, str, dict[str, str], Any, dict[str, str]]] = []  # method, path, query, body, hdr
        self.jobs: dict[str, dict[str, Any]] = {}  # job_id -> status_all data
        self.task_state = "RUNNING"
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FateStandIn:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def paths(self, method: str | None = None) -> list[str]:
        with self._lock:
            return [c[1] for c in self.calls if method is None or c[0] == method]

    def bodies(self, path: str) -> list[Any]:
        with self._lock:
            return [c[3] for c in self.calls if c[1] == path]

    def answer(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if path == P.STATUS_ALL:
            return self._status_all(method, query, body)
        if not path.startswith(P.EW):
            return 404, "<!doctype html><title>404 Not Found</title>"
        if path == P.POLL:
            return 200, {"code": 0, "message": "success", "data": {"status": self.task_state}}
        return 200, {"code": 0, "message": "success"}

    def _status_all(self, method: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if self.flavour == "fate":
            if method != "GET":
                return 200, {"code": 6000, "message": "<MethodNotAllowed '405: Method Not Allowed'>"}
            job_id = body.get("job_id") if isinstance(body, dict) else None
            if not job_id:
                return 200, {"code": 5001, "message": "{'json': {'job_id': ['Missing data for required field.']}}"}
        else:
            wanted = "GET" if self.flavour == "kuscia" else "POST"
            if method != wanted:
                return 405, "<!doctype html><title>405 Method Not Allowed</title>"
            job_id = query.get("job_id")
        if job_id not in self.jobs:
            return 200, {"code": 1000, "message": f"job {job_id} not found"}
        return 200, {"code": 0, "message": "success", "data": self.jobs[job_id]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                query = dict(urllib.parse.parse_qsl(url.query))
                with standin._lock:
                    standin.calls.append((self.command, url.path, query, body, dict(self.headers)))
                status, reply = standin.answer(self.command, url.path, query, body)
                out = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", "text/html" if isinstance(reply, str) else "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
