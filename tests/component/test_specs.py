"""Docker and Kubernetes: the container spec and Job manifest, image verification, and the service driving a
manager (fake clients: no daemon or cluster needed)."""
from __future__ import annotations

import asyncio
import threading
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
    env = {e["name"]: e for e in c["env"]}
    assert env["config.task_id"] == {"name": "config.task_id", "value": "job1_lr_0"}
    assert env["config.token"] == {"name": "config.token", "valueFrom": {"secretKeyRef": {"name": name,
                                                                                         "key": "config.token"}}}
    secret = KubernetesManager(namespace="privacy").secret_manifest(spec)
    assert secret["metadata"]["name"] == name and secret["stringData"] == {"config.token": "t"}
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
    await service.open()
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


async def test_an_image_pull_does_not_hold_up_other_tasks(config, db) -> None:
    """A slow registry: while one task's image is pulled, other starts and stops go on; a second task on the
    same image waits for that pull instead of pulling again."""
    fake = FakeDocker(DIGEST)
    released, pulls = threading.Event(), []

    def slow_pull(ref: str):
        pulls.append(ref)
        released.wait(10)
        return fake.image

    fake.images = SimpleNamespace(get=lambda ref: (_ for _ in ()).throw(NotFound(ref)), pull=slow_pull)
    async with docker_service(config, db, fake) as (service, rec):
        first = asyncio.create_task(service.start(launch("t-pull-1", "lr")))
        second = asyncio.create_task(service.start(launch("t-pull-2", "lr")))
        for _ in range(100):
            if pulls:
                break
            await asyncio.sleep(0.02)
        assert pulls  # the pull is under way (and blocked) while the stop below goes through
        await asyncio.wait_for(service.stop("t-other", "guest.0"), 2)  # not behind the pull
        assert await service.state("t-other", "guest.0") == (TaskState.PENDING, "")
        released.set()
        await asyncio.wait_for(asyncio.gather(first, second), 10)
        await rec.wait("t-pull-1", TaskState.RUNNING)
        await rec.wait("t-pull-2", TaskState.RUNNING)
        assert len(pulls) == 1 and len(fake.runs) == 2


async def test_signature_hook_is_called(tmp_path: Path) -> None:
    seen = []
    manager = DockerManager(client=FakeDocker(DIGEST), verify_signature=lambda ref, d: seen.append((ref, d)))
    await manager.prepare(_spec(tmp_path).registration)
    assert seen == [("fudata/hetero-lr:1.0.1", DIGEST)]


class FakeKubernetes:
    """Just enough of the kubernetes client's BatchV1Api and CoreV1Api for `start`, recording the calls."""

    def __init__(self, fail_job: bool = False) -> None:
        self.calls: list[tuple] = []
        self.fail_job = fail_job

    def create_namespaced_secret(self, namespace, body):
        self.calls.append(("create secret", body["metadata"]["name"], dict(body["stringData"])))

    def create_namespaced_job(self, namespace, body):
        if self.fail_job:
            raise RuntimeError("quota exceeded")
        self.calls.append(("create job", body["metadata"]["name"]))
        return SimpleNamespace(metadata=SimpleNamespace(uid="uid-1"))

    def patch_namespaced_secret(self, name, namespace, body):
        self.calls.append(("owner", name, body["metadata"]["ownerReferences"][0]["uid"]))

    def delete_namespaced_secret(self, name, namespace):
        self.calls.append(("delete secret", name))


async def test_kubernetes_start_keeps_credentials_in_a_secret_the_job_owns(tmp_path: Path) -> None:
    spec = _spec(tmp_path, env={"config.token": "tok", "system.storage": "s3://h:9000?username=u&password=pw&bucket=b",
                                "config.task_id": "job1_lr_0"})
    api = FakeKubernetes()
    handle = await KubernetesManager(batch_api=api, core_api=api).start(spec)
    name = handle["job"]
    assert api.calls == [("create secret", name, {"config.token": "tok", "system.storage": spec.env["system.storage"]}),
                         ("create job", name), ("owner", name, "uid-1")]
    failing = FakeKubernetes(fail_job=True)
    with pytest.raises(RuntimeError, match="quota"):
        await KubernetesManager(batch_api=failing, core_api=failing).start(spec)
    assert failing.calls[-1] == ("delete secret", name)  # no Secret is left behind by a Job that never was


async def test_kubernetes_prepare_needs_a_digest_and_calls_the_hook(tmp_path: Path) -> None:
    seen = []
    manager = KubernetesManager(verify_signature=lambda ref, d: seen.append(ref))
    await manager.prepare(_spec(tmp_path).registration)
    assert seen == ["fudata/hetero-lr:1.0.1"]
    with pytest.raises(ImageError, match="digest"):
        await manager.prepare(Registration(description("lr"), "/fudata/hetero-lr:1.0.1"))
