"""acme_minmax: every party finds the smallest and largest value of a column in its table; the hosts send
theirs to the guest, which writes the range over all parties. (A test package: it shows each party's range to
the guest.)"""
from __future__ import annotations

from dataclasses import dataclass

from hulian.sdk import Data, TaskContext, component, param


@dataclass(frozen=True)
class MinMaxParameters:
    column: str = param(description="the numeric column")
    scale: float = param(1.0, description="multiply the range by this", ge=0)


def column_range(ctx: TaskContext, column: str) -> list[float]:
    values = [float(v) for batch in ctx.input("data").batches([column])
              for v in batch.column(column).to_pylist() if v not in (None, "")]
    if not values:
        raise ValueError(f"column {column!r} has no values")
    return [min(values), max(values)]


@component(name="acme_minmax", version="0.3.0", provider="acme", roles=("guest", "host"),
           summary="The range of a column over every party's table, at the guest.", params=MinMaxParameters,
           inputs=[Data("data", "the party's table")],
           outputs=[Data("range", "the range, at the guest", category="report", formats=("json",))])
def acme_minmax(ctx: TaskContext, params: MinMaxParameters) -> dict:
    low, high = column_range(ctx, params.column)
    if ctx.local != ctx.guest:
        ctx.send(ctx.guest, "range", [low, high])
        return {"role": ctx.env.self_role, "sent": True}
    for low_h, high_h in ctx.recv_all(ctx.hosts, "range"):
        low, high = min(low, low_h), max(high, high_h)
    result = {"min": low * params.scale, "max": high * params.scale}
    out = ctx.output("range")
    out.write_json(result)
    out.finish({"format": "json", "category": "report", "source": "acme_minmax"})
    ctx.progress(1.0, parties=1 + len(ctx.hosts))
    return {"role": ctx.env.self_role, **result, "output_address": out.address}
