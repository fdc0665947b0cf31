"""A component's progress and metrics (hulian's extension of the task callback): kept with the run, across a
node restart and on a database made before the column existed; bad values refused with a message."""
from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, Table, inspect

from hulian.component import models as m
from hulian.component.launch import TaskState
from tests.component.conftest import description, launch, python_command

SLEEPER = "import time; time.sleep(60)"


async def _running(make_service, task_id: str):
    service, rec = await make_service()
    await service.register_command(description("sleeper"), python_command(SLEEPER))
    await service.start(launch(task_id, "sleeper"))
    await rec.wait(task_id, TaskState.RUNNING)
    return service, rec


async def test_progress_and_metrics_are_kept_with_the_run(make_service) -> None:
    service, rec = await _running(make_service, "t-prog")
    assert await service.progress("t-prog", "guest.0") == {"progress": None, "metrics": {}}
    assert await service.on_callback("t-prog", "guest", "RUNNING", progress=0.25,
                                     metrics={"rows": 1000, "stage": "blind"}) is True
    assert await service.on_callback("t-prog", "guest.0", "RUNNING", progress=0.5, metrics={"rows": 2000})
    assert await service.progress("t-prog", "guest.0") == {"progress": 0.5,
                                                           "metrics": {"rows": 2000, "stage": "blind"}}
    assert rec.states("t-prog") == [TaskState.RUNNING]  # progress is no state change for the control plane
    await service.close()
    again, _ = await make_service()  # a restarted node reads them from the run's row
    assert await again.progress("t-prog", "guest.0") == {"progress": 0.5,
                                                         "metrics": {"rows": 2000, "stage": "blind"}}
    await again.stop("t-prog", "guest.0")
    assert (await again.progress("t-prog", "guest.0"))["progress"] == 0.5


async def test_unknown_run_has_no_progress(make_service) -> None:
    service, _ = await make_service()
    assert await service.progress("nope", "guest.0") == {"progress": None, "metrics": {}}


@pytest.mark.parametrize(("progress", "metrics", "says"), [
    (1.5, None, "progress 1.5"),
    ("half", None, "progress 'half'"),
    (True, None, "progress True"),
    (None, [1, 2], "metrics must be an object"),
    (None, {"auc": float("nan")}, "metric 'auc'"),
    (None, {"nested": {"a": 1}}, "metric 'nested'"),
    (None, {"x" * 65: 1}, "metric name"),
    (None, {f"m{i}": i for i in range(33)}, "at most 32"),
    (None, {"note": "y" * 300}, "metric 'note'"),
])
async def test_bad_progress_or_metrics_are_refused(make_service, progress, metrics, says) -> None:
    service, _ = await _running(make_service, "t-bad")
    with pytest.raises(ValueError, match=says.replace("[", r"\[")):
        await service.on_callback("t-bad", "guest.0", "RUNNING", progress=progress, metrics=metrics)
    assert await service.progress("t-bad", "guest.0") == {"progress": None, "metrics": {}}
    await service.stop("t-bad", "guest.0")


async def test_a_database_from_before_progress_gains_the_column(make_service, db) -> None:
    old = MetaData()
    Table(m.tasks.name, old, *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                               for c in m.tasks.columns if c.name != "progress"))
    old.create_all(db.engine)
    assert "progress" not in {c["name"] for c in inspect(db.engine).get_columns(m.tasks.name)}
    service, _ = await _running(make_service, "t-old")
    assert "progress" in {c["name"] for c in inspect(db.engine).get_columns(m.tasks.name)}
    assert await service.on_callback("t-old", "guest.0", "RUNNING", progress=1, metrics={"n": 3})
    assert await service.progress("t-old", "guest.0") == {"progress": 1.0, "metrics": {"n": 3}}
    await service.stop("t-old", "guest.0")
