"""Where a component's datasets live: `system.storage` plus {"namespace", "name"} addresses (component spec
§4.2: `<root>/<namespace>/<name>/data_<partition>` and `<root>/<namespace>/<name>/metadata`).

Only `file://` is served here; `s3://` and `hdfs://` addresses are refused with a message naming them.
A dataset registered as a single file (`<root>/<namespace>/<name>` is a file) is read as it is.
"""
from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

ENV_STORAGE = "system.storage"
DATA_FILE = "data_0"
METADATA_FILE = "metadata"


class StorageError(ValueError):
    """A storage address cannot be used; the message names it and the fix."""


def parse_address(raw: str | Mapping[str, str], what: str) -> tuple[str, str]:
    """(namespace, name) from the component env's JSON {"namespace": ..., "name": ...}."""
    try:
        obj = json.loads(raw) if isinstance(raw, str) else raw
        namespace, name = str(obj["namespace"]), str(obj["name"])
    except (ValueError, TypeError, KeyError):
        raise StorageError(f"{what}={raw!r} is not a JSON object with \"namespace\" and \"name\"") from None
    for part in (namespace, name):
        if not part or part in (".", "..") or "/" in part or "\\" in part:
            raise StorageError(f"{what}: {part!r} is not a valid namespace or name (no '/', not empty)")
    return namespace, name


class FileStorage:
    """Datasets under one local directory."""

    def __init__(self, root: Path):
        self.root = root

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> FileStorage:
        url = env.get(ENV_STORAGE, "")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "file":
            raise StorageError(f"{ENV_STORAGE}={url!r}: this component reads file:///path storage only; "
                               "configure the node's storage as file://")
        return cls(Path(urllib.parse.unquote(parts.path)))

    def input_path(self, namespace: str, name: str) -> Path:
        base = self.root / namespace / name
        if base.is_file():
            return base
        if (base / DATA_FILE).is_file():
            return base / DATA_FILE
        raise StorageError(f"dataset {namespace}#{name} not found: neither {base} nor {base / DATA_FILE} exists")

    def output_path(self, namespace: str, name: str) -> Path:
        base = self.root / namespace / name
        base.mkdir(parents=True, exist_ok=True)
        return base / DATA_FILE

    def write_metadata(self, namespace: str, name: str, metadata: Mapping[str, object]) -> None:
        path = self.root / namespace / name / METADATA_FILE
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(metadata, ensure_ascii=False, indent=2))
        tmp.replace(path)
