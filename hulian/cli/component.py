"""`hulian component …`: scaffold a component package (`new`) and read the registry of installed components
(`list`, `show`) — hulian's own and third parties', found by the entry-point group `hulian.components`
exactly as a node finds them at start (no node needed).
"""
from __future__ import annotations

import dataclasses
import keyword
import re
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from hulian.sdk import Component

component_app = typer.Typer(help="Components: scaffold a new one, list and show the installed ones.",
                            no_args_is_help=True)
NAME = re.compile(r"[a-z][a-z0-9_]*")
TEMPLATES = resources.files("hulian.cli") / "templates" / "component"
# template -> path in the new package ("{name}" is the component's name)
SCAFFOLD = {"pyproject.toml.tmpl": "pyproject.toml", "README.md.tmpl": "README.md",
            "__init__.py.tmpl": "{name}/__init__.py", "component.py.tmpl": "{name}/component.py",
            "test_component.py.tmpl": "tests/test_{name}.py"}


def _installed() -> dict[str, Component]:
    from hulian.sdk.runner import installed  # the SDK loads numpy and pyarrow: only when a command needs it

    return installed()


@component_app.command("new")
def new(name: str = typer.Argument(..., help="the component's name: lower case, digits, underscores"),
        directory: Path = typer.Option(Path("."), "--dir", help="where the package's folder NAME is made"),
        provider: str = typer.Option("", help="the provider the self-description names (default: NAME)")) -> None:
    """Scaffold a component package: pyproject with the entry point, the algorithm with its parameters and
    @component declaration, and a test on the in-memory federation."""
    if not NAME.fullmatch(name) or keyword.iskeyword(name):
        raise typer.BadParameter(f"{name!r}: a Python identifier in lower case (letters, digits, _)")
    root = directory / name
    if root.exists():
        typer.echo(f"{root} exists; choose another name or --dir", err=True)
        raise typer.Exit(1)
    values = {"name": name, "dist": name.replace("_", "-"), "provider": provider or name}
    for template, target in SCAFFOLD.items():
        path = root / target.format(name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template((TEMPLATES / template).read_text()).substitute(values))
    typer.echo(f"made {root}: `pip install -e '{root}[dev]'` registers {name}; `pytest {root}` runs its test")


def _range(meta: dict[str, Any]) -> str:
    if meta.get("choices") or meta.get("binding"):
        return " | ".join(map(str, meta.get("choices") or meta.get("binding")))
    ge, le = meta.get("ge"), meta.get("le")
    if ge is not None and le is not None:
        return f"[{ge:g}, {le:g}]"
    return f"≥ {ge:g}" if ge is not None else f"≤ {le:g}" if le is not None else ""


def _parameters(c: Component) -> Table:
    table = Table("parameter", "type", "default", "required", "range / choices", "description",
                  title="parameters", title_justify="left")
    if c.params is None:
        return table
    described = {p["name"]: p for p in c.description["inputParam"]}
    for f in dataclasses.fields(c.params):
        p = described[f.name]
        table.add_row(f.name, p["type"], p["defaultValue"], "yes" if p["optional"] == "false" else "",
                      _range(dict(f.metadata)), p["description"])
    return table


def _data(c: Component) -> Table:
    table = Table("direction", "name", "category", "formats", "description", title="inputs and outputs",
                  title_justify="left")
    for direction, items in (("input", c.inputs), ("output", c.outputs)):
        for d in items:
            table.add_row(direction, d.name, d.category, ", ".join(d.formats), d.description)
    return table


@component_app.command("list")
def list_components() -> None:
    """Every installed component (built-in and third-party), as a node registers them."""
    table = Table("name", "version", "provider", "roles", "parameters", "inputs", "outputs", "summary")
    for name, c in sorted(_installed().items()):
        params = [f.name for f in dataclasses.fields(c.params)] if c.params else []
        table.add_row(name, c.version, c.provider, ", ".join(c.roles), ", ".join(params),
                      ", ".join(d.name for d in c.inputs), ", ".join(d.name for d in c.outputs), c.summary)
    Console().print(table)


@component_app.command("show")
def show(name: str = typer.Argument(..., help="the component's name")) -> None:
    """One installed component: its self-description, parameters (type, default, range) and inputs/outputs."""
    components = _installed()
    if name not in components:
        typer.echo(f"no component {name!r} is installed; installed: {', '.join(sorted(components))}", err=True)
        raise typer.Exit(1)
    c = components[name]
    about = Table(show_header=False, box=None)
    for key, value in (("name", c.name), ("title", c.title), ("version", c.version), ("provider", c.provider),
                       ("roles", ", ".join(c.roles)), ("storage", ", ".join(c.storage)), ("summary", c.summary)):
        about.add_row(key, value)
    console = Console()
    for table in (about, _parameters(c), _data(c)):
        console.print(table)
