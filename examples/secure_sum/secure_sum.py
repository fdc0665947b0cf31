"""secure_sum: the sum of one numeric column over the guest's and every host's table, revealed to the guest only.

Protocol (additive masking; parties follow it and do not collude): each party sums its column in fixed point
(an integer count of 10^-decimals) together with its number of rows. Every pair of hosts shares a random mask:
the lower-ranked host draws it and sends it to the other. A host adds the masks it drew, subtracts those it
received (all modulo 2^64) and sends the result to the guest, where the masks cancel.
Learned: the guest, the total and the row count (with a single host, that host's total follows by subtraction,
as from any sum); a host, nothing (it sees only uniform random masks). No party sees another's rows.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np

from hulian.sdk import Data, TaskContext, component, param


@dataclass(frozen=True)
class SecureSumParameters:
    column: str = param(description="the numeric column to sum; every party's table has it")
    decimals: int = param(2, description="decimal digits kept of each value (fixed point)", ge=0, le=6)


def local_total(ctx: TaskContext, column: str, decimals: int) -> np.ndarray:
    """[sum in units of 10^-decimals, rows] of this party's column, as uint64 (two's complement)."""
    total = rows = 0
    for batch in ctx.input("data").batches([column]):
        if column not in batch.schema.names:
            raise ValueError(f"the input has no column {column!r}; it has {', '.join(batch.schema.names)}")
        for value in batch.column(column).to_pylist():
            if value not in (None, ""):
                total += round(float(value) * 10 ** decimals)
                rows += 1
    return np.array([total, rows], dtype=np.int64).view(np.uint64)


def host(ctx: TaskContext, mine: np.ndarray, params: SecureSumParameters) -> dict:
    masks, rank = ctx.sub("masks"), ctx.hosts.index(ctx.local)
    masked = mine.copy()
    for other in ctx.hosts[rank + 1:]:
        mask = np.frombuffer(secrets.token_bytes(mine.nbytes), dtype=np.uint64)
        masks.send_array(other, "mask", mask)
        masked += mask  # uint64 arithmetic wraps: everything is modulo 2^64
    for other in ctx.hosts[:rank]:
        masked -= masks.recv_array(other, "mask")
    ctx.send_array(ctx.guest, "masked_total", masked)
    return {"role": ctx.env.self_role, "column": params.column, "sent_to": ctx.guest.party_id}


def guest(ctx: TaskContext, mine: np.ndarray, params: SecureSumParameters) -> dict:
    total = mine.copy()
    for i, party in enumerate(ctx.hosts):
        total += ctx.recv_array(party, "masked_total")
        ctx.progress(0.5 + 0.5 * (i + 1) / len(ctx.hosts))
    units, rows = total.view(np.int64).tolist()
    result = {"column": params.column, "sum": units / 10 ** params.decimals, "rows": rows,
              "parties": 1 + len(ctx.hosts)}
    out = ctx.output("result")
    out.write_json(result)
    out.finish({"format": "json", "category": "report", "source": "secure_sum"})
    return {"role": ctx.env.self_role, **result, "output_address": out.address}


@component(
    name="secure_sum", roles=("guest", "host"), provider="hulian-examples", params=SecureSumParameters,
    summary="A column's sum over the guest's and hosts' tables by additive masking; only the guest learns it.",
    inputs=[Data("data", "the party's table with the column (CSV or Parquet)", formats=("csv", "parquet"))],
    outputs=[Data("result", "the total, at the guest", category="report", formats=("json",))])
def secure_sum(ctx: TaskContext, params: SecureSumParameters) -> dict:
    mine = local_total(ctx, params.column, params.decimals)
    ctx.progress(0.5, rows=int(mine[1]))
    side = guest if ctx.local == ctx.guest else host
    report = side(ctx, mine, params)
    ctx.progress(1.0)
    return report
