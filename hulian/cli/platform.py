"""`hulian data …` and `hulian job …`: a platform user's commands, calling a node's north-south routes.

The node is named by `--node URL` (with `--ca` for its TLS certificate and `--token` for its admin token), or
by `--cluster DIR/cluster.json` plus `--node node-a` (what `hulian cluster up` writes). Environment:
HULIAN_NODE, HULIAN_CA, HULIAN_TOKEN, HULIAN_CLUSTER.
"""
from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

from hulian.cli.tables import indented, render, table
from hulian.control import paths as P
from hulian.control.states import JOB_ENDED

data_app = typer.Typer(help="Datasets on a node.", no_args_is_help=True)
job_app = typer.Typer(help="Jobs: submit a DAG and CONF, watch, read logs, stop.", no_args_is_help=True)
@dataclass
class Target:
    url: str
    ca: str | None
    token: str


def _target(node: str | None, cluster: Path | None, ca: str | None, token: str | None) -> Target:
    if cluster is not None:
        nodes = json.loads(cluster.read_text())["nodes"]
        pick = next((n for n in nodes if node in (None, n["node_id"], n["url"])), None)
        if pick is None:
            raise typer.BadParameter(f"--node {node!r} is not in {cluster}: {[n['node_id'] for n in nodes]}")
        return Target(pick["url"], ca or pick["ca_file"], token or pick["admin_token"])
    if not node:
        raise typer.BadParameter("name the node: --node URL (with --ca and --token), or --cluster FILE")
    return Target(node.rstrip("/"), ca, token or "")


NodeOpt = typer.Option(None, "--node", envvar="HULIAN_NODE", help="node URL, or node id with --cluster")
ClusterOpt = typer.Option(None, "--cluster", envvar="HULIAN_CLUSTER", help="cluster.json of `hulian cluster up`")
CaOpt = typer.Option(None, "--ca", envvar="HULIAN_CA", help="CA bundle of the node's TLS certificate")
TokenOpt = typer.Option(None, "--token", envvar="HULIAN_TOKEN", help="the node's admin token")


def _call(t: Target, method: str, path: str, *, params: dict | None = None, json_body: Any = None,
          content: Any = None, timeout: float = 60.0) -> Any:
    """One north-south call; exits 1 with the node's message when it answers a non-zero code."""
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=t.ca) if t.ca else True
    try:
        with httpx.Client(verify=verify, timeout=timeout, trust_env=False) as c:
            r = c.request(method, t.url + path, params=params, json=json_body, content=content,
                          headers={"x-ptp-token": t.token} if t.token else {})
    except httpx.HTTPError as e:
        typer.echo(f"cannot reach {t.url}: {type(e).__name__}: {e}", err=True)
        raise typer.Exit(1) from None
    try:
        out = r.json()
    except ValueError:
        typer.echo(f"{t.url}{path} answered HTTP {r.status_code} without JSON: {r.text[:300]}", err=True)
        raise typer.Exit(1) from None
    if out.get("code") not in (0, 200):
        typer.echo(f"{path}: code {out.get('code')}: {out.get('msg') or out.get('message')}", err=True)
        raise typer.Exit(1)
    return out.get("data")


def node_health(node: str | None, cluster: Path | None, ca: str | None, token: str | None) -> dict:
    """The node's health reply (`hulian node status`)."""
    return _call(_target(node, cluster, ca, token), "GET", "/v1/interconn/node/health") or {}


@data_app.command("add")
def data_add(file: Path = typer.Option(..., "--file", exists=True, dir_okay=False, help="CSV or Parquet file"),
             namespace: str = typer.Option(..., "--namespace"), name: str = typer.Option(..., "--name"),
             replace: bool = typer.Option(False, help="overwrite an existing dataset"),
             node: str = NodeOpt, cluster: Path = ClusterOpt, ca: str = CaOpt, token: str = TokenOpt) -> None:
    """Register a local file as dataset NAMESPACE#NAME on the node (uploaded, streamed)."""
    t = _target(node, cluster, ca, token)
    fmt = "parquet" if file.suffix.lower() in (".parquet", ".pq") else "csv"
    with file.open("rb") as f:
        meta = _call(t, "POST", P.NS_DATASET_UPLOAD, content=f, timeout=600,
                     params={"namespace": namespace, "name": name, "format": fmt, "filename": file.name,
                             "replace": str(replace).lower()})
    typer.echo(f"dataset {namespace}#{name}: {meta['count']} rows, columns {', '.join(meta['columns'])}")


@data_app.command("list")
def data_list(node: str = NodeOpt, cluster: Path = ClusterOpt, ca: str = CaOpt, token: str = TokenOpt) -> None:
    """The datasets registered on the node."""
    datasets = _call(_target(node, cluster, ca, token), "GET", P.NS_DATASET_LIST)
    typer.echo(render(table(["dataset", "rows", "columns"],
                            [[f"{m['namespace']}#{m['name']}", m.get("count", "?"), ", ".join(m.get("columns", []))]
                             for m in datasets])))


