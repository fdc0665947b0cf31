"""ctx.he: the guest holds the key, the host computes Enc(X)·w + b on the guest's encrypted matrix and sends it
back, the guest decrypts and compares with numpy — on the in-memory federation and, the same function
unchanged, between two real nodes; plus key exchange, streaming in pieces, counters and refusals."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from hulian.crypto.he.base import HeError
from hulian.crypto.he.serialize import public_key_to_bytes
from hulian.sdk import TaskContext
from hulian.sdk import he as sdk_he
from hulian.sdk.testing import PartyFailed, contexts, run_parties
from tests.sdk.nodes import run_on_nodes

RNG = np.random.default_rng(14)
X = RNG.normal(0, 100, size=(7, 3))           # the guest's features: negatives and fractions
W, B = np.array([0.5, -1.25, 3.0]), -2.5      # the host's model
IDS = np.array([3, -7, 0, 2**40, -(2**40)], dtype=np.int64)


def affine(ctx: TaskContext, scheme: str = "paillier", bits: int = 1024) -> dict:
    """The algorithm under test: the same code on every carrier."""
    key = ctx.he.keygen(holder=ctx.guest, scheme=scheme, bits=bits, allow_insecure_keys=bits < 2048)
    if ctx.local == ctx.guest:
        ctx.he.send(ctx.hosts, "x", key.encrypt(X))
        ctx.he.send(ctx.hosts, "ids", key.encrypt(IDS))
        xw_b = key.decrypt(ctx.he.recv(ctx.hosts[0], "xw+b", key))
        ids = key.decrypt(ctx.he.recv(ctx.hosts[0], "ids", key))
        return {"xw_b": xw_b.tolist(), "ids": ids.tolist(), "stats": vars(ctx.he.stats)}
    x = ctx.he.recv(ctx.guest, "x", key)
    ids = ctx.he.recv(ctx.guest, "ids", key)
    with pytest.raises(HeError, match=r"only the key holder guest\.0 can decrypt"):
        key.decrypt(x)
    sent = ctx.he.send(ctx.guest, "xw+b", (x.dot(W) + B).rerandomize())
    ctx.he.send(ctx.guest, "ids", -(ids * 3) + 1)
    return {"sent": vars(sent), "stats": vars(ctx.he.stats), "shape": x.shape}


def check(reports: dict) -> None:
    guest, host = reports["guest.0"], reports["host.0"]
    assert guest["xw_b"] == pytest.approx((X @ W + B).tolist(), abs=1e-6)
    assert guest["ids"] == (-(IDS * 3) + 1).tolist()               # integers stay exact
    assert host["shape"] == (7, 3)
    g, h = guest["stats"], host["stats"]
    assert (g["rounds_sent"], g["rounds_received"], h["rounds_sent"], h["rounds_received"]) == (3, 2, 2, 3)
    assert g["bytes_sent"] == h["bytes_received"] and h["bytes_sent"] == g["bytes_received"]
    assert g["messages_sent"] == h["messages_received"] == 1 + 2 + 2   # the key; header + one piece per array
    assert host["sent"]["rounds_sent"] == 1 and 0 < host["sent"]["bytes_sent"] < h["bytes_sent"]


@pytest.mark.parametrize("scheme", ["paillier", "ou"])
def test_affine_in_memory(scheme: str, tmp_path: Path) -> None:
    check(run_parties(lambda ctx: affine(ctx, scheme), {"guest.0": {}, "host.0": {}}, tmp_path))


def test_2048_bit_key_and_the_public_key_exchange(tmp_path: Path) -> None:
    ctxs = contexts({"guest.0": {}, "host.0": {}, "host.1": {}}, tmp_path)
    keys = {}

    def keygen(pid: str) -> None:
        ctx = ctxs[pid]
        keys[pid] = ctx.he.keygen(holder=ctx.guest, scheme="paillier", bits=2048)

    threads = [threading.Thread(target=keygen, args=(pid,)) for pid in ctxs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    guest, h0, h1 = keys["guest.0"], keys["host.0"], keys["host.1"]
    assert guest.has_secret and not h0.has_secret and not h1.has_secret
    assert h0.public == h1.public == guest.public and guest.public.bits == 2048
    length = len(public_key_to_bytes(guest.public))
    assert vars(ctxs["guest.0"].he.stats) == {**vars(sdk_he.Traffic()), "rounds_sent": 1, "messages_sent": 2,
                                              "bytes_sent": 2 * length}
    assert ctxs["host.1"].he.stats.bytes_received == length
    # the secret key shows nowhere
    p = guest._secret._p
    for text in (repr(guest), repr(guest._secret), repr(guest.public), str(vars(guest))):
        assert str(p) not in text and f"{int(p):x}" not in text
    enc = h1.encrypt([1.5, -2.25]) * 2 + 1                                 # host encrypts under the guest's key
    assert guest.decrypt(enc).tolist() == [4.0, -3.5]


def test_large_arrays_stream_in_pieces_and_counters_span_sub_scopes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sdk_he, "CHUNK_BYTES", 1620)   # 3 rows of 2 ciphertexts of ~264 bytes (1024-bit key)

    def run(ctx: TaskContext) -> dict:
        key = ctx.he.keygen(holder=ctx.guest, bits=1024, allow_insecure_keys=True)
        it = ctx.sub("iteration-0")
        matrix = np.arange(20, dtype=np.float64).reshape(10, 2) - 9.5
        if ctx.local == ctx.guest:
            sent = it.he.send(ctx.hosts[0], "m", key.encrypt(matrix))
            empty = it.he.send(ctx.hosts[0], "empty", key.encrypt(np.zeros((0, 4))))
            return {"sent": vars(sent), "empty": vars(empty), "total": vars(ctx.he.stats)}
        before = ctx.he.stats.copy()
        got = it.he.recv(ctx.guest, "m", key)
        assert (ctx.he.stats - before).messages_received == 1 + 4      # a snapshot and a difference
        nothing = it.he.recv(ctx.guest, "empty", key)
        assert got.shape == (10, 2) and nothing.shape == (0, 4) and nothing.size == 0
        it.he.send(ctx.guest, "back", got)
        return {"total": vars(ctx.he.stats)}

    reports = run_parties(run, {"guest.0": {}, "host.0": {}}, tmp_path)
    sent = reports["guest.0"]["sent"]
    assert sent["messages_sent"] == 1 + 4                # header + 10 rows in pieces of 3, 3, 3, 1
    assert reports["guest.0"]["empty"]["messages_sent"] == 1
    g, h = reports["guest.0"]["total"], reports["host.0"]["total"]
    assert g["rounds_sent"] == 3 and h["rounds_received"] == 3   # the key and two arrays, all counted at the root
    assert g["bytes_sent"] == h["bytes_received"]


def test_refusals(tmp_path: Path) -> None:
    def wrong_size(ctx: TaskContext) -> None:
        ctx.he.keygen(holder=ctx.guest, bits=1024 if ctx.local == ctx.guest else 2048, allow_insecure_keys=True)

    with pytest.raises(PartyFailed, match=r"host\.0: HeError: guest\.0 sent a 1024-bit paillier key; this "
                                          r"party expected 2048 bits"):
        run_parties(wrong_size, {"guest.0": {}, "host.0": {}}, tmp_path / "a", timeout=20)

    def insecure(ctx: TaskContext) -> None:
        ctx.he.keygen(holder=ctx.guest, bits=1024)

    with pytest.raises(PartyFailed, match="insecure"):
        run_parties(insecure, {"guest.0": {}}, tmp_path / "b")

    def other_encoding(ctx: TaskContext) -> None:
        key = ctx.he.keygen(holder=ctx.guest, bits=1024, allow_insecure_keys=True,
                            frac_bits=16 if ctx.local == ctx.guest else 32)
        if ctx.local == ctx.guest:
            ctx.he.send(ctx.hosts, "x", key.encrypt([1.0]))
        else:
            ctx.he.recv(ctx.guest, "x", key)

    with pytest.raises(PartyFailed, match=r"host\.0: HeError: guest\.0 encoded with 16 fraction bits"):
        run_parties(other_encoding, {"guest.0": {}, "host.0": {}}, tmp_path / "c", timeout=20)

    def not_an_array(ctx: TaskContext) -> None:
        key = ctx.he.keygen(holder=ctx.guest, bits=1024, allow_insecure_keys=True)
        if ctx.local == ctx.guest:
            ctx.send_stream(ctx.hosts[0], "x", [b"\x08\x14"])
        else:
            ctx.he.recv(ctx.guest, "x", key)

    with pytest.raises(PartyFailed, match=r"host\.0: HeError: expected a DataExchangeProtocol of OBJECT "
                                          r"'hulian_fixed_point'"):
        run_parties(not_an_array, {"guest.0": {}, "host.0": {}}, tmp_path / "d", timeout=20)


def test_encrypted_array_arithmetic(tmp_path: Path) -> None:
    ctx = contexts({"guest.0": {}}, tmp_path)["guest.0"]
    key = ctx.he.keygen(holder=ctx.guest, bits=1024, allow_insecure_keys=True)
    a, b = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
    ea, eb = key.encrypt(a), key.encrypt(b)
    m = RNG.normal(size=(4, 2))
    cases = {
        "a+b": (ea + eb, a + b), "a-b": (ea - eb, a - b), "-a": (-ea, -a), "1-a": (1 - ea, 1 - a),
        "row+a": (np.arange(4) + ea, np.arange(4) + a), "a*2.5": (ea * 2.5, a * 2.5), "a*b": (ea * b, a * b),
        "a@m": (ea.dot(m), a @ m), "a[0]@w": (key.encrypt(a[0]).dot(m[:, 0]), a[0] @ m[:, 0]),
    }
    for name, (enc, want) in cases.items():
        got = key.decrypt(enc)
        assert got.shape == np.shape(want), name
        assert np.allclose(got, want, atol=1e-6), name
    with pytest.raises(HeError, match="do not combine"):
        ea + key.encrypt(a[0])
    with pytest.raises(HeError, match="cannot multiply"):
        ea.dot(np.ones(3))


@pytest.mark.cluster
def test_affine_between_two_real_nodes(make_cluster) -> None:
    """The same `affine`, each party in its own TaskContext on the PTP federation of its own node."""
    a, b = make_cluster(2)
    reports = run_on_nodes(affine, {"guest.0": a, "host.0": b}, "he")
    check(reports)
