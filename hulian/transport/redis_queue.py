"""Queue backend in Redis Streams, for nodes whose operators already run Redis (transport.backend: redis).

Keys, all under ``hulian:<namespace>:`` (the namespace is the node id); a channel is named
``<len(session)>:<session>:<topic>`` so that no session/topic pair can spell another's name:

- ``queue:<channel>``  stream, one entry per message in arrival order (stream ids give FIFO). Fields in this
  order: ``s`` source node, ``n`` size, ``m`` the message's other fields as JSON, then ``b`` blob paths as
  JSON (only when in files) and ``p`` the inline payload (only when inline). The scripts read ``s``/``n``/``b``
  by position.
- ``claims:<channel>`` sorted set of claimed entry ids, scored by lease deadline (ms, Redis server clock).
- ``channels:<session>`` set of the session's channels holding messages (for releasing a whole session).
- ``bytes:<session>``  bytes queued for the session (its quota), kept by the same scripts that add/remove.
- ``seen:<msg_id>``  de-duplication marker, SET NX with a TTL of transport.message_ttl_seconds.

Every change of a message's state is one Lua script, so a claim is atomic across coroutines and processes.
Expired leases are dropped by the claiming script itself (server clock, no skew between processes); `start`
also clears every claim of the namespace (a restarted `SqlQueue` loses its in-memory claims the same way):
the namespace belongs to one node process, and a crashed predecessor's claims are pops whose replies were
never sent.

Needs Redis >= 6.2 (exclusive XRANGE) and a single instance, not Cluster (release computes key names).
Durability is Redis's: run it with ``appendonly yes`` (and ``appendfsync always`` for fsync per message).
"""
from __future__ import annotations

import dataclasses
import json
from typing import NamedTuple

from redis.asyncio import Redis

from hulian.transport.model import Delivery, Message
from hulian.transport.queue import CLAIM_LEASE_SECONDS, MessageQueue

SCAN_BATCH = 100  # entries per XRANGE while skipping claimed or other-source entries

# KEYS: seen, queue, bytes, channels. ARGV: ttl, channel, size, stream fields...
_PUT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
redis.call('INCRBY', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[2])
return 1
"""

# KEYS: queue, claims. ARGV: source ('' = any), lease ms (0 = peek, claim nothing), batch.
# Returns {entry id, lease deadline (0 for a peek), fields} of the oldest unclaimed entry, or nil.
_FIND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local lease, batch = tonumber(ARGV[2]), tonumber(ARGV[3])
local start = '-'
while true do
  local entries = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', batch)
  for _, entry in ipairs(entries) do
    local id, fields = entry[1], entry[2]
    if (ARGV[1] == '' or fields[2] == ARGV[1]) and not redis.call('ZSCORE', KEYS[2], id) then
      if lease == 0 then return {id, 0, fields} end
      redis.call('ZADD', KEYS[2], now + lease, id)
      return {id, now + lease, fields}
    end
  end
  if #entries < batch then return false end
  start = '(' .. entries[#entries][1]
end
"""

# KEYS: queue, claims, bytes, channels. ARGV: entry id, channel.
_ACK = """
redis.call('ZREM', KEYS[2], ARGV[1])
local entry = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entry == 1 then
  redis.call('XDEL', KEYS[1], ARGV[1])
  if redis.call('DECRBY', KEYS[3], entry[1][2][4]) <= 0 then redis.call('DEL', KEYS[3]) end
end
if redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SREM', KEYS[4], ARGV[2])
end
"""

# KEYS: claims. ARGV: entry id, lease deadline. Only the claim's holder may free it: after its lease expired
# the entry may be claimed by another popper, whose claim a late nack must not cancel.
_NACK = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
"""

# KEYS: channels, bytes. ARGV: key prefix, channel ('' = every channel of the session). Returns blob path lists.
_RELEASE = """
local channels = {ARGV[2]}
if ARGV[2] == '' then channels = redis.call('SMEMBERS', KEYS[1]) end
local paths, freed = {}, 0
for _, channel in ipairs(channels) do
  local queue = ARGV[1] .. 'queue:' .. channel
  for _, entry in ipairs(redis.call('XRANGE', queue, '-', '+')) do
    local fields = entry[2]
    freed = freed + tonumber(fields[4])
    if fields[7] == 'b' then table.insert(paths, fields[8]) end
  end
  redis.call('DEL', queue, ARGV[1] .. 'claims:' .. channel)
  redis.call('SREM', KEYS[1], channel)
end
if redis.call('DECRBY', KEYS[2], freed) <= 0 then redis.call('DEL', KEYS[2]) end
return paths
"""

# KEYS: queue. Returns the blob path lists of its entries (without moving payloads to the client).
_BLOBS = """
local paths = {}
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  if entry[2][7] == 'b' then table.insert(paths, entry[2][8]) end
end
return paths
"""


class Receipt(NamedTuple):
    """Identifies a claim: the stream entry, and the lease deadline that proves the claim is still ours."""

    entry_id: bytes
    lease: int


def _glob_escape(text: str) -> str:
    """SCAN MATCH treats these as wildcards; a node id is taken literally."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


