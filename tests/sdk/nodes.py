"""Run one algorithm function at every party of a task, each party in its own TaskContext on the PTP
federation of its own real node (threads of the test process, one per party)."""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from hulian.sdk import TaskContext
from hulian.sdk.env import ComponentEnv
from hulian.sdk.runner import context_for


def run_on_nodes(fn: Callable[[TaskContext], Any], roles: Mapping[str, Any], task: str,
                 timeout: float = 180.0) -> dict[str, Any]:
    """fn's report per party id; `roles` maps a party id ("guest.0") to its ClusterNode. Asserts no party raised."""
    common = {"config.session_id": f"session_{task}", "config.task_id": f"task-{task}",
              "system.storage": "file:///nonexistent",
              **{f"config.node_id.{r}": n.node_id for r, n in roles.items()},
              **{f"config.inst_id.{r}": f"inst-{i}" for i, r in enumerate(roles)}}
    ctxs = {role: context_for(ComponentEnv.read({
        **common, "system.transport": node.url.removeprefix("https://"), "config.transport_ca": node.ca_file,
        "config.token": node.admin_token, "config.self_role": role})) for role, node in roles.items()}
    reports: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def one(role: str) -> None:
        try:
            reports[role] = fn(ctxs[role])
        except BaseException as e:  # reported below
            errors[role] = e
        finally:
            ctxs[role].close()

    threads = [threading.Thread(target=one, args=(role,)) for role in ctxs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not [t for t in threads if t.is_alive()], f"a party still runs after {timeout:g} s"
    assert not errors, errors
    return reports
