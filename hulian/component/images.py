"""Component images and instances (seed report §四(五)): image names `/<developer>/<image-name>:<tag>` with a
semantic-version tag, the labels an image declares, digest pinning, and the instance state machine."""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z][0-9A-Za-z.-]*)?$")
SEGMENT = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
LABELS = ("log_dir", "port", "uds_dir")


class ImageError(ValueError):
    """An image reference, label or digest is unusable; the message names it."""


class InstanceState(StrEnum):
    """Component instance states (seed report table 7)."""

    UNLOADED = "UNLOADED"  # image not (yet) on this system
    LOADED = "LOADED"      # image downloaded and verified
    STOPPED = "STOPPED"    # stopped; may be started again or unloaded
    STARTED = "STARTED"    # initialised and serving (running a task)
    FAILED = "FAILED"      # failed after it ran


TRANSITIONS: dict[InstanceState, frozenset[InstanceState]] = {
    InstanceState.UNLOADED: frozenset({InstanceState.LOADED, InstanceState.FAILED}),
    InstanceState.LOADED: frozenset({InstanceState.STARTED, InstanceState.UNLOADED, InstanceState.FAILED}),
    InstanceState.STARTED: frozenset({InstanceState.STOPPED, InstanceState.FAILED}),
    InstanceState.STOPPED: frozenset({InstanceState.STARTED, InstanceState.UNLOADED}),
    InstanceState.FAILED: frozenset({InstanceState.STARTED, InstanceState.UNLOADED, InstanceState.STOPPED}),
}


def transition(current: InstanceState, new: InstanceState) -> InstanceState:
    """`new` when the state machine allows it from `current` (or it is unchanged), else ImageError."""
    if new != current and new not in TRANSITIONS[current]:
        raise ImageError(f"component instance cannot go from {current} to {new}")
    return new


@dataclass(frozen=True)
class ImageRef:
    registry: str  # "" for the default registry
    developer: str
    name: str
    tag: str

    @property
    def repository(self) -> str:
        return "/".join(p for p in (self.registry, self.developer, self.name) if p)

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}"

    def pinned(self, digest: str) -> str:
        """The reference by content (`repo@sha256:...`): what runs is exactly what was verified."""
        return f"{self.repository}@{digest}" if digest else str(self)


def parse_image(ref: str) -> ImageRef:
    """`/<developer>/<image-name>:<tag>` (leading '/' optional, a registry host may precede it)."""
    body = ref.strip().lstrip("/")
    if "@" in body:
        raise ImageError(f"image {ref!r}: give the tag here and the sha256 digest separately")
    path, sep, tag = body.rpartition(":")
    if not sep or "/" in tag:
        raise ImageError(f"image {ref!r} has no tag: name it /<developer>/<image-name>:<major.minor.patch>")
    if not SEMVER.match(tag):
        raise ImageError(f"image {ref!r}: tag {tag!r} is not major.minor.patch[-state] (e.g. 1.0.0, 1.0.1-beta)")
    parts = path.split("/")
    registry = ""
    if len(parts) == 3 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, parts = parts[0], parts[1:]
    if len(parts) != 2:
        raise ImageError(f"image {ref!r} must be /<developer>/<image-name>:<tag>")
    for what, part in zip(("developer", "image-name"), parts, strict=True):
        if not SEGMENT.match(part):
            raise ImageError(f"image {ref!r}: {what} {part!r} must be lower-case letters, digits and . _ -")
    return ImageRef(registry, parts[0], parts[1], tag)


def pinned_image(image: str, digest: str) -> ImageRef:
    """The parsed image of a registration that may run: one without a pinned digest is refused."""
    ref = parse_image(image)
    if not digest:
        raise ImageError(f"image {ref}: no sha256 digest was pinned at registration; refusing to run it")
    return ref


def check_digest(digest: str) -> str:
    if not DIGEST.match(digest):
        raise ImageError(f"digest {digest!r} is not sha256:<64 hex digits>")
    return digest


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    """The image labels we use: `log_dir` and `uds_dir` absolute paths, `port` a TCP port."""
    for key in ("log_dir", "uds_dir"):
        if key in labels and not str(labels[key]).startswith("/"):
            raise ImageError(f"label {key}={labels[key]!r} must be an absolute path in the container")
    if "port" in labels and not (str(labels["port"]).isdigit() and 0 < int(labels["port"]) < 65536):
        raise ImageError(f"label port={labels['port']!r} must be a TCP port number")
    return {k: str(v) for k, v in labels.items()}
