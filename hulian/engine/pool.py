"""Worker processes for CPU-heavy work (curve arithmetic, hashing), kept off the threads that move bytes.

Workers are started with "spawn": the parent runs gRPC/HTTP threads, and forking a threaded process can
deadlock the child. `ordered_map` keeps a bounded window of tasks in flight, so memory stays bounded by
window x task size however long the input is, and yields results in submission order.
"""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def worker_pool(workers: int | None, initializer: Callable[..., None] | None = None,
                initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers or default_workers(),
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=initializer, initargs=initargs)


def ordered_map(pool: ProcessPoolExecutor, fn: Callable[..., Any], args: Iterable[tuple[Any, ...]],
                window: int) -> Iterator[Any]:
    """fn(*a) for each a of `args` in the pool, at most `window` at a time, results in order.

    `args` is consumed lazily, so a slow producer (a network receive) overlaps with the computing workers.
    """
    pending: deque[Future] = deque()
    try:
        for a in args:
            pending.append(pool.submit(fn, *a))
            while len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()
