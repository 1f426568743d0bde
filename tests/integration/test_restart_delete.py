"""job_restart and job_delete over HTTP, with real tokens and real RBAC on the local stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from jobwarden.errors import NotFoundError
from jobwarden.kubeapi import KubeApi
from jobwarden.localstack.stack import StackInfo
from jobwarden.runtime import Runtime, set_default_runtime
from tests.support.kube import job_condition, job_manifest, job_pods, wait_for
from tests.support.runtime import make_runtime

ROOT = Path(__file__).resolve().parents[2]
RESTARTER = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]},
]
DELETER = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]},
]
READER = [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]}]


def fn(name: str) -> Any:
    return create_app(name, str(ROOT / "functions" / name / "main.py"), "http").test_client()


@pytest.fixture
def runtime(stack: StackInfo, tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(
        stack,
        tmp_path / "reports",
        env={"JOBWARDEN_CONFIRM_SECRET": "k3y"},
        extra={"restart": {"followTimeoutSeconds": 20}},
    )
    set_default_runtime(rt)
    yield rt
    set_default_runtime(None)


def failed(admin: KubeApi, ns: str, name: str, **kw: Any) -> dict[str, Any]:
    admin.create(f"/apis/batch/v1/namespaces/{ns}/jobs", job_manifest(name, **kw))
    wait_for(lambda: job_condition(admin, ns, name, "Failed"), what=f"{name} Failed", timeout=60)
    return admin.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}")


def call(name: str, body: Any, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = fn(name).post("/", json=body, headers=headers)
    return response.status_code, response.get_json()


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in (tmp_path / "reports" / "audit").rglob("*.json")]


def test_restart_with_confirmation_recreates_the_job_and_follows_it(
    admin: KubeApi, namespace: str, runtime: Runtime, mint_token: Any, tmp_path: Path
) -> None:
    failed(admin, namespace, "etl", outcome="fail", after=0.5)
    old_pods = [p["metadata"]["name"] for p in job_pods(admin, namespace, "etl")]
    token = mint_token("ops", RESTARTER)
    target = {"cluster": "local", "namespace": namespace, "name": "etl"}
    status, plan = call("job_restart", target, token)
    assert status == 200
    assert plan["status"] == "confirmation_required"
    assert plan["plan"]["newJob"] == "etl-retry-1"
    assert plan["plan"]["deletePods"] == old_pods
    status, done = call(
        "job_restart", {**target, "confirmationToken": plan["confirmationToken"]}, token
    )
    assert status == 200, done
    assert done["status"] == "restarted"
    assert done["newJob"] == "etl-retry-1"
    assert any(s["state"].startswith(("Running", "Failed", "Complete")) for s in done["progress"])
    new = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/etl-retry-1")
    assert new["metadata"]["annotations"]["jobwarden.dev/restarted-from"] == "etl"
    assert new["metadata"]["annotations"]["jobwarden.dev/restarted-by"].endswith(":ops")
    assert (
        new["metadata"]["uid"]
        != admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/etl")["metadata"]["uid"]
    )
    wait_for(
        lambda: (
            not any(p["metadata"]["name"] in old_pods for p in job_pods(admin, namespace, "etl"))
            or None
        ),
        what="old pods gone",
    )
    # the same confirmed call again: no second Job
    status, again = call(
        "job_restart", {**target, "confirmationToken": plan["confirmationToken"]}, token
    )
    assert (status, again["newJob"]) == (200, "etl-retry-1")
    names = [
        j["metadata"]["name"]
        for j in admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs")["items"]
    ]
    assert sorted(names) == ["etl", "etl-retry-1"]
    results = [a["result"] for a in audit(tmp_path)]
    assert results.count("restarted") == 2 and "confirmation_required" in results
    assert all(a["who"] == f"system:serviceaccount:{namespace}:ops" for a in audit(tmp_path))


def test_restart_of_a_cronjob_run_keeps_the_owner_and_raises_memory_after_oom(
    admin: KubeApi, namespace: str, runtime: Runtime, mint_token: Any
) -> None:
    containers = [
        {"name": "w", "image": "r.example/w:1", "resources": {"limits": {"memory": "512Mi"}}}
    ]
    cron = admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/cronjobs",
        {
            "metadata": {"name": "nightly"},
            "spec": {
                "schedule": "0 3 * * *",
                "jobTemplate": {
                    "spec": job_manifest("x", outcome="oomkill", containers=containers)["spec"]
                },
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
    admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/jobs",
        {
            "metadata": {"name": "nightly-1", "ownerReferences": owner},
            "spec": cron["spec"]["jobTemplate"]["spec"],
        },
    )
    wait_for(lambda: job_condition(admin, namespace, "nightly-1", "Failed"), timeout=60)
    token = mint_token("ops", RESTARTER)
    body = {"cluster": "local", "namespace": namespace, "name": "nightly-1", "increaseMemory": True}
    status, plan = call("job_restart", body, token)
    assert plan["plan"]["memory"] == {"w": {"from": "512Mi", "to": "768Mi"}}
    status, done = call(
        "job_restart", {**body, "confirmationToken": plan["confirmationToken"]}, token
    )
    assert status == 200, done
    new = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{done['newJob']}")
    assert new["metadata"]["ownerReferences"][0]["uid"] == cron["metadata"]["uid"]
    limits = new["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "768Mi"


def test_dry_run_shows_the_object_and_changes_nothing(
    admin: KubeApi, namespace: str, runtime: Runtime, mint_token: Any
) -> None:
    failed(admin, namespace, "dry", outcome="fail")
    token = mint_token("ops", RESTARTER)
    status, answer = call(
        "job_restart",
        {"cluster": "local", "namespace": namespace, "name": "dry", "dryRun": True},
        token,
    )
    assert (status, answer["status"]) == (200, "dry_run")
    obj = answer["object"]
    assert obj["metadata"]["name"] == "dry-retry-1"
    assert "selector" not in obj["spec"]
    assert "uid" not in obj["metadata"] and "resourceVersion" not in obj["metadata"]
    labels = obj["spec"]["template"]["metadata"]["labels"]
    assert not any("controller-uid" in k or "job-name" in k for k in labels)
    jobs = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs")["items"]
    assert [j["metadata"]["name"] for j in jobs] == ["dry"]


def test_refusals_name_what_is_wrong(
    admin: KubeApi, namespace: str, runtime: Runtime, mint_token: Any
) -> None:
    job = failed(admin, namespace, "r", outcome="fail")
    target = {"cluster": "local", "namespace": namespace, "name": "r"}
    reader = mint_token("reader", READER)
    status, answer = call("job_restart", target, reader)
    assert status == 403
    assert "needs `create` on `jobs.batch`" in answer["error"]
    assert "`delete` on `pods`" in answer["error"]
    assert call("job_restart", target, None)[0] == 401
    status, answer = call("job_restart", target, "not-a-real-token")
    assert status == 401 and "not valid in cluster local" in answer["error"]
    ops = mint_token("ops", RESTARTER)
    assert call("job_restart", {**target, "name": "missing"}, ops)[0] == 404
    status, answer = call("job_restart", {**target, "cluster": "mars"}, ops)
    assert status == 400 and "mars" in answer["error"]
    assert call("job_restart", {**target, "namespace": "kube-system"}, ops)[0] == 403
    assert call("job_restart", "junk", ops)[0] == 400
    # a plan, then the Job changes: the token is stale
    _, plan = call("job_restart", target, ops)
    admin.request(
        "PATCH",
        f"/apis/batch/v1/namespaces/{namespace}/jobs/r",
        body={"metadata": {"labels": {"touched": "yes"}}},
        content_type="application/merge-patch+json",
    )
    status, answer = call(
        "job_restart", {**target, "confirmationToken": plan["confirmationToken"]}, ops
    )
    assert status == 409 and "changed since the plan" in answer["error"]
    assert job["metadata"]["uid"]


def test_delete_background_removes_job_and_pods_and_orphan_only_when_asked(
    admin: KubeApi, namespace: str, runtime: Runtime, mint_token: Any
) -> None:
    failed(admin, namespace, "gone", outcome="fail", backoff_limit=1)
    failed(admin, namespace, "keep-pods", outcome="fail")
    token = mint_token("cleaner", DELETER)
    target = {"cluster": "local", "namespace": namespace, "name": "gone"}
    _, plan = call("job_delete", target, token)
    assert plan["plan"]["propagationPolicy"] == "Background"
    assert len(plan["plan"]["pods"]) == 2
    status, done = call(
        "job_delete", {**target, "confirmationToken": plan["confirmationToken"]}, token
    )
    assert (status, done["status"], done["podsLeft"]) == (200, "deleted", [])
    with pytest.raises(NotFoundError):
        admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/gone")
    assert job_pods(admin, namespace, "gone") == []

    orphan = {
        "cluster": "local",
        "namespace": namespace,
        "name": "keep-pods",
        "propagationPolicy": "Orphan",
    }
    _, plan = call("job_delete", orphan, token)
    status, done = call(
        "job_delete", {**orphan, "confirmationToken": plan["confirmationToken"]}, token
    )
    assert (status, done["status"]) == (200, "deleted")
    assert len(job_pods(admin, namespace, "keep-pods")) == 1  # orphaned, as asked
    bad = call("job_delete", {**orphan, "propagationPolicy": "Sometimes"}, token)
    assert bad[0] == 400


def test_delete_foreground_and_without_confirmation_when_configured(
    stack: StackInfo, admin: KubeApi, namespace: str, mint_token: Any, tmp_path: Path
) -> None:
    rt = make_runtime(
        stack,
        tmp_path / "reports",
        extra={"workflows": {"jobWorkflows": {"jobDelete": {"requireConfirmation": False}}}},
    )
    set_default_runtime(rt)
    try:
        failed(admin, namespace, "fg", outcome="fail")
        token = mint_token("cleaner", DELETER)
        status, done = call(
            "job_delete",
            {
                "cluster": "local",
                "namespace": namespace,
                "name": "fg",
                "propagationPolicy": "Foreground",
            },
            token,
        )
    finally:
        set_default_runtime(None)
    assert (status, done["status"], done["propagationPolicy"]) == (200, "deleted", "Foreground")
    assert job_pods(admin, namespace, "fg") == []
