"""Typed component parameters: a dataclass declared beside the algorithm is the one source of truth.

Each field is declared with `param(...)`: its default (or none: required), a description, and optionally
the values it must take (`choices`), a range (`ge`/`le`), the values a UI offers (`binding`) and the type
name the self-description shows (`spec_type`, when it differs from the field's). `parse` reads the raw
strings of `runtime.component.parameter.*` once; `describe` gives the self-description's `inputParam`.
Supported field types: str, int, float, bool, and list[str | int | float] (a JSON list or comma-separated).
"""
from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from hulian.sdk.env import PARAMETER, decode_parameter

REQUIRED: Any = dataclasses.MISSING
P = typing.TypeVar("P")
SPEC_TYPES = {str: "string", int: "int", float: "float", bool: "bool", list: "object"}


class ParameterError(ValueError):
    """A parameter is missing or not of its declared type or range; the message names it and what it takes."""


def param(default: Any = REQUIRED, *, description: str, choices: Sequence[Any] | None = None,
          ge: float | None = None, le: float | None = None, binding: Sequence[str] | None = None,
          spec_type: str | None = None, aliases: Sequence[str] = (), suggested: str = "") -> Any:
    """A parameter field; a list default is copied per instance. `suggested` is what the self-description
    shows as a required parameter's defaultValue (what a UI pre-fills)."""
    meta = {"description": description, "choices": tuple(choices) if choices else None, "ge": ge, "le": le,
            "binding": tuple(binding) if binding else None, "spec_type": spec_type, "aliases": tuple(aliases),
            "suggested": suggested}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _fields(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def _base(tp: Any) -> tuple[type, type | None]:
    """(outer type, item type of a list); Optional[X] is X."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if origin is list:
        return list, args[0] if args else str
    if args and origin is not None:  # X | None
        return _base(args[0])
    return tp, None


def _scalar(value: Any, tp: type, shown: str) -> Any:
    if tp is str:
        return value if isinstance(value, str) else shown
    if tp is bool:
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise TypeError
    if isinstance(value, bool):
        raise TypeError
    number = float(value) if tp is float else int(str(value).strip())
    return number


def _convert(name: str, raw: str, tp: Any, meta: Mapping[str, Any]) -> Any:
    outer, item = _base(tp)
    decoded = decode_parameter(raw)
    where = f"{PARAMETER}{name}={raw!r}"
    try:
        if outer is list:
            values = decoded if isinstance(decoded, list) else [v.strip() for v in str(decoded).split(",")
                                                               if v.strip()]
            value: Any = [_scalar(v, item or str, str(v)) for v in values]
        else:
            value = _scalar(decoded, outer, raw)
    except (TypeError, ValueError):
        kind = f"a list of {(item or str).__name__}" if outer is list else outer.__name__
        raise ParameterError(f"{where}: expected {kind}") from None
    for v in value if outer is list else [value]:
        _check_range(where, v, meta)
    return value


def _check_range(where: str, v: Any, meta: Mapping[str, Any]) -> None:
    if meta["choices"] is not None and v not in meta["choices"]:
        raise ParameterError(f"{where}: use one of {', '.join(map(str, meta['choices']))}")
    if (meta["ge"] is not None and v < meta["ge"]) or (meta["le"] is not None and v > meta["le"]):
        if meta["ge"] is not None and meta["le"] is not None:
            raise ParameterError(f"{where}: must lie in [{meta['ge']:g}, {meta['le']:g}]")
        bound = f"≥ {meta['ge']:g}" if meta["ge"] is not None else f"≤ {meta['le']:g}"
        raise ParameterError(f"{where}: must be {bound}")


def parse(cls: type[P], raw: Mapping[str, str]) -> P:
    """An instance of the parameter dataclass `cls` from raw parameter strings; ParameterError naming the
    first bad one. Keys not declared are ignored (a CONF may carry parameters for other versions)."""
    values: dict[str, Any] = {}
    for f, tp in _fields(cls):
        given = next((raw[k] for k in (f.name, *f.metadata.get("aliases", ())) if raw.get(k, "") != ""), None)
        if given is not None:
            values[f.name] = _convert(f.name, given, tp, f.metadata)
        elif f.default is REQUIRED and f.default_factory is REQUIRED:
            choices = f.metadata.get("choices") or f.metadata.get("binding")
            hint = f"; set it to one of {', '.join(map(str, choices))}" if choices else ""
            raise ParameterError(f"{PARAMETER}{f.name} is missing{hint}")
    return cls(**values)


def _shown_default(f: dataclasses.Field, spec_type: str) -> str:
    default = f.default_factory() if f.default_factory is not REQUIRED else (
        None if f.default is REQUIRED else f.default)
    if default is None:
        return f.metadata.get("suggested", "")
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, list):
        return ",".join(map(str, default)) if spec_type == "string" else json.dumps(default)
    return str(default)


def describe(cls: type) -> list[dict[str, Any]]:
    """The self-description's `inputParam` entries of the parameter dataclass `cls`."""
    items = []
    for f, tp in _fields(cls):
        m = f.metadata
        spec_type = m.get("spec_type") or SPEC_TYPES.get(_base(tp)[0], "string")
        required = f.default is REQUIRED and f.default_factory is REQUIRED
        item: dict[str, Any] = {"name": f.name, "title": f.name, "description": m.get("description", ""),
                                "type": spec_type, "optional": "false" if required else "true",
                                "defaultValue": _shown_default(f, spec_type)}
        binding = m.get("binding") or m.get("choices")
        if binding:
            item["bindingData"] = [{"label": str(v), "value": str(v)} for v in binding]
            item["UIType"] = "select"
        items.append(item)
    return items
