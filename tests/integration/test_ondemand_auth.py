"""On-demand reports (`<name>_http`) check their caller like restart and delete do.

Real API server, real tokens: a caller without credentials gets 401, one whose RBAC lacks
what the report reads gets 403 naming each missing permission, bad names get 400, a
protected namespace 403; an authorized caller gets the report, which stays out of the
cross-cluster index. An IAP identity is checked against RBAC as its email.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from jobwarden.iap import HEADER
from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden.sinks.storage import open_store
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.iap import AUDIENCE, IapKeys, serve_jwks
from tests.support.kube import job_condition, job_manifest, wait_for
from tests.support.runtime import make_runtime

ROOT = Path(__file__).resolve().parents[2]
RBAC = "rbac.authorization.k8s.io"
READS = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]


def http(name: str) -> Any:
    source = ROOT / "functions" / name.removesuffix("_http") / "main.py"
    return create_app(name, str(source), "http").test_client()


@pytest.fixture
def configure(stack: StackInfo, tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    def make(**extra: Any) -> Runtime:
        rt = make_runtime(stack, tmp_path / "reports", extra=extra)
        set_default_runtime(rt)
        return rt

    yield make
    set_default_runtime(None)


@pytest.fixture
def failed_job(admin: KubeApi, namespace: str) -> str:
    admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/jobs",
        job_manifest("etl", outcome="fail", backoff_limit=0, logs="ERROR: boom"),
    )
    wait_for(lambda: job_condition(admin, namespace, "etl", "Failed"), timeout=60, what="Failed")
    return "etl"


def ask(name: str, body: Any, token: str | None = None, **headers: str) -> tuple[int, Any]:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = http(name).post("/", json=body, headers=headers)
    return response.status_code, response.get_json()


def test_callers_are_authenticated_and_authorized_for_what_the_report_reads(
    configure: Callable[..., Runtime],
    failed_job: str,
    namespace: str,
    mint_token: Callable[..., str],
    tmp_path: Path,
) -> None:
    configure()
    job = {"cluster": "local", "namespace": namespace, "name": failed_job}
    status, body = ask("job_pod_enricher_http", job)
    assert status == 401 and body["code"] == "unauthenticated", body
    assert ask("job_pod_enricher_http", job, "not-a-token")[0] == 401

    no_logs = mint_token("no-logs", READS[:2])
    status, body = ask("job_pod_enricher_http", job, no_logs)  # includeLogs: true by default
    assert status == 403 and "`get` on `pods/log`" in body["error"], body
    assert "`get` on `jobs.batch`" not in body["error"]  # names only what is missing
    status, body = ask("job_info_enricher_http", job, no_logs)  # info reads no logs
    assert status == 200 and body["workflow"] == "jobInfoEnricher", body

    nothing = mint_token("nothing", [])
    status, body = ask("job_events_enricher_http", job, nothing)
    assert status == 403, body
    for needed in ("`get` on `jobs.batch`", "`list` on `pods`", "`list` on `events`"):
        assert needed in body["error"], body

    reader = mint_token("reader", READS)
    status, body = ask("job_pod_enricher_http", job, reader)
    assert status == 200 and body["workflow"] == "jobPodEnricher", body
    index = open_store((tmp_path / "reports").as_uri()).read_index()
    assert "jobPodEnricher" not in {e.workflow for e in index}  # not indexed
    assert list((tmp_path / "reports").rglob("jobPodEnricher/*.json")), "but stored"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"cluster": "local", "namespace": "../kube-system", "name": "x"}, "namespace"),
        ({"cluster": "local", "namespace": "ok", "name": "../../api/v1/secrets"}, "Job name"),
        ({"cluster": "local", "namespace": "ok", "name": "a/b"}, "Job name"),
        ({"cluster": "local", "namespace": "UPPER", "name": "x"}, "namespace"),
        ({"cluster": "../local", "namespace": "ok", "name": "x"}, "cluster name"),
    ],
)
def test_names_that_are_not_kubernetes_names_are_400(
    configure: Callable[..., Runtime], body: dict[str, str], why: str
) -> None:
    configure()
    status, answer = ask("job_info_enricher_http", body, "any-token")
    assert status == 400 and why in answer["error"], answer


def test_protected_namespaces_are_refused_whatever_rbac_says(
    configure: Callable[..., Runtime], namespace: str, mint_token: Callable[..., str]
) -> None:
    configure(security={"protectedNamespaces": [namespace]})
    token = mint_token("reader", READS)
    status, body = ask(
        "job_info_enricher_http", {"cluster": "local", "namespace": namespace, "name": "x"}, token
    )
    assert status == 403 and body["code"] == "protected_namespace", body


def test_an_iap_caller_is_authorized_as_its_email(
    admin: KubeApi, configure: Callable[..., Runtime], failed_job: str, namespace: str
) -> None:
    keys = IapKeys()
    with serve_jwks(keys) as url:
        configure(security={"authentication": "iap", "iap": {"audience": AUDIENCE, "jwksUrl": url}})
        rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
        admin.create(f"{rbac}/roles", {"metadata": {"name": "read"}, "rules": READS})
        admin.create(
            f"{rbac}/rolebindings",
            {
                "metadata": {"name": "read"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "read",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": "dana@example.com",
                    }
                ],
            },
        )
        job = {"cluster": "local", "namespace": namespace, "name": failed_job}
        status, body = ask("job_info_enricher_http", job, **{HEADER: keys.sign("dana@example.com")})
        assert status == 200 and body["job"] == failed_job, body
        status, body = ask("job_info_enricher_http", job, **{HEADER: keys.sign("eve@example.com")})
        assert status == 403 and "eve@example.com may not" in body["error"], body
        status, body = ask("job_info_enricher_http", job, **{"Authorization": "Bearer x"})
        assert status == 401, body


def test_performance_on_request_needs_list_jobs_where_it_looks(
    configure: Callable[..., Runtime], namespace: str, mint_token: Callable[..., str]
) -> None:
    configure()
    scope = {"cluster": "local", "namespace": namespace}
    assert ask("job_performance_analysis_http", scope)[0] == 401
    status, body = ask("job_performance_analysis_http", scope, mint_token("none", []))
    assert status == 403 and "`list` on `jobs.batch`" in body["error"], body
    lister = mint_token(
        "lister", [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list"]}]
    )
    status, body = ask("job_performance_analysis_http", scope, lister)
    assert status == 200 and body["workflow"] == "jobPerformanceAnalysis", body
    # every namespace needs a cluster-wide grant, which a namespaced Role is not
    status, body = ask("job_performance_analysis_http", {"cluster": "local"}, lister)
    assert status == 403 and "in every namespace" in json.dumps(body), body
