"""One party's ECDH-PSI run over a link, from an input table to its output rows and a report.

Stages: prepare (hash keys to points in the workers, find duplicates), handshake (white-box only; BFIA
components take agreed parameters from their environment), exchange (the three concurrent flows), intersect
(numpy over the dual ciphertexts) and write (the input rows whose key is in the intersection, all columns, in
input order, duplicates included).
"""
from __future__ import annotations

import contextlib
import logging
import resource
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hulian.algorithms.ecdh_psi import handshake
from hulian.algorithms.ecdh_psi.duals import intersect
from hulian.algorithms.ecdh_psi.errors import UNSUPPORTED_PARAMS, PsiError
from hulian.algorithms.ecdh_psi.exchange import Exchange, Progress
from hulian.algorithms.ecdh_psi.params import PsiParams
from hulian.algorithms.ecdh_psi.prepare import prepare
from hulian.algorithms.ecdh_psi.workers import curve_pool
from hulian.crypto.ecc import BackendUnavailable, EcdhCipher, UnsupportedSuite, open_cipher
from hulian.engine.pool import default_workers
from hulian.sdk import Link, LinkError, TableSource

log = logging.getLogger(__name__)

CLOSE_AFTER_ERROR_SECONDS = 5.0  # after a failure: long enough for a refusal to reach the peer
WINDOW_PER_WORKER = 4        # batches in flight per worker and flow: keeps every core busy while bytes move
HANDSHAKE_TIMEOUT = 600.0    # the peer may still be hashing a large table when we are ready


@dataclass
class PsiReport:
    rank: int
    params: str
    backend: str
    input_rows: int = 0
    unique_items: int = 0
    duplicate_rows: int = 0
    peer_items: int = 0
    intersection_items: int | None = None   # distinct keys in the intersection (None: result not ours)
    output_rows: int | None = None          # rows written, duplicates included
    output: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: dict[str, int] = field(default_factory=dict)  # this process's peak so far, after each stage

    def stage(self, name: str, t0: float) -> None:
        """Record a finished stage: its seconds and the process's peak memory so far."""
        self.seconds[name] = round(time.monotonic() - t0, 3)
        self.peak_rss_mb[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

    def as_dict(self) -> dict:
        return asdict(self)


def cipher_for(params: PsiParams, backend: str) -> EcdhCipher:
    """The cipher of the suite on `backend`, or PsiError naming why it cannot run here."""
    try:
        return open_cipher(params.suite, backend, dst=params.h2c_dst)
    except (UnsupportedSuite, BackendUnavailable) as e:
        raise PsiError(UNSUPPORTED_PARAMS, str(e)) from None


def run_psi(link: Link, params: PsiParams, source: TableSource, output: Path | None, *, negotiate: bool,
            backend: str = "auto", workers: int | None = None, timeout: float = 60.0,
            handshake_timeout: float = HANDSHAKE_TIMEOUT, progress: Progress | None = None,
            workdir: Path | None = None) -> PsiReport:
    """Run one party; `negotiate` runs the v2 handshake first (rank 0 decides)."""
    if link.world_size != 2:
        raise PsiError(UNSUPPORTED_PARAMS, f"ECDH-PSI runs between two parties, the link has {link.world_size}")
    cipher = cipher_for(params, backend)
    rank = link.rank
    report = PsiReport(rank, params.describe(), cipher.backend)
    t_start = time.monotonic()
    n_workers = workers or default_workers()
    window = WINDOW_PER_WORKER * n_workers
    with tempfile.TemporaryDirectory(prefix="hulian-psi-", dir=workdir) as tmp, \
            curve_pool(params.suite, cipher.backend, params.h2c_dst, n_workers) as pool:
        t0 = time.monotonic()
        prepared = prepare(source, pool, cipher.point_size, Path(tmp), params.batch_size, window, link.check)
        report.input_rows, report.unique_items = prepared.rows, prepared.unique
        report.duplicate_rows = prepared.duplicates
        report.stage("prepare", t0)
        if prepared.duplicates:
            log.info("rank %d: %d of %d rows repeat a key; each distinct key is sent once and every row of an "
                     "intersecting key is output", rank, prepared.duplicates, prepared.rows)
        if negotiate:
            t0 = time.monotonic()
            params = _handshake(link, params, prepared.unique, handshake_timeout)
            report.params = params.describe()
            report.stage("handshake", t0)
        dual_link = link.spawn()
        t0 = time.monotonic()
        exchanged = Exchange(link, dual_link, params, prepared, pool, cipher.new_key(), Path(tmp), window,
                             timeout, progress).run()
        report.stage("exchange", t0)
        report.peer_items = exchanged.peer_items
        if exchanged.own_duals is not None and exchanged.peer_duals is not None:
            t0 = time.monotonic()
            in_set = intersect(exchanged.own_duals, exchanged.peer_duals)
            report.intersection_items = int(in_set.sum())
            del exchanged
            report.stage("intersect", t0)
            if output is not None:
                t0 = time.monotonic()
                report.output_rows = source.write_selected(output, in_set[prepared.row_unique])
                report.output = str(output)
                report.stage("write", t0)
    report.stage("total", t_start)
    return report


def run_and_close(link: Link, *args, **kwargs) -> PsiReport:
    """run_psi, then the link's FIN exchange; after a failure a short close still lets what we sent (a
    handshake refusal) reach the peer, and a dead link closes at once."""
    try:
        report = run_psi(link, *args, **kwargs)
    except BaseException:
        with contextlib.suppress(LinkError):
            link.close(CLOSE_AFTER_ERROR_SECONDS)
        raise
    link.close()
    return report


def _handshake(link: Link, params: PsiParams, item_num: int, timeout: float) -> PsiParams:
    if link.rank == 0:
        response, agreed, refusal = handshake.decide(link.recv(1, timeout), params)
        link.send(1, response, "handshake")
        if refusal is not None:
            raise refusal
        assert agreed is not None
        return agreed
    link.send(0, handshake.propose(params, item_num, link.rank), "handshake")
    return handshake.accept(link.recv(0, timeout), params)
