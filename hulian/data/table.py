"""Tables on local disk (CSV or Parquet), read in record batches so memory is bounded by the batch size.

Every CSV column is read as text, so values (leading zeros, long ids, dates) come back exactly as written and
the same key bytes result on every platform. Keys are canonicalised the way SecretFlow's PSI does it (the
standard leaves this open): each key column's value with surrounding whitespace trimmed, the columns joined
with ",", UTF-8 encoded.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

BATCH_ROWS = 65536
CSV_BLOCK_BYTES = 4 << 20


class TableError(ValueError):
    """A table cannot be read or lacks what the job needs; the message names the file and the fix."""


def table_format(path: Path) -> str:
    """"parquet" for .parquet/.pq files and for existing files without a .csv suffix (storage's `data_0`)
    that start with Parquet's magic bytes, else "csv"."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix != ".csv" and path.is_file():
        with path.open("rb") as f:
            if f.read(4) == b"PAR1":
                return "parquet"
    return "csv"


class TableSource:
    """One CSV or Parquet file, read twice at most: once for keys, once to write the selected rows."""

    def __init__(self, path: Path | str, keys: Sequence[str], batch_rows: int = BATCH_ROWS):
        self.path = Path(path)
        if not self.path.is_file():
            raise TableError(f"input {self.path} does not exist or is not a file")
        if not keys:
            raise TableError("no key columns given: name one or more columns, e.g. --keys id")
        self.keys = list(keys)
        self.format = table_format(self.path)
        self.batch_rows = batch_rows
        self.columns = self._read_columns()
        missing = [k for k in self.keys if k not in self.columns]
        if missing:
            raise TableError(f"{self.path}: key column(s) {missing} not found; columns are {self.columns}")

    def _read_columns(self) -> list[str]:
        if self.format == "parquet":
            try:
                return list(pq.ParquetFile(self.path).schema_arrow.names)
            except (pa.ArrowException, OSError) as e:
                raise TableError(f"{self.path}: not a readable Parquet file ({e})") from None
        return csv_columns(self.path)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows in file order, `batch_rows` at a time (CSV columns all as strings)."""
        return read_batches(self.path, self.columns, self.batch_rows)

    def key_batches(self) -> Iterator[list[bytes]]:
        """The canonical key bytes of every row, batch by batch, in file order."""
        for batch in self.batches():
            yield canonical_keys(batch, self.keys, self.path)

    def write_selected(self, out: Path | str, selected: np.ndarray) -> int:
        """Write the rows whose `selected[row]` is true, all columns, in input order; returns the count."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        written = 0
        offset = 0
        writer: pacsv.CSVWriter | pq.ParquetWriter | None = None
        try:
            for batch in self.batches():
                take = selected[offset:offset + batch.num_rows]
                offset += batch.num_rows
                part = batch.filter(pa.array(take)) if not take.all() else batch
                if writer is None:
                    writer = (pq.ParquetWriter(tmp, part.schema) if table_format(out) == "parquet"
                              else pacsv.CSVWriter(tmp, part.schema))
                if part.num_rows:
                    writer.write_batch(part)
                    written += part.num_rows
            if writer is None:  # no rows at all: still write the header
                with tmp.open("w", newline="", encoding="utf-8") as f:
                    csv.writer(f).writerow(self.columns)
        finally:
            if writer is not None:
                writer.close()
        tmp.replace(out)
        return written


def csv_columns(path: Path) -> list[str]:
    """The header of a CSV file."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise TableError(f"{path}: empty CSV file; the first line must name the columns")
    return header


def read_batches(path: Path, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS
                 ) -> Iterator[pa.RecordBatch]:
    """Rows of a CSV or Parquet file in file order, `batch_rows` at a time; CSV columns all as strings, so
    values come back exactly as written (callers convert what they need)."""
    path = Path(path)
    try:
        if table_format(path) == "parquet":
            yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
            return
        columns = columns or csv_columns(path)
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
        for batch in reader:
            for start in range(0, batch.num_rows, batch_rows):
                yield batch.slice(start, batch_rows)
    except pa.ArrowInvalid as e:
        raise TableError(f"{path}: cannot parse ({e})") from None


def canonical_keys(batch: pa.RecordBatch, keys: Sequence[str], where: Path | str = "input") -> list[bytes]:
    """Trimmed key columns joined with ","; a null key is an error naming its column."""
    cols = []
    for name in keys:
        col = batch.column(batch.schema.get_field_index(name))
        if col.null_count:
            raise TableError(f"{where}: key column {name!r} has {col.null_count} empty (null) value(s) in a "
                             "batch; fill or drop those rows before the PSI")
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            col = pc.cast(col, pa.string())
        cols.append(pc.utf8_trim_whitespace(col))
    joined = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, ",")
    return pc.cast(joined, pa.binary()).to_pylist()
