"""The functions' in-cluster permissions and the Knative manifests, on the real API server.

`infra/kubernetes/functions-rbac.yaml` is what a platform team binds for the functions in
each cluster; these tests run the real functions with exactly those rules (and nothing
else) and show that a failure report is complete and a restart and a delete go through.
`infra/knative/` is checked by a server-side dry run against Knative's own Service CRD.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from functions_framework import create_app

from jobwarden.errors import ApiError, ApiUnavailableError, ForbiddenError, NotFoundError
from jobwarden.kubeapi import Credentials, KubeApi
from jobwarden.runtime import set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.events import from_jobwarden, job_event
from tests.support.helm import apply
from tests.support.knative import install_service_crd
from tests.support.kube import job_condition, job_manifest, token_kubeconfig, wait_for
from tests.support.runtime import make_runtime

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "infra" / "kubernetes" / "functions-rbac.yaml"
KNATIVE = ROOT / "infra" / "knative" / "jobwarden-functions.yaml"
RBAC_API = "/apis/rbac.authorization.k8s.io/v1"
SECRET = "rbac-test-confirmation-secret-0123456789"
CALLER_READS = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]
CALLER_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]},
]


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _role(name: str) -> dict[str, Any]:
    (role,) = [
        d for d in _docs(RBAC) if d["kind"] == "ClusterRole" and d["metadata"]["name"] == name
    ]
    return role


Identity = Callable[[str, list[str]], Path]


@pytest.fixture
def identity(
    admin: KubeApi, namespace: str, stack: StackInfo, tmp_path: Path
) -> Iterator[Identity]:
    """A ServiceAccount bound to the given ClusterRoles (from the file, renamed per test),
    returned as a kubeconfig holding its token: the functions' credentials for the cluster."""
    made: list[str] = []
    suffix = uuid.uuid4().hex[:6]

    def make(account: str, roles: list[str]) -> Path:
        admin.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": account}}
        )
        for role in roles:
            if role.startswith("system:"):
                ref = role  # a built-in role, bound as is
            elif f"{RBAC_API}/clusterroles/{role}-{suffix}" in made:
                ref = f"{role}-{suffix}"  # made for another identity of this test
            else:
                body = copy.deepcopy(_role(role))
                ref = body["metadata"]["name"] = f"{role}-{suffix}"
                admin.create(f"{RBAC_API}/clusterroles", body)
                made.append(f"{RBAC_API}/clusterroles/{ref}")
            binding = f"{account}-{role.replace(':', '-')}-{suffix}"
            admin.create(
                f"{RBAC_API}/clusterrolebindings",
                {
                    "metadata": {"name": binding},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": ref,
                    },
                    "subjects": [
                        {"kind": "ServiceAccount", "name": account, "namespace": namespace}
                    ],
                },
            )
            made.append(f"{RBAC_API}/clusterrolebindings/{binding}")
        token = admin.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
        )["status"]["token"]
        return token_kubeconfig(tmp_path / f"{account}.kubeconfig", stack, token)

    yield make
    for path in reversed(made):
        with contextlib.suppress(NotFoundError):
            admin.delete(path)


def _function(name: str) -> Any:
    signature = "http" if name in {"job_restart", "job_delete"} else "cloudevent"
    return create_app(name, str(ROOT / "functions" / name / "main.py"), signature).test_client()


def _token(kubeconfig: Path) -> str:
    return str(json.loads(kubeconfig.read_text())["users"][0]["user"]["token"])


def test_a_failure_report_is_complete_with_only_the_reader_role(
    admin: KubeApi,
    namespace: str,
    stack: StackInfo,
    identity: Identity,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kubeconfig = identity("jobwarden-reporter", ["jobwarden-reader"])
    reports = tmp_path / "reports"
    set_default_runtime(
        make_runtime(
            stack, reports, extra={"clusters": [{"name": "local", "kubeconfig": str(kubeconfig)}]}
        )
    )
    try:
        admin.create(
            f"/apis/batch/v1/namespaces/{namespace}/jobs",
            job_manifest(
                "loader", outcome="fail", exit_code=3, after=2, logs="ERROR: disk quota exceeded"
            ),
        )
        wait_for(lambda: job_condition(admin, namespace, "loader", "Failed"), timeout=90)
        job = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/loader")
        headers, body = from_jobwarden(job_event(job, cluster="local"), "rbac-1")
        with caplog.at_level(logging.INFO, logger="jobwarden"):
            assert (
                _function("job_failure_reporter").post("/", headers=headers, data=body).status_code
                == 200
            )
    finally:
        set_default_runtime(None)
    (stored,) = list(reports.rglob("jobFailureReporter/*.json"))
    report = yaml.safe_load(stored.read_text())
    assert "exited with code 3" in report["title"]
    kinds = {b["type"] for b in report["blocks"]}
    assert {"timeline", "log"} <= kinds  # events and the log were readable
    log_block = next(b for b in report["blocks"] if b["type"] == "log")
    assert "ERROR: disk quota exceeded" in str(log_block)
    assert "forbidden" not in caplog.text.lower()
    # and the reader can change nothing
    reader = KubeApi(
        Credentials(server=stack.server, ca_file=stack.ca_file, token=_token(kubeconfig))
    )
    with pytest.raises(ForbiddenError):
        reader.delete(f"/apis/batch/v1/namespaces/{namespace}/jobs/loader")


def test_an_on_demand_report_needs_the_reader_role_and_auth_delegator(
    admin: KubeApi,
    namespace: str,
    stack: StackInfo,
    identity: Identity,
    mint_token: Any,
    tmp_path: Path,
) -> None:
    """The README table binds every report function to jobwarden-reader and
    system:auth-delegator: an `_http` target reviews its caller's token (TokenReview) and
    RBAC (SubjectAccessReview) with its own credentials before it reads the Job."""
    admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/jobs",
        job_manifest("report", outcome="fail", logs="ERROR: boom"),
    )
    wait_for(lambda: job_condition(admin, namespace, "report", "Failed"), timeout=90)
    caller = {"Authorization": f"Bearer {mint_token('reader', CALLER_READS)}"}
    target = {"cluster": "local", "namespace": namespace, "name": "report"}
    source = str(ROOT / "functions" / "job_pod_enricher" / "main.py")

    def ask(kubeconfig: Path) -> tuple[int, Any]:
        set_default_runtime(
            make_runtime(
                stack,
                tmp_path / kubeconfig.stem,
                extra={"clusters": [{"name": "local", "kubeconfig": str(kubeconfig)}]},
            )
        )
        try:
            fn = create_app("job_pod_enricher_http", source, "http").test_client()
            answer = fn.post("/", json=target, headers=caller)
        finally:
            set_default_runtime(None)
        return answer.status_code, answer.get_json()

    status, body = ask(
        identity("jobwarden-reporter", ["jobwarden-reader", "system:auth-delegator"])
    )
    assert (status, body.get("workflow")) == (200, "jobPodEnricher"), body
    assert "ERROR: boom" in json.dumps(body)
    # without system:auth-delegator the function cannot check its caller: its own RBAC
    # is too narrow (500), never an answer that skips the check
    status, body = ask(identity("jobwarden-reader-only", ["jobwarden-reader"]))
    assert status == 500 and "tokenreviews" in body["error"], body


