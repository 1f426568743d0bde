"""`jobwarden watch`'s in-process queue: production filters, at-least-once, dead letters."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest

from jobwarden.names import WorkflowName
from jobwarden.subscriptions import FILTERS
from jobwarden_dev.bridge import FILTERS as BRIDGE_FILTERS
from jobwarden_watch.queue import FilterSyntaxError, LocalTopic, compile_filter


def _deliveries(attributes: dict[str, str]) -> set[str]:
    return {name for name, text in FILTERS.items() if compile_filter(text)(attributes)}


def test_each_transition_reaches_the_workflows_whose_production_filter_takes_it() -> None:
    assert _deliveries({"type": "failed"}) == {
        "jobFailureReporter",
        "jobInfoEnricher",
        "jobEventsEnricher",
        "jobPodEnricher",
        "jobPerformanceAnalysis",
    }
    assert _deliveries({"type": "stuck"}) == {
        "jobFailureReporter",
        "jobInfoEnricher",
        "jobEventsEnricher",
        "jobPodEnricher",
    }
    assert _deliveries({"type": "succeeded"}) == {"jobPerformanceAnalysis"}
    both = {"jobFailureReporter", "jobPerformanceAnalysis"}
    assert _deliveries({"type": "succeeded", "cronjob": "nightly"}) == both  # recovered
    assert _deliveries({"type": "succeeded", "retryOf": "0b5f6a2c"}) == both  # the retry's end
    assert _deliveries({"type": "missed", "cronjob": "nightly"}) == {"jobFailureReporter"}
    assert _deliveries({"type": "no-success", "cronjob": "nightly"}) == {"jobFailureReporter"}
    assert _deliveries({"type": "event", "eventType": "Warning"}) == {"jobEventsEnricher"}
    assert _deliveries({"type": "event", "eventType": "Normal"}) == set()
    assert _deliveries({"type": "started"}) == set()


def test_the_push_bridge_and_watch_read_the_same_filters() -> None:
    assert {k.replace("_", ""): v for k, v in BRIDGE_FILTERS.items()} == {
        k.lower(): v for k, v in FILTERS.items()
    }


@pytest.mark.parametrize(
    ("text", "attributes", "expected"),
    [
        ('attributes.type != "failed"', {"type": "stuck"}, True),
        ("attributes:reason", {"reason": "x"}, True),
        ("NOT attributes:reason", {"reason": "x"}, False),
        ('(attributes.a = "1" OR attributes.a = "2") AND attributes.b = "3"', {"a": "2"}, False),
    ],
)
def test_the_filter_subset_evaluates_like_pubsub(
    text: str, attributes: dict[str, str], expected: bool
) -> None:
    assert compile_filter(text)(attributes) is expected


def test_and_with_or_without_parentheses_is_refused_naming_the_filter() -> None:
    text = 'attributes.a = "1" AND attributes.b = "2" OR attributes.c = "3"'
    with pytest.raises(FilterSyntaxError, match="AND and OR together need parentheses"):
        compile_filter(text)


def _topic(handle: Any, **kwargs: Any) -> LocalTopic:
    return LocalTopic({"jobFailureReporter": 'attributes.type = "failed"'}, handle, **kwargs)


def test_a_delivery_is_the_pubsub_cloudevent_and_a_failure_is_redelivered() -> None:
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = []
    done = threading.Event()

    def handle(workflow: WorkflowName, attributes: dict[str, Any], data: dict[str, Any]) -> str:
        calls.append((attributes, data))
        if len(calls) < 3:
            raise RuntimeError("the API server is away")
        done.set()
        return "reported"

    topic = _topic(handle, workers=1, backoff=(0.01, 0.05)).start()
    try:
        topic.publish("t", b'{"name": "nightly"}', {"type": "failed", "job": "nightly"})
        topic.publish("t", b"{}", {"type": "succeeded"})  # no subscription takes it
        assert done.wait(10)
        assert topic.wait_idle(5)
    finally:
        topic.stop()
    attributes, data = calls[-1]
    assert attributes["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert attributes["source"].startswith("//pubsub.googleapis.com/projects/")
    assert json.loads(base64.b64decode(data["message"]["data"])) == {"name": "nightly"}
    assert data["message"]["attributes"] == {"type": "failed", "job": "nightly"}
    assert len(calls) == 3 and {c[0]["id"] for c in calls} == {attributes["id"]}
    assert (topic.stats.retried, topic.stats.delivered, topic.stats.outcomes) == (
        2,
        1,
        {"reported": 1},
    )


def test_a_message_that_always_fails_is_dead_lettered_with_the_job_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handle(workflow: WorkflowName, attributes: dict[str, Any], data: dict[str, Any]) -> str:
        raise RuntimeError("broken")

    topic = _topic(handle, workers=1, backoff=(0.01, 0.01), max_attempts=3).start()
    try:
        topic.publish("t", b"{}", {"type": "failed", "cluster": "c", "namespace": "n", "job": "j"})
        assert topic.wait_idle(10)
    finally:
        topic.stop()
    assert topic.stats.dead_lettered == 1 and topic.stats.retried == 2
    assert "[c n/j] jobFailureReporter: failed event dead-lettered after 3 attempts" in caplog.text


def test_stopping_drops_what_is_queued_and_returns_quickly() -> None:
    release, started = threading.Event(), threading.Event()

    def handle(workflow: WorkflowName, attributes: dict[str, Any], data: dict[str, Any]) -> str:
        started.set()
        release.wait(5)
        return "reported"

    topic = _topic(handle, workers=1).start()
    for _ in range(5):
        topic.publish("t", b"{}", {"type": "failed"})
    assert started.wait(5)
    dropped = topic.stop(timeout=0.2)
    release.set()
    assert dropped == 4  # one was being delivered; the re-announce after a restart covers them
