"""infra/terraform: what a user of the module relies on, checked without a Google Cloud project.

Four layers, cheapest first: the HCL parses and its structure holds the promises of the module
README (python-hcl2); OpenTofu evaluates the inputs and locals — validations included —
without providers, and the configuration file they render passes jobwarden's own loader;
`tofu fmt` finds nothing to change; checkov passes, with every skip justified. A
functions-framework round trip shows that the push subscriptions' body reaches an event
function as the Pub/Sub CloudEvent it decodes.

`tofu validate` / `tofu plan` of the whole module need the google, google-beta and archive
provider plugins, which cannot be obtained here (infra/terraform/README.md, "Checks", has the
commands tried and their errors).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from jobwarden.config import CONFIG_ENV, Settings, parse_config
from jobwarden.configtypes import ENV_PATTERN
from jobwarden.intake import PUBSUB_CLOUDEVENT_TYPE, parse_cloudevent
from jobwarden.jobevent import CRONJOB_TRANSITIONS, TRANSITIONS, JobEvent, pubsub_attributes
from jobwarden_dev.bridge import FILTERS as BRIDGE_FILTERS
from jobwarden_dev.bundle import discover_functions, targets_of
from tests.support.checkov import run_checkov
from tests.support.helm import template

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"
EXAMPLE = TF / "examples" / "two-clusters"
HCL_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, strip_string_quotes=True, explicit_blocks=False
)
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")

# --- reading the HCL ---------------------------------------------------------------------------


def hcl_files() -> list[Path]:
    names = ("*.tf", "*.tfvars", "*.tfvars.example", "*.tfvars.json")
    found = {p for pattern in names for p in TF.rglob(pattern) if ".terraform" not in p.parts}
    return sorted(found)


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return dict(hcl2.load(handle, serialization_options=HCL_OPTIONS))


def blocks(kind: str, directory: Path = TF) -> dict[str, Any]:
    """Labelled blocks of one kind (variable, output, module) across a module's .tf files."""
    found: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get(kind, []):
            for name, body in block.items():
                assert name not in found, f"{kind} {name} declared twice"
                found[name] = body
    return found


def resources(kind: str = "resource") -> dict[tuple[str, str], dict[str, Any]]:
    """(type, name) -> body of every resource (or data source) of the module."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(TF.glob("*.tf")):
        for block in parse(path).get(kind, []):
            for rtype, named in block.items():
                for name, body in named.items():
                    found[(rtype, name)] = body
    return found


def resource(rtype: str, name: str) -> dict[str, Any]:
    found = resources()
    assert (rtype, name) in found, f"module has no {rtype}.{name}"
    return found[(rtype, name)]


def module_locals() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in sorted(TF.glob("*.tf")):
        for block in parse(path).get("locals", []):
            merged.update(block)
    return merged


def one(body: Mapping[str, Any], block: str) -> dict[str, Any]:
    """The single nested block `block` of a resource body."""
    inner = body.get(block)
    assert isinstance(inner, list) and len(inner) == 1, f"expected one {block} block"
    return dict(inner[0])


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a parsed HCL value, with the path of keys leading to it."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            yield from strings(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from strings(inner, f"{path}[{index}]")


# --- a small evaluator for the Pub/Sub filters the module uses ---------------------------------

_FILTER_TOKEN = re.compile(
    r'\s*(?:(\()|(\))|(AND|OR)\b|attributes\.(\w+)\s*=\s*"([^"\\]*)"|attributes:(\w+))'
)


def filter_accepts(expression: str, attributes: Mapping[str, str]) -> bool:
    """Whether a Pub/Sub subscription filter made of `attributes.k = "v"`, `attributes:k`
    (has the key), AND, OR and parentheses takes a message with these attributes (anything
    else is a test error)."""
    tokens: list[tuple[str, str, str]] = []
    pos = 0
    while pos < len(expression.rstrip()):
        match = _FILTER_TOKEN.match(expression, pos)
        if match is None:
            raise ValueError(f"unsupported filter syntax at {expression[pos:]!r}")
        opening, closing, word, key, value, has = match.groups()
        kind = "(" if opening else ")" if closing else word if word else ":" if has else "="
        tokens.append((kind, key or has or "", value or ""))
        pos = match.end()
    index = 0

    def peek() -> str:
        return tokens[index][0] if index < len(tokens) else ""

    def take(kind: str) -> tuple[str, str, str]:
        nonlocal index
        if peek() != kind:
            raise ValueError(f"expected {kind} in filter {expression!r}")
        index += 1
        return tokens[index - 1]

    def disjunction() -> bool:
        result = conjunction()
        while peek() == "OR":
            take("OR")
            result = conjunction() or result
        return result

    def conjunction() -> bool:
        result = term()
        while peek() == "AND":
            take("AND")
            result = term() and result
        return result

    def term() -> bool:
        if peek() == "(":
            take("(")
            result = disjunction()
            take(")")
            return result
        if peek() == ":":
            return take(":")[1] in attributes
        _, key, value = take("=")
        return attributes.get(key) == value

    result = disjunction()
    if index != len(tokens):
        raise ValueError(f"trailing tokens in filter {expression!r}")
    return result


def exporter_attributes(
    transition: str,
    event_type: str = "Warning",
    owner: str | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, str]:
    """The Pub/Sub attributes jobwarden's exporter really sets for one transition (of a
    CronJob's run when `owner` names the CronJob)."""
    event = None
    if transition == "event":
        event = {"metadata": {"uid": "e-1", "name": "nightly.1"}, "type": event_type}
    job_event = JobEvent(
        cluster="prod-eu",
        namespace="batch",
        name="nightly-28744",
        uid="0b5f6a2c-1111-2222-3333-444455556666",
        transition=transition,  # type: ignore[arg-type]
        reason="BackoffLimitExceeded",
        event=event,
        owner=owner,
        labels=labels or {},
        cronjob=(
            {"schedule": "@hourly", "scheduledTime": "2026-05-01T12:00:00Z"}
            if transition in CRONJOB_TRANSITIONS
            else None
        ),
    )
    return pubsub_attributes(job_event)


# --- 1. every file parses ----------------------------------------------------------------------


def test_the_module_and_its_example_are_all_there() -> None:
    names = {str(p.relative_to(TF)) for p in hcl_files()}
    assert {
        "versions.tf",
        "variables.tf",
        "outputs.tf",
        "examples/two-clusters/main.tf",
        "examples/two-clusters/terraform.tfvars.example",
    } <= names
    assert (TF / "README.md").is_file()


@pytest.mark.parametrize("path", hcl_files(), ids=lambda p: str(p.relative_to(TF)))
def test_every_terraform_file_parses(path: Path) -> None:
    assert parse(path), f"{path} parsed to nothing"


def test_providers_are_pinned_to_a_major_version_range() -> None:
    terraform = parse(TF / "versions.tf")["terraform"][0]
    assert terraform["required_version"].startswith(">=")
    providers = terraform["required_providers"][0]
    assert set(providers) == {"google", "google-beta", "archive"}
    for name, spec in providers.items():
        assert spec["source"] == f"hashicorp/{name}"
        assert re.fullmatch(r">= [\d.]+, < [\d.]+", spec["version"]), spec["version"]
    # Direct VPC egress on google_cloudfunctions2_function is GA from google 7.21.0 on.
    assert providers["google"]["version"] == providers["google-beta"]["version"]
    assert providers["google"]["version"].startswith(">= 7.21.0")
    example = parse(EXAMPLE / "main.tf")["terraform"][0]["required_providers"][0]
    assert {n: p["version"] for n, p in example.items()} == {
        n: p["version"] for n, p in providers.items()
    }


# --- 2. a function for every target, a subscription for every event target --------------------


def declared_targets() -> dict[str, tuple[str, str]]:
    """target -> (functions/ folder, signature), read from the decorators in main.py."""
    return {
        target.name: (folder, target.signature)
        for folder in discover_functions(ROOT)
        for target in targets_of(ROOT / "functions" / folder / "main.py")
    }


