"""What a component may report while it runs (hulian's extension of the task callback): a fraction done and a
few named metrics. One set of rules for every side: the SDK checks before it sends, the component runtime
refuses a bad callback with a message naming the value, the scheduler keeps what is well formed of a peer's."""
from __future__ import annotations

import math
from typing import Any

MAX_METRICS = 32
MAX_NAME = 64
MAX_TEXT = 256

Metric = float | int | str


def check_progress(value: Any) -> float | None:
    """A fraction 0..1, or None when not given; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"progress {value!r}: give a number from 0 to 1")
    return float(value)


def check_metrics(value: Any) -> dict[str, Metric]:
    """A flat mapping of names to numbers or short strings, at most MAX_METRICS of them; ValueError otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"metrics must be an object of name -> number or string, not {type(value).__name__}")
    if len(value) > MAX_METRICS:
        raise ValueError(f"metrics has {len(value)} entries; at most {MAX_METRICS}")
    for name, metric in value.items():
        check_metric(name, metric)
    return dict(value)


def check_metric(name: Any, metric: Any) -> None:
    """ValueError unless `name` is a short string and `metric` a finite number or a short string."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise ValueError(f"metric name {name!r}: give a string of 1 to {MAX_NAME} characters")
    if isinstance(metric, str):
        if len(metric) > MAX_TEXT:
            raise ValueError(f"metric {name!r}: a string of at most {MAX_TEXT} characters")
    elif isinstance(metric, bool) or not isinstance(metric, int | float) or not math.isfinite(metric):
        raise ValueError(f"metric {name!r} = {metric!r}: give a finite number or a string")


def well_formed(progress: Any, metrics: Any) -> tuple[float | None, dict[str, Metric]]:
    """What of a peer's report follows the rules (a peer's reply is read liberally): the progress if valid,
    the metrics that are, at most MAX_METRICS."""
    try:
        fraction = check_progress(progress)
    except ValueError:
        fraction = None
    kept: dict[str, Metric] = {}
    for name, metric in (metrics.items() if isinstance(metrics, dict) else ()):
        try:
            check_metric(name, metric)
        except ValueError:
            continue
        kept[name] = metric
        if len(kept) == MAX_METRICS:
            break
    return fraction, kept
