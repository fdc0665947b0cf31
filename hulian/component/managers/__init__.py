"""Container managers: where a component runs (local process, Docker, Kubernetes), behind one interface."""
from __future__ import annotations

from hulian.component.managers.base import ContainerManager, Poll, PollKind, RunSpec
from hulian.core.config import NodeConfig

__all__ = ["ContainerManager", "Poll", "PollKind", "RunSpec", "make_manager"]


def make_manager(config: NodeConfig) -> ContainerManager:
    """The manager `components.manager` names."""
    kind = config.components.manager
    if kind == "process":
        from hulian.component.managers.process import ProcessManager

        return ProcessManager(config.components.python)
    if kind == "docker":
        from hulian.component.managers.docker import DockerManager

        return DockerManager(network=config.components.docker_network)
    if kind == "kubernetes":
        from hulian.component.managers.kubernetes import KubernetesManager

        return KubernetesManager(namespace=config.components.kubernetes_namespace)
    raise ValueError(f"components.manager {kind!r} is unknown; use process, docker or kubernetes")
