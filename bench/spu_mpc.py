"""SecretFlow's SPU (spu 0.9.5), SEMI2K over FM64 with 18 fraction bits, the reference of bench/mpc.py.

Runs ONLY inside the side venv made by ``bench/spu_env.sh`` (it imports ``spu`` and ``jax``, never ``hulian``)::

    PY=$(bash bench/spu_env.sh | tail -1)
    $PY bench/spu_mpc.py --both --op dot --scale 0.01 --runs 3     # both parties here, one JSON line

Each party is its own process with a brpc link (``libspu.link.create_brpc``) and an SPU ``Runtime``; the
operation is a jax function compiled to SPU bytecode once, before anything is timed. One timed run, measured at
each party between two link barriers' worth of quiet:

1. the input owner splits its plaintext numpy array into two additive shares (``Io.make_shares``, VIS_SECRET,
   SPU's default) and sends the peer's share over the link (what a SecretFlow PYU does for an SPU device);
2. both ``set_var`` the two shares and ``run`` the executable;
3. both send each other their share of the output and ``Io.reconstruct`` it: the result in the clear.

Triples: SPU's default ``beaver_type`` TrustedFirstParty: party 0 derives every triple from seeds it knows
(``BeaverTfpUnsafe``, which SPU's source marks NOT SAFE, not for production). Truncation: SPU's 2-party
SEMI2K truncates locally (SecureML), no message. ``--colocated`` turns on SPU's
``experimental_enable_colocated_optimization``: an input stays private at its owner (the peer makes a zero
placeholder) and becomes a share inside the run without a message, SPU's fastest input path.

Prints one JSON line on stdout, last (spu's logging goes to stderr); see ``party`` and ``both`` for the fields.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np
from mpc_common import (
    FXP,
    OP_NAMES,
    Op,
    digest,
    error,
    inputs,
    last_json,
    ops,
    peak_rss,
    reference,
    sent_since,
    tcp_sent,
)
from side import free_ports, json_stdout, write_json  # bench/side.py (stdlib only)


def _function(name: str) -> Any:
    import jax.numpy as jnp
    return {"dot": lambda x, y: jnp.dot(x, y),           # one dot: a single truncation, as hulian's mpc.dot
            "matvec": lambda x, y: jnp.dot(x, y),
            "matmul": lambda x, y: jnp.matmul(x, y),
            "greater": lambda x, y: jnp.greater(x, y),
            "distance": lambda x, y: jnp.sum(jnp.square(x - y))}[name]


def _config(colocated: bool) -> Any:
    import spu.libspu as libspu
    config = libspu.RuntimeConfig(protocol=libspu.ProtocolKind.SEMI2K, field=libspu.FieldType.FM64,
                                  fxp_fraction_bits=FXP)
    config.experimental_enable_colocated_optimization = colocated
    return config


def _compile(op: Op) -> Any:
    import spu.libspu as libspu
    from spu.utils import frontend
    probe = (np.zeros(op.x_shape), np.zeros(op.y_shape))
    secret = [libspu.Visibility.VIS_SECRET] * 2
    executable, _ = frontend.compile(frontend.Kind.JAX, _function(op.name), probe, {}, ["x", "y"], secret,
                                     lambda out: [f"out{i}" for i in range(len(out))])
    return executable


def _send_share(lctx: Any, peer: int, share: Any) -> None:
    lctx.send(peer, share.meta)
    lctx.send(peer, str(len(share.share_chunks)).encode())
    for chunk in share.share_chunks:
        lctx.send(peer, chunk)


def _recv_share(lctx: Any, peer: int) -> Any:
    import spu.libspu as libspu
    share = libspu.Share()
    share.meta = lctx.recv(peer)
    share.share_chunks = [lctx.recv(peer) for _ in range(int(lctx.recv(peer)))]
    return share


def party(args: argparse.Namespace) -> dict:
    """One party: {"rank", "op", "link_seconds", "session_seconds" (Runtime and Io), "compile_seconds",
    "seconds" and "sent_bytes" (wire) per run, "peak_rss", "input_digest", at rank 0 "error" against float64}."""
    import jax
    jax.config.update("jax_enable_x64", True)    # float64 inputs, as hulian's; SPU encodes both at 18 bits
    import spu
    import spu.libspu as libspu

    op, rank = ops(args.scale)[args.op], args.rank
    peer = 1 - rank
    mine = inputs(op, rank, args.sigma)
    t0 = time.perf_counter()
    desc = libspu.link.Desc()
    desc.id = f"spu-mpc-{args.op}"
    for i, addr in enumerate(args.addrs.split(",")):
        desc.add_party(f"party{i}", addr)
    desc.recv_timeout_ms = desc.http_timeout_ms = int(args.timeout * 1000)
    desc.connect_retry_times, desc.connect_retry_interval_ms = 60, 1000
    lctx = libspu.link.create_brpc(desc, rank)
    lctx.barrier()
    link_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    config = _config(args.colocated)
    runtime, io = spu.Runtime(lctx, config), spu.Io(2, config)
    session_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    executable = _compile(op)
    compile_seconds = time.perf_counter() - t0
    seconds, sent, result = [], [], None
    for i in range(args.warmup + args.runs):
        lctx.barrier()
        before = tcp_sent(os.getpid())
        t0 = time.perf_counter()
        if args.colocated:    # private at the owner; the peer's placeholder needs only the shape
            own = io.make_shares(mine, libspu.Visibility.VIS_SECRET, rank)[rank]
            zeros = np.zeros(op.y_shape if rank == 0 else op.x_shape)
            theirs = io.make_shares(zeros, libspu.Visibility.VIS_SECRET, peer)[rank]
        else:
            split = io.make_shares(mine, libspu.Visibility.VIS_SECRET)
            _send_share(lctx, peer, split[peer])
            own, theirs = split[rank], _recv_share(lctx, peer)
        runtime.set_var("x", own if rank == 0 else theirs)
        runtime.set_var("y", theirs if rank == 0 else own)
        runtime.run(executable)
        out = runtime.get_var(executable.output_names[0])
        _send_share(lctx, peer, out)
        other = _recv_share(lctx, peer)
        result = io.reconstruct([out, other] if rank == 0 else [other, out])
        if i >= args.warmup:
            seconds.append(time.perf_counter() - t0)
            sent.append(sent_since(before, tcp_sent(os.getpid())))
        for name in ("x", "y", *executable.output_names):
            runtime.del_var(name)
    lctx.barrier()
    rss = peak_rss()
    lctx.stop_link()
    report = {"rank": rank, "op": op.name, "sizes": op.sizes, "link_seconds": link_seconds,
              "session_seconds": session_seconds,
              "compile_seconds": compile_seconds, "seconds": seconds, "sent_bytes": sent, "peak_rss": rss,
              "input_digest": digest(mine)}
    if rank == 0:
        report["error"] = error(op.name, np.asarray(result), reference(op.name, mine, inputs(op, 1, args.sigma)))
    return report


def both(args: argparse.Namespace) -> dict:
    """Both parties as subprocesses of this one: {"op", "sizes", "spu_version", "parties": [rank 0, rank 1]}."""
    import spu
    addrs = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    common = ["--op", args.op, "--scale", str(args.scale), "--runs", str(args.runs), "--warmup", str(args.warmup),
              "--sigma", str(args.sigma), "--timeout", str(args.timeout), "--addrs", addrs]
    common += ["--colocated"] if args.colocated else []
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--rank", str(r), *common],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=args.timeout))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise SystemExit(f"spu {args.op}: timed out after {args.timeout} s") from None
    for rank, (p, (_, err)) in enumerate(zip(procs, outs, strict=True)):
        if p.returncode != 0:
            raise SystemExit(f"spu {args.op} party {rank} exited {p.returncode}: {err[-2000:]}")
    return {"op": args.op, "sizes": ops(args.scale)[args.op].sizes, "spu_version": spu.__version__,
            "colocated": args.colocated, "parties": [last_json(out) for out, _ in outs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--both", action="store_true", help="run both parties here as subprocesses")
    ap.add_argument("--rank", type=int, choices=[0, 1])
    ap.add_argument("--addrs", help="host:port of rank 0 and rank 1, comma-separated")
    ap.add_argument("--op", choices=OP_NAMES, required=True)
    ap.add_argument("--scale", type=float, default=1.0, help="size factor (1.0: the issue's sizes)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    ap.add_argument("--sigma", type=float, default=1.0, help="inputs are normal(0, sigma)")
    ap.add_argument("--colocated", action="store_true", help="SPU's colocated optimization (private inputs)")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    # spu's C++ logging writes to fd 1: keep the real stdout for the JSON line and send fd 1 to stderr.
    json_out = json_stdout()
    if args.both:
        result = both(args)
    else:
        if args.rank is None or not args.addrs:
            ap.error("one party needs --rank and --addrs")
        result = party(args)
    write_json(json_out, result)


if __name__ == "__main__":
    main()
