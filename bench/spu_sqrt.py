"""SPU 0.9.5's square root under SEMI2K FM64 (fxp 18) at the edge the benchmark found: run in the SPU side venv,
    PY=$(bash bench/spu_env.sh | tail -1); $PY bench/spu_sqrt.py
It prints sqrt and the norm of a vector whose squared sum crosses 2^17, from SPU's own simulator (2 parties in
one process: the arithmetic is the same as over brpc). The issue's "SPU returns 0 for the 1e6-element distance"
is this: jnp.linalg.norm(x - y) of the benchmark's inputs (sum of squares ~2e6) is 0, while jnp.sum(jnp.square(
x - y)) is right (docs/benchmarks.md)."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import spu.libspu as libspu
import spu.utils.simulation as simulation


def main() -> None:
    config = libspu.RuntimeConfig(protocol=libspu.ProtocolKind.SEMI2K, field=libspu.FieldType.FM64,
                                  fxp_fraction_bits=18)
    sim = simulation.Simulator(2, config)
    sqrt = simulation.sim_jax(sim, jnp.sqrt)
    for value in (1024.0, 131071.0, 131072.0, 2e6):
        print(f"sqrt({value:g}): SPU {float(sqrt(np.array(value))):.4f}, numpy {np.sqrt(value):.4f}")
    norm = simulation.sim_jax(sim, lambda d: jnp.linalg.norm(d))
    d = np.random.default_rng(0).normal(size=10_000) * 5   # squared sum ~2.5e5 > 2^17
    print(f"norm of 1e4 normal(0, 5): SPU {float(norm(d)):.4f}, numpy {np.linalg.norm(d):.4f}")


if __name__ == "__main__":
    main()
