"""What a component may report while it runs (hulian's extension of the task callback): a fraction done and a
few named metrics. Checked here, so that a bad value is refused with a message naming it, never stored."""
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
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            raise ValueError(f"metric name {name!r}: give a string of 1 to {MAX_NAME} characters")
        if isinstance(metric, str):
            if len(metric) > MAX_TEXT:
                raise ValueError(f"metric {name!r}: a string of at most {MAX_TEXT} characters")
        elif isinstance(metric, bool) or not isinstance(metric, int | float) or not math.isfinite(metric):
            raise ValueError(f"metric {name!r} = {metric!r}: give a finite number or a string")
    return dict(value)
