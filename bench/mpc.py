"""Secret-sharing benchmark: hulian's semi2k (each party its own process, a white-box gRPC link between them)
against SecretFlow's SPU SEMI2K FM64 (spu 0.9.5 in a side venv, two processes over brpc, bench/spu_mpc.py) on
the same inputs, in the same run.

Operations (the issue's sizes at --scale 1): dot = sum(x * y) of two 1e6 vectors, matvec = 10000x100 . 100,
matmul = 1000x100 . 100x1000, greater = x > y on 1e6 elements, distance = sum((x - y)^2) of two 1e6 vectors.
x belongs to rank 0 ("guest.0"), y to rank 1 ("host.0"); both normal(0, --sigma) from a fixed seed (numpy, the
same arrays on both sides: the script checks a digest of each input).

Time: wall seconds at rank 0 from before sharing the plaintext inputs to after the result is revealed to both,
median of --runs runs in one session after --warmup untimed ones (the link and the session are set up before
and timed apart). Each operation runs in a fresh set of processes, so the peak RSS (VmHWM, read by each process
at its end) is that operation's. "sent" is what each party's process wrote to its TCP sockets in one run (`ss`:
the wire, framing included, measured alike on both sides); the dealer's is its session total over all runs.

Triples: "dealer" = a third process "arbiter.0" serving the BeaverService (hulian.mpc.session.deal);
"he" = no third party, triples from homomorphic encryption (hulian.mpc.hetriples), run at --he-scale since
they are slow. SPU runs with its default triples: party 0 derives them ("TrustedFirstParty", which SPU's source
marks NOT SAFE, not for production); SPU runs at every scale used, so every row has its ratio. SPU computes
dot as jnp.dot (one truncation, as ours; jnp.sum(x * y) truncates each product and is slower) and distance as
jnp.sum(jnp.square(x - y)).

Memory: each party keeps freed memory for reuse, as hulian.sdk.runner has a component's process do
(hulian.core.allocator, HULIAN_MALLOC_KEEP_MB); SPU runs with glibc's defaults unless --spu-kept-malloc gives
its processes the same settings through glibc's variables.

Run alone (nothing else on the cores):
    .venv/bin/python bench/mpc.py [--ops dot,matvec,matmul,greater,distance] [--runs 3] [--scale 1]
                                  [--triples dealer,he] [--he-scale 0.01] [--no-spu] [--json out.json]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import machine  # bench/machine.py, beside this script
import mpc_common as mc  # bench/mpc_common.py: what both sides share
import numpy as np
from side import side_python  # bench/side.py

ROOT = Path(__file__).resolve().parent.parent
ARBITER, GUEST, HOST = "arbiter.0", "guest.0", "host.0"


# ---- the operations, as a party runs them: shares in, the value revealed to both out --------------------
def _product(mpc: Any, x: Any, y: Any) -> np.ndarray:
    return mpc.reveal(mpc.matmul(x, y))


def _dot(mpc: Any, x: Any, y: Any) -> np.ndarray:
    return mpc.reveal(mpc.dot(x, y))


def _greater(mpc: Any, x: Any, y: Any) -> np.ndarray:
    """x > y as an XOR-shared bit (hulian.mpc.compare), revealed as bits."""
    from hulian.mpc import boolean, compare
    return boolean.reveal_bits(mpc, compare.greater(mpc, x, y))


def _distance(mpc: Any, x: Any, y: Any) -> np.ndarray:
    """sum((x - y)^2) with one truncation of the sum (mpc.square_distance: exact while the sum < 6.7e7)."""
    return mpc.reveal(mpc.square_distance(x, y))


# name -> what runs it on the shares
OPERATIONS: dict[str, Callable[[Any, Any, Any], np.ndarray]] = {
    "dot": _dot, "matvec": _product, "matmul": _product, "greater": _greater, "distance": _distance}
TRIPLES = ("dealer", "he")


# ---- one party (a subprocess of the driver) --------------------------------------------------------------
def party(args: argparse.Namespace) -> dict:
    from hulian.core import allocator
    from hulian.federation import LinkFederation, Party, Scope
    from hulian.mpc.session import deal, open_session
    from hulian.transport.iclink import GrpcLink, LinkOptions

    allocator.tune()   # as hulian.sdk.runner tunes a component's process

    names = [ARBITER, GUEST, HOST] if args.triples == "dealer" else [GUEST, HOST]
    parties = [Party(n) for n in names]              # link ranks in party id order
    me = parties[names.index(args.party)]
    ports = args.ports.split(",")
    rank = names.index(args.party)
    t0 = time.perf_counter()
    link = GrpcLink.connect(rank, f"127.0.0.1:{ports[rank]}",
                            {r: f"127.0.0.1:{p}" for r, p in enumerate(ports) if r != rank},
                            LinkOptions(recv_timeout=args.timeout, connect_retries=60))
    fed = LinkFederation(link, me, parties)
    link_seconds = time.perf_counter() - t0
    scope, guest, host = Scope("bench"), parties[names.index(GUEST)], parties[names.index(HOST)]
    pid = os.getpid()
    try:
        if me.party_id == ARBITER:
            before = mc.tcp_sent(pid)
            traffic = deal(fed, scope, [guest, host], timeout=args.timeout)
            return {"party": me.party_id, "runs": args.warmup + args.runs, "link_seconds": link_seconds,
                    "peak_rss": mc.peak_rss(),
                    "sent_bytes": mc.sent_since(before, mc.tcp_sent(pid)), "payload_sent": traffic.bytes_sent}
        op = mc.ops(args.scale)[args.op]
        mpc_rank = 0 if me == guest else 1
        peer = host if mpc_rank == 0 else guest
        mine = mc.inputs(op, mpc_rank, args.sigma)
        t0 = time.perf_counter()
        mpc = open_session(fed, scope, [guest, host], dealer_party=parties[0] if args.triples == "dealer" else None,
                           triples=args.triples, trunc=args.trunc, timeout=args.timeout)
        session_seconds = time.perf_counter() - t0
        run = OPERATIONS[op.name]
        seconds, sent, payload, result = [], [], [], None
        for i in range(args.warmup + args.runs):
            fed.send(peer, scope, f"sync-{i}", b"")          # both start together
            fed.recv(peer, scope, f"sync-{i}", args.timeout)
            before, stats = mc.tcp_sent(pid), mpc.stats.copy()
            t0 = time.perf_counter()
            xs = mpc.share(mine if mpc_rank == 0 else None, owner=0)
            ys = mpc.share(mine if mpc_rank == 1 else None, owner=1)
            result = run(mpc, xs, ys)
            if i >= args.warmup:
                seconds.append(time.perf_counter() - t0)
                sent.append(mc.sent_since(before, mc.tcp_sent(pid)))
                payload.append((mpc.stats - stats).bytes_sent)
        mpc.close()
        report = {"party": me.party_id, "rank": mpc_rank, "link_seconds": link_seconds,
                  "session_seconds": session_seconds, "seconds": seconds, "sent_bytes": sent,
                  "payload_sent": payload, "peak_rss": mc.peak_rss(), "input_digest": mc.digest(mine)}
        if mpc_rank == 0:
            want = mc.reference(op.name, mine, mc.inputs(op, 1, args.sigma))
            report["error"] = mc.error(op.name, np.asarray(result), want)
        return report
    finally:
        fed.close()


# ---- the driver --------------------------------------------------------------------------------------------
def _run_processes(cmds: list[list[str]], timeout: float, what: str, extra_env: dict[str, str] | None = None
                   ) -> list[dict]:
    """Start every command at once, wait for all, return each one's last JSON line."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
           **(extra_env or {})}
    with tempfile.TemporaryDirectory(prefix="mpc-bench-") as tmp, contextlib.ExitStack() as stack:
        logs = [(stack.enter_context(open(f"{tmp}/{i}.out", "w+")), stack.enter_context(open(f"{tmp}/{i}.err", "w+")))
                for i in range(len(cmds))]
        procs = [subprocess.Popen(c, stdout=o, stderr=e, env=env) for c, (o, e) in zip(cmds, logs, strict=True)]
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in procs):
            if any(p.poll() not in (None, 0) for p in procs):      # one failed: the others get 5 s to say why
                deadline = min(deadline, time.monotonic() + 5)
            if time.monotonic() > deadline:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
            time.sleep(0.05)
        codes = [p.returncode for p in procs]
        failed = [i for i, c in enumerate(codes) if c]
        if any(c not in (0, -9) for c in codes):   # every failed party's last words: one failed, the rest followed
            tails = []
            for i in failed:
                logs[i][1].seek(0)
                tails.append(f"--- process {i} (exit {codes[i]}):\n{logs[i][1].read()[-1500:]}")
            raise RuntimeError(f"{what}: exit codes {codes}\n" + "\n".join(tails))
        if any(codes):
            raise RuntimeError(f"{what}: timed out after {timeout:g} s")
        outs = []
        for out, _ in logs:
            out.seek(0)
            outs.append(mc.last_json(out.read()))
        return outs


