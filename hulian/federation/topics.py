"""The one topic-scoping rule of every carrier: a task's topics, nested by `Scope.sub`, never collide.

A scope is the task id plus a path of sub-scope names (`ctx.sub("iteration-3")`). Names and topics may not
contain "/" (the path separator), so two different (path, topic) pairs can never give one wire key. The keys
on the wire stay what hulian nodes and yacl peers already exchange:
- between hulian nodes (the Channel carrier): `<task_id>.<path>/<topic>` (`<task_id>.<topic>` at the root);
- yacl's black-box link topics: `<topic_scope>:<from party>-<to party>` (the node sets the task id); the
  link's own message keys (`root:P2P-{n}:{src}->{dst}`) are yacl's and do not carry our topics.
"""
from __future__ import annotations

from dataclasses import dataclass

SEPARATOR = "/"


def check_name(name: str, what: str) -> str:
    """`name` if it can be a topic or a sub-scope name; ValueError naming the fix otherwise."""
    if not isinstance(name, str) or not name or SEPARATOR in name:
        raise ValueError(f"{what} {name!r}: a non-empty string without {SEPARATOR!r} (nest with ctx.sub instead)")
    return name


@dataclass(frozen=True)
class Scope:
    task_id: str = ""        # config.task_id: prefixes hulian topics
    link_scope: str = ""     # config.topic_scope: prefixes the black-box link's topics ("" = yacl's plain ones)
    path: tuple[str, ...] = ()

    def sub(self, name: str) -> Scope:
        return Scope(self.task_id, self.link_scope, (*self.path, check_name(name, "sub-scope name")))

    def topic(self, topic: str) -> str:
        """The scope-relative key of `topic` (what a carrier without task scoping keys messages by)."""
        return SEPARATOR.join((*self.path, check_name(topic, "topic")))

    def wire_topic(self, topic: str) -> str:
        """The PTP topic of `topic` between hulian nodes."""
        relative = self.topic(topic)
        return f"{self.task_id}.{relative}" if self.task_id else relative

    def link_topic(self, sender: str, receiver: str) -> str:
        """The PTP topic of yacl's black-box link from `sender` to `receiver` (party ids); a link opened in a
        sub-scope has the path in its prefix, so two scopes' links never share a queue (the root's stay yacl's)."""
        plain = f"{sender}-{receiver}"
        return f"{self.link_prefix}:{plain}" if self.link_prefix else plain

    @property
    def link_prefix(self) -> str:
        """What tells this scope's links apart: the link scope and the sub-scope path ("" at an unscoped root)."""
        return SEPARATOR.join(p for p in (self.link_scope, *self.path) if p)
