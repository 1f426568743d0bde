"""The failure reporter and enrichers, through functions-framework, on real failing Jobs.

Triggers are Eventarc-shaped Pub/Sub CloudEvents carrying both payload formats; the
webhook is a real HTTP receiver; storage is a folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden.sinks.webhooks import verify_signature
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.events import eventarc, from_event_exporter, from_jobwarden, job_event
from tests.support.kube import job_condition, job_manifest, unreachable_kubeconfig, wait_for
from tests.support.runtime import make_runtime
from tests.support.webhook import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-hmac-secret"


def client(name: str, signature: str = "cloudevent") -> Any:
    return create_app(
        name, str(ROOT / "functions" / name.removesuffix("_http") / "main.py"), signature
    ).test_client()


@pytest.fixture
def runtime(stack: StackInfo, tmp_path: Path, webhook: WebhookReceiver) -> Iterator[Runtime]:
    rt = make_runtime(
        stack,
        tmp_path / "reports",
        extra={
            "sinks": {
                "storage": {"url": f"file://{tmp_path / 'reports'}"},
                "webhooks": [
                    {
                        "name": "audit",
                        "type": "json",
                        "urlEnv": "HOOK_URL",
                        "secretEnv": "HOOK_SECRET",
                    }
                ],
            }
        },
        env={"HOOK_URL": webhook.url + "/hook", "HOOK_SECRET": SECRET},
    )
    set_default_runtime(rt)
    yield rt
    set_default_runtime(None)


def failed_job(admin: KubeApi, ns: str, name: str, **kw: Any) -> dict[str, Any]:
    admin.create(f"/apis/batch/v1/namespaces/{ns}/jobs", job_manifest(name, **kw))
    wait_for(lambda: job_condition(admin, ns, name, "Failed"), what=f"{name} Failed", timeout=90)
    return admin.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}")


def stored_reports(root: Path, workflow: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in root.rglob(f"{workflow}/*.json")]


def test_failed_job_gets_one_report_and_one_post_however_often_and_whoever_announces_it(
    admin: KubeApi, namespace: str, runtime: Runtime, webhook: WebhookReceiver, tmp_path: Path
) -> None:
    job = failed_job(
        admin,
        namespace,
        "import",
        outcome="fail",
        exit_code=2,
        after=2,  # gives KWOK time to load the pod's Logs object before the pod ends
        logs='reading input\nERROR: relation "orders" does not exist',
    )
    fn = client("job_failure_reporter")
    headers, body = from_jobwarden(job_event(job, cluster="local"), "m-1")
    for _ in range(3):  # the same message redelivered
        assert fn.post("/", headers=headers, data=body).status_code == 200
    # the same failure announced by kubernetes-event-exporter
    events = admin.get(f"/api/v1/namespaces/{namespace}/events")["items"]
    k8s = next(e for e in events if e["reason"] == "BackoffLimitExceeded")
    h2, b2 = from_event_exporter(k8s, job, cluster="local", message_id="m-2")
    assert fn.post("/", headers=h2, data=b2).status_code == 200

    (report,) = stored_reports(tmp_path / "reports", "jobFailureReporter")
    assert report["title"].startswith(f"Job {namespace}/import failed: Container `main` exited")
    assert 'ERROR: relation "orders" does not exist' in report["title"]
    assert report["severity"] == "error"
    kinds = [b["type"] for b in report["blocks"]]
    assert {"markdown", "fields", "timeline", "log"} <= set(kinds)
    (post,) = webhook.delivered()
    assert post.json()["id"] == report["id"]
    assert verify_signature(
        SECRET,
        post.headers["X-Jobwarden-Timestamp"],
        post.body,
        post.headers["X-Jobwarden-Signature"],
    )
    md = next((tmp_path / "reports").rglob("jobFailureReporter/*.md")).read_text()
    assert "Next steps" in md


def test_webhook_outage_is_retried_by_the_platform_and_posts_once(
    admin: KubeApi, namespace: str, runtime: Runtime, webhook: WebhookReceiver
) -> None:
    job = failed_job(admin, namespace, "oom", outcome="oomkill")
    fn = client("job_failure_reporter")
    headers, body = from_jobwarden(job_event(job, cluster="local"), "m-oom")
    webhook.fail_next(100, status=503)
    assert fn.post("/", headers=headers, data=body).status_code == 500  # retry me
    webhook.fail_next(0)
    assert fn.post("/", headers=headers, data=body).status_code == 200
    assert fn.post("/", headers=headers, data=body).status_code == 200
    (post,) = webhook.delivered()
    assert "OOMKilled" in post.json()["title"]


def test_a_failure_reported_before_is_answered_from_storage_without_reading_the_cluster(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    runtime: Runtime,
    webhook: WebhookReceiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = failed_job(admin, namespace, "again", outcome="fail")
    fn = client("job_failure_reporter")
    headers, body = from_jobwarden(job_event(job, cluster="local"), "m-again-1")
    assert fn.post("/", headers=headers, data=body).status_code == 200
    # An exporter restart announces every finished Job again; meanwhile the cluster's API
    # cannot be reached at all. The answer must come from storage alone.
    unreachable = unreachable_kubeconfig(tmp_path / "unreachable.kubeconfig", stack)
    sinks = runtime.settings.model_dump(by_alias=True, mode="json")["sinks"]
    set_default_runtime(
        make_runtime(
            stack,
            tmp_path / "reports",
            extra={"clusters": [{"name": "local", "kubeconfig": str(unreachable)}], "sinks": sinks},
            env=dict(runtime.env),
        )
    )
    headers, body = from_jobwarden(job_event(job, cluster="local"), "m-again-2")
    assert fn.post("/", headers=headers, data=body).status_code == 200
    assert len(stored_reports(tmp_path / "reports", "jobFailureReporter")) == 1
    assert len(webhook.delivered()) == 1
    assert "already stored" in caplog.text
    assert "cannot reach the API server" not in caplog.text


def test_malformed_event_is_acknowledged_and_writes_nothing(
    runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fn = client("job_failure_reporter")
    headers, body = eventarc(b"this is not json", message_id="poison-1")
    assert fn.post("/", headers=headers, data=body).status_code == 200
    assert "poison-1" in caplog.text
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").rglob("*.json"))


def test_disabled_workflow_acknowledges_and_writes_nothing(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    tmp_path: Path,
    webhook: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rt = make_runtime(
        stack,
        tmp_path / "reports",
        extra={"workflows": {"jobWorkflows": {"jobFailureReporter": {"enabled": False}}}},
    )
    set_default_runtime(rt)
    try:
        job = failed_job(admin, namespace, "off", outcome="fail")
        headers, body = from_jobwarden(job_event(job, cluster="local"), "m-off")
        assert (
            client("job_failure_reporter").post("/", headers=headers, data=body).status_code == 200
        )
    finally:
        set_default_runtime(None)
    assert "disabled" in caplog.text
    assert not (tmp_path / "reports").exists()
    assert webhook.requests == []


def test_failure_report_without_logs_and_events_when_configured_so(
    stack: StackInfo, admin: KubeApi, namespace: str, tmp_path: Path
) -> None:
    rt = make_runtime(
        stack,
        tmp_path / "reports",
        extra={
            "workflows": {
                "jobWorkflows": {
                    "jobFailureReporter": {"includeLogs": False, "includeEvents": False}
                }
            }
        },
    )
    set_default_runtime(rt)
    try:
        job = failed_job(admin, namespace, "quiet", outcome="fail", logs="secret stuff")
        headers, body = from_jobwarden(job_event(job, cluster="local"), "m-q")
        assert (
            client("job_failure_reporter").post("/", headers=headers, data=body).status_code == 200
        )
    finally:
        set_default_runtime(None)
    (report,) = stored_reports(tmp_path / "reports", "jobFailureReporter")
    kinds = {b["type"] for b in report["blocks"]}
    assert "log" not in kinds and "timeline" not in kinds


def test_cronjob_failures_are_counted_under_the_cronjob(
    admin: KubeApi, namespace: str, runtime: Runtime, tmp_path: Path
) -> None:
    cron = admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/cronjobs",
        {
            "metadata": {"name": "nightly"},
            "spec": {
                "schedule": "0 3 * * *",
                # the default failedJobsHistoryLimit (1) makes the controller delete older runs
                "failedJobsHistoryLimit": 5,
                "jobTemplate": {"spec": job_manifest("x", outcome="fail")["spec"]},
            },
        },
    )
    owner = [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "nightly",
            "uid": cron["metadata"]["uid"],
            "controller": True,
        }
    ]
    jobs = []
    for i in (1, 2):
        manifest = {
            "metadata": {"name": f"nightly-{i}", "ownerReferences": owner},
            "spec": cron["spec"]["jobTemplate"]["spec"],
        }
        admin.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", manifest)
        wait_for(lambda i=i: job_condition(admin, namespace, f"nightly-{i}", "Failed"), timeout=60)
        jobs.append(admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/nightly-{i}"))
    headers, body = from_jobwarden(job_event(jobs[1], cluster="local"), "m-n2")
    assert client("job_failure_reporter").post("/", headers=headers, data=body).status_code == 200
    (report,) = stored_reports(tmp_path / "reports", "jobFailureReporter")
    cron_block = next(b for b in report["blocks"] if b.get("title") == "CronJob nightly")
    fields = {f["name"]: f["value"] for f in cron_block["fields"]}
    assert fields["Consecutive failed runs"] == "2"
    assert fields["Last success"] == "never (in history)"
    assert "has failed 2 runs in a row" in report["summary"]


def test_enrichers_on_events_and_on_request(
    admin: KubeApi,
    namespace: str,
    runtime: Runtime,
    tmp_path: Path,
    mint_token: Callable[..., str],
) -> None:
    job = failed_job(admin, namespace, "enrich-me", outcome="fail", backoff_limit=2, logs="boom")
    headers, body = from_jobwarden(job_event(job, cluster="local"), "m-e")
    for name in ("job_info_enricher", "job_events_enricher", "job_pod_enricher"):
        assert client(name).post("/", headers=headers, data=body).status_code == 200
    (info,) = stored_reports(tmp_path / "reports", "jobInfoEnricher")
    assert "backoffLimit is 2 while every retry failed the same way" in json.dumps(info)
    (events,) = stored_reports(tmp_path / "reports", "jobEventsEnricher")
    assert events["blocks"][1]["entries"][0]["type"] == "Warning"  # most severe first
    (pods,) = stored_reports(tmp_path / "reports", "jobPodEnricher")
    assert "3 Failed" in pods["title"]

    http = client("job_pod_enricher_http", "http")
    reads = [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]
    auth = {"Authorization": f"Bearer {mint_token('reader', reads)}"}
    response = http.post(
        "/?format=md",
        json={"cluster": "local", "namespace": namespace, "name": "enrich-me"},
        headers=auth,
    )
    assert response.status_code == 200
    assert "enrich-me" in response.get_data(as_text=True)
    missing = http.post(
        "/", json={"cluster": "local", "namespace": namespace, "name": "nope"}, headers=auth
    )
    assert missing.status_code == 404
    unknown = http.post("/", json={"cluster": "mars", "namespace": namespace, "name": "x"})
    assert unknown.status_code == 400 and "mars" in unknown.get_json()["error"]
    assert http.post("/", data="junk").status_code == 400
