"""Nothing lost, nothing doubled: exporter restarts, webhook outages, poison messages."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobwarden.jobevent import pubsub_attributes
from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.embedded import Pipeline
from jobwarden_dev.localstack.processes import free_ports, stop_pid
from jobwarden_dev.localstack.stack import LocalStack, StackInfo
from tests.support.events import job_event
from tests.support.kube import job_condition, job_manifest, unreachable_kubeconfig, wait_for
from tests.support.webhook import WebhookReceiver


def _reports(root: Path, ns: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in root.glob(f"*/{ns}/*/*/jobFailureReporter/*.json")]


def _until(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def _reporter(info: StackInfo, tmp_path: Path, ns: str, **options: Any) -> Pipeline:
    """The failure reporter's pipeline for one namespace, on its own topic (not started)."""
    return Pipeline(
        [info],
        tmp_path / "run",
        tmp_path / "reports",
        lambda _: None,
        functions=("job_failure_reporter",),
        topic_id=f"t-{uuid.uuid4().hex[:8]}",
        namespaces=(ns,),
        **options,
    )


def test_failures_while_the_exporter_is_down_are_reported_once_after_it_restarts(
    stack: StackInfo, admin: KubeApi, tmp_path: Path
) -> None:
    ns = f"res-{uuid.uuid4().hex[:6]}"
    admin.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    reports = tmp_path / "reports"
    pipeline = _reporter(stack, tmp_path, ns)
    pipeline.start()
    try:
        admin.create(f"/apis/batch/v1/namespaces/{ns}/jobs", job_manifest("before", outcome="fail"))
        _until(lambda: len(_reports(reports, ns)) == 1)
        exporter = next(p for p in pipeline.processes if p.name.startswith("exporter"))
        stop_pid(exporter.pid)
        pipeline.processes.remove(exporter)
        for name in ("while-down-1", "while-down-2"):
            admin.create(
                f"/apis/batch/v1/namespaces/{ns}/jobs", job_manifest(name, outcome="oomkill")
            )
        for name in ("while-down-1", "while-down-2"):
            wait_for(lambda name=name: job_condition(admin, ns, name, "Failed"), timeout=60)
        time.sleep(1)
        assert len(_reports(reports, ns)) == 1  # nobody is watching
        (port,) = free_ports(1)
        pipeline.start_exporter(stack, port)  # reconciles at start
        _until(lambda: len(_reports(reports, ns)) == 3)
        time.sleep(3)  # and nothing more: the first failure is not reported again
        jobs = sorted(r["job"] for r in _reports(reports, ns))
        assert jobs == ["before", "while-down-1", "while-down-2"]
    finally:
        pipeline.stop()


def test_a_webhook_down_for_a_while_gets_the_report_exactly_once_when_it_recovers(
    stack: StackInfo, admin: KubeApi, tmp_path: Path
) -> None:
    ns = f"hook-{uuid.uuid4().hex[:6]}"
    admin.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    receiver = WebhookReceiver().start()
    # down for its first three posts, whenever they come (a clock-based outage could end
    # before the first post on a loaded machine and test nothing)
    receiver.fail_next(3, status=500)
    pipeline = _reporter(
        stack,
        tmp_path,
        ns,
        env={"HOOK_URL": receiver.url + "/hook"},
        webhooks="  - {name: oncall, type: json, urlEnv: HOOK_URL}\n",
    )
    pipeline.start()
    try:
        admin.create(
            f"/apis/batch/v1/namespaces/{ns}/jobs", job_manifest("flaky-hook", outcome="fail")
        )
        _until(lambda: len(receiver.delivered()) == 1, timeout=90)
        time.sleep(3)
        (post,) = receiver.delivered()
        assert post.json()["job"] == "flaky-hook"
        assert len(receiver.requests) == 4  # three refused, retried by the platform, one taken
        assert len([r for r in receiver.delivered() if r.json()["job"] == "flaky-hook"]) == 1
    finally:
        pipeline.stop()
        receiver.stop()


