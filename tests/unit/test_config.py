"""Configuration: the seed's defaults, errors that name the key path, secrets never printed."""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobwarden.config import (
    Settings,
    config_table_markdown,
    json_schema,
    load_config,
    main,
    parse_config,
    parse_duration,
    resolve_secret,
)
from jobwarden.errors import ConfigError
from jobwarden.quantities import format_memory, parse_memory

ROOT = Path(__file__).resolve().parents[2]

# The documented `workflows.jobWorkflows` block with its defaults, verbatim.
SEED_BLOCK = """
workflows:
  jobWorkflows:
    jobFailureReporter:
      enabled: true
      includeLogs: true
      includeEvents: true
    jobInfoEnricher:
      enabled: true
      showDetails: true
    jobEventsEnricher:
      enabled: true
      eventTypes: ["Warning", "Normal"]
    jobPodEnricher:
      enabled: true
      includeLogs: true
    jobRestart:
      enabled: true
      requireConfirmation: true
    jobDelete:
      enabled: true
      requireConfirmation: true
    jobPerformanceAnalysis:
      enabled: true
      defaultDuration: "24h"
      regressions:
        enabled: true
        history: "14d"
        minRuns: 5
        maxRuns: 200
        p95Factor: 1.5
        deadlineFraction: 0.8
        successRateBelow: 0.8
      digest:
        duration: "7d"
        top: 5
"""
SEED: dict[str, Any] = yaml.safe_load(SEED_BLOCK)
SECRET_URL = "https://hooks.slack.com/services/T000/B000/s3cr3t-Token-Value"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobwarden.yaml"
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    return str(info.value)


def seed_key_paths(node: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in node.items():
        paths.append(prefix + key)
        if isinstance(value, dict):
            paths += seed_key_paths(value, f"{prefix}{key}.")
    return paths


# --- defaults ---------------------------------------------------------------------------------


def test_defaults_equal_the_seed_block_exactly() -> None:
    dumped = Settings().model_dump(by_alias=True)
    assert dumped["workflows"] == SEED["workflows"]


def test_no_file_and_no_env_gives_the_defaults() -> None:
    assert load_config(env={}) == Settings()


def test_the_seed_block_as_a_file_loads_to_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, SEED_BLOCK), env={}) == Settings()


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing yet\n"), env={}) == Settings()


def test_seed_options_are_readable_by_snake_case_names() -> None:
    flows = Settings().workflows.job_workflows
    assert flows.job_failure_reporter.include_events is True
    assert flows.job_events_enricher.event_types == ["Warning", "Normal"]
    assert flows.job_restart.require_confirmation is True
    assert flows.job_performance_analysis.default_window == timedelta(hours=24)


def test_other_sections_default_as_documented() -> None:
    settings = Settings()
    assert settings.sinks.storage.url == "file://./reports"
    assert settings.sinks.webhooks == []
    assert settings.security.authentication == "kubernetes-token"
    assert settings.security.confirmation_secret_env == "JOBWARDEN_CONFIRM_SECRET"
    assert settings.security.confirmation_ttl_seconds == 300
    assert settings.security.protected_namespaces == [
        "kube-system",
        "kube-public",
        "kube-node-lease",
    ]
    assert settings.restart.memory_step == "1.5x"
    assert settings.restart.new_name_pattern == "{name}-retry-{n}"
    assert settings.exporter.stuck_after == "1h"


# --- loading ----------------------------------------------------------------------------------


def test_the_documented_example_file_loads() -> None:
    settings = load_config(ROOT / "examples" / "config.yaml", env={})
    assert [c.name for c in settings.resolved_clusters(env={})] == ["prod-eu", "staging"]
    prod, staging = settings.resolved_clusters(env={})
    assert prod.access == "gke"
    assert prod.gke is not None
    assert prod.gke.location == "europe-west1"
    assert staging.access == "kubeconfig"
    assert staging.context == "staging-admin"
    assert [w.name for w in settings.webhooks_for("jobFailureReporter")] == ["oncall", "audit"]
    assert [w.name for w in settings.webhooks_for("jobPerformanceAnalysis")] == ["audit"]
    assert settings.webhooks_for("jobInfoEnricher") == []  # enrichers: stored, not posted
    assert settings.sinks.webhooks[1].secret_env == "AUDIT_HMAC_SECRET"