class RedisQueue(MessageQueue):
    """Messages in Redis Streams: one stream per channel, claims in a sorted set beside it."""

    def __init__(self, url: str, namespace: str, dedup_ttl_seconds: int):
        """`dedup_ttl_seconds`: how long a delivered msg_id is remembered (as long as senders retry)."""
        super().__init__()
        self.namespace = namespace
        self.dedup_ttl = dedup_ttl_seconds
        self.prefix = f"hulian:{namespace}:"
        self.redis = Redis.from_url(url)  # bytes in and out: payloads are binary
        self._put = self.redis.register_script(_PUT)
        self._find = self.redis.register_script(_FIND)
        self._ack = self.redis.register_script(_ACK)
        self._nack = self.redis.register_script(_NACK)
        self._release = self.redis.register_script(_RELEASE)
        self._blobs = self.redis.register_script(_BLOBS)

    @staticmethod
    def _channel(session_id: str, topic: str) -> str:
        return f"{len(session_id)}:{session_id}:{topic}"

    def _queue_keys(self, session_id: str, topic: str) -> list[str]:
        channel = self._channel(session_id, topic)
        return [f"{self.prefix}queue:{channel}", f"{self.prefix}claims:{channel}"]

    async def start(self) -> None:
        await self.redis.ping()  # fail at startup, not at the first message, when Redis is unreachable
        claims = [k async for k in self.redis.scan_iter(match=_glob_escape(self.prefix) + "claims:*", count=500)]
        if claims:
            await self.redis.unlink(*claims)

    async def close(self) -> None:
        await self.redis.aclose()

    async def put(self, msg: Message) -> bool:
        meta = dataclasses.asdict(msg)
        del meta["payload"], meta["blob_paths"]
        fields: list[str | bytes | int] = ["s", msg.source_node, "n", msg.size, "m", json.dumps(meta)]
        if msg.blob_paths:
            fields += ["b", json.dumps(msg.blob_paths)]
        if msg.payload is not None:
            fields += ["p", msg.payload]
        channel = self._channel(msg.session_id, msg.topic)
        fresh = await self._put(
            keys=[f"{self.prefix}seen:{msg.msg_id}", f"{self.prefix}queue:{channel}",
                  f"{self.prefix}bytes:{msg.session_id}", f"{self.prefix}channels:{msg.session_id}"],
            args=[self.dedup_ttl, channel, msg.size, *fields])
        if fresh:
            self.waiters.notify(msg.session_id, msg.topic)
        return bool(fresh)

    async def _oldest(self, session_id: str, topic: str, source: str | None,
                      lease_ms: int) -> tuple[bytes, int, list[bytes]] | None:
        return await self._find(keys=self._queue_keys(session_id, topic), args=[source or "", lease_ms, SCAN_BATCH])

    @staticmethod
    def _message(fields: list[bytes]) -> Message:
        f = dict(zip(fields[::2], fields[1::2], strict=True))
        return Message(**json.loads(f[b"m"]), payload=f.get(b"p"),
                       blob_paths=json.loads(f[b"b"]) if b"b" in f else [])

    async def delivered(self, msg_id: str) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}seen:{msg_id}"))

    async def try_get(self, session_id: str, topic: str, source: str | None) -> Delivery | None:
        found = await self._oldest(session_id, topic, source, int(CLAIM_LEASE_SECONDS * 1000))
        if found is None:
            return None
        entry_id, lease, fields = found
        return Delivery(self._message(fields), Receipt(entry_id, lease))

    async def ack(self, delivery: Delivery) -> list[str]:
        msg = delivery.message
        channel = self._channel(msg.session_id, msg.topic)
        await self._ack(keys=[*self._queue_keys(msg.session_id, msg.topic), f"{self.prefix}bytes:{msg.session_id}",
                              f"{self.prefix}channels:{msg.session_id}"],
                        args=[delivery.receipt.entry_id, channel])
        return msg.blob_paths

    async def nack(self, delivery: Delivery) -> None:
        msg = delivery.message
        await self._nack(keys=self._queue_keys(msg.session_id, msg.topic)[1:],
                         args=[delivery.receipt.entry_id, delivery.receipt.lease])
        self.waiters.notify(msg.session_id, msg.topic)

    async def peek(self, session_id: str, topic: str, source: str | None) -> Message | None:
        found = await self._oldest(session_id, topic, source, 0)
        return None if found is None else self._message(found[2])

    async def release(self, session_id: str, topic: str | None) -> list[str]:
        lists = await self._release(
            keys=[f"{self.prefix}channels:{session_id}", f"{self.prefix}bytes:{session_id}"],
            args=[self.prefix, "" if topic is None else self._channel(session_id, topic)])
        self.waiters.notify(session_id, topic)
        return [path for paths in lists for path in json.loads(paths)]

    async def session_bytes(self, session_id: str) -> int:
        return int(await self.redis.get(f"{self.prefix}bytes:{session_id}") or 0)

    async def referenced_blobs(self) -> set[str]:
        paths: set[str] = set()
        async for key in self.redis.scan_iter(match=_glob_escape(self.prefix) + "queue:*", count=500):
            for listed in await self._blobs(keys=[key]):
                paths.update(json.loads(listed))
        return paths
