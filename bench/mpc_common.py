"""What bench/mpc.py (hulian) and bench/spu_mpc.py (SecretFlow's SPU) share: the operations, their sizes, the
inputs (one seed, numpy), the float64 reference and the error, and how a party measures what it sent and its
peak RSS. Plain numpy and the standard library, so it runs in the project venv and in SPU's side venv alike.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass

import numpy as np

SEED = 20261215
OP_NAMES = ("dot", "matvec", "matmul", "greater", "distance")


@dataclass(frozen=True)
class Op:
    name: str
    x_shape: tuple[int, ...]   # rank 0's input
    y_shape: tuple[int, ...]   # rank 1's input

    @property
    def sizes(self) -> str:
        return f"{'x'.join(map(str, self.x_shape))} . {'x'.join(map(str, self.y_shape))}"


def ops(scale: float = 1.0) -> dict[str, Op]:
    """The issue's operations at their sizes times `scale` (vector lengths and the matrices' outer dimensions;
    the inner dimension stays 100)."""
    n = max(1, round(1_000_000 * scale))
    rows, side = max(1, round(10_000 * scale)), max(1, round(1_000 * scale))
    return {"dot": Op("dot", (n,), (n,)),                        # sum(x * y)
            "matvec": Op("matvec", (rows, 100), (100,)),         # X @ v
            "matmul": Op("matmul", (side, 100), (100, side)),    # X @ Y
            "greater": Op("greater", (n,), (n,)),                # x > y elementwise
            "distance": Op("distance", (n,), (n,))}              # sum((x - y)^2)


FXP = 18   # both sides' fixed point (SPU's FM64 default, hulian's default)


def inputs(op: Op, rank: int, sigma: float = 1.0) -> np.ndarray:
    """Rank `rank`'s input of `op`: normal(0, sigma) from a fixed seed, the same on both sides of the benchmark."""
    rng = np.random.default_rng([SEED, OP_NAMES.index(op.name), rank])
    return rng.normal(0.0, sigma, op.x_shape if rank == 0 else op.y_shape)


def digest(a: np.ndarray) -> str:
    """A short hash of an input: both implementations must be fed the same arrays."""
    return hashlib.sha256(np.ascontiguousarray(a, dtype="<f8").tobytes()).hexdigest()[:16]


def reference(name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if name == "dot":
        return np.asarray(np.dot(x, y))
    if name in ("matvec", "matmul"):
        return x @ y
    if name == "greater":   # of the inputs as both sides hold them: 18 fraction bits (pairs closer tie)
        return np.rint(np.ldexp(x, FXP)) > np.rint(np.ldexp(y, FXP))
    if name == "distance":
        return np.asarray(np.sum((x - y) ** 2))
    raise ValueError(f"unknown operation {name!r}; known: {OP_NAMES}")


def error(name: str, got: np.ndarray, want: np.ndarray) -> dict:
    """How far a revealed result is from numpy's float64 one: wrong elements for a comparison, else the
    largest absolute error and the result's magnitude."""
    got = np.asarray(got)
    if got.shape != want.shape:
        return {"ok": False, "problem": f"shape {got.shape} where {want.shape} was expected"}
    if name == "greater":
        wrong = int(np.count_nonzero(got.astype(bool) != want))
        return {"ok": wrong == 0, "wrong": wrong, "of": int(want.size)}
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    scale = float(np.max(np.abs(want)))
    return {"ok": err <= 1e-3 * max(scale, 1.0), "max_abs_err": err, "max_abs_ref": scale}


def describe_error(e: dict) -> str:
    if "problem" in e:
        return e["problem"]
    if "wrong" in e:
        return f"{e['wrong']}/{e['of']} wrong"
    return f"err {e['max_abs_err']:.1e} (|ref| {e['max_abs_ref']:.3g})"


def peak_rss() -> int:
    """This process's peak resident bytes (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


_SOCKET = re.compile(r"^\S+\s+\S+\s+(\S+)\s+(\S+)\s.*\bpid=(\d+),")
_SENT = re.compile(r"\bbytes_sent:(\d+)")


def tcp_sent(pid: int) -> dict[str, int]:
    """bytes_sent of each TCP socket `pid` holds, by "local peer" (from `ss -tinp`): the wire bytes a party
    sent, framing included, measured alike for both implementations. Empty when `ss` is missing."""
    try:
        out = subprocess.run(["ss", "-tinpH", "state", "established"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    sent: dict[str, int] = {}
    key = None
    for line in out.splitlines():
        if not line.startswith((" ", "\t")):
            m = _SOCKET.match(line)
            key = f"{m.group(1)} {m.group(2)}" if m and f"pid={pid}," in line else None
        elif key is not None:
            m = _SENT.search(line)
            sent[key] = int(m.group(1)) if m else 0
            key = None
    return sent


def sent_since(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(v - before.get(k, 0) for k, v in after.items())


def last_json(text: str) -> dict:
    """The last JSON object line of a party's stdout."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in a party's output: {text[-500:]!r}")
