"""The configuration file: one YAML document shaped like Helm values (ARCHITECTURE.md §3.4).

Each key is documented once, in its `Field(description=...)`; the JSON Schema
(`config.schema.json`) and the README table are generated from these models.
Loading never reads the environment except `JOBWARDEN_CONFIG` for the path; secrets
(webhook URLs, HMAC and confirmation secrets) are named by environment variable in
the file and read only when used, as `SecretStr`, never printed.

    python -m jobwarden.config schema [-o FILE]   print (or write) the JSON Schema
    python -m jobwarden.config table              print the Markdown table of keys
    python -m jobwarden.config check [FILE]       validate a file (default: JOBWARDEN_CONFIG)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from jobwarden.configtypes import (
    TYPE_NAMES,
    ConfigModel,
    DnsLabel,
    Duration,
    EnvName,
    MemoryStep,
    Quantity,
    StorageUrl,
)
from jobwarden.errors import ConfigError
from jobwarden.names import DEFAULT_ROUTED, WorkflowName
from jobwarden.quantities import next_memory_limit, parse_duration, parse_memory
from jobwarden.report import Report, Severity
from jobwarden.schemadoc import error_lines, json_schema_of, markdown_table
from jobwarden.workflowconfig import Workflows, WorkflowSection

if TYPE_CHECKING:
    import yaml

__all__ = [
    "CONFIG_ENV",
    "ClusterConfig",
    "Route",
    "Settings",
    "WebhookConfig",
    "WebhookMatch",
    "config_table_markdown",
    "json_schema",
    "load_config",
    "parse_config",
    "parse_duration",
    "resolve_secret",
]

CONFIG_ENV = "JOBWARDEN_CONFIG"


# --- clusters -----------------------------------------------------------------------------


class GkeCluster(ConfigModel):
    """A GKE cluster reached with Google credentials."""

    project: str = Field(min_length=1, description="Google Cloud project id.")
    location: str = Field(min_length=1, description="Region or zone of the cluster.")
    cluster: str = Field(min_length=1, description="GKE cluster name.")
    endpoint: Literal["ip", "dns"] = Field(
        default="ip",
        description="Which control-plane endpoint to reach: `ip` (the cluster's IP address,"
        " with its own CA; a private one needs VPC egress) or `dns` (GKE's DNS-based endpoint,"
        " `controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint`: reachable from anywhere,"
        " access decided by IAM; infra/terraform/README.md, Private clusters).",
    )


class ClusterConfig(ConfigModel):
    """How to reach one cluster's API; exactly one of kubeconfig, inCluster, gke."""

    name: DnsLabel = Field(description="The cluster's name on events, reports and requests.")
    kubeconfig: str | None = Field(
        default=None,
        min_length=1,
        description="Path of a kubeconfig file; `~` is expanded when used.",
    )
    context: str | None = Field(
        default=None, min_length=1, description="Kubeconfig context (default: its current-context)."
    )
    in_cluster: bool = Field(
        default=False, description="Use the pod's service account (jobwarden runs in this cluster)."
    )
    gke: GkeCluster | None = Field(
        default=None, description="Reach a GKE cluster with Google credentials."
    )
    pubsub_topic: str | None = Field(
        default=None,
        pattern=r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/topics/[A-Za-z][-A-Za-z0-9._~%+]{2,254}$",
        description="The Pub/Sub topic only this cluster's exporter may publish to"
        " (`projects/P/topics/T`). When any cluster names one, a message is accepted only"
        " from the topic of the cluster it names.",
    )

    @model_validator(mode="after")
    def _one_way_in(self) -> ClusterConfig:
        ways = [w for w, on in self._ways() if on]
        if len(ways) != 1:
            got = " and ".join(ways) or "none"
            raise ValueError(f"set exactly one of kubeconfig, inCluster: true or gke (got {got})")
        if self.context is not None and self.kubeconfig is None:
            raise ValueError("context is only used with kubeconfig")
        return self

    def _ways(self) -> list[tuple[str, bool]]:
        return [
            ("kubeconfig", self.kubeconfig is not None),
            ("inCluster", self.in_cluster),
            ("gke", self.gke is not None),
        ]

    @property
    def access(self) -> Literal["kubeconfig", "inCluster", "gke"]:
        """Which of the three ways this cluster is reached."""
        if self.in_cluster:
            return "inCluster"
        return "gke" if self.gke is not None else "kubeconfig"

    def kubeconfig_path(self) -> Path | None:
        """The kubeconfig path with `~` expanded now, at use."""
        return Path(self.kubeconfig).expanduser() if self.kubeconfig else None


