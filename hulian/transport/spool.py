"""Turn a request body arriving in pieces into a `Payload` with bounded memory.

Small bodies stay in memory; larger ones are written to blob files of at most `chunk_bytes` each, so a
message is already cut into its forwarding chunks while it arrives. Blocking file IO and hashing run on
a worker thread in pieces of WRITE_PIECE bytes.
"""
from __future__ import annotations

import asyncio
import hashlib
from typing import Awaitable, Callable

from hulian.core.errors import BodyTooLarge
from hulian.transport.blobs import BlobStore
from hulian.transport.model import Payload

WRITE_PIECE = 1 << 20


class Spooler:
    def __init__(self, blobs: BlobStore, msg_id: str, origin: str, chunk_bytes: int, inline_bytes: int,
                 limit: int, offload: Callable[[Callable], Awaitable], digest: bool = False):
        self.blobs, self.msg_id, self.origin = blobs, msg_id, origin
        self.chunk_bytes, self.inline_bytes, self.limit = max(chunk_bytes, 1), inline_bytes, limit
        self.offload = offload
        self.hasher = hashlib.sha256() if digest else None
        self.size = 0
        self._buf = bytearray()
        self._parts: list[str] = []
        self._file = None
        self._in_file = 0  # bytes in the current part file

    async def feed(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.limit:
            await self.abort()
            raise BodyTooLarge(f"body exceeds this node's limit of {self.limit} bytes (limits.max_body_bytes); "
                               "send it in several messages or raise the limit")
        self._buf += data
        if len(self._buf) >= WRITE_PIECE and (self._parts or len(self._buf) > self.inline_bytes):
            await self._flush()

    async def _flush(self) -> None:
        buf, self._buf = bytes(self._buf), bytearray()
        await self.offload(lambda: self._write(buf))

    def _write(self, buf: bytes) -> None:
        if self.hasher:
            self.hasher.update(buf)
        view = memoryview(buf)
        while view:
            if self._file is None:
                path = self.blobs.path_for(self.msg_id, len(self._parts), self.origin)
                self._parts.append(path)
                self._file = self.blobs.open_writer(path)
                self._in_file = 0
            take = min(len(view), self.chunk_bytes - self._in_file)
            self._file.write(view[:take])
            self._in_file += take
            view = view[take:]
            if self._in_file >= self.chunk_bytes:
                self.blobs.finish(self._file)
                self._file = None

    async def close(self) -> Payload:
        """All bytes received: make the files durable and describe the payload."""
        if not self._parts and len(self._buf) <= self.inline_bytes:
            data = bytes(self._buf)
            if self.hasher:
                self.hasher.update(data)
            return Payload(size=len(data), data=data)
        await self._flush()
        if self._file is not None:
            f, self._file = self._file, None
            await self.offload(lambda: self.blobs.finish(f))
        return Payload(size=self.size, parts=list(self._parts))

    async def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.blobs.delete(self._parts)
        self._parts.clear()

    def hexdigest(self) -> str:
        assert self.hasher is not None
        return self.hasher.hexdigest()


async def spool_bytes(data: bytes, spooler: Spooler) -> Payload:
    """A body already in memory (decoded JSON or protobuf), cut the same way."""
    for i in range(0, len(data), WRITE_PIECE):
        await spooler.feed(data[i:i + WRITE_PIECE])
    return await spooler.close()


async def run_blocking(fn: Callable):
    return await asyncio.get_running_loop().run_in_executor(None, fn)
