"""The chart's all-in-one mode: `jobwarden watch --in-cluster` as one Deployment.

Rendered with helm (built by `make tools`); its RBAC applied to the real API server and a
token of its ServiceAccount handed to `jobwarden watch` (what `--in-cluster` reads in a
pod): a failed Job is reported with its log, and without one of the rules `watch` refuses
to start and names the verb. The exporter Deployment is not rendered in this mode.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobwarden.errors import NotFoundError
from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.helm import apply, find, object_path, one, template
from tests.support.kube import job_manifest, token_kubeconfig
from tests.support.watch import WatchProcess

pytestmark = pytest.mark.stack
JSON = dict[str, Any]
RBAC = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def _container(objects: list[JSON]) -> JSON:
    (deployment,) = find(objects, "Deployment")
    (box,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(box)


def test_all_in_one_renders_a_watch_deployment_a_service_and_a_claim_not_the_exporter() -> None:
    objects = template(
        {"allInOne": {"enabled": True}, "replicaCount": 2, "topic": ""}
    )  # no Pub/Sub
    box = _container(objects)
    assert box["command"] == ["python", "-m", "jobwarden_watch"]
    assert {"--in-cluster", "--cluster-name=prod-eu", "--host=0.0.0.0", "--port=8080"} <= set(
        box["args"]
    )
    assert "--reports=/var/lib/jobwarden/reports" in box["args"]
    assert not any(a.startswith("--topic") for a in box["args"])
    assert one(objects, "Deployment")["spec"]["replicas"] == 1  # the queue is in its memory
    assert find(objects, "PodDisruptionBudget") == []
    (port,) = one(objects, "Service")["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (8080, "pages")
    assert one(objects, "PersistentVolumeClaim")["spec"]["resources"]["requests"] == {
        "storage": "1Gi"
    }
    watch_role = next(
        r for r in find(objects, "ClusterRole") if r["metadata"]["name"].endswith("-watch")
    )
    assert not any("impersonate" in rule["verbs"] for rule in watch_role["rules"])

    in_bucket = template(
        {"allInOne": {"enabled": True, "reports": "gs://reports-eu/jw", "actions": True}}
    )
    assert "--reports=gs://reports-eu/jw" in _container(in_bucket)["args"]
    assert find(in_bucket, "PersistentVolumeClaim") == []
    watch_role = next(
        r for r in find(in_bucket, "ClusterRole") if r["metadata"]["name"].endswith("-watch")
    )
    assert any("impersonate" in rule["verbs"] for rule in watch_role["rules"])

    # webhooks: the rule in the ConfigMap, its URL from a Secret in the watch container
    secret_ref = {"secretKeyRef": {"name": "jobwarden-webhooks", "key": "slack"}}
    posting = template(
        {
            "allInOne": {"enabled": True},
            "sinks": {"webhooks": [{"name": "team-slack", "type": "slack", "urlEnv": "SLACK"}]},
            "extraEnv": [{"name": "SLACK", "valueFrom": secret_ref}],
        }
    )
    assert {"name": "SLACK", "valueFrom": secret_ref} in _container(posting)["env"]
    config = one(posting, "ConfigMap")["data"]["jobwarden.yaml"]
    assert "urlEnv: SLACK" in config and "team-slack" in config


@pytest.fixture
def applied(admin: KubeApi) -> Iterator[list[JSON]]:
    created: list[JSON] = []
    yield created
    for obj in created:
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            with contextlib.suppress(NotFoundError):
                admin.delete(object_path(admin, obj))


def _install(
    admin: KubeApi, namespace: str, applied: list[JSON], *, drop: JSON | None = None
) -> tuple[str, str]:
    """Apply the all-in-one RBAC (without the rule `drop`); the cluster's name and a token."""
    name = f"aio-{uuid.uuid4().hex[:6]}"
    values = {
        "clusterName": name,
        "allInOne": {"enabled": True},
        "leaderElection": {"enabled": False},
    }
    objects = template(values, release=name, namespace=namespace)
    dropped = 0
    for obj in objects:
        if obj["kind"] not in RBAC:
            continue
        if drop is not None and obj["kind"] == "ClusterRole":
            kept = [r for r in obj["rules"] if r != drop]
            dropped += len(obj["rules"]) - len(kept)
            obj["rules"] = kept
        applied.append(obj)
        apply(admin, obj)
    assert drop is None or dropped == 1, f"the chart has no rule {drop} to drop"
    account = one(objects, "ServiceAccount")["metadata"]["name"]
    review = admin.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    return name, str(review["status"]["token"])


def test_the_all_in_one_rbac_is_enough_to_report_a_failed_job_with_its_log(
    stack: StackInfo, admin: KubeApi, namespace: str, tmp_path: Path, applied: list[JSON]
) -> None:
    name, token = _install(admin, namespace, applied)
    kubeconfig = token_kubeconfig(tmp_path / "kubeconfig", stack, token)
    reports = tmp_path / "reports"
    proc = WatchProcess(
        ["--kubeconfig", str(kubeconfig), "--cluster-name", name, "--namespace", namespace,
         "--reports", str(reports), "--port", "0"],
        env={"KUBECONFIG": ""},
    )  # fmt: skip
    try:
        proc.started()
        admin.create(
            f"/apis/batch/v1/namespaces/{namespace}/jobs",
            job_manifest("nightly", outcome="fail", after=2, logs="ERROR: disk quota exceeded"),
        )
        line = proc.wait_line(lambda ln: f"{name}/{namespace}/nightly  jobFailureReporter" in ln)
        report = json.loads(Path(line.split("  ")[-1]).with_suffix(".json").read_text())
        assert "ERROR: disk quota exceeded" in json.dumps(report["blocks"])
        assert not any("forbidden" in ln.lower() for ln in proc.errors), proc.errors
    finally:
        proc.stop()


def test_without_a_rule_of_the_chart_watch_names_the_missing_verb(
    stack: StackInfo, admin: KubeApi, namespace: str, tmp_path: Path, applied: list[JSON]
) -> None:
    # Only the watch role grants `get` on Jobs (the exporter's role lists and watches them;
    # it also lists pods now, so dropping `list pods` would leave watch allowed).
    jobs = {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["get"]}
    name, token = _install(admin, namespace, applied, drop=jobs)
    kubeconfig = token_kubeconfig(tmp_path / "kubeconfig", stack, token)
    proc = WatchProcess(
        ["--kubeconfig", str(kubeconfig), "--cluster-name", name, "--port", "0"],
        env={"KUBECONFIG": ""},
    )
    try:
        assert proc.proc.wait(60) == 2
    finally:
        proc.stop()
    time.sleep(0.3)  # the reader threads drain stderr
    text = "\n".join(proc.errors)
    assert "`get` on `jobs.batch` cluster-wide" in text, text
    assert "`get` on `cronjobs.batch` cluster-wide" in text, text
    assert "`list` on `pods`" not in text, text