def _unique(items: Sequence[Any], what: str) -> None:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.name in seen:
            raise ValueError(
                f"duplicate {what} name {item.name!r} (entries {seen[item.name]} and {index})"
            )
        seen[item.name] = index


# --- sinks --------------------------------------------------------------------------------


class StorageConfig(ConfigModel):
    """Where every report and run record is stored."""

    url: StorageUrl = Field(
        default="file://./reports",
        description="`file://<dir>` (relative to the working directory) or `gs://<bucket>/<prefix>`.",
    )


#: A glob over cluster or namespace names: DNS-label characters and `*`, `?`, `[...]`.
_NAME_GLOB = r"^[a-z0-9*?\[\]!-]{1,63}$"
#: A label key: an optional DNS-subdomain prefix and `/`, then a name of up to 63 characters.
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
NameGlob = Annotated[str, Field(pattern=_NAME_GLOB)]


class WebhookMatch(ConfigModel):
    """Which Jobs' reports a webhook receives; every key given must match (absent: any)."""

    clusters: list[NameGlob] | None = Field(
        default=None, min_length=1, description="Cluster names or globs (`prod-*`)."
    )
    namespaces: list[NameGlob] | None = Field(
        default=None, min_length=1, description="Namespace names or globs (`team-a-*`)."
    )
    labels: dict[str, str] | None = Field(
        default=None,
        min_length=1,
        description="Labels the Job (or its CronJob) must carry; a value may be a glob.",
    )
    severity: list[Severity] | None = Field(
        default=None, min_length=1, description="Report severities: info, warning, error."
    )

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        bad = [key for key in value or {} if not _LABEL_KEY.match(key)]
        if bad:
            raise ValueError(f"not a Kubernetes label key: {', '.join(map(repr, bad[:3]))}")
        return value

    def matches(self, report: Report) -> bool:
        """Whether `report` (its Job, labels and severity) is selected by every given key."""
        labels = report.routing.labels if report.routing else {}
        return (
            _any_glob(report.cluster, self.clusters)
            and _any_glob(report.namespace, self.namespaces)
            and all(
                k in labels and fnmatchcase(labels[k], v) for k, v in (self.labels or {}).items()
            )
            and (self.severity is None or report.severity in self.severity)
        )


def _any_glob(name: str, globs: list[str] | None) -> bool:
    return globs is None or any(fnmatchcase(name, g) for g in globs)


