"""Small typed views of the Kubernetes objects jobwarden reads (Jobs, Pods, CronJobs).

Plain frozen dataclasses built from the API's JSON: only the fields jobwarden
needs, parsed once, no client models. Times are aware datetimes or None.
(Events have their own view, for speed: `jobwarden.kube.events`.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from jobwarden.kube import labels

JSON = dict[str, Any]

# -- lenient readers of the API's JSON (also used on untrusted message payloads) -----------
# isinstance() tuple for "a JSON object": `dict | Mapping` written inline builds a new union
# object on every call, a measurable share of parsing a message (bench/parse_events.py).
MAPPING_TYPES: Final = (dict, Mapping)
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


def text(value: object) -> str:
    """`value` if it is a string, else ""."""
    return value if isinstance(value, str) else ""


def mapping(value: object) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, MAPPING_TYPES) else _EMPTY


def positive_int(value: object) -> int:
    """`value` if it is a plausible positive JSON integer, else 0."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    return 0


def first_time(*values: object) -> dt.datetime | None:
    """The first of `values` that parses as an RFC 3339 time (with Z or offset, optional
    fraction), as an aware datetime (UTC when it names no zone); None if none does."""
    for value in values:
        if isinstance(value, str) and value:
            try:
                moment = dt.datetime.fromisoformat(value)
            except (ValueError, OverflowError):
                continue
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return None


def parse_time(value: object) -> dt.datetime | None:
    """An API time to an aware datetime, or None (see `first_time`)."""
    return first_time(value)


@dataclass(frozen=True)
class JobRef:
    """Which Job, in which cluster (uid when known: it tells runs of the same name apart)."""

    cluster: str
    namespace: str
    name: str
    uid: str | None = None

    def __str__(self) -> str:
        return f"job {self.namespace}/{self.name} in cluster {self.cluster}"


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str
    last_transition: dt.datetime | None

    @classmethod
    def from_json(cls, c: JSON) -> Condition:
        return cls(
            type=str(c.get("type", "")),
            status=str(c.get("status", "")),
            reason=str(c.get("reason") or ""),
            message=str(c.get("message") or ""),
            last_transition=parse_time(c.get("lastTransitionTime")),
        )

    @property
    def true(self) -> bool:
        return self.status == "True"


@dataclass(frozen=True)
class Resources:
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None  # literal value, None when it comes from a reference
    source: str | None  # e.g. "secret db-creds/password", "configmap app/mode"


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    resources: Resources
    env: tuple[EnvVar, ...]
    init: bool = False

    @classmethod
    def from_json(cls, c: JSON, *, init: bool = False) -> ContainerSpec:
        env = []
        for e in c.get("env") or []:
            source = None
            ref = e.get("valueFrom") or {}
            if "secretKeyRef" in ref:
                source = (
                    f"secret {ref['secretKeyRef'].get('name')}/{ref['secretKeyRef'].get('key')}"
                )
            elif "configMapKeyRef" in ref:
                cm = ref["configMapKeyRef"]
                source = f"configmap {cm.get('name')}/{cm.get('key')}"
            elif "fieldRef" in ref:
                source = f"field {ref['fieldRef'].get('fieldPath')}"
            elif "resourceFieldRef" in ref:
                source = f"resource {ref['resourceFieldRef'].get('resource')}"
            env.append(EnvVar(str(e.get("name", "")), e.get("value"), source))
        res = c.get("resources") or {}
        return cls(
            name=str(c.get("name", "")),
            image=str(c.get("image", "")),
            command=tuple(str(x) for x in c.get("command") or []),
            args=tuple(str(x) for x in c.get("args") or []),
            resources=Resources(
                requests={k: str(v) for k, v in (res.get("requests") or {}).items()},
                limits={k: str(v) for k, v in (res.get("limits") or {}).items()},
            ),
            env=tuple(env),
            init=init,
        )


