"""Triples from a dealer: the interconnection `BeaverService` served by a third party of the job.

Each compute party opens the session with its own PRG seed (CreateSession) and from then on draws its shares
of every triple from that seed alone; the adjust rank (0) asks the dealer for the one array that completes
each triple (AdjustMul, AdjustDot, AdjustAnd) and adds it to its share of c. The other rank never talks to
the dealer again. The dealer sees seeds and sizes, never an input, an opened mask or an output.

On the federation each call is one message on the topic `BeaverService-<n>` (numbered per caller): msgpack
[method name, request protobuf]; the reply is the response protobuf on `BeaverService-<n>-reply`. The
open protocols define the messages, not how they travel (SPU calls the service over brpc).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import msgpack
import numpy as np
from google.protobuf.message import DecodeError, Message

from hulian.crypto.ss import beaver, ring
from hulian.crypto.ss.prg import Prg, PrgBuffer
from hulian.federation import Federation, Party, Scope, Traffic
from hulian.mpc.channel import MpcError, PeerChannel
from hulian.mpc.triples import Later
from hulian.wire.interconnection.service import beaver_pb2 as pb

log = logging.getLogger(__name__)
SERVICE = "BeaverService"
VERSION = 1
ADJUST_RANK = 0


def _meta(buffers: Sequence[PrgBuffer]) -> list[pb.PrgBufferMeta]:
    return [pb.PrgBufferMeta(prg_count=b.prg_count, size=b.size) for b in buffers]


def _words(data: bytes, size: int, method: str) -> np.ndarray:
    if len(data) != size * 8:
        raise MpcError(f"{method}: the dealer returned {len(data)} bytes for {size} ring elements")
    return np.frombuffer(data, dtype="<u8").astype(ring.U64)


class DealerTriples:
    """A compute party's side of the BeaverService session."""

    name = "dealer"
    has_trunc_pr = True

    def __init__(self, federation: Federation, scope: Scope, dealer: Party, rank: int, world_size: int,
                 session_id: str, timeout: float, stats: Traffic):
        self.rank, self.session_id = rank, session_id
        self._dealer = PeerChannel(federation, scope, dealer, timeout, stats)
        self._prg = Prg()
        reply = self._call("CreateSession", pb.CreateSessionRequest(
            required_version=VERSION, adjust_rank=ADJUST_RANK, session_id=session_id, world_size=world_size,
            rank=rank, prg_seed=self._prg.seed), pb.CreateSessionResponse)
        self._check(reply, "CreateSession")

    def _call(self, method: str, request: Message, response: type[Message]) -> Message:
        return self._call_later(method, request, response)()

    def _call_later(self, method: str, request: Message, response: type[Message]) -> Callable[[], Message]:
        """Send the call now; the returned function waits for the reply (other calls may go out meanwhile)."""
        topic = self._dealer.topic(SERVICE)
        self._dealer.send_bytes(topic, msgpack.packb([method, request.SerializeToString()]))

        def reply() -> Message:
            data = self._dealer.recv_bytes(f"{topic}-reply")
            try:
                return response.FromString(data)
            except DecodeError as e:
                raise MpcError(f"{method}: the dealer's reply is no {response.__name__}: {e}") from e
        return reply

    @staticmethod
    def _check(reply: Message, method: str) -> None:
        if reply.code != pb.OK:
            raise MpcError(f"the dealer refused {method}: {pb.ErrorCode.Name(reply.code)}: {reply.message}")

    def _completed(self, method: str, request: Message, share: np.ndarray,
                   combine: Callable[[np.ndarray, np.ndarray], np.ndarray] = np.add) -> Later:
        """This party's c: at the adjust rank, its PRG share combined with the dealer's adjustment once it
        arrives (the request goes out now); elsewhere the PRG share as it is."""
        return self._completed_many(method, request, [share], combine)[0]

    def _completed_many(self, method: str, request: Message, shares: Sequence[np.ndarray],
                        combine: Callable[[np.ndarray, np.ndarray], np.ndarray] = np.add) -> list[Later]:
        if self.rank != ADJUST_RANK:
            return list(shares)
        pending = self._call_later(method, request, pb.AdjustResponse)
        outputs: list[np.ndarray] = []

        def adjusted() -> list[np.ndarray]:
            if not outputs:
                reply = pending()
                self._check(reply, method)
                if len(reply.adjust_outputs) != len(shares):
                    raise MpcError(f"{method}: the dealer returned {len(reply.adjust_outputs)} arrays, "
                                   f"not {len(shares)}")
                outputs.extend(combine(s, _words(d, s.size, method).reshape(s.shape))
                               for s, d in zip(shares, reply.adjust_outputs, strict=True))
            return outputs
        return [lambda i=i: adjusted()[i] for i in range(len(shares))]

    def _draw(self, *sizes: int) -> tuple[list[np.ndarray], list[PrgBuffer]]:
        drawn = [self._prg.next(s) for s in sizes]
        return [w for w, _ in drawn], [m for _, m in drawn]

    def mul(self, size: int) -> tuple[np.ndarray, np.ndarray, Later]:
        (a, b, c), metas = self._draw(size, size, size)
        return a, b, self._completed("AdjustMul", pb.AdjustMulRequest(
            session_id=self.session_id, prg_inputs=_meta(metas), field=beaver.FIELD_64), c)

    def square(self, size: int) -> tuple[np.ndarray, Later]:
        (a, c), (ma, mc) = self._draw(size, size)   # AdjustMul with ra given twice: the dealer returns a*a - c
        return a, self._completed("AdjustMul", pb.AdjustMulRequest(
            session_id=self.session_id, prg_inputs=_meta([ma, ma, mc]), field=beaver.FIELD_64), c)

    def dot(self, m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray, Later]:
        (a, b, c), metas = self._draw(m * k, k * n, m * n)
        return a.reshape(m, k), b.reshape(k, n), self._completed("AdjustDot", pb.AdjusDotRequest(
            session_id=self.session_id, prg_inputs=_meta(metas), field=beaver.FIELD_64, M=m, N=n, K=k),
            c.reshape(m, n))

    def and_(self, size: int) -> tuple[np.ndarray, np.ndarray, Later]:
        (a, b, c), metas = self._draw(size, size, size)
        return a, b, self._completed("AdjustAnd", pb.AdjustAndRequest(
            session_id=self.session_id, prg_inputs=_meta(metas), field=beaver.FIELD_64), c, np.bitwise_xor)

    def trunc_pr(self, size: int, bits: int) -> tuple[np.ndarray, Later, Later]:
        (r, low, top), metas = self._draw(size, size, size)
        low_later, top_later = self._completed_many("AdjustTruncPr", pb.AdjustTruncPrRequest(
            session_id=self.session_id, prg_inputs=_meta(metas), field=beaver.FIELD_64, bits=bits), [low, top])
        return r, low_later, top_later

    def close(self) -> None:
        self._check(self._call("DeleteSession", pb.DeleteSessionRequest(session_id=self.session_id),
                               pb.DeleteSessionResponse), "DeleteSession")