class WebhookConfig(ConfigModel):
    """One webhook; its URL (and HMAC secret) come from environment variables."""

    name: DnsLabel = Field(description="Name of this webhook in logs and delivery records.")
    type: Literal["slack", "teams", "json"] = Field(
        description="Payload: Slack Block Kit, Teams Adaptive Card, or JSON signed with"
        " HMAC-SHA256."
    )
    url_env: EnvName = Field(description="Environment variable holding the webhook URL.")
    secret_env: EnvName | None = Field(
        default=None, description="Environment variable holding the HMAC secret (type json only)."
    )
    workflows: list[WorkflowName] | None = Field(
        default=None,
        min_length=1,
        description="Workflows whose reports are posted here (e.g. [jobFailureReporter,"
        " jobEventsEnricher]); absent: jobFailureReporter, jobRestart, jobDelete and"
        " jobPerformanceAnalysis (one message per failure; enricher reports are stored).",
    )
    match: WebhookMatch | None = Field(
        default=None,
        description="Only the reports of Jobs this rule selects (by cluster, namespace,"
        " labels, severity); absent: every Job. A Job's `jobwarden.dev/notify` annotation"
        " replaces the rules for it.",
    )
    timeout_seconds: float = Field(
        default=10, gt=0, le=120, description="Timeout of one delivery attempt."
    )
    lease_seconds: float = Field(
        default=300,
        gt=0,
        le=3600,
        description="How long one delivery's claim on a post lasts: its attempts end within"
        " it (then the event is retried); if its process dies mid-post, the report is posted"
        " again after it, with the same X-Jobwarden-Report-Id. At least timeoutSeconds.",
    )

    @model_validator(mode="after")
    def _secret_only_for_json(self) -> WebhookConfig:
        if self.secret_env is not None and self.type != "json":
            raise ValueError(f"secretEnv is only used by json webhooks, not {self.type}")
        if self.lease_seconds < self.timeout_seconds:
            raise ValueError(
                f"leaseSeconds ({self.lease_seconds:g}) is shorter than timeoutSeconds "
                f"({self.timeout_seconds:g}): one attempt must fit in the lease"
            )
        return self

    def routes(self, workflow: WorkflowName) -> bool:
        """Whether reports of `workflow` go to this webhook."""
        return workflow in (DEFAULT_ROUTED if self.workflows is None else self.workflows)

    def url(self, env: Mapping[str, str] | None = None) -> SecretStr:
        """The URL from `urlEnv`; unset or not http(s) is a ConfigError naming only the variable."""
        used_by = f"the URL of webhook {self.name!r}"
        url = resolve_secret(self.url_env, env, used_by=used_by).get_secret_value().strip()
        if not url.startswith(("https://", "http://")):
            raise ConfigError(
                f"environment variable {self.url_env} ({used_by}) is not an http(s) URL"
            )
        return SecretStr(url)

    def secret(self, env: Mapping[str, str] | None = None) -> SecretStr | None:
        """The HMAC secret from `secretEnv`, or None when the webhook is not signed."""
        if self.secret_env is None:
            return None
        return resolve_secret(self.secret_env, env, used_by=f"the secret of webhook {self.name!r}")


class SinksConfig(ConfigModel):
    """Where reports go."""

    storage: StorageConfig = Field(
        default_factory=StorageConfig, description="Storage for reports, indexes and run records."
    )
    webhooks: list[WebhookConfig] = Field(
        default=[], description="Webhooks that receive reports; storage always keeps every report."
    )

    @field_validator("webhooks")
    @classmethod
    def _unique_webhooks(cls, value: list[WebhookConfig]) -> list[WebhookConfig]:
        _unique(value, "webhook")
        return value


# --- security, restart, exporter -----------------------------------------------------------


class IapConfig(ConfigModel):
    """How to verify Identity-Aware Proxy's signed header (`X-Goog-IAP-JWT-Assertion`)."""

    audience: str = Field(
        min_length=1,
        max_length=300,
        pattern=r"^/projects/[0-9]+/(global/backendServices/[0-9]+|apps/[a-z][a-z0-9-]+)$",
        description="The `aud` IAP signs for: `/projects/<project number>/global/backendServices/"
        "<service id>` (load balancer) or `/projects/<project number>/apps/<project id>`.",
    )
    jwks_url: str = Field(
        default="https://www.gstatic.com/iap/verify/public_key-jwk",
        pattern=r"^https?://",
        description="Where IAP publishes its public keys (a JWK set); fetched and cached.",
    )


class PushAuthConfig(ConfigModel):
    """Verify Pub/Sub push requests where an event function's route is public (Knative)."""

    audience: str = Field(
        min_length=1,
        max_length=500,
        description="The `aud` the push subscription's OIDC token is made for (its `audience`).",
    )
    service_account_email: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+\.iam\.gserviceaccount\.com$",
        description="The push subscription's service account: only its tokens are accepted.",
    )
    jwks_url: str = Field(
        default="https://www.googleapis.com/oauth2/v3/certs",
        pattern=r"^https?://",
        description="Where Google publishes the keys that sign OIDC tokens; fetched and cached.",
    )


