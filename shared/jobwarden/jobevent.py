"""The JobEvent: what jobwarden's exporter publishes per transition of a Job (ARCHITECTURE §3.3).

One JobEvent per transition, delivered as a CloudEvent (directly, or as the data of a
Pub/Sub message). The wire shape is JSON with camelCase names; Python code may use either
the snake_case field names or the camelCase aliases when building a model:

```json
{
  "cluster": "prod-eu", "namespace": "batch", "name": "nightly-28744", "uid": "0b5f...",
  "transition": "failed",            // started|succeeded|failed|suspended|resumed|stuck|event
  "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit",
  "time": "2024-05-01T02:03:04Z",    // when the transition happened (optional)
  "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "...",
                             "message": "...", "lastTransitionTime": "..."}],
             "active": 0, "succeeded": 0, "failed": 4,
             "startTime": "...", "completionTime": null},
  "owner": "nightly",                // the owning CronJob's name, or null
  "labels": {"app": "nightly"},
  "generation": 3,                   // the Job's metadata.generation (optional)
  "event": null,                     // for "event": the Kubernetes Event (core/v1 JSON)
  "cronjob": null                    // for "missed" / "no-success": the CronJob (below)
}
```

`missed` and `no-success` are about a CronJob, not a Job (there may be no Job at all):
`name` and `uid` are the CronJob's, `owner` is its name too, `time` is the scheduled time,
and `cronjob` carries what a report needs without reading the cluster: the schedule and
time zone, `scheduledTime`, `suspend`, `concurrencyPolicy`, `startingDeadlineSeconds`,
`lastScheduleTime`, `lastSuccessfulTime`, the `active` Job names and the CronJob's
jobwarden.dev/notify and /silence annotations. Their Pub/Sub attributes name the
`cronjob` instead of the `job`, and their id covers the scheduled time.

Identity fields are checked against Kubernetes' naming rules (they end up in storage
paths), times must carry a timezone, unknown keys are ignored (newer exporters may add
fields). `event_id`, `cloudevent_attributes` and `pubsub_attributes` give the exporter the
envelope of a JobEvent; the id is deterministic, so a redelivery or a second exporter
replica publishes the same id and consumers deduplicate on it.

The Kubernetes Event a JobEvent carries (`event`) is read through `jobwarden.kube.events`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from jobwarden.kube.events import event_key
from jobwarden.kube.labels import RETRY_OF

Transition = Literal[
    "started",
    "succeeded",
    "failed",
    "suspended",
    "resumed",
    "stuck",
    "event",
    "missed",
    "no-success",
]
TRANSITIONS: Final[tuple[str, ...]] = get_args(Transition)
#: Transitions of a CronJob (its `cronjob` snapshot set; `name`/`uid` are the CronJob's).
CRONJOB_TRANSITIONS: Final[frozenset[Transition]] = frozenset({"missed", "no-success"})
#: Transitions of a Job.
JOB_TRANSITIONS: Final[frozenset[Transition]] = frozenset(
    t for t in get_args(Transition) if t not in CRONJOB_TRANSITIONS
)
CLOUDEVENT_TYPE_PREFIX: Final = "dev.jobwarden.job.v1."
SPECVERSION: Final = "1.0"

# Identity patterns (also used by the intake). A name that matches can never be "." or
# "..", so identities are safe as path segments.
CLUSTER_PATTERN: Final = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$"
NAMESPACE_PATTERN: Final = r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$"
NAME_PATTERN: Final = r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$"
NAME_MAX_LENGTH: Final = 253
UID_PATTERN: Final = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,126}[A-Za-z0-9])?$"

_IDENTITY_RULES: Final = {
    "cluster": (re.compile(CLUSTER_PATTERN), "letters, digits, '.', '_', '-'; at most 100"),
    "namespace": (re.compile(NAMESPACE_PATTERN), "a DNS label: a-z, 0-9, '-'; at most 63"),
    "name": (re.compile(NAME_PATTERN), "a DNS subdomain: a-z, 0-9, '-', '.'; at most 253"),
    "uid": (re.compile(UID_PATTERN), "letters, digits and '-'; at most 128"),
}
_ID_SCHEME: Final = "jobwarden.event-id.v1"


# Identities seen valid, per kind: a stream names the same clusters, namespaces and Jobs
# over and over, and a set lookup is a fraction of the regex (bench/parse_events.py).
_VALID: Final[dict[str, set[str]]] = {kind: set() for kind in _IDENTITY_RULES}
_VALID_MAX: Final = 4096


def identity_defect(kind: str, value: str) -> str | None:
    """Why `value` is not a valid `kind` ("cluster", "namespace", "name", "uid"), or None."""
    seen = _VALID[kind]
    if value in seen:
        return None
    pattern, rule = _IDENTITY_RULES[kind]
    if len(value) <= NAME_MAX_LENGTH and pattern.fullmatch(value):
        if len(seen) >= _VALID_MAX:
            seen.clear()
        seen.add(value)
        return None
    shown = value if len(value) <= 60 else value[:59] + "…"
    return f"{shown!r} is not a valid {kind} ({rule} characters)"


def _identity(kind: str) -> AfterValidator:
    def check(value: str) -> str:
        defect = identity_defect(kind, value)
        if defect:
            raise ValueError(defect)
        return value

    return AfterValidator(check)


ClusterName = Annotated[str, _identity("cluster")]
Namespace = Annotated[str, _identity("namespace")]
JobName = Annotated[str, _identity("name")]
Uid = Annotated[str, _identity("uid")]
_ID_HEX_LENGTH: Final = 32


class _Wire(BaseModel):
    # defer_build: validators are built on first use, not at import (cold starts that only
    # see kubernetes-event-exporter messages never pay for them).
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
        defer_build=True,
    )


class JobCondition(_Wire):
    """One entry of the Job's `status.conditions`."""

    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_transition_time: AwareDatetime | None = None


