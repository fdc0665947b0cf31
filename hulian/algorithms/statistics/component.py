"""The `statistics` BFIA component: describes each numeric column of the party's own dataset (every partition,
streaming; `stats.summarize`), writes the JSON report to its `report` output and returns it. Local to each
party: nothing is exchanged."""
from __future__ import annotations

from dataclasses import dataclass

from hulian.algorithms.statistics.stats import DEFAULT_QUANTILES, summarize
from hulian.sdk import Data, TaskContext, component, param

NAME = "statistics"


@dataclass(frozen=True)
class StatisticsParameters:
    columns: list[str] | None = param(None, description="columns to describe (JSON list or comma-separated); all "
                                      "numeric columns when empty", spec_type="string")
    quantiles: list[float] = param(list(DEFAULT_QUANTILES), description="quantiles to report, JSON list of "
                                   "numbers in [0, 1]", ge=0, le=1)


@component(
    name=NAME, title="Statistics", roles=("guest", "host", "arbiter"), storage=("file", "s3"),
    summary="Per numeric column of the party's own dataset: count, mean, std (sample), min, max, quartiles and "
            "missing rate. Local to each party: nothing is exchanged.",
    params=StatisticsParameters,
    inputs=[Data("data", "the party's table (CSV or Parquet)", formats=("csv", "parquet"))],
    outputs=[Data("report", "the statistics as JSON", category="report", formats=("json",))])
def statistics(ctx: TaskContext, params: StatisticsParameters) -> dict:
    """Describe this party's dataset; returns the report (raises on failure)."""
    data = ctx.input("data")
    report = summarize(data.batches, params.columns, params.quantiles)
    report = {"component": NAME, "role": ctx.env.self_role, "input": data.address, **report}
    out = ctx.output("report")
    out.write_json(report)
    out.finish({"format": "json", "source": NAME, "category": "report", "columns": list(report["columns"])})
    return {**report, "output_address": out.address}
