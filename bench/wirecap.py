"""Logging gRPC proxy for yacl/IC ``org.interconnection.link.ReceiverService/Push`` between two parties.

Needs only ``grpcio`` (the side venv from bench/spu_env.sh has it; protobufs are decoded by hand here).

Each party's address for its PEER points at a proxy port; the proxy forwards every PushRequest
unchanged to the real party and appends one JSON line per request to the capture file:

  {"i": n, "t": seconds since start, "path": "0->1" (sender->receiver, from the proxy it came through),
   "sender_rank", "key" (Python repr, incl. the yacl "\\x01\\x02<seq>" suffix), "key_b64",
   "trans_type" (0 MONO, 1 CHUNKED), "chunk_info": {"message_length", "chunk_offset"} | null,
   "value_len", "value_b64" (whole value if <= --full-limit bytes, else only the first --head bytes,
   with "value_truncated": true), "resp_b64" (PushResponse bytes), "rpc_ms"}

Commands::

    # a bare proxy: listen on A, forward to B (repeatable; one per direction)
    python bench/wirecap.py proxy --pair 127.0.0.1:7001=127.0.0.1:8001 --label 7001=0-\\>1 \
        --pair 127.0.0.1:7000=127.0.0.1:8000 --label 7000=1-\\>0 --out cap.jsonl

    # a whole capture of two spu parties (bench/spu_psi.py, h2:grpc) through the proxy
    .bench/spu-venv/bin/python bench/wirecap.py spu --curve 25519 --n 20 --common 5 --out cap.jsonl

    # print a capture with the values decoded (protobuf fields, yacl ACK/FIN, batch summaries)
    python bench/wirecap.py show cap.jsonl
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import random
import struct
import subprocess
import sys
import threading
import time
from concurrent import futures

from side import free_ports  # bench/side.py (stdlib only)

METHOD = "/org.interconnection.link.ReceiverService/Push"
GRPC_OPTS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


# ---------------------------------------------------------------- protobuf wire decoding (no schema)
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = val = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        val |= (b & 0x7F) << shift
        if not b & 0x80:
            return val, i
        shift += 7
        if shift > 70:
            raise ValueError("varint too long")


def pb_fields(buf: bytes) -> list[tuple[int, int, object]]:
    """Flat list of (field_no, wire_type, value); value is int for varint/fixed, bytes for LEN."""
    out, i = [], 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        fno, wt = tag >> 3, tag & 7
        if fno == 0:
            raise ValueError("field 0")
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            if i + 8 > len(buf):
                raise ValueError("truncated fixed64")
            v = struct.unpack_from("<Q", buf, i)[0]
            i += 8
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated LEN")
            v = buf[i:i + n]
            i += n
        elif wt == 5:
            if i + 4 > len(buf):
                raise ValueError("truncated fixed32")
            v = struct.unpack_from("<I", buf, i)[0]
            i += 4
        else:
            raise ValueError(f"wire type {wt}")
        out.append((fno, wt, v))
    return out


def pb_decode(buf: bytes, depth: int = 0, max_depth: int = 6) -> object:
    """Best-effort schema-less decode: nested messages where the bytes parse, else text/hex."""
    try:
        fields = pb_fields(buf)
    except ValueError:
        return None
    res = []
    for fno, wt, v in fields:
        if wt == 2:
            sub = pb_decode(v, depth + 1) if (depth < max_depth and v) else None
            txt = None
            try:
                t = v.decode("utf-8")
                if all(c.isprintable() or c in "\n\t" for c in t):
                    txt = t
            except UnicodeDecodeError:
                pass
            if txt is not None and (sub is None or len(v) < 3 or txt.isascii()):
                res.append([fno, "str", txt])
            elif sub is not None:
                res.append([fno, "msg", sub])
            else:
                res.append([fno, "bytes", v.hex() if len(v) <= 64 else f"{v[:32].hex()}...({len(v)} B)"])
        else:
            res.append([fno, {0: "varint", 1: "fixed64", 5: "fixed32"}[wt], v])
    return res


def parse_push_request(raw: bytes) -> dict:
    d = {"sender_rank": 0, "key": b"", "value": b"", "trans_type": 0, "chunk_info": None}
    for fno, _wt, v in pb_fields(raw):
        if fno == 1:
            d["sender_rank"] = v
        elif fno == 2:
            d["key"] = v
        elif fno == 3:
            d["value"] = v
        elif fno == 4:
            d["trans_type"] = v
        elif fno == 5:
            ci = {"message_length": 0, "chunk_offset": 0}
            for f2, _w2, v2 in pb_fields(v):
                if f2 == 1:
                    ci["message_length"] = v2
                elif f2 == 2:
                    ci["chunk_offset"] = v2
            d["chunk_info"] = ci
    return d


# ---------------------------------------------------------------- the proxy
class Capture:
    def __init__(self, path: str, full_limit: int, head: int):
        self.f = open(path, "w")  # noqa: SIM115 - closed by close()
        self.lock = threading.Lock()
        self.n = 0
        self.t0 = time.monotonic()
        self.full_limit = full_limit
        self.head = head

    def log(self, label: str, raw: bytes, resp: bytes | None, rpc_ms: float, err: str | None) -> None:
        try:
            req = parse_push_request(raw)
        except ValueError as e:
            req = {"sender_rank": None, "key": b"", "value": raw, "trans_type": None,
                   "chunk_info": None, "parse_error": str(e)}
        v = req["value"]
        rec = {"t": round(time.monotonic() - self.t0, 6), "path": label,
               "sender_rank": req["sender_rank"], "key": repr(req["key"])[2:-1],
               "key_b64": base64.b64encode(req["key"]).decode(), "trans_type": req["trans_type"],
               "chunk_info": req["chunk_info"], "value_len": len(v)}
        if len(v) <= self.full_limit:
            rec["value_b64"] = base64.b64encode(v).decode()
        else:
            rec["value_b64"] = base64.b64encode(v[:self.head]).decode()
            rec["value_truncated"] = True
        rec["resp_b64"] = base64.b64encode(resp).decode() if resp is not None else None
        rec["rpc_ms"] = round(rpc_ms, 3)
        if err:
            rec["error"] = err
        with self.lock:
            rec = {"i": self.n, **rec}
            self.n += 1
            self.f.write(json.dumps(rec) + "\n")
            self.f.flush()

    def close(self) -> None:
        self.f.close()


def start_proxy(pairs: list[tuple[str, str, str]], cap: Capture) -> list:
    """pairs: (listen_addr, forward_addr, label); one grpc server per listen port (the port tells
    the direction). Returns the servers (call .stop(0) on each)."""
    import grpc

    servers = []
    for listen, forward, label in pairs:
        chan = grpc.insecure_channel(forward, options=GRPC_OPTS)
        push = chan.unary_unary(METHOD)  # no serializers: raw bytes both ways

        def handler(raw, context, _push=push, _label=label):
            t = time.perf_counter()
            try:
                resp = _push(raw, timeout=600)
            except grpc.RpcError as e:  # forward the failure as-is
                cap.log(_label, raw, None, (time.perf_counter() - t) * 1e3, f"{e.code()}: {e.details()}")
                context.abort(e.code(), e.details() or "")
            cap.log(_label, raw, resp, (time.perf_counter() - t) * 1e3, None)
            return resp

        generic = grpc.method_handlers_generic_handler(
            "org.interconnection.link.ReceiverService",
            {"Push": grpc.unary_unary_rpc_method_handler(handler)})
        srv = grpc.server(futures.ThreadPoolExecutor(max_workers=32), options=GRPC_OPTS)
        srv.add_generic_rpc_handlers((generic,))
        if srv.add_insecure_port(listen) == 0:
            raise SystemExit(f"cannot listen on {listen}")
        srv.start()
        servers.append(srv)
    return servers


def cmd_proxy(args: argparse.Namespace) -> None:
    labels = dict(x.split("=", 1) for x in args.label)
    pairs = []
    for p in args.pair:
        listen, forward = p.split("=", 1)
        pairs.append((listen, forward, labels.get(listen.rsplit(":", 1)[1], listen)))
    cap = Capture(args.out, args.full_limit, args.head)
    servers = start_proxy(pairs, cap)
    print(f"proxying {pairs} -> {args.out}; Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    for srv in servers:
        srv.stop(0)
    cap.close()


def cmd_spu(args: argparse.Namespace) -> None:
    """Two spu parties (bench/spu_psi.py, h2:grpc) whose peer addresses are this proxy."""
    workdir = args.workdir or f"/tmp/spu_work/cap_{args.curve}_{args.n}"
    os.makedirs(workdir, exist_ok=True)
    rng = random.Random(args.seed)
    common = [f"c{k:03d}" for k in range(args.common)]
    a = common + [f"a{k:03d}" for k in range(args.n - args.common)]
    b = common + [f"b{k:03d}" for k in range(args.n - args.common)]
    rng.shuffle(a)
    rng.shuffle(b)
    ins = []
    for name, rows in (("a", a), ("b", b)):
        p = os.path.join(workdir, f"{name}.csv")
        with open(p, "w") as f:
            f.write("id\n" + "\n".join(rows) + "\n")
        ins.append(p)
    real0, real1, prox0, prox1 = free_ports(4)
    cap = Capture(args.out, args.full_limit, args.head)
    # prox1 receives what party 0 sends to "party 1"; prox0 what party 1 sends to "party 0".
    servers = start_proxy([(f"127.0.0.1:{prox1}", f"127.0.0.1:{real1}", "0->1"),
                 (f"127.0.0.1:{prox0}", f"127.0.0.1:{real0}", "1->0")], cap)
    spu_psi = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spu_psi.py")
    addrs = {0: f"127.0.0.1:{real0},127.0.0.1:{prox1}", 1: f"127.0.0.1:{prox0},127.0.0.1:{real1}"}
    procs = []
    for rank in (0, 1):
        cmd = [args.python or sys.executable, spu_psi, "--rank", str(rank), "--peer-addrs", addrs[rank],
               "--input", ins[rank], "--key", "id", "--output", os.path.join(workdir, f"out{rank}.csv"),
               "--curve", args.curve, "--result-to", args.result_to, "--protocol", "h2:grpc",
               "--link-id", args.link_id]
        log = open(os.path.join(workdir, f"party{rank}.log"), "w")  # noqa: SIM115
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True))
    outs = [p.communicate(timeout=args.timeout_s)[0] for p in procs]
    time.sleep(0.5)
    for srv in servers:
        srv.stop(0)
    cap.close()
    meta = {"curve": args.curve, "n": args.n, "common": args.common, "result_to": args.result_to,
            "inputs": {"a": a, "b": b}, "returncodes": [p.returncode for p in procs],
            "party_reports": [json.loads(o.strip().splitlines()[-1]) if o.strip() else None for o in outs],
            "messages": cap.n}
    with open(args.out + ".meta.json", "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({k: meta[k] for k in ("returncodes", "party_reports", "messages")}))


# ---------------------------------------------------------------- show
def _summarize_value(key: bytes, v: bytes) -> str:
    k = key.split(b"\x01\x02")[0]
    if k.startswith(b"connect_") or k.startswith(b"ACK") or k.startswith(b"FIN"):
        return repr(v)
    dec = pb_decode(v)
    if dec is None:
        return f"raw {len(v)} B: {v[:48].hex()}"
    s = json.dumps(dec, default=str)
    return s if len(s) < 600 else s[:600] + "..."


def cmd_show(args: argparse.Namespace) -> None:
    with open(args.capture) as f:
        lines = f.readlines()
    for line in lines:
        r = json.loads(line)
        key = base64.b64decode(r["key_b64"])
        v = base64.b64decode(r["value_b64"])
        ci = r["chunk_info"]
        extra = f" chunk {ci['chunk_offset']}/{ci['message_length']}" if ci else ""
        trunc = " (truncated)" if r.get("value_truncated") else ""
        print(f"#{r['i']:4d} {r['t']:8.3f} {r['path']} sr={r['sender_rank']} key={r['key']!r}"
              f" tt={r['trans_type']}{extra} len={r['value_len']}{trunc}")
        if r["value_len"]:
            print("       ", _summarize_value(key, v))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("proxy", "spu"):
        p = sub.add_parser(name)
        p.add_argument("--out", required=True)
        p.add_argument("--full-limit", type=int, default=1024, help="log whole values up to this size")
        p.add_argument("--head", type=int, default=128, help="bytes kept of larger values")
    p = sub.choices["proxy"]
    p.add_argument("--pair", action="append", required=True, help="LISTEN=FORWARD (host:port=host:port)")
    p.add_argument("--label", action="append", default=[], help="LISTENPORT=LABEL, e.g. 7001=0->1")
    p = sub.choices["spu"]
    p.add_argument("--curve", default="25519")
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--common", type=int, default=5)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--result-to", default="all")
    p.add_argument("--link-id", default="wirecap")
    p.add_argument("--python", default="", help="interpreter with spu (default: this one)")
    p.add_argument("--workdir", default="")
    p.add_argument("--timeout-s", type=float, default=600)
    p = sub.add_parser("show")
    p.add_argument("capture")
    args = ap.parse_args(argv)
    {"proxy": cmd_proxy, "spu": cmd_spu, "show": cmd_show}[args.cmd](args)


if __name__ == "__main__":
    main()