@job_app.command("submit")
def job_submit(dag: Path = typer.Option(..., "--dag", exists=True),
               conf: Path = typer.Option(..., "--conf", exists=True), node: str = NodeOpt,
               cluster: Path = ClusterOpt, ca: str = CaOpt, token: str = TokenOpt) -> None:
    """Create a job from a DAG and a CONF file (JSON); prints its job id."""
    try:
        body = {"dag": json.loads(dag.read_text()), "config": json.loads(conf.read_text())}
    except ValueError as e:
        raise typer.BadParameter(f"DAG and CONF must be JSON files: {e}") from None
    typer.echo(_call(_target(node, cluster, ca, token), "POST", P.NS_CREATE_ALL, json_body=body)["job_id"])


def _progress(task: dict) -> float | None:
    """The task's progress as the scheduler reports it (the least of its parties'), None when none reported."""
    value = task.get("progress")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _metrics(metrics: Any) -> str:
    return " ".join(f"{k}={v}" for k, v in metrics.items()) if isinstance(metrics, dict) else ""


def status_table(data: dict) -> str:
    """Tasks x parties with their states (and progress when reported), the job's state and message; below
    the table each party's error message and metrics."""
    tasks = data.get("tasks") or []
    parties = sorted({p for t in tasks for p in (t.get("parties") or {})})
    head = (f"job {data.get('job_id', '')}: {data.get('job_status')}"
            + (f" — {data['message']}" if data.get("message") else ""))
    rows, notes = [], []
    for t in tasks:
        states = [(t.get("parties") or {}).get(p, {}) for p in parties]
        cells = [(s.get("status", "-") if isinstance(s, dict) else str(s)) for s in states]
        progress = _progress(t)
        rows.append([t["task_name"], t["status"], *cells, "-" if progress is None else f"{progress:.0%}"])
        if _metrics(t.get("metrics")):
            notes.append(f"    {t['task_name']}: {_metrics(t['metrics'])}")
        for p, s in zip(parties, states, strict=True):
            if isinstance(s, dict):
                said = (s.get("message"), _metrics(s.get("metrics")))
                notes.extend(f"    {t['task_name']} {p}: {text}" for text in said if text)
    with_progress = any(r[-1] != "-" for r in rows)
    headers = ["task", "state", *parties] + (["progress"] if with_progress else [])
    grid = table(headers, [r if with_progress else r[:-1] for r in rows])
    return render(head, indented(grid), *notes)


@job_app.command("status")
def job_status(job_id: str, watch: bool = typer.Option(False, "--watch", help="refresh until the job ends"),
               node: str = NodeOpt, cluster: Path = ClusterOpt, ca: str = CaOpt, token: str = TokenOpt) -> None:
    """The job's state and a table of tasks x parties."""
    t = _target(node, cluster, ca, token)
    while True:
        data = _call(t, "GET", P.NS_STATUS_ALL, params={"job_id": job_id})
        typer.echo(status_table({"job_id": job_id, **data}))
        if not watch or data.get("job_status") in JOB_ENDED:
            return
        time.sleep(1)
        typer.echo("")


@job_app.command("logs")
def job_logs(job_id: str, task: str = typer.Option(..., "--task", help="task name in the DAG"),
             role: str = typer.Option(None, "--role", help="e.g. host.0 (default: every party)"),
             node: str = NodeOpt, cluster: Path = ClusterOpt, ca: str = CaOpt, token: str = TokenOpt) -> None:
    """A task's log (stdout/stderr of its component) per party."""
    t = _target(node, cluster, ca, token)
    data = _call(t, "GET", P.NS_STATUS_ALL, params={"job_id": job_id})
    match = next((x for x in data.get("tasks") or [] if x["task_name"] == task), None)
    if match is None:
        raise typer.BadParameter(f"job {job_id} has no task {task!r}: {[x['task_name'] for x in data['tasks']]}")
    for party in [role] if role else sorted(match.get("parties") or {}):
        typer.echo(f"== {task} {party}")
        for line in _call(t, "GET", P.NS_LOG, params={"task_id": match["task_id"], "role": party}) or []:
            typer.echo(line)


@job_app.command("stop")
def job_stop(job_id: str, task: str = typer.Option(None, "--task", help="stop this task and what follows it"),
             node: str = NodeOpt, cluster: Path = ClusterOpt, ca: str = CaOpt, token: str = TokenOpt) -> None:
    """Stop a job (or one task and everything downstream) on every party."""
    t = _target(node, cluster, ca, token)
    if task:
        _call(t, "POST", P.NS_STOP_TASK, json_body={"job_id": job_id, "task_name": task})
    else:
        _call(t, "POST", P.NS_STOP_ALL, json_body={"job_id": job_id})
    typer.echo(f"stop sent for job {job_id}" + (f" task {task}" if task else ""))
