"""Docker and Kubernetes: the container spec and Job manifest, image verification, and the service driving a
manager (fake clients: no daemon or cluster needed)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from hulian.component.images import ImageError
from hulian.component.launch import Resources, TaskState
from hulian.component.managers.base import PollKind, RunSpec
from hulian.component.managers.docker import DockerManager, container_name, verify_digest
from hulian.component.managers.kubernetes import KubernetesManager, job_name
from hulian.component.registry import Registration
from hulian.component.service import ComponentService
from tests.component.conftest import Recorder, description, launch

DIGEST = "sha256:" + "cd" * 32
LABELS = {"log_dir": "/home/admin/app/logs", "port": "8080", "uds_dir": "/var/uds"}


def _spec(tmp_path: Path, **kw) -> RunSpec:
    reg = Registration(description("lr"), "/fudata/hetero-lr:1.0.1", DIGEST, dict(LABELS))
    base = dict(task_id="job1_lr_0", role="guest.0", registration=reg,
                env={"config.task_id": "job1_lr_0", "config.token": "t"}, task_dir=tmp_path / "t",
                resources=Resources(cpu=2, memory=4096, disk=1024), timeout_seconds=600)
    base.update(kw)
    return RunSpec(**base)


def test_docker_container_spec(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    kw = DockerManager(client=object(), network="hulian").container_spec(spec)
    assert kw["image"] == f"fudata/hetero-lr@{DIGEST}"
    assert kw["name"] == container_name("job1_lr_0", "guest.0") == "hulian-job1_lr_0-guest.0"
    assert kw["detach"] is True and kw["environment"] == spec.env
    assert kw["labels"]["org.hulian.task_id"] == "job1_lr_0"
    assert {k: kw["labels"][k] for k in LABELS} == LABELS
    assert kw["volumes"][str(tmp_path / "t" / "logs")]["bind"] == "/home/admin/app/logs"
    assert kw["volumes"][str(tmp_path / "t" / "uds")]["bind"] == "/var/uds"
    assert kw["nano_cpus"] == 2_000_000_000 and kw["mem_limit"] == "4096m" and kw["memswap_limit"] == "4096m"
    assert kw["storage_opt"] == {"size": "1024M"} and kw["ports"] == {"8080/tcp": None}
    assert kw["network"] == "hulian" and kw["restart_policy"] == {"Name": "no"}
    unlimited = DockerManager(client=object()).container_spec(_spec(tmp_path, resources=Resources()))
    assert not {"nano_cpus", "mem_limit", "storage_opt", "network"} & set(unlimited)


def test_docker_digest_verification() -> None:
    verify_digest({"Id": "sha256:" + "00" * 32, "RepoDigests": [f"fudata/hetero-lr@{DIGEST}"]}, DIGEST, "x")
    verify_digest({"Id": DIGEST}, DIGEST, "x")
    with pytest.raises(ImageError, match="mismatch"):
        verify_digest({"Id": "sha256:" + "00" * 32, "RepoDigests": []}, DIGEST, "x")
    with pytest.raises(ImageError, match="no sha256 digest"):
        asyncio.run(DockerManager(client=object()).prepare(Registration(description("lr"), "/fudata/lr:1.0.0")))


def test_kubernetes_job_manifest(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    job = KubernetesManager(namespace="privacy").job_manifest(spec)
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    name = job["metadata"]["name"]
    assert name == job_name("job1_lr_0", "guest.0") and len(name) <= 63 and name.startswith("hulian-job1-lr-0-guest-0")
    assert job["metadata"]["namespace"] == "privacy"
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 601
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (c,) = pod["containers"]
    assert c["image"] == f"fudata/hetero-lr@{DIGEST}"
    assert {e["name"]: e["value"] for e in c["env"]} == spec.env
    assert c["resources"]["limits"] == {"cpu": "2000m", "memory": "4096Mi", "ephemeral-storage": "1024Mi"}
    assert c["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/home/admin/app/logs", "/var/uds"}
    assert job["metadata"]["annotations"]["hulian.org/log_dir"] == "/home/admin/app/logs"
    assert job_name("a" * 80, "guest.0") != job_name("a" * 80, "host.0")
    unpinned = _spec(tmp_path, registration=Registration(description("lr"), "/fudata/hetero-lr:1.0.1"))
    with pytest.raises(ImageError, match="digest"):
        KubernetesManager().job_manifest(unpinned)


class FakeNotFound(Exception):
    pass


class NotFound(FakeNotFound):  # named as docker.errors.NotFound, which the manager recognises by name
    pass


class FakeDocker:
    """Just enough of the docker SDK: images.get/pull, containers.run/get."""

    def __init__(self, image_digest: str) -> None:
        self.image = SimpleNamespace(attrs={"Id": "sha256:" + "11" * 32,
                                            "RepoDigests": [f"fudata/hetero-lr@{image_digest}"]})
        self.runs: list[dict] = []
        self.container = SimpleNamespace(id="c1", status="running", attrs={"State": {"Running": True}},
                                         logs=lambda **kw: b"line one\nfatal: bad parameter\n",
                                         stop=lambda timeout: None, remove=lambda force: None)
        self.images = SimpleNamespace(get=self._get_image, pull=lambda ref: self.image)
        self.containers = SimpleNamespace(run=self._run, get=lambda cid: self.container)

    def _get_image(self, ref: str):
        if not self.runs and ref.startswith("missing"):
            raise NotFound(ref)
        return self.image

    def _run(self, **kw):
        self.runs.append(kw)
        return self.container


def _state(service: ComponentService, name: str) -> str:
    return next(c["state"] for c in service.components() if c["description"]["componentName"] == name)


@asynccontextmanager
async def docker_service(config, db, fake: FakeDocker) -> AsyncIterator[tuple[ComponentService, Recorder]]:
    """A started service on the fake daemon, with the `lr` image registered."""
    rec = Recorder()
    service = ComponentService(config, db, rec, manager=DockerManager(client=fake))
    await service.start()
    try:
        await service.register_image(description("lr"), "/fudata/hetero-lr:1.0.1", DIGEST, LABELS)
        yield service, rec
    finally:
        await service.close()


async def test_service_runs_a_docker_component(config, db) -> None:
    fake = FakeDocker(DIGEST)
    async with docker_service(config, db, fake) as (service, rec):
        await service.start(launch("t-docker", "lr"))
        await rec.wait("t-docker", TaskState.RUNNING)
        (run_kw,) = fake.runs
        assert run_kw["environment"]["config.log.path"] == "/home/admin/app/logs"
        assert run_kw["environment"]["config.token"]  # minted for the session
        assert _state(service, "lr") == "LOADED"
        fake.container.status, fake.container.attrs = "exited", {"State": {"Running": False, "ExitCode": 2}}
        message = (await rec.wait("t-docker", TaskState.FAILED, timeout=5))[3]
        assert "fatal: bad parameter" in message
        assert (await DockerManager(client=fake).poll({"container_id": "c1"})).kind == PollKind.EXITED


async def test_docker_refuses_a_tampered_image(config, db) -> None:
    fake = FakeDocker("sha256:" + "ee" * 32)  # the registry now serves other content
    async with docker_service(config, db, fake) as (service, rec):
        await service.start(launch("t-tamper", "lr"))
        message = (await rec.wait("t-tamper", TaskState.FAILED, timeout=5))[3]
        assert "digest mismatch" in message and not fake.runs
        assert _state(service, "lr") == "FAILED"


async def test_signature_hook_is_called(tmp_path: Path) -> None:
    seen = []
    manager = DockerManager(client=FakeDocker(DIGEST), verify_signature=lambda ref, d: seen.append((ref, d)))
    await manager.prepare(_spec(tmp_path).registration)
    assert seen == [("fudata/hetero-lr:1.0.1", DIGEST)]


async def test_kubernetes_prepare_needs_a_digest_and_calls_the_hook(tmp_path: Path) -> None:
    seen = []
    manager = KubernetesManager(verify_signature=lambda ref, d: seen.append(ref))
    await manager.prepare(_spec(tmp_path).registration)
    assert seen == ["fudata/hetero-lr:1.0.1"]
    with pytest.raises(ImageError, match="digest"):
        await manager.prepare(Registration(description("lr"), "/fudata/hetero-lr:1.0.1"))
