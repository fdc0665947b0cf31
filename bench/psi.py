"""ECDH-PSI benchmark: two `hulian psi` processes on this machine, 50 % overlap, per size and curve.

Prints wall seconds, items/s (items per side / wall time) and the peak RSS of each party's process tree
(main process plus its curve workers, sampled every 0.1 s), and — in the same run, when the side venv of
SecretFlow's spu exists (`bench/spu_env.sh`) — SecretFlow's own ECDH-PSI on the same files as the reference.

Run alone (nothing else on the cores):
    .venv/bin/python bench/psi.py [--sizes 100k,1M,10M] [--curves curve25519,sm2] [--backend auto|fallback]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import machine  # bench/machine.py, beside this script
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from side import side_python  # bench/side.py

from hulian.node.cluster import free_ports

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".bench" / "psi-data"
SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000, "10M": 10_000_000}


def dataset(n: int) -> tuple[Path, Path, int]:
    """Two CSVs of n distinct 18-digit ids each, sharing n/2; written once and reused."""
    a, b = DATA / f"a_{n}.csv", DATA / f"b_{n}.csv"
    if not (a.exists() and b.exists()):
        DATA.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(20261124)
        ids = rng.choice(10**17, size=int(n * 1.5), replace=False) + 10**17  # distinct, 18 digits
        common, only_a, only_b = ids[: n // 2], ids[n // 2: n], ids[n: n + (n - n // 2)]
        for path, own in ((a, only_a), (b, only_b)):
            col = np.concatenate([common, own])
            rng.shuffle(col)
            table = pa.table({"id": pa.array(col.astype(str)), "score": pa.array(rng.integers(0, 1000, n))})
            pacsv.write_csv(table, path)
    return a, b, n // 2


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            with open(f"/proc/{p}/task/{p}/children") as f:
                stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run_pair(cmds: list[list[str]], timeout: float) -> list[dict]:
    """Start both parties, sample their RSS, return [{seconds, peak_rss, stdout, rc}] per party."""
    t0 = time.monotonic()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    peaks = [0] * len(procs)
    ends = [0.0] * len(procs)

    def sample() -> None:
        while any(p.poll() is None for p in procs):
            for i, p in enumerate(procs):
                if p.poll() is None:
                    peaks[i] = max(peaks[i], tree_rss(p.pid))
                elif not ends[i]:
                    ends[i] = time.monotonic() - t0
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise RuntimeError(f"timed out after {timeout} s: {cmds}") from None
        outs.append((out, err, p.returncode))
    sampler.join()
    results = []
    for i, (out, err, rc) in enumerate(outs):
        if rc != 0:
            raise RuntimeError(f"party {i} exited {rc}: {err[-2000:]}")
        results.append({"seconds": ends[i] or time.monotonic() - t0, "peak_rss": peaks[i], "stdout": out})
    return results


def hulian_pair(a: Path, b: Path, curve: str, backend: str, out_dir: Path, timeout: float) -> list[dict]:
    p0, p1 = free_ports(2)
    cmds = []
    for rank, (inp, listen, peer) in enumerate(((a, p0, p1), (b, p1, p0))):
        cmds.append([sys.executable, "-m", "hulian.cli.main", "psi", "--rank", str(rank),
                     "--listen", f"127.0.0.1:{listen}", "--peer", f"127.0.0.1:{peer}", "--input", str(inp),
                     "--keys", "id", "--output", str(out_dir / f"out{rank}.csv"), "--curve", curve,
                     "--backend", backend, "--timeout", "300"])
    results = run_pair(cmds, timeout)
    for r in results:
        r["report"] = json.loads(r["stdout"])
    return results


def spu_pair(a: Path, b: Path, curve: str, timeout: float) -> list[dict] | None:
    """SecretFlow's ECDH-PSI via spu in its side venv, or None when that venv is absent. Its seconds are
    link setup + psi_execute + link stop per party (not the interpreter's start and spu's ~2 s of imports,
    which our figures include); its RSS is the process's peak (ru_maxrss)."""
    spu_python = side_python("spu_env.sh", "SecretFlow")
    if spu_python is None:
        return None
    proc = subprocess.run([str(spu_python), str(ROOT / "bench" / "spu_psi.py"), "--both", "--input-a", str(a),
                           "--input-b", str(b), "--key", "id", "--curve", "25519" if curve == "curve25519" else curve],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        print(f"  spu run failed: {proc.stderr[-1000:]}", file=sys.stderr)
        return None
    both = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("{")))
    return [{"seconds": p["wall_seconds"], "peak_rss": p["peak_rss_mb"] * 1e6, "intersection": p["intersection_count"]}
            for p in both["parties"]]



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100k,1M")
    ap.add_argument("--curves", default="curve25519,sm2")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--no-spu", action="store_true", help="skip SecretFlow's reference run")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    print(f"machine: {machine.describe()}")
    print(f"{'curve':>10} | {'size/side':>9} | {'impl':>15} | {'wall s':>7} | {'items/s':>9} | "
          f"{'RSS p0 GB':>9} | {'RSS p1 GB':>9} | result")
    out_dir = DATA / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    for curve in args.curves.split(","):
        for size in args.sizes.split(","):
            n = SIZES[size]
            a, b, expected = dataset(n)
            label = "hulian" if args.backend == "auto" else f"hulian/{args.backend}"
            runs = [(label, hulian_pair(a, b, curve, args.backend, out_dir, args.timeout))]
            if not args.no_spu:
                ref = spu_pair(a, b, curve, args.timeout)
                if ref:
                    runs.append(("secretflow", ref))
            for impl, res in runs:
                wall = max(r["seconds"] for r in res)
                if impl.startswith("hulian"):
                    got = [r["report"]["intersection_items"] for r in res]
                else:
                    got = [r.get("intersection") for r in res]
                ok = "ok" if all(g == expected for g in got) else f"WRONG {got} != {expected}"
                print(f"{curve:>10} | {size:>9} | {impl:>15} | {wall:7.2f} | {n / wall:9,.0f} | "
                      f"{res[0]['peak_rss'] / 1e9:9.2f} | {res[1]['peak_rss'] / 1e9:9.2f} | {ok}", flush=True)


if __name__ == "__main__":
    main()