def test_restart_and_delete_work_as_the_caller_with_only_reads_impersonation_and_auth_delegator(
    admin: KubeApi,
    namespace: str,
    stack: StackInfo,
    identity: Identity,
    mint_token: Any,
    tmp_path: Path,
) -> None:
    kubeconfig = identity("jobwarden-actions", ["jobwarden-operator", "system:auth-delegator"])
    set_default_runtime(
        make_runtime(
            stack,
            tmp_path / "reports",
            extra={
                "clusters": [{"name": "local", "kubeconfig": str(kubeconfig)}],
                "restart": {"followTimeoutSeconds": 20},
            },
            env={"JOBWARDEN_CONFIRM_SECRET": SECRET},
        )
    )
    try:
        admin.create(
            f"/apis/batch/v1/namespaces/{namespace}/jobs", job_manifest("etl", outcome="fail")
        )
        wait_for(lambda: job_condition(admin, namespace, "etl", "Failed"), timeout=90)
        caller = {"Authorization": f"Bearer {mint_token('ops', CALLER_RULES)}"}
        outcomes = {}
        for action, name in (("restart", "etl"), ("delete", "etl-retry-1")):
            fn = _function(f"job_{action}")
            target = {"cluster": "local", "namespace": namespace, "name": name}
            plan = fn.post("/", json=target, headers=caller)
            assert plan.status_code == 200, plan.get_json()
            done = fn.post(
                "/",
                json={**target, "confirmationToken": plan.get_json()["confirmationToken"]},
                headers=caller,
            )
            outcomes[action] = (done.status_code, done.get_json()["status"])
    finally:
        set_default_runtime(None)
    assert outcomes == {"restart": (200, "restarted"), "delete": (200, "deleted")}
    names = [
        j["metadata"]["name"]
        for j in admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs")["items"]
    ]
    assert names == ["etl"]
    # jobwarden itself may write nothing: every write above was the caller's
    own = KubeApi(Credentials(server=stack.server, ca_file=stack.ca_file, token=_token(kubeconfig)))
    with pytest.raises(ForbiddenError):
        own.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job_manifest("mine"))
    with pytest.raises(ForbiddenError):
        own.delete(f"/apis/batch/v1/namespaces/{namespace}/jobs/etl")


def test_the_rbac_and_knative_manifests_pass_a_server_side_dry_run(
    admin: KubeApi, namespace: str
) -> None:
    install_service_crd(admin)
    accepted = []
    for doc in _docs(RBAC) + _docs(KNATIVE):
        obj = copy.deepcopy(doc)
        if "namespace" in obj["metadata"]:
            obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects", []):
            subject["namespace"] = namespace
        result = apply(admin, obj, dry_run=True)
        accepted.append((result["kind"], result["metadata"]["name"]))
    assert ("Service", "job-failure-reporter") in accepted
    assert ("ClusterRole", "jobwarden-operator") in accepted
    assert len(accepted) == len(_docs(RBAC)) + len(_docs(KNATIVE))
    # dry run: nothing was created
    with pytest.raises(NotFoundError):
        admin.get(f"{RBAC_API}/clusterroles/jobwarden-reader")
    # the schema is really checked: a wrong type in a container is refused
    (service,) = [d for d in _docs(KNATIVE) if d["metadata"]["name"] == "job-restart"]
    bad = copy.deepcopy(service)
    bad["metadata"]["namespace"] = namespace
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eighty"
    # (server-side apply answers a typed-patch failure with 500, whence either error type)
    with pytest.raises((ApiError, ApiUnavailableError)) as refused:
        apply(admin, bad, dry_run=True)
    assert "containerPort: expected numeric" in str(refused.value)
