"""The exporter's publisher: message shape, buffer, retries with backoff, drops counted."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

import pytest

from jobwarden.jobevent import JobEvent, event_id
from jobwarden_exporter.metrics import Metrics
from jobwarden_exporter.publisher import BufferedPublisher, PublishRejectedError, message_for

TOPIC = "projects/p/topics/job-events"


def job_event(name: str = "nightly", transition: str = "failed", **extra: Any) -> JobEvent:
    data: dict[str, Any] = {
        "cluster": "prod-eu",
        "namespace": "batch",
        "name": name,
        "uid": f"uid-{name}",
        "transition": transition,
        "reason": "BackoffLimitExceeded" if transition == "failed" else "",
        "time": "2026-05-01T02:03:04Z",
    }
    if transition == "event":
        data["event"] = {"metadata": {"uid": f"ev-{name}"}, "count": 1, "type": "Warning"}
        data["reason"] = "BackOff"
    return JobEvent.model_validate({**data, **extra})


class FakeClient:
    """Records publishes; `mode` decides each publish's fate: ok, fail, hold, raise, reject."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.published: list[tuple[bytes, dict[str, str]]] = []
        self.attempts = 0
        self.held: list[Future[str]] = []
        self.outstanding = 0
        self.max_outstanding = 0
        self._lock = threading.Lock()

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> Future[str]:
        assert topic == TOPIC
        with self._lock:
            self.attempts += 1
            mode = self.mode
            if mode == "raise":
                raise RuntimeError("client closed")
            future: Future[str] = Future()
            if mode == "ok":
                self.published.append((data, dict(attributes)))
                future.set_result(str(self.attempts))
            elif mode == "fail":
                future.set_exception(ConnectionError("503 failed to connect to all addresses"))
            elif mode == "reject":
                future.set_exception(PublishRejectedError("invalid message"))
            else:
                self.held.append(future)
                self.outstanding += 1
                self.max_outstanding = max(self.max_outstanding, self.outstanding)
            return future

    def release(self) -> None:
        with self._lock:
            held, self.held = self.held, []
            self.outstanding = 0
        for future in held:
            future.set_result("late")


def publisher(client: FakeClient, **kwargs: Any) -> BufferedPublisher:
    kwargs.setdefault("backoff", (0.01, 0.05))
    kwargs.setdefault("ack_timeout", 1.0)
    return BufferedPublisher(client, TOPIC, metrics=Metrics(cluster="prod-eu"), **kwargs)


def wait_until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


def test_a_message_carries_the_job_event_json_filter_attributes_and_cloudevent_context() -> None:
    event = job_event()
    data, attributes = message_for(event)
    assert data == event.to_json()
    assert attributes == {
        "type": "failed",
        "cluster": "prod-eu",
        "namespace": "batch",
        "job": "nightly",
        "reason": "BackoffLimitExceeded",
        "ce-specversion": "1.0",
        "ce-id": event_id("prod-eu", "uid-nightly", "failed"),
        "ce-source": "//jobwarden/clusters/prod-eu",
        "ce-type": "dev.jobwarden.job.v1.failed",
        "ce-subject": "batch/nightly",
        "ce-datacontenttype": "application/json",
        "ce-time": "2026-05-01T02:03:04Z",
    }


def test_the_same_transition_always_gets_the_same_id() -> None:
    assert message_for(job_event())[1]["ce-id"] == message_for(job_event())[1]["ce-id"]
    assert message_for(job_event())[1]["ce-id"] != message_for(job_event(name="b"))[1]["ce-id"]


def test_submitted_events_are_published_and_counted() -> None:
    client = FakeClient()
    pub = publisher(client).start()
    assert pub.submit(job_event("a")) and pub.submit(job_event("b", "succeeded"))
    assert pub.flush(5)
    assert sorted(a["job"] for _, a in client.published) == ["a", "b"]
    assert pub.metrics.value("published_total", transition="failed") == 1
    assert pub.metrics.value("published_total", transition="succeeded") == 1
    assert len(pub) == 0 and pub.lag() == 0
    assert "jobwarden_exporter_publish_latency_seconds_count" in pub.metrics.render()
    pub.stop()


def test_while_pubsub_is_unreachable_events_wait_and_are_all_published_once_after() -> None:
    client = FakeClient("fail")
    pub = publisher(client).start()
    for i in range(20):
        pub.submit(job_event(f"job-{i}"))
    wait_until(lambda: client.attempts >= 30)  # a round of 20, then probes of one
    assert len(pub) == 20 and client.published == []
    assert pub.metrics.value("publish_retries_total") >= 30
    client.mode = "ok"
    assert pub.flush(5)
    jobs = [a["job"] for _, a in client.published]
    assert sorted(jobs) == sorted(f"job-{i}" for i in range(20))  # each exactly once
    assert pub.metrics.value("dropped_total") == 0
    pub.stop()


def test_backoff_grows_between_failed_rounds() -> None:
    client = FakeClient("fail")
    pub = publisher(client, backoff=(0.05, 10.0)).start()
    pub.submit(job_event())
    wait_until(lambda: client.attempts >= 3)  # rounds at ~0, 0.05, 0.15, 0.35, 0.75, ...
    time.sleep(0.3)
    assert client.attempts <= 8  # a handful, not hundreds (fewer under load is fine)
    pub.stop(timeout=0)


def test_while_unreachable_each_retry_probes_with_one_message_then_all_follow() -> None:
    client = FakeClient("fail")
    pub = publisher(client, backoff=(2.0, 2.0))
    for i in range(50):  # queued before the thread runs, so the first round holds all 50
        pub.submit(job_event(f"job-{i}"))
    pub.start()
    # no sleeps to count on: wait for the first round, then for the first retry, which
    # must be a single message (a full resend would take attempts straight to 100)
    wait_until(lambda: client.attempts >= 50)
    wait_until(lambda: client.attempts >= 51)
    assert client.attempts <= 52
    client.mode = "ok"
    assert pub.flush(5)
    assert len(client.published) == 50
    pub.stop()