#: A confirmation key shorter than this is refused (HMAC-SHA256 wants at least its output size).
MIN_CONFIRMATION_KEY_BYTES = 32


class SecurityConfig(ConfigModel):
    """Who may restart, delete and read reports on request, and how confirmations are signed."""

    authentication: Literal["kubernetes-token", "iap"] = Field(
        default="kubernetes-token",
        description="`kubernetes-token`: the target cluster checks the bearer token (TokenReview);"
        " `iap`: the caller is the email of a verified `X-Goog-IAP-JWT-Assertion` (set"
        " `security.iap.audience`).",
    )
    iap: IapConfig | None = Field(
        default=None, description="IAP verification; required with `authentication: iap`."
    )
    push_auth: PushAuthConfig | None = Field(
        default=None,
        description="Require Pub/Sub's signed OIDC token on every CloudEvent request (for event"
        " functions whose route is public, e.g. on Knative; Cloud Run checks it itself).",
    )
    token_review_audiences: list[str] = Field(
        default=[],
        description="Audiences a bearer token must be issued for (TokenReview `spec.audiences`);"
        " empty: the API server's own audiences.",
    )
    confirmation_secret_env: EnvName = Field(
        default="JOBWARDEN_CONFIRM_SECRET",
        description="Environment variable holding the key that signs confirmation tokens "
        f"(at least {MIN_CONFIRMATION_KEY_BYTES} bytes).",
    )
    confirmation_ttl_seconds: int = Field(
        default=300, gt=0, le=86400, description="How long a confirmation token stays valid."
    )
    protected_namespaces: list[DnsLabel] = Field(
        default=["kube-system", "kube-public", "kube-node-lease"],
        description="Namespaces where restart, delete and on-demand reports are always refused.",
    )

    @model_validator(mode="after")
    def _iap_needs_its_audience(self) -> SecurityConfig:
        if self.authentication == "iap" and self.iap is None:
            raise ValueError(
                "authentication is iap but security.iap.audience is not set: set it to the "
                "audience IAP signs for (/projects/<number>/global/backendServices/<id>)"
            )
        return self

    def confirmation_secret(self, env: Mapping[str, str] | None = None) -> SecretStr:
        """The confirmation key; ConfigError when unset or shorter than 32 bytes."""
        secret = resolve_secret(
            self.confirmation_secret_env, env, used_by="signing confirmation tokens"
        )
        if len(secret.get_secret_value().encode()) < MIN_CONFIRMATION_KEY_BYTES:
            raise ConfigError(
                f"environment variable {self.confirmation_secret_env} holds a key shorter than "
                f"{MIN_CONFIRMATION_KEY_BYTES} bytes: generate one with `openssl rand -hex 32`"
            )
        return secret


class RestartConfig(ConfigModel):
    """How the restart action recreates a Job."""

    memory_step: MemoryStep = Field(
        default="1.5x",
        description="Raise of the memory limit when a restart after OOMKilled asks for one:"
        " a factor (1.5x) or an increment (256Mi).",
    )
    memory_cap: Quantity = Field(
        default="8Gi", description="A raised memory limit never exceeds this."
    )
    follow_timeout_seconds: int = Field(
        default=60,
        ge=0,
        le=900,
        description="How long to follow the new Job until it has active pods.",
    )
    new_name_pattern: str = Field(
        default="{name}-retry-{n}",
        description="Name of the recreated Job; `{name}` is the old name, `{n}` counts restarts.",
    )
    url: str | None = Field(
        default=None,
        description="URL of the `job_restart` function, quoted in the `jobwarden restart` "
        "command of OOM reports (without it the command relies on $JOBWARDEN_RESTART_URL).",
    )

    @field_validator("new_name_pattern")
    @classmethod
    def _pattern_fields(cls, value: str) -> str:
        fields = set(re.findall(r"\{([^{}]*)\}", value))
        if "n" not in fields or not fields <= {"name", "n"}:
            raise ValueError("use only {name} and {n}, and include {n} so each restart is unique")
        return value

    def next_memory_limit(self, current: int) -> int:
        """`current` bytes after one `memoryStep`, at most `memoryCap` (may equal `current`)."""
        return next_memory_limit(current, self.memory_step, parse_memory(self.memory_cap))


