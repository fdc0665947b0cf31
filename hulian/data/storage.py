"""Where a component's datasets live: `system.storage` plus {"namespace", "name"} addresses (component spec
§4.2: `<root>/<namespace>/<name>/data_<partition>` and `<root>/<namespace>/<name>/metadata`).

Two engines behind one interface (`Storage`): `file:///path` (a local or NFS directory) and
`s3://host:port?username=&password=&bucket=` (any S3-protocol server; bucket `storage` when not given, as
the spec fixes it). Components always work on local files: `input_path` gives a readable file (S3 downloads
it, streaming, into a cache directory), `output_path` a file to write, and `write_metadata` completes an
output (S3 uploads the data first, so a reader that sees the metadata sees the data). `hdfs://` is refused
with a message naming it. A dataset registered as a single file (`<root>/<namespace>/<name>` is a file) is
read as it is.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DATA_FILE = "data_0"
DATA_PREFIX = "data_"
METADATA_FILE = "metadata"
DEFAULT_BUCKET = "storage"


class StorageError(ValueError):
    """A storage address cannot be used; the message names it and the fix."""


def parse_address(raw: str | Mapping[str, str], what: str) -> tuple[str, str]:
    """(namespace, name) from the component env's JSON {"namespace": ..., "name": ...}."""
    try:
        obj = json.loads(raw) if isinstance(raw, str) else raw
        namespace, name = str(obj["namespace"]), str(obj["name"])
    except (ValueError, TypeError, KeyError):
        raise StorageError(f"{what}={raw!r} is not a JSON object with \"namespace\" and \"name\"") from None
    check_part(namespace, what)
    check_part(name, what)
    return namespace, name


MAX_PART_BYTES = 255  # a file name's limit (NAME_MAX) on the file systems storage lives on


def check_part(part: str, what: str) -> None:
    """A namespace or name must be one path segment: it becomes a directory or an object key prefix, so it
    holds no separator or NUL and fits a file name (255 bytes as UTF-8: 128 CJK characters do not)."""
    if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
        raise StorageError(f"{what}: {part[:60]!r} is not a valid namespace or name (no '/', no NUL, not empty)")
    if len(part.encode("utf-8", "surrogatepass")) > MAX_PART_BYTES:
        raise StorageError(f"{what}: {part[:60]!r}... is not a valid namespace or name: longer than "
                           f"{MAX_PART_BYTES} bytes as UTF-8, a file name's limit")


def partition_index(name: str) -> int | None:
    """The partition number of a `data_<n>` file name, else None."""
    tail = name[len(DATA_PREFIX):]
    return int(tail) if name.startswith(DATA_PREFIX) and tail.isdigit() else None