def _meta_map(obj: JSON, key: str) -> Mapping[str, Any]:
    """`metadata.<key>` (labels, annotations) of an API object, or {}."""
    value = (obj.get("metadata") or {}).get(key)
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Job:
    """A batch/v1 Job, as far as jobwarden looks at it."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    generation: int  # metadata.generation: raised by every change of the spec; 0 if unknown
    labels: dict[str, str]
    created: dt.datetime | None
    owner_cronjob: str | None
    completions: int | None
    parallelism: int | None
    backoff_limit: int | None
    active_deadline_seconds: int | None
    ttl_seconds_after_finished: int | None
    completion_mode: str
    suspend: bool
    pod_failure_policy: JSON | None
    node_selector: dict[str, str]
    containers: tuple[ContainerSpec, ...]
    active: int
    succeeded: int
    failed: int
    ready: int
    start_time: dt.datetime | None
    completion_time: dt.datetime | None
    conditions: tuple[Condition, ...]
    failed_indexes: str | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: JSON) -> Job:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        pod_spec = (spec.get("template") or {}).get("spec") or {}
        owner = next(
            (
                o.get("name")
                for o in meta.get("ownerReferences") or []
                if o.get("kind") == "CronJob"
            ),
            None,
        )
        containers = [
            ContainerSpec.from_json(c, init=True) for c in pod_spec.get("initContainers") or []
        ]
        containers += [ContainerSpec.from_json(c) for c in pod_spec.get("containers") or []]
        return cls(
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            resource_version=str(meta.get("resourceVersion", "")),
            generation=int(meta.get("generation") or 0),
            labels=dict(meta.get("labels") or {}),
            created=parse_time(meta.get("creationTimestamp")),
            owner_cronjob=owner,
            completions=spec.get("completions"),
            parallelism=spec.get("parallelism"),
            backoff_limit=spec.get("backoffLimit"),
            active_deadline_seconds=spec.get("activeDeadlineSeconds"),
            ttl_seconds_after_finished=spec.get("ttlSecondsAfterFinished"),
            completion_mode=str(spec.get("completionMode") or "NonIndexed"),
            suspend=bool(spec.get("suspend")),
            pod_failure_policy=spec.get("podFailurePolicy"),
            node_selector=dict(pod_spec.get("nodeSelector") or {}),
            containers=tuple(containers),
            active=int(status.get("active") or 0),
            succeeded=int(status.get("succeeded") or 0),
            failed=int(status.get("failed") or 0),
            ready=int(status.get("ready") or 0),
            start_time=parse_time(status.get("startTime")),
            completion_time=parse_time(status.get("completionTime")),
            conditions=tuple(Condition.from_json(c) for c in status.get("conditions") or []),
            failed_indexes=status.get("failedIndexes"),
            raw=obj,
        )

    @property
    def annotations(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in _meta_map(self.raw, "annotations").items()}

    def condition(self, kind: str) -> Condition | None:
        """The condition of this type if its status is "True" (not merely present)."""
        return next((c for c in self.conditions if c.type == kind and c.true), None)

    @property
    def failed_condition(self) -> Condition | None:
        return self.condition(labels.FAILED)

    @property
    def finished_at(self) -> dt.datetime | None:
        done = self.condition(labels.FAILED) or self.condition(labels.COMPLETE)
        if done and done.last_transition:
            return done.last_transition
        return self.completion_time

    @property
    def state(self) -> str:
        """The Job's status in words."""
        failed = self.failed_condition
        if failed:
            return f"Failed ({failed.reason})" if failed.reason else "Failed"
        if self.condition(labels.COMPLETE):
            return "Complete"
        target = self.condition(labels.FAILURE_TARGET)
        if target:
            return f"Failing ({target.reason}; waiting for pods to terminate)"
        if self.suspend or self.condition(labels.SUSPENDED):
            return "Suspended"
        if self.active:
            return (
                f"Running ({self.active} active, {self.succeeded} succeeded, {self.failed} failed)"
            )
        return "Pending (no active pods yet)"

    def container(self, name: str) -> ContainerSpec | None:
        return next((c for c in self.containers if c.name == name), None)


@dataclass(frozen=True)
class CronJob:
    """A batch/v1 CronJob: its schedule and what its status remembers of its runs."""

    namespace: str
    name: str
    uid: str
    schedule: str
    time_zone: str | None
    suspend: bool
    successful_jobs_history_limit: int  # Jobs kept after success (default 3)
    failed_jobs_history_limit: int  # Jobs kept after failure (default 1)
    active: tuple[str, ...]  # names of its running Jobs
    last_schedule: dt.datetime | None
    last_successful: dt.datetime | None  # known even when that run's Job is gone
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    # what the exporter needs to tell a missed schedule (jobwarden_exporter.cronjobs)
    starting_deadline_seconds: int | None = None
    concurrency_policy: str = "Allow"  # Allow | Forbid | Replace
    created: dt.datetime | None = None

    @classmethod
    def from_json(cls, obj: JSON) -> CronJob:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        successful = spec.get("successfulJobsHistoryLimit")
        failed = spec.get("failedJobsHistoryLimit")
        return cls(
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            schedule=str(spec.get("schedule") or ""),
            time_zone=spec.get("timeZone"),
            suspend=bool(spec.get("suspend")),
            successful_jobs_history_limit=3 if successful is None else int(successful),
            failed_jobs_history_limit=1 if failed is None else int(failed),
            active=tuple(str(ref.get("name", "")) for ref in status.get("active") or []),
            last_schedule=parse_time(status.get("lastScheduleTime")),
            last_successful=parse_time(status.get("lastSuccessfulTime")),
            labels={str(k): str(v) for k, v in _meta_map(obj, "labels").items()},
            annotations={str(k): str(v) for k, v in _meta_map(obj, "annotations").items()},
            starting_deadline_seconds=_optional_int(spec.get("startingDeadlineSeconds")),
            concurrency_policy=str(spec.get("concurrencyPolicy") or "Allow"),
            created=parse_time(meta.get("creationTimestamp")),
        )


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ContainerStatus:
    name: str
    init: bool
    state: str  # running | waiting | terminated | unknown
    reason: str
    message: str
    exit_code: int | None
    restart_count: int
    started: dt.datetime | None
    finished: dt.datetime | None
    last_reason: str  # reason of the previous termination (restarted containers)
    last_exit_code: int | None

    @classmethod
    def from_json(cls, s: JSON, *, init: bool = False) -> ContainerStatus:
        state = s.get("state") or {}
        last = (s.get("lastState") or {}).get("terminated") or {}
        kind = next((k for k in ("terminated", "waiting", "running") if state.get(k)), "unknown")
        detail = state.get(kind) or {}
        return cls(
            name=str(s.get("name", "")),
            init=init,
            state=kind,
            reason=str(detail.get("reason") or ""),
            message=str(detail.get("message") or ""),
            exit_code=detail.get("exitCode") if kind == "terminated" else None,
            restart_count=int(s.get("restartCount") or 0),
            started=parse_time(detail.get("startedAt")),
            finished=parse_time(detail.get("finishedAt")),
            last_reason=str(last.get("reason") or ""),
            last_exit_code=last.get("exitCode"),
        )

    @property
    def failed(self) -> bool:
        return (self.state == "terminated" and self.exit_code not in (0, None)) or (
            self.last_exit_code not in (0, None)
        )