def test_every_functions_framework_target_becomes_a_cloud_run_function() -> None:
    table = {
        name: (spec["source"], spec["signature"])
        for name, spec in module_locals()["targets"].items()
    }
    assert table == declared_targets()
    fn = resource("google_cloudfunctions2_function", "fn")
    assert fn["for_each"] == "${local.deployed_targets}"
    build = one(fn, "build_config")
    assert build["entry_point"] == "${each.key}"
    storage = one(one(build, "source"), "storage_source")
    assert storage["object"] == "${google_storage_bucket_object.bundle[each.value.source].name}"
    assert one(fn, "service_config")["service_account_email"] == (
        "${google_service_account.workflow[each.value.source].email}"
    )
    # The `functions` input refuses names that are not targets; keep its list in step.
    validation = blocks("variable")["functions"]["validation"][0]["condition"]
    assert set(re.findall(r'"(job_\w+)"', validation)) == set(declared_targets())


def test_every_event_target_has_a_filtered_push_subscription_with_retry_and_dead_letter() -> None:
    event_targets = {t for t, (_, signature) in declared_targets().items() if signature != "http"}
    assert set(module_locals()["default_filters"]) == event_targets
    assert 't.signature == "cloudevent"' in module_locals()["event_targets"]

    sub = resource("google_pubsub_subscription", "workflow")
    # one per (event target, cluster topic): local.workflow_subscriptions, evaluated below
    assert sub["for_each"] == "${local.workflow_subscriptions}"
    assert sub["topic"] == "${google_pubsub_topic.cluster[each.value.cluster].id}"
    assert sub["filter"] == "${local.subscription_filter[each.value.target]}"
    dead_letter = one(sub, "dead_letter_policy")
    assert dead_letter["dead_letter_topic"] == "${google_pubsub_topic.dead_letter.id}"
    assert dead_letter["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    retry = one(sub, "retry_policy")
    assert retry == {
        "minimum_backoff": "${var.retry_minimum_backoff}",
        "maximum_backoff": "${var.retry_maximum_backoff}",
    }
    push = one(sub, "push_config")
    uri = "${google_cloudfunctions2_function.fn[each.value.target].service_config[0].uri}"
    assert push["push_endpoint"] == uri + "${each.value.push_path}"
    oidc = one(push, "oidc_token")
    assert oidc == {
        "service_account_email": "${google_service_account.push.email}",
        "audience": uri,
    }
    assert one(sub, "expiration_policy") == {"ttl": ""}, "an idle subscription must not expire"

    # Dead-lettered messages need a subscription, or Pub/Sub drops them.
    kept = resource("google_pubsub_subscription", "dead_letter")
    assert kept["topic"] == "${google_pubsub_topic.dead_letter.id}"
    assert "push_config" not in kept


def test_pubsub_service_agent_is_created_before_it_may_dead_letter() -> None:
    # In a new project the agent exists only once asked for: granting it a role first fails.
    identity = resource("google_project_service_identity", "pubsub")
    assert identity["service"] == "pubsub.googleapis.com"
    assert identity["provider"] == "google-beta"
    assert identity["depends_on"] == ["${google_project_service.this}"]
    agent = module_locals()["pubsub_agent"]
    assert agent == "serviceAccount:${google_project_service_identity.pubsub.email}"
    publisher = resource("google_pubsub_topic_iam_member", "dead_letter_publisher")
    assert publisher["topic"] == "${google_pubsub_topic.dead_letter.name}"
    assert (publisher["role"], publisher["member"]) == (
        "roles/pubsub.publisher",
        "${local.pubsub_agent}",
    )
    forwarder = resource("google_pubsub_subscription_iam_member", "dead_letter_forwarder")
    assert forwarder["for_each"] == "${google_pubsub_subscription.workflow}"
    assert (forwarder["role"], forwarder["member"]) == (
        "roles/pubsub.subscriber",
        "${local.pubsub_agent}",
    )
    depends = resource("google_pubsub_subscription", "workflow")["depends_on"]
    assert "${google_pubsub_topic_iam_member.dead_letter_publisher}" in depends


# --- 3. filters take exactly each workflow's transitions ----------------------------------------

#: ARCHITECTURE.md §3.1: the transitions each event workflow is triggered by.
WANTED = {
    "job_failure_reporter": {
        "failed",
        "stuck",
        "missed",
        "no-success",
        "succeeded/cronjob",
        "succeeded/retry",
    },
    "job_info_enricher": {"failed", "stuck"},
    "job_events_enricher": {"failed", "stuck", "event/Warning"},
    "job_pod_enricher": {"failed", "stuck"},
    "job_performance_analysis": {"succeeded", "failed", "succeeded/cronjob", "succeeded/retry"},
}


def test_default_filters_take_exactly_each_workflows_transitions_from_exporter_messages() -> None:
    filters: dict[str, str] = module_locals()["default_filters"]
    assert filters == BRIDGE_FILTERS, "the local push bridge must filter like production"
    assert filters["job_failure_reporter"] == (
        'attributes.type = "failed" OR attributes.type = "stuck" OR '
        'attributes.type = "missed" OR attributes.type = "no-success" OR '
        '(attributes.type = "succeeded" AND (attributes:cronjob OR attributes:retryOf))'
    )
    messages = {t: exporter_attributes(t) for t in TRANSITIONS if t != "event"}
    messages["succeeded/retry"] = exporter_attributes(
        "succeeded", labels={"jobwarden.dev/retry-of": "0b5f6a2c-0000-2222-3333-444455556666"}
    )
    messages["event/Warning"] = exporter_attributes("event", "Warning")
    messages["event/Normal"] = exporter_attributes("event", "Normal")
    messages["succeeded/cronjob"] = exporter_attributes("succeeded", owner="nightly")
    for target, expression in filters.items():
        taken = {name for name, attrs in messages.items() if filter_accepts(expression, attrs)}
        assert taken == WANTED[target], f"{target}: {expression!r} takes {sorted(taken)}"


def test_attribute_filters_can_be_switched_off_for_kubernetes_event_exporter() -> None:
    variable = blocks("variable")["attribute_filters"]
    assert (variable["type"], variable["default"]) == ("bool", True)
    assert "kubernetes-event-exporter" in variable["description"]
    expression = module_locals()["subscription_filter"]
    assert "var.attribute_filters ?" in expression and ": null" in expression
    # Why: its messages carry no attributes, so every default filter would drop them all.
    for expression in module_locals()["default_filters"].values():
        assert not filter_accepts(expression, {})


# --- 4. IAM: nobody public, nothing authoritative, resource-level roles --------------------------


def test_no_grant_can_reach_all_users() -> None:
    for path in hcl_files():
        for where, text in strings(parse(path)):
            if any(member in text for member in PUBLIC_MEMBERS):
                assert ".validation[" in where, f"{path.name}{where} mentions a public member"
    for name in ("action_invokers", "report_invokers", "dead_letter_readers"):
        condition = blocks("variable")[name]["validation"][0]["condition"]
        assert '!contains(["allUsers", "allAuthenticatedUsers"], m)' in condition, name
    members = {
        (rtype, name): body.get("member")
        for (rtype, name), body in resources().items()
        if rtype.endswith("_iam_member")
    }
    assert members, "no IAM member resources found"
    for key, member in members.items():
        assert member not in PUBLIC_MEMBERS, key


def test_iam_is_non_authoritative_and_project_roles_are_cluster_viewer_only() -> None:
    kinds = {rtype for rtype, _ in resources()}
    assert not {k for k in kinds if k.endswith(("_iam_binding", "_iam_policy"))}, (
        "authoritative IAM resources would revoke grants made outside this module"
    )
    project_roles = {
        body["role"]
        for (rtype, _), body in resources().items()
        if rtype == "google_project_iam_member"
    }
    # clusterViewer, the build account's log writer and reading Managed Service for
    # Prometheus (only with metrics.prometheus.auth google): none exists at a finer level
    assert project_roles == {
        "roles/container.clusterViewer",
        "roles/logging.logWriter",
        "roles/monitoring.viewer",
    }
    reader = resource("google_project_iam_member", "prometheus_reader")
    assert reader["for_each"] == "${local.prometheus_google ? local.workflows : toset([])}"
    assert reader["project"] == "${local.prometheus_project}"


def test_http_functions_are_invoked_only_by_the_listed_members() -> None:
    invoker = resource("google_cloud_run_v2_service_iam_member", "http_invoker")
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["member"] == "${each.value.member}"
    for_each = invoker["for_each"]
    assert "local.people_http_targets" in for_each
    assert "var.action_invokers" in for_each and "var.report_invokers" in for_each
    assert invoker["name"].endswith(".service_config[0].service}")
    push = resource("google_cloud_run_v2_service_iam_member", "push_invoker")
    assert push["for_each"] == "${local.event_targets}"
    assert push["member"] == "serviceAccount:${google_service_account.push.email}"
    # run.invoker belongs on the Cloud Run service (ARCHITECTURE.md §4.4), not elsewhere.
    kinds = {rtype for rtype, _ in resources()}
    assert not {
        k
        for k in kinds
        if k.startswith(("google_cloudfunctions", "google_cloud_run_service"))
        and k.endswith("_iam_member")
    }


def grants_to(account: str) -> set[tuple[str, str]]:
    """(resource type, role) of every grant whose member is this module service account."""
    marker = f"google_service_account.{account}"
    return {
        (rtype, body["role"])
        for (rtype, _), body in resources().items()
        if rtype.endswith("_iam_member") and marker in str(body.get("member", ""))
    }


def test_each_identity_gets_only_what_it_needs() -> None:
    assert grants_to("exporter") == {("google_pubsub_topic_iam_member", "roles/pubsub.publisher")}
    publisher = resource("google_pubsub_topic_iam_member", "exporter_publisher")
    # each cluster's account on its own cluster's topic only
    assert publisher["for_each"] == "${var.clusters}"
    assert publisher["topic"] == "${google_pubsub_topic.cluster[each.key].name}"
    assert (
        publisher["member"] == "serviceAccount:${google_service_account.exporter[each.key].email}"
    )
    assert grants_to("push") == {("google_cloud_run_v2_service_iam_member", "roles/run.invoker")}
    assert grants_to("workflow") == {
        ("google_storage_bucket_iam_member", "roles/storage.objectUser"),
        ("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor"),
        ("google_project_iam_member", "roles/container.clusterViewer"),
        ("google_project_iam_member", "roles/monitoring.viewer"),  # auth google only
    }
    objects = resource("google_storage_bucket_iam_member", "workflow_objects")
    assert objects["bucket"] == "${google_storage_bucket.reports.name}"


def test_functions_build_as_a_dedicated_account_with_the_documented_roles() -> None:
    # Since mid-2024 a new project's Cloud Build runs as the Compute Engine default account,
    # which organisations often leave without these roles: never rely on it.
    build = one(resource("google_cloudfunctions2_function", "fn"), "build_config")
    assert build["service_account"] == "${local.build_service_account}"
    assert build["docker_repository"] == "${google_artifact_registry_repository.functions.id}"
    account = resource("google_service_account", "build")
    assert account["count"] == "${var.build_service_account == null ? 1 : 0}"
    assert "google_service_account.build[0].id" in module_locals()["build_service_account"]
    grants = {
        (rtype, body["role"], body.get("bucket") or body.get("repository") or body.get("project"))
        for (rtype, _), body in resources().items()
        if rtype.endswith("_iam_member") and body.get("member") == "${local.build_member}"
    }
    assert grants == {
        ("google_project_iam_member", "roles/logging.logWriter", "${var.project_id}"),
        (
            "google_artifact_registry_repository_iam_member",
            "roles/artifactregistry.writer",
            "${google_artifact_registry_repository.functions.name}",
        ),
        (
            "google_storage_bucket_iam_member",
            "roles/storage.objectViewer",
            "${google_storage_bucket.sources.name}",
        ),
    }
    depends = resource("google_cloudfunctions2_function", "fn")["depends_on"]
    for grant in (
        "google_project_iam_member.build_log_writer",
        "google_artifact_registry_repository_iam_member.build_writes_images",
        "google_storage_bucket_iam_member.build_reads_sources",
    ):
        assert f"${{{grant}}}" in depends


def test_function_images_live_in_a_repository_that_cleans_itself() -> None:
    repo = resource("google_artifact_registry_repository", "functions")
    assert repo["format"] == "DOCKER"
    assert repo["cleanup_policy_dry_run"] is False
    policies = {p["id"]: p for p in repo["cleanup_policies"]}
    assert policies["keep-newest"]["action"] == "KEEP"
    assert one(policies["keep-newest"], "most_recent_versions") == {
        "keep_count": "${var.images_kept}"
    }
    assert policies["delete-old"]["action"] == "DELETE"
    assert one(policies["delete-old"], "condition") == {
        "older_than": "${var.image_retention_days * 86400}s"
    }


def test_nothing_is_created_before_the_apis_it_needs_are_enabled() -> None:
    # A first apply in a new project races API enablement unless each resource waits for it.
    needs_api = {
        ("google_service_account", "workflow"),
        ("google_service_account", "push"),
        ("google_service_account", "exporter"),
        ("google_service_account", "build"),
        ("google_project_service_identity", "pubsub"),
        ("google_project_service_identity", "iap"),
        ("google_artifact_registry_repository", "functions"),
        ("google_pubsub_topic", "cluster"),
        ("google_pubsub_topic", "dead_letter"),
        ("google_storage_bucket", "reports"),
        ("google_storage_bucket", "sources"),
        ("google_secret_manager_secret", "this"),
        ("google_secret_manager_secret", "config"),
        ("google_cloudfunctions2_function", "fn"),
    }
    for key in needs_api:
        assert "${google_project_service.this}" in resource(*key).get("depends_on", []), key
    apis = resource("google_project_service", "this")["for_each"]
    for api in ("artifactregistry", "cloudbuild", "logging", "iam", "pubsub", "run"):
        assert f'"{api}.googleapis.com"' in apis, api
    assert '"vpcaccess.googleapis.com"' in apis  # when a connector is used


def test_exporters_act_through_workload_identity() -> None:
    binding = resource("google_service_account_iam_member", "exporter_workload_identity")
    assert binding["service_account_id"] == (
        "${google_service_account.exporter[each.value.cluster].name}"
    )
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["for_each"] == "${local.exporter_bindings}"
    assert binding["member"] == "${each.value.member}"
    account = resource("google_service_account", "exporter")
    assert account["for_each"] == "${var.clusters}"
    assert account["account_id"] == "${local.exporter_account_id[each.key]}"
    members = module_locals()["exporter_members"]
    assert (
        "serviceAccount:${c.gke.project}.svc.id.goog"
        "[${c.exporter.namespace}/${c.exporter.service_account}]"
    ) in members


# --- 5. secrets: resources only, reaching functions under the names jobwarden reads -------------

SECRETISH = re.compile(
    r"https?://|-----BEGIN|hooks\.slack\.com|webhook\.office\.com|xox[abp]-|"
    r"eyJ[A-Za-z0-9_-]{10,}|[A-Za-z0-9+/]{40,}={0,2}"
)


def test_secret_values_never_reach_terraform() -> None:
    versions = {
        name for rtype, name in resources() if rtype == "google_secret_manager_secret_version"
    }
    assert versions == {"config"}, "secret values are added out of band, never by Terraform"
    assert resource("google_secret_manager_secret_version", "config")["secret_data"] == (
        "${local.config_yaml}"
    )
    for name, variable in {**blocks("variable"), **blocks("variable", EXAMPLE)}.items():
        for where, text in strings(variable.get("default")):
            assert not SECRETISH.search(text), f"variable {name} default{where} looks secret"
    example = parse(EXAMPLE / "terraform.tfvars.example")
    for where, text in strings(example):
        assert not SECRETISH.search(text), f"terraform.tfvars.example{where} looks secret"


def test_functions_read_secrets_and_configuration_under_the_names_jobwarden_uses() -> None:
    assert module_locals()["config_env"] == CONFIG_ENV
    assert module_locals()["confirm_env"] == Settings().security.confirmation_secret_env
    service = one(resource("google_cloudfunctions2_function", "fn"), "service_config")
    assert "${(local.config_env)}" in service["environment_variables"]
    dynamic = {name: body for block in service["dynamic"] for name, body in block.items()}
    secret_env = dynamic["secret_environment_variables"]
    assert secret_env["for_each"] == "${local.secret_env[each.key]}"
    assert secret_env["content"][0]["key"] == "${secret_environment_variables.key}"
    # the version named in secret_versions, never a blanket "latest": a secret without a value
    # is not mounted at all (Cloud Run would refuse the deployment)
    assert secret_env["content"][0]["version"] == "${secret_environment_variables.value.version}"
    kubeconfigs = dynamic["secret_volumes"]
    assert kubeconfigs["for_each"] == "${local.kubeconfig_clusters}"
    assert one(kubeconfigs["content"][0], "versions")["version"] == (
        "${secret_volumes.value.version}"
    )
    assert '"latest"' not in json.dumps(service)
    config = one(service, "secret_volumes")
    assert "${local.config_dir}/${local.config_file}" in service["environment_variables"].values()
    assert config["mount_path"] == "${local.config_dir}"
    assert one(config, "versions")["path"] == "${local.config_file}"
    # Every webhook env name the module builds is one jobwarden accepts.
    for name in ("oncall", "audit-feed"):
        for suffix in ("URL", "HMAC"):
            env_name = f"JOBWARDEN_WEBHOOK_{name.upper().replace('-', '_')}_{suffix}"
            assert re.fullmatch(ENV_PATTERN, env_name)


# --- 6. bundles, bucket, inputs, example ---------------------------------------------------------


def test_bundles_are_uploaded_under_their_content_hash() -> None:
    archive = resources("data")[("archive_file", "bundle")]
    assert archive["source_dir"] == "${local.bundle_dir}/${each.key}"
    assert archive["output_file_mode"] == "0644"
    assert "make bundle" in archive["lifecycle"][0]["precondition"][0]["error_message"]
    upload = resource("google_storage_bucket_object", "bundle")
    assert upload["for_each"] == "${data.archive_file.bundle}"
    assert "${each.value.output_sha256}" in upload["name"]
    assert upload["source"] == "${each.value.output_path}"


def test_reports_bucket_is_private_versioned_and_expires_everything() -> None:
    for name in ("reports", "sources"):
        bucket = resource("google_storage_bucket", name)
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
        assert one(bucket, "versioning") == {"enabled": True}, name
        # versioning keeps the history: soft delete would keep (and bill) it a second time
        assert one(bucket, "soft_delete_policy") == {"retention_duration_seconds": 0}, name
    rules = resource("google_storage_bucket", "reports")["lifecycle_rule"]
    conditions = [one(rule, "condition") for rule in rules]
    assert all(one(rule, "action") == {"type": "Delete"} for rule in rules)
    assert {"age": "${var.retention_days}", "with_state": "LIVE"} in conditions
    assert {"days_since_noncurrent_time": "${var.noncurrent_retention_days}"} in conditions
    retention = blocks("variable")["retention_days"]
    assert "var.retention_days >= 1" in retention["validation"][0]["condition"]


def test_every_input_is_typed_and_described_and_every_output_described() -> None:
    for directory in (TF, EXAMPLE):
        for name, variable in blocks("variable", directory).items():
            assert "type" in variable, f"variable {name} has no type"
            assert len(variable.get("description", "")) > 20, f"variable {name}: no description"
        for name, output in blocks("output", directory).items():
            assert len(output.get("description", "")) > 10, f"output {name}: no description"
    declared_in = {path.name for path in TF.glob("*.tf") if parse(path).get("variable")}
    assert declared_in == {"variables.tf"}


def test_example_sets_only_declared_inputs_and_every_required_one() -> None:
    example_vars = blocks("variable", EXAMPLE)
    tfvars = {k for k in parse(EXAMPLE / "terraform.tfvars.example") if not k.startswith("__")}
    assert tfvars <= set(example_vars)
    assert {n for n, v in example_vars.items() if "default" not in v} <= tfvars
    call = blocks("module", EXAMPLE)["jobwarden"]
    assert call["source"] == "../.."
    module_vars = blocks("variable")
    arguments = set(call) - {"source"}
    assert arguments <= set(module_vars)
    assert {n for n, v in module_vars.items() if "default" not in v} <= arguments
    assert len(call["clusters"]) == 2


# --- 7. OpenTofu evaluates inputs and locals without providers ----------------------------------

PROBE = """
output "probe" {
  value = {
    pending_secrets     = local.pending_secrets
    config_yaml         = local.config_yaml
    values_ignored      = local.values_ignored
    secret_env          = local.secret_env
    secret_readers      = local.secret_readers
    subscription_filter = local.subscription_filter
    exporter_members    = local.exporter_members
    exporter_bindings   = local.exporter_bindings
    exporter_account_id = local.exporter_account_id
    cluster_topic_id    = local.cluster_topic_id
    subscriptions       = local.workflow_subscriptions
    event_targets       = keys(local.event_targets)
    http_targets        = keys(local.http_targets)
    people_http_targets = keys(local.people_http_targets)
    digest_scheduled    = local.digest_scheduled
    kubeconfig_clusters = keys(local.kubeconfig_clusters)
    vpc_connector       = local.vpc_connector
    direct_vpc          = local.direct_vpc
    vpc_traffic         = local.vpc_traffic
    http_ingress        = local.http_ingress
    prometheus_google   = local.prometheus_google
    prometheus_project  = local.prometheus_project
  }
}
"""

TWO_CLUSTERS: dict[str, Any] = {
    "project_id": "acme-jobwarden",
    "region": "europe-west1",
    "clusters": {
        "prod-eu": {"gke": {"project": "acme-prod", "location": "europe-west1", "cluster": "a"}},
        "prod-us": {
            "gke": {"project": "acme-prod", "location": "us-east1", "cluster": "b"},
            # one identity pool per project: prod-eu's exporter KSA is the default one
            "exporter": {"service_account": "jobwarden-exporter-prod-us"},
        },
        "onprem": {"kubeconfig_secret": True},
    },
    "webhooks": {
        "oncall": {"type": "slack", "workflows": ["jobFailureReporter"]},
        "audit-feed": {"type": "json"},
    },
    "action_invokers": ["group:sre@acme.example"],
    # the one values file, which the exporter chart takes too (README: Configuration)
    "values_file": str(EXAMPLE / "jobwarden-values.yaml"),
    # every secret has a value (the second stage); FIRST_STAGE below has none yet
    "secret_versions": {
        "confirm": "1",
        "webhook-oncall-url": "2",
        "webhook-audit-feed-url": "1",
        "webhook-audit-feed-hmac": "latest",
        "cluster-onprem-kubeconfig": "1",
    },
}
FIRST_STAGE = {k: v for k, v in TWO_CLUSTERS.items() if k != "secret_versions"}


#: The first use on a machine may build tofu from pinned Go modules (make tools does it first).
builds_tofu = pytest.mark.timeout(1800)


@pytest.fixture(scope="session")
def tofu() -> Path:
    from jobwarden_dev.localstack.tools import ensure_tools

    return ensure_tools(only=["tofu"])["tofu"]


def tofu_env(home: Path) -> dict[str, str]:
    rc = home / "tofurc"
    rc.write_text("", encoding="utf-8")
    return {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(rc),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }


def run_tofu(tofu: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tofu), *args, "-no-color"],
        cwd=cwd,
        env=tofu_env(cwd.parent),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def evaluate(tofu: Path, tmp_path: Path) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Apply the module's variables.tf + locals.tf (no providers) to inputs; the probe values."""
    runs = iter(range(100))

    def run(inputs: dict[str, Any]) -> dict[str, Any]:
        work = tmp_path / f"eval-{next(runs)}" / "module"
        work.mkdir(parents=True)
        for name in ("variables.tf", "locals.tf", "checks.tf"):
            shutil.copy(TF / name, work / name)
        (work / "probe.tf").write_text(PROBE, encoding="utf-8")
        (work / "terraform.tfvars.json").write_text(json.dumps(inputs), encoding="utf-8")
        for args in (("init", "-input=false"), ("apply", "-auto-approve", "-input=false")):
            proc = run_tofu(tofu, work, *args)
            if proc.returncode != 0:
                raise TofuError(proc.stdout + proc.stderr)
        proc = run_tofu(tofu, work, "output", "-json", "probe")
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout))

    return run