class JobStatusSnapshot(_Wire):
    """The Job's status at the time of the transition."""

    conditions: tuple[JobCondition, ...] = ()
    active: int = Field(default=0, ge=0)
    succeeded: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    start_time: AwareDatetime | None = None
    completion_time: AwareDatetime | None = None

    def true_condition(self, type_: str) -> JobCondition | None:
        """The condition of this type whose status is "True" (not merely present), if any."""
        for condition in self.conditions:
            if condition.type == type_ and condition.status == "True":
                return condition
        return None


class CronJobSnapshot(_Wire):
    """The CronJob of a `missed` / `no-success` transition, at the time it was announced."""

    schedule: str
    time_zone: str | None = None
    scheduled_time: AwareDatetime
    suspend: bool = False
    concurrency_policy: str = "Allow"
    starting_deadline_seconds: int | None = Field(default=None, ge=0)
    last_schedule_time: AwareDatetime | None = None
    last_successful_time: AwareDatetime | None = None
    active: tuple[str, ...] = ()
    annotations: dict[str, str] = Field(default_factory=dict)


class JobEvent(_Wire):
    """A transition of one Job in one cluster, as the exporter publishes it (see module doc)."""

    cluster: ClusterName
    namespace: Namespace
    name: JobName
    uid: Uid
    transition: Transition
    reason: str = ""
    message: str = ""
    time: AwareDatetime | None = None
    status: JobStatusSnapshot = Field(default_factory=JobStatusSnapshot)
    owner: JobName | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    generation: int | None = Field(default=None, ge=1)
    event: dict[str, Any] | None = None
    cronjob: CronJobSnapshot | None = None

    @model_validator(mode="after")
    def _event_transition_carries_its_event(self) -> JobEvent:
        if self.transition == "event" and not event_key(self.event)[0]:
            raise ValueError(
                "transition 'event' needs the Kubernetes Event in 'event' "
                "(with metadata.uid or metadata.name)"
            )
        if self.transition in CRONJOB_TRANSITIONS and self.cronjob is None:
            raise ValueError(
                f"transition {self.transition!r} needs the CronJob in 'cronjob' "
                "(with schedule and scheduledTime)"
            )
        return self

    @property
    def id(self) -> str:
        """The deterministic id of this transition (see `event_id`)."""
        key, count = event_key(self.event) if self.transition == "event" else ("", 0)
        occurrence = str(self.generation or "")
        if self.cronjob is not None and self.transition in CRONJOB_TRANSITIONS:
            occurrence = rfc3339(self.cronjob.scheduled_time)
        return event_id(
            self.cluster,
            self.uid,
            self.transition,
            k8s_event_uid=key,
            k8s_event_count=count,
            occurrence=occurrence,
        )

    @property
    def subject(self) -> str:
        return f"{self.namespace}/{self.name}"

    def to_json(self) -> bytes:
        """The wire JSON (camelCase), as published."""
        return self.model_dump_json(by_alias=True).encode()


