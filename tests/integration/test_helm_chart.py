"""The exporter Helm chart: what it renders, what the API server accepts, and whether its RBAC
is enough, and exactly enough, for the exporter to report a failed Job end to end.

Rendering uses the real helm binary; the objects go to the local stack's real API server
(server-side apply, dry run first). The exporter runs as a local process with the chart's
own arguments and configuration file, authenticated with a token of the chart's
ServiceAccount: only what cannot work outside a pod is substituted (the in-cluster
credentials become a kubeconfig with that token; the mounted ConfigMap becomes a file).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from jobwarden.config import ClusterConfig, Settings, parse_config
from jobwarden.errors import ForbiddenError, NotFoundError
from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import set_default_runtime
from jobwarden_dev.localstack.processes import free_ports
from jobwarden_dev.localstack.stack import StackInfo
from jobwarden_exporter.leader import LeaseConfig
from jobwarden_exporter.service import needed_permissions
from jobwarden_exporter.watcher import WatchOptions
from tests.support.events import eventarc
from tests.support.exporter import Inbox, Message
from tests.support.helm import apply, find, notes, object_path, one, template
from tests.support.kube import job_manifest, token_kubeconfig, wait_for
from tests.support.runtime import make_runtime

JSON = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
CLUSTER_SCOPED = ("ClusterRole", "ClusterRoleBinding")
JOBS_RULE = {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list", "watch"]}
EVENTS_RULE = {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]}
PODS_RULE = {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}
CRONJOBS_RULE = {"apiGroups": ["batch"], "resources": ["cronjobs"], "verbs": ["list", "watch"]}


def container(objects: list[JSON]) -> JSON:
    (found,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(found)


def args_of(objects: list[JSON]) -> dict[str, str]:
    """The container's `--flag=value` arguments by flag (`--in-cluster` maps to "")."""
    flags = (a.partition("=") for a in container(objects)["args"])
    return {flag: value for flag, _, value in flags}


def all_rules(objects: list[JSON]) -> list[JSON]:
    return [r for o in objects if o["kind"] in ("Role", "ClusterRole") for r in o["rules"]]


# --- a. what helm renders ------------------------------------------------------------------


