"""Registered components: self-descriptions (component spec §2), validated, durable in the node database.

`validate` names the first offending field (`inputData[1].category`), so a bad registration can be fixed from
the message alone. Versions are compared numerically ("1.10.0" after "1.9.2"); `get(name)` is the newest.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from hulian.component.images import InstanceState, check_digest, check_labels, parse_image
from hulian.component.repo import RegistrationRepository
from hulian.store.db import Database

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
INPUT_CATEGORIES = frozenset({"model", "dataset", "training_set", "test_set", "datasets"})
OUTPUT_CATEGORIES = INPUT_CATEGORIES - {"datasets"} | {"report", "metric"}


class RegistrationError(ValueError):
    """A self-description or image cannot be registered; the message names the field."""


def _str(desc: dict[str, Any], key: str, required: bool = True, where: str = "") -> str:
    value = desc.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise RegistrationError(f"{where}{key}: {'required, ' if required else ''}a non-empty string, "
                                f"got {value!r}")
    return value


def _list(desc: dict[str, Any], key: str, required: bool = False) -> list:
    value = desc.get(key, None if required else [])
    if not isinstance(value, list) or (required and not value):
        raise RegistrationError(f"{key}: {'required, ' if required else ''}a non-empty list, got {value!r}"
                                if required else f"{key}: a list, got {value!r}")
    return value


def _named_items(desc: dict[str, Any], key: str, categories: frozenset[str] | None) -> None:
    seen: set[str] = set()
    for i, item in enumerate(_list(desc, key)):
        where = f"{key}[{i}]."
        if not isinstance(item, dict):
            raise RegistrationError(f"{key}[{i}]: an object, got {item!r}")
        name = _str(item, "name", where=where)
        if name in seen:
            raise RegistrationError(f"{where}name: {name!r} appears twice")
        seen.add(name)
        if categories is not None:
            category = _str(item, "category", where=where)
            if category not in categories:
                raise RegistrationError(f"{where}category: {category!r} is not one of {sorted(categories)}")
            fmt = item.get("dataFormat", [])
            if not isinstance(fmt, list) or not all(isinstance(f, str) for f in fmt):
                raise RegistrationError(f"{where}dataFormat: a list of format names, got {fmt!r}")
        else:
            opt = item.get("optional", "true")
            if str(opt).lower() not in ("true", "false"):
                raise RegistrationError(f"{where}optional: true or false, got {opt!r}")


def validate(desc: Any) -> dict[str, Any]:
    """The self-description if it is well-formed (spec §2), else RegistrationError naming the field."""
    if not isinstance(desc, dict):
        raise RegistrationError(f"self-description: a JSON object, got {type(desc).__name__}")
    name = _str(desc, "componentName")
    if not NAME.match(name):
        raise RegistrationError(f"componentName: {name!r} must be letters, digits and _ . - (at most 128)")
    _str(desc, "provider")
    _str(desc, "version")
    for key in ("title", "description", "desVersion"):
        _str(desc, key, required=False)
    roles = _list(desc, "roleList", required=True)
    if not all(isinstance(r, str) and r for r in roles):
        raise RegistrationError(f"roleList: role names (strings), got {roles!r}")
    engines = _list(desc, "storageEngine", required=True)
    if not all(isinstance(e, str) and e for e in engines):
        raise RegistrationError(f"storageEngine: engine names such as \"s3\", got {engines!r}")
    _named_items(desc, "inputParam", None)
    _named_items(desc, "inputData", INPUT_CATEGORIES)
    _named_items(desc, "outputData", OUTPUT_CATEGORIES)
    for i, res in enumerate(_list(desc, "result")):
        if not isinstance(res, dict) or "resultCode" not in res:
            raise RegistrationError(f"result[{i}]: an object with resultCode and resultMessage, got {res!r}")
    return desc


def version_key(version: str) -> tuple:
    """Numeric parts first, so 1.10.0 sorts after 1.9.2; a release after its pre-releases."""
    core, _, pre = version.partition("-")
    nums = tuple(int(p) if p.isdigit() else -1 for p in core.split("."))
    return (nums, pre == "", pre)


@dataclass
class Registration:
    description: dict[str, Any]
    image: str = ""          # "" for a component run as a local process (`command`)
    digest: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    state: InstanceState = InstanceState.LOADED
    command: list[str] = field(default_factory=list)  # local-process components: the argv to run

    @property
    def name(self) -> str:
        return self.description["componentName"]

    @property
    def version(self) -> str:
        return self.description["version"]


def split_digest(image: str) -> tuple[str, str]:
    """("/dev/img:1.0.0", "sha256:...") from "/dev/img:1.0.0@sha256:..."."""
    ref, _, digest = image.partition("@")
    return ref, digest


class ComponentRegistry:
    """Every registered component, cached in memory and written through to the database."""

    def __init__(self, db: Database):
        self.repo = RegistrationRepository(db)
        self._items: dict[tuple[str, str], Registration] = {}

    async def load(self) -> None:
        """Read the durable registrations (at node start)."""
        for row in await self.repo.all():
            reg = Registration(json.loads(row["description"]), row["image"], row["digest"],
                               json.loads(row["labels"]), InstanceState(row["state"]), json.loads(row["command"]))
            self._items[(reg.name, reg.version)] = reg

    def prepare(self, description: dict[str, Any], image: str = "", digest: str = "",
                labels: dict[str, str] | None = None, command: list[str] | None = None) -> Registration:
        """A validated registration (not stored yet)."""
        desc = validate(description)
        ref, pinned = split_digest(image)
        digest = digest or pinned
        if ref:
            try:
                parse_image(ref)
                if digest:
                    check_digest(digest)
                labels = check_labels(labels or {})
            except ValueError as e:
                raise RegistrationError(f"image: {e}") from None
        if command is not None and (not command or not all(isinstance(a, str) for a in command)):
            raise RegistrationError(f"command: a non-empty argv list of strings, got {command!r}")
        state = InstanceState.UNLOADED if ref else InstanceState.LOADED
        return Registration(desc, ref, digest, labels or {}, state, list(command or []))

    async def put(self, reg: Registration) -> None:
        await self.repo.replace(reg.name, reg.version, {
            "provider": reg.description["provider"], "description": json.dumps(reg.description, ensure_ascii=False),
            "image": reg.image, "digest": reg.digest, "labels": json.dumps(reg.labels),
            "command": json.dumps(reg.command), "state": reg.state.value, "registered_at": time.time()})
        self._items[(reg.name, reg.version)] = reg

    async def set_state(self, reg: Registration, state: InstanceState) -> None:
        reg.state = state
        await self.repo.set_state(reg.name, reg.version, state.value)

    def get(self, name: str, version: str | None = None) -> Registration | None:
        if version:
            return self._items.get((name, version))
        versions = [r for (n, _), r in self._items.items() if n == name]
        return max(versions, key=lambda r: version_key(r.version)) if versions else None

    def all(self) -> list[Registration]:
        return sorted(self._items.values(), key=lambda r: (r.name, version_key(r.version)))
