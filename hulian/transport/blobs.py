"""Payload files for messages too large to keep inline in the database.

Files are written completely (and fsynced when configured) before the row that names them is committed, so a
committed row never points at a partial file; orphans left by a crash are removed by `sweep`.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

READ_PIECE = 1 << 20


class BlobStore:
    def __init__(self, root: Path, fsync: bool):
        self.root = root
        self.fsync = fsync
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

    @staticmethod
    def read(path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    @staticmethod
    def iter_file(path: str, piece: int = READ_PIECE) -> Iterator[bytes]:
        with open(path, "rb") as f:
            while data := f.read(piece):
                yield data

    @staticmethod
    def delete(paths: list[str]) -> None:
        for p in paths:
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
