"""infra/knative: what makes the Knative Services start and stay private, read from the file.

The server-side dry run against Knative's Service CRD is in
tests/integration/test_functions_rbac.py; these are the promises a dry run cannot see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
KNATIVE = ROOT / "infra" / "knative" / "jobwarden-functions.yaml"


def _docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(KNATIVE.read_text()) if d]


def _services() -> list[dict[str, Any]]:
    return [d for d in _docs() if d["kind"] == "Service"]


def test_the_namespace_comes_first_so_one_apply_creates_everything() -> None:
    docs = _docs()
    assert docs[0]["kind"] == "Namespace"
    namespace = docs[0]["metadata"]["name"]
    assert {d["metadata"].get("namespace", namespace) for d in docs[1:]} == {namespace}


def test_every_route_is_cluster_local() -> None:
    # Nothing verifies who posts an event, so no route may be public by default.
    assert len(_services()) >= 2
    for service in _services():
        labels = service["metadata"].get("labels", {})
        assert labels.get("networking.knative.dev/visibility") == "cluster-local", service[
            "metadata"
        ]["name"]


def test_a_read_only_root_has_a_writable_tmp_for_gunicorn() -> None:
    for service in _services():
        spec = service["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for box in spec["containers"]:
            assert box["securityContext"]["readOnlyRootFilesystem"] is True
            mounts = {m["mountPath"]: m["name"] for m in box.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{service['metadata']['name']}: no writable /tmp"
            assert "emptyDir" in volumes[mounts["/tmp"]]


def test_every_service_account_acts_as_a_google_account_through_workload_identity() -> None:
    accounts = {d["metadata"]["name"]: d for d in _docs() if d["kind"] == "ServiceAccount"}
    for name, account in accounts.items():
        email = account["metadata"].get("annotations", {}).get("iam.gke.io/gcp-service-account")
        assert email and email.endswith(".iam.gserviceaccount.com"), name
    for service in _services():
        assert service["spec"]["template"]["spec"]["serviceAccountName"] in accounts


def test_every_functions_account_may_review_its_callers() -> None:
    # Restart, delete and the on-demand reports (the _http targets) check their caller with
    # TokenReview and SubjectAccessReview: the README table binds system:auth-delegator to
    # every functions' identity, beside jobwarden-reader or jobwarden-operator.
    delegated = {
        subject["name"]
        for d in _docs()
        if d["kind"] == "ClusterRoleBinding" and d["roleRef"]["name"] == "system:auth-delegator"
        for subject in d["subjects"]
    }
    for service in _services():
        account = service["spec"]["template"]["spec"]["serviceAccountName"]
        assert account in delegated, f"{service['metadata']['name']}: {account}"


def test_every_service_reads_the_configuration_the_exporter_chart_renders() -> None:
    # One values file is the configuration: the file holds no ConfigMap of its own, and every
    # Service mounts the chart's (release jobwarden-exporter: ConfigMap jobwarden-exporter,
    # key jobwarden.yaml) where JOBWARDEN_CONFIG points. tests/integration/test_helm_values.py
    # renders the chart and checks the names against it.
    assert not [d for d in _docs() if d["kind"] == "ConfigMap"]
    for service in _services():
        spec = service["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        (box,) = spec["containers"]
        config = Path(next(e["value"] for e in box["env"] if e["name"] == "JOBWARDEN_CONFIG"))
        (mount,) = [m for m in box["volumeMounts"] if m["mountPath"] == str(config.parent)]
        assert volumes[mount["name"]]["configMap"] == {"name": "jobwarden-exporter"}, service
        assert config.name == "jobwarden.yaml"
