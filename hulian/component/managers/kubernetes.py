"""Kubernetes: one Job per run (`backoffLimit: 0`: retries are the service's decision, made only when a run
is gone without a result), its pod's image pinned by digest so the kubelet runs exactly what was
registered. `job_manifest` is the whole decision (a plain dict the client accepts as a body), so it is
tested without a cluster. Timeouts are enforced twice: `activeDeadlineSeconds` in the cluster and the
service's own deadline. Credentials in the environment (the session token, a storage password) are not written
into the Job: they live in a Secret of the same name that the Job owns, so deleting the Job deletes them.
"""
from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any

from hulian.component.env import is_secret
from hulian.component.images import LABELS, ImageError, pinned_image
from hulian.component.managers import base as b
from hulian.component.registry import Registration

LABEL_PREFIX = "hulian.org/"
TTL_AFTER_FINISHED = 24 * 3600


def job_name(task_id: str, role: str) -> str:
    """A DNS-1123 label (<= 63 chars): readable prefix plus a hash of (task, role) for uniqueness."""
    digest = hashlib.sha256(f"{task_id}\0{role}".encode()).hexdigest()[:10]
    readable = re.sub(r"[^a-z0-9-]", "-", f"{task_id}-{role}".lower()).strip("-")[:40].strip("-")
    return f"hulian-{readable}-{digest}"


