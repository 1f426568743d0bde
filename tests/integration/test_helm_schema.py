"""The chart's values.schema.json: generated from the package, committed, and enforced by helm."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from jobwarden.config import Settings, json_schema
from jobwarden_dev.helmschema import SHARED_KEYS, main, readme_with_table, render, values_schema
from tests.support.helm import CHART, REQUIRED, helm, lint, template_error

REGENERATE = (
    "regenerate: python -m jobwarden_dev.helmschema"
    " > infra/helm/jobwarden-exporter/values.schema.json"
    " (or `python -m jobwarden_dev.helmschema --write`, which also updates the README table)"
)


def values_yaml() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def test_committed_values_schema_is_up_to_date() -> None:
    committed = (CHART / "values.schema.json").read_text()
    assert committed == render(), f"{CHART.name}/values.schema.json is out of date; {REGENERATE}"


def test_chart_readme_values_table_is_up_to_date() -> None:
    readme = (CHART / "README.md").read_text()
    assert readme == readme_with_table(readme), f"the chart README's table is stale; {REGENERATE}"


def test_main_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert json.loads(capsys.readouterr().out) == values_schema()


def test_config_part_is_the_packages_own_schema() -> None:
    schema, config = values_schema(), json_schema()
    # one values file is the whole configuration: every key of the file is a value
    assert set(config["properties"]) <= set(schema["properties"])
    for key in config["properties"]:
        chart, package = schema["properties"][key], config["properties"][key]
        if key in SHARED_KEYS:  # the chart's own keys beside the section's, in one object
            section = config["$defs"][package["$ref"].removeprefix("#/$defs/")]
            own = {k: v for k, v in chart["properties"].items() if k in SHARED_KEYS[key]}
            assert chart["properties"] == {**own, **section["properties"]}, key
            assert set(own) == set(SHARED_KEYS[key]) and not set(own) & set(section["properties"])
            continue
        assert {k: v for k, v in chart.items() if k != "description"} == {
            k: v for k, v in package.items() if k != "description"
        }, key
    for name, definition in schema["$defs"].items():
        assert definition == config["$defs"][name]
    assert {"JobWorkflows", "SinksConfig", "SecurityConfig"} <= set(schema["$defs"])
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["clusterName", "topic"]


def _defaults(schema: dict[str, Any], node: dict[str, Any], path: str) -> dict[str, Any]:
    """path -> default of every key of the schema that has one (through $refs)."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    found = {}
    for key, prop in node.get("properties", {}).items():
        if "default" in prop:
            found[f"{path}{key}"] = prop["default"]
        found |= _defaults(schema, prop, f"{path}{key}.")
    return found