class ExporterConfig(ConfigModel):
    """What the per-cluster exporter watches."""

    stuck_after: Duration = Field(
        default="1h", description="A Job running this long without a deadline is reported `stuck`."
    )
    stuck_pod_after: Duration = Field(
        default="5m",
        description="A Job whose pod waits this long in a state that will not fix itself (image"
        " pull error, CreateContainerConfigError, CrashLoopBackOff, Unschedulable) is reported"
        " `stuck` with that state as its reason, deadline or not.",
    )
    namespaces: list[DnsLabel] = Field(default=[], description="Namespaces to watch; empty: all.")
    label_selector: str | None = Field(
        default=None,
        min_length=1,
        description="Only Jobs matching this label selector (e.g. team=data).",
    )
    missed_schedule_grace: Duration = Field(
        default="2m",
        description="A CronJob's scheduled time that passes this long without a Job is"
        " announced `missed` (its `startingDeadlineSeconds` instead, when set).",
    )
    no_success_after: int = Field(
        default=3,
        ge=0,
        description="Announce `no-success` when a CronJob's last success is older than this"
        " many scheduled times; 0: never.",
    )


# --- resource usage -------------------------------------------------------------------------

_LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"


class PrometheusConfig(ConfigModel):
    """Where reports read each container's memory and CPU over its pod's life (cAdvisor's
    `container_*` series, as kubelet serves them to Prometheus and to Google Cloud Managed
    Service for Prometheus)."""

    url: str = Field(
        pattern=r"^https?://[^\s/]+",
        description="Prometheus HTTP API root, without /api/v1 (e.g. http://prometheus:9090, or"
        " https://monitoring.googleapis.com/v1/projects/PROJECT/location/global/prometheus for"
        " Managed Service for Prometheus).",
    )
    auth: Literal["none", "bearer", "google"] = Field(
        default="none",
        description="`bearer`: a token from `tokenEnv` or `tokenFile`; `google`: Application"
        " Default Credentials (Managed Service for Prometheus); `none`.",
    )
    token_env: EnvName | None = Field(
        default=None, description="With auth bearer: environment variable holding the token."
    )
    token_file: str | None = Field(
        default=None,
        min_length=1,
        description="With auth bearer: file holding the token, read at each query (rotates).",
    )
    cluster_label: str | None = Field(
        default=None,
        pattern=_LABEL_NAME,
        description="Label naming the cluster on series when one Prometheus holds several"
        " clusters (Managed Service for Prometheus: `cluster`); its value is the cluster's name.",
    )
    timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Timeout of one query; the report says why on expiry."
    )

    @model_validator(mode="after")
    def _auth_needs(self) -> PrometheusConfig:
        both = self.token_env is not None and self.token_file is not None
        if self.auth == "bearer" and (both or (self.token_env is None and self.token_file is None)):
            raise ValueError("auth bearer needs exactly one of tokenEnv or tokenFile")
        if self.auth != "bearer" and (self.token_env is not None or self.token_file is not None):
            raise ValueError(f"tokenEnv and tokenFile are for auth bearer, not {self.auth}")
        return self


class MetricsConfig(ConfigModel):
    """Resource usage in reports and run records."""

    prometheus: PrometheusConfig | None = Field(
        default=None,
        description="Query Prometheus for each container's peak memory, CPU and throttling over"
        " its pod's life. Absent: reports say usage over time is unavailable, and show the"
        " metrics.k8s.io sample of pods still running.",
    )


# --- the file -------------------------------------------------------------------------------


