"""`@component`: an algorithm's declaration, from which its BFIA self-description (component spec §2) is
generated, and by which the node finds it (entry-point group `hulian.components`, see docs/writing-a-component.md).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hulian.sdk import params as P

if TYPE_CHECKING:
    from hulian.sdk.context import TaskContext

ENTRY_POINT_GROUP = "hulian.components"
DES_VERSION = "1.2.0"   # the component spec version the self-description follows
RESULTS = [{"resultCode": "0", "resultMessage": "success"},
           {"resultCode": "1", "resultMessage": "failed: see the task log"}]


@dataclass(frozen=True)
class Data:
    """An input or output of a component: `ctx.input(name)` / `ctx.output(name)`."""

    name: str
    description: str
    category: str = "dataset"
    formats: tuple[str, ...] = ("csv",)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "category": self.category,
                "dataFormat": list(self.formats)}


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    title: str
    summary: str
    roles: tuple[str, ...]
    run: Callable[..., dict[str, Any]]
    params: type | None = None
    inputs: tuple[Data, ...] = ()
    outputs: tuple[Data, ...] = ()
    storage: tuple[str, ...] = ("file",)
    provider: str = "hulian"
    errors: tuple[type[BaseException], ...] = ()  # the algorithm's own failures: one line in the task log

    @property
    def description(self) -> dict[str, Any]:
        """The self-description the node registers and serves."""
        return {"componentName": self.name, "title": self.title, "provider": self.provider,
                "version": self.version, "description": self.summary, "roleList": list(self.roles),
                "desVersion": DES_VERSION, "storageEngine": list(self.storage),
                "inputParam": P.describe(self.params) if self.params else [],
                "inputData": [d.describe() for d in self.inputs],
                "outputData": [d.describe() for d in self.outputs], "result": RESULTS}

    def __call__(self, ctx: TaskContext) -> dict[str, Any]:
        """Run this party's side with parameters parsed from the context (ParameterError names a bad one)."""
        if self.params is None:
            return self.run(ctx)
        return self.run(ctx, P.parse(self.params, ctx.env.parameters))


def component(*, name: str, summary: str, roles: Sequence[str], version: str = "1.0.0", title: str = "",
              params: type | None = None, inputs: Sequence[Data] = (), outputs: Sequence[Data] = (),
              storage: Sequence[str] = ("file",), provider: str = "hulian",
              errors: Sequence[type[BaseException]] = ()) -> Callable[[Callable[..., dict[str, Any]]], Component]:
    """Declare `run(ctx)` (or `run(ctx, params)` with `params` a parameter dataclass) as a component; the
    function returns the JSON report of this party's run. `errors` are exceptions that mean the run failed for
    a reason its message states (besides ValueError, OSError, federation and link errors): the task log
    shows the message, not a traceback."""
    def declare(run: Callable[..., dict[str, Any]]) -> Component:
        return Component(name, version, title or name, summary, tuple(roles), run, params, tuple(inputs),
                         tuple(outputs), tuple(storage), provider, tuple(errors))
    return declare