@dataclass(frozen=True)
class Waiting:
    """A pod stuck in a state that will not fix itself (see `Pod.waiting`)."""

    reason: str  # ImagePullBackOff, CrashLoopBackOff, ..., Unschedulable
    message: str  # the kubelet's or the scheduler's words
    container: str | None  # None: the pod as a whole (Unschedulable)
    since: dt.datetime | None


def _owner_job_uid(meta: JSON) -> str:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "Job" and ref.get("controller") and ref.get("uid"):
            return str(ref["uid"])
    pod_labels = meta.get("labels") or {}
    return next((str(pod_labels[k]) for k in labels.CONTROLLER_UID_LABELS if k in pod_labels), "")


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    uid: str
    phase: str
    reason: str
    message: str
    node: str | None
    created: dt.datetime | None
    started: dt.datetime | None
    scheduled_at: dt.datetime | None
    unschedulable: str | None  # PodScheduled=False message
    deleted: bool
    index: str | None
    containers: tuple[ContainerStatus, ...]
    conditions: tuple[Condition, ...]
    job_uid: str = ""  # the owning Job's uid (controller ownerReference, else its label)

    @classmethod
    def from_json(cls, obj: JSON) -> Pod:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        conditions = tuple(Condition.from_json(c) for c in status.get("conditions") or [])
        scheduled = next((c for c in conditions if c.type == labels.POD_SCHEDULED), None)
        statuses = [
            ContainerStatus.from_json(s, init=True)
            for s in status.get("initContainerStatuses") or []
        ]
        statuses += [ContainerStatus.from_json(s) for s in status.get("containerStatuses") or []]
        return cls(
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            phase=str(status.get("phase") or "Unknown"),
            reason=str(status.get("reason") or ""),
            message=str(status.get("message") or ""),
            node=spec.get("nodeName"),
            created=parse_time(meta.get("creationTimestamp")),
            started=parse_time(status.get("startTime")),
            scheduled_at=scheduled.last_transition if scheduled and scheduled.true else None,
            unschedulable=(
                scheduled.message or scheduled.reason
                if scheduled and not scheduled.true and scheduled.reason == labels.UNSCHEDULABLE
                else None
            ),
            deleted=bool(meta.get("deletionTimestamp")),
            index=(meta.get("annotations") or {}).get(labels.JOB_COMPLETION_INDEX),
            containers=tuple(statuses),
            conditions=conditions,
            job_uid=_owner_job_uid(meta),
        )

    @property
    def waiting(self) -> Waiting | None:
        """The state this pod waits in that it will not leave on its own, if any.

        A container waiting in `labels.STUCK_WAITING` (image pull errors, config error,
        crash loop; init containers first), else PodScheduled=False reason Unschedulable.
        `since` is when the pod stopped making progress: the time its containers stopped
        being ready (the Ready / ContainersReady condition), else its start, else its
        creation; for Unschedulable, the PodScheduled condition's time.
        """
        if self.deleted or self.phase in ("Succeeded", "Failed"):
            return None
        for status in self.containers:
            if status.state == "waiting" and status.reason in labels.STUCK_WAITING:
                ready = next(
                    (
                        c
                        for c in self.conditions
                        if c.type == labels.CONTAINERS_READY and not c.true
                    ),
                    None,
                )
                since = (ready.last_transition if ready else None) or self.started or self.created
                return Waiting(status.reason, status.message, status.name, since)
        scheduled = next((c for c in self.conditions if c.type == labels.POD_SCHEDULED), None)
        if self.unschedulable is not None and scheduled is not None:
            since = scheduled.last_transition or self.created
            return Waiting(labels.UNSCHEDULABLE, self.unschedulable, None, since)
        return None

    @property
    def disrupted(self) -> Condition | None:
        return next(
            (c for c in self.conditions if c.type == labels.DISRUPTION_TARGET and c.true), None
        )
