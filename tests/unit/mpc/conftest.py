"""Run the two compute parties (and the dealer) of a semi2k session in threads over the in-memory federation."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from hulian.federation import MemoryFederation, MemoryHub, Party, Scope
from hulian.mpc.session import deal, open_session

GUEST, HOST, ARBITER = Party("guest.0", "node-g"), Party("host.0", "node-h"), Party("arbiter.0", "node-a")
SCOPE = Scope("task-mpc")


def run_pair(body: Callable[[Any], Any], triples: str = "dealer", timeout: float = 60.0, hub: MemoryHub | None = None,
             federation: Callable[[MemoryHub, Party, list[Party]], Any] = MemoryFederation,
             **options: Any) -> list[Any]:
    """[rank 0's result, rank 1's result] of body(session); the dealer runs alongside when triples="dealer".
    The first exception of any party is raised after all have stopped."""
    hub = hub or MemoryHub()
    everyone = [GUEST, HOST, ARBITER] if triples == "dealer" else [GUEST, HOST]
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def compute(me: Party) -> None:
        try:
            fed = federation(hub, me, everyone)
            mpc = open_session(fed, SCOPE, [GUEST, HOST], dealer_party=ARBITER if triples == "dealer" else None,
                               triples=triples, timeout=timeout, **options)
            try:
                results[me.party_id] = body(mpc)
            finally:
                mpc.close()
        except BaseException as e:
            errors.append(e)

    def dealer() -> None:
        try:
            results["dealer"] = deal(federation(hub, ARBITER, everyone), SCOPE, [GUEST, HOST], timeout=timeout)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=compute, args=(p,)) for p in (GUEST, HOST)]
    if triples == "dealer":
        threads.append(threading.Thread(target=dealer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout * 3)
    if alive := [t.name for t in threads if t.is_alive()]:
        raise TimeoutError(f"{', '.join(alive)} still running after {timeout * 3:g} s")
    if errors:
        raise errors[0]
    return [results[GUEST.party_id], results[HOST.party_id]]


@pytest.fixture(params=["dealer", "he"])
def source(request: pytest.FixtureRequest) -> str:
    """Every operation test runs with both triple sources (HE with 1024-bit OU keys: test-only, for speed)."""
    return request.param


def run_with(source: str, body: Callable[[Any], Any], **options: Any) -> list[Any]:
    """run_pair with `source` triples (the HE keys small enough for a unit test)."""
    if source == "he":
        options = {"he_bits": 1024, "allow_insecure_keys": True, **options}
    return run_pair(body, triples=source, **options)