class TofuError(Exception):
    """tofu refused the configuration or the inputs (the message is its output)."""


def values_file(directory: Path, values: Any) -> str:
    """`values` written as a Helm values file (YAML) in `directory`; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"values-{len(list(directory.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return str(path)


@builds_tofu
def test_rendered_configuration_passes_jobwarden_loader(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]], tmp_path: Path
) -> None:
    values = yaml.safe_load(Path(TWO_CLUSTERS["values_file"]).read_text())
    values["security"] = {"confirmationSecretEnv": "ELSEWHERE", "protectedNamespaces": ["payments"]}
    probe = evaluate({**TWO_CLUSTERS, "values_file": values_file(tmp_path / "values", values)})
    # rendered as JSON, so the functions read it without importing PyYAML; still YAML
    assert json.loads(probe["config_yaml"]) == yaml.safe_load(probe["config_yaml"])
    settings = parse_config(json.loads(probe["config_yaml"]), source="rendered config")
    clusters = {c.name: c for c in settings.resolved_clusters({})}
    assert set(clusters) == {"prod-eu", "prod-us", "onprem"}
    assert clusters["prod-eu"].access == "gke"
    assert clusters["onprem"].kubeconfig == "/etc/jobwarden/clusters/onprem/kubeconfig"
    assert settings.sinks.storage.url == "gs://acme-jobwarden-jobwarden-reports/reports"
    assert settings.exporter.stuck_after == "2h"
    assert settings.security.protected_namespaces == ["payments"]
    # The module owns the confirmation key's name: it is the secret it injects.
    assert settings.security.confirmation_secret_env == "JOBWARDEN_CONFIRM_SECRET"
    hooks = {w.name: w for w in settings.sinks.webhooks}
    env = probe["secret_env"]
    assert hooks["oncall"].url_env in env["job_failure_reporter"]
    assert hooks["audit-feed"].url_env in env["job_pod_enricher"]
    assert hooks["audit-feed"].secret_env in env["job_pod_enricher"]
    assert settings.security.confirmation_secret_env in env["job_restart"]


@builds_tofu
def test_cloud_run_functions_take_the_configuration_the_chart_renders_from_the_same_values_file(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]], tmp_path: Path
) -> None:
    """One values file: helm renders it into the ConfigMap (exporter, functions in a cluster),
    the module reads the same file for the Cloud Run functions, and both say the same."""
    from functions_framework import create_app

    from jobwarden.runtime import Runtime, registry_for, set_default_runtime

    values = yaml.safe_load(Path(TWO_CLUSTERS["values_file"]).read_text())
    values["workflows"]["jobWorkflows"]["jobRestart"] = {"enabled": False}
    gmp = "https://monitoring.googleapis.com/v1/projects/obs-prj/location/global/prometheus"
    values["metrics"] = {
        "scrapeAnnotations": True,  # the chart's own key in the same object
        "prometheus": {"url": gmp, "auth": "google", "clusterLabel": "cluster"},
    }
    path = values_file(tmp_path / "values", values)
    probe = evaluate({**TWO_CLUSTERS, "values_file": path})
    rendered = json.loads(probe["config_yaml"])
    assert "image" not in rendered  # the chart's own keys stay in the chart
    assert "scrapeAnnotations" not in rendered["metrics"]
    # the workflows read Managed Service for Prometheus as themselves, in its project
    assert (probe["prometheus_google"], probe["prometheus_project"]) == (True, "obs-prj")
    cloud_run = parse_config(rendered, source="the module's configuration")
    (config_map,) = [o for o in template(files=[Path(path)]) if o["kind"] == "ConfigMap"]
    in_cluster = parse_config(
        yaml.safe_load(config_map["data"]["jobwarden.yaml"]), source="the chart's ConfigMap"
    )
    for key in ("workflows", "restart", "exporter", "metrics"):
        assert getattr(cloud_run, key) == getattr(in_cluster, key), key
    assert cloud_run.metrics.prometheus is not None and cloud_run.metrics.prometheus.url == gmp
    # security too, but for what the module sets from its own inputs
    module_set = {"authentication", "iap", "confirmation_secret_env"}
    assert cloud_run.security.model_dump(exclude=module_set) == in_cluster.security.model_dump(
        exclude=module_set
    )
    assert cloud_run.security.protected_namespaces[-1] == "payments"  # from the file
    assert cloud_run.restart.memory_cap == "16Gi" and cloud_run.exporter.stuck_after == "2h"
    assert probe["values_ignored"] == []

    # and the switch in the file is what the Cloud Run restart function does
    set_default_runtime(Runtime(settings=cloud_run, clusters=registry_for(cloud_run, {}), env={}))
    try:
        restart = create_app(
            "job_restart", str(ROOT / "functions" / "job_restart" / "main.py"), "http"
        ).test_client()
        answer = restart.post(
            "/",
            json={"cluster": "prod-eu", "namespace": "batch", "name": "nightly"},
            headers={"Authorization": "Bearer not-read"},
        )
    finally:
        set_default_runtime(None)
    assert answer.status_code == 403
    body = answer.get_json()
    assert body["code"] == "disabled"
    assert "workflows.jobWorkflows.jobRestart.enabled" in body["error"]


@builds_tofu
def test_clusters_and_sinks_of_the_values_file_are_named_not_taken_by_the_module(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]], tmp_path: Path
) -> None:
    values = {
        "sinks": {"webhooks": [{"name": "team-a", "type": "slack", "urlEnv": "TEAM_A_URL"}]},
        "exporter": {"stuckAfter": "3h"},
    }
    probe = evaluate({**TWO_CLUSTERS, "values_file": values_file(tmp_path / "values", values)})
    assert probe["values_ignored"] == ["sinks"]  # checks.tf warns with these names
    settings = parse_config(json.loads(probe["config_yaml"]), source="with sinks")
    assert {w.name for w in settings.sinks.webhooks} == {"oncall", "audit-feed"}
    assert settings.exporter.stuck_after == "3h"
    check = blocks("check")["values_file_keys"]
    assert "local.values_ignored" in json.dumps(check)


@builds_tofu
def test_the_charts_own_values_file_gives_jobwardens_defaults_without_a_warning(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """`helm show values > jobwarden-values.yaml` is where a user starts: every key there, the
    chart's own ones and its default sinks included, is read without a complaint."""
    chart_values = ROOT / "infra" / "helm" / "jobwarden-exporter" / "values.yaml"
    probe = evaluate({**TWO_CLUSTERS, "values_file": str(chart_values)})
    assert probe["values_ignored"] == []
    settings = parse_config(json.loads(probe["config_yaml"]), source="chart defaults")
    defaults = Settings()
    for key in ("workflows", "restart", "exporter"):
        assert getattr(settings, key) == getattr(defaults, key), key
    assert settings.security.protected_namespaces == defaults.security.protected_namespaces