def test_jobwarden_config_env_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "workflows: {jobWorkflows: {jobDelete: {enabled: false}}}\n")
    settings = load_config(env={"JOBWARDEN_CONFIG": str(path)})
    assert settings.workflows.job_workflows.job_delete.enabled is False
    assert settings.workflows.job_workflows.job_delete.require_confirmation is True


def test_a_path_argument_wins_over_jobwarden_config(tmp_path: Path) -> None:
    path = write(tmp_path, "exporter: {stuckAfter: 3h}\n")
    settings = load_config(path, env={"JOBWARDEN_CONFIG": str(tmp_path / "other.yaml")})
    assert settings.exporter.stuck_after == "3h"


def test_missing_file_message_names_the_path_and_jobwarden_config(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(env={"JOBWARDEN_CONFIG": str(missing)})
    assert str(missing) in str(info.value)
    assert "JOBWARDEN_CONFIG" in str(info.value)
    with pytest.raises(ConfigError, match="JOBWARDEN_CONFIG"):
        load_config(missing, env={})


def test_the_environment_is_read_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "restart: {memoryCap: 4Gi}\n")
    monkeypatch.setenv("JOBWARDEN_CONFIG", str(path))
    assert load_config().restart.memory_cap == "4Gi"


# --- errors name the key path and the reason -------------------------------------------------


def test_unknown_key_fails_naming_its_path_and_the_allowed_keys(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, "workflows: {jobWorkflows: {jobPodEnricher: {includeLog: true}}}"
    )
    assert str(tmp_path / "jobwarden.yaml") in message
    assert "workflows.jobWorkflows.jobPodEnricher.includeLog: unknown key" in message
    assert "did you mean includeLogs?" in message


def test_unknown_top_level_section_fails(tmp_path: Path) -> None:
    assert "playbooks: unknown key" in load_error(tmp_path, "playbooks: []\n")


def test_wrong_type_fails_naming_path_and_reason(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, "workflows: {jobWorkflows: {jobRestart: {requireConfirmation: maybe}}}"
    )
    assert (
        "workflows.jobWorkflows.jobRestart.requireConfirmation: Input should be a valid boolean"
        in message
    )


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        "workflows: {jobWorkflows: {jobEventsEnricher: {eventTypes: [Warning, Error]}}}\n"
        "security: {authentication: basic, confirmationTtlSeconds: 0}\n",
    )
    lines = message.splitlines()
    assert "(3 problems)" in lines[0]
    assert any(
        line.strip().startswith("workflows.jobWorkflows.jobEventsEnricher.eventTypes[1]: ")
        for line in lines
    )
    assert any(line.strip().startswith("security.authentication: ") for line in lines)
    assert any(line.strip().startswith("security.confirmationTtlSeconds: ") for line in lines)


def test_bad_duration_names_the_text_and_the_accepted_forms(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, "workflows: {jobWorkflows: {jobPerformanceAnalysis: {defaultDuration: 1 day}}}"
    )
    assert "jobPerformanceAnalysis.defaultDuration: '1 day' is not a duration" in message
    assert "24h" in message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, "sinks:\n  storage: {url: file://x\n  webhooks: [\n")
    assert "invalid YAML at line" in message
    assert str(tmp_path / "jobwarden.yaml") in message


