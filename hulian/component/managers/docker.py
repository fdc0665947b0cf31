"""Docker: one container per run, from the registered image pinned by digest (`repo@sha256:...`).

`container_spec` is the whole decision (keyword arguments of docker SDK's `containers.run`), so it is
tested without a daemon. The image is verified before the first run: present (pulled by digest when not),
its digest equal to the one pinned at registration, and, when a verifier is configured, its signature
(e.g. a Notary/cosign check). The image labels `log_dir`, `port` and `uds_dir` say where the component
writes logs (mounted from the task directory, and given as `config.log.path`), which port it serves, and
where its unix sockets live (mounted from the task directory).
"""
from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from hulian.component.images import LABELS, ImageError, parse_image, pinned_image
from hulian.component.managers.base import (
    Handle,
    ImageManager,
    Poll,
    PollKind,
    RunSpec,
    SignatureVerifier,
    last_lines,
    log_dir_in_container,
)
from hulian.component.registry import Registration

LABEL_PREFIX = "org.hulian."


def container_name(task_id: str, role: str) -> str:
    """A Docker-valid, readable, unique name for (task, role)."""
    raw = f"hulian-{task_id}-{role}"
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", raw)[:200]


def run_labels(spec: RunSpec) -> dict[str, str]:
    reg = spec.registration
    labels = {f"{LABEL_PREFIX}task_id": spec.task_id, f"{LABEL_PREFIX}role": spec.role,
              f"{LABEL_PREFIX}component": reg.name, f"{LABEL_PREFIX}version": reg.version}
    return {**labels, **{k: v for k, v in reg.labels.items() if k in LABELS}}


def verify_digest(image_attrs: dict[str, Any], digest: str, ref: str) -> None:
    """The local image must be the pinned one: its id or one of its repository digests equals `digest`."""
    digests = {image_attrs.get("Id", "")} | {d.partition("@")[2] for d in image_attrs.get("RepoDigests") or ()}
    if digest not in digests:
        raise ImageError(f"image {ref}: digest mismatch, pinned {digest}, found {sorted(d for d in digests if d)}")


def not_found(e: BaseException) -> bool:
    """docker.errors.NotFound (ImageNotFound is one) without importing the SDK where it is absent."""
    return any(c.__name__ == "NotFound" for c in type(e).__mro__)


class DockerManager(ImageManager):
    kind = "docker"

    def __init__(self, client: Any = None, network: str | None = None,
                 verify_signature: SignatureVerifier | None = None):
        super().__init__(verify_signature)
        self._client = client
        self.network = network

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import docker
            except ImportError:
                raise ImageError("components.manager docker needs the docker SDK: pip install 'hulian[docker]'"
                                 ) from None
            self._client = docker.from_env()
        return self._client

    def container_spec(self, spec: RunSpec) -> dict[str, Any]:
        """Keyword arguments of `client.containers.run` for this run."""
        reg = spec.registration
        ref = parse_image(reg.image)
        res = spec.resources
        volumes = {str(spec.task_dir / "logs"): {"bind": log_dir_in_container(reg), "mode": "rw"}}
        if reg.labels.get("uds_dir"):
            volumes[str(spec.task_dir / "uds")] = {"bind": reg.labels["uds_dir"], "mode": "rw"}
        kwargs: dict[str, Any] = {
            "image": ref.pinned(reg.digest),
            "name": container_name(spec.task_id, spec.role),
            "detach": True,
            "environment": dict(spec.env),
            "labels": run_labels(spec),
            "volumes": volumes,
            "restart_policy": {"Name": "no"},
            "stdin_open": False,
        }
        if res.cpu > 0:
            kwargs["nano_cpus"] = int(res.cpu * 1e9)
        if res.memory > 0:
            kwargs["mem_limit"] = f"{res.memory}m"
            kwargs["memswap_limit"] = f"{res.memory}m"
        if res.disk > 0:
            kwargs["storage_opt"] = {"size": f"{res.disk}M"}
        if self.network:
            kwargs["network"] = self.network
        if reg.labels.get("port"):
            kwargs["ports"] = {f"{reg.labels['port']}/tcp": None}  # a free host port: no conflicts
        return kwargs

    async def prepare(self, registration: Registration) -> None:
        await asyncio.to_thread(self._prepare, registration)

    def _prepare(self, reg: Registration) -> None:
        ref = pinned_image(reg.image, reg.digest)  # refused before anything is pulled when unpinned
        pinned = ref.pinned(reg.digest)
        try:
            image = self.client.images.get(pinned)
        except Exception as e:
            if not not_found(e):
                raise
            image = self.client.images.pull(pinned)
        verify_digest(image.attrs, reg.digest, str(ref))
        if self.verify_signature is not None:
            self.verify_signature(str(ref), reg.digest)

    async def start(self, spec: RunSpec) -> Handle:
        kwargs = self.container_spec(spec)

        def run() -> Any:
            for sub in ("logs", "uds"):
                (spec.task_dir / sub).mkdir(parents=True, exist_ok=True)
            return self.client.containers.run(**kwargs)

        container = await asyncio.to_thread(run)
        return {"container_id": container.id, "name": kwargs["name"], "task_dir": str(spec.task_dir)}

    def _container(self, handle: Handle) -> Any | None:
        try:
            return self.client.containers.get(handle["container_id"])
        except Exception as e:
            if not_found(e):
                return None
            raise

    async def poll(self, handle: Handle) -> Poll:
        return await asyncio.to_thread(self._poll, handle)

    def _poll(self, handle: Handle) -> Poll:
        container = self._container(handle)
        if container is None:
            return Poll(PollKind.GONE, message="the component's container was removed before it ended")
        state = container.attrs.get("State", {})
        if state.get("Running") or container.status in ("created", "running", "restarting"):
            return Poll(PollKind.RUNNING)
        code = int(state.get("ExitCode", 1))
        message = ""
        if code:
            tail = container.logs(stdout=False, stderr=True, tail=20).decode("utf-8", "replace")
            message = last_lines(tail) or state.get("Error") or f"exit code {code}"
            if state.get("OOMKilled"):
                message = f"killed: out of memory ({message})"
        return Poll(PollKind.EXITED, code, message)

    async def kill(self, handle: Handle, grace_seconds: float) -> None:
        def stop() -> None:
            container = self._container(handle)
            if container is not None:
                container.stop(timeout=max(1, int(grace_seconds)))

        await asyncio.to_thread(stop)

    async def collect(self, handle: Handle, log_path: Path) -> None:
        def fetch() -> None:
            container = self._container(handle)
            if container is None:
                return
            with log_path.open("ab") as f:
                f.write(container.logs(stdout=True, stderr=True))
            container.remove(force=True)

        await asyncio.to_thread(fetch)
