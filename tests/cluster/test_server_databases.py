"""A relay network whose nodes keep their state in PostgreSQL or MariaDB instead of SQLite: routing, chunking
and crash recovery hold on every database the node supports."""
from __future__ import annotations

import hashlib
import os
import signal
import uuid

import pytest

from hulian.node import cluster
from hulian.transport.channel import Channel
from tests.conftest import require_service

pytestmark = [pytest.mark.cluster, pytest.mark.service]

NAMES = ("node-a", "node-b", "node-c")


def _postgres(db: str, sql: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(sql.format(db=db))


def _mariadb(db: str, sql: str) -> None:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    try:
        conn.cursor().execute(sql.format(db=db))
    finally:
        conn.close()


SERVERS = {
    "postgresql": ("PostgreSQL", 5432, _postgres, "postgresql+psycopg://postgres@127.0.0.1:5432/{db}"),
    "mariadb": ("MariaDB", 3306, _mariadb, "mysql+pymysql://root@127.0.0.1:3306/{db}"),
}


@pytest.fixture(params=list(SERVERS))
def network(request, tmp_path):
    name, port, admin, url = SERVERS[request.param]
    require_service(name, "127.0.0.1", port)
    dbs = {n: f"hulian_{uuid.uuid4().hex[:8]}_{n[-1]}" for n in NAMES}
    for db in dbs.values():
        admin(db, "CREATE DATABASE {db}")
    try:
        nodes = cluster.up(tmp_path, 3, [("node-a", "node-c", "node-b")],
                           extra={"limits": {"chunk_bytes": 1 << 20}},
                           per_node={n: {"database_url": url.format(db=db)} for n, db in dbs.items()})
        yield nodes
    finally:
        if (tmp_path / "cluster.json").exists():
            cluster.down(tmp_path)
        for db in dbs.values():
            admin(db, "DROP DATABASE IF EXISTS {db}")


def channels(a, c):
    parties = {"guest.0": a.node_id, "host.0": c.node_id}
    return (Channel(a.url, "session_db", a.admin_token, a.node_id, parties, ca_file=a.ca_file),
            Channel(c.url, "session_db", c.admin_token, c.node_id, parties, ca_file=c.ca_file))


def test_relay_chunking_and_crash_recovery_on_a_server_database(network, tmp_path):
    a, _, c = network
    big = os.urandom(5 << 20)  # five chunks, relayed one by one by node-b
    ca, cc = channels(a, c)
    with ca, cc:
        ca.send("host.0", "big", big)
        ca.send_obj("host.0", "obj", {"rows": [1, 2, 3]})
        assert hashlib.sha256(cc.recv("guest.0", "big", 30)).digest() == hashlib.sha256(big).digest()
        assert cc.recv_obj("guest.0", "obj", 30) == {"rows": [1, 2, 3]}
    os.kill(c.pid, signal.SIGKILL)  # the target is down while a message is acknowledged on node-a
    ca, _ = channels(a, c)
    with ca:
        ca.send("host.0", "late", b"kept")
    c.pid = cluster.start_node(c.config)
    cluster.wait_healthy(c)
    cluster.write_manifest(tmp_path, network)
    _, cc = channels(a, c)
    with cc:
        assert cc.recv("guest.0", "late", 30) == b"kept"
