"""A real FATE-Flow 2.2.0 site from the peer kit (`../shared/interop/fateflow`): lay it out, start it as a process
group on loopback, register the provider its jobs name, and read both of its views of a job (scheduler, party)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
KIT = Path(os.environ.get("HULIAN_FATEFLOW_KIT") or REPO.parent / "shared" / "interop" / "fateflow")
SETUP_SECONDS = 900  # a fresh venv: pip install fate-flow==2.2.0 (about a minute on a quiet line)


class KitUnavailable(Exception):
    """Python 3.11, the kit or the fate-flow package cannot be had: the tests skip (fail under CI=true)."""


def lay_out(directory: Path) -> Path:
    """Run the kit's setup.sh into `directory` (idempotent: the venv is reused, the source tree and database
    are laid out afresh). Raises KitUnavailable naming what is missing."""
    if not (KIT / "setup.sh").is_file():
        raise KitUnavailable(f"the FATE-Flow peer kit is not at {KIT} (set HULIAN_FATEFLOW_KIT)")
    python = os.environ.get("PYTHON311") or shutil.which("python3.11")
    if not python:
        raise KitUnavailable("python3.11 is not on PATH (FATE-Flow 2.2.0 needs it; or set PYTHON311)")
    directory.mkdir(parents=True, exist_ok=True)
    try:
        out = subprocess.run(["bash", str(KIT / "setup.sh"), str(directory)], capture_output=True, text=True,
                             timeout=SETUP_SECONDS, env={**os.environ, "PYTHON311": python})
    except subprocess.TimeoutExpired:
        raise KitUnavailable(f"the kit's setup.sh did not finish within {SETUP_SECONDS}s") from None
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-15:])
        raise KitUnavailable(f"the kit's setup.sh failed (exit {out.returncode}):\n{tail}")
    return directory


def free_http_port() -> int:
    """A free port P whose P-20 is free too: FATE-Flow serves gRPC on its HTTP port minus 20."""
    for _ in range(200):
        with contextlib.ExitStack() as stack:
            a, b = (stack.enter_context(socket.socket()) for _ in range(2))
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port < 1044:
                continue
            try:
                b.bind(("127.0.0.1", port - 20))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair (P, P-20) for FATE-Flow")


class FateFlow:
    """One FATE-Flow process (its own process group: the stand-in's "containers" are its children)."""

    def __init__(self, kit_dir: Path, party_id: str, routes: dict[str, str], port: int | None = None,
                 env: dict[str, str] | None = None, log_dir: Path | None = None):
        self.kit_dir, self.party_id, self.routes = kit_dir, party_id, routes
        self.port = port or free_http_port()
        self.routes.setdefault(party_id, f"127.0.0.1:{self.port}")
        self.env = {"FAKE_ALGO_SECONDS": "1", **(env or {})}
        self.log = (log_dir or kit_dir) / f"fateflow-{party_id}-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.http = httpx.Client(base_url=self.url, timeout=15.0, trust_env=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> FateFlow:
        self._callbacks_to_own_port()
        routes = ",".join(f"{k}={v}" for k, v in self.routes.items())
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([str(self.kit_dir / "start.sh"), self.party_id, str(self.port), routes],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **self.env}, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"FATE-Flow {self.party_id} exited ({self.proc.returncode}); see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/v2/server/fateflow", timeout=2.0).json().get("code") == 0:
                    return self
            time.sleep(0.2)
        raise TimeoutError(f"FATE-Flow {self.party_id} not up on :{self.port} within {timeout}s; see {self.log}")

    def _callbacks_to_own_port(self) -> None:
        """FATE-Flow's BFIA adapter hard-codes its containers' `system.callback` as http://127.0.0.1:9380, which
        start.sh leaves as is; point it at this process's port so tests can use any free port."""
        settings = self.kit_dir / "src/fate_flow/python/fate_flow/adapter/bfia/settings.py"
        text = re.sub(r'^CALLBACK_ADDRESS = .*$', f'CALLBACK_ADDRESS = "{self.url}"', settings.read_text(),
                      flags=re.M)
        settings.write_text(text)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group (FATE-Flow and its task processes), SIGKILL what is left after `timeout`."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError):  # its task processes too, whether or not it is gone
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.proc = None

    def call(self, path: str, body: dict[str, Any], method: str = "POST") -> dict[str, Any]:
        """A reply of FATE-Flow that must be a success (it answers errors as HTTP 200 with a non-zero code)."""
        r = self.http.request(method, path, content=json.dumps(body), headers={"content-type": "application/json"})
        reply = r.json()
        assert r.status_code == 200 and reply.get("code") == 0, f"FATE-Flow {method} {path}: {r.status_code} {reply}"
        return reply

    def register_provider(self, descriptions: dict[str, dict[str, Any]]) -> None:
        """FATE-Flow reads a task's roleList from its provider: one per component name its jobs use."""
        body = json.loads((KIT / "example_provider_register.json").read_text())
        body["components_description"] = descriptions
        self.call("/v2/provider/register", body)

    # ---- its views of a job -------------------------------------------------------------------------------------
    def scheduled(self, job_id: str) -> dict[str, Any]:
        """The scheduler's view (it schedules the jobs it initiates): {job_status, status: {task_name: state}}."""
        return self.call("/v1/interconn/schedule/job/status_all", {"job_id": job_id}, "GET").get("data") or {}

    def party_job(self, job_id: str, flow_id: str) -> str | None:
        """This site's own (party) state of the job."""
        return (self.call("/v1/platform/schedule/job/query_job_list", {"flow_id": flow_id}, "GET")
                .get("job_list") or {}).get(job_id)

    def party_tasks(self, job_id: str) -> dict[str, str]:
        """This site's own state of each task, keyed by task id."""
        return self.call("/v1/platform/schedule/job/status_all", {"job_id": job_id}, "GET").get("status") or {}

    def submit(self, dag: dict[str, Any], conf: dict[str, Any], flow_id: str) -> str:
        """A job this site initiates, and so schedules."""
        return self.call("/v1/platform/schedule/job/create_all", {"dag": dag, "config": conf, "flow_id": flow_id})[
            "data"]["job_id"]

    def stop_job(self, job_id: str) -> None:
        self.call("/v1/platform/schedule/job/stop_all", {"job_id": job_id})
