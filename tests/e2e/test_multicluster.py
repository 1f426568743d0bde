"""Many clusters, one place: two API servers, an exporter each, one topic, one set of functions."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from jobwarden.kubeapi import KubeApi
from jobwarden.sinks.storage import open_store
from jobwarden_dev.localstack.embedded import Pipeline
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.kube import job_manifest


def _wait_file(root: Path, pattern: str, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(root.glob(pattern)) if root.exists() else []
        if found:
            return found[-1]
        time.sleep(0.3)
    raise AssertionError(f"no {pattern} under {root} after {timeout:.0f}s")


def _token(api: KubeApi, ns: str) -> str:
    rules = [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]},
    ]
    api.create(f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "ops"}})
    base = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    api.create(f"{base}/roles", {"metadata": {"name": "ops"}, "rules": rules})
    api.create(
        f"{base}/rolebindings",
        {
            "metadata": {"name": "ops"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ops"},
            "subjects": [{"kind": "ServiceAccount", "name": "ops", "namespace": ns}],
        },
    )
    review = api.create(
        f"/api/v1/namespaces/{ns}/serviceaccounts/ops/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 600},
        },
    )
    return str(review["status"]["token"])


def _post(url: str, body: dict[str, Any], token: str) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return dict(json.loads(response.read()))


def test_two_clusters_report_to_one_place_and_a_restart_goes_to_the_right_cluster(
    stack: StackInfo, stack_b: StackInfo, tmp_path: Path
) -> None:
    ns = f"team-{uuid.uuid4().hex[:6]}"
    apis = {s.name: KubeApi(s.admin_credentials()) for s in (stack, stack_b)}
    for api in apis.values():
        api.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    reports = tmp_path / "reports"
    pipeline = Pipeline(
        [stack, stack_b],
        tmp_path / "run",
        reports,
        lambda _: None,
        functions=("job_failure_reporter",),
        topic_id=f"t-{uuid.uuid4().hex[:8]}",
        namespaces=(ns,),
        http_functions=("job_restart",),
        env={"JOBWARDEN_CONFIRM_SECRET": "k3y-" + "0" * 40},
    )
    pipeline.start()
    try:
        for cluster, api in apis.items():  # the same namespace and Job name in both clusters
            api.create(
                f"/apis/batch/v1/namespaces/{ns}/jobs",
                job_manifest("nightly", outcome="fail", logs=f"ERROR: broken in {cluster}"),
            )
        a = json.loads(
            _wait_file(reports, f"local/{ns}/nightly/*/jobFailureReporter/*.json").read_text()
        )
        b = json.loads(
            _wait_file(reports, f"cluster-b/{ns}/nightly/*/jobFailureReporter/*.json").read_text()
        )
        assert (a["cluster"], b["cluster"]) == ("local", "cluster-b")
        assert "ERROR: broken in local" in a["title"]
        assert "ERROR: broken in cluster-b" in b["title"]
        clusters = {e.cluster for e in open_store(reports.as_uri()).read_index()}
        assert {"cluster-b", "local"} <= clusters

        token = _token(apis["cluster-b"], ns)
        target = {"cluster": "cluster-b", "namespace": ns, "name": "nightly"}
        plan = _post(pipeline.urls["job_restart"], target, token)
        done = _post(
            pipeline.urls["job_restart"],
            {**target, "confirmationToken": plan["confirmationToken"]},
            token,
        )
        assert done["status"] == "restarted"
        names_b = [
            j["metadata"]["name"]
            for j in apis["cluster-b"].get(f"/apis/batch/v1/namespaces/{ns}/jobs")["items"]
        ]
        names_a = [
            j["metadata"]["name"]
            for j in apis["local"].get(f"/apis/batch/v1/namespaces/{ns}/jobs")["items"]
        ]
        assert sorted(names_b) == ["nightly", "nightly-retry-1"]
        assert names_a == ["nightly"]
    finally:
        pipeline.stop()
