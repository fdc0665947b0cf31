"""A component's inputs and outputs in the node's storage (`system.storage`), by their names in the CONF."""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from hulian.data.storage import Storage
from hulian.data.table import TableSource, read_batches


@dataclass(frozen=True)
class Dataset:
    """A dataset at `namespace#name` in the node's storage."""

    storage: Storage
    namespace: str
    name: str

    @property
    def address(self) -> dict[str, str]:
        return {"namespace": self.namespace, "name": self.name}


@dataclass(frozen=True)
class TableInput(Dataset):
    """A dataset this party was given: its partitions, read as Arrow batches or as a keyed table source."""

    @property
    def path(self) -> Path:
        """The dataset as one local file (a single partition; S3 objects are fetched first)."""
        return self.storage.input_path(self.namespace, self.name)

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Every partition's rows, streaming, in order."""
        for part in self.storage.partitions(self.namespace, self.name):
            yield from read_batches(part, columns)

    def source(self, keys: Sequence[str]) -> TableSource:
        """The table with `keys` as its key columns (PSI-style algorithms)."""
        return TableSource(self.path, keys)


@dataclass(frozen=True)
class Output(Dataset):
    """Where one output of this party goes; write the file at `path`, then `finish` with its metadata."""

    @property
    def path(self) -> Path:
        return self.storage.output_path(self.namespace, self.name)

    def write_json(self, obj: Any) -> None:
        self.path.write_text(json.dumps(obj, ensure_ascii=False, indent=2))

    def finish(self, metadata: Mapping[str, object]) -> None:
        """Record the output's metadata (format, columns, count, source): it makes the dataset visible."""
        self.storage.write_metadata(self.namespace, self.name, metadata)
