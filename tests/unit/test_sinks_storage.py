"""file:// report storage: the documented layout, idempotent create-only writes, the index."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from jobwarden.errors import ConfigError, PermanentError, StorageUnavailableError, TemporaryError
from jobwarden.report import Report
from jobwarden.sinks.storage import (
    BlobReportStore,
    IndexQuery,
    open_store,
    report_key,
    report_stem,
    run_prefix,
)
from tests.support.reports import at, oomkilled_report, performance_report, stuck_report

UID = "6f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"


@pytest.fixture
def store(tmp_path: Path) -> BlobReportStore:
    opened = open_store(f"file://{tmp_path}/reports")
    assert isinstance(opened, BlobReportStore)
    return opened


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_stored_report_lands_in_the_design_layout_as_json_md_and_html(
    store: BlobReportStore, tmp_path: Path
) -> None:
    report = oomkilled_report()
    result = store.put_report(report)
    assert result.status == "stored"
    job = f"prod-eu/batch/nightly-etl-28744/{UID}"
    root = tmp_path / "reports"
    stem = f"{job}/jobFailureReporter/{report.id}"
    assert [f for f in _files(root) if not f.startswith("index/")] == [
        f"{stem}.html",
        f"{stem}.json",
        f"{stem}.md",
    ]  # no "latest" copies beside them: a Job's reports are found by listing its prefix
    stored = json.loads((root / f"{stem}.json").read_text())
    assert stored["id"] == report.id and stored["workflow"] == "jobFailureReporter"
    assert "OOMKilled" in (root / f"{stem}.md").read_text()
    assert (root / f"{stem}.html").read_text().startswith("<!DOCTYPE html>")
    assert result.key == report_stem(report) == stem
    assert store.list(run_prefix("prod-eu", "batch", "nightly-etl-28744", UID)) == [
        f"{stem}.html",
        f"{stem}.json",
        f"{stem}.md",
    ]
    assert result.url == (root / f"{job}/jobFailureReporter/{report.id}.html").as_uri()
    assert store.get_report(result.key) == report
    key = report_key("prod-eu", "batch", "nightly-etl-28744", UID, "jobFailureReporter", report.id)
    assert key == result.key


def test_storing_the_same_report_id_twice_is_a_noop_answering_already_stored(
    store: BlobReportStore, tmp_path: Path
) -> None:
    first = oomkilled_report()
    assert store.put_report(first).status == "stored"
    before = {p: (tmp_path / "reports" / p).read_bytes() for p in _files(tmp_path / "reports")}
    redelivered = first.model_copy(update={"created_at": at(900), "summary": "regenerated"})
    result = store.put_report(redelivered)
    assert result.status == "already stored" and not result.stored
    after = {p: (tmp_path / "reports" / p).read_bytes() for p in _files(tmp_path / "reports")}
    assert after == before
    assert [e.id for e in store.read_index()] == [first.id]


def test_reports_of_one_job_run_are_all_kept_and_found_by_listing_its_prefix(
    store: BlobReportStore,
) -> None:
    stuck = oomkilled_report().model_copy(update={"id": "stuck-report", "created_at": at(100)})
    failed = oomkilled_report()  # created at(600)
    older = failed.model_copy(update={"id": "older", "created_at": at(0), "title": "older"})
    for report in (stuck, failed, older):
        assert store.put_report(report).status == "stored"
    prefix = run_prefix("prod-eu", "batch", "nightly-etl-28744", UID)
    found = [k.removesuffix(".json") for k in store.list(prefix) if k.endswith(".json")]
    assert sorted(found) == sorted(report_stem(r) for r in (stuck, failed, older))
    assert store.get_report(report_stem(stuck)) == stuck
    assert [e.id for e in store.read_index()] == [failed.id, "stuck-report", "older"]


def test_index_lists_reports_of_two_clusters_newest_first_with_a_page_linking_them(
    store: BlobReportStore, tmp_path: Path
) -> None:
    eu, us, staging = oomkilled_report("prod-eu"), performance_report("prod-us"), stuck_report()
    for report in (us, eu, staging):
        store.put_report(report)
    entries = store.read_index()
    assert [e.cluster for e in entries] == ["staging", "prod-us", "prod-eu"]
    names = sorted((tmp_path / "reports/index").rglob("*.json"))
    assert len(names) == 3  # one entry per report, under index/<yyyy>/<mm>/<dd>/
    raw = json.loads(next(n for n in names if eu.id in n.name).read_text())
    assert set(raw) == {
        "id", "workflow", "cluster", "namespace", "job", "jobUid",
        "createdAt", "severity", "title", "path",
    }  # fmt: skip
    assert raw["path"] == f"prod-eu/batch/nightly-etl-28744/{UID}/jobFailureReporter/{eu.id}"
    for entry in entries:
        assert (tmp_path / "reports" / f"{entry.path}.html").is_file()  # the link works
    assert not (tmp_path / "reports/index.json").exists()
    assert not (tmp_path / "reports/index.html").exists()


def test_index_pages_hold_whole_job_runs_newest_first_and_a_cursor_continues_them(
    store: BlobReportStore,
) -> None:
    reports = [
        oomkilled_report(cluster="c", uid=f"uid-{i}").model_copy(
            update={"id": f"r{i:02d}", "created_at": at(60 * i)}
        )
        for i in range(7)
    ]
    for report in reports:
        store.put_report(report)
    first = store.index_page(IndexQuery(runs=3))
    assert [e.id for e in first.entries] == ["r06", "r05", "r04"]
    assert first.next_cursor is not None
    second = store.index_page(IndexQuery(runs=3, after=first.next_cursor))
    assert [e.id for e in second.entries] == ["r03", "r02", "r01"]
    last = store.index_page(IndexQuery(runs=3, after=second.next_cursor or ""))
    assert [e.id for e in last.entries] == ["r00"] and last.next_cursor is None
    window = store.index_page(IndexQuery(since=at(60), until=at(180)))
    assert [e.id for e in window.entries] == ["r03", "r02", "r01"]
    only = store.index_page(IndexQuery(accept=lambda e: e.id == "r02"))
    assert [e.id for e in only.entries] == ["r02"]


def test_concurrent_writers_lose_no_index_entries(store: BlobReportStore) -> None:
    reports = [
        oomkilled_report(cluster=f"c{i % 3}", uid=f"uid-{i}").model_copy(update={"id": f"r{i:02d}"})
        for i in range(24)
    ]
    threads = [threading.Thread(target=store.put_report, args=(r,)) for r in reports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(e.id for e in store.read_index()) == sorted(r.id for r in reports)


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
    assert results.count("stored") == 1 and results.count("already stored") == 7
    assert len(store.read_index()) == 1


def test_writes_leave_no_temp_or_half_written_files(
    store: BlobReportStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put_json("runs/a.json", {"v": 1})
    real_replace = os.replace

    def disk_full(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(StorageUnavailableError, match="No space left on device"):
        store.put_json("runs/a.json", {"v": 2})
    monkeypatch.setattr(os, "replace", real_replace)
    assert store.get_json("runs/a.json") == {"v": 1}  # the old file is intact
    root = tmp_path / "reports"
    assert not [p for p in _files(root) if ".jobwarden-tmp" in p]
    assert store.list() == ["runs/a.json"]


def test_a_storage_outage_is_temporary_and_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    store = open_store(f"file://{blocker}")
    with pytest.raises(TemporaryError, match="not-a-dir"):
        store.put_report(oomkilled_report())


def test_put_json_only_if_absent_creates_exactly_once_under_concurrency(
    store: BlobReportStore,
) -> None:
    outcomes: list[bool] = []

    def create(n: int) -> None:
        outcomes.append(store.put_json("deliveries/r1/oncall.json", {"n": n}, only_if_absent=True))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(True) == 1
    assert store.get_json("deliveries/r1/oncall.json") is not None


def test_records_are_read_back_and_listed_by_prefix(store: BlobReportStore) -> None:
    assert store.get_json("deliveries/none.json") is None
    store.put_json("deliveries/r1/a.json", {"ok": True})
    store.put_json("deliveries/r1/b.json", {"ok": True})
    store.put_json("deliveries/r2/a.json", {"ok": True})
    store.put_json("runs/x.json", [1, 2])
    assert store.list("deliveries/r1/") == ["deliveries/r1/a.json", "deliveries/r1/b.json"]
    assert store.list("deliveries/r") == [
        "deliveries/r1/a.json",
        "deliveries/r1/b.json",
        "deliveries/r2/a.json",
    ]
    assert store.get_json("runs/x.json") == [1, 2]
    assert store.put_json("runs/x.json", [3])  # overwrite by default
    assert store.get_json("runs/x.json") == [3]


@pytest.mark.parametrize("key", ["../escape.json", "/etc/passwd", "a//b.json", "a/./b", "", "a\\b"])
def test_unsafe_keys_are_refused(store: BlobReportStore, key: str) -> None:
    with pytest.raises(PermanentError, match="not a safe relative key"):
        store.put_json(key, {})


def test_relative_file_urls_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("file://./reports")
    store.put_json("runs/x.json", {"ok": 1})
    assert (tmp_path / "reports/runs/x.json").is_file()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("s3://bucket/reports", "unsupported storage URL"),
        ("https://example.com/reports", "unsupported storage URL"),
        ("file://", "no path"),
        ("gs://Not_A_Bucket/x", "not a valid bucket name"),
    ],
)
def test_a_bad_store_url_is_a_config_error_naming_what_is_supported(url: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as caught:
        open_store(url)
    assert url in str(caught.value)
    assert "file://<path>" in str(caught.value) and "gs://<bucket>/<prefix>" in str(caught.value)


def test_a_gs_store_opens_without_touching_the_network_and_links_to_the_console(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)  # real GCS, not the emulator
    store = open_store("gs://jobwarden-reports/prod/")
    assert store.url == "gs://jobwarden-reports/prod/"
    assert (
        store.url_for("a/b.html")
        == "https://storage.cloud.google.com/jobwarden-reports/prod/a/b.html"
    )


def test_the_emulator_client_is_anonymous_with_the_local_project(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jobwarden.sinks import gcsstore

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("PUBSUB_PROJECT_ID", raising=False)
    monkeypatch.setattr(gcsstore, "_clients", {})
    client = gcsstore.default_client()
    assert client.project == "jobwarden-local"
    assert gcsstore.default_client() is client  # cached per process
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo")
    assert gcsstore.default_client().project == "demo"


def test_base_url_makes_links_for_reports_served_over_https(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}", base_url="https://reports.example.com/jw")
    result = store.put_report(oomkilled_report())
    assert result.url == f"https://reports.example.com/jw/{result.key}.html"
    page = (tmp_path / f"{result.key}.html").read_text()
    assert f'href="{result.url}"' in page


def test_migrate_index_writes_the_entries_that_stored_reports_lack_once(
    store: BlobReportStore, tmp_path: Path
) -> None:
    reports = [oomkilled_report(), performance_report(), stuck_report()]
    for report in reports:
        store.put_report(report)
    store.put_report(reports[0].model_copy(update={"id": "asked", "source_event_id": "request/x"}))
    store.put_json("deliveries/x/y.json", {"not": "a report"})
    (tmp_path / "reports/index.json").write_text("[]")  # a store from before: one index.json
    for entry in (tmp_path / "reports/index").rglob("*.json"):
        entry.unlink()
    assert store.read_index() == []
    assert store.migrate_index() == 3  # not the report made on request
    assert {e.id for e in store.read_index()} == {r.id for r in reports}
    assert store.migrate_index() == 0


def test_odd_names_become_safe_path_segments() -> None:
    report = Report.model_validate(
        {**json.loads(oomkilled_report().to_json()), "cluster": "../../etc", "jobUid": ""}
    )
    assert (
        report_stem(report)
        == "_._.._etc/batch/nightly-etl-28744/unknown-uid/jobFailureReporter/" + report.id
    )