def label_value(value: str) -> str:
    """A valid label value (<= 63 chars of [A-Za-z0-9_.-], alphanumeric at both ends)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value)[:63].strip("_.-")


def _quantity_mi(mb: int) -> str:
    return f"{mb}Mi"


class KubernetesManager(b.ImageManager):
    kind = "kubernetes"

    def __init__(self, namespace: str = "default", batch_api: Any = None, core_api: Any = None,
                 service_account: str | None = None, verify_signature: b.SignatureVerifier | None = None):
        super().__init__(verify_signature)
        self.namespace = namespace
        self._batch, self._core = batch_api, core_api
        self.service_account = service_account

    async def prepare(self, registration: Registration) -> None:
        """The kubelet pulls by digest, so content is verified there; here: a digest is pinned, and the
        signature hook (when configured) accepts the image."""
        ref = pinned_image(registration.image, registration.digest)
        if self.verify_signature is not None:
            await asyncio.to_thread(self.verify_signature, str(ref), registration.digest)

    def _apis(self) -> tuple[Any, Any]:
        if self._batch is None or self._core is None:
            try:
                from kubernetes import client, config
            except ImportError:
                raise ImageError("components.manager kubernetes needs the client: pip install 'hulian[kubernetes]'"
                                 ) from None
            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
            self._batch, self._core = client.BatchV1Api(), client.CoreV1Api()
        return self._batch, self._core

    def secret_manifest(self, spec: b.RunSpec) -> dict[str, Any]:
        """The Secret holding the run's credentials (named as its Job)."""
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": job_name(spec.task_id, spec.role), "namespace": self.namespace,
                             "labels": self._labels(spec)},
                "stringData": {k: v for k, v in spec.env.items() if is_secret(k, v)}}

    @staticmethod
    def _labels(spec: b.RunSpec) -> dict[str, str]:
        return {f"{LABEL_PREFIX}task-id": label_value(spec.task_id), f"{LABEL_PREFIX}role": label_value(spec.role),
                f"{LABEL_PREFIX}component": label_value(spec.registration.name),
                "app.kubernetes.io/managed-by": "hulian"}

    def job_manifest(self, spec: b.RunSpec) -> dict[str, Any]:
        reg = spec.registration
        ref = pinned_image(reg.image, reg.digest)
        name = job_name(spec.task_id, spec.role)
        res = spec.resources
        limits: dict[str, str] = {}
        if res.cpu > 0:
            limits["cpu"] = f"{int(res.cpu * 1000)}m"
        if res.memory > 0:
            limits["memory"] = _quantity_mi(res.memory)
        if res.disk > 0:
            limits["ephemeral-storage"] = _quantity_mi(res.disk)
        labels = self._labels(spec)
        annotations = {f"{LABEL_PREFIX}{k}": v for k, v in reg.labels.items() if k in LABELS}
        annotations[f"{LABEL_PREFIX}task-id"] = spec.task_id
        log_dir = b.log_dir_in_container(reg)
        volumes = [{"name": "logs", "emptyDir": {}}]
        mounts = [{"name": "logs", "mountPath": log_dir}]
        if reg.labels.get("uds_dir"):
            volumes.append({"name": "uds", "emptyDir": {}})
            mounts.append({"name": "uds", "mountPath": reg.labels["uds_dir"]})
        container: dict[str, Any] = {
            "name": "component",
            "image": ref.pinned(reg.digest),
            "imagePullPolicy": "IfNotPresent",
            "env": [{"name": k, "valueFrom": {"secretKeyRef": {"name": name, "key": k}}} if is_secret(k, v)
                    else {"name": k, "value": v} for k, v in sorted(spec.env.items())],
            "resources": {"limits": limits, "requests": dict(limits)},
            "volumeMounts": mounts,
        }
        if reg.labels.get("port"):
            container["ports"] = [{"containerPort": int(reg.labels["port"]), "protocol": "TCP"}]
        pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container], "volumes": volumes}
        if self.service_account:
            pod_spec["serviceAccountName"] = self.service_account
        job_spec: dict[str, Any] = {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec},
        }
        if spec.timeout_seconds > 0:
            job_spec["activeDeadlineSeconds"] = int(spec.timeout_seconds) + 1
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels, "annotations": annotations},
            "spec": job_spec,
        }

    async def start(self, spec: b.RunSpec) -> b.Handle:
        manifest, secret = self.job_manifest(spec), self.secret_manifest(spec)
        name = manifest["metadata"]["name"]

        def create() -> None:
            batch, core = self._apis()
            if secret["stringData"]:
                core.create_namespaced_secret(self.namespace, secret)
            try:
                job = batch.create_namespaced_job(self.namespace, manifest)
            except Exception:
                if secret["stringData"]:
                    core.delete_namespaced_secret(name, self.namespace)
                raise
            if secret["stringData"]:  # the Job owns its Secret: deleting the Job (kill, TTL) deletes it too
                owner = {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job.metadata.uid}
                core.patch_namespaced_secret(name, self.namespace, {"metadata": {"ownerReferences": [owner]}})

        await asyncio.to_thread(create)
        return {"job": name, "namespace": self.namespace, "task_dir": str(spec.task_dir)}

    def _pod(self, handle: b.Handle) -> Any | None:
        _, core = self._apis()
        pods = core.list_namespaced_pod(handle["namespace"], label_selector=f"job-name={handle['job']}").items
        return pods[0] if pods else None

    def _poll(self, handle: b.Handle) -> b.Poll:
        batch, _ = self._apis()
        try:
            job = batch.read_namespaced_job(handle["job"], handle["namespace"])
        except Exception as e:
            if getattr(e, "status", None) == 404:
                return b.Poll(b.PollKind.GONE, message="the component's Job was deleted before it ended")
            raise
        status = job.status
        if not (status.succeeded or status.failed):
            return b.Poll(b.PollKind.RUNNING)
        if status.succeeded:
            return b.Poll(b.PollKind.EXITED, 0)
        pod = self._pod(handle)
        code, message = 1, "the Job failed"
        if pod is not None:
            for cs in pod.status.container_statuses or ():
                term = cs.state.terminated if cs.state else None
                if term is not None:
                    code = int(term.exit_code or 1)
                    message = term.message or term.reason or message
            try:
                tail = self._core.read_namespaced_pod_log(pod.metadata.name, handle["namespace"], tail_lines=20)
                message = b.last_lines(tail) or message
            except Exception:  # the log is a courtesy: the exit code already decides
                pass
        for cond in status.conditions or ():
            if cond.type == "Failed" and cond.reason == "DeadlineExceeded":
                message = f"deadline exceeded ({message})"
        return b.Poll(b.PollKind.EXITED, code, message)

    async def poll(self, handle: b.Handle) -> b.Poll:
        return await asyncio.to_thread(self._poll, handle)

    async def kill(self, handle: b.Handle, grace_seconds: float) -> None:
        body = {"propagationPolicy": "Background", "gracePeriodSeconds": max(1, int(grace_seconds))}

        def delete() -> None:
            try:
                self._apis()[0].delete_namespaced_job(handle["job"], handle["namespace"], body=body)
            except Exception as e:
                if getattr(e, "status", None) != 404:
                    raise

        await asyncio.to_thread(delete)

    async def collect(self, handle: b.Handle, log_path: Path) -> None:
        def fetch() -> None:
            pod = self._pod(handle)
            if pod is None:
                return
            text = self._core.read_namespaced_pod_log(pod.metadata.name, handle["namespace"])
            with log_path.open("a") as f:
                f.write(text)

        await asyncio.to_thread(fetch)
