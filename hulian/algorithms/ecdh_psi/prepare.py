"""Before the exchange: hash every row's key to a curve point (in the workers), spill the points to disk, and
find duplicate keys, so each distinct key is masked and sent once and every row can be mapped back to it.

Duplicates are found on the points themselves (the last 16 bytes of each: hash-to-curve is deterministic, so
equal keys give equal points, and distinct keys collide with probability 2^-128), with numpy sorts over two
uint64 columns: memory is 16 bytes per row plus the sort's index, not one Python object per key.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hulian.algorithms.ecdh_psi import workers
from hulian.engine.pool import ordered_map
from hulian.sdk import TableSource

READ_ROWS = 65536  # rows read back from the spill file at a time
SCAN_ROWS = 1 << 20  # rows compared at a time while grouping


@dataclass
class Prepared:
    rows: int
    unique: int
    point_size: int
    points_path: Path        # every row's point, in input order
    is_first: np.ndarray     # bool per row: the first row holding its key
    row_unique: np.ndarray   # per row: the index of its key among the distinct keys (in first-seen order)

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
            batch_size: int, window: int, check: Callable[[], None] | None = None) -> Prepared:
    """Hash all keys of `source` to points (spilled to `workdir`) and index the distinct keys; `check()`
    (the link's) runs while the workers hash, so a dead peer stops this long stage."""
    points_path, hi_path, lo_path = workdir / "points.bin", workdir / "hi.bin", workdir / "lo.bin"
    rows = 0
    with points_path.open("wb") as out, hi_path.open("wb") as out_hi, lo_path.open("wb") as out_lo:
        tasks = ((keys[i:i + batch_size],) for keys in source.key_batches() for i in range(0, len(keys), batch_size))
        for points in ordered_map(pool, workers.hash_items, tasks, window, check):
            arr = np.frombuffer(points, dtype=np.uint8).reshape(-1, point_size)
            tail = np.ascontiguousarray(arr[:, -16:]).view("<u8")
            out_hi.write(np.ascontiguousarray(tail[:, 0]).data)
            out_lo.write(np.ascontiguousarray(tail[:, 1]).data)
            rows += len(arr)
            out.write(points)
    # read back whole (16 bytes a row) rather than grown in memory, which would double the peak
    is_first, row_unique = index_duplicates(np.fromfile(hi_path, dtype="<u8"), np.fromfile(lo_path, dtype="<u8"))
    hi_path.unlink()
    lo_path.unlink()
    return Prepared(rows, int(is_first.sum()), point_size, points_path, is_first, row_unique)


def index_duplicates(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(is_first, row_unique) for rows identified by the pair (hi, lo); distinct keys numbered by first row.

    Sorts by `hi` alone (one 64-bit stable argsort) and checks that rows grouped together also agree on `lo`;
    only if two distinct keys share `hi` (probability ~n^2/2^65) does it sort by both. Indices are int32 (up
    to 2^31 rows), so the peak is about 25 bytes per row beyond hi and lo.
    """
    if len(hi) == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int32)
    order = np.argsort(hi, kind="stable")  # within a group, the first row comes first
    starts = _group_starts(order, hi)
    first_of = _first_rows(order, starts)
    if not all(np.array_equal(lo[order[a:a + SCAN_ROWS]], lo[first_of[a:a + SCAN_ROWS]])
               for a in range(0, len(hi), SCAN_ROWS)):
        order = np.lexsort((lo, hi))
        starts = _group_starts(order, hi, lo)
        first_of = _first_rows(order, starts)
    is_first = np.zeros(len(hi), dtype=bool)
    is_first[order[starts]] = True
    first_id = np.cumsum(is_first, dtype=np.int32)
    first_id -= 1
    row_unique = np.empty(len(hi), dtype=np.int32)
    row_unique[order] = first_id[first_of]
    return is_first, row_unique


def _group_starts(order: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Per sorted position: whether a new group begins (a key differs from the previous position's)."""
    n = len(order)
    starts = np.zeros(n, dtype=bool)
    starts[0] = True
    for a in range(1, n, SCAN_ROWS):  # chunked, so no n-sized temporaries
        b = min(a + SCAN_ROWS, n)
        for key in keys:
            starts[a:b] |= key[order[a:b]] != key[order[a - 1:b - 1]]
    return starts


def _first_rows(order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per sorted position: the first row of its group (int32)."""
    group_start = np.where(starts, np.arange(len(order), dtype=np.int32), np.int32(0))
    np.maximum.accumulate(group_start, out=group_start)
    return order[group_start].astype(np.int32)
