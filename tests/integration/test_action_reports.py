"""Actions and performance that report themselves, on the real local stack.

- An OOMKilled Job's failure report names the exact `jobwarden restart … --increase-memory`
  command; restarting it that way (job_restart, a real token and RBAC) makes a `jobRestart`
  report; the new Job carries `jobwarden.dev/retry-of`; when it succeeds (KWOK spares a pod
  whose limit reached `sim.jobwarden.dev/enough-memory`), the failure reporter's function
  makes one report linked to the original, however often the event is redelivered.
- A run far slower than its family's p95 (after a history of runs) makes a regression report.
- The digest target answers with the slowest families.
- A delete is a report, posted to a webhook that names no `workflows` (the default routing).

Functions are the repository's own (`functions/*/main.py`) behind functions-framework's test
client; events are the Eventarc CloudEvents our exporter would publish for the live Jobs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from jobwarden.kubeapi import KubeApi
from jobwarden.performance.runs import RunRecord, append_run
from jobwarden.report import Report
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.kube import job_condition, job_manifest, wait_for
from tests.support.replay import function_client, post_event
from tests.support.runtime import make_runtime
from tests.support.webhook import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
SECRET = "action-reports-test-secret-0123456789abcdef"
OPERATOR = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]},
]
JOBS = "/apis/batch/v1/namespaces/{ns}/jobs"


@pytest.fixture
def runtime(stack: StackInfo, tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(
        stack,
        tmp_path / "reports",
        env={"JOBWARDEN_CONFIRM_SECRET": SECRET},
        extra={"restart": {"followTimeoutSeconds": 20}},
    )
    set_default_runtime(rt)
    yield rt
    set_default_runtime(None)


def reports(runtime: Runtime, workflow: str, job: str | None = None) -> list[Report]:
    found = [runtime.store.get_report(e.path) for e in runtime.store.read_index()]
    return [r for r in found if r and r.workflow == workflow and (job is None or r.job == job)]


def http(target: str, source: str, body: dict[str, Any], token: str | None = None) -> Any:
    client = create_app(target, str(ROOT / "functions" / source / "main.py"), "http").test_client()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post("/", json=body, headers=headers)
    return response.status_code, response.get_json()


def finished(admin: KubeApi, ns: str, name: str, kind: str) -> dict[str, Any]:
    wait_for(lambda: job_condition(admin, ns, name, kind), what=f"{ns}/{name} {kind}", timeout=90)
    return dict(admin.get(f"{JOBS.format(ns=ns)}/{name}"))


def test_restart_with_more_memory_reports_itself_and_the_retrys_success_links_back(
    admin: KubeApi, namespace: str, runtime: Runtime, mint_token: Any
) -> None:
    worker = {
        "name": "worker",
        "image": "registry.example/batch/resize:2",
        "resources": {"limits": {"memory": "512Mi"}},
    }
    manifest = job_manifest("resize", outcome="oomkill", after=0.5, containers=[worker])
    manifest["spec"]["template"]["metadata"]["annotations"]["sim.jobwarden.dev/enough-memory"] = (
        "768Mi"
    )
    admin.create(JOBS.format(ns=namespace), manifest)
    old = finished(admin, namespace, "resize", "Failed")

    # the failure report names the command that restarts it with more memory
    assert post_event("jobFailureReporter", old, "failed", "m-fail") == 200
    (failure,) = reports(runtime, "jobFailureReporter", "resize")
    command = (
        f"jobwarden restart --cluster local --namespace {namespace} --name resize --increase-memory"
    )
    assert command in _markdown(runtime, failure)

    token = mint_token("ops", OPERATOR)
    target = {"cluster": "local", "namespace": namespace, "name": "resize", "increaseMemory": True}
    status, plan = http("job_restart", "job_restart", target, token)
    assert status == 200 and plan["status"] == "confirmation_required", plan
    confirmed = {**target, "confirmationToken": plan["confirmationToken"]}
    status, done = http("job_restart", "job_restart", confirmed, token)
    assert status == 200 and done["status"] == "restarted", done

    new = admin.get(f"{JOBS.format(ns=namespace)}/resize-retry-1")
    assert new["metadata"]["annotations"]["jobwarden.dev/retry-of"] == old["metadata"]["uid"]
    assert new["metadata"]["labels"]["jobwarden.dev/retry-of"] == old["metadata"]["uid"]
    (outcome,) = reports(runtime, "jobRestart", "resize")
    assert outcome.title.startswith(
        f"Job {namespace}/resize restarted as resize-retry-1 with memory of `worker` "
        "raised 512Mi → 768Mi"
    )
    assert outcome.job_uid == old["metadata"]["uid"]
    # a replayed confirmation answers the first result and makes no second report
    status, again = http("job_restart", "job_restart", confirmed, token)
    assert status == 200 and again.get("replayed") is True
    assert len(reports(runtime, "jobRestart")) == 1

    retry = finished(admin, namespace, "resize-retry-1", "Complete")
    client = function_client("jobFailureReporter")
    for message in ("m-ok-1", "m-ok-2"):  # the success, then its redelivery
        assert post_event("jobFailureReporter", retry, "succeeded", message, client=client) == 200
    (linked,) = reports(runtime, "jobFailureReporter", "resize-retry-1")
    assert linked.title.startswith(
        f"The retry of {namespace}/resize with memory raised to 768Mi succeeded: "
        "resize-retry-1 completed in "
    )
    assert linked.severity == "info"
    assert old["metadata"]["uid"] in linked.summary


def _markdown(runtime: Runtime, report: Report) -> str:
    """The Markdown page stored beside `report` (what the report's link opens)."""
    (key,) = [k for k in runtime.store.list() if k.endswith(f"/{report.id}.md")]
    data = runtime.store.blobs.read(key)  # type: ignore[attr-defined]
    assert data is not None
    return str(data.decode())


def _history(runtime: Runtime, namespace: str, family: str, seconds: list[float]) -> None:
    """Runs of `family` that ended over the last days, as job_performance_analysis records them."""
    now = dt.datetime.now(dt.UTC)
    for i, took in enumerate(seconds):
        end = now - dt.timedelta(hours=6 * (i + 1))
        append_run(
            runtime.store,
            RunRecord(
                cluster="local",
                namespace=namespace,
                job=f"{family}-{i}",
                job_uid=f"00000000-0000-4000-8000-00000000000{i}",
                family=family,
                start=end - dt.timedelta(seconds=took),
                end=end,
                duration_seconds=took,
                outcome="succeeded",
                reason="Completed",
            ),
        )


def test_a_run_far_slower_than_its_familys_p95_is_a_regression_and_tops_the_digest(
    admin: KubeApi, namespace: str, runtime: Runtime
) -> None:
    _history(runtime, namespace, "ledger-sync", [2.0, 2.5, 2.0, 3.0, 2.2, 2.4])
    _history(runtime, namespace, "quick", [6.0, 6.0, 6.0, 6.0, 6.0])
    manifest = job_manifest("ledger-sync-7", after=8)
    manifest["metadata"]["labels"] = {"app.kubernetes.io/name": "ledger-sync"}
    admin.create(JOBS.format(ns=namespace), manifest)
    job = finished(admin, namespace, "ledger-sync-7", "Complete")

    client = function_client("jobPerformanceAnalysis")
    for message in ("m-1", "m-2"):  # the event, then its redelivery
        assert post_event("jobPerformanceAnalysis", job, "succeeded", message, client=client) == 200
    (regression,) = reports(runtime, "jobPerformanceAnalysis", "ledger-sync-7")
    assert regression.severity == "warning"
    assert "x its family's p95 (3s)" in regression.title, regression.title
    assert "over its last 6 runs" in regression.summary
    quick = job_manifest("quick-9", after=0.5)
    quick["metadata"]["labels"] = {"app.kubernetes.io/name": "quick"}
    admin.create(JOBS.format(ns=namespace), quick)
    done = finished(admin, namespace, "quick-9", "Complete")
    assert post_event("jobPerformanceAnalysis", done, "succeeded", "m-q", client=client) == 200
    assert reports(runtime, "jobPerformanceAnalysis", "quick-9") == []  # usual: no report

    status, digest = http(
        "job_performance_digest", "job_performance_analysis", {"cluster": "local"}
    )
    assert status == 200, digest
    (slowest,) = [b for b in digest["blocks"] if b.get("title", "").startswith("Slowest")]
    assert slowest["rows"][0][0] == f"{namespace}/ledger-sync"
    assert slowest["rows"][1][0] == f"{namespace}/quick"
    assert digest["title"].startswith("Performance digest of cluster local, last 7d: 13 runs")
    status, unknown = http(
        "job_performance_digest", "job_performance_analysis", {"cluster": "nowhere"}
    )
    assert status == 400 and unknown["code"] == "unknown_cluster"


def test_a_retry_that_fails_again_says_so_in_its_failure_report(
    admin: KubeApi, namespace: str, runtime: Runtime, mint_token: Any
) -> None:
    worker = {"name": "worker", "image": "r/w:1", "resources": {"limits": {"memory": "256Mi"}}}
    admin.create(
        JOBS.format(ns=namespace),
        job_manifest("crunch", outcome="oomkill", after=0.5, containers=[worker]),
    )
    old = finished(admin, namespace, "crunch", "Failed")
    token = mint_token("ops", OPERATOR)
    target = {"cluster": "local", "namespace": namespace, "name": "crunch", "increaseMemory": True}
    status, plan = http("job_restart", "job_restart", target, token)
    assert status == 200, plan
    confirmed = {**target, "confirmationToken": plan["confirmationToken"]}
    assert http("job_restart", "job_restart", confirmed, token)[0] == 200

    retry = finished(admin, namespace, "crunch-retry-1", "Failed")  # 384Mi is not enough
    assert post_event("jobFailureReporter", retry, "failed", "m-again") == 200
    (report,) = reports(runtime, "jobFailureReporter", "crunch-retry-1")
    assert report.summary.startswith(
        f"The retry of {namespace}/crunch with memory raised to 384Mi failed again."
    )
    assert old["metadata"]["uid"] in _markdown(runtime, report)


def test_a_delete_is_a_report_posted_to_a_webhook_that_names_no_workflows(
    stack: StackInfo, admin: KubeApi, namespace: str, mint_token: Any, tmp_path: Path
) -> None:
    receiver = WebhookReceiver().start()
    try:
        reports_dir = tmp_path / "reports"
        rt = make_runtime(
            stack,
            reports_dir,
            env={"JOBWARDEN_CONFIRM_SECRET": SECRET, "ONCALL_URL": receiver.url},
            extra={
                "sinks": {
                    "storage": {"url": f"file://{reports_dir}"},
                    "webhooks": [{"name": "oncall", "type": "slack", "urlEnv": "ONCALL_URL"}],
                }
            },
        )
        set_default_runtime(rt)
        admin.create(JOBS.format(ns=namespace), job_manifest("old-export", after=0.5))
        finished(admin, namespace, "old-export", "Complete")
        token = mint_token("ops", OPERATOR)
        target = {"cluster": "local", "namespace": namespace, "name": "old-export"}
        status, plan = http("job_delete", "job_delete", target, token)
        assert status == 200, plan
        confirmed = {**target, "confirmationToken": plan["confirmationToken"]}
        status, done = http("job_delete", "job_delete", confirmed, token)
        assert status == 200 and done["status"] == "deleted", done
        (report,) = reports(rt, "jobDelete", "old-export")
        assert report.title == f"Job {namespace}/old-export deleted (Background): the Job is gone"
        wait_for(lambda: receiver.delivered(), what="the delete report posted", timeout=30)
        (post,) = receiver.delivered()
        assert post.headers["X-Jobwarden-Report-Id"] == report.id
        assert "old-export deleted (Background)" in post.body.decode()
        assert http("job_delete", "job_delete", confirmed, token)[1].get("replayed") is True
        assert len(receiver.delivered()) == 1  # the replay posts nothing twice
    finally:
        set_default_runtime(None)
        receiver.stop()
