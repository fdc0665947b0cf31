"""HEU's side of tests/interop/test_heu_paillier.py, run in the side venv (bench/heu_env.sh): HEU's IcPaillier
(its interconnection Paillier, serialised as the open protocols' PaillierPublicKey{n, hs} and
PaillierCiphertext{c}). HEU's Python objects serialise as that message followed by 8 bytes of its own, the
schema's number (little-endian); this script strips them on the way out and adds them on the way in, so that
files hold the interconnection messages alone.

    keygen DIR                      -> DIR/pk.bin, DIR/sk.bin
    encrypt PK_FILE VALUES_JSON     -> JSON list of hex PaillierCiphertext messages
    decrypt PK_FILE SK_FILE CTS     -> JSON list of plaintexts (CTS: JSON list of hex messages)
"""
import json
import sys
from pathlib import Path

from heu import phe

TRAILER = int(phe.SchemaType.IcPaillier.value).to_bytes(8, "little")


def out(obj: object) -> bytes:
    data = obj.serialize()
    assert data.endswith(TRAILER), f"HEU's framing changed: {data[-8:].hex()}"
    return data[:-8]


def main() -> None:
    cmd, *args = sys.argv[1:]
    if cmd == "keygen":
        kit = phe.setup(phe.SchemaType.IcPaillier, 2048)
        Path(args[0], "pk.bin").write_bytes(out(kit.public_key()))
        Path(args[0], "sk.bin").write_bytes(kit.secret_key().serialize())  # HEU's own, stays on this side
    elif cmd == "encrypt":
        kit = phe.setup(phe.PublicKey.load_from(Path(args[0]).read_bytes() + TRAILER))
        enc = kit.encryptor()
        print(json.dumps([out(enc.encrypt_raw(v)).hex() for v in json.loads(args[1])]))
    elif cmd == "decrypt":
        pk = phe.PublicKey.load_from(Path(args[0]).read_bytes() + TRAILER)
        sk = phe.SecretKey.load_from(Path(args[1]).read_bytes())
        dec = phe.setup(pk, sk).decryptor()
        cts = [phe.Ciphertext.load_from(bytes.fromhex(h) + TRAILER) for h in json.loads(Path(args[2]).read_text())]
        print(json.dumps([int(str(dec.decrypt_raw(c))) for c in cts]))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