class Storage(ABC):
    """One storage engine as components use it: local files in, local files out."""

    url: str

    @abstractmethod
    def partitions(self, namespace: str, name: str) -> list[Path]:
        """Local readable files of every partition of a dataset, in partition order (raises when absent)."""

    def input_path(self, namespace: str, name: str) -> Path:
        """A one-partition dataset as a local file (raises for more: reading only the first would silently
        drop rows; use `partitions`)."""
        parts = self.partitions(namespace, name)
        if len(parts) > 1:
            raise StorageError(f"dataset {namespace}#{name} has {len(parts)} partitions and this reader takes one; "
                               "store it as a single partition (data_0)")
        return parts[0]

    @abstractmethod
    def output_path(self, namespace: str, name: str) -> Path:
        """A local file to write partition 0 of an output to; `write_metadata` completes it."""

    @abstractmethod
    def write_metadata(self, namespace: str, name: str, metadata: Mapping[str, object]) -> None:
        """Complete an output: its data (if written) then its metadata become visible."""

    @abstractmethod
    def read_metadata(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The dataset's metadata, None when it has none."""

    @abstractmethod
    def exists(self, namespace: str, name: str) -> bool:
        """Whether the dataset has data."""

    @abstractmethod
    def list_datasets(self) -> list[tuple[str, str]]:
        """(namespace, name) of every dataset with metadata."""

    def close(self) -> None:
        """Drop local copies made for reading and writing."""


class FileStorage(Storage):
    """Datasets under one local directory."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.url = self.root.resolve().as_uri()

    def partitions(self, namespace: str, name: str) -> list[Path]:
        base = self.root / namespace / name
        if base.is_file():
            return [base]
        found = sorted((i, p) for p in (base.iterdir() if base.is_dir() else ())
                       if (i := partition_index(p.name)) is not None and p.is_file())
        if not found:
            raise StorageError(f"dataset {namespace}#{name} not found in this node's storage (no "
                               f"{namespace}/{name} file or {namespace}/{name}/{DATA_FILE} under its root)")
        return [p for _, p in found]

    def output_path(self, namespace: str, name: str) -> Path:
        base = self.root / namespace / name
        base.mkdir(parents=True, exist_ok=True)
        return base / DATA_FILE

    def write_metadata(self, namespace: str, name: str, metadata: Mapping[str, object]) -> None:
        path = self.root / namespace / name / METADATA_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(metadata, ensure_ascii=False, indent=2))
        tmp.replace(path)

    def read_metadata(self, namespace: str, name: str) -> dict[str, Any] | None:
        path = self.root / namespace / name / METADATA_FILE
        return json.loads(path.read_text()) if path.is_file() else None

    def exists(self, namespace: str, name: str) -> bool:
        try:
            return bool(self.partitions(namespace, name))
        except StorageError:
            return False

    def list_datasets(self) -> list[tuple[str, str]]:
        return sorted((m.parent.parent.name, m.parent.name) for m in self.root.glob(f"*/*/{METADATA_FILE}"))


class S3Storage(Storage):
    """Datasets in one bucket of an S3-protocol server; local copies live in a private temporary directory."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str = DEFAULT_BUCKET,
                 url: str = "", cache_dir: Path | None = None, region: str = "us-east-1"):
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise StorageError("s3:// storage needs boto3: pip install boto3") from None
        self.url = url or endpoint
        self.endpoint, self.bucket = endpoint, bucket
        self.client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access_key or None,
                                   aws_secret_access_key=secret_key or None, region_name=region,
                                   config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3},
                                                 connect_timeout=10, read_timeout=60))
        self._own_cache = cache_dir is None
        self.cache = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix="hulian-s3-"))
        self._staged: dict[tuple[str, str], Path] = {}

    @classmethod
    def from_url(cls, url: str, cache_dir: Path | None = None) -> S3Storage:
        """`s3://host:port?username=&password=&bucket=` (spec §4.1; `secure=true` for https)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "s3" or not parts.hostname:
            raise StorageError(f"{redact(url)!r} is not s3://host:port?username=&password=&bucket=")
        query = dict(urllib.parse.parse_qsl(parts.query))
        scheme = "https" if query.get("secure", "").lower() in ("1", "true", "yes") else "http"
        endpoint = f"{scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
        return cls(endpoint, query.get("username", ""), query.get("password", ""),
                   query.get("bucket") or DEFAULT_BUCKET, url, cache_dir)

    def key(self, namespace: str, name: str, leaf: str) -> str:
        return f"{namespace}/{name}/{leaf}"

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", ()))
        return keys

    def ensure_bucket(self) -> None:
        """Create the bucket when absent (a fresh server); a node does it once when it registers data."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def partitions(self, namespace: str, name: str) -> list[Path]:
        prefix = self.key(namespace, name, "")
        found = sorted((i, k) for k in self._keys(prefix)
                       if (i := partition_index(k[len(prefix):])) is not None)
        if not found:
            raise StorageError(f"dataset {namespace}#{name} not found in this node's storage (no {prefix}data_<n> "
                               "in its bucket)")
        paths = []
        for _, key in found:
            local = self.cache / "in" / key
            if not local.is_file():
                local.parent.mkdir(parents=True, exist_ok=True)
                part = local.with_name(local.name + ".part")
                self.client.download_file(self.bucket, key, str(part))  # streamed, multipart
                part.replace(local)
            paths.append(local)
        return paths

    def output_path(self, namespace: str, name: str) -> Path:
        local = self.cache / "out" / namespace / name / DATA_FILE
        local.parent.mkdir(parents=True, exist_ok=True)
        self._staged[(namespace, name)] = local
        return local

    def write_metadata(self, namespace: str, name: str, metadata: Mapping[str, object]) -> None:
        staged = self._staged.pop((namespace, name), None)
        if staged is not None and staged.is_file():
            self.upload(staged, namespace, name, DATA_FILE)
        body = json.dumps(metadata, ensure_ascii=False, indent=2).encode()
        self.client.put_object(Bucket=self.bucket, Key=self.key(namespace, name, METADATA_FILE), Body=body)

    def upload(self, local: Path, namespace: str, name: str, leaf: str = DATA_FILE) -> None:
        self.client.upload_file(str(local), self.bucket, self.key(namespace, name, leaf))

    def read_metadata(self, namespace: str, name: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.key(namespace, name, METADATA_FILE))
        except ClientError:
            return None
        return json.loads(obj["Body"].read())

    def exists(self, namespace: str, name: str) -> bool:
        prefix = self.key(namespace, name, "")
        return any(partition_index(k[len(prefix):]) is not None for k in self._keys(prefix))

    def list_datasets(self) -> list[tuple[str, str]]:
        out = []
        for key in self._keys(""):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == METADATA_FILE:
                out.append((parts[0], parts[1]))
        return sorted(out)

    def close(self) -> None:
        if self._own_cache:
            shutil.rmtree(self.cache, ignore_errors=True)


def open_storage(url: str, cache_dir: Path | None = None) -> Storage:
    """The storage engine of a `system.storage` URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        return FileStorage(Path(urllib.parse.unquote(parts.path)))
    if parts.scheme == "s3":
        return S3Storage.from_url(url, cache_dir)
    raise StorageError(f"storage {redact(url)!r}: only file:///path and s3://host:port?... are supported "
                       "(hdfs:// is not)")


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, "***" if k == "password" else v) for k, v in urllib.parse.parse_qsl(parts.query)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, safe="*")))
