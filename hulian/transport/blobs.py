"""Payload files for messages too large to keep inline in the database.

Files are written completely (and fsynced when configured) before the row that names them is committed, so a
committed row never points at a partial file; orphans left by a crash are removed by `sweep`.

The most recently written files are also kept in memory, as the pieces they were written from ("hot"
copies, up to `hot_bytes` in all, oldest dropped first, files up to a quarter of that): a chunk is usually
forwarded, or a message popped, moments after it was written, and reading it back would cost a copy and a
page-cache pass per byte. The file stays the durable copy; the hot one is a cache that a restart simply does not
have.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

READ_PIECE = 1 << 20
Pieces = Sequence[bytes | memoryview]


@dataclass(frozen=True)
class Hot:
    """A file's content in memory, and its SHA-256 when the writer took it."""

    pieces: Pieces
    size: int
    sha256: str | None


class BlobStore:
    def __init__(self, root: Path, fsync: bool, hot_bytes: int = 0):
        self.root = root
        self.fsync = fsync
        self.hot_bytes = hot_bytes
        self.hot_part_bytes = hot_bytes // 4  # larger files are not kept: one body never fills the cache alone
        self._hot: OrderedDict[str, Hot] = OrderedDict()
        self._hot_size = 0
        self._lock = threading.Lock()  # writer, sender and event-loop threads share the hot copies
        root.mkdir(parents=True, exist_ok=True)

    def path_for(self, msg_id: str, index: int, origin: str) -> str:
        """Where piece `index` of message `msg_id` lives; `origin` separates outbox from inbox copies."""
        d = self.root / msg_id[:2]
        d.mkdir(exist_ok=True)
        # a random suffix: a repeated delivery must never overwrite the file an earlier copy still uses
        return str(d / f"{msg_id}.{origin}.{index}.{secrets.token_hex(4)}")

    def write(self, path: str, data: bytes | memoryview) -> None:
        with open(path, "wb") as f:
            f.write(data)
            self._sync(f)

    def open_writer(self, path: str):
        return open(path, "wb")

    def finish(self, f) -> None:
        """Close a file opened by `open_writer`, durable when configured."""
        f.flush()
        self._sync(f)
        f.close()

    def _sync(self, f) -> None:
        if self.fsync:
            f.flush()
            os.fsync(f.fileno())

    def keep(self, path: str, pieces: Pieces, size: int, sha256: str | None = None) -> None:
        """Remember the pieces a durable file was written from (files up to `hot_part_bytes`)."""
        if size > self.hot_part_bytes:
            return
        with self._lock:
            self._hot[path] = Hot(pieces, size, sha256)
            self._hot_size += size
            while self._hot_size > self.hot_bytes:
                _, dropped = self._hot.popitem(last=False)
                self._hot_size -= dropped.size

    def hot(self, path: str) -> Hot | None:
        """The file's content from memory, or None when it is not hot."""
        with self._lock:
            return self._hot.get(path)

    def content(self, path: str) -> Hot:
        """The file's content: its hot copy, else read from disk (blocking; no SHA-256 then)."""
        hot = self.hot(path)
        if hot is not None:
            return hot
        pieces = list(self.iter_file(path))
        return Hot(pieces, sum(len(p) for p in pieces), None)

    @staticmethod
    def iter_file(path: str, piece: int = READ_PIECE) -> Iterator[bytes]:
        with open(path, "rb") as f:
            while data := f.read(piece):
                yield data

    def delete(self, paths: list[str]) -> None:
        for p in paths:
            with self._lock:
                entry = self._hot.pop(p, None)
                if entry is not None:
                    self._hot_size -= entry.size
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)

    def sweep(self, referenced: set[str], older_than: float = 300.0) -> int:
        """Delete files no table references (left by a crash mid-write); recent files may be in flight."""
        cutoff = time.time() - older_than
        removed = 0
        for p in self.root.glob("*/*"):
            if str(p) not in referenced and p.stat().st_mtime < cutoff:
                p.unlink(missing_ok=True)
                removed += 1
        return removed
