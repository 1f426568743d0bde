"""The real kubernetes-event-exporter v1.6.1 as a source: its own messages, through the functions.

The Go binary that `make tools` builds runs with the shipped
`infra/kubernetes-event-exporter/config.yaml` (leader election on, as shipped) against the
local stack and publishes to the Pub/Sub emulator. Ten Jobs fail; every message it
published is pulled as it is (data bytes, message id, no attributes) and posted to
`job_failure_reporter` as the Eventarc CloudEvent Pub/Sub would deliver, from the
cluster's own topic. Each failed Job must get exactly one report. Without the binary the
test skips, except with CI set, where it builds it (and fails if it cannot).
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from tests.support import event_exporter
from tests.support.kube import job_condition, job_manifest, wait_for
from tests.support.runtime import make_runtime

ROOT = Path(__file__).resolve().parents[2]
JOBS = 10


@dataclass(frozen=True)
class Published:
    """One message as kubernetes-event-exporter published it."""

    message_id: str
    data: bytes
    attributes: dict[str, str]
    publish_time: str

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value


def pull_all(subscriber: Any, subscription: str) -> list[Published]:
    from google.api_core import exceptions

    try:
        response = subscriber.pull(subscription=subscription, max_messages=500, timeout=2.0)
    except (exceptions.DeadlineExceeded, exceptions.RetryError, exceptions.Cancelled):
        return []
    received = list(response.received_messages)
    if received:
        subscriber.acknowledge(subscription=subscription, ack_ids=[r.ack_id for r in received])
    return [
        Published(
            r.message.message_id,
            bytes(r.message.data),
            dict(r.message.attributes),
            r.message.publish_time.isoformat().replace("+00:00", "Z"),
        )
        for r in received
    ]


def eventarc(message: Published, topic: str) -> tuple[dict[str, str], bytes]:
    """The binary-mode CloudEvent Eventarc delivers for `message` (ARCHITECTURE.md §4.3)."""
    body: dict[str, Any] = {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "messageId": message.message_id,
            "message_id": message.message_id,
            "publishTime": message.publish_time,
            "publish_time": message.publish_time,
        },
        "subscription": f"{topic.replace('/topics/', '/subscriptions/')}-reporter",
    }
    if message.attributes:
        body["message"]["attributes"] = message.attributes
    headers = {
        "ce-id": message.message_id,
        "ce-source": f"//pubsub.googleapis.com/{topic}",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "ce-time": message.publish_time,
        "Content-Type": "application/json",
    }
    return headers, json.dumps(body).encode()


@pytest.fixture
def exporter_topic(pubsub: Any, stack: StackInfo, namespace: str) -> tuple[str, str]:
    """The cluster's own topic and an unfiltered subscription (its messages have no attributes)."""
    publisher, subscriber = pubsub
    topic = publisher.topic_path(stack.pubsub_project, f"job-events-{namespace}")
    sub = subscriber.subscription_path(stack.pubsub_project, f"job-events-{namespace}-all")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic, ack_deadline_seconds=30)
    return topic, sub


@pytest.fixture
def runtime(stack: StackInfo, tmp_path: Path, exporter_topic: tuple[str, str]) -> Iterator[Runtime]:
    """Cluster `local` believes only its own topic, as a multi-cluster deployment would."""
    topic, _ = exporter_topic
    rt = make_runtime(
        stack,
        tmp_path / "reports",
        extra={
            "clusters": [{"name": "local", "kubeconfig": stack.kubeconfig, "pubsubTopic": topic}]
        },
    )
    set_default_runtime(rt)
    yield rt
    set_default_runtime(None)


@pytest.mark.timeout(900)  # with CI set and no cached binary, it is built first (minutes)
def test_real_kubernetes_event_exporter_messages_give_one_report_per_failed_job(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    pubsub: Any,
    exporter_topic: tuple[str, str],
    runtime: Runtime,
    tmp_path: Path,
) -> None:
    binary = event_exporter.binary()
    _, subscriber = pubsub
    topic, sub = exporter_topic
    cfg = event_exporter.config(
        cluster="local", namespace=namespace, project=stack.pubsub_project, topic=topic
    )
    log_path = tmp_path / "kubernetes-event-exporter.log"
    with log_path.open("w") as log:
        proc = event_exporter.start(
            binary,
            cfg,
            kubeconfig=stack.kubeconfig,
            pubsub_host=stack.pubsub_host,
            workdir=tmp_path / "kee",
            log=log,
        )
        try:
            names = [f"kee-{i:02d}" for i in range(JOBS)]
            jobs: dict[str, str] = {}
            for name in names:
                created = admin.create(
                    f"/apis/batch/v1/namespaces/{namespace}/jobs",
                    job_manifest(name, outcome="fail", exit_code=3),
                )
                jobs[created["metadata"]["uid"]] = name
            for name in names:
                wait_for(
                    lambda n=name: job_condition(admin, namespace, n, "Failed"),  # type: ignore[misc]
                    what=f"Job {name} Failed",
                    timeout=120,
                )
            published: list[Published] = []

            def announced() -> set[str]:
                published.extend(pull_all(subscriber, sub))
                assert proc.poll() is None, log_path.read_text()[-2000:]
                return {
                    m.event["involvedObject"].get("uid", "")
                    for m in published
                    if m.event["involvedObject"].get("kind") == "Job"
                    and m.event.get("reason") == "BackoffLimitExceeded"
                }

            # Events are best effort: wait for the job controller's Warning about every Job.
            wait_for(
                lambda: announced() >= set(jobs),
                what="kubernetes-event-exporter's BackoffLimitExceeded message for every Job",
                timeout=180,
            )
            published.extend(pull_all(subscriber, sub))
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    # kept beside the test's logs: what it published, to look at (and to scrub into fixtures)
    (tmp_path / "published.jsonl").write_text(
        "".join(json.dumps({"messageId": m.message_id, "data": m.event}) + "\n" for m in published)
    )
    # It is the real thing: its shape, its cluster name, no attributes, Pod events too.
    assert all(not m.attributes for m in published)
    assert {m.event["clusterName"] for m in published} == {"local"}
    kinds = Counter(m.event["involvedObject"]["kind"] for m in published)
    assert kinds["Job"] >= JOBS, kinds

    fn = create_app(
        "job_failure_reporter",
        str(ROOT / "functions" / "job_failure_reporter" / "main.py"),
        "cloudevent",
    ).test_client()
    for message in published:  # every message, in the order it was published, twice
        for _ in range(2):
            headers, body = eventarc(message, topic)
            assert fn.post("/", headers=headers, data=body).status_code == 200

    reports = [
        json.loads(p.read_text()) for p in (tmp_path / "reports").rglob("jobFailureReporter/*.json")
    ]
    per_job = Counter((r["cluster"], r["namespace"], r["jobUid"]) for r in reports)
    assert per_job == Counter({("local", namespace, uid): 1 for uid in jobs}), per_job
    for report in reports:
        name = jobs[report["jobUid"]]
        assert report["job"] == name
        assert report["title"].startswith(f"Job {namespace}/{name} failed")
        assert report["severity"] == "error"
