"""The CLI's tables, drawn by rich: plain columns (no box, no colour when not a terminal) so that output piped
to a file or another program stays one row a line, never cut to 80 columns."""
from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table

WIDE = 1000  # columns when not drawing to a terminal: a row is never wrapped or cut


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], show_header: bool = True) -> Table:
    t = Table(*headers, box=None, show_header=show_header, pad_edge=False, padding=(0, 2, 0, 0),
              header_style="bold")
    for row in rows:
        t.add_row(*("-" if cell is None else str(cell) for cell in row))
    return t


def indented(t: Table, spaces: int = 2) -> Padding:
    return Padding(t, (0, 0, 0, spaces))


def render(*parts: Table | Padding | str) -> str:
    """Text of tables and lines, as wide as the terminal (or WIDE when there is none)."""
    out = io.StringIO()
    width = shutil.get_terminal_size((WIDE, 24)).columns if sys.stdout.isatty() else WIDE
    console = Console(file=out, width=width, no_color=True, highlight=False, soft_wrap=False)
    for part in parts:
        console.print(part, overflow="ignore", crop=False)
    return "\n".join(line.rstrip() for line in out.getvalue().rstrip("\n").split("\n"))
