"""Which components this node offers: every `@component` an installed distribution declares in the entry-point
group `hulian.components` — hulian's own exactly as a third party's — each run as `python -m hulian.sdk NAME`.
The runtime imports no algorithm; it loads what the entry points name."""
from __future__ import annotations

from typing import Any

from hulian.sdk.runner import installed


def installed_components(python: str) -> list[tuple[dict[str, Any], list[str]]]:
    """(self-description, command) of every installed component, by name."""
    return [(c.description, [python, "-m", "hulian.sdk", name]) for name, c in sorted(installed().items())]
