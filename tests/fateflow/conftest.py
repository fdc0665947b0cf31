"""Fixtures of the FATE-Flow tier: the kit laid out once per session, and a FATE-Flow site paired with a real
hulian node (processes on loopback, stopped at the end of each test)."""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from hulian.algorithms.statistics.component import statistics
from hulian.node.cluster import free_ports
from tests.conftest import IN_CI
from tests.fateflow import pairing
from tests.fateflow.gateway import Gateway
from tests.fateflow.pairing import Paired
from tests.fateflow.site import REPO, FateFlow, KitUnavailable, free_http_port, lay_out

# Each test's own steps are bounded by 240 s; its setup (the kit, once, and its processes) by each step's timeout
MARKS = [pytest.mark.fateflow, pytest.mark.timeout(240, func_only=True)]
FATE_ID = "9999"  # a FATE site's party id, numeric as FATE deploys them
T = TypeVar("T")


@pytest.fixture(scope="session")
def fate_kit() -> Path:
    """The kit laid out in $HULIAN_FATEFLOW_DIR (default <repo>/.cache/fateflow); skipped when Python 3.11 or
    fate-flow cannot be had, failed instead under CI=true."""
    directory = Path(os.environ.get("HULIAN_FATEFLOW_DIR") or REPO / ".cache" / "fateflow")
    try:
        return lay_out(directory)
    except KitUnavailable as e:
        if IN_CI:
            pytest.fail(f"FATE-Flow peer kit unavailable: {e}; CI=true requires it")
        pytest.skip(f"FATE-Flow peer kit unavailable: {e}")


@dataclass
class Site:
    """A FATE-Flow site and the hulian node paired with it."""

    fate: FateFlow
    hulian: Paired
    gateway: Gateway | None = None


@pytest.fixture
def make_site(fate_kit: Path, tmp_path: Path) -> Iterator[Callable[..., Site]]:
    """make_site(setup="direct"|"gateway", fate_env={...}): FATE-Flow (party 9999) and a hulian
    node `node-a` that know each other, both started, FATE's provider registered for `statistics`."""
    cleanups: list[Callable[[], None]] = []

    def make(setup: str = "direct", fate_env: dict[str, str] | None = None) -> Site:
        fate_port = free_http_port()
        ingress, egress = free_ports(2)
        fate_url = f"https://127.0.0.1:{ingress}" if setup == "gateway" else f"http://127.0.0.1:{fate_port}"
        paired = pairing.pair(tmp_path / f"hulian{len(cleanups)}", FATE_ID, fate_url, setup)
        gateway = None
        if setup == "gateway":
            cert, key, ca = pairing.peer_certificate(Path(paired.node.config).parents[1], FATE_ID)
            host, port = paired.node.url.split("://", 1)[1].rsplit(":", 1)
            gateway = Gateway(cert, key, ca, fate_port, host, int(port), (ingress, egress)).start()
            cleanups.append(gateway.stop)
            paired.fate_route = f"127.0.0.1:{egress}"
        fate = FateFlow(fate_kit, FATE_ID, {paired.node.node_id: paired.fate_route}, fate_port, fate_env, tmp_path)
        cleanups.append(fate.stop)
        cleanups.append(lambda: pairing.stop(paired))
        fate.start()
        pairing.start(paired)
        fate.register_provider({"statistics": statistics.description})
        return Site(fate, paired, gateway)

    yield make
    for cleanup in reversed(cleanups):
        with contextlib.suppress(Exception):
            cleanup()


def wait_for(probe: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str,
             interval: float = 0.5) -> T:
    """Probe until done(value) or the timeout; the failure names what was awaited and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s; last seen {value!r}")
        time.sleep(interval)
