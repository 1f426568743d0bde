"""CronJob runs grouped, on the real cronjob controller: one full report, follow-ups, recovered.

A CronJob scheduled every minute runs on the local stack's real cronjob and job controllers
(pods played by KWOK, README "Pod outcomes chosen by the test"); the real exporter
publishes to the Pub/Sub emulator, the push bridge delivers through the production
subscription filter (`failed`, and `succeeded` of CronJobs' runs) to the failure reporter,
which posts to a Slack-shaped and a JSON webhook on loopback. The CronJob keeps its default
history limits, so the controller deletes the first failed run's Job when the second fails:
the streak comes from the reporter's own run records.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.embedded import Pipeline
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.kube import job_manifest
from tests.support.webhook import Received, WebhookReceiver

OUTCOME = "sim.jobwarden.dev/outcome"


def _until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(1.0)


def _posts(receiver: WebhookReceiver, path: str) -> list[Received]:
    return [r for r in receiver.delivered() if r.path == path]


def _header(post: Received) -> str:
    return str(post.json()["blocks"][0]["text"]["text"])


def _stored(reports: Path, ns: str) -> list[dict[str, Any]]:
    found = reports.glob(f"*/{ns}/*/*/jobFailureReporter/*.json")
    return sorted((json.loads(p.read_text()) for p in found), key=lambda r: r["createdAt"])


def test_a_cronjob_failing_twice_then_succeeding_posts_a_report_a_follow_up_and_recovered(
    stack: StackInfo, admin: KubeApi, tmp_path: Path
) -> None:
    ns = f"cron-{uuid.uuid4().hex[:6]}"
    admin.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    template = job_manifest(
        "x", outcome="fail", exit_code=4, logs="syncing\nERROR: upstream 503", backoff_limit=0
    )["spec"]
    cronjobs = f"/apis/batch/v1/namespaces/{ns}/cronjobs"
    receiver = WebhookReceiver().start()
    reports = tmp_path / "reports"
    pipeline = Pipeline(
        [stack],
        tmp_path / "run",
        reports,
        lambda _: None,
        functions=("job_failure_reporter",),
        topic_id=f"t-{uuid.uuid4().hex[:8]}",
        namespaces=(ns,),
        env={"SLACK_URL": receiver.url + "/slack", "JSON_URL": receiver.url + "/json"},
        webhooks=(
            "  - {name: oncall, type: slack, urlEnv: SLACK_URL}\n"
            "  - {name: machine, type: json, urlEnv: JSON_URL}\n"
        ),
    )
    pipeline.start()
    try:
        admin.create(
            cronjobs,
            {
                "metadata": {"name": "nightly-sync"},
                "spec": {
                    "schedule": "* * * * *",
                    "concurrencyPolicy": "Forbid",
                    "jobTemplate": {"spec": template},
                },
            },
        )
        _until(lambda: len(_posts(receiver, "/slack")) >= 2, 200, "two failed runs reported")
        # the cause is fixed: the next run succeeds
        admin.merge_patch(
            f"{cronjobs}/nightly-sync",
            {
                "spec": {
                    "jobTemplate": {
                        "spec": {"template": {"metadata": {"labels": {OUTCOME: "succeed"}}}}
                    }
                }
            },
        )
        _until(lambda: len(_posts(receiver, "/slack")) >= 3, 150, "the recovered message")
        time.sleep(5)  # and nothing more (redeliveries, the exporter's re-announcements)
        full, follow_up, recovered = _posts(receiver, "/slack")
        assert f"CronJob {ns}/nightly-sync: run nightly-sync-" in _header(full)
        assert "exited with code 4" in _header(full)
        assert _header(follow_up).endswith(
            f"CronJob {ns}/nightly-sync failed again (2 runs in a row)"
        )
        assert _header(recovered).endswith("succeeded after 2 failed runs")
        first, second, third = (p.json() for p in _posts(receiver, "/json"))
        assert second["cronJob"]["followUpOf"] == first["id"]
        assert third["cronJob"]["outcome"] == "recovered" and third["severity"] == "info"
        # every report is stored in full; the controller kept only the newest failed Job
        stored = _stored(reports, ns)
        assert [r["id"] for r in stored] == [first["id"], second["id"], third["id"]]
        assert any(b["type"] == "log" for b in stored[1]["blocks"])
        kept = admin.get(f"/apis/batch/v1/namespaces/{ns}/jobs")["items"]
        assert first["job"] not in {j["metadata"]["name"] for j in kept}
    finally:
        pipeline.stop()
        receiver.stop()
