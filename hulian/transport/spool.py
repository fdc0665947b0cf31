"""Turn a request body arriving in pieces into a `Payload` with bounded memory.

Small bodies stay in memory; larger ones are written to blob files of at most `chunk_bytes` each, so a
message is already cut into its forwarding chunks while it arrives. Blocking file IO and hashing run on
a worker thread in pieces of WRITE_PIECE bytes.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable

from hulian.core.errors import BodyTooLarge
from hulian.transport.blobs import BlobStore
from hulian.transport.model import Payload

WRITE_PIECE = 4 << 20


class Spooler:
    """Receives while it writes: each piece of WRITE_PIECE bytes goes to a worker thread while the next one
    arrives (one write in flight), without copying the pieces into one buffer."""

    def __init__(self, blobs: BlobStore, msg_id: str, origin: str, chunk_bytes: int, inline_bytes: int,
                 limit: int, offload: Callable[[Callable], Awaitable], digest: bool = False,
                 on_part: Callable[[int, str, int], None] | None = None):
        """`on_part(index, path, size)` is called on the event loop as each part file is complete and durable
        (before close returns for the last one), so a part can travel on while the next arrives. With `digest`
        each part's SHA-256 is taken on the writing thread as it is written, off the event loop and before
        anyone needs it (the signature of a forwarded chunk, the check of a received one)."""
        self.blobs, self.msg_id, self.origin = blobs, msg_id, origin
        self.on_part = on_part
        self._loop = asyncio.get_running_loop() if on_part else None
        self.chunk_bytes, self.inline_bytes, self.limit = max(chunk_bytes, 1), inline_bytes, limit
        self.write_piece = min(WRITE_PIECE, self.chunk_bytes)  # small chunks still travel on as they fill
        self.offload = offload
        self.digest = digest
        self._hasher = None  # of the current part file
        self._digests: list[str] = []  # of the part files written
        self._inline = b""  # the body, when small enough to stay in memory
        self.size = 0
        self._pieces: list[bytes] = []
        self._buffered = 0
        self._writing: asyncio.Future | None = None
        self._parts: list[str] = []
        self._file = None
        self._in_file = 0  # bytes in the current part file
        # what the current part file was written from, while it fits the hot copies (None: past that)
        self._part_pieces: list[bytes | memoryview] | None = []

    async def feed(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.limit:
            await self.abort()
            raise BodyTooLarge(f"body exceeds this node's limit of {self.limit} bytes (limits.max_body_bytes); "
                               "send it in several messages or raise the limit")
        self._pieces.append(data)
        self._buffered += len(data)
        if self._buffered >= self.write_piece and (self._parts or self._writing or self._buffered > self.inline_bytes):
            await self._flush()

    async def _flush(self) -> None:
        """Wait for the write in flight, then start writing what is buffered."""
        await self._wait_write()
        pieces, self._pieces, self._buffered = self._pieces, [], 0
        self._writing = asyncio.ensure_future(self.offload(lambda: self._write(pieces)))

    async def _wait_write(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing

    def _write(self, pieces: list[bytes]) -> None:
        for piece in pieces:
            view = memoryview(piece)
            while view:
                if self._file is None:
                    path = self.blobs.path_for(self.msg_id, len(self._parts), self.origin)
                    self._parts.append(path)
                    self._file = self.blobs.open_writer(path)
                    self._in_file = 0
                    self._part_pieces = [] if self.blobs.hot_part_bytes else None
                    self._hasher = hashlib.sha256() if self.digest else None
                take = min(len(view), self.chunk_bytes - self._in_file)
                part = view if take == len(view) else view[:take]
                if self._hasher is not None:
                    self._hasher.update(part)
                self._file.write(part)
                self._in_file += take
                if self._part_pieces is not None and self._in_file <= self.blobs.hot_part_bytes:
                    self._part_pieces.append(piece if take == len(piece) else part)
                else:  # too big to keep in memory: the pieces go once written, as before
                    self._part_pieces = None
                view = view[take:]
                if self._in_file >= self.chunk_bytes:
                    self._finish_part()

    def _finish_part(self) -> None:
        """Close the current part file durably, keep its hot copy and announce it (runs on the writing thread)."""
        self.blobs.finish(self._file)
        sha256 = self._hasher.hexdigest() if self._hasher is not None else None
        if sha256 is not None:
            self._digests.append(sha256)
        if self._part_pieces is not None:
            self.blobs.keep(self._parts[-1], self._part_pieces, self._in_file, sha256)
        self._file, self._part_pieces, self._hasher = None, [], None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.on_part, len(self._parts) - 1, self._parts[-1], self._in_file)

    async def close(self) -> Payload:
        """All bytes received: make the files durable and describe the payload."""
        if not self._parts and self._writing is None and self._buffered <= self.inline_bytes:
            self._inline = b"".join(self._pieces)
            return Payload(size=len(self._inline), data=self._inline)
        await self._flush()
        await self._wait_write()
        if self._file is not None:
            await self.offload(self._finish_part)  # its on_part callback runs before this await returns
        return Payload(size=self.size, parts=list(self._parts))

    async def abort(self) -> None:
        with contextlib.suppress(OSError):  # the body is being dropped anyway
            await self._wait_write()
        if self._file is not None:
            self._file.close()
            self._file = None
        self.blobs.delete(self._parts)
        self._parts.clear()

    def hexdigest(self) -> str:
        """SHA-256 of a whole body kept inline or in one part file (a spooler with `digest` and no cutting)."""
        assert self.digest and len(self._parts) <= 1
        return self._digests[0] if self._parts else hashlib.sha256(self._inline).hexdigest()


async def spool_bytes(data: bytes, spooler: Spooler) -> Payload:
    """A body already in memory (decoded JSON or protobuf), cut the same way."""
    for i in range(0, len(data), WRITE_PIECE):
        await spooler.feed(data[i:i + WRITE_PIECE])
    return await spooler.close()


async def run_blocking(fn: Callable):
    return await asyncio.get_running_loop().run_in_executor(None, fn)
