"""What jobwarden keeps or logs about actions and Jobs holds no secret from the cluster."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest

from jobwarden.actions import ledger
from jobwarden.actions.audit import AuditRecord, write_audit
from jobwarden.runtime import job_logger
from jobwarden.sinks.storage import open_store

NOW = dt.datetime(2026, 11, 1, 10, 0, tzinfo=dt.UTC)


def _plan(env: list[dict[str, str]]) -> dict[str, Any]:
    container = {"name": "main", "image": "etl:1", "args": ["--verbose"], "env": env}
    return {
        "newName": "etl-retry-1",
        "deletePods": ["etl-x"],
        "memoryChanges": [],
        "ownerCronJob": None,
        "object": {
            "metadata": {
                "name": "etl-retry-1",
                "annotations": {"jobwarden.dev/confirmation": "c1"},
            },
            "spec": {"template": {"spec": {"containers": [container]}}},
        },
    }


def test_the_ledger_record_holds_no_secret_from_the_plan_or_the_answer(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    binding = ledger.Binding(
        id="t1",
        action="restart",
        cluster="prod",
        namespace="batch",
        name="etl",
        uid="u1",
        caller="alice",
        digest="d" * 32,
        new_name="etl-retry-1",
    )
    plan = {"digest": "d" * 32, "note": "DB_URL=postgres://app:hunter2@db/x"}
    record = ledger.Ledger(store, binding, plan, secret="k" * 40)
    assert record.claim(NOW)
    record.finish(NOW, 502, {"error": "create failed: password=hunter2"})
    stored = (tmp_path / ledger.ledger_key("t1")).read_text()
    assert "hunter2" not in stored and "[redacted]" in stored
    entry = ledger.lookup(store, "t1", secret="k" * 40, expected=binding)
    assert entry is not None and entry.status == 502  # still authentic after redaction


def test_audit_records_hold_no_secret(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    record = AuditRecord(
        who="alice",
        action="restart",
        phase="error",
        cluster="local",
        namespace="prod",
        name="etl",
        uid="u1",
        when=NOW,
        result="api_error",
        http_status=502,
        details={"error": "admission webhook denied: --db-password=hunter2 not allowed"},
    )
    audit_id = write_audit(store, record)
    (path,) = tmp_path.glob(f"audit/**/{audit_id}.json")
    text = path.read_text()
    assert "hunter2" not in text and "--db-password=[redacted]" in text


def test_job_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    jlog = job_logger("local", "prod", "etl")
    with caplog.at_level(logging.INFO, logger="jobwarden"):
        jlog.warning("read failed: %s", "GET postgres://app:s3cr3t@db 100% failed")
    assert "s3cr3t" not in caplog.text
    assert (
        "[local prod/etl] read failed: GET postgres://app:[redacted]@db 100% failed" in caplog.text
    )
