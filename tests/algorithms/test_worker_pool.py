"""The curve workers' pool (hulian.engine.pool) when the run fails elsewhere: a waiting `ordered_map` gives up
at the next `check`, a pool left by an exception kills its busy workers instead of waiting for them, and
workers whose parent was SIGKILLed exit."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from hulian.engine.pool import THREADS_ENV, default_workers, native_threads, ordered_map, worker_pool


class PeerGone(Exception):
    pass


def test_a_failing_check_ends_the_wait_for_a_busy_worker():
    started = time.monotonic()

    def check() -> None:
        if time.monotonic() - started > 0.5:
            raise PeerGone

    with pytest.raises(PeerGone), worker_pool(1) as pool:
        list(ordered_map(pool, time.sleep, [(30,), (30,)], window=2, check=check))
    assert time.monotonic() - started < 10  # not the 30 s the worker is busy for


def test_a_pool_left_by_an_exception_kills_its_workers():
    started = time.monotonic()
    with pytest.raises(PeerGone), worker_pool(1) as pool:
        running = pool.submit(time.sleep, 30)
        while not running.running():
            time.sleep(0.05)
        raise PeerGone
    assert time.monotonic() - started < 10  # a normal shutdown would wait the 30 s out


def test_results_come_in_order_and_the_pool_shuts_down_normally():
    with worker_pool(2) as pool:
        assert list(ordered_map(pool, pow, [(2, i) for i in range(20)], window=3, check=lambda: None)) == [
            2 ** i for i in range(20)]


PARENT = """
import os, time
from hulian.engine.pool import worker_pool
with worker_pool(1) as pool:
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(60)
"""


def test_a_worker_exits_when_its_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait()
    try:
        deadline = time.monotonic() + 10
        while _running(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _running(worker), "the worker outlived its killed parent"
    finally:
        if _running(worker):
            os.kill(worker, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(("configured", "expected"), [(None, None), ("3", 3), ("0", None), ("two", None)])
def test_native_threads_read_hulian_threads(configured: str | None, expected: int | None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """HULIAN_THREADS sets a native loop's threads; unset or not a positive integer, every core we may use."""
    if configured is None:
        monkeypatch.delenv(THREADS_ENV, raising=False)
    else:
        monkeypatch.setenv(THREADS_ENV, configured)
    assert native_threads() == (default_workers() if expected is None else expected)


def test_a_pools_workers_run_native_loops_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool spreads the cores, so its workers' native loops take one thread each, whatever the parent set."""
    monkeypatch.setenv(THREADS_ENV, "4")
    with worker_pool(1) as pool:
        assert pool.submit(native_threads).result(timeout=60) == 1
