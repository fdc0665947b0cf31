"""GrpcLink between two processes on loopback: both directions on root and a spawned channel, a chunked 5 MiB
message, the throttle window, FIN at close, and a peer killed mid-run."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

import pytest

from hulian.node.cluster import free_ports
from hulian.transport.iclink import GrpcLink, LinkError, LinkOptions, LinkTimeout

pytestmark = pytest.mark.cluster


def start_peer(mode: str) -> tuple[subprocess.Popen, int, int]:
    own, peer = free_ports(2)
    proc = subprocess.Popen([sys.executable, "-m", "tests.cluster.iclink_peer", mode, str(peer), str(own)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, own, peer


def test_two_processes_exchange_and_close():
    proc, own, peer = start_peer("echo")
    try:
        link = GrpcLink.connect(0, f"127.0.0.1:{own}", {1: f"127.0.0.1:{peer}"}, LinkOptions(recv_timeout=20))
        link.send(1, b"abc")
        assert link.recv(1) == b"cba"
        big = os.urandom(5 << 20)  # 5 chunks of 1 MiB
        link.send(1, big)
        assert link.recv(1) == hashlib.sha256(big).digest()
        sub = link.spawn()
        assert sub.id == "root-0"
        sub.send(1, b"sub")
        assert sub.recv(1) == b"sub!"
        start = time.monotonic()
        for i in range(15):
            link.send(1, b"%d" % i)  # window 10: never more than 10 un-ACKed, the peer reads them all
        link.close(timeout=20)  # FIN both ways: returns once the peer read (ACKed) all 15
        assert time.monotonic() - start < 20
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out.decode()
    finally:
        proc.kill()


def test_peer_killed_mid_run_fails_recv_within_its_timeout():
    proc, own, peer = start_peer("die")
    link = GrpcLink.connect(0, f"127.0.0.1:{own}", {1: f"127.0.0.1:{peer}"},
                            LinkOptions(recv_timeout=20, push_retries=1, retry_interval=0.2))
    try:
        link.send(1, b"ping")
        assert link.recv(1) == b"ping"
        proc.kill()
        proc.wait(10)
        start = time.monotonic()
        # Either the wait runs out, or (sooner) our ACK of "ping" cannot be delivered: both name the peer.
        with pytest.raises(LinkError, match=r"rank 1 \(grpc 127\.0\.0\.1:\d+\)") as failure:
            link.recv(1, timeout=2)
        assert time.monotonic() - start < 4
        assert isinstance(failure.value, LinkTimeout) or "could not deliver" in str(failure.value)
        with pytest.raises(LinkError, match="could not deliver"):  # a later send reports the failed delivery
            link.send(1, b"lost")
            link.recv(1, timeout=5)
    finally:
        link.abort()
        proc.kill()
