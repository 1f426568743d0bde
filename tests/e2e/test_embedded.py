"""End to end, as `make run` does it: exporter -> Pub/Sub -> bridge -> functions -> storage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobwarden.sinks.storage import open_store
from jobwarden_dev.localstack.embedded import run_embedded


def test_every_demo_failure_is_reported_once_with_its_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    assert run_embedded(tmp_path / "run", reports, lambda _: None) == 0
    out = capsys.readouterr().out
    assert "Container `worker` ran out of memory (OOMKilled, limit 512Mi)" in out
    assert "past its deadline of 3s" in out
    assert "Container `worker` exited with code 2: ERROR: relation" in out
    assert "reports/index.html" in out
    demo = reports / "local" / "jobwarden-demo"
    failure_reports = sorted(
        p.parent.parent.parent.name for p in demo.rglob("jobFailureReporter/*.json")
    )
    assert sorted(set(failure_reports)) == [
        "import-fails",
        "nightly-backup-manual",
        "report-every-minute",  # the CronJob that misses its runs (one report per minute)
        "resize-oom",
        "sync-deadline",
    ]
    assert [r for r in failure_reports if r != "report-every-minute"] == sorted(
        set(failure_reports) - {"report-every-minute"}
    )
    assert "Missed (no Job for " in out, out
    assert "CronJob jobwarden-demo/report-every-minute missed its run scheduled at" in out
    index = open_store(reports.as_uri()).read_index()
    per_job = [e.job for e in index if e.workflow == "jobFailureReporter"]
    assert sorted(per_job) == failure_reports  # exactly one failure report per failed Job
    cron = json.loads(
        next((demo / "nightly-backup-manual").rglob("jobFailureReporter/*.json")).read_text()
    )
    assert any(b.get("title") == "CronJob nightly-backup" for b in cron["blocks"])
    runs = list((reports / "runs").rglob("*.json"))
    assert len(runs) == 5  # every finished Job, succeeded or failed, has a run record
    assert (reports / "index.html").read_text().count("jobwarden-demo") >= 4
