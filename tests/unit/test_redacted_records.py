"""What jobwarden keeps or logs about actions and Jobs holds no secret from the cluster."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest

from jobwarden.actions import ledger
from jobwarden.actions.audit import AuditRecord, write_audit
from jobwarden.actions.restart import RestartPlan
from jobwarden.errors import StaleError
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


def test_the_ledger_keeps_a_redacted_plan_that_is_never_executed(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    plan = _plan([{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "MODE", "value": "x"}])
    assert ledger.claim(store, "t1", plan, NOW)
    ledger.finish(store, "t1", plan, NOW, 502, {"error": "create failed: password=hunter2"})
    stored = (tmp_path / ledger.ledger_key("t1")).read_text()
    assert "hunter2" not in stored
    assert '"DB_PASSWORD"' in stored and '"MODE"' in stored
    entry = ledger.lookup(store, "t1")
    assert entry is not None and entry.plan["redacted"] is True
    with pytest.raises(StaleError, match="ask for a new plan"):
        RestartPlan.from_json("prod", "etl", "u1", entry.plan)


def test_a_plan_without_secrets_is_kept_whole_and_resumable(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    plan = _plan([{"name": "MODE", "value": "full"}])
    assert ledger.claim(store, "t2", plan, NOW)
    entry = ledger.lookup(store, "t2")
    assert entry is not None and entry.plan == plan
    assert RestartPlan.from_json("prod", "etl", "u1", entry.plan).manifest == plan["object"]


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
