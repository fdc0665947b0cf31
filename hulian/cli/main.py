"""The `hulian` command line."""
from __future__ import annotations

from pathlib import Path

import typer

from hulian.cli.component import component_app
from hulian.cli.platform import CaOpt, ClusterOpt, NodeOpt, TokenOpt, data_app, job_app, node_health
from hulian.cli.psi import psi
from hulian.cli.tables import render, table

app = typer.Typer(help="hulian (互联): a BFIA-interoperable privacy-computing node", no_args_is_help=True)
node_app = typer.Typer(help="Run a node.", no_args_is_help=True)
cluster_app = typer.Typer(help="Local clusters of nodes on loopback (tests, demos).", no_args_is_help=True)
token_app = typer.Typer(help="Session tokens for containers.", no_args_is_help=True)
app.add_typer(node_app, name="node")
app.add_typer(cluster_app, name="cluster")
app.add_typer(token_app, name="token")
app.add_typer(data_app, name="data")
app.add_typer(job_app, name="job")
app.add_typer(component_app, name="component")
app.command("psi")(psi)


@node_app.command("start")
def node_start(config: Path = typer.Option(..., "--config", "-c", help="node YAML file", exists=True)) -> None:
    """Serve a node in the foreground."""
    from hulian.core.config import load_config
    from hulian.node.server import serve

    serve(load_config(config))


@node_app.command("status")
def node_status(node: str = NodeOpt, cluster: Path = ClusterOpt, ca: str = CaOpt, token: str = TokenOpt) -> None:
    """A node's identity and security mode (warns loudly when it serves without TLS)."""
    data = node_health(node, cluster, ca, token)
    typer.echo(f"node {data.get('node_id')}  inst {data.get('inst_id') or '-'}  "
               f"tls {'on' if data.get('tls') else 'OFF'}")
    if data.get("warning"):
        typer.secho(f"WARNING: {data['warning']}", err=True, fg=typer.colors.RED, bold=True)


def _relay(spec: str) -> tuple[str, str, str]:
    from hulian.node.cluster import node_name

    parts = spec.split(":")
    if len(parts) != 3:
        raise typer.BadParameter(f"--relay {spec!r}: use SOURCE:TARGET:VIA (node ids or indexes)")
    return tuple(node_name(int(p)) if p.isdigit() else p for p in parts)  # type: ignore[return-value]


@cluster_app.command("up")
def cluster_up(
    nodes: int = typer.Option(2, "--nodes", "-n", min=1, max=64),
    directory: Path = typer.Option(..., "--dir", help="where configs, certificates, data and cluster.json go"),
    relay: list[str] = typer.Option([], help="SOURCE:TARGET:VIA, e.g. 0:2:1 makes node-a reach node-c via node-b"),
    backend: str = typer.Option("sql", help="queue backend of every node: sql or redis"),
) -> None:
    """Start N nodes in the background, wait until healthy, write DIR/cluster.json."""
    from hulian.node import cluster

    started = cluster.up(directory, nodes, [_relay(r) for r in relay],
                         extra={"transport": {"backend": backend}} if backend != "sql" else None)
    typer.echo(render(table(["node", "url", "pid"], [[n.node_id, n.url, n.pid] for n in started])))
    typer.echo(f"wrote {directory / 'cluster.json'}")


@cluster_app.command("down")
def cluster_down(directory: Path = typer.Option(..., "--dir")) -> None:
    """Stop the nodes listed in DIR/cluster.json."""
    from hulian.node import cluster

    typer.echo("stopped " + ", ".join(cluster.down(directory)))


@token_app.command("issue")
def token_issue(
    config: Path = typer.Option(..., "--config", "-c", exists=True),
    session: str = typer.Option(..., "--session", help="x-ptp-session-id the token is for"),
    ttl: int | None = typer.Option(None, help="seconds; default security.token_ttl_seconds"),
) -> None:
    """Print a token for a task session, signed with the node's token secret."""
    from hulian.core.config import load_config
    from hulian.transport.auth import Authenticator

    typer.echo(Authenticator(load_config(config)).issue_token(session, ttl))


if __name__ == "__main__":
    app()
