"""How a component process runs: `python -m hulian.sdk <component name>` in the BFIA component environment.

Finds the component by its entry point (group `hulian.components`), builds the TaskContext once from the
environment (the only place it is read), runs this party's side, prints the JSON report on stdout and exits
0 — or prints "<name> failed: <why>" on stderr and exits 1. stdout and stderr are the task log; the component
layer turns the exit into the task's status.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points

from hulian.core import allocator
from hulian.data.storage import open_storage
from hulian.federation import FederationError
from hulian.federation.ptp import NodeSession, PtpFederation
from hulian.sdk.component import ENTRY_POINT_GROUP, Component
from hulian.sdk.context import TaskContext
from hulian.sdk.env import ComponentEnv
from hulian.sdk.progress import Reporter
from hulian.transport.iclink import LinkError

log = logging.getLogger("hulian.sdk")
# What a component's own failure looks like: one line in the task log. Anything else is a bug: traceback.
EXPECTED = (ValueError, OSError, FederationError, LinkError, TimeoutError)


class ComponentNotFound(LookupError):
    pass


def installed() -> dict[str, Component]:
    """Every component an installed distribution declares, by name; one that fails to load is logged and left
    out, so a broken package cannot stop the node."""
    found: dict[str, Component] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:  # a third party's import error must not stop the node
            log.warning("component entry point %s = %s does not load: %s: %s", ep.name, ep.value,
                        type(e).__name__, e)
            continue
        if not isinstance(obj, Component) or obj.name != ep.name:
            log.warning("entry point %s = %s is not a @component named %r; left out", ep.name, ep.value, ep.name)
            continue
        found[ep.name] = obj
    return found


def find(name: str) -> Component:
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        obj = ep.load()
        if isinstance(obj, Component):
            return obj
    raise ComponentNotFound(f"no component {name!r} is installed (entry-point group {ENTRY_POINT_GROUP}); "
                            "install its package where the node runs")


def context_for(env: ComponentEnv) -> TaskContext:
    """The context of a component run in a node's container: the PTP federation, the node's storage."""
    env.require("storage")
    node = NodeSession(env.transport, env.session_id, env.token, env.trace_id, env.transport_ca or None)
    local = env.local
    federation = PtpFederation(node, local, env.parties or (local,))
    reporter = Reporter(env.callback, env.task_id, env.self_role, env.session_id, env.token,
                        env.transport_ca or None)
    return TaskContext(env, federation, open_storage(env.storage), reporter)


def run(component: Component, environ: Mapping[str, str] = os.environ) -> int:
    """Run `component` in `environ`; the process's exit status."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    ctx = None
    try:
        allocator.tune(environ)
        ctx = context_for(ComponentEnv.read(environ))
        report = component(ctx)
        ctx.reporter.flush()
    except (*EXPECTED, *component.errors) as e:
        print(f"{component.name} failed: {e}", file=sys.stderr)
        return 1
    finally:
        if ctx is not None:
            ctx.close()
    print(json.dumps(report, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hulian.sdk <component name>", file=sys.stderr)
        return 2
    try:
        component = find(args[0])
    except ComponentNotFound as e:
        print(str(e), file=sys.stderr)
        return 1
    return run(component)
