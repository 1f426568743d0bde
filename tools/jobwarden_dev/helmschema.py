"""The exporter Helm chart's `values.schema.json`: the chart's own keys and the configuration's.

Helm checks values against it in `lint`, `template`, `install` and `upgrade`, so a
misspelled `workflows.jobWorkflows` key or a wrong type fails before anything reaches a
cluster, with the key's path. The configuration part (every top-level key of the
configuration file: `workflows`, `clusters`, `sinks`, `security`, `restart`, `exporter`) is
taken from `jobwarden.config.json_schema()`, so the chart and the package cannot drift; the
chart's own keys (image, replicas, RBAC, probes, ...) are described here, once, and the
chart README's values table is generated from the same schema.

    python -m jobwarden_dev.helmschema > infra/helm/jobwarden-exporter/values.schema.json
    python -m jobwarden_dev.helmschema --table    # the table in the chart's README.md
    python -m jobwarden_dev.helmschema --write    # both, in place (run from the repository root)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobwarden.config import json_schema
from jobwarden.configtypes import DNS_PATTERN, TYPE_NAMES
from jobwarden.schemadoc import JSON_SCHEMA_DIALECT, markdown_table
from jobwarden_exporter.pubsub import TOPIC_PATTERN

JSON = dict[str, Any]
CHART = "infra/helm/jobwarden-exporter"
TABLE_START, TABLE_END = "<!-- values-table:start -->\n", "<!-- values-table:end -->"
#: Sections of the configuration file that the chart's values carry into its ConfigMap: all
#: of them, so that one values file is the whole configuration (README: Configuration).
CONFIG_KEYS = ("workflows", "clusters", "sinks", "security", "restart", "exporter", "metrics")
#: Configuration sections that share their key with chart values: the chart's own keys are
#: left out of the ConfigMap (templates/configmap.yaml omits them).
SHARED_KEYS = {"metrics": ("scrapeAnnotations",)}
#: Where the chart's default differs from the configuration file's own (absent `clusters`).
CHART_DESCRIPTIONS = {
    "clusters": "Clusters by name, as in the configuration file. Absent from the values: this"
    " cluster only, `[{name: <clusterName>, inCluster: true}]` (functions running here reach it"
    " through their pod's ServiceAccount); `[]`: none.",
}
_TOPIC = TOPIC_PATTERN.pattern
_K8S_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


def _obj(description: str, properties: JSON, *, required: Sequence[str] = ()) -> JSON:
    node: JSON = {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        node["required"] = list(required)
    return node


def _free(description: str, kind: str = "object", default: Any = None) -> JSON:
    """A Kubernetes structure passed through as is (the API server checks it)."""
    node: JSON = {"type": kind, "description": description}
    if kind == "array":
        node["items"] = {"type": "object"}
    if default is not None:
        node["default"] = default
    return node


def _str(description: str, default: str | None = None, **extra: Any) -> JSON:
    node: JSON = {"type": "string", "description": description, **extra}
    if default is not None:
        node["default"] = default
    return node


def _bool(description: str, default: bool) -> JSON:
    return {"type": "boolean", "description": description, "default": default}


def _int(description: str, default: int, minimum: int = 0, **extra: Any) -> JSON:
    return {
        "type": "integer",
        "description": description,
        "default": default,
        "minimum": minimum,
        **extra,
    }


def _probe(what: str, path: str, defaults: dict[str, int]) -> JSON:
    fields = {
        "initialDelaySeconds": "Seconds before the first probe.",
        "periodSeconds": "Seconds between probes.",
        "timeoutSeconds": "Seconds a probe may take.",
        "failureThreshold": "Failures in a row that count.",
        "successThreshold": "Successes in a row that count (1 for liveness and startup).",
    }
    return _obj(
        f"Timings of the {what} probe (`GET {path}` on the `http` port).",
        {
            key: _int(text, defaults[key], minimum=0 if key == "initialDelaySeconds" else 1)
            if key in defaults
            else {"type": "integer", "minimum": 1, "description": text}
            for key, text in fields.items()
        },
    )


def chart_properties() -> JSON:
    """The chart's own keys, in the order of `values.yaml`."""
    return {
        "clusterName": _str(
            "The cluster's name on every event; must match a `clusters[].name` of the"
            " functions' configuration.",
            pattern=DNS_PATTERN,
            maxLength=63,
        ),
        "topic": _str(
            "Pub/Sub topic the exporter publishes to: `projects/<project>/topics/<topic>`"
            " (required unless `allInOne.enabled`).",
            pattern=f"^$|{_TOPIC}",
        ),
        "replicaCount": _int(
            "Exporter replicas; with leader election one publishes, the others stand by.",
            2,
            minimum=1,
        ),
        "image": _obj(
            "The exporter image (its entrypoint runs `python -m jobwarden_exporter`).",
            {
                "repository": _str(
                    "Required: the repository of the exporter image you built and pushed"
                    " (e.g. europe-docker.pkg.dev/PROJECT/jobwarden/exporter); the chart"
                    " refuses to render without it.",
                    "",
                ),
                "tag": _str("Image tag; empty: the chart's appVersion.", ""),
                "digest": _str(
                    "Image digest (`sha256:...`); when set it wins over the tag.",
                    "",
                    pattern=r"^(sha256:[a-f0-9]{64})?$",
                ),
                "pullPolicy": {
                    "enum": ["Always", "IfNotPresent", "Never"],
                    "default": "IfNotPresent",
                    "description": "Image pull policy.",
                },
                "command": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": [],
                    "description": "Overrides the image's entrypoint (e.g. [python, -m,"
                    " jobwarden_exporter]); empty: the entrypoint.",
                },
            },
        ),
        "imagePullSecrets": _free("Secrets for pulling the image: `[{name: ...}]`.", "array", []),
        "nameOverride": _str("Replaces the chart name in object names.", ""),
        "fullnameOverride": _str("Replaces `<release>-<chart>` in object names.", ""),
        "serviceAccount": _obj(
            "The exporter's Kubernetes ServiceAccount.",
            {
                "create": _bool("Create the ServiceAccount.", True),
                "name": _str(
                    "Its name: by default the one infra/terraform binds through Workload"
                    " Identity (`clusters.<name>.exporter.service_account`); set another one"
                    " for a second release in the same namespace.",
                    "jobwarden-exporter",
                    minLength=1,
                ),
                "gcpServiceAccount": _str(
                    "GKE Workload Identity: the Google service account (with"
                    " roles/pubsub.publisher on the topic) this ServiceAccount acts as; sets"
                    " the `iam.gke.io/gcp-service-account` annotation.",
                    "",
                    pattern=r"^([-a-z0-9]+@[-a-z0-9.]+\.iam\.gserviceaccount\.com)?$",
                ),
                "annotations": _free("More annotations of the ServiceAccount.", "object", {}),
            },
        ),
        "rbac": _obj(
            "The exporter's permissions: list/watch Jobs, their pods, CronJobs and Events (a"
            " ClusterRole, bound cluster-wide, or in each of `exporter.namespaces`) and its"
            " Lease (a Role in the"
            " release namespace).",
            {
                "create": _bool("Create the ClusterRole, Role and their bindings.", True),
                "podLogs": _bool(
                    "Also grant get pods and get pods/log. The exporter does not read"
                    " them; for tools that share its ServiceAccount.",
                    False,
                ),
            },
        ),
        "leaderElection": _obj(
            "Leader election with a coordination.k8s.io Lease in the release namespace, so"
            " that one replica publishes.",
            {
                "enabled": _bool("Elect a leader (needed with more than one replica).", True),
                "leaseName": _str("The Lease's name; empty: the release's full name.", ""),
                "leaseDurationSeconds": _int(
                    "A standby takes over this long after the leader stopped renewing.",
                    15,
                    minimum=3,
                ),
            },
        ),
        "relayEvents": _bool(
            "Relay Warning Events of Jobs and their pods (`event` transitions); false also"
            " drops the events rule from the ClusterRole.",
            True,
        ),
        "watchTimeoutSeconds": _int(
            "Seconds per watch request before it is renewed.", 300, minimum=10
        ),
        "bufferSize": _int(
            "JobEvents held in memory while Pub/Sub cannot take them.", 10000, minimum=1
        ),
        "logLevel": {
            "enum": ["DEBUG", "INFO", "WARNING", "ERROR"],
            "default": "INFO",
            "description": "Log level.",
        },
        "port": _int("Port of /healthz and /metrics.", 8080, minimum=1, maximum=65535),
        "metrics": _obj(
            "Prometheus scraping without a ServiceMonitor.",
            {
                "scrapeAnnotations": _bool(
                    "Annotate pods with `prometheus.io/scrape`, `port` and `path`.", True
                )
            },
        ),
        # Liveness and startup ask only whether the process serves (/livez): an API server
        # that is away (a control-plane upgrade) must not restart the exporter and drop its
        # buffer. Readiness reports the watch (/healthz).
        "livenessProbe": _probe(
            "liveness", "/livez", {"periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 6}
        ),
        "readinessProbe": _probe(
            "readiness",
            "/healthz",
            {"periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
        ),
        "startupProbe": _probe(
            "startup", "/livez", {"periodSeconds": 2, "timeoutSeconds": 5, "failureThreshold": 60}
        ),
        "resources": _free(
            "Container resources.",
            "object",
            {"requests": {"cpu": "50m", "memory": "160Mi"}, "limits": {"memory": "512Mi"}},
        ),
        "podSecurityContext": _free(
            "Pod security context (non-root, RuntimeDefault seccomp).",
            "object",
            {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        ),
        "securityContext": _free(
            "Container security context (read-only root, no privilege escalation, no"
            " capabilities).",
            "object",
            {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        ),
        "podDisruptionBudget": _obj(
            "A PodDisruptionBudget, rendered when enabled and replicaCount > 1 (with one"
            " replica it would block node drains).",
            {
                "enabled": _bool("Create the PodDisruptionBudget.", True),
                "minAvailable": _int("Pods kept during voluntary disruptions.", 1, minimum=1),
            },
        ),
        "terminationGracePeriodSeconds": _int(
            "Time to publish what is buffered and release the Lease on shutdown.", 30, minimum=1
        ),
        "priorityClassName": _str("Pod priority class.", ""),
        "podAnnotations": _free("Extra pod annotations.", "object", {}),
        "podLabels": _free("Extra pod labels.", "object", {}),
        "extraEnv": _free(
            "Extra container environment variables (`[{name, value}]` or `valueFrom`).",
            "array",
            [],
        ),
        "extraVolumes": _free(
            "Extra pod volumes (e.g. a Secret with a Google key outside GKE).", "array", []
        ),
        "extraVolumeMounts": _free("Extra container volume mounts.", "array", []),
        "nodeSelector": _free("Pod node selector.", "object", {}),
        "tolerations": _free("Pod tolerations.", "array", []),
        "affinity": _free(
            "Pod affinity; empty: prefer spreading the replicas over nodes.", "object", {}
        ),
        "topologySpreadConstraints": _free("Pod topology spread constraints.", "array", []),
        "allInOne": _obj(
            "All-in-one mode: one Deployment running `jobwarden watch --in-cluster` (exporter,"
            " in-process queue, every workflow) instead of the exporter and Pub/Sub; the"
            " exporter Deployment is not rendered.",
            {
                "enabled": _bool("Run `jobwarden watch` instead of the exporter.", False),
                "reports": _str(
                    "`gs://BUCKET/PREFIX`; empty: a PersistentVolumeClaim mounted at"
                    " /var/lib/jobwarden/reports.",
                    "",
                    pattern=r"^(gs://[a-z0-9][-a-z0-9_.]{1,220}[a-z0-9](/.*)?)?$",
                ),
                "persistence": _obj(
                    "The reports' PersistentVolumeClaim (when `reports` is empty).",
                    {
                        "size": _str("Requested storage.", "1Gi"),
                        "storageClassName": _str("Storage class; empty: the default.", ""),
                    },
                ),
                "port": _int(
                    "Port of the pages (pod and Service).", 8080, minimum=1, maximum=65535
                ),
                "actions": _bool(
                    "Grant restart and delete (impersonation, as the caller): off by default.",
                    False,
                ),
            },
        ),
        "global": _free("Helm's global values (unused by this chart).", "object"),
    }


def _refs(node: object) -> set[str]:
    """Names of the `$defs` that `node` refers to."""
    if isinstance(node, dict):
        found = set()
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.add(ref.removeprefix("#/$defs/"))
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def values_schema() -> JSON:
    """The chart's values.schema.json (2020-12): chart keys + the configuration's keys."""
    config = json_schema()
    properties = chart_properties()
    for key in CONFIG_KEYS:
        section = config["properties"][key]
        if key in SHARED_KEYS:  # the chart's keys beside the configuration's, one object
            chart_own = properties[key]
            target = config["$defs"][section["$ref"].removeprefix("#/$defs/")]
            properties[key] = {
                **chart_own,
                "description": f"{chart_own['description']} {target['description']} The "
                f"chart's keys ({', '.join(SHARED_KEYS[key])}) stay in the chart; the others "
                "are written to the ConfigMap's jobwarden.yaml.",
                "properties": {**chart_own["properties"], **target["properties"]},
            }
            continue
        properties[key] = {
            **section,
            "description": CHART_DESCRIPTIONS.get(key, section["description"])
            + " Written to the ConfigMap's jobwarden.yaml (see the configuration reference).",
        }
    wanted, todo = set(), _refs(properties)
    while todo:  # the $defs these sections reach, and nothing else
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo |= _refs(config["$defs"][name])
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "jobwarden-exporter chart values",
        "description": f"Generated by `python -m jobwarden_dev.helmschema > {CHART}/values.schema"
        ".json` from the chart's keys and jobwarden's configuration schema; do not edit.",
        "type": "object",
        "additionalProperties": False,
        "required": ["clusterName", "topic"],
        "properties": properties,
        # the exporter publishes to a topic; the all-in-one mode has none
        "if": {"properties": {"allInOne": {"properties": {"enabled": {"const": True}}}}},
        "else": {"properties": {"topic": {"minLength": 1}}},
        "$defs": {name: config["$defs"][name] for name in sorted(wanted)},
    }


def render() -> str:
    """The text of values.schema.json, as committed."""
    return json.dumps(values_schema(), indent=2) + "\n"


def values_table() -> str:
    """The chart README's table: every value with its type, default and description."""
    names = {**TYPE_NAMES, _TOPIC: "topic path", f"^$|{_TOPIC}": "topic path"}
    return markdown_table(values_schema(), names)


def readme_with_table(readme: str) -> str:
    """`readme` with the generated table between its `values-table` markers."""
    head, found, rest = readme.partition(TABLE_START)
    _, end, tail = rest.partition(TABLE_END)
    if not (found and end):
        raise ValueError(f"the chart README has no {TABLE_START.strip()} ... {TABLE_END} markers")
    return head + TABLE_START + values_table() + TABLE_END + tail


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobwarden_dev.helmschema",
        description=f"Print {CHART}/values.schema.json (or the README's values table).",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--table", action="store_true", help="print the values table instead")
    what.add_argument(
        "--write",
        action="store_true",
        help=f"write {CHART}/values.schema.json and the table in its README.md",
    )
    args = parser.parse_args(argv)
    if args.write:
        chart = Path(CHART)
        if not chart.is_dir():
            print(f"error: no {CHART} here; run from the repository root", file=sys.stderr)
            return 2
        (chart / "values.schema.json").write_text(render(), encoding="utf-8")
        readme = chart / "README.md"
        readme.write_text(readme_with_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    sys.stdout.write(values_table() if args.table else render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
