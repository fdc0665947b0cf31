"""TransportService pieces that need no peer: local delivery, quotas, release, pruning."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from hulian.core.config import NodeConfig
from hulian.core.errors import BufferFull, SessionReleased
from hulian.node.app import build_node
from hulian.store.db import chunks, received, released
from hulian.transport.model import Message, Payload


@pytest.fixture
async def node(tmp_path: Path):
    cfg = NodeConfig(node_id="n1", data_dir=tmp_path, limits={"session_quota_bytes": 100},
                     transport={"message_ttl_seconds": 60, "fsync": False})
    n = build_node(cfg)
    await n.queue.start()
    await n.service.start()
    yield n
    await n.service.stop()
    n.db.close()


def local(msg_id: str, session: str = "s", size: int = 10) -> tuple[Message, Payload]:
    return (Message(msg_id=msg_id, session_id=session, topic="t", source_node="n1", target_node="n1", size=size),
            Payload(size=size, data=b"x" * size))


async def test_local_push_pop_and_quota(node):
    await node.service.push(*local("m1", size=60))
    with pytest.raises(BufferFull, match="session_quota_bytes"):
        await node.service.push(*local("m2", size=60))
    d = await node.service.pop("s", "t", None, 1)
    assert d.message.msg_id == "m1" and d.message.payload == b"x" * 60
    await node.service.ack(d)
    await node.service.push(*local("m3", size=60))  # room again once popped


async def test_release_closes_the_session(node):
    await node.service.push(*local("m1"))
    await node.service.release("s", None)
    with pytest.raises(SessionReleased):
        await node.service.pop("s", "t", None, 1)
    with pytest.raises(SessionReleased):
        await node.service.push(*local("m2"))


async def test_prune_forgets_only_what_is_older_than_the_ttl(node, tmp_path):
    old, new = time.time() - 120, time.time()
    orphan = tmp_path / "orphan-chunk"
    orphan.write_bytes(b"c")

    def seed(conn):
        conn.execute(insert(received), [{"msg_id": "old", "received_at": old}, {"msg_id": "new", "received_at": new}])
        conn.execute(insert(released), [{"session_id": "gone", "released_at": old}])
        row = Message(msg_id="part", session_id="s", topic="t", source_node="x", target_node="n1", size=1,
                      created_at=old).routing_row()
        conn.execute(insert(chunks).values(**row, blob_path=str(orphan), chunk_index=0, chunk_count=2, total_size=2))

    await node.db.run(seed)
    counts = await node.service.prune(time.time())
    assert counts == {"message_ids": 1, "released_sessions": 1, "orphan_chunks": 1}
    left = await node.db.run(lambda c: [r.msg_id for r in c.execute(select(received.c.msg_id))])
    assert left == ["new"] and not orphan.exists()
    assert not await node.service.is_released("gone")
