"""The push bridge: filtered subscriptions, ack on 2xx, redelivery with backoff, dead letters."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jobwarden_dev.bridge import Bridge, Route
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.webhook import WebhookReceiver


@pytest.fixture
def routes(emulator_env: dict[str, str], stack: StackInfo, request: pytest.FixtureRequest) -> Any:
    topic_id = f"events-{abs(hash(request.node.nodeid)) % 10**8}"
    return Bridge.create_subscriptions(
        stack.pubsub_project,
        topic_id,
        ["job_failure_reporter", "job_performance_analysis"],
        f"{topic_id}-dead",
    )


def _wait(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def receivers() -> Iterator[dict[str, WebhookReceiver]]:
    found = {n: WebhookReceiver().start() for n in ("reporter", "perf")}
    yield found
    for r in found.values():
        r.stop()


def test_messages_reach_only_the_workflows_whose_filter_matches_and_failures_are_retried(
    pubsub: Any, routes: Any, receivers: dict[str, WebhookReceiver]
) -> None:
    publisher, _ = pubsub
    topic, dead, subs = routes
    bridge = Bridge(
        [
            Route("job_failure_reporter", receivers["reporter"].url, subs["job_failure_reporter"]),
            Route(
                "job_performance_analysis", receivers["perf"].url, subs["job_performance_analysis"]
            ),
        ],
        topic=topic,
        dead_letter_topic=dead,
        max_attempts=4,
        base_backoff_s=1,
    )
    receivers["reporter"].fail_next(1, status=503)  # the first delivery fails: redelivered
    bridge.start()
    try:
        publisher.publish(topic, b'{"n": 1}', type="failed", cluster="a").result(10)
        publisher.publish(topic, b'{"n": 2}', type="succeeded", cluster="a").result(10)
        publisher.publish(topic, b'{"n": 3}', type="started", cluster="a").result(10)
        _wait(
            lambda: (
                len(receivers["reporter"].delivered()) == 1
                and len(receivers["perf"].delivered()) == 2
            )
        )
        time.sleep(2)  # nothing more arrives
    finally:
        bridge.stop()
    (reported,) = receivers["reporter"].delivered()
    assert reported.headers["ce-type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    body = reported.json()
    assert body["message"]["attributes"]["type"] == "failed"
    assert json.loads(base64.b64decode(body["message"]["data"])) == {"n": 1}
    assert len(receivers["reporter"].requests) == 2  # one 503, one success
    perf_types = sorted(
        r.json()["message"]["attributes"]["type"] for r in receivers["perf"].delivered()
    )
    assert perf_types == ["failed", "succeeded"]
    assert bridge.stats.retried == 1


def test_a_poison_message_ends_in_the_dead_letter_topic_and_nothing_else_stops(
    pubsub: Any, routes: Any, receivers: dict[str, WebhookReceiver]
) -> None:
    publisher, subscriber = pubsub
    topic, dead, subs = routes
    receivers["reporter"].fail_next(3, status=500)  # exactly the poison's 3 attempts
    bridge = Bridge(
        [Route("job_failure_reporter", receivers["reporter"].url, subs["job_failure_reporter"])],
        topic=topic,
        dead_letter_topic=dead,
        max_attempts=3,
        base_backoff_s=1,
    )
    bridge.start()
    try:
        publisher.publish(topic, b"poison", type="failed").result(10)
        _wait(lambda: bridge.stats.dead_lettered == 1, timeout=40)
        publisher.publish(topic, b'{"fine": true}', type="failed").result(10)
        _wait(lambda: len(receivers["reporter"].delivered()) == 1)
    finally:
        bridge.stop()
    response = subscriber.pull(subscription=subs["dead-letter"], max_messages=5, timeout=10)
    (letter,) = response.received_messages
    assert letter.message.data == b"poison"
    assert letter.message.attributes["deadLetterFunction"] == "job_failure_reporter"
    assert "answered 500 3 times" in letter.message.attributes["deadLetterReason"]


def test_deliveries_are_spread_over_every_instance_of_a_function(
    pubsub: Any, routes: Any, receivers: dict[str, WebhookReceiver]
) -> None:
    publisher, _ = pubsub
    topic, dead, subs = routes
    route = Route(
        "job_failure_reporter",
        receivers["reporter"].url,
        subs["job_failure_reporter"],
        replicas=(receivers["perf"].url,),
    )
    bridge = Bridge([route], topic=topic, dead_letter_topic=dead).start()
    try:
        for i in range(6):
            publisher.publish(topic, b"{}", type="failed", n=str(i)).result(10)
        _wait(lambda: bridge.stats.delivered == 6)
    finally:
        bridge.stop()
    assert len(receivers["reporter"].requests) == 3
    assert len(receivers["perf"].requests) == 3


def test_pstest_itself_dead_letters_a_pulled_message_after_max_delivery_attempts(
    pubsub: Any, stack: StackInfo
) -> None:
    """What the local Pub/Sub honours (ARCHITECTURE.md §4.3): a subscription's
    DeadLetterPolicy on pull, like Cloud Pub/Sub; it has no retry backoff and never pushes,
    so the bridge applies both (and adds `deadLetterReason`)."""
    publisher, subscriber = pubsub
    suffix = f"{time.monotonic_ns() % 10**9}"
    topic = publisher.topic_path(stack.pubsub_project, f"dl-src-{suffix}")
    dead = publisher.topic_path(stack.pubsub_project, f"dl-dead-{suffix}")
    for name in (topic, dead):
        publisher.create_topic(name=name)
    sub = subscriber.subscription_path(stack.pubsub_project, f"dl-src-{suffix}")
    dead_sub = subscriber.subscription_path(stack.pubsub_project, f"dl-dead-{suffix}")
    subscriber.create_subscription(
        request={
            "name": sub,
            "topic": topic,
            "ack_deadline_seconds": 10,
            "dead_letter_policy": {"dead_letter_topic": dead, "max_delivery_attempts": 5},
        }
    )
    subscriber.create_subscription(
        request={"name": dead_sub, "topic": dead, "ack_deadline_seconds": 10}
    )
    publisher.publish(topic, b"poison", kind="poison").result(10)
    attempts = []
    for _ in range(10):
        got = subscriber.pull(subscription=sub, max_messages=1, timeout=5).received_messages
        if not got:
            break
        attempts.append(got[0].delivery_attempt)
        subscriber.modify_ack_deadline(
            subscription=sub, ack_ids=[got[0].ack_id], ack_deadline_seconds=0
        )
    assert attempts == [1, 2, 3, 4, 5]
    (letter,) = subscriber.pull(subscription=dead_sub, max_messages=5, timeout=5).received_messages
    assert letter.message.data == b"poison"
    assert letter.message.attributes["kind"] == "poison"
