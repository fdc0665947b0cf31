"""The `statistics` BFIA component: `python -m hulian.algorithms.statistics` with the component environment.

Reads its first `runtime.component.input.<name>` dataset from `system.storage` (every partition, streaming),
describes each numeric column (`stats.summarize`), writes the JSON report to its `report` output
(default namespace `<job_id>-<role>-<index>`, name `<task_id>-report`) and prints it. Exit 0, or 1 with the
error on stderr.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pyarrow as pa

from hulian.algorithms.statistics.description import NAME
from hulian.algorithms.statistics.stats import DEFAULT_QUANTILES, summarize
from hulian.component.entry import component_main, input_address, output_address
from hulian.data.storage import StorageError, storage_from_env
from hulian.data.table import TableError, read_batches

PARAM = "runtime.component.parameter."
INPUT_KEY = "data"
OUTPUT_KEY = "report"

log = logging.getLogger("hulian.component.statistics")


def _list_param(env: Mapping[str, str], name: str) -> list | None:
    raw = (env.get(PARAM + name) or "").strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = [v.strip() for v in raw.split(",") if v.strip()]
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise ValueError(f"{PARAM}{name}={raw!r} is not a list")
    return value


def _quantiles(env: Mapping[str, str]) -> list[float]:
    given = _list_param(env, "quantiles")
    if given is None:
        return list(DEFAULT_QUANTILES)
    try:
        qs = [float(q) for q in given]
    except (TypeError, ValueError):
        raise ValueError(f"{PARAM}quantiles: {given!r} must be numbers in [0, 1]") from None
    if not all(0 <= q <= 1 for q in qs):
        raise ValueError(f"{PARAM}quantiles: {qs} must lie in [0, 1]")
    return qs


def run(env: Mapping[str, str]) -> dict:
    """Describe this party's dataset; returns the report (raises on failure)."""
    namespace, name = input_address(env, INPUT_KEY)
    storage = storage_from_env(env)
    try:
        parts: list[Path] = storage.partitions(namespace, name)

        def batches() -> Iterator[pa.RecordBatch]:
            for part in parts:
                yield from read_batches(part)

        report = summarize(batches, _list_param(env, "columns"), _quantiles(env))
        report = {"component": NAME, "role": env.get("config.self_role", ""),
                  "input": {"namespace": namespace, "name": name}, **report}
        out_ns, out_name = output_address(env, OUTPUT_KEY, NAME)
        storage.output_path(out_ns, out_name).write_text(json.dumps(report, ensure_ascii=False, indent=2))
        storage.write_metadata(out_ns, out_name, {"format": "json", "source": NAME, "category": "report",
                                                  "columns": list(report["columns"])})
    finally:
        storage.close()
    return {**report, "output_address": {"namespace": out_ns, "name": out_name}}


def main(env: Mapping[str, str] = os.environ) -> int:
    return component_main(NAME, run, (StorageError, TableError, ValueError, OSError), env)


if __name__ == "__main__":
    sys.exit(main())
