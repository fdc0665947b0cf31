"""The local process manager end to end: real component processes, status by exit code and by callback,
failures with their stderr, timeouts, retries of vanished runs, and adoption by a restarted node."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import numpy as np

from hulian.component.launch import Resources, TaskState
from hulian.component.managers.process import alive
from hulian.data.registry import register_dataset, storage_url
from hulian.data.storage import open_storage
from tests.component.conftest import description, launch, python_command

SLEEP_THEN_OK = "import time, sys; print('working'); sys.stdout.flush(); time.sleep({s}); print('done')"


async def _wait_file(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(path.exists):
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.05)


async def test_statistics_runs_to_success(make_service, config, tmp_path) -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(10, 3, 200).round(4)
    csv = tmp_path / "t.csv"
    csv.write_text("id,x\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    storage = open_storage(storage_url(config))
    register_dataset(storage, "bank", "t", csv)
    service, rec = await make_service()
    await service.start(launch("t-stats", "statistics", inputs={"data": {"namespace": "bank", "name": "t"}},
                               outputs={"report": {"namespace": "job1-guest-0", "name": "t-stats-report"}}))
    await rec.wait("t-stats", TaskState.SUCCESS)
    assert rec.states("t-stats") == [TaskState.RUNNING, TaskState.SUCCESS]
    assert await service.state("t-stats", "guest.0") == (TaskState.SUCCESS, "")
    report = json.loads(storage.input_path("job1-guest-0", "t-stats-report").read_text())
    assert report["columns"]["x"]["count"] == 200
    assert abs(report["columns"]["x"]["mean"] - values.mean()) < 1e-9
    lines = await service.log("t-stats", "guest.0", 0, 10_000)
    assert await service.log_line_count("t-stats", "guest.0") == len(lines) > 1
    assert any('"component": "statistics"' in ln for ln in lines)
    await service.start(launch("t-stats", "statistics"))  # repeated start: no-op
    assert rec.states("t-stats") == [TaskState.RUNNING, TaskState.SUCCESS]


async def test_failure_carries_stderr(make_service) -> None:
    service, rec = await make_service()
    await service.register_command(description("boom"), python_command(
        "import sys; print('some output'); print('boom: column x is missing', file=sys.stderr); sys.exit(3)"))
    await service.start(launch("t-fail", "boom"))
    _, _, _, message = await rec.wait("t-fail", TaskState.FAILED)
    assert "boom: column x is missing" in message
    assert "some output" in "\n".join(await service.log("t-fail", "guest.0"))


async def test_the_operators_tuning_reaches_the_task_and_nothing_else(make_service, monkeypatch) -> None:
    """The node's malloc and thread settings pass to a component process (docs/configuration.md); its other
    variables (a secret, say) do not."""
    monkeypatch.setenv("HULIAN_MALLOC_KEEP_MB", "64")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")
    monkeypatch.setenv("HULIAN_THREADS", "1")
    monkeypatch.setenv("HULIAN_SOME_SECRET", "s3cret")
    service, rec = await make_service()
    names = ["HULIAN_MALLOC_KEEP_MB", "MALLOC_TRIM_THRESHOLD_", "HULIAN_THREADS", "HULIAN_SOME_SECRET"]
    await service.register_command(description("env"), python_command(
        f"import os; print('env', [os.environ.get(n) for n in {names!r}])"))
    await service.start(launch("t-env", "env"))
    await rec.wait("t-env", TaskState.SUCCESS)
    assert "env ['64', '1048576', '1', None]" in "\n".join(await service.log("t-env", "guest.0"))


async def test_unknown_component_and_role_fail_with_reason(make_service) -> None:
    service, rec = await make_service()
    await service.start(launch("t-unknown", "no_such"))
    assert "not registered" in (await rec.wait("t-unknown", TaskState.FAILED))[3]
    await service.start(launch("t-role", "ecdh_psi", role="arbiter.0"))
    assert "no role 'arbiter'" in (await rec.wait("t-role", TaskState.FAILED))[3]


async def test_timeout_kills_and_fails(make_service) -> None:
    service, rec = await make_service()
    await service.register_command(description("sleeper"), python_command(SLEEP_THEN_OK.format(s=60)))
    await service.start(launch("t-slow", "sleeper", timeout_seconds=1.0))
    _, _, _, message = await rec.wait("t-slow", TaskState.FAILED, timeout=20)
    assert "timed out after 1 s" in message
    run = await service._find("t-slow", "guest.0")
    deadline = time.monotonic() + 10
    while alive(run.handle["pid"], run.handle["start_time"]):
        assert time.monotonic() < deadline, "the timed-out component is still running"
        await asyncio.sleep(0.05)


async def test_stop(make_service) -> None:
    service, rec = await make_service()
    await service.register_command(description("sleeper"), python_command(SLEEP_THEN_OK.format(s=60)))
    await service.start(launch("t-stop", "sleeper"))
    await rec.wait("t-stop", TaskState.RUNNING)
    await service.stop("t-stop", "guest.0")
    assert await service.state("t-stop", "guest.0") == (TaskState.FAILED, "stopped")
    run = await service._find("t-stop", "guest.0")
    assert not alive(run.handle["pid"], run.handle["start_time"]), "a stopped component is still running"
    await service.stop("t-stop", "guest.0")  # idempotent
    assert rec.states("t-stop") == [TaskState.RUNNING, TaskState.FAILED]
    await service.stop("nope", "guest.0")  # unknown: a no-op
    assert await service.state("nope", "guest.0") == (TaskState.PENDING, "")


async def test_a_slow_stop_holds_up_no_other_task(make_service) -> None:
    """Stopping a component that ignores SIGTERM takes the kill grace (3 s here); another task starts meanwhile
    without waiting for it."""
    service, _ = await make_service()
    service.settings.kill_grace_seconds = 3.0
    stubborn = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); "
                "time.sleep(60)")
    await service.register_command(description("stubborn"), python_command(stubborn))
    await service.register_command(description("sleeper"), python_command(SLEEP_THEN_OK.format(s=60)))
    await service.start(launch("t-slow", "stubborn"))
    deadline = time.monotonic() + 20
    while "up" not in await service.log("t-slow", "guest.0"):  # its SIGTERM handler is in place
        assert time.monotonic() < deadline, "the stubborn component never started"
        await asyncio.sleep(0.05)
    stopping = asyncio.create_task(service.stop("t-slow", "guest.0"))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await service.start(launch("t-other", "sleeper"))
    assert time.monotonic() - started < 1.5 and not stopping.done()
    await stopping
    assert await service.state("t-slow", "guest.0") == (TaskState.FAILED, "stopped")
    await service.stop("t-other", "guest.0")


async def test_callback_reports_before_exit(make_service) -> None:
    service, rec = await make_service()
    await service.register_command(description("sleeper"), python_command(SLEEP_THEN_OK.format(s=60)))
    await service.start(launch("t-cb", "sleeper", role="host.0"))
    await rec.wait("t-cb", TaskState.RUNNING)
    assert await service.on_callback("t-cb", "host", "RUNNING") is True
    assert await service.on_callback("t-cb", "host", "success") is True  # FATE's role without the index
    await rec.wait("t-cb", TaskState.SUCCESS, timeout=5)
    assert await service.on_callback("t-other", "host", "SUCCESS") is False
    run = await service._find("t-cb", "host.0")
    deadline = time.monotonic() + 10  # still alive past callback_linger_seconds: killed
    while alive(run.handle["pid"], run.handle["start_time"]):
        assert time.monotonic() < deadline, "a component that called back SUCCESS was never reaped"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert rec.states("t-cb") == [TaskState.RUNNING, TaskState.SUCCESS]


async def test_resource_limits_reach_the_component(make_service) -> None:
    service, rec = await make_service()
    await service.register_command(description("limits"), python_command(
        "import resource, os; print('AS', resource.getrlimit(resource.RLIMIT_AS)[0]); "
        "print('CORES', len(os.sched_getaffinity(0)))"))
    await service.start(launch("t-lim", "limits", resources=Resources(cpu=1, memory=2048, disk=-1)))
    await rec.wait("t-lim", TaskState.SUCCESS)
    text = "\n".join(await service.log("t-lim", "guest.0"))
    assert f"AS {2048 << 20}" in text and "CORES 1" in text


async def test_restarted_node_adopts_a_running_task(make_service) -> None:
    first, rec1 = await make_service()
    await first.register_command(description("sleeper"), python_command(SLEEP_THEN_OK.format(s=4)))
    await first.start(launch("t-adopt", "sleeper"))
    await rec1.wait("t-adopt", TaskState.RUNNING)
    await first.close()  # the node goes away; the component keeps running
    second, rec2 = await make_service()
    assert ("t-adopt", "guest.0") in second._runs
    run = second._runs[("t-adopt", "guest.0")]
    assert alive(run.handle["pid"], run.handle["start_time"])  # adopted while running, not read back after it ended
    await rec2.wait("t-adopt", TaskState.SUCCESS, timeout=20)
    assert rec1.states("t-adopt") == [TaskState.RUNNING]
    assert "done" in "\n".join(await second.log("t-adopt", "guest.0"))


async def test_restarted_node_reports_a_task_that_ended_while_down(make_service, config) -> None:
    first, rec1 = await make_service()
    await first.register_command(description("quick"), python_command(SLEEP_THEN_OK.format(s=0.5)))
    await first.start(launch("t-down", "quick"))
    await rec1.wait("t-down", TaskState.RUNNING)
    await first.close()
    run = await first._find("t-down", "guest.0")
    await _wait_file(Path(run.task_dir) / "status.json")
    _, rec2 = await make_service()
    await rec2.wait("t-down", TaskState.SUCCESS, timeout=10)


async def test_vanished_component_is_retried(make_service) -> None:
    service, rec = await make_service()
    # first attempt leaves a marker and hangs; the retry sees the marker and succeeds
    code = ("import pathlib, time; p = pathlib.Path('marker'); first = not p.exists(); p.touch(); "
            "print('attempt', 'first' if first else 'retry'); time.sleep(60 if first else 0)")
    await service.register_command(description("flaky"), python_command(code))
    await service.start(launch("t-retry", "flaky", max_retries=1))
    await rec.wait("t-retry", TaskState.RUNNING)
    run = await service._find("t-retry", "guest.0")
    await _wait_file(Path(run.task_dir) / "marker")
    os.killpg(run.handle["pid"], signal.SIGKILL)  # wrapper and component: no status file
    await rec.wait("t-retry", TaskState.SUCCESS, timeout=20)
    run = await service._find("t-retry", "guest.0")
    assert run.attempts == 2
    assert "attempt 2" in "\n".join(await service.log("t-retry", "guest.0"))


async def test_vanished_component_without_retries_fails(make_service) -> None:
    service, rec = await make_service()
    await service.register_command(description("sleeper"), python_command(SLEEP_THEN_OK.format(s=60)))
    await service.start(launch("t-gone", "sleeper"))
    await rec.wait("t-gone", TaskState.RUNNING)
    run = await service._find("t-gone", "guest.0")
    os.killpg(run.handle["pid"], signal.SIGKILL)
    message = (await rec.wait("t-gone", TaskState.FAILED, timeout=10))[3]
    assert "without writing its exit status" in message and "1 attempt" in message


async def test_restart_fails_a_task_caught_between_record_and_start(make_service) -> None:
    from hulian.component.images import InstanceState
    from hulian.component.service import TaskRun

    first, _ = await make_service()
    run = TaskRun("t-half", "guest.0", "statistics", "1.0.0", "process", TaskState.PENDING, InstanceState.LOADED,
                  launch("t-half", "statistics"), str(first.task_root / "t-half"))
    await first.runs.add(run)
    await first.close()
    second, rec = await make_service()
    assert "stopped while starting" in (await rec.wait("t-half", TaskState.FAILED, timeout=5))[3]
    assert (await second.state("t-half", "guest.0"))[0] == TaskState.FAILED