# ---- the dealer's side ---------------------------------------------------------------------------------
_ADJUST: dict[str, tuple[type[Message], Callable[..., list[np.ndarray]]]] = {
    "AdjustMul": (pb.AdjustMulRequest, lambda seeds, r, bufs: beaver.adjust_mul(seeds, bufs, r.field)),
    "AdjustDot": (pb.AdjusDotRequest, lambda seeds, r, bufs: beaver.adjust_dot(seeds, bufs, r.field, r.M, r.N, r.K)),
    "AdjustAnd": (pb.AdjustAndRequest, lambda seeds, r, bufs: beaver.adjust_and(seeds, bufs, r.field)),
    "AdjustTrunc": (pb.AdjustTruncRequest,
                    lambda seeds, r, bufs: beaver.adjust_trunc(seeds, bufs, r.field, r.bits)),
    "AdjustTruncPr": (pb.AdjustTruncPrRequest,
                      lambda seeds, r, bufs: beaver.adjust_trunc_pr(seeds, bufs, r.field, r.bits)),
    "AdjustRandBit": (pb.AdjustRandBitRequest, lambda seeds, r, bufs: beaver.adjust_rand_bit(seeds, bufs, r.field)),
}
MAX_ELEMENTS = 1 << 27   # one adjust array at most 1 GiB: a request beyond it is refused, not attempted