def _at(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def test_values_yaml_carries_every_schema_default_and_the_seeds_defaults() -> None:
    schema, values = values_schema(), values_yaml()
    defaults = _defaults(schema, schema, "")
    assert len(defaults) > 50
    wrong = {p: (d, _at(values, p)) for p, d in defaults.items() if _at(values, p) != d}
    assert not wrong, (
        f"values.yaml differs from the schema defaults (default, values.yaml): {wrong}"
    )
    package = Settings().model_dump(by_alias=True, mode="json", exclude_none=True)
    for key in ("workflows", "sinks", "security", "restart", "exporter"):
        assert values[key] == package[key], key
    assert "clusters" not in values  # absent: the chart names this cluster (inCluster)
    assert set(values) <= set(schema["properties"])


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (
            {"workflows": {"jobWorkflows": {"jobFailureReportr": {"enabled": True}}}},
            "at '/workflows/jobWorkflows': additional properties 'jobFailureReportr' not allowed",
        ),
        (
            {"workflows": {"jobWorkflows": {"jobRestart": {"requireConfirmation": "yes"}}}},
            "at '/workflows/jobWorkflows/jobRestart/requireConfirmation': got string, want boolean",
        ),
        (
            {
                "workflows": {
                    "jobWorkflows": {"jobPerformanceAnalysis": {"defaultDuration": "1 day"}}
                }
            },
            "at '/workflows/jobWorkflows/jobPerformanceAnalysis/defaultDuration'",
        ),
        ({"exporter": {"stuckAfer": "2h"}}, "additional properties 'stuckAfer' not allowed"),
        ({"replicaCount": "2"}, "at '/replicaCount': got string, want integer"),
        ({"topic": "job-events"}, "at '/topic'"),
        ({"rbac": {"podlogs": True}}, "at '/rbac': additional properties 'podlogs' not allowed"),
        ({"replicas": 3}, "additional properties 'replicas' not allowed"),
        (
            {"sinks": {"webhooks": [{"name": "oncall", "type": "discord", "urlEnv": "HOOK"}]}},
            "at '/sinks/webhooks/0/type'",
        ),
        (
            {"security": {"confirmationTtlSeconds": "5m"}},
            "at '/security/confirmationTtlSeconds': got string, want integer",
        ),
        ({"restart": {"memoryCap": "lots"}}, "at '/restart/memoryCap'"),
        ({"clusters": [{"inCluster": True}]}, "at '/clusters/0': missing property 'name'"),
    ],
    ids=[
        "misspelled-workflow",
        "wrong-type",
        "bad-duration",
        "misspelled-exporter-key",
        "replicas-as-string",
        "topic-not-a-path",
        "misspelled-rbac-key",
        "unknown-top-level-key",
        "unknown-webhook-type",
        "security-ttl-as-string",
        "restart-cap-not-a-quantity",
        "cluster-without-name",
    ],
)
def test_helm_lint_and_template_refuse_an_invalid_value_naming_its_key(
    values: dict[str, Any], says: str
) -> None:
    merged = {**REQUIRED, **values}
    linted = lint(merged)
    assert linted.returncode != 0
    assert says in linted.stdout + linted.stderr
    assert says in template_error(merged)


def test_helm_refuses_a_release_without_cluster_name_and_topic() -> None:
    error = template_error({})
    assert "at '/clusterName'" in error and "at '/topic'" in error


@pytest.mark.parametrize(
    "values", sorted((CHART / "ci").glob("*-values.yaml")), ids=lambda p: p.name
)
def test_every_ci_values_file_passes_helm_lint_strict_and_renders(values: Any) -> None:
    """`helm lint` and chart-testing read ci/*-values.yaml: defaults plus what is required."""
    linted = lint(files=[values])
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "0 chart(s) failed" in linted.stdout
    rendered = helm("template", "ci", str(CHART), "--values", str(values))
    assert rendered.returncode == 0, rendered.stderr
    assert "kind: Deployment" in rendered.stdout


def test_ci_values_cover_every_required_key() -> None:
    assert (CHART / "ci" / "default-values.yaml").is_file()
    minimal = yaml.safe_load((CHART / "ci" / "default-values.yaml").read_text())
    assert minimal == REQUIRED | {k: minimal[k] for k in REQUIRED if k in minimal}
    assert set(minimal) == set(REQUIRED) and minimal["image"].keys() == {"repository"}


def test_a_release_without_an_image_repository_is_refused_saying_what_to_set() -> None:
    values = {k: v for k, v in REQUIRED.items() if k != "image"}
    error = template_error(values)
    assert "image.repository is required: the exporter image you built and pushed" in error
    assert "--set image.repository=" in error
    # helm lint only reports it (lint renders with its own placeholder values)
    linted = lint(values)
    assert "image.repository is required" in linted.stdout + linted.stderr


def test_helm_lint_accepts_the_defaults_with_the_required_values() -> None:
    linted = lint(REQUIRED)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "0 chart(s) failed" in linted.stdout


def test_chart_app_version_is_the_package_version() -> None:
    from importlib.metadata import version

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == version("jobwarden"), "bump appVersion with the package"
