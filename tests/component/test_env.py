"""The component environment: exactly the spec's keys (plus hulian's two), values as components read them."""
from __future__ import annotations

import json

from hulian.component.env import NodeEndpoints, build_env, is_secret, loggable
from hulian.component.launch import TaskLaunch
from hulian.federation import Scope
from hulian.transport.iclink.ptp_link import PtpCarrier, yacl_topic
from hulian.transport.party import Party
from hulian.wire import headers as H

NODE = NodeEndpoints("file:///srv/storage", "https://127.0.0.1:7304", "/etc/hulian/ca.pem")


def _launch(**kw) -> TaskLaunch:
    base = dict(job_id="j1", task_id="j1_psi_0", task_name="psi_0", session_id="session_j1", component="ecdh_psi",
                provider="hulian", version="1.0.0", role="host.0",
                parties={"guest.0": "node-a", "host.0": "node-b"}, insts={"guest.0": "inst-a"},
                parameters={"curve_type": "curve25519", "bit_length_after_truncated": 96,
                            "field_names": ["id", "phone"], "compat": {"mode": "standard"}},
                inputs={"data": {"namespace": "bank", "name": "customers"}},
                outputs={"result": {"namespace": "j1-host-0", "name": "j1_psi_0-result"}}, trace_id="tr-1")
    base.update(kw)
    return TaskLaunch(**base)


def test_exact_keys_and_values() -> None:
    env = build_env(_launch(), NODE, token="tok-123", log_path="/var/log/c")
    assert env == {
        "system.storage": "file:///srv/storage",
        "system.transport": "https://127.0.0.1:7304",
        "system.callback": "https://127.0.0.1:7304/v1/platform/schedule/task/callback",
        "config.self_role": "host.0",
        "config.task_id": "j1_psi_0",
        "config.session_id": "session_j1",
        "config.trace_id": "tr-1",
        "config.token": "tok-123",
        "config.log.path": "/var/log/c",
        "config.node_id.guest.0": "node-a",
        "config.node_id.host.0": "node-b",
        "config.inst_id.guest.0": "inst-a",
        "config.inst_id.host.0": "",
        "runtime.component.name": "ecdh_psi",
        "runtime.component.parameter.curve_type": "curve25519",
        "runtime.component.parameter.bit_length_after_truncated": "96",
        "runtime.component.parameter.field_names": '["id", "phone"]',
        "runtime.component.parameter.compat": '{"mode": "standard"}',
        "runtime.component.input.data": json.dumps({"namespace": "bank", "name": "customers"}),
        "runtime.component.output.result": json.dumps({"namespace": "j1-host-0", "name": "j1_psi_0-result"}),
        "config.transport_ca": "/etc/hulian/ca.pem",
        "config.topic_scope": "j1_psi_0",
    }
    assert all(isinstance(v, str) for v in env.values())


def test_optional_keys_absent() -> None:
    env = build_env(_launch(), NodeEndpoints("file:///s", "http://n:1"), "t", "/l", topic_scope=False)
    assert "config.transport_ca" not in env and "config.topic_scope" not in env


def test_loggable_masks_secrets() -> None:
    node = NodeEndpoints("s3://h:9000?username=u&password=secret&bucket=b", "http://n:1")
    shown = loggable(build_env(_launch(), node, "tok-123", "/l"))
    assert shown["config.token"] == "***"
    assert "secret" not in shown["system.storage"] and "username=u" in shown["system.storage"]
    assert is_secret("config.token", "tok") and is_secret("system.storage", node.storage)
    assert not is_secret("system.storage", "file:///data") and not is_secret("config.task_id", "t1")


def test_link_topics_are_task_scoped() -> None:
    parties = [Party("guest.0", "node-a"), Party("host.0", "node-b")]
    a = PtpCarrier("http://127.0.0.1:1", parties, 0, "session_j1", topic=Scope(link_scope="task-1").link_topic)
    b = PtpCarrier("http://127.0.0.1:1", parties, 1, "session_j1", topic=Scope(link_scope="task-2").link_topic)
    plain = PtpCarrier("http://127.0.0.1:1", parties, 0, "session_j1")
    assert a._push_headers[1][H.TOPIC] == "task-1:guest.0-host.0"
    assert a._pop_headers[1][H.TOPIC] == "task-1:host.0-guest.0"
    assert b._push_headers[0][H.TOPIC] == "task-2:host.0-guest.0" != a._pop_headers[1][H.TOPIC]
    assert plain._push_headers[1][H.TOPIC] == yacl_topic("guest.0", "host.0") == "guest.0-host.0"
    assert Scope().link_topic("guest.0", "host.0") == "guest.0-host.0"
