"""Payload files for messages too large to keep inline in the database.

Files are written completely (and fsynced when configured) before the row that names them is committed, so a
committed row never points at a partial file; orphans left by a crash are removed by `sweep`.

The most recently written files are also kept in memory, as the pieces they were written from ("hot"
copies, up to `hot_bytes` in all, oldest dropped first, files up to a quarter of that): a chunk is usually
forwarded, or a message popped, moments after it was written, and reading it back would cost a copy and a
page-cache pass per byte. The file stays the durable copy; the hot one is a cache that a restart simply does not
have.

With fsync on, part files are written with O_DIRECT where the file system allows it (`PartWriter`): bytes that
must reach the disk before the push is acknowledged anyway skip the page cache, which would only hold pages
nobody reads (the hot copy serves the readers) and then spend CPU writing them back and dropping them at unlink:
about half the CPU of a durable 64 MiB write here (bench/transport.py --cpu, the floor's "durable write").
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import mmap
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

READ_PIECE = 1 << 20
STAGE_BYTES = 4 << 20  # O_DIRECT staging buffer: page aligned, written whole
ALIGN = 4096  # O_DIRECT offsets and lengths: a multiple of any block size in use
SPARE_STAGES = 8  # staging buffers kept for reuse (a fresh one costs a page fault per 4 KiB)
Pieces = Sequence[bytes | memoryview]
log = logging.getLogger("hulian.transport.blobs")


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class PartWriter:
    """One part file being written. Direct mode copies the bytes into a page-aligned staging buffer and writes
    it whole with O_DIRECT; the unaligned tail goes through the page cache at `finish`. Buffered mode writes
    through the page cache."""

    def __init__(self, path: str, store: BlobStore, direct: bool):
        self.store = store
        self._stage: mmap.mmap | None = None
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        self.fd = -1
        if direct:
            try:
                self.fd = os.open(path, flags | os.O_DIRECT, 0o600)
            except OSError as e:
                if e.errno != errno.EINVAL:  # EINVAL: the file system has no O_DIRECT (e.g. tmpfs)
                    raise
                store.no_direct_io(e)
            else:
                self._stage = store.take_stage()
        if self.fd < 0:
            self.fd = os.open(path, flags, 0o600)
        self._staged = 0

    def write(self, data: bytes | memoryview) -> None:
        if self._stage is None:
            _write_all(self.fd, data)
            return
        view = memoryview(data)
        while view:
            take = min(len(view), STAGE_BYTES - self._staged)
            self._stage[self._staged:self._staged + take] = view[:take]
            self._staged += take
            view = view[take:]
            if self._staged == STAGE_BYTES:
                self._write_stage(STAGE_BYTES)

    def _write_stage(self, length: int) -> None:
        """Write the first `length` (aligned) staged bytes with O_DIRECT; a file system refusing it (EINVAL)
        gets them buffered, and the store stops asking for direct writes."""
        view = memoryview(self._stage)[:length]  # type: ignore[arg-type]
        try:
            _write_all(self.fd, view)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            self.store.no_direct_io(e)
            self._buffered()
            _write_all(self.fd, view)
        finally:
            view.release()
        self._staged -= length

    def _buffered(self) -> None:
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~os.O_DIRECT)

    def finish(self, sync: bool) -> None:
        """Write what is staged, make the file durable when `sync`, close it."""
        if self._stage is not None and self._staged:
            aligned = self._staged // ALIGN * ALIGN
            tail = self._stage[aligned:self._staged]
            if aligned:
                self._write_stage(aligned)
            self._buffered()
            _write_all(self.fd, tail)
            self._staged = 0
        if sync:
            os.fdatasync(self.fd)
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self._stage is not None:
            self.store.give_stage(self._stage)
            self._stage = None


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
        self.direct_io = fsync  # without fsync the page cache is the cheaper path
        self._stages: list[mmap.mmap] = []  # staging buffers of finished direct writers, reused
        root.mkdir(parents=True, exist_ok=True)

    def path_for(self, msg_id: str, index: int, origin: str) -> str:
        """Where piece `index` of message `msg_id` lives; `origin` separates outbox from inbox copies. Message
        ids come from peers: the name is a hash of the id, so no id can name a path (`../`, `/`, NUL)."""
        name = hashlib.sha256(msg_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        d = self.root / name[:2]
        d.mkdir(exist_ok=True)
        # a random suffix: a repeated delivery must never overwrite the file an earlier copy still uses
        return str(d / f"{name}.{origin}.{index}.{secrets.token_hex(4)}")

    def write(self, path: str, data: bytes | memoryview) -> None:
        """A whole file at once, written as a part file is."""
        f = self.open_writer(path)
        try:
            f.write(data)
            self.finish(f)
        finally:
            f.close()

    def open_writer(self, path: str) -> PartWriter:
        return PartWriter(path, self, self.direct_io)

    def finish(self, f: PartWriter) -> None:
        """Close a file opened by `open_writer`, durable when configured."""
        f.finish(self.fsync)

    def take_stage(self) -> mmap.mmap:
        with self._lock:
            if self._stages:
                return self._stages.pop()
        return mmap.mmap(-1, STAGE_BYTES)

    def give_stage(self, stage: mmap.mmap) -> None:
        with self._lock:
            if len(self._stages) < SPARE_STAGES:
                self._stages.append(stage)
                return
        stage.close()

    def no_direct_io(self, error: OSError) -> None:
        if self.direct_io:
            self.direct_io = False
            log.warning("payload files under %s are written through the page cache: the file system refuses "
                        "O_DIRECT (%s)", self.root, error)

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
