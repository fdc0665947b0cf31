"""The node's datasets: a local CSV or Parquet file registered as `namespace#name` is placed in the storage
layout (`<namespace>/<name>/data_0` + `metadata`) so components find it by its address.

The metadata is the record (no separate table): columns, row count, format, size, description and time;
`list_datasets` and `dataset_info` read it back. Rows are counted streaming, so a large file costs time,
not memory. No local path is recorded: the metadata is shown to API clients.

A namespace and a name are each 1 to 128 characters: letters (any script), digits, `_`, `-` and `.`, not
starting with `.` (so no path separators, no NUL, no `..`), and at most 255 bytes as UTF-8: each becomes a
directory or an object key prefix.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hulian.core.config import NodeConfig
from hulian.data.storage import FileStorage, S3Storage, Storage, StorageError, check_part, open_storage
from hulian.data.table import CSV_BLOCK_BYTES, TableError, csv_columns, table_format

T = TypeVar("T")
PART = re.compile(r"(?!\.)[\w.-]{1,128}")  # \w: letters of any script, digits, _
LEGACY_KEYS = ("source_file",)  # once recorded (a local path); never shown


def check_address(namespace: str, name: str) -> None:
    """Refuse a dataset namespace or name that is not a safe, documented single segment (see the module doc):
    storage's rule for every address (check_part), and for datasets users register a documented character set."""
    for what, part in (("namespace", namespace), ("name", name)):
        check_part(part, f"dataset {what}")
        if PART.fullmatch(part) is None:
            raise StorageError(f"dataset {what} {str(part)[:60]!r} is not a valid namespace or name: use 1 to 128 "
                               "letters, digits, '_', '-' or '.', not starting with '.'")


def storage_url(config: NodeConfig) -> str:
    """The node's `system.storage`: `storage.url`, else a `storage` directory under the data directory."""
    return config.storage.url or (Path(config.data_dir) / "storage").resolve().as_uri()


def on_node_storage(config: NodeConfig, fn: Callable[[Storage], T]) -> T:
    """fn(the node's storage engine), the engine closed afterwards (an S3 engine's local copies removed).
    Blocking: the dataset routes run it on a worker thread."""
    storage = open_storage(storage_url(config))
    try:
        return fn(storage)
    finally:
        storage.close()


def describe_file(path: Path) -> dict[str, Any]:
    """Format, columns and row count of a CSV or Parquet file (CSV counted in blocks, all columns as text)."""
    fmt = table_format(path)
    try:
        if fmt == "parquet":
            meta = pq.ParquetFile(path).metadata
            return {"format": fmt, "columns": list(meta.schema.to_arrow_schema().names), "count": meta.num_rows}
        columns = csv_columns(path)
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                                convert_options=pacsv.ConvertOptions(include_columns=columns[:1],
                                                                     column_types={columns[0]: "string"}))
        return {"format": fmt, "columns": columns, "count": sum(b.num_rows for b in reader)}
    except TableError:  # csv_columns' own message already names the file
        raise
    except (OSError, ValueError) as e:  # ArrowInvalid is a ValueError
        raise TableError(f"{path.name}: cannot read it as {fmt.upper()} ({e})") from None


def _place(src: Path, dest: Path, link: bool) -> None:
    """Hard-link when asked and possible (same filesystem), else copy; atomic at the destination."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.unlink(missing_ok=True)
    if link:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    else:
        shutil.copyfile(src, tmp)
    tmp.replace(dest)


def register_dataset(storage: Storage, namespace: str, name: str, file: str | Path, *, link: bool = False,
                     replace: bool = False, description: str = "") -> dict[str, Any]:
    """Register `file` as dataset `namespace#name`; returns its metadata. Refuses to overwrite unless
    `replace`; `link` hard-links into file storage instead of copying (the source must then stay unchanged)."""
    check_address(namespace, name)
    src = Path(file)
    if not src.is_file():
        raise StorageError(f"{src.name} does not exist or is not a file")
    if isinstance(storage, S3Storage):
        storage.ensure_bucket()
    if not replace and storage.exists(namespace, name):
        raise StorageError(f"dataset {namespace}#{name} already exists; choose another name or replace it")
    info = describe_file(src)
    metadata = {"namespace": namespace, "name": name, **info, "partitions": 1, "size": src.stat().st_size,
                "description": description,
                "registered_at": round(time.time(), 3)}
    if isinstance(storage, S3Storage):
        storage.upload(src, namespace, name)
    else:
        _place(src, storage.output_path(namespace, name), link and isinstance(storage, FileStorage))
    storage.write_metadata(namespace, name, metadata)
    return metadata


def dataset_info(storage: Storage, namespace: str, name: str) -> dict[str, Any] | None:
    """The metadata of a registered dataset, None when unknown."""
    meta = storage.read_metadata(namespace, name)
    return None if meta is None else _shown(meta)


def _shown(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in LEGACY_KEYS}


def list_datasets(storage: Storage) -> list[dict[str, Any]]:
    """Metadata of every dataset the storage holds (those written with metadata), without keys older versions
    recorded that hold local paths, and with its address (a component's output metadata does not repeat it)."""
    return [{**_shown(m), "namespace": ns, "name": n} for ns, n in storage.list_datasets()
            if (m := storage.read_metadata(ns, n)) is not None]
