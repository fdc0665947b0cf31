"""The BFIA control plane (control spec v1.2, guide §3): jobs, their tasks and every party's state.

One job per module: `service` composes the plane and answers its entry points; `party` is a party's side of a
job's lifecycle, `scheduler` the scheduler's (the DAG walk); `peers` and `client` make the calls to other nodes
(durably through `ctl_outbox` where a call must arrive); `watchdog` recovers what a crash or a lost report left;
`planning` resolves a job's DAG/CONF per task and party; `repo` holds every SQL statement of the plane. The
component runtime is reached only through the `ports.ComponentRuntime` protocol, wired in by `hulian.node`.
"""