@builds_tofu
def test_secrets_without_a_version_are_mounted_by_no_function_and_wait_outside_the_config(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """Adding a webhook or a kubeconfig cluster never breaks an apply: until its value exists
    and secret_versions names it, nothing mounts it, and the functions deploy without it."""
    probe = evaluate(FIRST_STAGE)
    assert probe["pending_secrets"] == sorted(TWO_CLUSTERS["secret_versions"])
    assert probe["secret_env"] == {target: {} for target in declared_targets()}
    assert probe["kubeconfig_clusters"] == []
    settings = parse_config(json.loads(probe["config_yaml"]), source="first stage")
    assert settings.sinks.webhooks == []
    assert {c.name for c in settings.resolved_clusters({})} == {"prod-eu", "prod-us"}

    # second stage for one webhook only: its URL is mounted, pinned, where it is posted
    probe = evaluate({**FIRST_STAGE, "secret_versions": {"webhook-oncall-url": "3"}})
    assert probe["secret_env"]["job_failure_reporter"] == {
        "JOBWARDEN_WEBHOOK_ONCALL_URL": {"secret": "webhook-oncall-url", "version": "3"}
    }
    assert probe["secret_env"]["job_info_enricher"] == {}
    settings = parse_config(json.loads(probe["config_yaml"]), source="one webhook")
    assert [w.name for w in settings.sinks.webhooks] == ["oncall"]
    # a json webhook waits for both its URL and its HMAC key
    probe = evaluate({**FIRST_STAGE, "secret_versions": {"webhook-audit-feed-url": "1"}})
    assert "audit-feed" not in probe["config_yaml"]


IAP = {"mode": "iap", "iap_audience": "/projects/123456789012/global/backendServices/4242"}


@builds_tofu
def test_iap_mode_reaches_the_configuration_and_puts_http_functions_behind_the_load_balancer(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    default = evaluate(TWO_CLUSTERS)
    assert default["http_ingress"] == "ALLOW_ALL"
    settings = parse_config(json.loads(default["config_yaml"]), source="default")
    assert (settings.security.authentication, settings.security.iap) == ("kubernetes-token", None)

    probe = evaluate({**TWO_CLUSTERS, "authentication": IAP})
    # IAP guards the load balancer only: the run.app URL must not be reachable around it
    assert probe["http_ingress"] == "ALLOW_INTERNAL_AND_GCLB"
    settings = parse_config(json.loads(probe["config_yaml"]), source="iap")
    assert settings.security.authentication == "iap"
    assert settings.security.iap is not None
    assert settings.security.iap.audience == IAP["iap_audience"]
    assert settings.security.iap.jwks_url == "https://www.gstatic.com/iap/verify/public_key-jwk"
    # the rest of security still comes from the values file
    assert settings.security.protected_namespaces == [
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "payments",
    ]

    keys = "https://keys.acme.example/iap.jwk"
    app = {"mode": "iap", "iap_audience": "/projects/42/apps/acme-jobwarden", "iap_jwks_url": keys}
    internal = evaluate(
        {**TWO_CLUSTERS, "authentication": app, "http_ingress": "ALLOW_INTERNAL_ONLY"}
    )
    assert internal["http_ingress"] == "ALLOW_INTERNAL_ONLY"  # an internal load balancer
    settings = parse_config(json.loads(internal["config_yaml"]), source="iap app")
    assert settings.security.iap is not None and settings.security.iap.jwks_url == keys


def test_each_cluster_gets_a_scheduled_digest_signed_by_an_account_that_invokes_only_it() -> None:
    job = resource("google_cloud_scheduler_job", "digest")
    assert job["for_each"] == "${local.digest_scheduled ? var.clusters : {}}"
    assert job["schedule"] == "${var.digest_schedule}"
    target = one(job, "http_target")
    assert target["http_method"] == "POST"
    fn = 'google_cloudfunctions2_function.fn["job_performance_digest"].service_config[0]'
    assert target["uri"] == "${" + fn + ".uri}"
    assert target["body"] == "${base64encode(jsonencode({cluster = each.key}))}"
    token = one(target, "oidc_token")
    assert token == {
        "service_account_email": "${google_service_account.scheduler[0].email}",
        "audience": "${" + fn + ".uri}",
    }
    assert "${google_project_service.this}" in job["depends_on"]
    assert grants_to("scheduler") == {
        ("google_cloud_run_v2_service_iam_member", "roles/run.invoker")
    }
    invoker = resource("google_cloud_run_v2_service_iam_member", "scheduler_invoker")
    assert invoker["name"] == "${" + fn + ".service}"
    apis = resource("google_project_service", "this")["for_each"]
    assert '"cloudscheduler.googleapis.com"' in apis
    digest = blocks("variable")["digest_schedule"]
    assert digest["default"] == "0 7 * * *" and digest["nullable"] is True


def test_iap_service_agent_alone_invokes_http_functions_for_the_load_balancer() -> None:
    service = one(resource("google_cloudfunctions2_function", "fn"), "service_config")
    assert service["ingress_settings"] == (
        '${each.value.signature == "cloudevent" ? "ALLOW_INTERNAL_ONLY" : local.http_ingress}'
    )
    agent = resource("google_project_service_identity", "iap")
    assert (agent["service"], agent["provider"]) == ("iap.googleapis.com", "google-beta")
    assert agent["count"] == "${local.iap ? 1 : 0}"
    invoker = resource("google_cloud_run_v2_service_iam_member", "iap_invoker")
    assert invoker["for_each"] == "${local.iap ? local.people_http_targets : {}}"
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["member"] == "serviceAccount:${google_project_service_identity.iap[0].email}"
    assert '"iap.googleapis.com"' in resource("google_project_service", "this")["for_each"]


@builds_tofu
def test_a_kubeconfig_cluster_joins_once_its_secret_has_a_version(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    probe = evaluate({**FIRST_STAGE, "secret_versions": {"cluster-onprem-kubeconfig": "4"}})
    assert probe["kubeconfig_clusters"] == ["onprem"]
    settings = parse_config(json.loads(probe["config_yaml"]), source="with onprem")
    clusters = {c.name: c for c in settings.resolved_clusters({})}
    assert clusters["onprem"].kubeconfig == "/etc/jobwarden/clusters/onprem/kubeconfig"


def test_functions_reach_private_control_planes_through_the_chosen_vpc_egress() -> None:
    service = one(resource("google_cloudfunctions2_function", "fn"), "service_config")
    assert service["vpc_connector"] == "${local.vpc_connector}"
    assert service["vpc_connector_egress_settings"] == (
        "${local.vpc_connector == null ? null : local.vpc_traffic}"
    )
    assert service["direct_vpc_egress"] == (
        '${length(local.direct_vpc) == 0 ? null : "VPC_EGRESS_${local.vpc_traffic}"}'
    )
    dynamic = {name: body for block in service["dynamic"] for name, body in block.items()}
    assert dynamic["direct_vpc_network_interface"]["for_each"] == "${local.direct_vpc}"


@builds_tofu
def test_vpc_egress_is_a_connector_or_direct_vpc_or_nothing(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    none = evaluate(TWO_CLUSTERS)
    assert (none["vpc_connector"], none["direct_vpc"]) == (None, [])
    connector = "projects/acme-net/locations/europe-west1/connectors/jobwarden"
    via = evaluate({**TWO_CLUSTERS, "vpc_egress": {"connector": connector}})
    assert (via["vpc_connector"], via["direct_vpc"], via["vpc_traffic"]) == (
        connector,
        [],
        "PRIVATE_RANGES_ONLY",
    )
    direct = evaluate(
        {
            **TWO_CLUSTERS,
            "vpc_egress": {"network": "shared", "subnetwork": "fns", "traffic": "ALL_TRAFFIC"},
        }
    )
    assert direct["vpc_connector"] is None
    assert direct["direct_vpc"] == [{"network": "shared", "subnetwork": "fns", "tags": []}]
    assert direct["vpc_traffic"] == "ALL_TRAFFIC"


@builds_tofu
def test_a_gke_cluster_can_be_reached_through_its_dns_endpoint(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    clusters = {
        **TWO_CLUSTERS["clusters"],
        "private": {
            "gke": {
                "project": "acme-prod",
                "location": "europe-west4",
                "cluster": "p",
                "endpoint": "dns",
            },
            "exporter": {"service_account": "jobwarden-exporter-private"},
        },
    }
    rendered = json.loads(evaluate({**TWO_CLUSTERS, "clusters": clusters})["config_yaml"])
    by_name = {c["name"]: c for c in rendered["clusters"]}
    # what the runtime reads: clusters[].gke.endpoint = "dns"; absent means the IP endpoint
    assert by_name["private"]["gke"] == {
        "project": "acme-prod",
        "location": "europe-west4",
        "cluster": "p",
        "endpoint": "dns",
    }
    assert by_name["prod-eu"]["gke"] == {
        "project": "acme-prod",
        "location": "europe-west1",
        "cluster": "a",
    }


@builds_tofu
def test_each_function_gets_exactly_the_secrets_it_uses(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    probe = evaluate(TWO_CLUSTERS)
    env = {target: set(names) for target, names in probe["secret_env"].items()}
    audit = {"JOBWARDEN_WEBHOOK_AUDIT_FEED_URL", "JOBWARDEN_WEBHOOK_AUDIT_FEED_HMAC"}
    assert env == {
        "job_failure_reporter": audit | {"JOBWARDEN_WEBHOOK_ONCALL_URL"},
        "job_info_enricher": audit,
        "job_events_enricher": audit,
        "job_pod_enricher": audit,
        "job_performance_analysis": audit,  # regression reports are posted
        "job_performance_digest": audit,  # so is the digest
        "job_info_enricher_http": set(),
        "job_events_enricher_http": set(),
        "job_pod_enricher_http": set(),
        "job_performance_analysis_http": set(),
        "job_restart": {"JOBWARDEN_CONFIRM_SECRET"} | audit,  # outcomes are reports, posted
        "job_delete": {"JOBWARDEN_CONFIRM_SECRET"} | audit,
        "job_reports": set(),  # the index page reads storage and the clusters only
    }
    readers = {(r["secret"], r["workflow"]) for r in probe["secret_readers"].values()}
    assert ("webhook-oncall-url", "job_failure_reporter") in readers
    assert not {w for s, w in readers if s == "webhook-oncall-url"} - {"job_failure_reporter"}
    assert {w for s, w in readers if s == "confirm"} == {"job_restart", "job_delete"}
    # every workflow and the index page (it asks each cluster who the caller is)
    assert len({w for s, w in readers if s == "cluster-onprem-kubeconfig"}) == 8
    assert probe["kubeconfig_clusters"] == ["onprem"]
    assert len(probe["event_targets"]) == 5 and len(probe["http_targets"]) == 8
    # the digest is the scheduler's: no person is granted it, directly or through IAP
    assert set(probe["http_targets"]) - set(probe["people_http_targets"]) == {
        "job_performance_digest"
    }
    assert probe["digest_scheduled"] is True


@builds_tofu
def test_without_functions_secrets_and_grants_are_still_prepared(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    inputs = {
        **TWO_CLUSTERS,
        "deploy_functions": False,
        "functions": {"job_restart": {"enabled": False}},
    }
    probe = evaluate(inputs)
    assert probe["event_targets"] == [] and probe["http_targets"] == []
    assert probe["secret_env"] == {}
    readers = {(r["secret"], r["workflow"]) for r in probe["secret_readers"].values()}
    # Grants exist before the functions, so their first deployment finds its secrets readable;
    # a disabled target gets none.
    assert {w for s, w in readers if s == "confirm"} == {"job_delete"}
    assert ("webhook-oncall-url", "job_failure_reporter") in readers


@builds_tofu
def test_filters_follow_attribute_filters_and_overrides(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    filters = evaluate(TWO_CLUSTERS)["subscription_filter"]
    assert filters == BRIDGE_FILTERS
    widened = 'attributes.type = "failed" OR attributes.type = "started"'
    probe = evaluate({**TWO_CLUSTERS, "subscription_filters": {"job_info_enricher": widened}})
    assert probe["subscription_filter"]["job_info_enricher"] == widened
    unfiltered = evaluate({**TWO_CLUSTERS, "attribute_filters": False})["subscription_filter"]
    assert set(unfiltered.values()) == {None}


@builds_tofu
def test_each_clusters_exporter_account_is_acted_as_by_that_clusters_exporter_only(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    wif = "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/x"
    kee = "serviceAccount:acme-staging.svc.id.goog[monitoring/event-exporter]"
    clusters = {
        **TWO_CLUSTERS["clusters"],
        "staging": {
            "gke": {"project": "acme-staging", "location": "europe-west1", "cluster": "s"},
            # kubernetes-event-exporter publishes for staging too, as staging's account
            "exporter": {
                "namespace": "ops",
                "service_account": "exporter",
                "additional_members": [kee],
            },
        },
        "edge": {"kubeconfig_secret": True, "exporter": {"workload_identity_member": wif}},
    }
    probe = evaluate({**TWO_CLUSTERS, "clusters": clusters})
    assert probe["exporter_members"] == {
        "prod-eu": ["serviceAccount:acme-prod.svc.id.goog[jobwarden/jobwarden-exporter]"],
        "prod-us": ["serviceAccount:acme-prod.svc.id.goog[jobwarden/jobwarden-exporter-prod-us]"],
        "staging": ["serviceAccount:acme-staging.svc.id.goog[ops/exporter]", kee],
        "edge": [wif],
        "onprem": [],  # a kubeconfig cluster without a principal: nobody publishes for it yet
    }
    bindings = {(b["cluster"], b["member"]) for b in probe["exporter_bindings"].values()}
    assert bindings == {(c, m) for c, ms in probe["exporter_members"].items() for m in ms}


@builds_tofu
def test_each_cluster_gets_its_own_topic_account_and_subscriptions(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    inputs = {
        **TWO_CLUSTERS,
        "clusters": {c: TWO_CLUSTERS["clusters"][c] for c in ("prod-eu", "prod-us")},
        "secret_versions": {"confirm": "1"},
    }
    probe = evaluate(inputs)
    topics = {
        "prod-eu": "projects/acme-jobwarden/topics/job-events-prod-eu",
        "prod-us": "projects/acme-jobwarden/topics/job-events-prod-us",
    }
    assert probe["cluster_topic_id"] == topics
    assert probe["exporter_account_id"] == {
        "prod-eu": "jobwarden-exporter-prod-eu",
        "prod-us": "jobwarden-exporter-prod-us",
    }
    # every event workflow reads every cluster's topic, and its push endpoint's path names
    # that topic: it becomes the CloudEvent source the functions check the cluster against
    subs = probe["subscriptions"]
    assert {(v["target"], v["cluster"]) for v in subs.values()} == {
        (t, c) for t in WANTED for c in topics
    }
    for key, sub in subs.items():
        assert key == f"{sub['target']}/{sub['cluster']}"
        assert sub["push_path"] == "/" + topics[sub["cluster"]]
        assert sub["name"] == f"job-events-{sub['cluster']}-{sub['target']}"
        assert len(sub["name"]) <= 255

    # the rendered configuration names each cluster's topic, and jobwarden's loader takes it
    settings = parse_config(json.loads(probe["config_yaml"]), source="per-cluster topics")
    assert {c.name: c.pubsub_topic for c in settings.resolved_clusters({})} == topics
    # ... and believes prod-eu only from prod-eu's topic
    assert settings.channel_problem("prod-eu", topics["prod-eu"]) is None
    assert "only cluster prod-us" in str(settings.channel_problem("prod-eu", topics["prod-us"]))


@builds_tofu
def test_exporter_account_ids_fit_thirty_characters_and_stay_stable(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    long_name = "batch-processing-europe-west4-a"
    prefix = "acme-jobwarden-prod-x"  # 21 characters, the longest name_prefix
    gke = {"project": "acme-prod", "location": "europe-west4", "cluster": "a"}
    clusters = {
        "eu": {"gke": gke, "exporter": {"service_account": "exporter-eu"}},
        long_name: {"gke": gke, "exporter": {"service_account": "exporter-long"}},
    }
    inputs = {**FIRST_STAGE, "clusters": clusters}
    ids = evaluate(inputs)["exporter_account_id"]
    assert ids["eu"] == "jobwarden-exporter-eu"
    assert ids[long_name] == "jobwarden-exp-" + hashlib.sha256(long_name.encode()).hexdigest()[:8]
    short = evaluate({**inputs, "name_prefix": prefix})
    ids = short["exporter_account_id"]
    assert ids["eu"] == f"{prefix}-exp-" + hashlib.sha256(b"eu").hexdigest()[:4]
    for account_id in ids.values():
        assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", account_id), account_id


@builds_tofu
@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"action_invokers": ["allUsers"]}, "allUsers and allAuthenticatedUsers are refused"),
        ({"report_invokers": ["allAuthenticatedUsers"]}, "allUsers and allAuthenticatedUsers"),
        (
            {
                "clusters": {
                    "a": {
                        "kubeconfig_secret": True,
                        "gke": {"project": "p-123456", "location": "l", "cluster": "c"},
                    }
                }
            },
            "exactly one of gke",
        ),
        ({"functions": {"job_report": {"enabled": False}}}, "functions keys must be"),
        ({"max_delivery_attempts": 3}, "from 5 to 100"),
        ({"values_file": ["not", "a", "mapping"]}, "values_file must hold a mapping of keys"),
        ({"values_file": "/nonexistent/values.yaml"}, "values_file must name a readable YAML"),
        (
            {"ack_deadline_seconds": 300},
            "ack_deadline_seconds (300) must be at least each event function's timeout_seconds"
            " + 60; too long: job_events_enricher (300 s)",
        ),
        (
            {
                "function_defaults": {"timeout_seconds": 120},
                "functions": {"job_pod_enricher": {"timeout_seconds": 550}},
            },
            "too long: job_pod_enricher (550 s)",
        ),
        (
            {"secret_versions": {"webhook-oncal-url": "1"}},
            "secret_versions has keys that name no secret of this module: webhook-oncal-url",
        ),
        ({"secret_versions": {"confirm": "v1"}}, "a version number such as"),
        (
            {
                "clusters": {
                    "a": {
                        "gke": {
                            "project": "p-123456",
                            "location": "l",
                            "cluster": "c",
                            "endpoint": "private",
                        }
                    }
                }
            },
            'must be "ip" or "dns"',
        ),
        (
            {
                "vpc_egress": {
                    "connector": "projects/acme-net/locations/europe-west1/connectors/jw",
                    "network": "vpc",
                    "subnetwork": "fns",
                }
            },
            "either connector (Serverless VPC Access) or network and subnetwork",
        ),
        ({"vpc_egress": {}}, "not both and not neither"),
        ({"vpc_egress": {"connector": "jw-connector"}}, "must be a connector id"),
        (
            {"vpc_egress": {"network": "vpc"}},
            "needs both vpc_egress.network and vpc_egress.subnetwork",
        ),
        (
            {"vpc_egress": {"network": "vpc", "subnetwork": "s", "traffic": "ALL"}},
            "PRIVATE_RANGES_ONLY or ALL_TRAFFIC",
        ),
        ({"authentication": {"mode": "iap"}}, 'authentication.mode = "iap" needs iap_audience'),
        (
            {"authentication": {"mode": "iap", "iap_audience": "123456789012"}},
            'authentication.mode = "iap" needs iap_audience',
        ),
        (
            {
                "authentication": {
                    "mode": "iap",
                    "iap_audience": "/projects/acme-jobwarden/global/backendServices/4242",
                }
            },
            "/projects/<project number>/global/backendServices/<backend service id>",
        ),
        ({"authentication": {"mode": "trusted-header"}}, 'must be "kubernetes-token" or "iap"'),
        (
            {"authentication": {"iap_audience": "/projects/1/global/backendServices/2"}},
            'only read with mode = "iap"',
        ),
        (
            {"authentication": IAP, "http_ingress": "ALLOW_ALL"},
            "leave http_ingress unset (it becomes ALLOW_INTERNAL_AND_GCLB)",
        ),
        (
            {"values_file": {"security": {"authentication": "iap"}}},
            "values_file disagrees with the authentication input: it says"
            " security.authentication = iap, security.iap.audience = (unset); the input says"
            " mode = kubernetes-token, iap_audience = (unset)",
        ),
        (
            {
                "clusters": {
                    **TWO_CLUSTERS["clusters"],
                    "prod-us": {
                        "gke": {"project": "acme-prod", "location": "us-east1", "cluster": "b"}
                    },
                }
            },
            "Exporters of different clusters would share an identity, so each could publish"
            " as the other: serviceAccount:acme-prod.svc.id.goog[jobwarden/jobwarden-exporter]"
            " for prod-eu, prod-us",
        ),
        ({"clusters": {"dead-letter": {"kubeconfig_secret": True}}}, "cannot be named dead-letter"),
        ({"topic_name": "t" * 151}, "topic_name must be 3-150 characters"),
        (
            {
                "clusters": {
                    "a": {
                        "kubeconfig_secret": True,
                        "exporter": {"additional_members": ["user:someone@acme.example"]},
                    }
                }
            },
            "exporter.additional_members must be Workload Identity members",
        ),
    ],
    ids=[
        "allUsers-invoker",
        "allAuthenticated-reader",
        "two-access-ways",
        "unknown-target",
        "too-few-deliveries",
        "values-file-not-a-mapping",
        "values-file-missing",
        "ack-deadline-equal-to-timeout",
        "one-slow-event-function",
        "misspelt-secret-key",
        "secret-version-not-a-number",
        "unknown-endpoint-kind",
        "connector-and-direct-vpc",
        "vpc-egress-without-a-way",
        "connector-not-an-id",
        "network-without-subnetwork",
        "unknown-egress-traffic",
        "iap-without-audience",
        "iap-audience-not-a-path",
        "iap-audience-with-project-id",
        "unknown-authentication",
        "audience-without-iap",
        "iap-with-allow-all",
        "authentication-in-the-values-file",
        "two-clusters-one-exporter-identity",
        "cluster-named-dead-letter",
        "topic-prefix-too-long",
        "additional-member-not-a-workload",
    ],
)
def test_invalid_inputs_are_refused_before_anything_is_created(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
    change: dict[str, Any],
    refusal: str,
    tmp_path: Path,
) -> None:
    if not isinstance(change.get("values_file", ""), str):  # the content of a values file
        change = {**change, "values_file": values_file(tmp_path / "values", change["values_file"])}
    with pytest.raises(TofuError) as refused:
        evaluate({**TWO_CLUSTERS, **change})
    assert refusal in " ".join(str(refused.value).split())


@builds_tofu
def test_tofu_fmt_finds_nothing_to_change(tofu: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(tofu), "fmt", "-check", "-recursive", "-diff", "-no-color", str(TF)],
        env=tofu_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"run `tofu fmt -recursive infra/terraform`:\n{proc.stdout}"


# --- 8. checkov ----------------------------------------------------------------------------------

SKIP = re.compile(r"#checkov:skip=(CKV2?_[A-Z]+_\d+):(.*)")


def test_every_checkov_skip_is_justified_and_documented() -> None:
    readme = (TF / "README.md").read_text(encoding="utf-8")
    skips = [m for p in TF.rglob("*.tf") for m in SKIP.finditer(p.read_text(encoding="utf-8"))]
    assert skips, "expected the documented skips"
    for match in skips:
        check, reason = match.groups()
        assert len(reason.split()) >= 8, f"{check}: give the reason, not just a label"
        assert f"`{check}`" in readme, f"{check} is skipped but not explained in the README"


@pytest.mark.timeout(1200)  # the first run installs checkov (tests/support/checkov.py)
def test_checkov_passes() -> None:
    proc = run_checkov(
        "-d", str(TF), "--framework", "terraform", "--compact", "--skip-download", "-o", "json"
    )
    assert proc.stdout.strip(), f"checkov printed nothing:\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    results, summary = report["results"], report["summary"]
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} "
        f"({c['file_path']}:{c['file_line_range']})"
        for c in results["failed_checks"]
    ]
    assert proc.returncode == 0 and not failed, "checkov failed:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    checked = {c["resource"].rsplit(".", 2)[-2] for c in results["passed_checks"]}
    assert {"google_storage_bucket", "google_pubsub_topic_iam_member"} <= checked
    skipped = {c["check_id"] for c in results["skipped_checks"]}
    in_code = {m.group(1) for p in TF.rglob("*.tf") for m in SKIP.finditer(p.read_text())}
    assert skipped == in_code


# --- 9. a push delivery reaches an event function as the Pub/Sub CloudEvent -----------------------


def test_push_subscription_body_reaches_the_function_as_the_pubsub_cloudevent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from functions_framework import create_app

    import jobwarden.edge as edge

    seen: list[tuple[str, Any]] = []
    monkeypatch.setattr(edge, "on_cloudevent", lambda wf, event: seen.append((wf, event)))
    source = ROOT / "functions" / "job_failure_reporter" / "main.py"
    app = create_app("job_failure_reporter", str(source), "cloudevent")  # type: ignore[no-untyped-call]
    client = app.test_client()
    job_event = JobEvent(
        cluster="prod-eu",
        namespace="batch",
        name="nightly-28744",
        uid="0b5f6a2c-1111-2222-3333-444455556666",
        transition="failed",
        reason="BackoffLimitExceeded",
    )
    body = {  # what a push subscription POSTs (x-goog-version v1, wrapped)
        "message": {
            "data": base64.b64encode(job_event.to_json()).decode(),
            "attributes": pubsub_attributes(job_event),
            "messageId": "1234",
            "message_id": "1234",
            "publishTime": "2026-05-01T02:03:04.000Z",
            "publish_time": "2026-05-01T02:03:04.000Z",
        },
        "subscription": "projects/acme/subscriptions/job-events-prod-eu-job_failure_reporter",
        "deliveryAttempt": 2,
    }
    response = client.post("/projects/acme/topics/job-events-prod-eu", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    ((workflow, event),) = seen
    assert workflow == "jobFailureReporter"
    attributes = event.get_attributes()
    assert attributes["type"] == PUBSUB_CLOUDEVENT_TYPE
    assert attributes["source"] == (
        "//pubsub.googleapis.com/projects/acme/topics/job-events-prod-eu"
    )
    trigger = parse_cloudevent(attributes, event.get_data())
    assert (trigger.cluster, trigger.namespace, trigger.job) == (
        "prod-eu",
        "batch",
        "nightly-28744",
    )
    assert trigger.transition == "failed" and trigger.event_id == job_event.id
    assert trigger.attributes["type"] == "failed"
