"""HEU's side of bench/he.py, run in the side venv (bench/heu_env.sh): per-operation throughput of one scheme on
the operands bench/he.py wrote (10,000 32-bit positive integers, twice), every result checked by decryption
(ct+ct and ct*pt: the median of 5 runs). Prints one JSON line: {"scheme", "bits", "per_second": {op: n},
"correct": {op: bool}}."""
from __future__ import annotations

import argparse
import json

import numpy as np
from heu import numpy as hnp
from heu import phe
from side import timed  # bench/side.py (stdlib only)

SCHEMES = {"paillier": phe.SchemaType.ZPaillier, "ou": phe.SchemaType.OU}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scheme", choices=sorted(SCHEMES), required=True)
    ap.add_argument("--bits", type=int, default=2048)
    ap.add_argument("--operands", required=True, help=".npz with arrays a and b (int64)")
    args = ap.parse_args()
    ops = np.load(args.operands)
    a, b = ops["a"], ops["b"]
    n = len(a)
    kit = hnp.setup(SCHEMES[args.scheme], args.bits)
    encryptor, decryptor, evaluator = kit.encryptor(), kit.decryptor(), kit.evaluator()
    params = phe.IntegerEncoderParams(scale=1)  # the integers as they are (the default scales by 10^6)
    pa, pb = kit.array(a, params), kit.array(b, params)
    ca, t_enc = timed(lambda: encryptor.encrypt(pa))
    cb = encryptor.encrypt(pb)
    da, t_dec = timed(lambda: decryptor.decrypt(ca))
    s, t_add = timed(lambda: evaluator.add(ca, cb), 5)
    m, t_mul = timed(lambda: evaluator.mul(ca, pb), 5)

    def clear(plain):  # exact Python ints: a product of two 32-bit values passes int64
        return [int(str(plain[i])) for i in range(n)]

    a_, b_ = [int(x) for x in a], [int(x) for x in b]
    correct = {"encrypt": clear(da) == a_,
               "add": clear(decryptor.decrypt(s)) == [x + y for x, y in zip(a_, b_, strict=True)],
               "mul": clear(decryptor.decrypt(m)) == [x * y for x, y in zip(a_, b_, strict=True)]}
    correct["decrypt"] = correct["encrypt"]
    print(json.dumps({"scheme": args.scheme, "bits": args.bits,
                      "per_second": {"encrypt": n / t_enc, "decrypt": n / t_dec, "add": n / t_add,
                                     "mul": n / t_mul}, "correct": correct}))


if __name__ == "__main__":
    main()
