"""Our link's key framing against a wire capture of SecretFlow's own link (spu 0.9.5 ↔ spu 0.9.5 through
bench/wirecap.py, docs/interop/captures/): every P2P key, connect key, ACK and FIN is rebuilt byte for byte
by hulian.transport.iclink.keys, and every ACK names a message seq the peer really sent."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from hulian.transport.iclink.keys import ACK_KEY, FIN_KEY, connect_key, p2p_key, split_seq, with_seq

CAPTURES = sorted((Path(__file__).resolve().parents[2] / "docs" / "interop" / "captures").glob("*_n20_*.jsonl"))
P2P = re.compile(r"^(?P<ch>[\w-]+):P2P-(?P<n>\d+):(?P<src>\d+)->(?P<dst>\d+)$")


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_keys_rebuilt_byte_for_byte(capture: Path):
    records = [json.loads(line) for line in capture.read_text().splitlines()]
    sent: dict[int, set[int]] = {0: set(), 1: set()}
    p2p = acks = 0
    for r in records:
        key = base64.b64decode(r["key_b64"]).decode()
        src = r["sender_rank"]
        if key in (ACK_KEY, FIN_KEY):
            value = base64.b64decode(r["value_b64"]).decode()
            assert value.isdigit(), r
            acks += key == ACK_KEY
            continue
        msg_key, seq = split_seq(key)
        assert with_seq(msg_key, seq) == key
        if msg_key.startswith("connect_"):
            assert (msg_key, seq) == (connect_key(src), 0)
            continue
        sent[src].add(seq)
        m = P2P.match(msg_key)
        if m:
            p2p += 1
            assert (int(m["src"]), int(m["dst"])) == (src, 1 - src)
            assert p2p_key(m["ch"], int(m["n"]), src, 1 - src) == msg_key
    for rank in (0, 1):
        acked = {int(base64.b64decode(r["value_b64"])) for r in records
                 if base64.b64decode(r["key_b64"]).decode() == ACK_KEY and r["sender_rank"] == rank}
        assert acked <= sent[1 - rank], f"rank {rank} acknowledged a seq its peer never sent"
    assert p2p > 0 and acks > 0
    # seq ids count per peer across the root channel and its sub-channels, from 1, without gaps
    for rank in (0, 1):
        assert sorted(sent[rank]) == list(range(1, len(sent[rank]) + 1))
