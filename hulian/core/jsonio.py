"""JSON read from peers and clients: only what every later step (a database, a reply, a UTF-8 header) can carry.

The standard library's parser accepts input that fails later, far from the parser, as a 500: numbers like
`1e400` become `inf`, `NaN` literals become floats, `"\\ud800"` becomes a lone surrogate that no UTF-8 encoder
takes, and nesting 100,000 deep raises RecursionError. `loads` refuses all of them here, with a message that
names the problem, as ValueError (each plane maps it to its own "illegal request" code).
"""
from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64  # nesting levels of arrays and objects; the deepest document of the spec has 6


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range (finite IEEE-754 doubles only)")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; send a finite number")


def _check(obj: Any) -> None:
    """Depth and string checks without recursion (a deep document must not exhaust the stack here either)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _utf8(item)
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"JSON nests deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, value in item.items():
                    _utf8(key)
                    stack.append((value, depth + 1))
            else:
                stack.extend((value, depth + 1) for value in item)


def _utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"string {text[:40]!r} holds a lone surrogate (\\ud800-\\udfff), which is not UTF-8 text"
                         ) from None


def loads(raw: bytes | bytearray | str) -> Any:
    """The JSON document in `raw`; ValueError when it is not JSON, not UTF-8, too deep, or holds what no later
    step can carry (non-finite numbers, lone surrogates)."""
    try:
        obj = json.loads(raw, parse_float=_finite, parse_constant=_constant)
    except RecursionError:
        raise ValueError(f"JSON nests deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"body is not UTF-8 ({e.reason} at byte {e.start})") from None
    _check(obj)
    return obj

