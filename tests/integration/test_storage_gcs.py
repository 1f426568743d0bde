"""gs:// report storage against the local stack's real GCS emulator (fake-gcs-server).

The store makes its own client from STORAGE_EMULATOR_HOST (set by `emulator_env`); the
`gcs` fixture's client is only used to create buckets and to look at what was written.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from jobwarden.errors import StorageUnavailableError, TemporaryError
from jobwarden.sinks import gcsstore
from jobwarden.sinks.storage import open_store
from tests.support.reports import oomkilled_report, performance_report, stuck_report

pytestmark = pytest.mark.stack


@pytest.fixture
def bucket(gcs: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(gcsstore, "_clients", {})  # a client for this stack's emulator
    name = f"jw-{uuid.uuid4().hex[:12]}"
    gcs.create_bucket(name)
    return name


def _names(gcs: Any, bucket: str, prefix: str = "") -> list[str]:
    return sorted(b.name for b in gcs.list_blobs(bucket, prefix=prefix))


def test_gs_store_writes_the_design_layout_under_its_prefix(gcs: Any, bucket: str) -> None:
    store = open_store(f"gs://{bucket}/reports")
    report = oomkilled_report()
    result = store.put_report(report)
    assert result.status == "stored"
    job = f"reports/prod-eu/batch/nightly-etl-28744/{report.job_uid}"
    stem = f"{job}/jobFailureReporter/{report.id}"
    names = _names(gcs, bucket)
    (entry,) = [n for n in names if n.startswith("reports/index/")]
    assert names == sorted([f"{stem}.html", f"{stem}.json", f"{stem}.md", entry])
    assert entry.endswith(f"-{report.id}.json")  # reports/index/<yyyy>/<mm>/<dd>/<inverted>-<id>
    blob = gcs.bucket(bucket).get_blob(f"{stem}.html")
    assert blob.content_type.startswith("text/html")
    data = gcs.bucket(bucket).blob(f"{stem}.json").download_as_bytes()
    assert json.loads(data)["id"] == report.id
    assert store.get_report(result.key) == report


def test_gs_store_stores_a_redelivered_report_once(gcs: Any, bucket: str) -> None:
    store = open_store(f"gs://{bucket}")
    report = oomkilled_report()
    assert store.put_report(report).status == "stored"
    generations = {b.name: b.generation for b in gcs.list_blobs(bucket)}
    assert store.put_report(report).status == "already stored"
    assert {b.name: b.generation for b in gcs.list_blobs(bucket)} == generations


def test_gs_create_only_records_are_created_once(bucket: str) -> None:
    store = open_store(f"gs://{bucket}/p")
    assert store.put_json("deliveries/r1/oncall.json", {"n": 1}, only_if_absent=True)
    assert not store.put_json("deliveries/r1/oncall.json", {"n": 2}, only_if_absent=True)
    assert store.get_json("deliveries/r1/oncall.json") == {"n": 1}
    assert store.get_json("deliveries/r1/other.json") is None
    assert store.list("deliveries/") == ["deliveries/r1/oncall.json"]


def test_gs_index_spans_clusters_and_survives_concurrent_writers(gcs: Any, bucket: str) -> None:
    store = open_store(f"gs://{bucket}")
    reports = [oomkilled_report("prod-eu"), performance_report("prod-us"), stuck_report()]
    reports += [
        oomkilled_report(cluster=f"c{i % 2}", uid=f"uid-{i}").model_copy(update={"id": f"r{i}"})
        for i in range(6)
    ]
    threads = [threading.Thread(target=store.put_report, args=(r,)) for r in reports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = store.read_index()
    assert sorted(e.id for e in entries) == sorted(r.id for r in reports)
    assert {"prod-eu", "prod-us", "staging", "c0", "c1"} == {e.cluster for e in entries}
    assert all(gcs.bucket(bucket).get_blob(f"{e.path}.html") is not None for e in entries)
    assert not [n for n in _names(gcs, bucket) if n.startswith("index.")]  # no hot objects


def test_a_missing_bucket_is_a_temporary_error_naming_it(emulator_env: dict[str, str]) -> None:
    gcsstore._clients.clear()
    store = open_store("gs://jw-no-such-bucket-here/x")
    with pytest.raises(StorageUnavailableError, match="jw-no-such-bucket-here") as caught:
        store.put_json("runs/a.json", {"a": 1})
    assert isinstance(caught.value, TemporaryError)
