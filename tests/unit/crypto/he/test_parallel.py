"""The shared worker pool of parallel.py: started once, reused, replaced when a worker dies; workers keep a
bounded number of keys."""
from __future__ import annotations

import os
import signal

import pytest

from hulian.crypto.he import parallel
from hulian.crypto.he.paillier import PaillierSecretKey, generate_paillier


def test_large_batches_share_one_pool_across_calls(paillier_sk: PaillierSecretKey,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 16)
    used = []
    original = parallel._map
    monkeypatch.setattr(parallel, "_map", lambda pool, *args: used.append(pool) or original(pool, *args))
    ms = list(range(40))
    first = parallel.encrypt_many(paillier_sk.public, ms)
    assert parallel.decrypt_many(paillier_sk, first) == ms
    pool = parallel.shared_pool()
    assert used == [pool, pool]   # both batches, in the one shared pool (not a pool each)
    assert pool._processes, "the batches ran in worker processes"


def test_a_dead_worker_costs_a_new_pool_not_the_batch(paillier_sk: PaillierSecretKey,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 16)
    ms = list(range(40))
    parallel.encrypt_many(paillier_sk.public, ms)   # the pool is up
    broken = parallel.shared_pool()
    for pid in list(broken._processes):
        os.kill(pid, signal.SIGKILL)
    cts = parallel.encrypt_many(paillier_sk.public, ms)
    assert parallel.shared_pool() is not broken
    assert parallel.decrypt_many(paillier_sk, cts) == ms


def test_a_worker_keeps_only_its_most_recently_used_keys() -> None:
    keys = [generate_paillier(512, allow_insecure_keys=True) for _ in range(parallel.KEPT_KEYS + 3)]
    parallel._KEYS.clear()
    kept = parallel.KEPT_KEYS
    # as a worker runs slices: the key with its tables stays until KEPT_KEYS other keys were used after it
    order = [*range(kept + 2), 2, kept + 2]   # key 2 used again before the last new key: it stays, 3 goes
    for i in order:
        packed = parallel._pack([1, 2], 8)
        out = parallel._unpack(*parallel._run("encrypt_many", keys[i].public, packed))
        assert keys[i].decrypt_many(out) == [1, 2]
    assert [k for _, k in parallel._KEYS] == [keys[i].public for i in [*range(4, kept + 2), 2, kept + 2]]