class Settings(ConfigModel):
    """The whole configuration file."""

    model_config = ConfigDict(title="jobwarden configuration")

    workflows: Workflows = Field(
        default_factory=Workflows, description="The Job workflows: a switch and options for each."
    )
    clusters: list[ClusterConfig] | None = Field(
        default=None,
        description="Clusters by name. Absent: one cluster `default` through $KUBECONFIG (first"
        " entry) or ~/.kube/config, resolved only when a cluster is needed; `[]`: none.",
    )
    sinks: SinksConfig = Field(default_factory=SinksConfig, description="Storage and webhooks.")
    security: SecurityConfig = Field(
        default_factory=SecurityConfig, description="Authentication and confirmations."
    )
    restart: RestartConfig = Field(default_factory=RestartConfig, description="Restart options.")
    exporter: ExporterConfig = Field(
        default_factory=ExporterConfig, description="Exporter options."
    )
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="Resource usage (Prometheus)."
    )

    @field_validator("clusters")
    @classmethod
    def _unique_clusters(cls, value: list[ClusterConfig] | None) -> list[ClusterConfig] | None:
        _unique(value or [], "cluster")
        return value

    def channel_problem(self, cluster: str, topic: str | None) -> str | None:
        """Why a message naming `cluster` must not be believed when it came from `topic`.

        None when it may: it came from that cluster's own topic, or no cluster declares a
        topic (one shared topic: every publisher to it is trusted to name its cluster).
        """
        declared = {c.pubsub_topic: c.name for c in self.clusters or [] if c.pubsub_topic}
        if not declared:
            return None
        if topic is None:
            return (
                "it did not come through a Pub/Sub topic, and clusters declare their topics "
                "(clusters[].pubsubTopic): only a cluster's own topic is believed"
            )
        owner = declared.get(topic)
        if owner is None:
            return f"it came from topic {topic}, which is no configured cluster's pubsubTopic"
        if owner != cluster:
            return (
                f"it claims cluster {cluster} but came from topic {topic}, which only cluster "
                f"{owner}'s exporter may publish to"
            )
        return None

    def workflow(self, name: WorkflowName) -> WorkflowSection:
        """The configuration section of workflow `name` (every section has `enabled`)."""
        return self.workflows.job_workflows.section(name)

    def resolved_clusters(self, env: Mapping[str, str] | None = None) -> list[ClusterConfig]:
        """The configured clusters, or (when `clusters` is absent) the `default` cluster."""
        if self.clusters is not None:
            return list(self.clusters)
        env = os.environ if env is None else env
        first = next((p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p), None)
        return [ClusterConfig(name="default", kubeconfig=first or "~/.kube/config")]

    def cluster(self, name: str, env: Mapping[str, str] | None = None) -> ClusterConfig | None:
        """The cluster called `name` (events and requests name it), or None."""
        return next((c for c in self.resolved_clusters(env) if c.name == name), None)

    def webhooks_for(self, workflow: WorkflowName) -> list[WebhookConfig]:
        """The webhooks that receive reports of `workflow` (storage receives them all)."""
        return [w for w in self.sinks.webhooks if w.routes(workflow)]

    def route(self, report: Report, now: dt.datetime) -> Route:
        """The webhooks `report` is posted to, and why (storage receives every report).

        A silenced Job's reports go nowhere. A Job's `jobwarden.dev/notify` names its
        webhooks, replacing their `match` rules; otherwise each webhook's `match` decides.
        Either way a webhook receives only the workflows it routes (`workflows`).
        """
        routing = report.routing
        if routing is not None and routing.silenced(now):
            return Route([], silenced=True)
        hooks = [w for w in self.sinks.webhooks if w.routes(report.workflow)]
        if routing is not None and routing.notify is not None:
            names = {w.name for w in self.sinks.webhooks}
            unknown = [n for n in routing.notify if n not in names]
            return Route([w for w in hooks if w.name in routing.notify], unknown=unknown)
        return Route([w for w in hooks if w.match is None or w.match.matches(report)])


@dataclass(frozen=True)
class Route:
    """Where a report goes: `webhooks`; `silenced` by annotation; `unknown` webhook names
    a `jobwarden.dev/notify` annotation gave (ignored, worth a log line)."""

    webhooks: list[WebhookConfig]
    silenced: bool = False
    unknown: list[str] = field(default_factory=list)