def test_a_json_file_loads_without_importing_pyyaml(tmp_path: Path) -> None:
    config = {
        "clusters": [{"name": "prod-eu", "inCluster": True}],
        "sinks": {"storage": {"url": "gs://acme-reports/jobwarden"}},
        "workflows": {"jobWorkflows": {"jobInfoEnricher": {"showDetails": False}}},
    }
    path = write(tmp_path, json.dumps(config, indent=2))
    code = (
        "import sys; from jobwarden.config import load_config; "
        f"s = load_config({str(path)!r}, env={{}}); "
        "print(s.clusters[0].name, s.sinks.storage.url, "
        "s.workflows.job_workflows.job_info_enricher.show_details, 'yaml' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()

    assert out == ["prod-eu", "gs://acme-reports/jobwarden", "False", "False"]


def test_a_yaml_flow_mapping_is_still_yaml_and_broken_json_fails_as_yaml(
    tmp_path: Path,
) -> None:
    flow = load_config(write(tmp_path, "{clusters: [{name: edge, inCluster: true}]}"), env={})
    assert [c.name for c in flow.clusters or []] == ["edge"]
    message = load_error(tmp_path, '{"sinks": {"storage": {"url": "file://x"}\n')
    assert "invalid YAML at line" in message


def test_a_list_at_the_top_level_fails(tmp_path: Path) -> None:
    assert "top level must be a mapping" in load_error(tmp_path, "- clusters\n")


def test_duplicate_cluster_names_fail(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        "clusters:\n"
        "  - {name: prod, inCluster: true}\n"
        "  - {name: prod, kubeconfig: ~/.kube/config}\n",
    )
    assert "clusters: duplicate cluster name 'prod' (entries 0 and 1)" in message


def test_duplicate_webhook_names_fail() -> None:
    hook = {"name": "oncall", "type": "slack", "urlEnv": "A"}
    with pytest.raises(ConfigError, match="duplicate webhook name 'oncall'"):
        parse_config({"sinks": {"webhooks": [hook, hook]}})


def test_a_webhook_lease_shorter_than_one_attempt_fails_naming_both_keys() -> None:
    hook = {"name": "oncall", "type": "json", "urlEnv": "A", "timeoutSeconds": 30}
    with pytest.raises(ConfigError, match=r"leaseSeconds \(20\) is shorter than timeoutSeconds"):
        parse_config({"sinks": {"webhooks": [{**hook, "leaseSeconds": 20}]}})
    parsed = parse_config({"sinks": {"webhooks": [{**hook, "leaseSeconds": 45}]}})
    assert parsed.sinks.webhooks[0].lease_seconds == 45


def test_a_cluster_with_both_kubeconfig_and_in_cluster_fails(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, "clusters:\n  - {name: a, kubeconfig: ~/.kube/config, inCluster: true}\n"
    )
    assert "clusters[0]: set exactly one of kubeconfig, inCluster: true or gke" in message
    assert "got kubeconfig and inCluster" in message


def test_a_cluster_with_no_way_in_fails() -> None:
    with pytest.raises(ConfigError, match=r"clusters\[0\]: set exactly one .* \(got none\)"):
        parse_config({"clusters": [{"name": "a"}]})


def test_cluster_names_must_be_dns_labels() -> None:
    with pytest.raises(ConfigError, match=r"clusters\[0\]\.name: '\.\./etc' is not a DNS label"):
        parse_config({"clusters": [{"name": "../etc", "inCluster": True}]})


def test_storage_url_must_be_file_or_gs() -> None:
    with pytest.raises(ConfigError, match=r"sinks\.storage\.url: 's3://b' is not a storage URL"):
        parse_config({"sinks": {"storage": {"url": "s3://b"}}})
    assert parse_config({"sinks": {"storage": {"url": "gs://bucket/pre"}}})


def test_secret_env_is_only_for_json_webhooks() -> None:
    hook = {"name": "chat", "type": "teams", "urlEnv": "A", "secretEnv": "B"}
    with pytest.raises(ConfigError, match=r"sinks\.webhooks\[0\]: secretEnv is only used by json"):
        parse_config({"sinks": {"webhooks": [hook]}})


def test_webhook_routes_only_known_workflow_keys() -> None:
    hook = {"name": "x", "type": "json", "urlEnv": "A", "workflows": ["job_failure_reporter"]}
    with pytest.raises(ConfigError, match=r"sinks\.webhooks\[0\]\.workflows\[0\]: Input should be"):
        parse_config({"sinks": {"webhooks": [hook]}})


def test_new_name_pattern_must_count_restarts() -> None:
    with pytest.raises(ConfigError, match=r"restart\.newNamePattern: .*include \{n\}"):
        parse_config({"restart": {"newNamePattern": "{name}-again"}})


# --- clusters: absent means the user's own kubeconfig, resolved only at use -------------------


def test_absent_clusters_stay_absent_until_resolved() -> None:
    settings = Settings()
    assert settings.clusters is None
    (default,) = settings.resolved_clusters(env={})
    assert default.name == "default"
    assert default.kubeconfig == "~/.kube/config"
    assert default.kubeconfig_path() == Path("~/.kube/config").expanduser()


def test_absent_clusters_follow_kubeconfig_first_entry() -> None:
    env = {"KUBECONFIG": "/etc/a.yaml:/etc/b.yaml"}
    assert Settings().resolved_clusters(env=env)[0].kubeconfig == "/etc/a.yaml"


def test_an_empty_cluster_list_means_no_cluster_at_all() -> None:
    settings = parse_config({"clusters": []})
    assert settings.resolved_clusters(env={"KUBECONFIG": "/etc/a.yaml"}) == []
    assert settings.cluster("default", env={}) is None


def test_kubeconfig_tilde_is_kept_at_load_and_expanded_at_use() -> None:
    settings = parse_config({"clusters": [{"name": "a", "kubeconfig": "~/k"}]})
    cluster = settings.cluster("a")
    assert cluster is not None
    assert cluster.kubeconfig == "~/k"
    assert cluster.kubeconfig_path() == Path.home() / "k"


# --- secrets ----------------------------------------------------------------------------------


def slack_settings() -> Settings:
    hooks = [
        {"name": "oncall", "type": "slack", "urlEnv": "SLACK_URL"},
        {"name": "audit", "type": "json", "urlEnv": "AUDIT_URL", "secretEnv": "AUDIT_KEY"},
    ]
    return parse_config({"sinks": {"webhooks": hooks}})


def test_secrets_never_appear_in_repr_or_str() -> None:
    env = {"SLACK_URL": SECRET_URL, "AUDIT_URL": SECRET_URL, "AUDIT_KEY": "hmac-k3y-value"}
    settings = slack_settings()
    url = settings.sinks.webhooks[0].url(env)
    key = settings.sinks.webhooks[1].secret(env)
    assert url.get_secret_value() == SECRET_URL
    assert key is not None
    assert key.get_secret_value() == "hmac-k3y-value"
    for shown in (repr(url), str(url), repr(key), str(key), repr(settings), str(settings)):
        assert "s3cr3t" not in shown
        assert "hmac-k3y" not in shown


def test_a_secret_pasted_into_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"sinks:\n  webhooks:\n    - {{name: oncall, type: slack, urlEnv: '{SECRET_URL}'}}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert "sinks.webhooks[0].urlEnv: must be the name of an environment variable" in str(
        info.value
    )
    printed = "".join(traceback.format_exception(info.value))
    assert "s3cr3t" not in printed


