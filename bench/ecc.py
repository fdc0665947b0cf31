"""ECC micro-benchmark: items/s on one core for hash_to_points and mask, per suite and backend.

Each figure is a batch of 4096 (the ECDH-PSI batch size) timed in this single process, best of a few
repetitions after a warm-up batch, so it is a per-core rate. Slow backends (gmpy2) run a smaller batch.

Run alone (nothing else on the cores):  .venv/bin/python bench/ecc.py [--quick] [--batch N]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import machine  # bench/machine.py, beside this script

from hulian.crypto.ecc import (
    SUPPORTED_SUITES,
    BackendUnavailable,
    CurveType,
    available_backends,
    crypto_mb,
    open_cipher,
)

SUITES = SUPPORTED_SUITES[:5]
BACKENDS = {CurveType.CURVE25519: ("crypto_mb", "libsodium"), CurveType.SM2: ("crypto_mb", "openssl", "gmpy2")}



def _rate(fn, n: int, reps: int) -> float:
    fn()  # warm-up
    best = min(_timed(fn) for _ in range(reps))
    return n / best


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--quick", action="store_true", help="one repetition, smaller slow-backend batches")
    args = ap.parse_args()
    reps = 1 if args.quick else 3

    print(f"machine: {machine.describe()}, Python {platform.python_version()}")
    print(f"backends: {available_backends()}; crypto_mb: {crypto_mb.describe()}")
    print(f"batch {args.batch}; best of {reps}; one process = one core\n")
    print(f"{'suite':<58} {'backend':<10} {'hash_to_points/s':>17} {'mask/s':>10}")
    for suite in SUITES:
        for backend in BACKENDS[suite.curve]:
            try:
                c = open_cipher(suite, backend)
            except BackendUnavailable:
                continue
            n = args.batch if backend != "gmpy2" else min(args.batch, 256 if args.quick else 1024)
            items = [os.urandom(16) for _ in range(n)]
            pts = c.hash_to_points(items)
            key = c.new_key()
            h = _rate(lambda c=c, items=items: c.hash_to_points(items), n, reps)
            m = _rate(lambda c=c, key=key, pts=pts: c.mask(key, pts), n, reps)
            print(f"{suite!s:<58} {backend:<10} {h:>17,.0f} {m:>10,.0f}", flush=True)


if __name__ == "__main__":
    main()
