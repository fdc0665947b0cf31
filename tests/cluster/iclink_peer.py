"""Rank 1 of a two-process GrpcLink test: `python -m tests.cluster.iclink_peer <mode> <own port> <peer port>`."""
from __future__ import annotations

import hashlib
import sys
import time

from hulian.transport.iclink import GrpcLink, LinkOptions


def main(mode: str, own: int, peer: int) -> None:
    link = GrpcLink.connect(1, f"127.0.0.1:{own}", {0: f"127.0.0.1:{peer}"}, LinkOptions(recv_timeout=20))
    if mode == "echo":
        link.send(0, link.recv(0)[::-1])
        link.send(0, hashlib.sha256(link.recv(0)).digest())
        sub = link.spawn()
        sub.send(0, sub.recv(0) + b"!")
        for _ in range(15):  # read the burst sent through the window of 10: each read ACKs one
            link.recv(0)
        link.close(timeout=20)
    elif mode == "die":
        link.send(0, link.recv(0))
        time.sleep(60)  # the test kills us here


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
