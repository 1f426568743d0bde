"""Nothing lost, nothing doubled: exporter restarts, webhook outages, poison messages."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from jobwarden.kubeapi import KubeApi
from jobwarden.localstack.embedded import Pipeline
from jobwarden.localstack.processes import free_ports, stop_pid
from jobwarden.localstack.stack import StackInfo
from tests.support.kube import job_condition, job_manifest, wait_for
from tests.support.webhook import WebhookReceiver


def _reports(root: Path, ns: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in root.glob(f"*/{ns}/*/*/jobFailureReporter/*.json")]


def _until(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_failures_while_the_exporter_is_down_are_reported_once_after_it_restarts(
    stack: StackInfo, admin: KubeApi, tmp_path: Path
) -> None:
    ns = f"res-{uuid.uuid4().hex[:6]}"
    admin.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    reports = tmp_path / "reports"
    pipeline = Pipeline(
        [stack],
        tmp_path / "run",
        reports,
        lambda _: None,
        functions=("job_failure_reporter",),
        topic_id=f"t-{uuid.uuid4().hex[:8]}",
        namespaces=(ns,),
    )
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
    receiver.fail_for(8, status=500)
    pipeline = Pipeline(
        [stack],
        tmp_path / "run",
        tmp_path / "reports",
        lambda _: None,
        functions=("job_failure_reporter",),
        topic_id=f"t-{uuid.uuid4().hex[:8]}",
        namespaces=(ns,),
        env={"HOOK_URL": receiver.url + "/hook"},
        config_extra="",
    )
    pipeline.config_extra = ""  # webhooks go in the sinks block below
    pipeline.start()
    try:
        # rewrite the config with a webhook (functions read it on their first event)
        text = pipeline.config.read_text().replace(
            "sinks:\n", "sinks:\n  webhooks:\n  - {name: oncall, type: json, urlEnv: HOOK_URL}\n"
        )
        pipeline.config.write_text(text)
        admin.create(
            f"/apis/batch/v1/namespaces/{ns}/jobs", job_manifest("flaky-hook", outcome="fail")
        )
        _until(lambda: len(receiver.delivered()) == 1, timeout=90)
        time.sleep(3)
        (post,) = receiver.delivered()
        assert post.json()["job"] == "flaky-hook"
        assert len(receiver.requests) > 1  # it was failing, and was retried
        assert len([r for r in receiver.delivered() if r.json()["job"] == "flaky-hook"]) == 1
    finally:
        pipeline.stop()
        receiver.stop()