def test_defaults_render_two_replicas_a_pdb_probes_and_a_hardened_pod() -> None:
    objects = template()
    assert sorted(o["kind"] for o in objects) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]

    pod = deployment["spec"]["template"]
    spec, box = pod["spec"], container(objects)
    assert box["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    # liveness and startup ask only whether the process serves: a control-plane upgrade
    # (the API server away for minutes) must not restart the exporter and drop its buffer
    for probe in ("startupProbe", "livenessProbe"):
        assert box[probe]["httpGet"] == {"path": "/livez", "port": "http"}, probe
    assert box["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert box["image"] == "europe-docker.pkg.dev/my-project/jobwarden/exporter:0.1.0"
    assert box["livenessProbe"]["failureThreshold"] * box["livenessProbe"]["periodSeconds"] >= 60
    assert box["resources"]["requests"] and box["resources"]["limits"]["memory"]
    assert box["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "mountPath": "/tmp"} in box["volumeMounts"]  # the root is read-only
    assert spec["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]

    args = args_of(objects)
    assert args["--cluster"] == "prod-eu" and args["--topic"].endswith("/topics/job-events")
    assert "--in-cluster" in args and args["--config"] == "/etc/jobwarden/jobwarden.yaml"
    assert args["--lease-namespace"] == "jobwarden"  # the release namespace
    assert args["--identity"] == "$(POD_NAME)"
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in box[
        "env"
    ]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8080"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"])
    assert "annotations" not in one(objects, "ServiceAccount")["metadata"]


def test_rbac_grants_exactly_what_the_exporter_requests_and_no_wildcards() -> None:
    objects = template()
    args = args_of(objects)
    lease = args["--lease-name"]
    assert one(objects, "ClusterRole")["rules"] == [
        JOBS_RULE,
        CRONJOBS_RULE,
        PODS_RULE,
        EVENTS_RULE,
    ]
    assert one(objects, "Role")["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["get", "update"],
        },
    ]
    for rule in all_rules(objects):
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(field, []), rule
    assert not any("pods/log" in r["resources"] for r in all_rules(objects))
    pods = [r for r in all_rules(objects) if "pods" in r["resources"]]
    assert pods == [PODS_RULE]  # list and watch the pods of Jobs; never get one, never logs

    # the same set as the permissions the exporter checks for itself before it starts
    granted = {
        (group, resource, verb, o["metadata"].get("namespace"), name)
        for o in objects
        if o["kind"] in ("Role", "ClusterRole")
        for r in o["rules"]
        for group in r["apiGroups"]
        for resource in r["resources"]
        for verb in r["verbs"]
        for name in r.get("resourceNames", [None])
    }
    needed = needed_permissions(
        WatchOptions(cluster="prod-eu"), LeaseConfig("jobwarden", lease, "pod-0")
    )
    assert granted == {(p.group, p.resource, p.verb, p.namespace, p.name) for p in needed}

    service_account = one(objects, "ServiceAccount")["metadata"]["name"]
    subject = [{"kind": "ServiceAccount", "name": service_account, "namespace": "jobwarden"}]
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == one(objects, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == subject
    role_binding = one(objects, "RoleBinding")
    assert role_binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": one(objects, "Role")["metadata"]["name"],
    }
    assert role_binding["subjects"] == subject


def test_pod_logs_are_granted_only_when_enabled() -> None:
    rules = one(template({"rbac": {"podLogs": True}}), "ClusterRole")["rules"]
    assert rules == [
        JOBS_RULE,
        CRONJOBS_RULE,
        PODS_RULE,
        EVENTS_RULE,
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]


def test_listed_namespaces_bind_the_cluster_role_in_each_of_them_only() -> None:
    objects = template({"exporter": {"namespaces": ["batch", "etl"]}})
    assert not find(objects, "ClusterRoleBinding")
    cluster_role = one(objects, "ClusterRole")["metadata"]["name"]
    bound = {
        b["metadata"]["namespace"]
        for b in find(objects, "RoleBinding")
        if b["roleRef"]["kind"] == "ClusterRole" and b["roleRef"]["name"] == cluster_role
    }
    assert bound == {"batch", "etl"}
    config = parse_config(_config_yaml(objects))
    assert config.exporter.namespaces == ["batch", "etl"]


def test_without_event_relay_the_events_rule_goes_and_the_flag_is_passed() -> None:
    objects = template({"relayEvents": False})
    assert one(objects, "ClusterRole")["rules"] == [JOBS_RULE, CRONJOBS_RULE, PODS_RULE]
    assert "--no-events" in args_of(objects)


def test_one_replica_has_no_pdb_that_would_block_node_drains() -> None:
    objects = template({"replicaCount": 1})
    assert one(objects, "Deployment")["spec"]["replicas"] == 1
    assert not find(objects, "PodDisruptionBudget")


def test_the_service_account_is_the_one_terraform_binds_whatever_the_release_name() -> None:
    variables = (ROOT / "infra" / "terraform" / "variables.tf").read_text()
    (bound,) = re.findall(r'service_account = optional\(string, "([^"]+)"\)', variables)
    for release in ("jw", "exporter-prod"):
        objects = template(release=release)
        assert one(objects, "ServiceAccount")["metadata"]["name"] == bound
        deployment = one(objects, "Deployment")["spec"]["template"]["spec"]
        assert deployment["serviceAccountName"] == bound


def test_gke_workload_identity_annotates_the_service_account() -> None:
    email = "jobwarden-exporter@my-project.iam.gserviceaccount.com"
    objects = template({"serviceAccount": {"gcpServiceAccount": email}})
    annotations = one(objects, "ServiceAccount")["metadata"]["annotations"]
    assert annotations == {"iam.gke.io/gcp-service-account": email}


def test_install_notes_say_where_the_leader_and_health_are_and_warn_about_duplicates() -> None:
    text = notes()
    assert 'for cluster "prod-eu" -> projects/my-project/topics/job-events' in text
    assert "kubectl -n jobwarden get lease jw-jobwarden-exporter" in text
    assert "curl localhost:8080/healthz" in text
    assert "No serviceAccount.gcpServiceAccount" in text
    email = "exporter@my-project.iam.gserviceaccount.com"
    text = notes(
        {"serviceAccount": {"gcpServiceAccount": email}, "leaderElection": {"enabled": False}}
    )
    assert "WARNING: leader election is off with 2 replicas" in text
    assert "svc.id.goog[jobwarden/jobwarden-exporter]" in text


def _config_yaml(objects: list[JSON]) -> JSON:
    import yaml

    data: JSON = yaml.safe_load(one(objects, "ConfigMap")["data"]["jobwarden.yaml"])
    return data


def test_the_configmap_is_a_jobwarden_configuration_and_a_change_rolls_the_pods() -> None:
    defaults = template()
    # the package's defaults, and this cluster for functions running in it
    expected = Settings(clusters=[ClusterConfig(name="prod-eu", in_cluster=True)])
    assert parse_config(_config_yaml(defaults)) == expected
    changed = template(
        {
            "workflows": {"jobWorkflows": {"jobFailureReporter": {"includeLogs": False}}},
            "exporter": {"stuckAfter": "2h", "labelSelector": "team=data"},
        }
    )
    settings = parse_config(_config_yaml(changed))
    assert settings.workflows.job_workflows.job_failure_reporter.include_logs is False
    assert settings.workflows.job_workflows.job_restart.require_confirmation is True  # merged
    assert settings.exporter.stuck_after == "2h"
    assert settings.exporter.label_selector == "team=data"

    def checksum(objects: list[JSON]) -> str:
        meta = one(objects, "Deployment")["spec"]["template"]["metadata"]
        return str(meta["annotations"]["checksum/config"])

    assert checksum(changed) != checksum(defaults)
    assert checksum(template()) == checksum(defaults)
    assert checksum(template({"replicaCount": 3})) == checksum(defaults)


# --- b. the API server accepts every object ---------------------------------------------------


@pytest.fixture
def release() -> str:
    return f"jw-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def cluster_scoped(admin: KubeApi) -> Iterator[list[JSON]]:
    """Cluster-scoped objects a test created for real; deleted after it."""
    created: list[JSON] = []
    yield created
    for obj in created:
        with contextlib.suppress(NotFoundError):
            admin.delete(object_path(admin, obj))


@pytest.mark.parametrize("variant", ["defaults", "one-namespace-with-pod-logs"])
def test_every_rendered_object_passes_a_server_side_apply_dry_run(
    admin: KubeApi, namespace: str, release: str, variant: str
) -> None:
    values: JSON = {}
    if variant != "defaults":
        values = {"exporter": {"namespaces": [namespace]}, "rbac": {"podLogs": True}}
    objects = template(values, release=release, namespace=namespace)
    assert len(objects) >= 8
    for obj in objects:
        answer = apply(admin, obj, dry_run=True)
        assert (answer["kind"], answer["metadata"]["name"]) == (
            obj["kind"],
            obj["metadata"]["name"],
        )
        if obj["kind"] == "Deployment":  # defaults filled in by the server, ours kept
            pod = answer["spec"]["template"]["spec"]
            assert (
                pod["containers"][0]["args"]
                == obj["spec"]["template"]["spec"]["containers"][0]["args"]
            )
    for obj in objects:  # a dry run leaves nothing behind
        with pytest.raises(NotFoundError):
            admin.get(object_path(admin, obj))


def test_the_exporter_pod_meets_the_restricted_pod_security_standard(
    admin: KubeApi, namespace: str, release: str
) -> None:
    admin.merge_patch(
        f"/api/v1/namespaces/{namespace}",
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
    )
    objects = template(release=release, namespace=namespace)
    apply(admin, one(objects, "ServiceAccount"))  # a pod must name an existing ServiceAccount
    template_ = one(objects, "Deployment")["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{release}-pss", "labels": template_["metadata"]["labels"]},
        "spec": template_["spec"],
    }
    pods = f"/api/v1/namespaces/{namespace}/pods"
    admitted = admin.request("POST", pods, body=pod, params={"dryRun": "All"})
    assert admitted["metadata"]["name"] == f"{release}-pss"

    # the control: the same pod without its security contexts is refused by the same check
    loose = copy.deepcopy(pod)
    del loose["spec"]["securityContext"]
    del loose["spec"]["containers"][0]["securityContext"]
    with pytest.raises(ForbiddenError) as refused:
        admin.request("POST", pods, body=loose, params={"dryRun": "All"})
    assert 'violates PodSecurity "restricted' in str(refused.value)


