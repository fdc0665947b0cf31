"""Storage engines: file:// and s3:// (against a moto S3 server this test starts), the dataset registry, and
the statistics component reading from and writing to S3."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hulian.algorithms.statistics.component import statistics
from hulian.data.registry import dataset_info, list_datasets, register_dataset
from hulian.data.storage import FileStorage, S3Storage, StorageError, open_storage, redact
from hulian.data.table import TableSource
from hulian.node.cluster import free_port
from hulian.sdk.runner import run

pytest.importorskip("boto3")
pytest.importorskip("moto")

CSV = "id,age,income\n1,30,100.5\n2,,200\n3,50,\n4,41,400\n"


@pytest.fixture(scope="module")
def s3_url() -> str:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto server did not start")
            time.sleep(0.1)
    yield f"s3://127.0.0.1:{port}?username=testing&password=testing&bucket=storage"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    return path


def test_file_storage_registry(tmp_path: Path, csv_file: Path) -> None:
    storage = open_storage((tmp_path / "st").as_uri())
    assert isinstance(storage, FileStorage)
    meta = register_dataset(storage, "bank", "people", csv_file, link=True)
    assert meta["columns"] == ["id", "age", "income"] and meta["count"] == 4 and meta["format"] == "csv"
    assert (tmp_path / "st" / "bank" / "people" / "data_0").read_text() == CSV
    assert dataset_info(storage, "bank", "people")["count"] == 4
    assert [m["name"] for m in list_datasets(storage)] == ["people"]
    storage.output_path("j1-guest-0", "t1-report").write_text("{}")   # a component's output: its metadata
    storage.write_metadata("j1-guest-0", "t1-report", {"format": "json", "source": "statistics"})  # has no address
    assert [(m["namespace"], m["name"]) for m in list_datasets(storage)] == [("bank", "people"),
                                                                           ("j1-guest-0", "t1-report")]
    with pytest.raises(StorageError, match="already exists"):
        register_dataset(storage, "bank", "people", csv_file)
    with pytest.raises(StorageError, match="not a valid"):
        register_dataset(storage, "bank", "../x", csv_file)
    assert TableSource(storage.input_path("bank", "people"), ["id"]).columns == ["id", "age", "income"]


def test_parquet_registered_as_data_0_is_read_as_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "v": [1.5, 2.5]}), src)
    storage = FileStorage(tmp_path / "st")
    assert register_dataset(storage, "ns", "pq", src)["format"] == "parquet"
    source = TableSource(storage.input_path("ns", "pq"), ["id"])
    assert source.format == "parquet" and sum(b.num_rows for b in source.batches()) == 2


def test_s3_layout_roundtrip(s3_url: str, csv_file: Path, tmp_path: Path) -> None:
    storage = open_storage(s3_url)
    assert isinstance(storage, S3Storage) and storage.bucket == "storage"
    try:
        meta = register_dataset(storage, "bank", "people", csv_file)
        assert meta["count"] == 4
        keys = sorted(o["Key"] for o in storage.client.list_objects_v2(Bucket="storage")["Contents"])
        assert keys == ["bank/people/data_0", "bank/people/metadata"]
        assert storage.input_path("bank", "people").read_text() == CSV
        assert storage.read_metadata("bank", "people")["columns"] == ["id", "age", "income"]
        # a second partition and an output written through the component interface
        extra = tmp_path / "p1.csv"
        extra.write_text("id,age,income\n5,60,500\n")
        storage.upload(extra, "bank", "people", "data_1")
        assert [p.name for p in storage.partitions("bank", "people")] == ["data_0", "data_1"]
        with pytest.raises(StorageError, match="has 2 partitions"):  # a one-file reader never drops rows
            storage.input_path("bank", "people")
        storage.output_path("out", "r").write_text("hello")
        assert not storage.exists("out", "r")  # not visible before it is completed
        storage.write_metadata("out", "r", {"format": "text"})
        assert storage.exists("out", "r")
        assert storage.client.get_object(Bucket="storage", Key="out/r/data_0")["Body"].read() == b"hello"
        assert ("out", "r") in storage.list_datasets()
        with pytest.raises(StorageError, match="not found"):
            storage.partitions("bank", "nobody")
    finally:
        storage.close()
    assert "testing" not in redact(s3_url).split("password=")[1]


def test_statistics_component_on_s3(s3_url: str, csv_file: Path, capsys) -> None:
    storage = open_storage(s3_url)
    register_dataset(storage, "bank", "stats-in", csv_file)
    env = {"system.storage": s3_url, "config.self_role": "host.0", "config.task_id": "t1",
           "config.session_id": "session_j1",
           "runtime.component.input.data": json.dumps({"namespace": "bank", "name": "stats-in"}),
           "runtime.component.output.report": json.dumps({"namespace": "j1-host-0", "name": "t1-report"})}
    assert run(statistics, env) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = json.loads(storage.input_path("j1-host-0", "t1-report").read_text())
    storage.close()
    assert stored["columns"] == printed["columns"]
    assert stored["columns"]["age"]["count"] == 3 and stored["columns"]["age"]["missing_rate"] == 0.25
    assert stored["columns"]["income"]["max"] == 400
