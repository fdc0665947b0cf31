"""The ECDH-PSI body: three flows at once on each party, as the standard's message sequence and SecretFlow's
deployed code run them.

- mask_self: our distinct points, masked with our key, streamed to the peer as "enc" batches (main link);
- mask_peer: the peer's "enc" batches, masked again with our key; kept when we may learn the result, and
  returned as "dual.enc" batches (on a spawned sub-link) when the peer may;
- recv_dual_self: our own items masked by both keys, returned by the peer in the order we sent them.

Batches are `EcdhPsiCipherBatch`: batch_index from 0 per stream, fixed-size items concatenated, then a separate
empty batch with is_last_batch. The curve work runs in worker processes (`ordered_map`), so receiving, sending
and masking overlap; memory is bounded by the window of batches in flight plus the dual ciphertexts kept.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hulian.algorithms.ecdh_psi import workers
from hulian.algorithms.ecdh_psi.duals import dual_size, truncate
from hulian.algorithms.ecdh_psi.errors import INVALID_REQUEST, NETWORK_ERROR, UNEXPECTED_ERROR, PsiError
from hulian.algorithms.ecdh_psi.params import PsiParams
from hulian.algorithms.ecdh_psi.prepare import Prepared
from hulian.crypto.ecc import InvalidPoint
from hulian.engine.pool import ordered_map
from hulian.sdk import Link, LinkError
from hulian.wire.interconnection.runtime.ecdh_psi_pb2 import EcdhPsiCipherBatch

log = logging.getLogger(__name__)

ENC = "enc"
DUAL = "dual.enc"
Progress = Callable[[str, int], None]


@dataclass
class Exchanged:
    own_duals: np.ndarray | None   # (our distinct items x dual size), positional; None when we learn nothing
    peer_duals: np.ndarray | None  # (peer's items x dual size); None when we learn nothing
    peer_items: int = 0


def send_stream(link: Link, kind: str, payloads: Iterable[bytes], item_size: int, on_batch: Progress,
                throttled: bool = True) -> None:
    """Send `payloads` as one stream of batches and its empty terminal batch.

    The dual stream is sent unthrottled (as SecretFlow does): both parties' mask_peer flows send while the
    other reads, and a throttled send there could wait on a peer that waits on us."""
    peer = 1 - link.rank
    send = link.send if throttled else link.send_async
    index = 0
    for data in payloads:
        count = len(data) // item_size
        send(peer, EcdhPsiCipherBatch(type=kind, batch_index=index, count=count, ciphertext=data).SerializeToString(),
             f"{kind}:{index}")
        index += 1
        on_batch(kind, count)
    send(peer, EcdhPsiCipherBatch(type=kind, batch_index=index, is_last_batch=True).SerializeToString(),
         f"{kind}:{index}:last")


def recv_stream(link: Link, kind: str, item_size: int, timeout: float) -> Iterator[bytes]:
    """The ciphertexts of each batch of one stream, checking order and sizes, until its terminal batch."""
    peer = 1 - link.rank
    index = 0
    while True:
        raw = link.recv(peer, timeout)
        batch = EcdhPsiCipherBatch()
        try:
            batch.ParseFromString(raw)
        except Exception as e:  # DecodeError and friends
            raise PsiError(INVALID_REQUEST, f"{kind} batch {index} from rank {peer} is not an EcdhPsiCipherBatch "
                           f"({e}); is the peer running ECDH-PSI with the same protocol version?") from None
        if batch.type and batch.type != kind:
            raise PsiError(INVALID_REQUEST, f"expected a {kind!r} batch from rank {peer}, got type {batch.type!r}")
        if batch.batch_index != index:
            raise PsiError(INVALID_REQUEST, f"{kind} batch from rank {peer}: expected batch_index {index}, "
                           f"got {batch.batch_index}")
        if batch.is_last_batch or batch.count == 0:
            return
        if len(batch.ciphertext) != batch.count * item_size:
            raise PsiError(INVALID_REQUEST, f"{kind} batch {index} from rank {peer}: {len(batch.ciphertext)} bytes "
                           f"for {batch.count} items, expected {item_size} bytes per item; both parties must "
                           "use the same suite, point format and truncation (and --compat)")
        yield batch.ciphertext
        index += 1


class Exchange:
    """One party's side of the body, given its prepared items, key and the two links."""

    def __init__(self, link: Link, dual_link: Link, params: PsiParams, prepared: Prepared,
                 pool: ProcessPoolExecutor, key: bytes, workdir: Path, window: int, timeout: float,
                 progress: Progress | None = None):
        self.link, self.dual_link, self.params, self.prepared = link, dual_link, params, prepared
        self.pool, self.key, self.window, self.timeout = pool, key, window, timeout
        self.progress = progress or (lambda stage, n: None)
        self.rank = link.rank
        self.point_size = prepared.point_size
        self.dual_size = dual_size(params, self.point_size)
        self.self_touch = params.can_touch_results(self.rank)
        self.peer_touch = params.can_touch_results(1 - self.rank)
        self._errors: list[PsiError] = []
        self._peer_items = 0
        self._own_duals: np.ndarray | None = None
        self._peer_path = workdir / "peer_duals.bin"

    def run(self) -> Exchanged:
        flows = [("mask_self", self._mask_self), ("mask_peer", self._mask_peer)]
        if self.self_touch:
            flows.append(("recv_dual_self", self._recv_dual_self))
        threads = [threading.Thread(target=self._guard, args=(name, fn), name=f"psi-{name}", daemon=True)
                   for name, fn in flows]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self._errors:
            raise self._errors[0]
        peer = None
        if self.self_touch:
            peer = np.fromfile(self._peer_path, dtype=np.uint8).reshape(-1, self.dual_size)
        return Exchanged(self._own_duals, peer, self._peer_items)

    def _guard(self, name: str, fn: Callable[[], None]) -> None:
        """Run one flow; its failure aborts the link, so the other flows stop at once instead of timing out."""
        try:
            fn()
        except PsiError as e:
            self._fail(e)
        except InvalidPoint as e:  # the peer's bad input, not our failure
            self._fail(PsiError(INVALID_REQUEST, f"{name}: rank {1 - self.rank} sent {e}"))
        except LinkError as e:
            self._fail(PsiError(NETWORK_ERROR, f"{name}: {e}"))
        except Exception as e:  # a bug or a resource problem: keep the cause in the log, name it in the error
            log.exception("ECDH-PSI %s failed", name)
            self._fail(PsiError(UNEXPECTED_ERROR, f"{name}: {type(e).__name__}: {e}"))

    def _fail(self, error: PsiError) -> None:
        first = not self._errors
        self._errors.append(error)
        if first:
            self.link.abort(f"ECDH-PSI stopped: {error.message}")

    def _masked(self, batches: Iterable[bytes]) -> Iterator[bytes]:
        return ordered_map(self.pool, workers.mask, ((self.key, b) for b in batches), self.window,
                           self.link.check)

    def _mask_self(self) -> None:
        own = self.prepared.unique_points(self.params.batch_size)
        send_stream(self.link, ENC, self._masked(own), self.point_size, self.progress)

    def _mask_peer(self) -> None:
        incoming = recv_stream(self.link, ENC, self.point_size, self.timeout)
        keep = self._peer_path.open("wb") if self.self_touch else None
        try:
            def duals() -> Iterator[bytes]:
                for masked in self._masked(incoming):
                    dual = truncate(self.params, masked, self.point_size)
                    self._peer_items += len(dual) // self.dual_size
                    if keep is not None:
                        keep.write(dual)
                    yield dual
            if self.peer_touch:
                send_stream(self.dual_link, DUAL, duals(), self.dual_size, self.progress, throttled=False)
            else:
                for _ in duals():
                    pass
        finally:
            if keep is not None:
                keep.close()

    def _recv_dual_self(self) -> None:
        expected = self.prepared.unique
        out = np.empty((expected, self.dual_size), dtype=np.uint8)
        got = 0
        for data in recv_stream(self.dual_link, DUAL, self.dual_size, self.timeout):
            n = len(data) // self.dual_size
            if got + n > expected:
                raise PsiError(INVALID_REQUEST, f"peer returned more dual ciphertexts than the {expected} items "
                               "we sent")
            out[got:got + n] = np.frombuffer(data, dtype=np.uint8).reshape(n, self.dual_size)
            got += n
            self.progress(DUAL + ".recv", n)
        if got != expected:
            raise PsiError(INVALID_REQUEST, f"peer returned {got} dual ciphertexts for the {expected} items we "
                           "sent; the peer stopped early or dropped a batch")
        self._own_duals = out