def ours(op: str, triples: str, scale: float, args: argparse.Namespace) -> dict:
    from hulian.node.cluster import free_ports
    names = [ARBITER, GUEST, HOST] if triples == "dealer" else [GUEST, HOST]
    ports = ",".join(map(str, free_ports(len(names))))
    cmds = [[sys.executable, __file__, "--party", n, "--op", op, "--triples", triples, "--scale", str(scale),
             "--runs", str(args.runs), "--warmup", str(args.warmup), "--sigma", str(args.sigma), "--timeout",
             str(args.timeout), "--ports", ports, "--trunc", args.trunc]
            for n in names]
    reports = {r["party"]: r for r in _run_processes(cmds, args.timeout, f"hulian {op} ({triples})")}
    return {"guest": reports[GUEST], "host": reports[HOST], "dealer": reports.get(ARBITER)}


def spu_kept_malloc() -> dict[str, str]:
    """glibc's variables for what hulian.core.allocator.tune() sets in our parties through mallopt."""
    from hulian.core import allocator
    keep = allocator.keep_mb()
    return {"MALLOC_MMAP_THRESHOLD_": str(allocator.MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(keep << 20)
            } if keep else {}


def spu(op: str, scale: float, args: argparse.Namespace, python: Path) -> dict:
    cmd = [str(python), str(ROOT / "bench" / "spu_mpc.py"), "--both", "--op", op, "--scale", str(scale),
           "--runs", str(args.runs), "--warmup", str(args.warmup), "--sigma", str(args.sigma),
           "--timeout", str(args.timeout)]
    if args.spu_colocated:
        cmd.append("--colocated")
    out = _run_processes([cmd], args.timeout, f"spu {op}", spu_kept_malloc() if args.spu_kept_malloc else None)[0]
    return {"guest": out["parties"][0], "host": out["parties"][1], "dealer": None}


def _mb(n: float) -> str:
    return f"{n / 1e6:.3g}"


def row(op: str, sizes: str, impl: str, result: dict, spu_seconds: float | None) -> str:
    g, h, d = result["guest"], result["host"], result["dealer"]
    t = statistics.median(g["seconds"])
    sent = "/".join(_mb(statistics.median(p["sent_bytes"])) for p in (g, h))
    rss = "/".join(_mb(p["peak_rss"]) for p in (g, h))
    if d:
        sent += f" +{_mb(d['sent_bytes'] / d['runs'])}"
        rss += f" +{_mb(d['peak_rss'])}"
    setup = g["session_seconds"]
    ratio = f"{t / spu_seconds:.2f}" if spu_seconds and not impl.startswith("spu") else ""
    return (f"{op:>8} | {sizes:>21} | {impl:>14} | {t:8.3f} | {sent:>23} | {rss:>17} | {setup:7.3f} | "
            f"{mc.describe_error(g['error']):>28} | {ratio:>5}")


def check_inputs(result: dict, op: str, scale: float, sigma: float) -> None:
    """Both implementations must see the same arrays: the parties' digests against this process's numpy."""
    spec = mc.ops(scale)[op]
    for role, rank in (("guest", 0), ("host", 1)):
        want = mc.digest(mc.inputs(spec, rank, sigma))
        got = result[role]["input_digest"]
        if got != want:
            raise RuntimeError(f"{op}: rank {rank}'s input digest {got} is not {want}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", default=",".join(mc.OP_NAMES))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first (both sides)")
    ap.add_argument("--scale", type=float, default=1.0, help="size factor of the dealer runs (1: the issue's)")
    ap.add_argument("--triples", default="dealer,he", help="dealer, he or both (comma-separated)")
    ap.add_argument("--he-scale", type=float, default=0.01, help="size factor of the HE-triples runs")
    ap.add_argument("--sigma", type=float, default=1.0, help="inputs are normal(0, sigma)")
    ap.add_argument("--trunc", default="precise", choices=["precise", "probabilistic"],
                    help="our truncation (SPU's SEMI2K truncates locally, as 'probabilistic')")
    ap.add_argument("--no-spu", action="store_true", help="skip SecretFlow's reference runs")
    ap.add_argument("--spu-colocated", action="store_true",
                    help="SPU with its colocated optimization (inputs private, no share message)")
    ap.add_argument("--spu-kept-malloc", action="store_true",
                    help="SPU's processes keep freed memory as ours do (hulian.core.allocator), set through "
                         "glibc's variables")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--json", type=Path, help="also write every party's report here")
    ap.add_argument("--party", help=argparse.SUPPRESS)
    ap.add_argument("--op", help=argparse.SUPPRESS)
    ap.add_argument("--ports", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.party:
        print(json.dumps(party(args)), flush=True)
        return

    sys.path.insert(0, str(ROOT))   # this checkout's hulian, as the parties get (not an installed one)
    print(f"machine: {machine.describe()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    scales = {"dealer": args.scale, "he": args.he_scale}
    modes = args.triples.split(",")
    for mode in modes:
        if mode not in TRIPLES:
            ap.error(f"--triples: {mode!r} is neither dealer nor he")
    spu_python = None if args.no_spu else side_python("spu_env.sh", "SecretFlow SPU")
    print(f"time: rank 0's wall seconds from plaintext inputs to the revealed result, median of {args.runs} "
          f"after {args.warmup} untimed; "
          "sent: MB per run by guest/host (+dealer); RSS: peak MB of guest/host (+dealer); session: seconds "
          "to open the session, before the runs (ours: open_session; SPU: Runtime and Io); ratio: ours / SPU "
          "at the same sizes")
    print(f"{'op':>8} | {'sizes':>21} | {'impl':>14} | {'time s':>8} | {'sent MB':>23} | {'RSS MB':>17} | "
          f"{'session':>7} | {'error vs float64':>28} | ratio")
    everything: list[dict] = []
    for op in args.ops.split(","):
        if op not in OPERATIONS:
            ap.error(f"--ops: unknown {op!r}; known: {','.join(mc.OP_NAMES)}")
        for scale in sorted({scales[m] for m in modes} or {args.scale}, reverse=True):
            sizes = mc.ops(scale)[op].sizes
            reference_run = spu(op, scale, args, spu_python) if spu_python else None
            spu_seconds = statistics.median(reference_run["guest"]["seconds"]) if reference_run else None
            for mode in (m for m in modes if scales[m] == scale):
                result = ours(op, mode, scale, args)
                check_inputs(result, op, scale, args.sigma)
                label = f"hulian {mode}" + ("" if args.trunc == "precise" else " pr")
                print(row(op, sizes, label, result, spu_seconds), flush=True)
                everything.append({"op": op, "impl": label, "scale": scale, **result})
            if reference_run:
                label = "spu tfp" + (" coloc" if args.spu_colocated else "") + (" kept" if args.spu_kept_malloc else "")
                check_inputs(reference_run, op, scale, args.sigma)
                print(row(op, sizes, label, reference_run, None), flush=True)
                everything.append({"op": op, "impl": label, "scale": scale, **reference_run})
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine.describe(), "runs": everything}, indent=1) + "\n")


if __name__ == "__main__":
    main()
