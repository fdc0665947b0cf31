"""The ring's matrix product (hulian/crypto/ss/_ring.c through hulian.crypto.ss.ring.matmul) against numpy's
integer matmul, the one other exact mod-2^64 product at hand, on the shapes the SS engine meets: a Beaver
matmul's (1000x100 . 100x1000), matrix.vector and dot products (one column), and the nonlinear functions'
table choices (a few rows of 8 against up to 2^20 columns).

Time: median over --repeat calls of each, alternated, on random words; every result checked against numpy.
"scalar" is the kernel of CPUs without AVX2 (called directly, into a preallocated output).
Run alone (nothing else on the cores):
    .venv/bin/python bench/ring.py [--repeat 21]
"""
from __future__ import annotations

import argparse
import statistics
import time

import machine  # bench/machine.py, beside this script
import numpy as np

from hulian.crypto.ss import _ring, ring

SHAPES = [(1000, 100, 1000), (100, 100, 100), (8, 100, 1000), (10000, 100, 1), (1000, 1000, 1),
          (1, 1 << 20, 1), (1, 8, 1 << 20), (3, 8, 1 << 20), (8, 8, 1 << 17)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=21)
    args = ap.parse_args()
    print(f"machine: {machine.describe()}; kernel {_ring.KERNEL}")
    print(f"{'m x k x n':>18} | {'hulian ms':>9} | {'numpy ms':>9} | ratio | {'scalar ms':>9} | ratio")
    rng = np.random.default_rng(0)
    for m, k, n in SHAPES:
        a = rng.integers(0, 2 ** 64, (m, k), dtype=np.uint64, endpoint=False)
        b = rng.integers(0, 2 ** 64, (k, n), dtype=np.uint64, endpoint=False)
        if not (ring.matmul(a, b) == np.matmul(a, b)).all():
            raise SystemExit(f"{m}x{k}x{n}: the ring's product differs from numpy's")
        out = np.empty((m, n), dtype=np.uint64)
        ours, theirs, scalar = [], [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ring.matmul(a, b)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            np.matmul(a, b)
            theirs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _ring.matmul(a, b, out, m, k, n, "scalar")
            scalar.append(time.perf_counter() - t0)
        t1, t2, t3 = (statistics.median(x) for x in (ours, theirs, scalar))
        print(f"{f'{m}x{k}x{n}':>18} | {t1 * 1e3:9.3f} | {t2 * 1e3:9.3f} | {t1 / t2:5.2f} | {t3 * 1e3:9.3f} | "
              f"{t3 / t2:.2f}", flush=True)


if __name__ == "__main__":
    main()
