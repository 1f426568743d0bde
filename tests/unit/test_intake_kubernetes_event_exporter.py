"""Intake of messages the real kubernetes-event-exporter v1.6.1 published (not shaped by us).

The fixtures under tests/fixtures/kubernetes-event-exporter/ are message data captured from
the Pub/Sub emulator while the Go binary (`make tools`) watched the local stack
(tests/integration/test_kubernetes_event_exporter.py writes them to `published.jsonl`),
scrubbed only of the test's namespace, Job name and cluster name.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobwarden.intake import parse_pubsub_message
from jobwarden.jobevent import event_id

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kubernetes-event-exporter"


def captured(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return value


def as_pulled(data: dict[str, Any], message_id: str = "17") -> dict[str, Any]:
    """A message as a pull returns it: no attributes (this exporter sets none)."""
    return {"data": base64.b64encode(json.dumps(data).encode()).decode(), "messageId": message_id}


def test_real_backoff_limit_exceeded_message_is_the_jobs_failure_with_our_exporters_id() -> None:
    data = captured("job-backoff-limit-exceeded")
    job_uid = data["involvedObject"]["uid"]

    trigger = parse_pubsub_message(as_pulled(data))

    assert (trigger.cluster, trigger.namespace, trigger.job) == (
        "prod-eu",
        "batch",
        "nightly-import",
    )
    assert trigger.job_uid == job_uid
    assert trigger.transition == "failed"
    assert trigger.reason == "BackoffLimitExceeded"
    assert trigger.message == "Job has reached the specified backoff limit"
    assert trigger.time == datetime(2026, 11, 30, 22, 59, 3, tzinfo=UTC)
    assert trigger.source_kind == "kubernetes-event-exporter"
    assert trigger.labels["batch.kubernetes.io/job-name"] == "nightly-import"
    # the id jobwarden's exporter gives the same failure: one report whoever announces it
    assert trigger.event_id == event_id("prod-eu", job_uid, "failed")


def test_real_message_redelivered_or_republished_after_a_restart_keeps_one_id() -> None:
    data = captured("job-backoff-limit-exceeded")
    first = parse_pubsub_message(as_pulled(data, "17"))
    again = parse_pubsub_message(as_pulled(data, "942"))  # a restart re-sends young Events
    assert first.event_id == again.event_id
    assert first.message_id != again.message_id


def test_real_successful_create_message_is_an_event_not_a_transition() -> None:
    data = captured("job-successful-create")

    trigger = parse_pubsub_message(as_pulled(data))

    assert trigger.transition == "event"
    assert trigger.reason == "SuccessfulCreate"
    assert trigger.job_uid == data["involvedObject"]["uid"]
    failure = parse_pubsub_message(as_pulled(captured("job-backoff-limit-exceeded")))
    assert trigger.job_uid == failure.job_uid
    assert trigger.event_id != failure.event_id
