"""The carrier-independent half of a link: what yacl's `transport::Channel` does around one push.

A `Session` owns one `PeerChannel` per peer and a `Carrier` that moves single PushRequests; it sends
messages (mono, or chunked in parallel), ACK/FIN/connect control messages, retries failed pushes, and turns
incoming PushRequests into messages. Root and spawned links share one session.

Once connected, a session also watches that each peer stays reachable (where the carrier can tell): a peer
unreachable for recv_timeout fails the link even when nothing waits on it, so a party busy with local work
(hashing its table) learns of a dead peer within the timeout rather than at its next receive.
"""
from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from hulian.transport.iclink.errors import CarrierError, LinkError, LinkTimeout
from hulian.transport.iclink.keys import ChunkAssembler, connect_key, with_seq
from hulian.transport.iclink.peer import PeerChannel
from hulian.wire.interconnection.common import header_pb2
from hulian.wire.interconnection.link import transport_pb2 as pb

log = logging.getLogger("hulian.iclink")
WATCH_INTERVAL = 0.5  # seconds between reachability checks of each peer, and the longest a check waits


@dataclass(frozen=True)
class LinkOptions:
    """yacl ContextDesc defaults (`yacl/link/context.h`) unless noted."""

    recv_timeout: float = 30.0  # recv_timeout_ms
    max_payload: int = 1 << 20  # http_max_payload_size: larger messages are CHUNKED
    throttle_window: int = 10  # throttle_window_size
    chunk_parallel: int = 8  # Channel::chunk_parallel_send_size_
    push_timeout: float = 20.0  # http_timeout_ms
    push_retries: int = 3  # hulian's choice: a push failing with a network error is retried this often
    retry_interval: float = 1.0  # first pause between retries, growing by itself each retry
    connect_retries: int = 10  # connect_retry_times
    connect_interval: float = 1.0  # connect_retry_interval_ms


class Carrier(ABC):
    """Moves one PushRequest to one peer; incoming requests go to `Session.on_request`."""

    @abstractmethod
    def describe(self, peer: int) -> str:
        """How the peer is reached, for error messages (address, node id)."""

    @abstractmethod
    def push(self, peer: int, request: pb.PushRequest, timeout: float) -> None:
        """Deliver `request`; raise CarrierError when it was not accepted."""

    def start(self, session: Session) -> None:
        """Begin receiving (server, poll threads)."""

    def stop(self) -> None:
        """Stop receiving and release connections; idempotent."""

    def reachable(self, peer: int, timeout: float) -> bool | None:
        """Whether `peer` can be reached now (waiting up to `timeout` s); None when this carrier cannot tell
        (the peer is behind a node), and then the peer is not watched. Sends nothing the peer would read."""
        return None


