"""Per-column summary statistics over record batches, with memory bounded independently of the table size.

Moments are merged batch by batch (Chan et al.'s parallel update of mean and M2, numerically stable).
Quantiles are numpy's (linear interpolation between the two order statistics around q*(n-1)) and exact:
while all columns' values fit in `exact_limit` they are kept and sorted; otherwise each needed order
statistic is found by further passes over the table, each counting the values of the current interval in
`SEARCH_BINS` bins and keeping only the bin holding the wanted rank, until the interval holds few enough
values to collect (`SMALL`): usually two or three passes, whatever the distribution's tails.

A CSV column is numeric when every non-empty value parses as a number; empty strings, nulls and NaN count
as missing.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_QUANTILES = (0.25, 0.5, 0.75)
EXACT_LIMIT = 4_000_000  # values kept for exact in-memory quantiles, all columns together (32 MB)
SEARCH_BINS = 4096
SMALL = 65536  # an interval with at most this many values is collected and sorted
MAX_PASSES = 64  # each pass narrows an interval ~SEARCH_BINS-fold; floats run out long before this

Batches = Callable[[], Iterable[pa.RecordBatch]]


def numeric_values(col: pa.Array) -> np.ndarray | None:
    """The column as float64 with NaN for missing values; None when it holds a non-numeric value."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
        return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
    if pa.types.is_null(t):
        return np.full(len(col), np.nan)
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return None
    trimmed = pc.utf8_trim_whitespace(col)
    blank = pc.fill_null(pc.equal(trimmed, ""), True)
    cleaned = pc.if_else(blank, pa.scalar(None, pa.string()), trimmed)
    try:
        return pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


@dataclass
class ColumnStats:
    """Running statistics of one column."""

    rows: int = 0
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    numeric: bool = True
    exact: list[np.ndarray] | None = field(default_factory=list)
    exact_size: int = 0

    def add(self, values: np.ndarray | None, rows: int) -> None:
        self.rows += rows
        if values is None:
            self.numeric, self.exact = False, None
            return
        if not self.numeric:
            return
        v = values[~np.isnan(values)]
        n = int(v.size)
        if not n:
            return
        bmean = float(v.mean())
        bm2 = float(((v - bmean) ** 2).sum())
        total = self.count + n
        delta = bmean - self.mean
        self.mean += delta * n / total
        self.m2 += bm2 + delta * delta * self.count * n / total
        self.count = total
        self.min, self.max = min(self.min, float(v.min())), max(self.max, float(v.max()))
        if self.exact is not None:
            self.exact.append(v)
            self.exact_size += n

    def ranks(self, quantiles: Sequence[float]) -> set[int]:
        """The order statistics numpy's linear quantiles need."""
        out: set[int] = set()
        for q in quantiles:
            k = math.floor(q * (self.count - 1))
            out |= {k, min(k + 1, self.count - 1)}
        return out

    def report(self, quantiles: Sequence[float], order: dict[int, float]) -> dict[str, Any]:
        qs: dict[str, float | None] = {}
        for q in quantiles:
            if not self.count:
                qs[quantile_name(q)] = None
                continue
            t = q * (self.count - 1)
            k = math.floor(t)
            a, b = order[k], order[min(k + 1, self.count - 1)]
            qs[quantile_name(q)] = float(a + (t - k) * (b - a))
        return {
            "count": self.count,
            "mean": self.mean if self.count else None,
            "std": math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else None,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            **qs,
            "missing": self.rows - self.count,
            "missing_rate": (self.rows - self.count) / self.rows if self.rows else 0.0,
        }


def quantile_name(q: float) -> str:
    """"q25" for 0.25, "q50" for the median, "q99_9" for 0.999."""
    return "q" + f"{q * 100:g}".replace(".", "_")


