"""`make demo`: start two nodes on loopback and round-trip messages between them through the PTP transport.

Until the scheduler exists, the "main job" is the transport itself: a bank's node and a partner's node, and
on each side the Channel SDK an algorithm component uses — bytes, an object, a message large enough to be
cut into chunks and forwarded while it arrives — then the session's release.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from hulian.node import cluster
from hulian.transport.channel import Channel

DEMO_DIR = Path(".demo")
SESSION = "session_job-demo"


def step(what: str, fn) -> object:
    t0 = time.perf_counter()
    result = fn()
    print(f"  {what:<58} {(time.perf_counter() - t0) * 1e3:8.1f} ms")
    return result


def main() -> None:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    print("starting two nodes (a bank and a partner) with a fresh CA, certificates and tokens ...")
    bank, partner = cluster.up(DEMO_DIR, 2)
    try:
        for n in (bank, partner):
            print(f"  {n.node_id} at {n.url} (pid {n.pid}, config {n.config})")
        parties = {"guest.0": bank.node_id, "host.0": partner.node_id}
        guest = Channel(bank.url, SESSION, bank.admin_token, bank.node_id, parties, task_id="demo",
                        ca_file=bank.ca_file)
        host = Channel(partner.url, SESSION, partner.admin_token, partner.node_id, parties, task_id="demo",
                       ca_file=partner.ca_file)
        with guest, host:
            print(f"round-tripping messages in session {SESSION} with the Channel SDK:")
            step("guest -> host: bytes", lambda: guest.send("host.0", "hello", b"hello from the bank"))
            got = step("host receives them", lambda: host.recv("guest.0", "hello", timeout=30))
            print(f"    host got {bytes(got)!r}")
            step("host -> guest: an object (msgpack)",
                 lambda: host.send_obj("guest.0", "reply", {"rows": 3, "ok": True}))
            print(f"    guest got {step('guest receives it', lambda: guest.recv_obj('host.0', 'reply', 30))}")
            bulk = os.urandom(40 << 20)
            step("guest -> host: 40 MiB (16 MiB chunks, cut-through)", lambda: guest.send("host.0", "bulk", bulk))
            got = step("host receives it", lambda: host.recv("guest.0", "bulk", timeout=60))
            same = hashlib.sha256(got).digest() == hashlib.sha256(bulk).digest()
            print(f"    sha256 {'identical' if same else 'MISMATCH'}")
            if not same:
                raise SystemExit("demo failed: payload changed in transit")
            step("release the task's topics on both nodes", lambda: (guest.release(), host.release()))
        print("demo finished: every payload arrived identical")
    finally:
        cluster.down(DEMO_DIR)
        print("nodes stopped")


if __name__ == "__main__":
    main()
