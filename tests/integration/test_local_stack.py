"""The local stack is real: Jobs run through the real job controller to the outcome a test picks.

These tests are the foundation's contract with every later test: if one fails, the
simulated kubelet (KWOK stages), the controllers or the emulators are not what the
rest of the suite assumes.
"""

from __future__ import annotations

from typing import Any

import pytest

from jobwarden.errors import ForbiddenError
from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.kube import job_condition, job_manifest, job_pods, wait_for

JOBS = "/apis/batch/v1/namespaces/{ns}/jobs"


def _create_job(api: KubeApi, ns: str, manifest: dict[str, Any]) -> dict[str, Any]:
    return api.create(JOBS.format(ns=ns), manifest)


def _terminated(pod: dict[str, Any], container: str) -> dict[str, Any]:
    for status in pod["status"].get("containerStatuses", []):
        if status["name"] == container:
            return dict(status["state"].get("terminated") or {})
    raise AssertionError(f"no status for container {container} in {pod['metadata']['name']}")


def test_job_that_succeeds_is_complete_and_its_pod_succeeded(
    admin: KubeApi, namespace: str
) -> None:
    _create_job(admin, namespace, job_manifest("ok"))
    cond = wait_for(lambda: job_condition(admin, namespace, "ok", "Complete"), what="Complete")
    assert cond["status"] == "True"
    (pod,) = job_pods(admin, namespace, "ok")
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["spec"]["nodeName"] == "kwok-node-0"
    assert _terminated(pod, "main")["exitCode"] == 0


def test_failing_job_reaches_backoff_limit_with_the_chosen_exit_code(
    admin: KubeApi, namespace: str
) -> None:
    _create_job(admin, namespace, job_manifest("bad", outcome="fail", exit_code=3, backoff_limit=1))
    cond = wait_for(lambda: job_condition(admin, namespace, "bad", "Failed"), what="Failed")
    assert cond["reason"] == "BackoffLimitExceeded"
    pods = job_pods(admin, namespace, "bad")
    assert len(pods) == 2  # the first try and one retry
    for pod in pods:
        assert pod["status"]["phase"] == "Failed"
        assert _terminated(pod, "main")["exitCode"] == 3
        assert _terminated(pod, "main")["reason"] == "Error"


def test_oomkill_hits_only_the_named_container(admin: KubeApi, namespace: str) -> None:
    containers = [
        {"name": "worker", "image": "r.example/w:1", "resources": {"limits": {"memory": "512Mi"}}},
        {"name": "sidecar", "image": "r.example/s:1"},
    ]
    _create_job(
        admin,
        namespace,
        job_manifest("oom", outcome="oomkill", container="worker", containers=containers),
    )
    wait_for(lambda: job_condition(admin, namespace, "oom", "Failed"), what="Failed")
    (pod,) = job_pods(admin, namespace, "oom")
    worker, sidecar = _terminated(pod, "worker"), _terminated(pod, "sidecar")
    assert (worker["reason"], worker["exitCode"]) == ("OOMKilled", 137)
    assert (sidecar["reason"], sidecar["exitCode"]) == ("Completed", 0)
    assert worker["startedAt"] <= worker["finishedAt"]


def test_after_annotation_keeps_the_pod_running_first(admin: KubeApi, namespace: str) -> None:
    _create_job(admin, namespace, job_manifest("slow", after=3))
    running = wait_for(
        lambda: [
            p for p in job_pods(admin, namespace, "slow") if p["status"]["phase"] == "Running"
        ],
        what="a Running pod",
    )
    assert running
    wait_for(lambda: job_condition(admin, namespace, "slow", "Complete"), what="Complete")
    (pod,) = job_pods(admin, namespace, "slow")
    term = _terminated(pod, "main")
    from datetime import datetime

    started = datetime.fromisoformat(term["startedAt"])
    finished = datetime.fromisoformat(term["finishedAt"])
    assert (finished - started).total_seconds() >= 2


def test_imagepull_pod_stays_pending_with_image_pull_backoff(
    admin: KubeApi, namespace: str
) -> None:
    _create_job(admin, namespace, job_manifest("pull", outcome="imagepull"))

    def waiting() -> dict[str, Any] | None:
        for pod in job_pods(admin, namespace, "pull"):
            for status in pod["status"].get("containerStatuses", []):
                if status["state"].get("waiting"):
                    return dict(status["state"]["waiting"])
        return None

    state = wait_for(waiting, what="a waiting container")
    assert state["reason"] == "ImagePullBackOff"
    (pod,) = job_pods(admin, namespace, "pull")
    assert pod["status"]["phase"] == "Pending"


def test_unsatisfiable_node_selector_gives_failed_scheduling_from_the_real_scheduler(
    admin: KubeApi, namespace: str
) -> None:
    _create_job(admin, namespace, job_manifest("pending", node_selector={"disk": "nonexistent"}))

    def scheduling_event() -> dict[str, Any] | None:
        events = admin.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
        for event in events.get("items", []):
            if event.get("reason") == "FailedScheduling":
                return dict(event)
        return None

    event = wait_for(scheduling_event, what="FailedScheduling")
    assert "node(s) didn't match" in event["note"]
    (pod,) = job_pods(admin, namespace, "pending")
    assert pod["status"]["phase"] == "Pending"


