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
    print(out)  # the summary, for whoever reads a failure
    assert "Container `worker` ran out of memory (OOMKilled, limit 512Mi)" in out
    assert "past its deadline of 3s" in out
    assert "Container `worker` exited with code 2: ERROR: relation" in out
    assert "reports/index.html" in out
    # the CronJob's runs under it: a full report, a short follow-up, recovered
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("CronJob nightly-backup"))
    assert "3 runs, 2 failed" in lines[at]
    assert "↳ nightly-backup-1" in lines[at + 1] and "full report" in lines[at + 1]
    assert "↳ nightly-backup-2" in lines[at + 2] and "follow-up (short)" in lines[at + 2]
    assert "↳ nightly-backup-3" in lines[at + 3] and "recovered" in lines[at + 3]
    demo = reports / "local" / "jobwarden-demo"
    failure_reports = sorted(
        p.parent.parent.parent.name for p in demo.rglob("jobFailureReporter/*.json")
    )
    assert sorted(set(failure_reports)) == [
        "import-fails",
        "nightly-backup-1",
        "nightly-backup-2",
        "nightly-backup-3",  # its `recovered` report
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
        next((demo / "nightly-backup-2").rglob("jobFailureReporter/*.json")).read_text()
    )
    assert any(b.get("title") == "CronJob nightly-backup" for b in cron["blocks"])
    assert cron["cronJob"]["failedRuns"] == 2 and cron["cronJob"]["followUpOf"]
    # the stack's Prometheus gives the OOM its peak (the demo Job's emulated 500Mi)
    oom = next((demo / "resize-oom").rglob("jobFailureReporter/*.md")).read_text()
    assert "Peak memory 500Mi of limit 512Mi (98%): the container hit its memory limit" in oom
    runs = list((reports / "runs").rglob("*.json"))
    assert len(runs) == 7  # every finished Job, succeeded or failed, has a run record
    assert (reports / "index.html").read_text().count("jobwarden-demo") >= 4
