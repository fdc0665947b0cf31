"""SecretFlow's ECDH-PSI (spu 0.9.5, psi v2 ``psi_execute``), the reference our PSI is benchmarked against.

Runs ONLY inside the side venv made by ``bench/spu_env.sh`` (it imports ``spu``, never ``hulian``)::

    PY=$(bash bench/spu_env.sh | tail -1)

One party (run one per rank, each pointing at both ranks' addresses)::

    $PY bench/spu_psi.py --rank 0 --peer-addrs 127.0.0.1:9001,127.0.0.1:9002 \
        --input a.csv --key id --output out0.csv --curve 25519 --result-to all

Both parties on this machine (free loopback ports, two subprocesses sharing the cores)::

    $PY bench/spu_psi.py --both --input-a A.csv --input-b B.csv --key id --curve 25519
    $PY bench/spu_psi.py --both --gen 100000 --overlap 0.5 --curve 25519     # makes its own CSVs

Every mode prints exactly one JSON line on stdout, last (spu's own logging goes to stderr):
  single party: {"rank", "curve", "protocol", "wall_seconds" (link setup + psi + link stop),
                 "psi_seconds" (psi_execute only), "peak_rss_mb" (getrusage ru_maxrss),
                 "intersection_count", "original_count", ...}
  --both:       {"mode": "both", "curve", "n_a", "n_b", "wall_seconds" (driver, both processes),
                 "parties": [<party 0 JSON>, <party 1 JSON>], "load_before": [1m, 5m, 15m], ...}

``--peer-addrs`` lists every rank's listen address in rank order (this party's own entry is where it
listens). ``--protocol h2:grpc`` makes yacl's client speak gRPC
``org.interconnection.link.ReceiverService/Push`` (what bench/wirecap.py and a non-brpc peer need);
the default is brpc's ``baidu_std``. ``--result-to all`` = broadcast_result; ``0``/``1`` = only that
rank gets the intersection (receiver_rank).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

from side import free_ports, json_stdout, write_json  # bench/side.py (stdlib only)

CURVES = {"25519": "CURVE_25519", "sm2": "CURVE_SM2", "fourq": "CURVE_FOURQ",
          "secp256k1": "CURVE_SECP256K1", "25519-elligator2": "CURVE_25519_ELLIGATOR2"}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_party(args: argparse.Namespace) -> dict:
    import spu.libspu as libspu
    import spu.psi as psi

    addrs = args.peer_addrs.split(",")
    t0 = time.perf_counter()
    desc = libspu.link.Desc()
    desc.id = args.link_id
    for i, addr in enumerate(addrs):
        desc.add_party(f"party{i}", addr)
    desc.recv_timeout_ms = args.recv_timeout_s * 1000
    desc.http_timeout_ms = args.recv_timeout_s * 1000
    desc.connect_retry_times = 60
    desc.connect_retry_interval_ms = 1000
    if args.protocol:
        desc.brpc_channel_protocol = args.protocol
    lctx = libspu.link.create_brpc(desc, args.rank)
    t_link = time.perf_counter()

    cfg = psi.PsiExecuteConfig()
    proto = psi.PsiProtocolConfig()
    proto.protocol = psi.PsiProtocol.PROTOCOL_ECDH
    if args.result_to == "all":
        proto.receiver_rank = 0
        proto.broadcast_result = True
    else:
        proto.receiver_rank = int(args.result_to)
        proto.broadcast_result = False
    ecdh = psi.EcdhParams()
    ecdh.curve = psi.parse_curve_type(CURVES[args.curve])
    ecdh.batch_size = args.batch_size
    proto.ecdh_params = ecdh
    cfg.protocol_conf = proto
    inp = psi.InputParams()
    inp.type = psi.SourceType.SOURCE_TYPE_FILE_CSV
    inp.path = os.path.abspath(args.input)
    inp.selected_keys = args.key.split(",")
    inp.keys_unique = args.keys_unique
    cfg.input_params = inp
    out = psi.OutputParams()
    out.type = psi.SourceType.SOURCE_TYPE_FILE_CSV
    out.path = os.path.abspath(args.output)
    out.disable_alignment = args.no_align
    cfg.output_params = out
    if args.checkpoint:
        # psi v2 recovery: the folder keeps checkpoint.json, the ECDH private key ("private_key",
        # 32 raw bytes) and the dual-masked caches; used by bench/spu_vectors.py.
        ck = psi.CheckpointConfig()
        ck.enable = True
        ck.path = os.path.abspath(args.checkpoint)
        cfg.checkpoint_conf = ck

    t1 = time.perf_counter()
    report = psi.psi_execute(cfg, lctx)
    t2 = time.perf_counter()
    lctx.stop_link()
    t3 = time.perf_counter()
    return {
        "rank": args.rank, "curve": args.curve, "protocol": args.protocol or "baidu_std",
        "result_to": args.result_to, "input": args.input,
        "wall_seconds": round(t3 - t0, 4), "psi_seconds": round(t2 - t1, 4),
        "link_setup_seconds": round(t_link - t0, 4), "link_stop_seconds": round(t3 - t2, 4),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "intersection_count": report.intersection_count,
        "original_count": report.original_count,
        "original_unique_count": report.original_unique_count,
        "intersection_unique_count": report.intersection_unique_count,
    }


def _gen_csvs(n: int, overlap: float, workdir: str, seed: int) -> tuple[str, str]:
    """Two CSVs with column ``id``: n items each, round(n*overlap) shared, in random order."""
    rng = random.Random(seed)
    common = round(n * overlap)
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(2 * n - common)]
    if len(set(ids)) != len(ids):
        raise SystemExit("id collision; pick another --seed")
    a = ids[:n]
    b = ids[:common] + ids[n:]
    rng.shuffle(a)
    rng.shuffle(b)
    paths = []
    for name, rows in (("a", a), ("b", b)):
        p = os.path.join(workdir, f"{name}_{n}.csv")
        with open(p, "w") as f:
            f.write("id\n")
            f.write("\n".join(rows))
            f.write("\n")
        paths.append(p)
    return paths[0], paths[1]


def _count_rows(path: str) -> int:
    with open(path) as f:
        return sum(1 for _ in f) - 1


def _last_json(text: str) -> dict:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in party output")


def run_both(args: argparse.Namespace) -> dict:
    workdir = args.workdir or tempfile.mkdtemp(prefix="spu_psi_")
    os.makedirs(workdir, exist_ok=True)
    if args.gen:
        in_a, in_b = _gen_csvs(args.gen, args.overlap, workdir, args.seed)
        key = "id"
    else:
        if not (args.input_a and args.input_b):
            raise SystemExit("--both needs --input-a and --input-b (or --gen N)")
        in_a, in_b, key = args.input_a, args.input_b, args.key
    ports = free_ports(2)
    addrs = ",".join(f"127.0.0.1:{p}" for p in ports)
    load_before = os.getloadavg()
    procs, errs = [], []
    t0 = time.perf_counter()
    for rank, inp in ((0, in_a), (1, in_b)):
        cmd = [sys.executable, os.path.abspath(__file__), "--rank", str(rank), "--peer-addrs", addrs,
               "--input", inp, "--key", key, "--output", os.path.join(workdir, f"out{rank}.csv"),
               "--curve", args.curve, "--result-to", args.result_to,
               "--batch-size", str(args.batch_size), "--recv-timeout-s", str(args.recv_timeout_s),
               "--link-id", args.link_id]
        if args.protocol:
            cmd += ["--protocol", args.protocol]
        if args.keys_unique:
            cmd.append("--keys-unique")
        if args.no_align:
            cmd.append("--no-align")
        err = open(os.path.join(workdir, f"party{rank}.log"), "w")  # noqa: SIM115 - closed below
        errs.append(err)
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True))
    outs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=args.timeout_s)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise SystemExit(f"timeout after {args.timeout_s}s; logs in {workdir}") from None
        outs.append(out)
    wall = time.perf_counter() - t0
    for e in errs:
        e.close()
    parties = []
    for rank, (p, out) in enumerate(zip(procs, outs, strict=True)):
        if p.returncode != 0:
            raise SystemExit(f"party {rank} exited {p.returncode}; log {workdir}/party{rank}.log")
        parties.append(_last_json(out))
    n_a, n_b = _count_rows(in_a), _count_rows(in_b)
    return {
        "mode": "both", "impl": "spu", "spu_version": _spu_version(), "curve": args.curve,
        "protocol": args.protocol or "baidu_std", "result_to": args.result_to,
        "n_a": n_a, "n_b": n_b, "wall_seconds": round(wall, 4),
        "max_psi_seconds": max(p["psi_seconds"] for p in parties),
        "max_peak_rss_mb": max(p["peak_rss_mb"] for p in parties),
        "intersection_count": parties[0]["intersection_count"],
        "nproc": os.cpu_count(), "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "workdir": workdir, "parties": parties,
    }


def _spu_version() -> str:
    try:
        import spu
        return spu.__version__
    except Exception:
        return "?"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--both", action="store_true", help="run both parties here as subprocesses")
    ap.add_argument("--rank", type=int)
    ap.add_argument("--peer-addrs", help="host:port per rank, in rank order")
    ap.add_argument("--input")
    ap.add_argument("--input-a")
    ap.add_argument("--input-b")
    ap.add_argument("--gen", type=int, default=0, help="--both: generate two CSVs of N ids each")
    ap.add_argument("--overlap", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--key", default="id", help="key column(s), comma-separated")
    ap.add_argument("--output")
    ap.add_argument("--curve", choices=sorted(CURVES), default="25519")
    ap.add_argument("--result-to", choices=["all", "0", "1"], default="all")
    ap.add_argument("--protocol", default="", help='brpc channel protocol, e.g. "h2:grpc"')
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--keys-unique", action="store_true", help="promise unique keys (skips dedup)")
    ap.add_argument("--no-align", action="store_true", help="output_params.disable_alignment")
    ap.add_argument("--checkpoint", default="", help="enable psi recovery with this folder (single party)")
    ap.add_argument("--recv-timeout-s", type=int, default=600)
    ap.add_argument("--link-id", default="spu-psi-bench")
    ap.add_argument("--timeout-s", type=float, default=3600)
    ap.add_argument("--workdir", default="")
    args = ap.parse_args(argv)
    # spu's C++ logging (spdlog) writes to fd 1, some of it at exit: send fd 1 to stderr and keep
    # the real stdout for the single JSON line.
    json_out = json_stdout()
    if args.both:
        res = run_both(args)
    else:
        if args.rank is None or not args.peer_addrs or not args.input or not args.output:
            ap.error("single-party mode needs --rank, --peer-addrs, --input, --output")
        res = run_party(args)
    write_json(json_out, res)


if __name__ == "__main__":
    main()