class Session:
    def __init__(self, rank: int, world_size: int, carrier: Carrier, options: LinkOptions):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside the world of {world_size} parties")
        self.rank, self.world_size, self.carrier, self.options = rank, world_size, carrier, options
        self.peers = {p: PeerChannel(rank, p, carrier.describe(p), self._control_poster(p))
                      for p in range(world_size) if p != rank}
        self._assembler = ChunkAssembler()
        # Messages, ACKs and FINs: at least a full throttle window in flight per peer, as yacl's bthreads.
        self._pool = ThreadPoolExecutor(max(4, (options.throttle_window + 2) * len(self.peers)),
                                        thread_name_prefix=f"iclink{rank}-push")
        self._chunk_pool = ThreadPoolExecutor(options.chunk_parallel * max(1, len(self.peers)),
                                              thread_name_prefix=f"iclink{rank}-chunk")
        self._closed = False
        self._close_lock = threading.Lock()
        self._stopped = threading.Event()

    # ---- sending ------------------------------------------------------------------------------------
    def send(self, dst: int, msg_key: str, value: bytes | bytearray | memoryview, throttled: bool = True) -> None:
        """Queue one message and return; when `throttled`, block while the throttle window to `dst` is full."""
        peer = self._peer(dst)
        seq = peer.next_seq()
        key = with_seq(msg_key, seq)
        # One copy now (the caller may reuse its buffer): the request itself, or the bytes the chunks slice.
        if len(value) > self.options.max_payload:
            work: pb.PushRequest | bytes = value if isinstance(value, bytes) else bytes(value)
        else:
            work = pb.PushRequest(sender_rank=self.rank, key=key, value=bytes(value), trans_type=pb.MONO)
        peer.push_started()
        self._pool.submit(self._deliver, peer, key, work)
        if throttled:
            peer.wait_window(seq, self.options.throttle_window, self.options.recv_timeout)

    def _deliver(self, peer: PeerChannel, key: str, work: pb.PushRequest | bytes) -> None:
        error: LinkError | None = None
        try:
            if isinstance(work, bytes):
                self._push_chunked(peer, key, memoryview(work))
            else:
                self._push_retrying(peer, work)
        except LinkError as e:
            error = e
        except Exception as e:  # a bug must not leave the peer waiting silently
            log.exception("unexpected failure pushing to rank %d", peer.peer)
            error = LinkError(f"pushing {key!r} to rank {peer.peer} failed unexpectedly: {type(e).__name__}: {e}")
        finally:
            peer.push_finished(error)

    def _push_chunked(self, peer: PeerChannel, key: str, view: memoryview) -> None:
        """All chunks of one message, at most `chunk_parallel` in flight (yacl SendChunked)."""
        size, step = len(view), self.options.max_payload
        gate = threading.BoundedSemaphore(self.options.chunk_parallel)
        failed = threading.Event()  # a chunk failed for good: send no more

        def settled(fut: Future) -> None:
            if fut.cancelled() or fut.exception() is not None:  # (exception() raises for a cancelled one)
                failed.set()
            gate.release()  # after: the loop it wakes must see the failure

        futures: list[Future] = []
        for offset in range(0, size, step):
            gate.acquire()
            if failed.is_set():
                gate.release()
                break
            request = pb.PushRequest(sender_rank=self.rank, key=key, value=bytes(view[offset:offset + step]),
                                     trans_type=pb.CHUNKED,
                                     chunk_info=pb.ChunkInfo(message_length=size, chunk_offset=offset))
            fut = self._chunk_pool.submit(self._push_retrying, peer, request)
            fut.add_done_callback(settled)
            futures.append(fut)
        wait(futures)
        for f in futures:
            if f.exception() is not None:
                raise f.exception()

    def _push_retrying(self, peer: PeerChannel, request: pb.PushRequest) -> None:
        o = self.options
        for attempt in range(o.push_retries + 1):
            try:
                self.carrier.push(peer.peer, request, o.push_timeout)
                return
            except CarrierError as e:
                if not e.retryable or attempt == o.push_retries:
                    raise LinkError(f"could not deliver {request.key!r} to rank {peer.peer} ({peer.describe}) "
                                    f"after {attempt + 1} attempts: {e}; check that the peer is running and "
                                    "reachable") from e
                log.info("push to rank %d failed (%s), retry %d of %d", peer.peer, e, attempt + 1, o.push_retries)
                if self._stopped.wait(o.retry_interval * (attempt + 1)):  # torn down: exit need not wait
                    raise LinkError(f"the link closed while {request.key!r} to rank {peer.peer} awaited a "
                                    "retry") from e

    def _control_poster(self, dst: int):
        """ACK/FIN/connect: queued like yacl's SubmitSendTask, never throttled."""
        def post(key: str, value: bytes) -> None:
            peer = self.peers[dst]
            peer.push_started()
            request = pb.PushRequest(sender_rank=self.rank, key=key, value=value, trans_type=pb.MONO)
            try:
                self._pool.submit(self._deliver, peer, key, request)
            except RuntimeError:  # the pool is shut down: the link is closed
                peer.push_finished()
        return post

    # ---- receiving ----------------------------------------------------------------------------------
    def on_request(self, request: pb.PushRequest) -> header_pb2.ResponseHeader:
        """Take one incoming push (carrier thread); fast: stores or reassembles, never waits on the app."""
        src = request.sender_rank
        peer = self.peers.get(src)
        if peer is None:
            return _refuse(f"sender_rank {src} is not a peer of rank {self.rank} (world size {self.world_size})")
        try:
            if request.trans_type == pb.CHUNKED:
                info = request.chunk_info
                whole = self._assembler.add(f"{src}/{request.key}", info.chunk_offset, info.message_length,
                                            request.value)
                if whole is not None:
                    peer.on_message(request.key, whole)
            elif request.trans_type == pb.MONO:
                peer.on_message(request.key, request.value)
            else:
                return _refuse(f"trans_type {request.trans_type} from rank {src} is neither MONO nor CHUNKED")
        except ValueError as e:
            return _refuse(str(e))
        return header_pb2.ResponseHeader(error_code=header_pb2.OK)

    def recv(self, src: int, msg_key: str, timeout: float | None) -> bytes:
        return self._peer(src).take(msg_key, self.options.recv_timeout if timeout is None else timeout)

    # ---- connect (yacl Context::ConnectToMesh) -------------------------------------------------------
    def connect_to_mesh(self) -> None:
        o = self.options
        for p, peer in self.peers.items():
            request = pb.PushRequest(sender_rank=self.rank, key=with_seq(connect_key(self.rank), 0),
                                     trans_type=pb.MONO)
            last: CarrierError | None = None
            for attempt in range(o.connect_retries):
                if attempt:
                    time.sleep(o.connect_interval)
                try:
                    self.carrier.push(p, request, float(attempt % 11 + 2))  # yacl cycles 2..12 s
                    break
                except CarrierError as e:
                    last = e
            else:
                raise LinkError(f"could not reach rank {p} ({peer.describe}) in {o.connect_retries} attempts "
                                f"{o.connect_interval:g} s apart: {last}; check that the peer is started and its "
                                "address is right")
            peer.mark_connected()
        for p, peer in self.peers.items():
            try:
                peer.take(connect_key(p), o.recv_timeout)
            except LinkTimeout as e:
                raise LinkTimeout(f"rank {p} ({peer.describe}) accepted our connect but sent none of its own "
                                  f"within {o.recv_timeout:g} s; does it use the same ranks?") from e
        threading.Thread(target=self._watch_peers, name=f"iclink{self.rank}-watch", daemon=True).start()

    def _watch_peers(self) -> None:
        """Fail a peer last seen reachable recv_timeout ago (its process is gone), until the link closes; a peer
        that sent its FIN may go away, so it is no longer watched."""
        last_up = dict.fromkeys(self.peers, time.monotonic())
        while last_up and not self._stopped.wait(WATCH_INTERVAL):
            for p in sorted(last_up):
                peer = self.peers[p]
                up = None if peer.error is not None or peer.closed_by_peer else self.carrier.reachable(
                    p, WATCH_INTERVAL)
                if up:
                    last_up[p] = time.monotonic()
                elif up is None:
                    del last_up[p]
                elif time.monotonic() - last_up[p] >= self.options.recv_timeout:
                    del last_up[p]
                    peer.fail(LinkError(f"rank {p} ({peer.describe}) has been unreachable for "
                                        f"{self.options.recv_timeout:g} s: its process is gone or the network "
                                        "is down"))

    # ---- close --------------------------------------------------------------------------------------
    def close(self, timeout: float | None = None) -> None:
        """FIN exchange with every peer, then stop the carrier (always, even when a wait failed)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + (self.options.recv_timeout if timeout is None else timeout)
        try:
            for peer in self.peers.values():
                if peer.error is None:
                    peer.begin_close()
            for peer in self.peers.values():
                peer.finish_close(deadline)
        finally:
            self._teardown()

    def check(self) -> None:
        """Raise LinkError if a peer failed (gone, refused a message) or the link was aborted."""
        for peer in self.peers.values():
            peer.check()

    def abort(self, reason: str = "the link was aborted") -> None:
        """Stop at once, without FIN: waiting calls fail with LinkError(`reason`)."""
        with self._close_lock:
            already, self._closed = self._closed, True
        for peer in self.peers.values():
            peer.fail(LinkError(reason))
        if not already:
            self._teardown()

    def _teardown(self) -> None:
        self._stopped.set()
        self.carrier.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._chunk_pool.shutdown(wait=False, cancel_futures=True)

    def _peer(self, rank: int) -> PeerChannel:
        peer = self.peers.get(rank)
        if peer is None:
            raise ValueError(f"rank {rank} is not a peer of rank {self.rank} (world size {self.world_size})")
        return peer


def _refuse(message: str) -> header_pb2.ResponseHeader:
    log.warning("refused a push: %s", message)
    return header_pb2.ResponseHeader(error_code=header_pb2.INVALID_REQUEST, error_msg=message)
