"""Enrichment and failure analysis against real Jobs failing in each way the stack allows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from jobwarden.enrich import TARGETED_EVENT_READS, cron_history, enrich, get_cronjob
from jobwarden.errors import ForbiddenError, JobGoneError
from jobwarden.failure import analyse
from jobwarden.kube import paths
from jobwarden.kube.objects import Job, JobRef
from jobwarden.kubeapi import KubeApi
from tests.support.kube import job_condition, job_manifest, job_pods, wait_for


def _run(api: KubeApi, ns: str, manifest: dict[str, Any], until: str = "Failed") -> JobRef:
    created = api.create(f"/apis/batch/v1/namespaces/{ns}/jobs", manifest)
    name = created["metadata"]["name"]
    wait_for(lambda: job_condition(api, ns, name, until), what=f"{name} {until}", timeout=90)
    return JobRef("local", ns, name, created["metadata"]["uid"])


def test_oomkilled_job_report_names_container_and_limit(admin: KubeApi, namespace: str) -> None:
    containers = [
        {"name": "worker", "image": "r.example/w:1", "resources": {"limits": {"memory": "512Mi"}}},
        {"name": "sidecar", "image": "r.example/s:1"},
    ]
    ref = _run(
        admin,
        namespace,
        job_manifest(
            "resize", outcome="oomkill", container="worker", containers=containers, backoff_limit=1
        ),
    )
    result = analyse(enrich(admin, ref))
    assert result.job_reason == "BackoffLimitExceeded"
    assert result.headline.code == "OOMKilled"
    assert result.headline.container == "worker"
    assert "limit 512Mi" in result.headline.title
    assert any("above 512Mi" in step and "768Mi" in step for step in result.headline.next_steps)
    assert result.identical_retries
    assert "All 2 attempts failed the same way" in result.headline.explanation


def test_non_zero_exit_shows_the_log_lines_that_look_like_the_error(
    admin: KubeApi, namespace: str
) -> None:
    logs = 'starting import\nprocessed 10 rows\nERROR: relation "orders" does not exist\nbye'
    ref = _run(admin, namespace, job_manifest("imp", outcome="fail", exit_code=2, logs=logs))
    enrichment = enrich(admin, ref)
    (pod,) = enrichment.pods
    (tail,) = pod.logs
    assert tail.container == "main"
    assert list(tail.lines) == logs.splitlines()
    assert [tail.lines[i] for i in tail.error_lines] == ['ERROR: relation "orders" does not exist']
    result = analyse(enrichment)
    assert result.headline.code == "NonZeroExit"
    assert 'exited with code 2: ERROR: relation "orders" does not exist' in result.headline.title
    assert pod.phases.running is not None


def test_every_failed_container_gets_its_log_not_only_the_first(
    admin: KubeApi, namespace: str
) -> None:
    containers = [
        {"name": "a", "image": "r.example/a:1"},
        {"name": "b", "image": "r.example/b:1"},
    ]
    ref = _run(
        admin,
        namespace,
        job_manifest("two", outcome="fail", containers=containers, logs="Traceback: boom"),
    )
    (pod,) = enrich(admin, ref).pods
    assert sorted(t.container for t in pod.logs) == ["a", "b"]
    assert all(t.lines == ("Traceback: boom",) for t in pod.logs)


def test_deadline_exceeded_compares_deadline_and_runtime(admin: KubeApi, namespace: str) -> None:
    ref = _run(admin, namespace, job_manifest("slow", after=60, activeDeadlineSeconds=2))
    result = analyse(enrich(admin, ref))
    assert result.job_reason == "DeadlineExceeded"
    assert result.headline.code == "DeadlineExceeded"
    assert "past its deadline of 2s" in result.headline.title
    assert any("activeDeadlineSeconds (2s)" in s for s in result.headline.next_steps)


def test_image_pull_failure_is_named_with_the_image(admin: KubeApi, namespace: str) -> None:
    ref = _run(admin, namespace, job_manifest("pull", outcome="imagepull", activeDeadlineSeconds=3))
    result = analyse(enrich(admin, ref))
    assert result.job_reason == "DeadlineExceeded"
    assert result.headline.code == "DeadlineExceeded"
    (cause,) = result.pod_causes  # the pod is gone at the deadline; its events remain
    assert cause.code == "ImagePull"
    assert "`registry.example/batch:1`" in cause.title
    assert result.headline.next_steps[0].startswith("First fix why the pods never ran: Image")


def test_unschedulable_pod_is_explained_from_the_scheduler(admin: KubeApi, namespace: str) -> None:
    manifest = job_manifest("stuck", node_selector={"disk": "ssd-nope"}, activeDeadlineSeconds=3)
    ref = _run(admin, namespace, manifest)
    enrichment = enrich(admin, ref)
    result = analyse(enrichment)
    assert result.headline.code == "DeadlineExceeded"
    unsched = [c for c in result.pod_causes if c.code == "Unschedulable"]
    assert unsched, result.pod_causes
    assert "didn't match" in unsched[0].evidence[0]
    reasons = {t.reason for t in enrichment.timeline}
    assert "FailedScheduling" in reasons


def test_events_of_job_and_pods_are_merged_with_counts(admin: KubeApi, namespace: str) -> None:
    ref = _run(admin, namespace, job_manifest("ev", outcome="fail", backoff_limit=2))
    enrichment = enrich(admin, ref, include_logs=False)
    by_key = {(t.object.split("/")[0], t.reason): t for t in enrichment.timeline}
    assert by_key[("Job", "SuccessfulCreate")].count == 3
    assert by_key[("Job", "BackoffLimitExceeded")].type == "Warning"
    assert ("Pod", "Scheduled") in by_key
    only_warnings = enrich(admin, ref, include_logs=False, event_types=["Warning"])
    assert {t.type for t in only_warnings.timeline} == {"Warning"}


def test_job_info_view_reads_spec_and_redacts_nothing_it_should_not(
    admin: KubeApi, namespace: str
) -> None:
    containers = [
        {
            "name": "main",
            "image": "r.example/m:2",
            "command": ["python", "-m", "job"],
            "env": [
                {"name": "MODE", "value": "full"},
                {"name": "DB_PASSWORD", "value": "hunter2"},
                {"name": "API", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "api"}}},
            ],
            "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "1Gi"}},
        }
    ]
    ref = _run(
        admin,
        namespace,
        job_manifest(
            "info", containers=containers, completions=2, parallelism=2, ttlSecondsAfterFinished=600
        ),
        until="Complete",
    )
    job = enrich(admin, ref, include_logs=False).job
    assert job.state == "Complete"
    assert (job.completions, job.parallelism, job.backoff_limit) == (2, 2, 0)
    assert job.ttl_seconds_after_finished == 600
    (spec,) = job.containers
    assert spec.command == ("python", "-m", "job")
    assert spec.resources.limits == {"memory": "1Gi"}
    env = {e.name: e for e in spec.env}
    assert env["API"].source == "secret creds/api"
    assert env["DB_PASSWORD"].value == "hunter2"  # raw view; renderers redact via redact_env_value


def test_api_calls_stay_within_budget_for_many_pods(admin: KubeApi, namespace: str) -> None:
    ref = _run(
        admin, namespace, job_manifest("wide", completions=8, parallelism=8), until="Complete"
    )
    enrichment = enrich(admin, ref)
    assert len(enrichment.pods) == 8
    # job, pods, metrics; events: the Job's, then one read per pod (up to
    # TARGETED_EVENT_READS pods, else one list of the namespace); no failed logs
    assert enrichment.api_calls == 3 + 1 + 8 <= 4 + TARGETED_EVENT_READS
    assert {e.involved_name for e in enrichment.events} >= {p.pod.name for p in enrichment.pods}
    assert "metrics.k8s.io is not served" in enrichment.usage_note


def test_a_deleted_job_is_a_clear_permanent_error(admin: KubeApi, namespace: str) -> None:
    with pytest.raises(JobGoneError, match="no longer exists"):
        enrich(admin, JobRef("local", namespace, "never-was"))


def test_under_privileged_token_gets_forbidden_naming_the_permission(
    admin: KubeApi, namespace: str, mint_token: Any, client_as: Any
) -> None:
    ref = _run(admin, namespace, job_manifest("secret-job", outcome="fail", logs="x"))
    token = mint_token(
        "jobs-only", [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]}]
    )
    with pytest.raises(ForbiddenError) as info:
        enrich(client_as(token), ref)
    assert "needs `list` on `pods`" in str(info.value)
    assert f"in namespace {namespace}" in str(info.value)
    assert job_pods(admin, namespace, "secret-job")


def test_pod_failure_policy_rule_is_named(admin: KubeApi, namespace: str) -> None:
    policy = {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]},
            }
        ]
    }
    ref = _run(
        admin,
        namespace,
        job_manifest("pfp", outcome="fail", exit_code=42, backoff_limit=5, podFailurePolicy=policy),
    )
    result = analyse(enrich(admin, ref))
    assert result.job_reason == "PodFailurePolicy"
    assert result.headline.code == "PodFailurePolicy"
    assert any(
        "exit code 42" in e and "FailJob rule at index 0" in e for e in result.headline.evidence
    )
    assert result.headline.next_steps[0].startswith("If this failure should be retried")


def test_failed_indexes_of_an_indexed_job_are_listed(admin: KubeApi, namespace: str) -> None:
    ref = _run(
        admin,
        namespace,
        job_manifest(
            "idx",
            outcome="fail",
            completions=2,
            parallelism=2,
            completionMode="Indexed",
            backoffLimitPerIndex=0,
            backoff_limit=None,
        ),
    )
    result = analyse(enrich(admin, ref))
    assert result.job_reason == "FailedIndexes"
    assert "Indexes 0,1 of this Indexed Job failed" in result.headline.title


def test_cron_history_knows_a_last_success_whose_job_is_gone(
    admin: KubeApi, namespace: str
) -> None:
    cron = admin.create(
        paths.cronjobs(namespace),
        {
            "metadata": {"name": "nightly"},
            "spec": {
                "schedule": "0 3 * * *",
                "suspend": True,  # no runs of its own during the test
                "jobTemplate": {"spec": job_manifest("x", outcome="fail")["spec"]},
            },
        },
    )
    # what the CronJob controller records when a run succeeds; that run's Job may be
    # deleted since (successfulJobsHistoryLimit), the CronJob remembers
    admin.merge_patch(
        paths.cronjob(namespace, "nightly") + "/status",
        {"status": {"lastSuccessfulTime": "2026-01-02T03:04:05Z"}},
    )
    view = get_cronjob(admin, namespace, "nightly")
    assert view is not None and (view.schedule, view.suspend) == ("0 3 * * *", True)
    manifest = job_manifest("nightly-1", outcome="fail")
    manifest["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "nightly",
            "uid": cron["metadata"]["uid"],
            "controller": True,
        }
    ]
    ref = _run(admin, namespace, manifest)
    history = cron_history(admin, Job.from_json(admin.get(paths.job(namespace, ref.name))))
    assert history is not None
    assert history.consecutive_failures == 1
    assert history.last_success == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert get_cronjob(admin, namespace, "gone") is None