REPEATABLE: Final = frozenset({"suspended", "resumed"})
#: Transitions whose id covers their occurrence: Job generations and CronJob scheduled times.
_OCCURRING: Final = REPEATABLE | CRONJOB_TRANSITIONS


def event_id(
    cluster: str,
    uid: str,
    transition: str,
    *,
    k8s_event_uid: str = "",
    k8s_event_count: int = 0,
    occurrence: str = "",
) -> str:
    """A deterministic id for a transition: 32 hex chars of a SHA-256.

    The digest covers `(cluster, job uid, transition)`, so every process and every exporter
    replica computes the same id for the same transition, and consumers deduplicate on it.
    For transition "event" it also covers the Kubernetes Event's uid and count, so two
    distinct Events (or a repeat of one Event, whose count went up) get distinct ids, and
    `uid` may then be "" when the Job's uid is unknown. A Job can be suspended and resumed
    many times: for those (`REPEATABLE`) a non-empty `occurrence` (the Job's
    metadata.generation, which every change of spec.suspend raises) is covered too, so each
    suspension has its own id while every replica still agrees on it. For a CronJob's
    `missed` / `no-success` the occurrence is the scheduled time (RFC 3339, UTC), so each
    scheduled time is announced under one id. Arguments that do not
    apply to the transition are ignored. Changing this function changes ids in flight: don't.
    """
    if transition == "event":
        parts: tuple[str, ...] = (
            _ID_SCHEME,
            cluster,
            uid,
            transition,
            k8s_event_uid,
            str(k8s_event_count),
        )
    elif occurrence and transition in _OCCURRING:
        parts = (_ID_SCHEME, cluster, uid, transition, occurrence)
    else:
        parts = (_ID_SCHEME, cluster, uid, transition)
    encoded = "\x1f".join(parts)
    if encoded.count("\x1f") != len(parts) - 1:  # a part holds the separator: length-prefix
        encoded = "".join(f"{len(part)}:{part}," for part in parts)
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()[:_ID_HEX_LENGTH]


def rfc3339(moment: datetime) -> str:
    """`moment` in UTC as RFC 3339 with a `Z` suffix."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cloudevent_attributes(job_event: JobEvent) -> dict[str, str]:
    """The CloudEvent context attributes of a JobEvent (ARCHITECTURE §3.3); `time` if known."""
    attributes = {
        "specversion": SPECVERSION,
        "id": job_event.id,
        "source": f"//jobwarden/clusters/{job_event.cluster}",
        "type": f"{CLOUDEVENT_TYPE_PREFIX}{job_event.transition}",
        "subject": job_event.subject,
        "datacontenttype": "application/json",
    }
    if job_event.time is not None:
        attributes["time"] = rfc3339(job_event.time)
    return attributes


def pubsub_attributes(job_event: JobEvent) -> dict[str, str]:
    """Pub/Sub message attributes for subscription filters.

    `type` is the bare transition (`failed`, so a filter reads `attributes.type = "failed"`),
    plus `cluster`, `namespace`, `job` and `reason`. For transition "event" also
    `eventType`, the Kubernetes Event's type (`Warning`/`Normal`), so a subscription can
    take Warning events only. For a Job a CronJob owns also `cronjob`, its name, so the
    failure reporter takes the successes of CronJobs' runs only (`attributes:cronjob`).
    For a Job a restart made, `retryOf` (its `jobwarden.dev/retry-of` label: the original's
    uid), so the failure reporter's subscription takes the retries' `succeeded` too.
    A CronJob's `missed` / `no-success` names the `cronjob` and no `job`.
    """
    attributes = {
        "type": job_event.transition,
        "cluster": job_event.cluster,
        "namespace": job_event.namespace,
        "job": job_event.name,
        "reason": job_event.reason,
    }
    if job_event.owner:
        attributes["cronjob"] = job_event.owner
    if job_event.transition in CRONJOB_TRANSITIONS:
        attributes["cronjob"] = attributes.pop("job")
    if job_event.transition == "event" and job_event.event is not None:
        event_type = job_event.event.get("type")
        if isinstance(event_type, str) and event_type:
            attributes["eventType"] = event_type
    retry_of = job_event.labels.get(RETRY_OF)
    if retry_of:
        attributes["retryOf"] = retry_of
    return attributes
