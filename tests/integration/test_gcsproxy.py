"""The recording storage proxy in front of the real GCS emulator: as strict as Cloud Storage
about one object name (429 to a second write within a second), and able to go away."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from jobwarden.sinks import gcsstore
from jobwarden.sinks.storage import open_store
from jobwarden_dev.localstack.gcsproxy import GcsRecordingProxy
from tests.support.reports import oomkilled_report

pytestmark = pytest.mark.stack


@pytest.fixture
def proxy(emulator_env: dict[str, str]) -> Iterator[GcsRecordingProxy]:
    rig = GcsRecordingProxy(emulator_env["STORAGE_EMULATOR_HOST"]).start()
    try:
        yield rig
    finally:
        rig.stop()


@pytest.fixture
def through_proxy(
    gcs: Any, proxy: GcsRecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, str]:
    """A storage client that talks to the emulator through the proxy, and a fresh bucket."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket = f"jw-{uuid.uuid4().hex[:12]}"
    gcs.create_bucket(bucket)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
    monkeypatch.setattr(gcsstore, "_clients", {})
    client = storage.Client(project="jobwarden-local", credentials=AnonymousCredentials())
    return client, bucket


def test_a_second_write_of_one_name_within_a_second_is_answered_429(
    through_proxy: tuple[Any, str], proxy: GcsRecordingProxy
) -> None:
    from google.api_core.exceptions import TooManyRequests

    client, bucket = through_proxy
    blob = client.bucket(bucket).blob("hot/index.json")
    blob.upload_from_string(b"1", retry=None)
    with pytest.raises(TooManyRequests):
        client.bucket(bucket).blob("hot/index.json").upload_from_string(b"2", retry=None)
    client.bucket(bucket).blob("cold/other.json").upload_from_string(b"3", retry=None)
    assert proxy.max_writes_per_name_per_second() == (2, f"{bucket}/hot/index.json")
    assert [w.name for w in proxy.throttled()] == [f"{bucket}/hot/index.json"]
    time.sleep(1.1)  # a second later the same name may be written again
    client.bucket(bucket).blob("hot/index.json").upload_from_string(b"4", retry=None)
    assert client.bucket(bucket).blob("hot/index.json").download_as_bytes() == b"4"


def test_a_stored_report_writes_each_name_once(
    through_proxy: tuple[Any, str], proxy: GcsRecordingProxy
) -> None:
    _, bucket = through_proxy
    store = open_store(f"gs://{bucket}")
    report = oomkilled_report()
    assert store.put_report(report).status == "stored"
    by_name = proxy.writes_by_name()
    assert len(by_name) == 4  # .md, .html, the index entry, .json
    assert all(len(writes) == 1 for writes in by_name.values())
    assert store.put_report(report).status == "already stored"
    assert len(proxy.writes_by_name()) == 4  # a redelivery only reads