@dataclass
class RankSearch:
    """Where the `rank`-th smallest value (0-based) of a column lies: in [lo, hi] (or [lo, hi) when not
    `closed`), above `below` smaller values."""

    rank: int
    lo: float
    hi: float
    count: int
    closed: bool = True
    below: int = 0
    counts: np.ndarray | None = None
    collected: list[np.ndarray] = field(default_factory=list)
    value: float | None = None
    seen: tuple[float, float] = (math.inf, -math.inf)  # smallest and largest value of the interval this pass

    @property
    def collecting(self) -> bool:
        return self.count <= SMALL

    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, SEARCH_BINS + 1)

    def inside(self, v: np.ndarray) -> np.ndarray:
        return v[(v >= self.lo) & ((v <= self.hi) if self.closed else (v < self.hi))]

    def observe(self, v: np.ndarray) -> None:
        v = self.inside(v)
        if v.size:
            self.seen = (min(self.seen[0], float(v.min())), max(self.seen[1], float(v.max())))
        if self.collecting:
            self.collected.append(v)
            return
        bins = np.minimum(np.searchsorted(self.edges(), v, side="right") - 1, SEARCH_BINS - 1)
        counts = np.bincount(bins, minlength=SEARCH_BINS)
        self.counts = counts if self.counts is None else self.counts + counts

    def narrow(self) -> None:
        """After a pass: the value when collected, else the bin holding the rank becomes the interval."""
        if self.collecting:
            self.value = float(np.sort(np.concatenate(self.collected))[self.rank - self.below])
            return
        if self.seen[0] == self.seen[1]:  # one value repeated more than SMALL times
            self.value = self.seen[0]
            return
        self.seen = (math.inf, -math.inf)
        cum = np.cumsum(self.counts)
        j = min(int(np.searchsorted(cum, self.rank - self.below, side="right")), SEARCH_BINS - 1)
        edges = self.edges()
        self.below += int(cum[j - 1]) if j else 0
        self.lo, self.hi = float(edges[j]), float(edges[j + 1])
        self.closed = self.closed and j == SEARCH_BINS - 1
        self.count, self.counts = int(self.counts[j]), None
        if self.lo == self.hi or (not self.closed and np.nextafter(self.lo, math.inf) >= self.hi):
            self.value = self.lo  # a single representable value left


def order_statistics(batches: Batches, todo: dict[str, ColumnStats], quantiles: Sequence[float]
                     ) -> dict[str, dict[int, float]]:
    """The order statistics the quantiles need, exactly, in bounded memory (module doc)."""
    searches = {n: [RankSearch(r, s.min, s.max, s.count) for r in sorted(s.ranks(quantiles))]
                for n, s in todo.items()}
    for _ in range(MAX_PASSES):
        open_ = {n: [x for x in xs if x.value is None] for n, xs in searches.items()}
        open_ = {n: xs for n, xs in open_.items() if xs}
        if not open_:
            break
        for batch in batches():
            for name, xs in open_.items():
                v = numeric_values(batch.column(batch.schema.get_field_index(name)))
                v = v[~np.isnan(v)]
                for x in xs:
                    x.observe(v)
        for xs in open_.values():
            for x in xs:
                x.narrow()
    return {n: {x.rank: x.value if x.value is not None else x.lo for x in xs} for n, xs in searches.items()}


def summarize(batches: Batches, columns: Sequence[str] | None = None,
              quantiles: Sequence[float] = DEFAULT_QUANTILES, exact_limit: int = EXACT_LIMIT) -> dict[str, Any]:
    """Statistics of every numeric column (or of `columns`) of the table `batches()` yields; `batches` is
    called again only when the values exceed `exact_limit` (module doc)."""
    stats: dict[str, ColumnStats] = {}
    rows = 0
    searched = False
    for batch in batches():
        rows += batch.num_rows
        for name in columns or batch.schema.names:
            idx = batch.schema.get_field_index(name)
            if idx < 0:
                raise ValueError(f"column {name!r} not in the input; its columns are {batch.schema.names}")
            stats.setdefault(name, ColumnStats()).add(numeric_values(batch.column(idx)), batch.num_rows)
        if sum(s.exact_size for s in stats.values() if s.exact is not None) > exact_limit:
            # too many values to keep: drop them all and search the order statistics instead
            searched = True
            for s in stats.values():
                s.exact, s.exact_size = None, 0
    if columns:
        not_numeric = [n for n in columns if not stats.get(n, ColumnStats()).numeric]
        if not_numeric:
            raise ValueError(f"column(s) {not_numeric} are not numeric")
    wanted = {n: s for n, s in stats.items() if s.numeric}
    order: dict[str, dict[int, float]] = {}
    for name, s in wanted.items():
        if s.exact is not None and s.count:
            values = np.sort(np.concatenate(s.exact))
            order[name] = {r: float(values[r]) for r in s.ranks(quantiles)}
    order.update(order_statistics(batches, {n: s for n, s in wanted.items() if s.exact is None and s.count},
                                  quantiles))
    method = "exact, by rank search" if searched else "exact, in memory"
    return {
        "rows": rows,
        "columns": {n: s.report(quantiles, order.get(n, {})) for n, s in wanted.items()},
        "skipped_columns": [n for n, s in stats.items() if not s.numeric],
        "quantile_method": method,
    }
