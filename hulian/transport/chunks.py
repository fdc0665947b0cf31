"""Messages that arrive in chunks: each chunk is kept (file + row in `ptp_chunks`) until its siblings are all
here; then the message is delivered whole. Chunks of messages whose other chunks never came are pruned."""
from __future__ import annotations

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hulian.store.db import Database, chunks
from hulian.transport.blobs import BlobStore
from hulian.transport.model import Message, Payload
from hulian.transport.spool import run_blocking


class Reassembly:
    def __init__(self, db: Database, blobs: BlobStore):
        self.db = db
        self.blobs = blobs

    async def add(self, msg: Message, payload: Payload) -> list[str] | None:
        """Keep one chunk; the files of the whole message, in order, once this chunk completed it (the caller
        delivers them and then calls `delivered`); None while chunks are missing or for a repeated chunk."""
        if payload.data is not None:  # keep every chunk in a file so a message is a list of files
            path = self.blobs.path_for(msg.msg_id, msg.chunk_index, "in")
            await run_blocking(lambda: self.blobs.write(path, payload.data))
            payload = Payload(size=payload.size, parts=[path])
        (path,) = payload.parts

        def tx(conn: Connection) -> list | None:
            row = msg.routing_row() | {"payload": None, "blob_path": path, "size": payload.size,
                                       "chunk_index": msg.chunk_index, "chunk_count": msg.chunk_count,
                                       "total_size": msg.total_size}
            try:
                with conn.begin_nested():
                    conn.execute(insert(chunks).values(**row))
            except IntegrityError:
                return None  # a repeated chunk
            rows = conn.execute(select(chunks.c.chunk_index, chunks.c.blob_path).where(
                chunks.c.msg_id == msg.msg_id).order_by(chunks.c.chunk_index)).all()
            return rows if len(rows) == msg.chunk_count else []

        rows = await self.db.run(tx)
        if rows is None:
            self.blobs.delete([path])
            return None
        return [r.blob_path for r in rows] or None

    async def delivered(self, msg_id: str) -> None:
        """The whole message is in the queue: its chunk rows go (the queue owns the files now)."""
        await self.db.run(lambda c: c.execute(delete(chunks).where(chunks.c.msg_id == msg_id)))

    async def drop(self, session_id: str, topic: str | None) -> list[str]:
        """Forget the chunks of a released topic or session; their files, to delete."""
        def tx(conn: Connection) -> list[str]:
            cond = chunks.c.session_id == session_id
            if topic is not None:
                cond = and_(cond, chunks.c.topic == topic)
            paths = [p for (p,) in conn.execute(select(chunks.c.blob_path).where(cond))]
            conn.execute(delete(chunks).where(cond))
            return paths

        return await self.db.run(tx)

    async def prune(self, horizon: float) -> list[str]:
        """Forget chunks older than `horizon` (their message never completed); their files, to delete."""
        def tx(conn: Connection) -> list[str]:
            stale = [p for (p,) in conn.execute(select(chunks.c.blob_path).where(chunks.c.created_at < horizon))]
            conn.execute(delete(chunks).where(chunks.c.created_at < horizon))
            return stale

        return await self.db.run(tx)

    async def blob_paths(self) -> set[str]:
        return await self.db.run(lambda c: {p for (p,) in c.execute(
            select(chunks.c.blob_path).where(chunks.c.blob_path.is_not(None)))})
