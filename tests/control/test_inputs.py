"""What the control plane takes from clients and peers, and what it gives back: strict JSON (non-finite
numbers, lone surrogates, deep nesting refused with 4000, never a 500), the configurable body limit named in
the refusal, dataset addresses that cannot be paths, and replies that never carry this node's file-system
layout (issue 12: defects 5, 8, 11 and 13)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from hulian.control import paths as P
from hulian.data.registry import list_datasets, on_node_storage
from hulian.data.storage import FileStorage, StorageError
from tests.control.inprocess import make_app, running, two_task_job, with_params

FATE = {"x_node_id": "fate", "x_auth_sign": "", "x_nonce": "n", "x_trace_id": ""}
DEEP = b'{"job_id": "j", "dag": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
CSV = b"id,age\n1,20\n2,30\n"


@pytest.fixture
def node(tmp_path):
    with running(make_app(tmp_path)) as client:
        yield client


def refused(resp, code: int = 4000, names: str = "") -> str:
    body = resp.json()
    assert resp.status_code == 400 and body["code"] == code, (resp.status_code, body)
    assert names in body["msg"], body
    return body["msg"]


@pytest.mark.parametrize(("path", "raw", "names"), [
    (P.NS_LOG, b'{"task_id": "t", "start": 1e400}', "out of range"),
    (P.NS_LOG, b'{"task_id": "t", "start": ' + b"9" * 40 + b"}", "start must be between"),
    (P.NS_LOG_LINE, b'{"task_id": "t", "length": NaN}', "NaN"),
    (P.CREATE_ALL, DEEP, "deeper than 64"),
    (P.CREATE, DEEP, "deeper than 64"),
    (P.STATUS_ALL, DEEP, "deeper than 64"),
    (P.NS_STATUS_ALL, DEEP, "deeper than 64"),
    (P.POLL, b'{"task_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "deeper than 64"),
    (P.STATUS_ALL, b'{"job_id": "\\ud800"}', "lone surrogate"),
    (P.NS_STATUS_ALL, b'{"job_id": "\\ud800"}', "lone surrogate"),
    (P.STOP_ALL, b'{"job_id": "\\udfff-x"}', "lone surrogate"),
    (P.POLL, b'{"task_id": "t", "role": "\\ud800"}', "lone surrogate"),
    (P.CREATE_ALL, b'{"job_id": "j", "dag": "\xff"}', "not UTF-8"),
    (P.STATUS_ALL, b'{"job_id": "' + b"j" * 1000 + b'"}', "at most 190"),  # longer than the id columns
    (P.POLL, b'{"task_id": ' + b"7" * 400 + b"}", "at most 190"),
])
def test_hostile_json_is_refused_with_4000(node, path, raw, names):
    resp = node.post(path, content=raw, headers={"content-type": "application/json", "x-node-id": "fate"})
    refused(resp, names=names)


def test_body_limit_is_the_configured_key(node):
    """The control plane's limit is limits.control_body_bytes (not a hard-coded 16 MiB) and the refusal says
    which key to change."""
    node.app.state.node.config.limits.control_body_bytes = 4096
    msg = refused(node.post(P.CREATE_ALL, content=b" " * 5000, headers={"content-type": "application/json"}))
    assert "limits.control_body_bytes" in msg and "4096" in msg and "of 5000 bytes" in msg
    chunks = (b" " * 1024 for _ in range(6))  # chunked: no Content-Length
    assert "limits.control_body_bytes" in refused(node.post(P.CREATE_ALL, content=chunks))
    job = {**two_task_job(), "job_id": "job-under-limit"}
    assert node.post(P.NS_CREATE_ALL, json=job).json()["code"] == 0  # a real job fits in 4 KiB


@pytest.mark.parametrize(("namespace", "name"), [
    ("bad\x00ns", "x"), ("ns", "a/b"), ("..", "x"), ("ns", ".."), ("ns", ".hidden"), ("ns", "a\\b"),
    ("n" * 129, "x"), ("ns", "a b"),
])
def test_dataset_address_must_be_one_safe_segment(node, tmp_path, namespace, name):
    resp = node.post(P.NS_DATASET_UPLOAD, params={"namespace": namespace, "name": name}, content=CSV)
    refused(resp, names="not a valid namespace or name")
    assert not list((tmp_path / "n1" / "uploads").glob("*"))  # refused before anything was written


def test_dataset_replies_carry_no_local_path(node, tmp_path):
    node_dir = str((tmp_path / "n1").resolve())
    resp = node.post(P.NS_DATASET_UPLOAD, params={"namespace": "bank", "name": "people", "filename": "p.csv"},
                     content=CSV)
    meta = resp.json()["data"]
    assert resp.json()["code"] == 0 and meta["count"] == 2 and meta["columns"] == ["id", "age"]
    assert "source_file" not in meta and node_dir not in resp.text
    # a dataset an older version registered with its source path: the key is not shown
    record = tmp_path / "n1" / "storage" / "bank" / "people" / "metadata"
    record.write_text(json.dumps({**json.loads(record.read_text()), "source_file": f"{node_dir}/uploads/x.csv"}))
    listed = node.get(P.NS_DATASET_LIST)
    assert [m["name"] for m in listed.json()["data"]] == ["people"]
    assert "source_file" not in listed.json()["data"][0] and node_dir not in listed.text
    # a file that is not CSV: the refusal names the problem, not the temporary file's path
    bad = node.post(P.NS_DATASET_UPLOAD, params={"namespace": "bank", "name": "bad"}, content=b"")
    assert bad.json()["code"] == 4000 and node_dir not in bad.text and "/uploads/" not in bad.text, bad.text
    cfg = node.app.state.node.config
    assert [m["name"] for m in on_node_storage(cfg, list_datasets)] == ["people"]


def test_missing_dataset_error_names_the_address_not_the_path(tmp_path):
    root = tmp_path / "storage"
    with pytest.raises(StorageError) as e:
        FileStorage(root).partitions("demo", "missing")
    assert "demo#missing" in str(e.value) and str(tmp_path) not in str(e.value)


def test_peers_get_task_messages_without_local_paths(node, tmp_path):
    """A party's FAILED poll reply and the scheduler's status_all keep the reason, not this node's layout."""
    node_dir = (tmp_path / "n1").resolve()
    why = (f"psi failed: dataset demo#missing not found: neither {node_dir}/storage/demo/missing nor "
           f"{node_dir}/storage/demo/missing/data_0 exists")
    body = {"job_id": "202401010000002", **with_params(two_task_job(guest="fate", host="n1"), "psi_0", fail=why)}
    for path, data in ((P.CREATE, body), (P.START_JOB, {"job_id": body["job_id"]}),
                       (P.START_TASK, {"job_id": body["job_id"], "task_id": "t-5", "task_name": "psi_0"})):
        assert node.post(path, json=data, headers=FATE).json()["code"] == 0
    deadline = time.monotonic() + 10
    while (reply := node.post(P.POLL, json={"task_id": "t-5", "role": ""}, headers=FATE).json())["data"][
            "status"] != "FAILED":
        assert time.monotonic() < deadline, reply
        time.sleep(0.05)
    message = reply["data"]["message"]
    assert "demo#missing not found" in message and str(node_dir) not in message, message
    assert str(Path("/storage/demo/missing")) not in message
    # the task's log, as the initiator's get_log asks this party for it
    lines = node.post(P.TASK_LOG, json={"task_id": "t-5", "role": "host.0"}, headers=FATE).json()["data"]["lines"]
    assert any("demo#missing not found" in line for line in lines), lines
    assert not any(str(node_dir) in line for line in lines), lines
    # the scheduler's view, which status_all gives parties (here: a job of this node's that fails the same way)
    job_id = node.post(P.NS_CREATE_ALL, json=with_params(two_task_job(), "psi_0", "host.0", fail=why)).json()[
        "data"]["job_id"]
    deadline = time.monotonic() + 10
    while (view := node.get(P.NS_STATUS_ALL, params={"job_id": job_id})).json()["data"]["job_status"] != "FINISHED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "demo#missing not found" in view.text and str(node_dir) not in view.text, view.text


def test_dataset_address_longer_than_a_file_name_is_refused(node, tmp_path):
    """128 letters of a CJK script are within the character count but 384 bytes as UTF-8, past a file name's
    255 (it was a 500: OSError "File name too long")."""
    resp = node.post(P.NS_DATASET_UPLOAD, params={"namespace": "话" * 128, "name": "x"}, content=CSV)
    refused(resp, names="not a valid namespace or name")
    assert not list((tmp_path / "n1" / "uploads").glob("*"))
