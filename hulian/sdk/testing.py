"""Run every party of a component in one process, on the in-memory federation, for tests:

    reports = run_parties(my_component, {"guest.0": {"data": guest_csv}, "host.0": {"data": host_csv}},
                          params={"column": "x"}, workdir=tmp_path)

Each party gets its own storage under `workdir/<party id>` (its inputs copied there), parameters reach it
as the node would pass them (strings in the environment, parsed by the component's declaration), and the
same algorithm code runs unchanged between real nodes.
"""
from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hulian.data.storage import FileStorage
from hulian.federation import MemoryFederation, MemoryHub, Party
from hulian.sdk.context import TaskContext
from hulian.sdk.env import ComponentEnv, encode_parameter
from hulian.sdk.progress import Reporter

INPUT_NAMESPACE = "inputs"
TASK_ID, SESSION_ID = "task-test", "session_job-test"


class PartyFailed(RuntimeError):
    """A party's run raised; the original exception is the cause."""


def contexts(parties: Mapping[str, Mapping[str, Path]], workdir: Path, params: Mapping[str, Any] | None = None,
             name: str = "test", timeout: float = 60.0) -> dict[str, TaskContext]:
    """One TaskContext per party id ("guest.0": {input name: file}), sharing one in-memory hub."""
    hub = MemoryHub()
    everyone = [Party(pid, f"node-{pid}") for pid in sorted(parties)]
    raw = {k: encode_parameter(v) for k, v in (params or {}).items()}
    out = {}
    for party in everyone:
        storage = FileStorage(workdir / party.party_id)
        inputs = {}
        for key, path in parties[party.party_id].items():
            target = storage.output_path(INPUT_NAMESPACE, key)
            shutil.copyfile(path, target)
            inputs[key] = (INPUT_NAMESPACE, key)
        env = ComponentEnv(self_role=party.party_id, task_id=TASK_ID, session_id=SESSION_ID, component=name,
                           parties=tuple(everyone), parameters=raw, inputs=inputs, storage=storage.root.as_uri())
        out[party.party_id] = TaskContext(env, MemoryFederation(hub, party, everyone), storage,
                                          Reporter("", TASK_ID, party.party_id), timeout=timeout)
    return out


def run_parties(component: Callable[[TaskContext], Any], parties: Mapping[str, Mapping[str, Path]],
                workdir: Path, params: Mapping[str, Any] | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """Every party's report; PartyFailed naming the first party that raised (after all have stopped)."""
    ctxs = contexts(parties, workdir, params, getattr(component, "name", "test"), timeout)
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def one(pid: str) -> None:
        try:
            results[pid] = component(ctxs[pid])
        except BaseException as e:  # reported below, with the party's name
            errors[pid] = e
        finally:
            ctxs[pid].close()

    threads = [threading.Thread(target=one, args=(pid,), name=f"party-{pid}") for pid in ctxs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout * 4)
    if alive := [t.name for t in threads if t.is_alive()]:
        raise PartyFailed(f"{', '.join(alive)} still running after {timeout * 4:g} s")
    if errors:
        pid, error = sorted(errors.items())[0]
        raise PartyFailed(f"{pid}: {type(error).__name__}: {error}") from error
    return results