def resolve_secret(
    name: str, env: Mapping[str, str] | None = None, *, used_by: str = ""
) -> SecretStr:
    """The value of environment variable `name` (empty counts as unset); errors name only `name`."""
    value = (os.environ if env is None else env).get(name, "")
    if not value:
        needed = f" (needed for {used_by})" if used_by else ""
        raise ConfigError(f"environment variable {name} is not set{needed}")
    return SecretStr(value)


# --- loading and errors ---------------------------------------------------------------------


def load_config(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None
) -> Settings:
    """Settings from `path`, else the file named by JOBWARDEN_CONFIG, else the defaults.

    The file is YAML. A file that is a JSON object (JSON is YAML; Terraform renders it so)
    is read without importing PyYAML, which is about 90M instructions of a cold start.
    """
    env = os.environ if env is None else env
    origin = "given as argument; JOBWARDEN_CONFIG not consulted"
    if path is None or path == "":
        path, origin = env.get(CONFIG_ENV, ""), f"from {CONFIG_ENV}"
        if not path:
            return Settings()
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"configuration file {file} ({origin}) does not exist; point {CONFIG_ENV}"
            " at an existing file, or unset it to use the defaults"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read configuration file {file} ({origin}): {reason}") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            pass  # not JSON (a YAML flow mapping, or broken): YAML says which, and where
        else:
            return parse_config(data, source=f"configuration file {file}")
    import yaml  # lazily: only a YAML file needs it (about 90M instructions)

    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:  # the message only, never the snippet of the file
        where = _mark(err.problem_mark) or _mark(err.context_mark) or "an unknown place"
        problem = err.problem or "syntax error"
        if err.context and err.context_mark:
            problem += f" ({err.context} at {_mark(err.context_mark)})"
        raise ConfigError(
            f"configuration file {file}: invalid YAML at {where}: {problem}"
        ) from None
    except yaml.YAMLError as err:
        raise ConfigError(
            f"configuration file {file}: invalid YAML: {type(err).__name__}"
        ) from None
    return parse_config({} if data is None else data, source=f"configuration file {file}")


def _mark(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def parse_config(data: object, *, source: str = "configuration") -> Settings:
    """Settings from already-parsed YAML/JSON; errors list `key.path: reason`, one per line."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: the top level must be a mapping of keys, not {type(data).__name__}"
        )
    try:
        return Settings.model_validate(data)
    except ValidationError as err:  # `from None`: pydantic's own text would echo the inputs
        problems = error_lines(err, Settings)
        head = f"invalid {source} ({len(problems)} problem{'s' * (len(problems) > 1)}):"
        raise ConfigError("\n  ".join([head, *problems])) from None


# --- generated documentation -------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the whole file, by alias, as committed in `config.schema.json`."""
    return json_schema_of(Settings)


def config_table_markdown() -> str:
    """The README's table of every key: path, type, default and description."""
    return markdown_table(json_schema(), TYPE_NAMES)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m jobwarden.config schema|table|check`; see the module docstring."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m jobwarden.config")
    sub = parser.add_subparsers(dest="command", required=True)
    schema_cmd = sub.add_parser("schema", help="print the JSON Schema of the configuration file")
    schema_cmd.add_argument("-o", "--output", type=Path, help="write it to this file instead")
    sub.add_parser("table", help="print the Markdown table of configuration keys")
    check = sub.add_parser("check", help=f"validate a file (default: ${CONFIG_ENV})")
    check.add_argument("file", nargs="?", type=Path)
    args = parser.parse_args(argv)
    if args.command == "schema":
        text = json.dumps(json_schema(), indent=2) + "\n"
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    elif args.command == "table":
        sys.stdout.write(config_table_markdown())
    else:
        try:
            settings = load_config(args.file)
        except ConfigError as err:
            print(err, file=sys.stderr)
            return 1
        clusters = "default" if settings.clusters is None else len(settings.clusters)
        print(f"ok: clusters {clusters}, webhooks {len(settings.sinks.webhooks)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