def test_an_unset_webhook_url_fails_only_when_used_naming_variable_and_webhook() -> None:
    settings = slack_settings()  # loading does not need the variable
    with pytest.raises(ConfigError) as info:
        settings.sinks.webhooks[0].url(env={})
    assert "SLACK_URL" in str(info.value)
    assert "'oncall'" in str(info.value)


def test_a_webhook_variable_that_is_not_a_url_fails_without_showing_it() -> None:
    with pytest.raises(ConfigError) as info:
        slack_settings().sinks.webhooks[0].url(env={"SLACK_URL": "s3cr3t-not-a-url"})
    assert "SLACK_URL" in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_resolve_secret_reads_the_environment_and_names_only_the_variable() -> None:
    assert resolve_secret("K", {"K": "v4lue"}).get_secret_value() == "v4lue"
    with pytest.raises(ConfigError, match=r"^environment variable K is not set$"):
        resolve_secret("K", {"K": ""})
    with pytest.raises(ConfigError, match="JOBWARDEN_CONFIRM_SECRET"):
        Settings().security.confirmation_secret(env={})


# --- durations and quantities -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(minutes=90)),
    ],
)
def test_parse_duration_reads_the_documented_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "1 day", "-1h", "0s", "1.5h", "24H", "99999999w"])
def test_parse_duration_rejects_other_text_naming_it(text: str) -> None:
    with pytest.raises(ConfigError, match=f"^{text!r}"):
        parse_duration(text)


