"""Worker processes for CPU-heavy work (curve arithmetic, hashing), kept off the threads that move bytes.

Workers are started with "spawn": the parent runs gRPC/HTTP threads, and forking a threaded process can
deadlock the child. `ordered_map` keeps a bounded window of tasks in flight, so memory stays bounded by
window x task size however long the input is, and yields results in submission order. While it waits for a
worker it calls a `check` now and then, so a failure elsewhere (a dead peer) stops a long CPU-bound stage
within moments; and a pool left by an exception kills its workers instead of waiting for their tasks. A
worker whose parent was killed outright (SIGKILL, the OOM killer) exits too, instead of waiting forever.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from typing import Any

CHECK_INTERVAL = 0.2  # seconds between `check` calls while a result is awaited
PARENT_CHECK_INTERVAL = 1.0  # seconds between a worker's checks that its parent is alive
THREADS_ENV = "HULIAN_THREADS"  # threads of one native compute loop; a pool's workers run with 1


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def native_threads() -> int:
    """Threads for one native compute loop: HULIAN_THREADS (a positive integer), else every core this
    process may use (`default_workers`)."""
    configured = os.environ.get(THREADS_ENV, "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else default_workers()


@contextlib.contextmanager
def worker_pool(workers: int | None, initializer: Callable[..., None] | None = None,
                initargs: tuple[Any, ...] = ()) -> Iterator[ProcessPoolExecutor]:
    """A process pool for a `with` block: shut down normally after it, killed at once if the block raised."""
    pool = ProcessPoolExecutor(max_workers=workers or default_workers(),
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(), initializer, initargs))
    try:
        yield pool
    except BaseException:
        _kill(pool)
        raise
    pool.shutdown()


def _init_worker(parent: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    """In each worker: follow the parent out (its queues' pipes never close, since the worker holds both
    ends), then the caller's initializer. Native batch loops run one thread here: the pool spreads the cores."""
    os.environ[THREADS_ENV] = "1"
    threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_INTERVAL)
    os._exit(1)


def _kill(pool: ProcessPoolExecutor) -> None:
    """Drop queued tasks and kill the workers: the tasks already running (one each, plus one queued) can take
    seconds on a busy host, and nobody wants their results (the executor's shutdown would wait for them)."""
    # CPython keeps the worker processes here, and forgets them at shutdown (Python 3.14 adds kill_workers()).
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()


def ordered_map(pool: ProcessPoolExecutor, fn: Callable[..., Any], args: Iterable[tuple[Any, ...]],
                window: int, check: Callable[[], None] | None = None) -> Iterator[Any]:
    """fn(*a) for each a of `args` in the pool, at most `window` at a time, results in order.

    `args` is consumed lazily, so a slow producer (a network receive) overlaps with the computing workers.
    `check()` runs every CHECK_INTERVAL s while a result is awaited; what it raises ends the map.
    """
    pending: deque[Future] = deque()
    try:
        for a in args:
            pending.append(pool.submit(fn, *a))
            while len(pending) >= window:
                yield _result(pending.popleft(), check)
        while pending:
            yield _result(pending.popleft(), check)
    finally:
        for f in pending:
            f.cancel()


def _result(future: Future, check: Callable[[], None] | None) -> Any:
    if check is not None:
        while not wait([future], CHECK_INTERVAL).done:
            check()
    return future.result()
