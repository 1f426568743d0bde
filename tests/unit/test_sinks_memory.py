"""The in-memory store shares BlobReportStore's layout, idempotency and index with file/gs."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable

import pytest

from jobwarden.sinks.memory import MemoryBlobs
from jobwarden.sinks.storage import BlobReportStore, report_key
from tests.support.reports import at, oomkilled_report

UID = "6f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"


@pytest.fixture
def blobs() -> MemoryBlobs:
    return MemoryBlobs("memory://tests")


@pytest.fixture
def store(blobs: MemoryBlobs) -> BlobReportStore:
    return BlobReportStore(blobs, url="memory://tests")


def test_a_report_in_memory_lands_in_the_same_layout_as_on_disk(
    store: BlobReportStore, blobs: MemoryBlobs
) -> None:
    report = oomkilled_report()
    result = store.put_report(report)
    job = f"prod-eu/batch/nightly-etl-28744/{UID}"
    assert result.status == "stored"
    stem = f"{job}/jobFailureReporter/{report.id}"
    assert sorted(k for k in blobs.data if not k.startswith("index/")) == [
        f"{stem}.{suffix}" for suffix in ("html", "json", "md")
    ]
    assert blobs.content_types[f"{stem}.md"].startswith("text/markdown")
    assert "OOMKilled" in blobs.data[f"{stem}.md"].decode()
    assert result.url == f"memory://tests/{job}/jobFailureReporter/{report.id}.html"
    key = report_key("prod-eu", "batch", "nightly-etl-28744", UID, "jobFailureReporter", report.id)
    assert store.get_report(key) == report
    assert [e.id for e in store.read_index()] == [report.id]


def test_storing_the_same_report_id_again_changes_nothing(
    store: BlobReportStore, blobs: MemoryBlobs
) -> None:
    first = oomkilled_report()
    store.put_report(first)
    before = dict(blobs.data)
    again = store.put_report(first.model_copy(update={"created_at": at(900), "summary": "x"}))
    assert again.status == "already stored"
    assert blobs.data == before


def test_the_same_event_stored_concurrently_is_stored_once(store: BlobReportStore) -> None:
    report = oomkilled_report()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.put_report(report).status))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("stored") == 1 and len(store.read_index()) == 1


def test_records_are_created_once_and_listed_by_prefix(store: BlobReportStore) -> None:
    assert store.put_json("deliveries/r1/a.json", {"n": 1}, only_if_absent=True)
    assert not store.put_json("deliveries/r1/a.json", {"n": 2}, only_if_absent=True)
    store.put_json("deliveries/r2/a.json", {"n": 3})
    assert store.get_json("deliveries/r1/a.json") == {"n": 1}
    assert store.list("deliveries/r1/") == ["deliveries/r1/a.json"]
    assert store.list("deliveries/") == ["deliveries/r1/a.json", "deliveries/r2/a.json"]
    assert store.get_json("runs/none.json") is None


class RecordingBlobs(MemoryBlobs):
    """MemoryBlobs that counts writes per object name and refuses read-modify-write."""

    def __init__(self) -> None:
        super().__init__("memory://recorded")
        self.writes: Counter[str] = Counter()
        self.overwrites: list[str] = []

    def write(
        self, key: str, data: bytes, *, content_type: str = "", only_if_absent: bool = False
    ) -> bool:
        self.writes[key] += 1
        if not only_if_absent:
            self.overwrites.append(key)
        return super().write(key, data, content_type=content_type, only_if_absent=only_if_absent)

    def update(
        self, key: str, change: Callable[[bytes | None], bytes], *, content_type: str = ""
    ) -> bytes:
        raise AssertionError(f"{key} was read-modify-written")


def test_a_burst_of_200_reports_across_clusters_writes_every_object_name_once() -> None:
    blobs = RecordingBlobs()
    store = BlobReportStore(blobs, url="memory://recorded")
    reports = [
        oomkilled_report(cluster=f"cluster-{i % 5}", uid=f"uid-{i // 2}").model_copy(
            update={"id": f"r{i:03d}", "created_at": at(0) + dt.timedelta(milliseconds=i % 7)}
        )
        for i in range(200)
    ]  # two reports per Job run, many in the same millisecond
    threads = [threading.Thread(target=store.put_report, args=(r,)) for r in reports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert blobs.overwrites == []  # every write is create-only
    assert max(blobs.writes.values()) == 1  # no object name is written twice
    assert len(blobs.writes) == 200 * 4  # .json, .md, .html and one index entry per report
    assert sorted(e.id for e in store.read_index()) == sorted(r.id for r in reports)
    assert not any(k.startswith(("index.json", "index.html")) for k in blobs.writes)
