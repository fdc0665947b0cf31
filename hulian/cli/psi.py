"""`hulian psi`: one party of a two-party ECDH-PSI over the white-box gRPC link, with no node needed."""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import typer

from hulian.algorithms.ecdh_psi.params import Compat

DEFAULT_TRUNCATION_BITS = 96  # the standard's recommendation; ≥ log2(nA) + log2(nB) + 30 up to 2^33 items each


class ProgressLine:
    """A one-line progress display on stderr (a terminal only), refreshed at most 4 times a second."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._last = 0.0
        self._t0 = time.monotonic()

    def __call__(self, stage: str, n: int) -> None:
        with self._lock:
            self.counts[stage] = self.counts.get(stage, 0) + n
            now = time.monotonic()
            if self.enabled and now - self._last >= 0.25:
                self._last = now
                parts = "  ".join(f"{k} {v:,}" for k, v in sorted(self.counts.items()))
                sys.stderr.write(f"\r[{now - self._t0:6.1f} s] {parts}\033[K")
                sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.counts:
            sys.stderr.write("\n")


def psi(
    rank: int = typer.Option(..., "--rank", min=0, max=1, help="0 decides the handshake; 1 proposes"),
    peer: str = typer.Option(..., "--peer", help="HOST:PORT of the other party's link"),
    listen: str = typer.Option(..., "--listen", help="HOST:PORT this party's link listens on"),
    input_file: Path = typer.Option(..., "--input", help="CSV or Parquet file", exists=True, dir_okay=False),
    keys: str = typer.Option(..., "--keys", help="key column(s), comma-separated"),
    output: Path = typer.Option(..., "--output", help="intersecting rows (CSV, or Parquet by extension)"),
    curve: str = typer.Option("curve25519", help="curve25519 or sm2"),
    hash_type: str = typer.Option(None, "--hash", help="sha_256 (default), sm3, sha_512, ..."),
    hash2curve: str = typer.Option(None, "--hash2curve",
                                   help="direct_hash_as_point_x (25519 default), try_and_rehash (sm2 default), "
                                        "try_and_increment, ell2_ro"),
    point_format: str = typer.Option(None, "--point-format", help="uncompressed (25519), x962_compressed (sm2)"),
    truncate: int = typer.Option(DEFAULT_TRUNCATION_BITS, help="bits of the dual ciphertexts compared; -1 = all"),
    result_to: str = typer.Option("all", "--result-to", help="all, 0 or 1: who learns the intersection"),
    compat: Compat = typer.Option(Compat.STANDARD, help="standard, or secretflow (12-byte duals as deployed)"),
    timeout: float = typer.Option(60.0, help="seconds to wait for each message of the peer"),
    connect_timeout: float = typer.Option(60.0, help="seconds to wait for the peer to come up"),
    handshake_timeout: float = typer.Option(600.0, help="seconds to wait for the handshake (the peer may "
                                                        "still be hashing a large table)"),
    workers: int = typer.Option(0, help="curve worker processes (0: one per core)"),
    backend: str = typer.Option("auto", help="curve backend: auto, crypto_mb or fallback"),
    report: Path = typer.Option(None, help="also write the JSON report here"),
) -> None:
    """Private set intersection with a peer by the ECDH-PSI open protocol; prints a JSON report."""
    from hulian.algorithms.ecdh_psi.errors import PsiError
    from hulian.algorithms.ecdh_psi.params import ParamError, PsiParams, build_suite, parse_result_to
    from hulian.algorithms.ecdh_psi.run import cipher_for, run_and_close
    from hulian.data.table import TableError, TableSource
    from hulian.transport.iclink import GrpcLink, LinkError, LinkOptions

    try:
        params = PsiParams(build_suite(curve, hash_type, hash2curve, point_format), truncate,
                           parse_result_to(result_to), compat)
        source = TableSource(input_file, [k.strip() for k in keys.split(",") if k.strip()])
        cipher_for(params, backend)  # refuse an unknown suite or backend before waiting for the peer
    except (ParamError, TableError, PsiError) as e:
        raise typer.BadParameter(str(e)) from None
    progress = ProgressLine(sys.stderr.isatty())
    options = LinkOptions(recv_timeout=timeout, connect_retries=max(1, round(connect_timeout)))
    try:
        link = GrpcLink.connect(rank, listen, {1 - rank: peer}, options)
        result = run_and_close(link, params, source, output, negotiate=True, backend=backend,
                               workers=workers or None, timeout=timeout,
                               handshake_timeout=handshake_timeout, progress=progress)
    except (PsiError, LinkError, TableError) as e:
        progress.done()
        typer.echo(f"psi failed: {e}", err=True)
        raise typer.Exit(2) from None
    progress.done()
    text = json.dumps(result.as_dict(), indent=2, ensure_ascii=False)
    if report:
        report.write_text(text + "\n")
    typer.echo(text)
