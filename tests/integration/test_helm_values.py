"""One values file is the configuration: what `helm --set` changes reaches the functions.

The chart renders its values into a ConfigMap; the exporter reads it (`--config`) and the
functions running in the cluster mount it (`infra/knative`: `JOBWARDEN_CONFIG`). Here the
chart is rendered by the real helm binary, its ConfigMap applied to the local stack's real
API server and read back from there, projected as a file where the Knative Service mounts
it, and the functions are run with exactly that file. Only what cannot work outside a pod
is substituted: the `inCluster: true` cluster becomes a kubeconfig of the same API server.
(Terraform's reading of the same file: tests/integration/test_terraform.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from functions_framework import create_app

from jobwarden.config import Settings, load_config, parse_config
from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from jobwarden_exporter.main import watch_options
from tests.support.helm import apply, find, object_path, template
from tests.support.kube import job_condition, job_manifest, wait_for

JSON = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
KNATIVE = ROOT / "infra" / "knative" / "jobwarden-functions.yaml"
EXAMPLE_VALUES = (
    ROOT / "infra" / "terraform" / "examples" / "two-clusters" / "jobwarden-values.yaml"
)
#: The release name the Knative manifests expect (README: Run the functions on Knative).
RELEASE = "jobwarden-exporter"
SECRET = "helm-values-test-confirmation-key-0123456789"
CALLER_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]},
]
DISABLE_RESTART = "workflows.jobWorkflows.jobRestart.enabled=false"


def knative_service(name: str) -> JSON:
    (service,) = [
        d
        for d in yaml.safe_load_all(KNATIVE.read_text())
        if d and d["kind"] == "Service" and d["metadata"]["name"] == name
    ]
    return dict(service)


def knative_mount(name: str) -> tuple[str, str, str]:
    """(ConfigMap name, key, JOBWARDEN_CONFIG) of the Knative Service `name`."""
    spec = knative_service(name)["spec"]["template"]["spec"]
    (box,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in box["env"]}
    path = Path(env["JOBWARDEN_CONFIG"])
    (mount,) = [m for m in box["volumeMounts"] if m["mountPath"] == str(path.parent)]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    return volume["configMap"]["name"], path.name, str(path)


def test_the_knative_functions_mount_the_configmap_the_chart_renders() -> None:
    objects = template(release=RELEASE, namespace="jobwarden")
    (config_map,) = find(objects, "ConfigMap")
    for service in ("job-failure-reporter", "job-restart"):
        name, key, _ = knative_mount(service)
        assert (config_map["metadata"]["name"], config_map["metadata"]["namespace"]) == (
            name,
            knative_service(service)["metadata"]["namespace"],
        ), service
        assert key in config_map["data"], service
    # and the exporter reads the same key of the same ConfigMap
    (deployment,) = find(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "config", "configMap": {"name": name}} in pod["volumes"]
    assert f"--config=/etc/jobwarden/{key}" in pod["containers"][0]["args"]


def test_helm_set_changes_the_rendered_configuration_over_a_values_file() -> None:
    """A values file (the example's) and `--set` on top, as an operator runs helm."""
    base = template(release=RELEASE, files=[EXAMPLE_VALUES])
    changed = template(release=RELEASE, files=[EXAMPLE_VALUES], sets=[DISABLE_RESTART])

    def config(objects: list[JSON]) -> JSON:
        (config_map,) = find(objects, "ConfigMap")
        loaded: JSON = yaml.safe_load(config_map["data"]["jobwarden.yaml"])
        return loaded

    assert config(base)["workflows"]["jobWorkflows"]["jobRestart"]["enabled"] is True
    assert config(changed)["workflows"]["jobWorkflows"]["jobRestart"] == {
        "enabled": False,
        "requireConfirmation": True,
    }
    # the rest of the file is untouched
    assert config(changed)["restart"]["memoryCap"] == "16Gi"
    assert config(changed)["exporter"]["stuckAfter"] == "2h"


def test_every_configuration_key_of_the_values_reaches_the_configmap_as_given() -> None:
    values: JSON = {
        "clusters": [
            {"name": "prod-eu", "inCluster": True},
            {"name": "onprem", "kubeconfig": "/etc/jobwarden/clusters/onprem/kubeconfig"},
        ],
        "sinks": {
            "storage": {"url": "gs://acme-reports/reports"},
            "webhooks": [
                {
                    "name": "team-a",
                    "type": "slack",
                    "urlEnv": "TEAM_A_URL",
                    "match": {"namespaces": ["team-a-*"], "severity": ["error"]},
                }
            ],
        },
        "security": {"protectedNamespaces": ["kube-system", "payments"]},
        "restart": {"memoryStep": "256Mi"},
        "metrics": {"prometheus": {"url": "http://prometheus.monitoring:9090"}},
    }
    (config_map,) = find(template(values), "ConfigMap")
    # `metrics` holds the chart's scrapeAnnotations too: that key stays out of the file
    assert "scrapeAnnotations" not in config_map["data"]["jobwarden.yaml"]
    settings = load_config_text(config_map["data"]["jobwarden.yaml"])
    assert [c.name for c in settings.resolved_clusters({})] == ["prod-eu", "onprem"]
    assert settings.sinks.storage.url == "gs://acme-reports/reports"
    (hook,) = settings.sinks.webhooks
    assert hook.match is not None and hook.match.namespaces == ["team-a-*"]
    assert settings.security.protected_namespaces == ["kube-system", "payments"]
    assert settings.security.confirmation_ttl_seconds == 300  # a default, merged by helm
    assert settings.restart.memory_step == "256Mi"
    assert settings.metrics.prometheus is not None
    assert settings.metrics.prometheus.url == "http://prometheus.monitoring:9090"
    # `clusters: []` is kept: no cluster at all, not this one
    (config_map,) = find(template({"clusters": []}), "ConfigMap")
    assert load_config_text(config_map["data"]["jobwarden.yaml"]).resolved_clusters({}) == []


def load_config_text(text: str) -> Settings:
    return parse_config(yaml.safe_load(text), source="the chart's ConfigMap")


def _as_local_pod(text: str, stack: StackInfo, directory: Path) -> Path:
    """The mounted file, with the one thing a process outside a pod cannot use replaced:
    the chart's `inCluster: true` cluster becomes a kubeconfig of the same API server."""
    data = yaml.safe_load(text)
    assert data["clusters"] == [{"name": "local", "inCluster": True}], data["clusters"]
    data["clusters"] = [{"name": "local", "kubeconfig": stack.kubeconfig}]
    directory.mkdir(parents=True, exist_ok=True)
    file = directory / "jobwarden.yaml"
    file.write_text(yaml.safe_dump(data))
    return file


def _restart(config: Path, target: JSON, token: str) -> tuple[int, JSON]:
    """POST a restart to `job_restart` configured by the file `config` alone."""
    env = {"JOBWARDEN_CONFIG": str(config), "JOBWARDEN_CONFIRM_SECRET": SECRET}
    set_default_runtime(Runtime.from_env(env))
    try:
        fn = create_app(
            "job_restart", str(ROOT / "functions" / "job_restart" / "main.py"), "http"
        ).test_client()
        answer = fn.post("/", json=target, headers={"Authorization": f"Bearer {token}"})
    finally:
        set_default_runtime(None)
    return answer.status_code, answer.get_json()


@pytest.mark.timeout(600)
def test_helm_set_disables_restart_for_the_functions_on_the_real_api_server(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    mint_token: Any,
    tmp_path: Path,
) -> None:
    admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/jobs", job_manifest("nightly", outcome="fail")
    )
    wait_for(lambda: job_condition(admin, namespace, "nightly", "Failed"), timeout=90)
    caller = mint_token("ops", CALLER_RULES)
    target = {"cluster": "local", "namespace": namespace, "name": "nightly"}
    name, key, _ = knative_mount("job-restart")

    def install(*sets: str) -> Path:
        """helm template (+ --set), the ConfigMap applied for real and read back as the
        kubelet would project it into the Knative Service's mount."""
        storage = f"sinks.storage.url=file://{tmp_path}/reports"  # the audit records
        objects = template(
            {"clusterName": "local"}, release=RELEASE, namespace=namespace, sets=[storage, *sets]
        )
        (config_map,) = find(objects, "ConfigMap")
        assert config_map["metadata"]["name"] == name
        apply(admin, config_map)
        served = admin.get(object_path(admin, config_map))
        return _as_local_pod(served["data"][key], stack, tmp_path / f"mount-{len(sets)}")

    # the chart's defaults: restart answers with a plan to confirm
    enabled = install()
    status, body = _restart(enabled, target, caller)
    assert status == 200, body
    assert body["status"] == "confirmation_required" and body["confirmationToken"], body

    # helm upgrade --set workflows.jobWorkflows.jobRestart.enabled=false: the same ConfigMap
    # on the API server now says no, and restart refuses with the documented `disabled`
    disabled = install(DISABLE_RESTART)
    served = yaml.safe_load(
        admin.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")["data"][key]
    )
    assert served["workflows"]["jobWorkflows"]["jobRestart"]["enabled"] is False
    status, body = _restart(disabled, target, caller)
    assert status == 403, body
    assert body["code"] == "disabled"
    assert body["error"] == (
        "jobRestart is disabled in the configuration (workflows.jobWorkflows.jobRestart.enabled)"
    )
    # and nothing was written: the cluster still has the one Job
    jobs = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs")["items"]
    assert [j["metadata"]["name"] for j in jobs] == ["nightly"]

    # the exporter reads the same file: its watch options come from it
    exporter = template(
        {"clusterName": "local"},
        release=RELEASE,
        namespace=namespace,
        sets=[DISABLE_RESTART, "exporter.stuckAfter=3h", "exporter.labelSelector=team=data"],
    )
    (config_map,) = find(exporter, "ConfigMap")
    apply(admin, config_map)
    mounted = _as_local_pod(
        admin.get(object_path(admin, config_map))["data"][key], stack, tmp_path / "exporter"
    )
    options = watch_options(load_config(mounted), "local")
    assert options.stuck_after.total_seconds() == 3 * 3600
    assert options.label_selector == "team=data"
    assert options.namespaces == ()  # all namespaces, the chart's default
