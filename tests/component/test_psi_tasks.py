"""Two ECDH-PSI tasks of one job (one session) at once, each party run by its node's ComponentService
through two real hulian nodes: the task-scoped topics keep their messages apart, the environment built by
the component layer is enough for the component, and both tasks end SUCCESS with the right rows."""
from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from hulian.component.launch import TaskState
from hulian.component.service import ComponentService
from hulian.core.config import ComponentsConfig, StorageConfig, load_config
from hulian.data.registry import register_dataset
from hulian.data.registry import storage_url as node_storage_url
from hulian.data.storage import open_storage
from hulian.node.cluster import ClusterNode
from hulian.store.db import Database
from tests.component.conftest import Recorder, launch

pytestmark = pytest.mark.cluster


def _csv(path: Path, keys: list[str]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([["id", "row"], *([k, i] for i, k in enumerate(keys))])
    return path


def _service(node: ClusterNode, tmp_path: Path, storage_url: str) -> tuple[ComponentService, Recorder, Database]:
    """This node's component layer, in the test process, with the node's identity, secret and CA."""
    cfg = load_config(node.config)
    cfg = cfg.model_copy(update={
        "data_dir": tmp_path / node.node_id, "database_url": None,
        "storage": StorageConfig(url=storage_url),
        "components": ComponentsConfig(node_url=node.url, poll_interval_seconds=0.1)})
    cfg.data_dir.mkdir(parents=True)
    db = Database(cfg.db_url)
    rec = Recorder()
    return ComponentService(cfg, db, rec), rec, db


async def test_two_psi_tasks_of_one_session(make_cluster, tmp_path: Path) -> None:
    a, b = make_cluster(2)
    storage_url = (tmp_path / "storage").as_uri()
    services = [_service(n, tmp_path, storage_url) for n in (a, b)]
    storage = open_storage(node_storage_url(services[0][0].config))
    keys = {"g": [f"id{i}" for i in range(0, 300)], "h": [f"id{i}" for i in range(200, 500)],
            "g2": [f"id{i}" for i in range(0, 50)], "h2": [f"id{i}" for i in range(40, 90)]}
    for name, ks in keys.items():
        register_dataset(storage, "bench", name, _csv(tmp_path / f"{name}.csv", ks))
    parties, insts = {"guest.0": a.node_id, "host.0": b.node_id}, {"guest.0": a.inst_id, "host.0": b.inst_id}
    params = {"curve_type": "curve25519", "field_names": ["id"], "recv_timeout": 30}
    try:
        for service, _, _ in services:
            await service.open()
        for task, (g, h) in (("job1_psi_0", ("g", "h")), ("job1_psi_1", ("g2", "h2"))):
            for (service, _, _), role, data in ((services[0], "guest.0", g), (services[1], "host.0", h)):
                await service.start(launch(task, "ecdh_psi", role=role, parties=parties, insts=insts,
                                           parameters=params, timeout_seconds=90,
                                           inputs={"data": {"namespace": "bench", "name": data}},
                                           outputs={"result": {"namespace": "job1", "name": f"{task}-{role}"}}))
        for task in ("job1_psi_0", "job1_psi_1"):
            for _, rec, _ in services:
                await rec.wait(task, TaskState.SUCCESS, timeout=90)
        rows = storage.input_path("job1", "job1_psi_0-host.0").read_text().splitlines()
        assert len(rows) == 1 + 100
        rows = storage.input_path("job1", "job1_psi_1-guest.0").read_text().splitlines()
        assert len(rows) == 1 + 10
    finally:
        for service, _, db in services:
            for run in list(service._runs.values()):
                if run.alive:
                    await service.manager.kill(run.handle, 0.5)
            await service.close()
            await asyncio.to_thread(db.close)