def test_pod_logs_are_served_through_the_api(admin: KubeApi, namespace: str) -> None:
    _create_job(
        admin,
        namespace,
        job_manifest("logs", outcome="fail", logs="loading batch 7\nError: disk quota exceeded"),
    )
    wait_for(lambda: job_condition(admin, namespace, "logs", "Failed"), what="Failed")
    (pod,) = job_pods(admin, namespace, "logs")
    name = pod["metadata"]["name"]
    # readable the moment the Job has failed (no waiting): a pod with a log ends only once
    # the pod-log agent has made it readable, as a report written at the failure needs
    assert pod["metadata"]["annotations"]["sim.jobwarden.dev/logs-ready"] == "true"
    text = admin.text(f"/api/v1/namespaces/{namespace}/pods/{name}/log", container="main")
    assert text.splitlines() == ["loading batch 7", "Error: disk quota exceeded"]
    tail = admin.text(f"/api/v1/namespaces/{namespace}/pods/{name}/log", tailLines=1)
    assert tail.strip() == "Error: disk quota exceeded"


def test_ttl_after_finished_deletes_the_job_and_gc_deletes_its_pods(
    admin: KubeApi, namespace: str
) -> None:
    _create_job(admin, namespace, job_manifest("ttl", ttlSecondsAfterFinished=2))
    # the TTL controller deletes only finished Jobs, so the deletion proves the completion
    # too; polling for "Complete" first could miss its 2-s window on a loaded machine
    wait_for(
        lambda: not admin.get(JOBS.format(ns=namespace))["items"] or None,
        what="the Job to be deleted by the TTL controller",
    )
    wait_for(lambda: not job_pods(admin, namespace, "ttl") or None, what="GC of the pods")


def test_cronjob_creates_jobs_owned_by_it(admin: KubeApi, namespace: str) -> None:
    admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/cronjobs",
        {
            "metadata": {"name": "nightly"},
            "spec": {
                "schedule": "* * * * *",
                "jobTemplate": {"spec": job_manifest("x", outcome="fail")["spec"]},
            },
        },
    )
    # trigger a run now, as `kubectl create job --from=cronjob/nightly` does
    cron = admin.get(f"/apis/batch/v1/namespaces/{namespace}/cronjobs/nightly")
    manual = {
        "metadata": {
            "name": "nightly-manual",
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": "nightly",
                    "uid": cron["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": cron["spec"]["jobTemplate"]["spec"],
    }
    _create_job(admin, namespace, manual)
    cond = wait_for(
        lambda: job_condition(admin, namespace, "nightly-manual", "Failed"), what="Failed"
    )
    assert cond["reason"] == "BackoffLimitExceeded"


def test_service_account_tokens_work_with_token_review_and_rbac(
    admin: KubeApi, namespace: str, mint_token: Any, client_as: Any
) -> None:
    token = mint_token(
        "reader", [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]}]
    )
    review = admin.create(
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
    )
    assert review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == f"system:serviceaccount:{namespace}:reader"
    reader = client_as(token)
    assert reader.get(JOBS.format(ns=namespace))["items"] == []
    with pytest.raises(ForbiddenError) as info:
        reader.delete(JOBS.format(ns=namespace) + "/anything")
    assert "forbidden" in str(info.value).lower()
    bogus = admin.create(
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": "not-a-token"},
        },
    )
    assert not bogus["status"].get("authenticated")


def test_pubsub_emulator_round_trip(pubsub: Any, stack: StackInfo) -> None:
    publisher, subscriber = pubsub
    topic = publisher.topic_path(stack.pubsub_project, "roundtrip")
    sub = subscriber.subscription_path(stack.pubsub_project, "roundtrip-sub")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic, ack_deadline_seconds=10)
    publisher.publish(topic, b'{"hello": 1}', cluster="local").result(timeout=10)
    response = subscriber.pull(subscription=sub, max_messages=5, timeout=10)
    (received,) = response.received_messages
    assert received.message.data == b'{"hello": 1}'
    assert received.message.attributes["cluster"] == "local"
    subscriber.acknowledge(subscription=sub, ack_ids=[received.ack_id])


def test_gcs_emulator_round_trip(gcs: Any) -> None:
    bucket = gcs.create_bucket("jobwarden-reports")
    blob = bucket.blob("local/ns/job/uid/report.json")
    blob.upload_from_string(b'{"ok": true}', content_type="application/json")
    assert (
        gcs.bucket("jobwarden-reports").blob("local/ns/job/uid/report.json").download_as_bytes()
        == b'{"ok": true}'
    )
    names = [b.name for b in gcs.list_blobs("jobwarden-reports", prefix="local/")]
    assert names == ["local/ns/job/uid/report.json"]


def test_two_stacks_run_side_by_side(stack: StackInfo, stack_b: StackInfo) -> None:
    assert stack.server != stack_b.server
    a, b = KubeApi(stack.admin_credentials()), KubeApi(stack_b.admin_credentials())
    a.create("/api/v1/namespaces", {"metadata": {"name": "only-in-a"}})
    names_b = [n["metadata"]["name"] for n in b.get("/api/v1/namespaces")["items"]]
    assert "only-in-a" not in names_b
    a.delete("/api/v1/namespaces/only-in-a")