def test_a_client_that_raises_on_publish_is_retried() -> None:
    client = FakeClient("raise")
    pub = publisher(client).start()
    pub.submit(job_event())
    wait_until(lambda: client.attempts >= 3)
    client.mode = "ok"
    assert pub.flush(5) and len(client.published) == 1
    pub.stop()


def test_a_rejected_message_is_dropped_counted_and_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = FakeClient("reject")
    pub = publisher(client).start()
    pub.submit(job_event())
    assert pub.flush(5)
    assert client.attempts == 1
    assert pub.metrics.value("dropped_total", transition="failed", reason="rejected") == 1
    assert "[prod-eu batch/nightly] failed (uid uid-nightly)" in caplog.text
    pub.stop()


def test_a_full_buffer_drops_the_new_event_counts_it_and_logs_the_job(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = FakeClient("hold")
    pub = publisher(client, capacity=2).start()
    assert pub.submit(job_event("a")) and pub.submit(job_event("b"))
    with caplog.at_level(logging.ERROR, logger="jobwarden.exporter"):
        assert not pub.submit(job_event("c"))
    assert pub.metrics.value("dropped_total", transition="failed", reason="buffer_full") == 1
    assert "dropped [prod-eu batch/c] failed (uid uid-c): buffer full (buffer 2/2)" in caplog.text
    wait_until(lambda: len(client.held) == 2)
    client.mode = "ok"
    client.release()
    assert pub.flush(5)
    pub.stop()


def test_a_full_buffer_evicts_a_relayed_event_to_keep_a_state_transition() -> None:
    client = FakeClient("fail")
    pub = publisher(client, capacity=2, backoff=(5.0, 5.0)).start()
    pub.submit(job_event("a", "event"))
    pub.submit(job_event("b"))
    wait_until(lambda: client.attempts >= 2)  # first round failed; next one in 5 s
    assert pub.submit(job_event("c"))
    assert pub.metrics.value("dropped_total", transition="event", reason="evicted") == 1
    assert not pub.submit(job_event("d", "event"))
    assert pub.metrics.value("dropped_total", transition="event", reason="buffer_full") == 1
    client.mode = "ok"
    pub.stop(timeout=5)
    assert sorted(a["job"] for _, a in client.published) == ["b", "c"]


def test_in_flight_messages_are_bounded() -> None:
    client = FakeClient("hold")
    pub = publisher(client, max_in_flight=5).start()
    for i in range(12):
        pub.submit(job_event(f"j{i}"))
    wait_until(lambda: client.outstanding == 5)
    time.sleep(0.1)
    assert client.max_outstanding == 5
    client.mode = "ok"
    client.release()
    assert pub.flush(5)
    assert client.max_outstanding == 5 and len(pub) == 0
    pub.stop()


def test_stop_publishes_what_is_queued_first() -> None:
    client = FakeClient("fail")
    pub = publisher(client, backoff=(10.0, 10.0)).start()
    pub.submit(job_event())
    wait_until(lambda: client.attempts >= 1)
    client.mode = "ok"
    assert pub.stop(timeout=5) == 0  # stop retries at once instead of waiting out the backoff
    assert len(client.published) == 1


def test_stop_drops_what_cannot_be_published_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = FakeClient("fail")
    pub = publisher(client).start()
    pub.submit(job_event("a"))
    pub.submit(job_event("b", "succeeded"))
    assert pub.stop(timeout=0.3) == 2
    assert pub.metrics.value("dropped_total", reason="shutdown", transition="failed") == 1
    assert pub.metrics.value("dropped_total", reason="shutdown", transition="succeeded") == 1
    assert "dropped [prod-eu batch/a] failed" in caplog.text
    assert not pub.submit(job_event("late"))
    assert pub.metrics.value("dropped_total", reason="stopped", transition="failed") == 1


def test_lag_is_the_age_of_the_oldest_waiting_event() -> None:
    now = [100.0]
    client = FakeClient("fail")
    pub = BufferedPublisher(client, TOPIC, clock=lambda: now[0], backoff=(1e9, 1e9))
    pub.submit(job_event("a"))
    now[0] = 130.0
    pub.submit(job_event("b"))
    assert pub.lag() == 30.0
    assert pub.metrics.value("publish_lag_seconds") == 30.0
    assert pub.metrics.value("buffer_size") == 2


def test_metrics_render_in_prometheus_text_format() -> None:
    metrics = Metrics(cluster="prod-eu")
    metrics.inc("transitions_total", transition="failed")
    metrics.inc("watch_restarts_total", resource="jobs", reason="expired")
    metrics.set("is_leader", 1)
    metrics.compute("buffer_size", lambda: 3)
    text = metrics.render()
    assert "# TYPE jobwarden_exporter_transitions_total counter" in text
    assert 'jobwarden_exporter_transitions_total{cluster="prod-eu",transition="failed"} 1' in text
    assert (
        'jobwarden_exporter_watch_restarts_total{cluster="prod-eu",reason="expired",'
        'resource="jobs"} 1'
    ) in text
    assert 'jobwarden_exporter_is_leader{cluster="prod-eu"} 1' in text
    assert 'jobwarden_exporter_buffer_size{cluster="prod-eu"} 3' in text
    assert 'jobwarden_exporter_dropped_total{cluster="prod-eu"} 0' in text  # counters start at 0
    assert "# TYPE jobwarden_exporter_publish_latency_seconds summary" in text
