"""Known-answer ECDH-PSI vectors from SecretFlow's deployed code (spu 0.9.5), with the keys revealed.

spu's Python API has no hook for ECDH intermediates (no ecdh_logger, no key option, no cryptor
binding). What it does have is psi v2 *recovery*: with ``checkpoint_conf.enable`` each party writes
its ECDH private key (32 raw bytes) to ``<folder>/private_key``, and on a re-run whose
``checkpoint.json`` says stage >= STAGE_PRE_PROCESS_END it LOADS that file instead of drawing a key.
So this script:

1. runs two spu parties (bench/spu_psi.py, h2:grpc, recovery on) through the logging proxy of
   bench/wirecap.py;
2. with ``--key-a/--key-b`` (hex, 32 B): rewinds both checkpoints to STAGE_PRE_PROCESS_END, writes
   the chosen keys into ``private_key``, empties the caches and runs again (spu now computes with
   OUR keys; the script checks the file is unchanged afterwards);
3. takes from the capture what each party really sent: stage-1 points (``enc`` batches) and the
   truncated dual values (``dual.enc`` batches), and maps them to items (spu sends the unique keys
   in byte-sorted order);
4. recomputes everything with an independent pure-Python reference (X25519 per RFC 7748 with
   u = SHA-256(item); SM2 try-and-rehash with SHA-256, even y, X9.62 compressed) and reports
   whether every byte matches.

Runs in the side venv (needs spu + grpcio only)::

    PY=$(bash bench/spu_env.sh | tail -1)
    $PY bench/spu_vectors.py --curve 25519 --out vectors_25519.json
    $PY bench/spu_vectors.py --curve sm2 --key-a 01..20 --key-b 02..20 --out vectors_sm2.json
    $PY bench/spu_vectors.py --curve 25519 --items-a a.txt --items-b b.txt   # one item per line

Prints one JSON document (also written to --out): {"curve", "keys": {"a","b"} (hex, as stored by
spu), "parties": [{"rank", "items" (in send order), "stage1_sent" (hex points), "dual_received"
(hex, what the peer returned for these items), "dual_sent" (hex, what this party returned for the
peer's items)}], "intersection", "check": {...per-stage booleans...}, "capture": path}.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side import free_ports
from wirecap import Capture, pb_fields, start_proxy

HERE = os.path.dirname(os.path.abspath(__file__))

# ------------------------------------------------------------------ pure-Python reference math
P25519 = 2**255 - 19
A24 = 121665


def _clamp(k: bytes) -> int:
    b = bytearray(k)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return int.from_bytes(b, "little")


def x25519(k: bytes, u: bytes) -> bytes:
    """RFC 7748 X25519 (bit 255 of u masked)."""
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    kk = _clamp(k)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    p = P25519
    for t in range(254, -1, -1):
        kt = (kk >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a, b = (x2 + z2) % p, (x2 - z2) % p
        aa, bb = a * a % p, b * b % p
        e = (aa - bb) % p
        c, d = (x3 + z3) % p, (x3 - z3) % p
        da, cb = d * a % p, c * b % p
        x3 = (da + cb) ** 2 % p
        z3 = x1 * (da - cb) ** 2 % p
        x2 = aa * bb % p
        z2 = e * (aa + A24 * e) % p
    if swap:
        x2, x3, z2, z3 = x3, x2, z3, z2
    return (x2 * pow(z2, p - 2, p) % p).to_bytes(32, "little")


SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_A = SM2_P - 3
SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


def _sm2_add(P, Q):
    if P is None:
        return Q
    if Q is None:
        return P
    p = SM2_P
    if P[0] == Q[0]:
        if (P[1] + Q[1]) % p == 0:
            return None
        lam = (3 * P[0] * P[0] + SM2_A) * pow(2 * P[1], p - 2, p) % p
    else:
        lam = (Q[1] - P[1]) * pow(Q[0] - P[0], p - 2, p) % p
    x = (lam * lam - P[0] - Q[0]) % p
    return (x, (lam * (P[0] - x) - P[1]) % p)


def _sm2_mul(k: int, P):
    R = None
    while k:
        if k & 1:
            R = _sm2_add(R, P)
        P = _sm2_add(P, P)
        k >>= 1
    return R


def sm2_hash_to_curve(item: bytes):
    """TryAndRehash: h = SHA-256(item); x = int(h) mod p; even y if x^3+ax+b is a square, else
    h = SHA-256(h) (at most 100 tries)."""
    p = SM2_P
    h = hashlib.sha256(item).digest()
    for _ in range(100):
        x = int.from_bytes(h, "big") % p
        rhs = (x * x * x + SM2_A * x + SM2_B) % p
        y = pow(rhs, (p + 1) // 4, p)  # p = 3 mod 4
        if y * y % p == rhs:
            return (x, y if y % 2 == 0 else p - y)
        h = hashlib.sha256(h).digest()
    raise ValueError("no point after 100 tries")


def sm2_compress(P) -> bytes:
    return bytes([2 | (P[1] & 1)]) + P[0].to_bytes(32, "big")


def sm2_decompress(b: bytes):
    p = SM2_P
    x = int.from_bytes(b[1:], "big")
    rhs = (x * x * x + SM2_A * x + SM2_B) % p
    y = pow(rhs, (p + 1) // 4, p)
    if (y & 1) != (b[0] & 1):
        y = p - y
    return (x, y)


def sm2_scalar(key: bytes, order: str) -> int:
    return int.from_bytes(key, order) % SM2_N


class Ref:
    """Reference masking for one curve; sm2_order is the byte order of the private_key file."""

    def __init__(self, curve: str, sm2_order: str = "little"):
        self.curve = curve
        self.sm2_order = sm2_order

    def stage1(self, key: bytes, item: bytes) -> bytes:
        if self.curve == "25519":
            return x25519(key, hashlib.sha256(item).digest())
        return sm2_compress(_sm2_mul(sm2_scalar(key, self.sm2_order), sm2_hash_to_curve(item)))

    def remask(self, key: bytes, point: bytes) -> bytes:
        if self.curve == "25519":
            return x25519(key, point)
        return sm2_compress(_sm2_mul(sm2_scalar(key, self.sm2_order), sm2_decompress(point)))


# ------------------------------------------------------------------ capture parsing
def decode_batch(v: bytes) -> dict:
    """psi.proto.PsiDataBatchProto (psi/utils/serializable.proto as built into spu 0.9.5)."""
    d = {"item_num": 0, "flatten_bytes": b"", "is_last_batch": False, "batch_index": 0, "type": "",
         "duplicate_item_cnt": {}}
    for f, _w, x in pb_fields(v):
        if f == 1:
            d["item_num"] = x
        elif f == 2:
            d["flatten_bytes"] = x
        elif f == 3:
            d["is_last_batch"] = bool(x)
        elif f == 4:
            d["batch_index"] = x
        elif f == 5:
            d["type"] = x.decode()
        elif f == 6:
            kv = dict((f2, x2) for f2, _w2, x2 in pb_fields(x))
            d["duplicate_item_cnt"][kv.get(1, 0)] = kv.get(2, 0)
    return d


def batches_from_capture(path: str) -> dict:
    """{(sender, type): [items...]} in stream order (batch_index), whole values required."""
    streams: dict = {}
    chunks: dict = {}
    with open(path) as f:
        lines = f.readlines()
    for line in lines:
        r = json.loads(line)
        key = base64.b64decode(r["key_b64"])
        if b":P2P-" not in key:
            continue
        if r.get("value_truncated"):
            raise SystemExit("capture truncated a batch; raise --full-limit")
        v = base64.b64decode(r["value_b64"])
        if r["trans_type"] == 1:  # CHUNKED: reassemble by offset
            ci = r["chunk_info"]
            c = chunks.setdefault(key, {"len": ci["message_length"], "parts": {}})
            c["parts"][ci["chunk_offset"]] = v
            if sum(len(x) for x in c["parts"].values()) < c["len"]:
                continue
            v = b"".join(c["parts"][o] for o in sorted(c["parts"]))
        b = decode_batch(v)
        streams.setdefault((r["sender_rank"], b["type"]), []).append(b)
    out = {}
    for k, bl in streams.items():
        bl.sort(key=lambda b: b["batch_index"])
        items = []
        for b in bl:
            if b["item_num"]:
                sz = len(b["flatten_bytes"]) // b["item_num"]
                items += [b["flatten_bytes"][i * sz:(i + 1) * sz] for i in range(b["item_num"])]
        out[k] = {"items": items, "batches": len(bl), "last_flags": [b["is_last_batch"] for b in bl],
                  "dup": [b["duplicate_item_cnt"] for b in bl if b["duplicate_item_cnt"]]}
    return out


# ------------------------------------------------------------------ running spu
def run_pair(args, workdir: str, ins: list[str], cap_path: str, ck: list[str]) -> list[dict]:
    real0, real1, prox0, prox1 = free_ports(4)
    cap = Capture(cap_path, full_limit=1 << 30, head=0)
    servers = start_proxy([(f"127.0.0.1:{prox1}", f"127.0.0.1:{real1}", "0->1"),
                           (f"127.0.0.1:{prox0}", f"127.0.0.1:{real0}", "1->0")], cap)
    addrs = {0: f"127.0.0.1:{real0},127.0.0.1:{prox1}", 1: f"127.0.0.1:{prox0},127.0.0.1:{real1}"}
    procs = []
    for rank in (0, 1):
        cmd = [sys.executable, os.path.join(HERE, "spu_psi.py"), "--rank", str(rank),
               "--peer-addrs", addrs[rank], "--input", ins[rank], "--key", "id",
               "--output", os.path.join(workdir, f"out{rank}.csv"), "--curve", args.curve,
               "--result-to", "all", "--protocol", "h2:grpc", "--checkpoint", ck[rank],
               "--link-id", "vectors"]
        log = open(os.path.join(workdir, f"party{rank}.{os.path.basename(cap_path)}.log"), "w")  # noqa: SIM115
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True))
    outs = [p.communicate(timeout=600)[0] for p in procs]
    time.sleep(0.3)
    for s in servers:
        s.stop(0)
    cap.close()
    for rank, p in enumerate(procs):
        if p.returncode != 0:
            raise SystemExit(f"spu party {rank} failed ({p.returncode}); see {workdir}")
    return [json.loads(o.strip().splitlines()[-1]) for o in outs]


def rewind_checkpoint(folder: str, key: bytes) -> None:
    """Make spu load `key`: stage back to STAGE_PRE_PROCESS_END, caches emptied."""
    path = os.path.join(folder, "checkpoint.json")
    with open(path) as f:
        ckpt = json.load(f)
    ckpt["stage"] = "STAGE_PRE_PROCESS_END"
    for f in ("ecdh_dual_masked_item_self_count", "ecdh_dual_masked_item_peer_count",
              "parsed_bucket_count"):
        ckpt.pop(f, None)
    with open(path, "w") as f:
        json.dump(ckpt, f)
    with open(os.path.join(folder, "private_key"), "wb") as f:
        f.write(key)
    for sub in ("ecdh_dual_masked_self_cache", "ecdh_dual_masked_peer_cache"):
        d = os.path.join(folder, sub)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)


DEFAULT_A = ["alice", "bob", "carol", "dave", "eve", "frank", "0", "中文", "x" * 100, "dup", "dup"]
DEFAULT_B = ["bob", "dave", "mallory", "trent", "0", "中文", "x" * 100, "peggy", "dup"]


def _read_items(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [x.rstrip("\n") for x in f]


def _read_key(folder: str) -> bytes:
    with open(os.path.join(folder, "private_key"), "rb") as f:
        return f.read()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--curve", choices=["25519", "sm2"], default="25519")
    ap.add_argument("--items-a", help="file, one item per line (default: a built-in set)")
    ap.add_argument("--items-b")
    ap.add_argument("--key-a", help="hex, 32 bytes: force party 0's private key (via recovery)")
    ap.add_argument("--key-b", help="hex, 32 bytes: force party 1's private key")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)

    a = _read_items(args.items_a) if args.items_a else DEFAULT_A
    b = _read_items(args.items_b) if args.items_b else DEFAULT_B
    for it in a + b:
        if any(c in it for c in ',"\n\r'):
            raise SystemExit(f"item {it!r}: commas, quotes and newlines are not CSV-safe here")
    workdir = args.workdir or f"/tmp/spu_work/vectors_{args.curve}"
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    ins = []
    for name, rows in (("a", a), ("b", b)):
        p = os.path.join(workdir, f"{name}.csv")
        with open(p, "w", encoding="utf-8") as f:
            f.write("id\n" + "".join(r + "\n" for r in rows))
        ins.append(p)
    ck = [os.path.join(workdir, "ck0"), os.path.join(workdir, "ck1")]

    cap_path = os.path.join(workdir, "capture_run1.jsonl")
    reports = run_pair(args, workdir, ins, cap_path, ck)
    keys = [_read_key(c) for c in ck]
    forced = bool(args.key_a or args.key_b)
    if forced:
        want = [bytes.fromhex(args.key_a) if args.key_a else keys[0],
                bytes.fromhex(args.key_b) if args.key_b else keys[1]]
        if any(len(k) != 32 for k in want):
            raise SystemExit("keys must be 32 bytes")
        for c, k in zip(ck, want, strict=True):
            rewind_checkpoint(c, k)
        cap_path = os.path.join(workdir, "capture_run2.jsonl")
        reports = run_pair(args, workdir, ins, cap_path, ck)
        keys_after = [_read_key(c) for c in ck]
        if keys_after != want:
            raise SystemExit("spu replaced the forced key; recovery trick failed")
        keys = want

    streams = batches_from_capture(cap_path)
    # spu (keys_unique=false) sends each party's UNIQUE keys sorted bytewise (LC_ALL=C sort);
    # an empty key is a blank CSV line, which the reader skips.
    order = [sorted(set(a) - {""}, key=lambda s: s.encode()),
             sorted(set(b) - {""}, key=lambda s: s.encode())]
    check = {}
    ref_orders = ["little", "big"] if args.curve == "sm2" else ["little"]
    result = None
    for sm2_order in ref_orders:
        ref = Ref(args.curve, sm2_order)
        parties, ok = [], {}
        for r in (0, 1):
            peer = 1 - r
            s1 = streams.get((r, "enc"), {"items": []})["items"]
            dual_recv = streams.get((peer, "dual.enc"), {"items": []})["items"]
            dual_sent = streams.get((r, "dual.enc"), {"items": []})["items"]
            items = order[r]
            exp_s1 = [ref.stage1(keys[r], it.encode()) for it in items]
            exp_dual_recv = [ref.remask(keys[peer], p)[-12:] for p in exp_s1]
            ok[f"rank{r}_count"] = len(s1) == len(items)
            ok[f"rank{r}_stage1"] = s1 == exp_s1
            ok[f"rank{r}_dual_received"] = dual_recv == exp_dual_recv
            parties.append({"rank": r, "items": items, "stage1_sent": [x.hex() for x in s1],
                            "dual_received": [x.hex() for x in dual_recv],
                            "dual_sent": [x.hex() for x in dual_sent],
                            "stage1_item_bytes": len(s1[0]) if s1 else None,
                            "dual_item_bytes": len(dual_recv[0]) if dual_recv else None,
                            "dup_maps": streams.get((r, "enc"), {}).get("dup", [])})
        check = {**ok, "all": all(ok.values())}
        result = (sm2_order, parties)
        if check["all"]:
            break
    sm2_order, parties = result
    inter = sorted((set(a) & set(b)) - {""}, key=lambda s: s.encode())
    doc = {
        "what": "spu 0.9.5 psi_execute PROTOCOL_ECDH, broadcast result, keys revealed via recovery",
        "curve": args.curve,
        "keys_forced": forced,
        "keys": {"a": keys[0].hex(), "b": keys[1].hex()},
        "key_interpretation": ("X25519 scalar = clamp(private_key) (RFC 7748)" if args.curve == "25519"
                               else f"SM2 scalar = int.from_bytes(private_key, '{sm2_order}') mod n"),
        "hash_to_curve": ("u = SHA-256(item) (bit 255 masked), X25519 output 32 B little-endian"
                          if args.curve == "25519" else
                          "SHA-256 try-and-rehash, x = digest mod p big-endian, even y; X9.62 compressed 33 B"),
        "dual": "last 12 bytes of the serialized doubly-masked point",
        "inputs": {"a": a, "b": b},
        "intersection": inter,
        "spu_reports": [{k: r[k] for k in ("intersection_count", "original_count",
                                            "original_unique_count")} for r in reports],
        "parties": parties,
        "check": check,
        "capture": os.path.basename(cap_path),
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(json.dumps({"curve": args.curve, "check": check, "keys": doc["keys"], "out": args.out,
                      "key_interpretation": doc["key_interpretation"]}))


if __name__ == "__main__":
    main()