def test_restart_memory_step_grows_by_factor_or_increment_up_to_the_cap() -> None:
    mi = 2**20
    assert Settings().restart.next_memory_limit(512 * mi) == 768 * mi
    assert format_memory(768 * mi) == "768Mi"
    assert Settings().restart.next_memory_limit(7 * 1024 * mi) == parse_memory("8Gi")
    step = parse_config({"restart": {"memoryStep": "256Mi", "memoryCap": "1Gi"}}).restart
    assert step.next_memory_limit(512 * mi) == 768 * mi
    assert parse_memory("500M") == 500_000_000
    assert parse_memory("1e3") == 1000


def test_restart_memory_step_must_grow() -> None:
    with pytest.raises(ConfigError, match=r"restart\.memoryStep: '1x' .*above 1"):
        parse_config({"restart": {"memoryStep": "1x"}})


# --- generated documentation ------------------------------------------------------------------


def test_committed_schema_file_is_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    generated = capsys.readouterr().out
    committed = (ROOT / "shared" / "jobwarden" / "config.schema.json").read_text()
    assert committed == generated, (
        "regenerate: python -m jobwarden.config schema -o shared/jobwarden/config.schema.json"
    )


def test_schema_describes_the_seed_block_with_its_defaults() -> None:
    schema = json_schema()
    defs = schema["$defs"]
    assert schema["additionalProperties"] is False
    restart = defs["JobRestart"]["properties"]["requireConfirmation"]
    assert restart["default"] is True
    assert restart["description"]
    duration = defs["JobPerformanceAnalysis"]["properties"]["defaultDuration"]
    assert duration["default"] == "24h"
    assert set(defs["JobWorkflows"]["properties"]) == set(SEED["workflows"]["jobWorkflows"])
    json.dumps(schema)  # plain JSON all the way down


def test_the_markdown_table_mentions_every_seed_key() -> None:
    table = config_table_markdown()
    for path in seed_key_paths(SEED):
        assert f"| `{path}` |" in table, path
    assert "| `clusters[].inCluster` | boolean | `false` |" in table
    assert "| `sinks.webhooks[].urlEnv` | env var name | required |" in table


def test_every_key_in_the_table_has_a_description() -> None:
    rows = config_table_markdown().splitlines()[2:]
    assert rows
    for row in rows:
        assert row.rstrip(" |").split(" | ")[-1].strip(), row


def test_check_command_reports_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(write(tmp_path, "exporter: {stuckAfter: soon}\n"))]) == 1
    assert "exporter.stuckAfter: 'soon' is not a duration" in capsys.readouterr().err


def test_a_gke_cluster_reached_through_its_dns_endpoint_loads_and_reaches_the_registry() -> None:
    from jobwarden.cluster import GkeSource
    from jobwarden.runtime import registry_for

    gke = {"project": "p", "location": "europe-west1", "cluster": "prod", "endpoint": "dns"}
    settings = parse_config({"clusters": [{"name": "prod-eu", "gke": gke}]})
    (cluster,) = settings.resolved_clusters(env={})
    assert cluster.gke is not None and cluster.gke.endpoint == "dns"
    source = registry_for(settings, {}).client("prod-eu").source  # built lazily: no network
    assert isinstance(source, GkeSource) and source.endpoint == "dns"
    gke.pop("endpoint")
    (default,) = parse_config({"clusters": [{"name": "a", "gke": gke}]}).resolved_clusters({})
    assert default.gke is not None and default.gke.endpoint == "ip"


def test_a_gke_endpoint_other_than_ip_or_dns_names_the_key() -> None:
    gke = {"project": "p", "location": "l", "cluster": "c", "endpoint": "private"}
    with pytest.raises(ConfigError, match=r"clusters\[0\]\.gke\.endpoint"):
        parse_config({"clusters": [{"name": "a", "gke": gke}]})