# --- c, d. the chart's RBAC with the exporter's real requests ----------------------------------


class Installed:
    """The chart's objects for one release, its RBAC applied for real, and a local 'pod'."""

    def __init__(self, objects: list[JSON], namespace: str, workdir: Path) -> None:
        self.objects = objects
        self.namespace = namespace
        self.workdir = workdir
        self.pod_name = f"{one(objects, 'Deployment')['metadata']['name']}-5d8f9c7b6-x2k4q"
        self.service_account = one(objects, "ServiceAccount")["metadata"]["name"]

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def kubeconfig(self, stack: StackInfo, token: str) -> Path:
        """What in-cluster credentials are in a pod: the API server, its CA, the SA token."""
        return token_kubeconfig(self.workdir / "kubeconfig", stack, token)

    def command(self, kubeconfig: Path) -> tuple[list[str], dict[str, str]]:
        """The Deployment's container command and environment, as a local process."""
        box = container(self.objects)
        pod_spec = one(self.objects, "Deployment")["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod_spec["volumes"]}
        mounts: dict[str, Path] = {}
        for mount in box["volumeMounts"]:
            local = self.workdir / "mounts" / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            source = volumes[mount["name"]].get("configMap")
            if source:  # the kubelet projects each key of the ConfigMap as a file
                (config_map,) = [
                    c
                    for c in find(self.objects, "ConfigMap")
                    if c["metadata"]["name"] == source["name"]
                ]
                for key, text in config_map["data"].items():
                    (local / key).write_text(text)
            mounts[mount["mountPath"]] = local
        env: dict[str, str] = {}
        for var in box["env"]:  # the downward API, and literal values
            field = var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            env[var["name"]] = self.pod_name if field == "metadata.name" else var["value"]

        def local(arg: str) -> str:
            if arg == "--in-cluster":
                return f"--kubeconfig={kubeconfig}"
            arg = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)  # as the kubelet does
            flag, eq, value = arg.partition("=")
            for mount_path, path in sorted(mounts.items(), key=lambda m: -len(m[0])):
                if value.startswith(mount_path + "/"):  # a file in a mounted volume
                    return f"{flag}{eq}{path}{value.removeprefix(mount_path)}"
            return arg

        argv = [sys.executable, "-m", "jobwarden_exporter", *map(local, box["args"])]
        return argv, env

    def run(self, stack: StackInfo, token: str) -> subprocess.Popen[str]:
        argv, env = self.command(self.kubeconfig(stack, token))
        environment = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
        environment.pop("JOBWARDEN_CONFIG", None)
        environment.update(env)
        environment["PUBSUB_EMULATOR_HOST"] = stack.pubsub_host  # the topic is the emulator's
        self.log = self.workdir / "exporter.log"
        return subprocess.Popen(
            argv,
            env=environment,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.workdir,
        )

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def install(
    admin: KubeApi,
    namespace: str,
    release: str,
    tmp_path: Path,
    cluster_scoped: list[JSON],
    topic: tuple[str, Inbox],
) -> Callable[..., tuple[Installed, str]]:
    """Render for this namespace and topic, apply the RBAC objects (edited by `edit`), mint
    a token of the chart's ServiceAccount; return the installation and the token."""

    def do(edit: Callable[[list[JSON]], None] | None = None) -> tuple[Installed, str]:
        (port,) = free_ports(1)  # a pod has its own network; a test machine does not
        values = {"clusterName": "local", "topic": topic[0], "port": port}
        objects = template(values, release=release, namespace=namespace)
        if edit:
            edit(objects)
        for obj in objects:
            if obj["kind"] in RBAC_KINDS:
                if obj["kind"] in CLUSTER_SCOPED:
                    cluster_scoped.append(obj)
                apply(admin, obj)
        installed = Installed(objects, namespace, tmp_path)
        review = admin.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{installed.service_account}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 3600},
            },
        )
        return installed, str(review["status"]["token"])

    return do


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()
    except OSError:
        return 0, ""


def stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return int(process.returncode)


def test_the_charts_rbac_is_enough_to_export_a_failed_job_that_gets_reported(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    topic: tuple[str, Inbox],
    install: Callable[..., tuple[Installed, str]],
    tmp_path: Path,
) -> None:
    _, inbox = topic
    installed, token = install()
    lease = one(installed.objects, "Role")["rules"][1]["resourceNames"][0]
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{lease}"
    process = installed.run(stack, token)
    try:
        box = container(installed.objects)
        probe = box["readinessProbe"]["httpGet"]
        port = next(p["containerPort"] for p in box["ports"] if p["name"] == probe["port"])
        url = f"http://127.0.0.1:{port}{probe['path']}"

        def ready() -> bool:
            assert process.poll() is None, f"the exporter exited:\n{installed.output()}"
            return http_get(url)[0] == 200

        wait_for(ready, timeout=60, what=f"the exporter to be ready ({url})")
        wait_for(  # the only replica takes the Lease, named after its pod, and watches
            lambda: admin.get(lease_path)["spec"]["holderIdentity"] == installed.pod_name,
            timeout=30,
            what="the lease",
        )
        wait_for(lambda: http_get(url)[1].startswith("ok: watching"), what="the watch")

        admin.create(
            f"/apis/batch/v1/namespaces/{namespace}/jobs",
            job_manifest(
                "nightly-import",
                outcome="fail",
                exit_code=3,
                after=2,  # KWOK serves the pod's log once it has loaded its Logs object
                logs="loading orders\nERROR: bucket gs://orders-eu does not exist",
            ),
        )

        def failed() -> Message | None:
            return next(
                (
                    m
                    for m in inbox.of("nightly-import", "failed")
                    if m.attributes["namespace"] == namespace
                ),
                None,
            )

        inbox.wait_for(lambda: failed() is not None, timeout=90, what="the failed transition")
        message = failed()
        assert message is not None
        assert message.attributes["cluster"] == "local"
        assert message.attributes["reason"] == "BackoffLimitExceeded"
    finally:
        code = stop(process)
    assert code == 0, installed.output()
    assert not admin.get(lease_path)["spec"].get("holderIdentity")  # released on SIGTERM
    assert token not in installed.output()

    # the failure reporter, as Eventarc delivers the Pub/Sub message to it
    reports = tmp_path / "reports"
    set_default_runtime(make_runtime(stack, reports))
    try:
        reporter = create_app(
            "job_failure_reporter",
            str(ROOT / "functions" / "job_failure_reporter" / "main.py"),
            "cloudevent",
        ).test_client()
        headers, body = eventarc(
            json.dumps(message.data).encode(), message_id="m-chart", attributes=message.attributes
        )
        assert reporter.post("/", headers=headers, data=body).status_code == 200
    finally:
        set_default_runtime(None)
    (stored,) = [json.loads(p.read_text()) for p in reports.rglob("jobFailureReporter/*.json")]
    assert (stored["cluster"], stored["namespace"], stored["job"]) == (
        "local",
        namespace,
        "nightly-import",
    )
    assert stored["title"].startswith(
        f"Job {namespace}/nightly-import failed: Container `main` exited with code 3"
    )
    assert "ERROR: bucket gs://orders-eu does not exist" in stored["title"]
    assert stored["severity"] == "error"
    assert stored["sourceEventId"] == message.id


