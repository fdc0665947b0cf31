"""Before the exchange: hash every row's key to a curve point (in the workers), spill the points to disk, and
find duplicate keys, so each distinct key is masked and sent once and every row can be mapped back to it.

Duplicates are found on the points themselves (the last 16 bytes of each: hash-to-curve is deterministic, so
equal keys give equal points, and distinct keys collide with probability 2^-128), with numpy sorts over two
uint64 columns: memory is 16 bytes per row plus the sort's index, not one Python object per key.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hulian.algorithms.ecdh_psi import workers
from hulian.data.table import TableSource
from hulian.engine.pool import ordered_map

READ_ROWS = 65536  # rows read back from the spill file at a time


@dataclass
class Prepared:
    rows: int
    unique: int
    point_size: int
    points_path: Path        # every row's point, in input order
    is_first: np.ndarray     # bool per row: the first row holding its key
    row_unique: np.ndarray   # per row: the index of its key among the distinct keys (in first-seen order)
    seconds: float

    @property
    def duplicates(self) -> int:
        return self.rows - self.unique

    def unique_points(self, batch_size: int) -> Iterator[bytes]:
        """The distinct keys' points in first-seen order, `batch_size` at a time (bounded memory)."""
        ps = self.point_size
        pending: list[np.ndarray] = []
        held = 0
        with self.points_path.open("rb") as f:
            for start in range(0, self.rows, READ_ROWS):
                count = min(READ_ROWS, self.rows - start)
                block = np.frombuffer(f.read(count * ps), dtype=np.uint8).reshape(count, ps)
                keep = block[self.is_first[start:start + count]]
                pending.append(keep)
                held += len(keep)
                while held >= batch_size:
                    merged = np.concatenate(pending)
                    yield merged[:batch_size].tobytes()
                    pending, held = [merged[batch_size:]], len(merged) - batch_size
        if held:
            yield np.concatenate(pending).tobytes()


def prepare(source: TableSource, pool: ProcessPoolExecutor, point_size: int, workdir: Path,
            batch_size: int, window: int) -> Prepared:
    """Hash all keys of `source` to points (spilled to `workdir`) and index the distinct keys."""
    t0 = time.monotonic()
    points_path = workdir / "points.bin"
    tails: list[np.ndarray] = []
    rows = 0
    with points_path.open("wb") as out:
        tasks = ((keys[i:i + batch_size],) for keys in source.key_batches() for i in range(0, len(keys), batch_size))
        for points in ordered_map(pool, workers.hash_items, tasks, window):
            arr = np.frombuffer(points, dtype=np.uint8).reshape(-1, point_size)
            tails.append(np.ascontiguousarray(arr[:, -16:]).view("<u8"))
            rows += len(arr)
            out.write(points)
    tail = np.concatenate(tails) if tails else np.zeros((0, 2), dtype="<u8")
    del tails
    is_first, row_unique = index_duplicates(tail[:, 0], tail[:, 1])
    return Prepared(rows, int(is_first.sum()), point_size, points_path, is_first, row_unique,
                    time.monotonic() - t0)


def index_duplicates(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(is_first, row_unique) for rows identified by the pair (hi, lo); distinct keys numbered by first row."""
    n = len(hi)
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    order = np.lexsort((lo, hi))  # stable: within a group, the first row comes first
    sh, sl = hi[order], lo[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(sh[1:], sh[:-1], out=starts[1:])
    starts[1:] |= sl[1:] != sl[:-1]
    del sh, sl
    group_sorted = np.cumsum(starts) - 1      # group of each sorted position, groups in sorted-key order
    first_rows = order[starts]                # each group's first row
    rank = np.empty(len(first_rows), dtype=np.int64)
    rank[np.argsort(first_rows, kind="stable")] = np.arange(len(first_rows))
    row_unique = np.empty(n, dtype=np.int64)
    row_unique[order] = rank[group_sorted]
    is_first = np.zeros(n, dtype=bool)
    is_first[first_rows] = True
    return is_first, row_unique
