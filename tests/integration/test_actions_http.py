"""jobwarden.actions restart and delete over HTTP, with real tokens and RBAC on the local stack.

Requests go through functions-framework's test client to two-line functions (written to a
temporary folder) that call `jobwarden.edge.on_request`, with the runtime set by
`jobwarden.runtime.set_default_runtime`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from jobwarden.actions import ledger
from jobwarden.actions.confirm import decode
from jobwarden.auth import Caller
from jobwarden.errors import CallerRefusedError, NotFoundError
from jobwarden.iap import HEADER
from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.iap import AUDIENCE, IapKeys, serve_jwks
from tests.support.kube import job_condition, job_manifest, job_pods, wait_for
from tests.support.runtime import make_runtime

SECRET = "actions-test-secret-0123456789abcdef"  # 32+ bytes, as required
FUNCTIONS = """
import functions_framework


@functions_framework.http
def job_restart(request):
    from jobwarden.edge import on_request

    return on_request("jobRestart", request)


@functions_framework.http
def job_delete(request):
    from jobwarden.edge import on_request

    return on_request("jobDelete", request)
"""
OPERATOR = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]},
]
READER = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
]
Call = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "fn" / "main.py"
    path.parent.mkdir()
    path.write_text(FUNCTIONS)
    return path


@pytest.fixture
def configure(stack: StackInfo, tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    def make(**extra: Any) -> Runtime:
        extra["restart"] = {"followTimeoutSeconds": 20, **extra.get("restart", {})}
        rt = make_runtime(
            stack, tmp_path / "reports", env={"JOBWARDEN_CONFIRM_SECRET": SECRET}, extra=extra
        )
        set_default_runtime(rt)
        return rt

    yield make
    set_default_runtime(None)


@pytest.fixture
def runtime(configure: Callable[..., Runtime]) -> Runtime:
    return configure()


@pytest.fixture
def call(source: Path) -> Call:
    def post(action: str, body: Any, token: str | None = None, **headers: str) -> Any:
        client = create_app(f"job_{action}", str(source), "http").test_client()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = client.post("/", json=body, headers=headers)
        return response.status_code, response.get_json()

    return post


def failed(admin: KubeApi, ns: str, name: str, **kw: Any) -> dict[str, Any]:
    admin.create(f"/apis/batch/v1/namespaces/{ns}/jobs", job_manifest(name, **kw))
    wait_for(lambda: job_condition(admin, ns, name, "Failed"), what=f"{name} Failed", timeout=60)
    return admin.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}")


def jobs(admin: KubeApi, ns: str) -> list[str]:
    items = admin.get(f"/apis/batch/v1/namespaces/{ns}/jobs")["items"]
    return sorted(j["metadata"]["name"] for j in items)


def audit(root: Path) -> list[dict[str, Any]]:
    records = [json.loads(p.read_text()) for p in (root / "reports" / "audit").rglob("*.json")]
    return sorted((r for r in records if "phase" in r), key=lambda r: r["id"])


def bound_to(token: str) -> ledger.Binding:
    """The ledger binding a confirmed call of `token` writes (as `actions.http` makes it)."""
    binding = decode(token, secret=SECRET)
    new_name = binding.binding.options.get("newName")
    return ledger.Binding(
        id=binding.token_id,
        action=binding.binding.action,
        cluster=binding.binding.cluster,
        namespace=binding.binding.namespace,
        name=binding.binding.name,
        uid=binding.binding.uid,
        caller=binding.binding.caller,
        digest=binding.binding.options["digest"],
        new_name=new_name,
    )


def confirmed(call: Call, action: str, target: dict[str, Any], token: str) -> Any:
    status, plan = call(action, target, token)
    assert status == 200 and plan["status"] == "confirmation_required", plan
    return call(action, {**target, "confirmationToken": plan["confirmationToken"]}, token)


def test_restart_recreates_the_failed_job_deletes_its_pods_and_follows_it(
    admin: KubeApi, namespace: str, runtime: Runtime, call: Call, mint_token: Any, tmp_path: Path
) -> None:
    failed(admin, namespace, "etl", outcome="fail", after=0.5)
    old_pods = sorted(p["metadata"]["name"] for p in job_pods(admin, namespace, "etl"))
    token = mint_token("ops", OPERATOR)
    target = {"cluster": "local", "namespace": namespace, "name": "etl"}
    status, plan = call("restart", target, token)
    assert status == 200 and plan["status"] == "confirmation_required"
    assert plan["plan"]["newName"] == "etl-retry-1"
    assert plan["plan"]["deletePods"] == old_pods
    assert plan["expiresAt"].endswith("Z")
    assert jobs(admin, namespace) == ["etl"]  # a plan changes nothing

    status, done = call(
        "restart", {**target, "confirmationToken": plan["confirmationToken"]}, token
    )
    assert status == 200, done
    assert done["status"] == "restarted"
    assert done["newJob"]["name"] == "etl-retry-1"
    assert done["progress"][-1]["state"] == "active" and not done["timedOut"]
    assert sorted(done["deletedPods"]) == old_pods
    new = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/etl-retry-1")
    notes = new["metadata"]["annotations"]
    assert notes["jobwarden.dev/restarted-from"] == "etl"
    assert notes["jobwarden.dev/restarted-by"] == f"system:serviceaccount:{namespace}:ops"
    assert new["spec"]["selector"]["matchLabels"] != {"batch.kubernetes.io/controller-uid": ""}
    wait_for(lambda: not job_pods(admin, namespace, "etl") or None, what="old pods deleted")
    assert jobs(admin, namespace) == ["etl", "etl-retry-1"]  # the failed run stays on record

    records = audit(tmp_path)
    assert [(r["phase"], r["result"]) for r in records] == [
        ("plan", "confirmation_required"),
        ("intent", "executing"),  # written before anything changed
        ("execute", "restarted"),
    ]
    _, intent, outcome = records
    assert outcome["details"]["intentId"] == intent["id"]
    assert intent["details"]["plan"]["newName"] == "etl-retry-1"
    assert intent["details"]["actedAs"] == f"system:serviceaccount:{namespace}:ops"
    assert outcome["who"] == f"system:serviceaccount:{namespace}:ops"
    assert outcome["uid"] == new["metadata"]["annotations"]["jobwarden.dev/restarted-from-uid"]
    assert outcome["details"]["newJob"]["name"] == "etl-retry-1"
    assert plan["confirmationToken"] not in json.dumps(records)


def test_cronjob_run_keeps_its_owner_and_gets_more_memory_after_oomkilled(
    admin: KubeApi,
    namespace: str,
    configure: Callable[..., Runtime],
    call: Call,
    mint_token: Any,
) -> None:
    configure()
    containers = [
        {"name": "worker", "image": "r/w:1", "resources": {"limits": {"memory": "512Mi"}}},
        {"name": "sidecar", "image": "r/s:1"},
    ]
    spec = job_manifest("x", outcome="oomkill", container="worker", containers=containers)["spec"]
    cron = admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/cronjobs",
        {
            "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": spec}},
        },
    )
    owner = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": "nightly",
        "uid": cron["metadata"]["uid"],
        "controller": True,
    }
    admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/jobs",
        {"metadata": {"name": "nightly-1", "ownerReferences": [owner]}, "spec": spec},
    )
    wait_for(lambda: job_condition(admin, namespace, "nightly-1", "Failed"), what="Failed")
    token = mint_token("ops", OPERATOR)
    target = {
        "cluster": "local",
        "namespace": namespace,
        "name": "nightly-1",
        "increaseMemory": True,
    }
    status, done = confirmed(call, "restart", target, token)
    assert status == 200, done
    assert done["memoryChanges"] == [  # the request was defaulted to the limit: both grow
        {"container": "worker", "field": "limit", "from": "512Mi", "to": "768Mi"},
        {"container": "worker", "field": "request", "from": "512Mi", "to": "768Mi"},
    ]
    new = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/nightly-1-retry-1")
    (ref,) = new["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"]) == ("CronJob", "nightly", cron["metadata"]["uid"])
    worker, sidecar = new["spec"]["template"]["spec"]["containers"]
    assert worker["resources"]["limits"]["memory"] == "768Mi"
    assert "memory" not in (sidecar.get("resources") or {}).get("limits", {})

    # restarting the new run again is refused at the cap (configured low here), before a token
    configure(restart={"memoryCap": "768Mi"})
    wait_for(lambda: job_condition(admin, namespace, "nightly-1-retry-1", "Failed"), what="Failed")
    status, body = call("restart", {**target, "name": "nightly-1-retry-1"}, token)
    assert status == 400, body
    assert "already has memory limit 768Mi" in body["error"] and "memoryCap" in body["error"]


def test_dry_run_returns_the_object_and_changes_nothing(
    admin: KubeApi, namespace: str, runtime: Runtime, call: Call, mint_token: Any, tmp_path: Path
) -> None:
    failed(admin, namespace, "etl", outcome="fail")
    pods = job_pods(admin, namespace, "etl")
    token = mint_token("ops", OPERATOR)
    target = {"cluster": "local", "namespace": namespace, "name": "etl", "dryRun": True}
    status, body = call("restart", target, token)
    assert status == 200, body
    assert body["status"] == "dry_run" and body["serverDryRun"] == "accepted"
    assert body["object"]["metadata"]["name"] == "etl-retry-1"
    assert "selector" not in body["object"]["spec"]
    assert "confirmationToken" not in body
    status, body = call("delete", target, token)
    assert status == 200 and body["status"] == "dry_run", body
    assert body["plan"]["propagationPolicy"] == "Background"
    assert jobs(admin, namespace) == ["etl"]
    assert len(job_pods(admin, namespace, "etl")) == len(pods)
    assert [r["phase"] for r in audit(tmp_path)] == ["dry_run", "dry_run"]


def test_refusals_say_what_is_wrong_and_are_audited(
    admin: KubeApi, namespace: str, runtime: Runtime, call: Call, mint_token: Any, tmp_path: Path
) -> None:
    failed(admin, namespace, "etl", outcome="fail")
    target = {"cluster": "local", "namespace": namespace, "name": "etl"}
    reader = mint_token("reader", READER)
    status, body = call("restart", target, reader)
    assert status == 403, body
    assert "needs `delete` on `pods` and `create` on `jobs.batch`" in body["error"]
    assert f"in namespace {namespace}" in body["error"]
    status, body = call("delete", {**target, "propagationPolicy": "Orphan"}, reader)
    assert status == 403 and "needs `delete` on `jobs.batch` in" in body["error"], body

    assert call("restart", target)[0] == 401
    status, body = call("restart", target, "not-a-token")
    assert status == 401 and "did not accept the bearer token" in body["error"]
    operator = mint_token("ops", OPERATOR)
    status, body = call("restart", {**target, "cluster": "nowhere"}, operator)
    assert status == 400 and "cluster 'nowhere' is not configured" in body["error"]
    status, body = call("restart", {**target, "namespace": "kube-system"}, operator)
    assert status == 403 and "kube-system is protected" in body["error"]
    assert call("restart", {**target, "name": "missing"}, operator)[0] == 404
    assert call("restart", {"cluster": "local"}, operator)[0] == 400
    status, body = call("delete", {**target, "confirmationToken": "jw1.e30.AAAA"}, operator)
    assert status == 400 and body["code"] == "bad_token"

    results = [(r["phase"], r["httpStatus"]) for r in audit(tmp_path)]
    assert results == [("refused", s) for s in (403, 403, 401, 401, 400, 403, 404, 400, 400)]
    assert jobs(admin, namespace) == ["etl"]


def test_confirmation_is_stale_after_the_job_changed_expires_and_is_the_callers_own(
    admin: KubeApi, namespace: str, runtime: Runtime, call: Call, mint_token: Any
) -> None:
    failed(admin, namespace, "etl", outcome="fail")
    target = {"cluster": "local", "namespace": namespace, "name": "etl"}
    alice, bob = mint_token("alice", OPERATOR), mint_token("bob", OPERATOR)
    _, plan = call("delete", target, alice)
    confirm = {**target, "confirmationToken": plan["confirmationToken"]}
    status, body = call("delete", confirm, bob)
    assert status == 403 and body["code"] == "not_your_token", body
    status, body = call("delete", {**confirm, "propagationPolicy": "Orphan"}, alice)
    assert status == 400 and "propagationPolicy='Background'" in body["error"], body

    later = runtime.clock() + dt.timedelta(seconds=301)
    runtime.clock = lambda: later
    status, body = call("delete", confirm, alice)
    assert status == 409 and body["code"] == "expired", body
    runtime.clock = lambda: dt.datetime.now(dt.UTC)

    admin.merge_patch(
        f"/apis/batch/v1/namespaces/{namespace}/jobs/etl", {"metadata": {"labels": {"x": "y"}}}
    )
    status, body = call("delete", confirm, alice)
    assert status == 409 and "changed since the plan" in body["error"], body
    assert jobs(admin, namespace) == ["etl"]


def test_a_retried_confirmed_call_answers_as_the_first_and_acts_once(
    admin: KubeApi, namespace: str, runtime: Runtime, call: Call, mint_token: Any
) -> None:
    containers = [{"name": "main", "image": "r/m:1", "resources": {"limits": {"memory": "256Mi"}}}]
    failed(admin, namespace, "oom", outcome="oomkill", containers=containers)
    failed(admin, namespace, "gone", outcome="fail")
    token = mint_token("ops", OPERATOR)
    restart = {"cluster": "local", "namespace": namespace, "name": "oom", "increaseMemory": True}
    _, plan = call("restart", restart, token)
    confirm = {**restart, "confirmationToken": plan["confirmationToken"]}
    first = call("restart", confirm, token)
    again = call("restart", confirm, token)
    assert first[0] == again[0] == 200
    assert again[1]["replayed"] is True
    assert again[1]["newJob"] == first[1]["newJob"]
    delete = {"cluster": "local", "namespace": namespace, "name": "gone"}
    _, plan = call("delete", delete, token)
    confirm = {**delete, "confirmationToken": plan["confirmationToken"]}
    first = call("delete", confirm, token)
    again = call("delete", confirm, token)
    assert first[0] == again[0] == 200 and again[1]["status"] == "deleted" and again[1]["replayed"]
    assert jobs(admin, namespace) == ["oom", "oom-retry-1"]


def test_a_confirmation_in_flight_is_not_executed_twice_and_a_crashed_one_resumes(
    admin: KubeApi, namespace: str, runtime: Runtime, call: Call, mint_token: Any
) -> None:
    failed(admin, namespace, "etl", outcome="fail", after=0.5)
    token = mint_token("ops", OPERATOR)
    target = {"cluster": "local", "namespace": namespace, "name": "etl"}
    _, plan = call("restart", target, token)
    confirm = {**target, "confirmationToken": plan["confirmationToken"]}
    token_id = decode(plan["confirmationToken"], secret=SECRET).token_id
    book = ledger.Ledger(runtime.store, bound_to(plan["confirmationToken"]), {}, secret=SECRET)
    # another call is executing this confirmation right now
    assert book.claim(runtime.clock())
    status, body = call("restart", confirm, token)
    assert status == 409 and body["code"] == "in_progress", body
    assert jobs(admin, namespace) == ["etl"]
    # that call created the Job, then died before answering (a temporary failure)
    admin.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", plan["plan"]["object"])
    book.release(runtime.clock())
    assert token_id in book.key
    status, body = call("restart", confirm, token)
    assert status == 200 and body["resumed"] is True, body
    assert body["newJob"]["name"] == "etl-retry-1"
    assert jobs(admin, namespace) == ["etl", "etl-retry-1"]


def test_a_running_job_is_not_restarted(
    admin: KubeApi, namespace: str, runtime: Runtime, call: Call, mint_token: Any
) -> None:
    admin.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job_manifest("busy", after=60))
    token = mint_token("ops", OPERATOR)
    status, body = call(
        "restart", {"cluster": "local", "namespace": namespace, "name": "busy"}, token
    )
    assert status == 409 and body["code"] == "not_finished", body


def test_delete_background_and_foreground_remove_job_and_pods_orphan_only_when_asked(
    admin: KubeApi,
    namespace: str,
    configure: Callable[..., Runtime],
    call: Call,
    mint_token: Any,
    tmp_path: Path,
) -> None:
    configure()
    for name in ("bg", "fg", "orphan"):
        failed(admin, namespace, name, outcome="fail", backoff_limit=1)
    token = mint_token("ops", OPERATOR)

    def target(name: str, **more: Any) -> dict[str, Any]:
        return {"cluster": "local", "namespace": namespace, "name": name, **more}

    status, body = confirmed(call, "delete", target("bg"), token)
    assert status == 200 and body["status"] == "deleted", body
    assert body["propagationPolicy"] == "Background" and body["jobGone"] and body["podsGone"]
    status, body = confirmed(call, "delete", target("fg", propagationPolicy="Foreground"), token)
    assert (
        status == 200 and body["status"] == "deleted" and body["propagationPolicy"] == "Foreground"
    )
    orphans = sorted(p["metadata"]["name"] for p in job_pods(admin, namespace, "orphan"))
    status, body = confirmed(call, "delete", target("orphan", propagationPolicy="Orphan"), token)
    assert status == 200 and body["status"] == "deleted", body
    assert body["orphanedPods"] == orphans
    assert jobs(admin, namespace) == []
    assert sorted(p["metadata"]["name"] for p in job_pods(admin, namespace, "orphan")) == orphans
    assert not job_pods(admin, namespace, "bg") and not job_pods(admin, namespace, "fg")

    # without requireConfirmation, one call deletes
    configure(workflows={"jobWorkflows": {"jobDelete": {"requireConfirmation": False}}})
    failed(admin, namespace, "quick", outcome="fail")
    status, body = call("delete", target("quick"), token)
    assert status == 200 and body["status"] == "deleted", body
    phases = [(r["name"], r["phase"]) for r in audit(tmp_path)]
    assert phases.count(("quick", "execute")) == 1 and ("quick", "plan") not in phases
    assert phases.count(("quick", "intent")) == 1


def test_a_disabled_workflow_refuses_and_writes_nothing(
    namespace: str, configure: Callable[..., Runtime], call: Call, mint_token: Any, tmp_path: Path
) -> None:
    configure(workflows={"jobWorkflows": {"jobRestart": {"enabled": False}}})
    token = mint_token("ops", OPERATOR)
    status, body = call("restart", {"cluster": "local", "namespace": namespace, "name": "x"}, token)
    assert status == 403 and body["code"] == "disabled", body
    assert not (tmp_path / "reports").exists()


def test_an_iap_identity_is_verified_then_checked_against_rbac(
    admin: KubeApi, namespace: str, configure: Callable[..., Runtime], call: Call
) -> None:
    keys = IapKeys()
    with serve_jwks(keys) as jwks_url:
        configure(
            security={"authentication": "iap", "iap": {"audience": AUDIENCE, "jwksUrl": jwks_url}}
        )
        failed(admin, namespace, "etl", outcome="fail")
        rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
        admin.create(f"{rbac}/roles", {"metadata": {"name": "ops"}, "rules": OPERATOR})
        admin.create(
            f"{rbac}/rolebindings",
            {
                "metadata": {"name": "alice"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ops"},
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": "alice@example.com",
                    }
                ],
            },
        )
        target = {"cluster": "local", "namespace": namespace, "name": "etl", "dryRun": True}
        status, body = call("delete", target, **{HEADER: keys.sign("alice@example.com")})
        assert status == 200 and body["status"] == "dry_run", body
        status, body = call("delete", target, **{HEADER: keys.sign("mallory@example.com")})
        assert status == 403 and "mallory@example.com may not delete" in body["error"], body
        # the unsigned header that trusted-header mode believed names nobody now
        forged = {"X-Goog-Authenticated-User-Email": "accounts.google.com:alice@example.com"}
        status, body = call("delete", target, **forged)
        assert status == 401 and body["code"] == "unauthenticated", body
        expired = keys.sign("alice@example.com", expires_in=-1)
        assert call("delete", target, **{HEADER: expired})[0] == 401
        assert call("delete", target, **{HEADER: IapKeys(kid=keys.kid).sign()})[0] == 401
        assert admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/etl")  # still there


ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def pod_names(admin: KubeApi, namespace: str, job: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in job_pods(admin, namespace, job))


@contextlib.contextmanager
def policy_denying_jobs_to(admin: KubeApi, username: str, name: str) -> Iterator[str]:
    """A ValidatingAdmissionPolicy that refuses Job creation by `username` (by the request's
    userInfo: only a request made as that user is refused); yields its message."""
    message = f"{username} may not create Jobs (test policy {name})"
    admin.create(
        f"{ADMISSION}/validatingadmissionpolicies",
        {
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["batch"],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE"],
                            "resources": ["jobs"],
                        }
                    ]
                },
                "validations": [
                    {"expression": f"request.userInfo.username != '{username}'", "message": message}
                ],
            },
        },
    )
    admin.create(
        f"{ADMISSION}/validatingadmissionpolicybindings",
        {"metadata": {"name": name}, "spec": {"policyName": name, "validationActions": ["Deny"]}},
    )
    try:
        yield message
    finally:
        for kind in ("validatingadmissionpolicybindings", "validatingadmissionpolicies"):
            with contextlib.suppress(NotFoundError):
                admin.delete(f"{ADMISSION}/{kind}/{name}")


def test_restart_writes_as_the_caller_so_an_admission_policy_on_them_refuses_it_intact(
    admin: KubeApi, namespace: str, runtime: Runtime, call: Call, mint_token: Any, tmp_path: Path
) -> None:
    failed(admin, namespace, "etl", outcome="fail", after=0.5)
    alice, bob = mint_token("alice", OPERATOR), mint_token("bob", OPERATOR)
    alice_name = f"system:serviceaccount:{namespace}:alice"
    target = {"cluster": "local", "namespace": namespace, "name": "etl"}
    with policy_denying_jobs_to(admin, alice_name, f"deny-{namespace}") as message:
        as_alice = admin.impersonating(
            Caller(username=alice_name, groups=("system:authenticated",))
        )

        def in_force() -> bool | None:
            try:
                as_alice.request(
                    "POST",
                    f"/apis/batch/v1/namespaces/{namespace}/jobs",
                    body=job_manifest("probe"),
                    params={"dryRun": "All"},
                )
            except CallerRefusedError:
                return True
            return None

        wait_for(in_force, what="the admission policy in force")
        pods = pod_names(admin, namespace, "etl")
        assert pods

        status, body = confirmed(call, "restart", target, alice)
        assert (status, body["code"]) == (403, "forbidden"), body
        assert message in body["error"]
        assert jobs(admin, namespace) == ["etl"]  # nothing created
        assert pod_names(admin, namespace, "etl") == pods  # and no pod deleted

        # jobwarden's own identity (system:masters here) would pass; bob, as himself, does
        status, body = confirmed(call, "restart", target, bob)
        assert (status, body["status"]) == (200, "restarted"), body
    new = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/etl-retry-1")
    assert new["metadata"]["annotations"]["jobwarden.dev/restarted-by"].endswith(":bob")
    refused, done = (r for r in audit(tmp_path) if r["phase"] in ("execute", "refused"))
    assert (refused["who"], refused["httpStatus"]) == (alice_name, 403)
    assert done["details"]["actedAs"] == f"system:serviceaccount:{namespace}:bob"


def test_a_ledger_record_rewritten_in_storage_runs_nothing(
    admin: KubeApi, namespace: str, runtime: Runtime, call: Call, mint_token: Any, tmp_path: Path
) -> None:
    failed(admin, namespace, "etl", outcome="fail", after=0.5)
    pods = pod_names(admin, namespace, "etl")
    token = mint_token("ops", OPERATOR)
    target = {"cluster": "local", "namespace": namespace, "name": "etl"}
    _, plan = call("restart", target, token)
    confirm = {**target, "confirmationToken": plan["confirmationToken"]}
    binding = bound_to(plan["confirmationToken"])
    # as a temporary failure leaves it: a record the next call would resume
    ledger.Ledger(runtime.store, binding, {}, secret=SECRET).release(runtime.clock())
    stored = tmp_path / "reports" / ledger.ledger_key(binding.id)
    signed = json.loads(stored.read_text())

    # what the review did, with a bucket writer's rights: another image, service account and
    # the host's network, in the record's plan (signed record) or as a record of its own
    evil = copy.deepcopy(plan["plan"]["object"])
    pod = evil["spec"]["template"]["spec"]
    pod["containers"][0]["image"] = "registry.example/miner:1"
    pod["serviceAccountName"], pod["hostNetwork"] = "default", True
    rewritten = copy.deepcopy(signed)
    rewritten["plan"] = {**plan["plan"], "object": evil}
    resigned_elsewhere = copy.deepcopy(signed) | {"mac": "0" * 64}
    old_style = {"state": "retryable", "at": signed["at"], "plan": {**plan["plan"], "object": evil}}
    other_digest = copy.deepcopy(signed)
    other_digest["binding"]["digest"] = "f" * 32
    for record in (rewritten, resigned_elsewhere, old_style, other_digest):
        stored.write_text(json.dumps(record))
        status, body = call("restart", confirm, token)
        assert (status, body["code"]) == (409, "stale"), body
    assert jobs(admin, namespace) == ["etl"]
    assert pod_names(admin, namespace, "etl") == pods

    # the authentic record executes; an expired token with a record is refused all the same
    stored.write_text(json.dumps(signed))
    later = runtime.clock() + dt.timedelta(seconds=301)
    runtime.clock = lambda: later
    status, body = call("restart", confirm, token)
    assert (status, body["code"]) == (409, "expired"), body
    runtime.clock = lambda: dt.datetime.now(dt.UTC)
    status, body = call("restart", confirm, token)
    assert (status, body["status"], body.get("resumed")) == (200, "restarted", None), body
    created = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/etl-retry-1")
    assert (
        created["spec"]["template"]["spec"]["containers"][0]["image"] != "registry.example/miner:1"
    )
    assert not created["spec"]["template"]["spec"].get("hostNetwork")
    record = json.loads(stored.read_text())
    assert record["state"] == "done" and "object" not in record["plan"]
    assert record["plan"]["digest"] == binding.digest


def test_without_confirmation_an_idempotency_key_answers_a_retry_as_the_first(
    admin: KubeApi,
    namespace: str,
    configure: Callable[..., Runtime],
    call: Call,
    mint_token: Any,
) -> None:
    configure(workflows={"jobWorkflows": {"jobRestart": {"requireConfirmation": False}}})
    failed(admin, namespace, "etl", outcome="fail")
    token = mint_token("ops", OPERATOR)
    target = {"cluster": "local", "namespace": namespace, "name": "etl"}
    key = {"Idempotency-Key": "3f0e6c1a-retry-me"}
    first = call("restart", target, token, **key)
    again = call("restart", target, token, **key)
    assert first[0] == again[0] == 200, (first, again)
    assert again[1]["replayed"] is True and again[1]["newJob"] == first[1]["newJob"]
    assert jobs(admin, namespace) == ["etl", "etl-retry-1"]

    status, body = call("restart", {**target, "increaseMemory": True}, token, **key)
    assert (status, body["code"]) == (422, "idempotency_key_reused"), body
    status, body = call("restart", target, token, **{"Idempotency-Key": "bad key\u00e9"})
    assert (status, body["code"]) == (400, "bad_request"), body
    status, body = call("restart", target, token, **{"Idempotency-Key": "another"})
    assert status == 200 and body["newJob"]["name"] == "etl-retry-2", body
    assert jobs(admin, namespace) == ["etl", "etl-retry-1", "etl-retry-2"]