def _drop_rule(kind: str, resource: str) -> Callable[[list[JSON]], None]:
    def edit(objects: list[JSON]) -> None:
        role = one(objects, kind)
        kept = [r for r in role["rules"] if resource not in r["resources"]]
        assert len(kept) < len(role["rules"]), f"the chart's {kind} has no rule on {resource}"
        role["rules"] = kept

    return edit


def _drop_verb(verb: str) -> Callable[[list[JSON]], None]:
    def edit(objects: list[JSON]) -> None:
        rules = one(objects, "Role")["rules"]
        assert any(verb in rule["verbs"] for rule in rules), f"the chart's Role grants no {verb}"
        for rule in rules:
            rule["verbs"] = [v for v in rule["verbs"] if v != verb]

    return edit


@pytest.mark.parametrize(
    ("edit", "missing"),
    [
        (
            _drop_rule("ClusterRole", "jobs"),
            [
                "`list` on `jobs.batch` cluster-wide",
                "`watch` on `jobs.batch` cluster-wide",
                "ClusterRole + ClusterRoleBinding with rules: [{apiGroups: [batch], "
                "resources: [jobs], verbs: [list, watch]}]",
            ],
        ),
        (
            _drop_rule("ClusterRole", "cronjobs"),
            [
                "`list` on `cronjobs.batch` cluster-wide",
                "`watch` on `cronjobs.batch` cluster-wide",
                "ClusterRole + ClusterRoleBinding with rules: [{apiGroups: [batch], "
                "resources: [cronjobs], verbs: [list, watch]}]",
            ],
        ),
        (
            _drop_rule("ClusterRole", "events"),
            [
                "`list` on `events` cluster-wide",
                "`watch` on `events` cluster-wide",
                "{apiGroups: [''], resources: [events], verbs: [list, watch]}",
            ],
        ),
        (
            _drop_rule("ClusterRole", "pods"),
            [
                "`list` on `pods` cluster-wide",
                "`watch` on `pods` cluster-wide",
                "{apiGroups: [''], resources: [pods], verbs: [list, watch]}",
            ],
        ),
        (
            _drop_verb("update"),
            [
                "`update` on `leases.coordination.k8s.io` named {lease} in namespace {ns}",
                "a Role + RoleBinding in namespace {ns} with rules: [{apiGroups: "
                "[coordination.k8s.io], resources: [leases], verbs: [update], "
                "resourceNames: [{lease}]}]",
            ],
        ),
    ],
    ids=[
        "jobs-rule-removed",
        "cronjobs-rule-removed",
        "events-rule-removed",
        "pods-rule-removed",
        "lease-update-removed",
    ],
)
def test_a_rule_removed_from_the_chart_stops_the_exporter_naming_what_is_missing_and_for_whom(
    stack: StackInfo,
    namespace: str,
    install: Callable[..., tuple[Installed, str]],
    edit: Callable[[list[JSON]], None],
    missing: list[str],
) -> None:
    installed, token = install(edit)
    lease = args_of(installed.objects)["--lease-name"]
    process = installed.run(stack, token)
    try:
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    output = installed.output()
    assert code == 2, output
    (error,) = [line for line in output.splitlines() if line.startswith("error: ")]
    assert f"(running as {installed.user}) lacks permissions" in error
    assert f"Grant them to {installed.user} with" in error
    for text in missing:
        assert text.replace("{lease}", lease).replace("{ns}", namespace) in error
    # only what is missing is named
    named = re.findall(r"`(\w+)` on `([\w.]+)`", error)
    assert len(named) == sum(t.startswith("`") for t in missing), error
    assert token not in output