@pytest.fixture
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack of its own, so restarting its API server disturbs no other test."""
    stack = LocalStack(tmp_path_factory.mktemp("stack-restart"), name="restarting")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def _metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    pattern = rf"^jobwarden_exporter_{name}(?:{{[^}}]*}})? ([0-9.e+]+)$"
    return sum(float(m) for m in re.findall(pattern, text, flags=re.MULTILINE))


def test_an_api_server_restart_mid_watch_misses_no_failure_and_doubles_none(
    restartable: LocalStack, tmp_path: Path
) -> None:
    info = restartable.info
    assert info is not None
    admin = KubeApi(info.admin_credentials(), timeout=10.0)
    ns = f"apirs-{uuid.uuid4().hex[:6]}"
    admin.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    reports = tmp_path / "reports"
    pipeline = _reporter(info, tmp_path, ns)
    pipeline.start()
    try:
        exporter = next(p for p in pipeline.processes if p.name.startswith("exporter"))
        metrics_port = int(exporter.argv[exporter.argv.index("--port") + 1])
        jobs = f"/apis/batch/v1/namespaces/{ns}/jobs"
        admin.create(jobs, job_manifest("before", outcome="fail"))
        _until(lambda: len(_reports(reports, ns)) == 1)
        restarts_before = _metric(metrics_port, "watch_restarts_total")
        # pods that end while the API server is away, or just as it comes back
        for index, after in enumerate((2, 3, 5)):
            admin.create(jobs, job_manifest(f"across-{index}", outcome="fail", after=after))
        restartable.restart_apiserver(down_for=4.0)
        admin = KubeApi(info.admin_credentials(), timeout=10.0)
        admin.create(jobs, job_manifest("after", outcome="oomkill"))
        expected = ["across-0", "across-1", "across-2", "after", "before"]
        _until(lambda: len(_reports(reports, ns)) >= len(expected), timeout=120)
        time.sleep(3)  # and nothing more arrives: no failure is reported twice
        assert sorted(r["job"] for r in _reports(reports, ns)) == expected
        # the exporter's watches really broke and were re-established
        assert _metric(metrics_port, "watch_restarts_total") > restarts_before
        assert exporter.alive()
    finally:
        pipeline.stop()


def test_a_poison_message_goes_to_the_dead_letter_topic_through_the_real_function(
    stack: StackInfo, admin: KubeApi, tmp_path: Path
) -> None:
    """A failed Job on a cluster whose API cannot be reached is retried, then dead-lettered."""
    from google.cloud import pubsub_v1

    ns = f"poison-{uuid.uuid4().hex[:6]}"
    admin.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    jobs = f"/apis/batch/v1/namespaces/{ns}/jobs"
    admin.create(jobs, job_manifest("template", outcome="fail"))
    wait_for(lambda: job_condition(admin, ns, "template", "Failed"), timeout=60)
    # "ghost" is configured, but its API server address answers nobody
    ghost = unreachable_kubeconfig(tmp_path / "ghost.kubeconfig", stack)
    reports = tmp_path / "reports"
    pipeline = _reporter(
        stack, tmp_path, ns, extra_clusters=(("ghost", str(ghost)),), max_attempts=3
    )
    pipeline.start()
    try:
        poison = job_event(admin.get(f"{jobs}/template"), cluster="ghost")
        publisher = pubsub_v1.PublisherClient()
        publisher.publish(pipeline.topic, poison.to_json(), **pubsub_attributes(poison)).result(10)
        # meanwhile a real failure flows through the same function and bridge
        admin.create(jobs, job_manifest("healthy", outcome="fail"))
        _until(lambda: any(r["job"] == "healthy" for r in _reports(reports, ns)), timeout=90)
        bridge = pipeline.bridge
        assert bridge is not None
        _until(lambda: bridge.stats.dead_lettered == 1, timeout=120)
        subscriber = pubsub_v1.SubscriberClient()
        response = subscriber.pull(
            subscription=pipeline.subscriptions["dead-letter"], max_messages=5, timeout=10
        )
        (letter,) = response.received_messages
        assert json.loads(letter.message.data)["cluster"] == "ghost"
        assert letter.message.attributes["deadLetterFunction"] == "job_failure_reporter"
        assert "3 times" in letter.message.attributes["deadLetterReason"]
        # every real failure reported once (the template too: the exporter saw it at start);
        # nothing under the ghost cluster
        assert sorted(r["job"] for r in _reports(reports, ns)) == ["healthy", "template"]
        assert not list(reports.glob("ghost/**/*.json"))
        # each attempt logged one line naming the Job and why, not a traceback
        log = (tmp_path / "run" / "logs" / "job_failure_reporter.log").read_text()
        retried = [line for line in log.splitlines() if "will be retried" in line]
        assert len(retried) == 3
        assert f"[ghost {ns}/template]" in retried[0]
        assert "cannot reach the API server" in retried[0]
        assert "Traceback" not in log
    finally:
        pipeline.stop()
