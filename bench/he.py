"""HE benchmark: per-operation throughput of hulian's Paillier (DJN) and Okamoto-Uchiyama at 2048 bits, and in
the same run SecretFlow's HEU (sf-heu in a side venv, bench/heu_env.sh) on the same operands: batches of
10,000 32-bit positive integers; encrypt, decrypt, ct+ct and ct*pt (pt the second batch); every result checked
by decryption; ct+ct and ct*pt are the median of 5 runs. Ours runs one process (its native batch loops on a
thread per core, hulian/crypto/he/_batch.c) and, for encrypt/decrypt, also all cores through worker
processes; HEU runs as its Python API does (its own thread pool). Table generation
(fixed-base tables, worker start) is not counted: it is paid once per key, as HEU's.

Run alone (nothing else on the cores):
    .venv/bin/python bench/he.py [--n 10000] [--schemes paillier,ou] [--no-heu]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import machine  # bench/machine.py, beside this script
import numpy as np
from side import side_python, timed  # bench/side.py

from hulian.crypto.he import mbx, parallel
from hulian.crypto.he.ou import generate_ou
from hulian.crypto.he.paillier import generate_paillier
from hulian.engine.pool import default_workers, worker_pool

ROOT = Path(__file__).resolve().parent.parent
GENERATE: dict[str, Callable[[int], Any]] = {"paillier": generate_paillier, "ou": generate_ou}
REPEAT = 5  # runs of ct+ct and ct*pt, median taken (HEU's likewise)
OPS = ("encrypt", "encrypt_sk", "decrypt", "add", "mul")  # encrypt_sk: by the key holder (CRT), ours only


def ours(scheme: str, bits: int, a: list[int], b: list[int], pool: Any) -> dict[str, Any]:
    """Per-second figures of one process and of the pool (encrypt/decrypt), each result checked."""
    sk = GENERATE[scheme](bits)
    pk = sk.public
    n = len(a)
    warm = a[:400]  # slices of >= 5 items: each worker builds the tables the timed runs use (crypto_mb's too)
    pk.encrypt_many(warm)
    parallel.encrypt_many(pk, warm, pool)
    ca, t_enc1 = timed(lambda: pk.encrypt_many(a))
    ca_p, t_enc = timed(lambda: parallel.encrypt_many(pk, a, pool))
    holder = sk.encrypts_faster()  # a key holder's own path (Paillier's CRT); OU has none
    if holder:
        parallel.encrypt_many(sk, warm, pool)
    cs_p, t_enc_sk = timed(lambda: parallel.encrypt_many(sk, a, pool)) if holder else (ca, 0.0)
    cb = parallel.encrypt_many(pk, b, pool)
    da, t_dec1 = timed(lambda: sk.decrypt_many(ca))
    parallel.decrypt_many(sk, ca_p[:400], pool)
    da_p, t_dec = timed(lambda: parallel.decrypt_many(sk, ca_p, pool))
    s, t_add = timed(lambda: pk.add_many(ca, cb), REPEAT)
    m, t_mul = timed(lambda: pk.mul_plain_many(ca, b), REPEAT)
    clear = lambda cts: [int(v) for v in parallel.decrypt_many(sk, cts, pool)]  # noqa: E731 - one-line helper
    correct = {"encrypt": [int(v) for v in da] == a and [int(v) for v in da_p] == a, "encrypt_sk": clear(cs_p) == a,
               "add": clear(s) == [x + y for x, y in zip(a, b, strict=True)],
               "mul": clear(m) == [x * y for x, y in zip(a, b, strict=True)]}
    correct["decrypt"] = correct["encrypt"]
    rates = {"encrypt": n / t_enc, "decrypt": n / t_dec, "add": n / t_add, "mul": n / t_mul}
    if holder:
        rates["encrypt_sk"] = n / t_enc_sk
    return {"per_second": rates,
            "one_process": {"encrypt": n / t_enc1, "decrypt": n / t_dec1}, "correct": correct}


@contextlib.contextmanager
def gmpy2_only() -> Iterator[None]:
    """crypto_mb off in this process and in workers started meanwhile (the pool below is started per scheme)."""
    os.environ[mbx.BACKEND_ENV] = "gmpy2"
    try:
        yield
    finally:
        del os.environ[mbx.BACKEND_ENV]


def heu(scheme: str, bits: int, operands: Path) -> dict[str, Any] | None:
    heu_python = side_python("heu_env.sh", "HEU")
    if heu_python is None:
        return None
    proc = subprocess.run([str(heu_python), str(ROOT / "bench" / "heu_he.py"), "--scheme", scheme, "--bits",
                           str(bits), "--operands", str(operands)], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        print(f"  HEU run failed: {proc.stderr[-1000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--bits", type=int, default=2048)
    ap.add_argument("--schemes", default="paillier,ou")
    ap.add_argument("--no-heu", action="store_true")
    ap.add_argument("--paths", action="store_true", help="also run with crypto_mb off (HULIAN_HE_BACKEND=gmpy2)")
    args = ap.parse_args()
    rng = np.random.default_rng(20261206)
    a_np, b_np = (rng.integers(0, 2**32, args.n, dtype=np.int64) for _ in range(2))
    a, b = [int(x) for x in a_np], [int(x) for x in b_np]
    print(f"machine: {machine.describe()}; {args.n:,} 32-bit positive integers per batch, {args.bits}-bit keys, "
          f"{default_workers()} workers")
    print(f"{'scheme':>9} | {'impl':>22} | " + " | ".join(f"{op + '/s':>10}" for op in OPS) + " | checked")
    with tempfile.TemporaryDirectory() as tmp:
        operands = Path(tmp) / "operands.npz"
        np.savez(operands, a=a_np, b=b_np)
        for scheme in args.schemes.split(","):
            with worker_pool(None) as pool:
                mine = ours(scheme, args.bits, a, b, pool)
            rows = [("hulian", mine["per_second"], mine["correct"]),
                    ("hulian, one process", {**mine["per_second"], **mine["one_process"]}, mine["correct"])]
            if args.paths:
                with gmpy2_only(), worker_pool(None) as pool:  # workers started with crypto_mb off
                    plain = ours(scheme, args.bits, a, b, pool)
                rows.append(("hulian, gmpy2 only", plain["per_second"], plain["correct"]))
            if not args.no_heu and (ref := heu(scheme, args.bits, operands)) is not None:
                rows.append(("HEU " + ("ZPaillier" if scheme == "paillier" else "OU"), ref["per_second"],
                             ref["correct"]))
            for impl, rates, ok in rows:
                cells = [f"{rates[op]:>10,.0f}" if op in rates else f"{'-':>10}" for op in OPS]
                print(f"{scheme:>9} | {impl:>22} | " + " | ".join(cells)
                      + f" | {'ok' if all(ok.values()) else f'WRONG {ok}'}", flush=True)


if __name__ == "__main__":
    main()
