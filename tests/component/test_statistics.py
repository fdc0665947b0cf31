"""The statistics component's numbers against numpy, exact and histogram quantiles, and its env handling."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hulian.algorithms.statistics import stats
from hulian.algorithms.statistics.component import statistics
from hulian.algorithms.statistics.stats import quantile_name, summarize
from hulian.data.table import read_batches
from hulian.sdk.runner import run


def _table(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(5, 2, 1000)
    y = rng.integers(-50, 50, 1000).astype(float)
    y[rng.choice(1000, 137, replace=False)] = np.nan
    rows = ["id,x,y,name"] + [f"{i},{float(x[i])!r},{'' if np.isnan(y[i]) else int(y[i])},n{i}" for i in range(1000)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    return path, x, y


def _check(col: dict, values: np.ndarray, rows: int) -> None:
    v = values[~np.isnan(values)]
    assert col["count"] == v.size
    assert col["missing_rate"] == pytest.approx((rows - v.size) / rows)
    assert col["mean"] == pytest.approx(v.mean(), abs=1e-9)
    assert col["std"] == pytest.approx(v.std(ddof=1), rel=1e-9)
    assert (col["min"], col["max"]) == (v.min(), v.max())
    for q in (0.25, 0.5, 0.75):
        assert col[quantile_name(q)] == pytest.approx(np.quantile(v, q), rel=1e-12)


def test_numbers_match_numpy(tmp_path: Path) -> None:
    path, x, y = _table(tmp_path)
    report = summarize(lambda: read_batches(path, batch_rows=97))  # many small batches: merging is exercised
    assert report["rows"] == 1000 and report["skipped_columns"] == ["name"]
    _check(report["columns"]["x"], x, 1000)
    _check(report["columns"]["y"], y, 1000)
    assert report["quantile_method"] == "exact, in memory"


def test_rank_search_when_values_exceed_memory_budget(tmp_path: Path, monkeypatch) -> None:
    path, x, y = _table(tmp_path)
    report = summarize(lambda: read_batches(path, batch_rows=100), exact_limit=150)
    assert report["quantile_method"] == "exact, by rank search"
    _check(report["columns"]["x"], x, 1000)
    _check(report["columns"]["y"], y, 1000)


def test_rank_search_heavy_tails_and_repeats(monkeypatch) -> None:
    monkeypatch.setattr(stats, "SMALL", 16)  # force several narrowing passes on a small table
    rng = np.random.default_rng(3)
    columns = {
        "income": np.concatenate([rng.lognormal(10, 2, 2998), [1e12, 5e14]]),  # outliers far out
        "zeros": np.concatenate([np.zeros(2500), rng.random(500) * 1e9]),  # one value repeated
        "const": np.full(3000, 7.25),
        "tiny": rng.normal(0, 1e-300, 3000),
    }
    table = pa.table(columns)
    report = summarize(lambda: table.to_batches(max_chunksize=256), quantiles=[0, 0.25, 0.5, 0.75, 0.999, 1],
                       exact_limit=10)
    for name, values in columns.items():
        col = report["columns"][name]
        for q in (0, 0.25, 0.5, 0.75, 0.999, 1):
            assert col[quantile_name(q)] == pytest.approx(np.quantile(values, q), rel=1e-12, abs=0), (name, q)


def test_parquet_and_parameters(tmp_path: Path) -> None:
    src = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3, 4, None], "b": ["x", "y", "z", "w", "v"]}), src)
    report = summarize(lambda: read_batches(src), columns=["a"], quantiles=[0.1, 0.9])
    assert report["columns"]["a"]["q10"] == pytest.approx(np.quantile([1, 2, 3, 4], 0.1))
    assert report["columns"]["a"]["missing_rate"] == 0.2
    with pytest.raises(ValueError, match="not numeric"):
        summarize(lambda: read_batches(src), columns=["b"])


def test_component_main(tmp_path: Path, capsys) -> None:
    path, x, _ = _table(tmp_path)
    (tmp_path / "st" / "ns" / "t").mkdir(parents=True)
    path.replace(tmp_path / "st" / "ns" / "t" / "data_0")
    env = {"system.storage": (tmp_path / "st").as_uri(), "config.self_role": "guest.0", "config.task_id": "t9",
           "config.session_id": "session_j9", "runtime.component.parameter.columns": '["x"]',
           "runtime.component.parameter.quantiles": "[0.5]",
           "runtime.component.input.data": json.dumps({"namespace": "ns", "name": "t"})}
    assert run(statistics, env) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out["columns"]) == ["x"] and out["output_address"] == {"namespace": "j9-guest-0", "name": "t9-report"}
    assert out["columns"]["x"]["q50"] == pytest.approx(np.median(x))
    stored = json.loads((tmp_path / "st" / "j9-guest-0" / "t9-report" / "data_0").read_text())
    assert stored["columns"]["x"]["count"] == 1000
    assert run(statistics, {**env, "runtime.component.parameter.quantiles": "[2]"}) == 1
    assert "must lie in [0, 1]" in capsys.readouterr().err
    assert run(statistics, {k: v for k, v in env.items() if "input" not in k}) == 1