class _Caller:
    def __init__(self, channel: PeerChannel):
        self.channel = channel

    def next(self, timeout: float) -> tuple[str, str, bytes]:
        topic = self.channel.topic(SERVICE)
        raw = self.channel.recv_bytes(topic, timeout)
        try:
            method, body = msgpack.unpackb(raw)
            return topic, str(method), bytes(body)
        except (ValueError, TypeError, msgpack.UnpackException) as e:
            raise MpcError(f"{self.channel.peer} sent a {SERVICE} call that is no [method, request]: {e}") from e

    def reply(self, topic: str, response: Message) -> None:
        self.channel.send_bytes(f"{topic}-reply", response.SerializeToString())


IDLE_TIMEOUT = 3600.0   # seconds the dealer waits for a session's next call (the parties may compute locally)


def serve(federation: Federation, scope: Scope, parties: Sequence[Party], session_id: str, timeout: float,
          stats: Traffic | None = None, idle: float = IDLE_TIMEOUT) -> Traffic:
    """Serve one BeaverService session to `parties` (in rank order) until each has deleted it: CreateSession
    within `timeout` seconds, every later call within `idle` seconds of the one before. Returns the traffic;
    MpcError if a party breaks the protocol."""
    stats = stats if stats is not None else Traffic()
    callers = [_Caller(PeerChannel(federation, scope, p, timeout, stats)) for p in parties]
    seeds: list[bytes] = []
    for rank, caller in enumerate(callers):
        topic, method, body = caller.next(timeout)
        request = pb.CreateSessionRequest.FromString(body) if method == "CreateSession" else None
        problem = _session_problem(request, rank, len(parties), session_id)
        caller.reply(topic, pb.CreateSessionResponse(code=pb.SessionError if problem else pb.OK, message=problem))
        if problem:
            raise MpcError(f"{SERVICE}: {parties[rank]}: {problem}")
        seeds.append(request.prg_seed)
    adjuster = callers[ADJUST_RANK]
    served = 0
    started = time.monotonic()
    while True:
        topic, method, body = adjuster.next(idle)
        if method == "DeleteSession":
            adjuster.reply(topic, pb.DeleteSessionResponse(code=pb.OK))
            break
        adjuster.reply(topic, _adjust(method, body, seeds, session_id))
        served += 1
    for rank, caller in enumerate(callers):
        if rank != ADJUST_RANK:
            topic, method, _ = caller.next(idle)
            caller.reply(topic, pb.DeleteSessionResponse(code=pb.OK if method == "DeleteSession" else pb.SessionError,
                                                         message="" if method == "DeleteSession" else
                                                         f"{method} from a rank that does not adjust"))
    log.info("%s session %s: %d adjust calls in %.2f s", SERVICE, session_id, served, time.monotonic() - started)
    return stats


def _session_problem(request: pb.CreateSessionRequest | None, rank: int, world: int, session_id: str) -> str:
    if request is None:
        return "the first call of a party must be CreateSession"
    if request.session_id != session_id or request.rank != rank or request.world_size != world:
        return (f"session {request.session_id!r} rank {request.rank} of {request.world_size} does not match "
                f"this dealer's session {session_id!r} rank {rank} of {world}")
    if request.adjust_rank != ADJUST_RANK or request.required_version != VERSION:
        return f"adjust rank {request.adjust_rank} / version {request.required_version} unsupported (0 / {VERSION})"
    if len(request.prg_seed) != 16:
        return f"a PRG seed has 16 bytes, not {len(request.prg_seed)}"
    return ""


def _adjust(method: str, body: bytes, seeds: Sequence[bytes], session_id: str) -> pb.AdjustResponse:
    if method not in _ADJUST:
        return pb.AdjustResponse(code=pb.OpAdjustError, message=f"unknown method {method!r}; known: {sorted(_ADJUST)}")
    cls, compute = _ADJUST[method]
    try:
        request = cls.FromString(body)
        if request.session_id != session_id:
            return pb.AdjustResponse(code=pb.SessionError, message=f"no session {request.session_id!r}")
        buffers = [PrgBuffer(m.prg_count, m.size) for m in request.prg_inputs]
        if any(b.size > MAX_ELEMENTS for b in buffers):
            raise beaver.BeaverError(f"{method}: more than {MAX_ELEMENTS} elements in one buffer; ask in chunks")
        outputs = compute(seeds, request, buffers)
    except (DecodeError, beaver.BeaverError, ValueError) as e:
        return pb.AdjustResponse(code=pb.OpAdjustError, message=str(e))
    return pb.AdjustResponse(code=pb.OK, adjust_outputs=[np.ascontiguousarray(o, dtype="<u8").tobytes()
                                                        for o in outputs])
