"""Gather what there is to know about one Job: the Job, its pods, their logs and events.

A plain function of a client and a Job identity. It makes few API calls (get the
Job, list its pods, list the namespace's events, ask metrics.k8s.io once, then one
log request per failed container up to a cap), so a Job with 50 pods costs about as
much as a Job with one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from jobwarden.errors import (
    ApiError,
    ForbiddenError,
    JobGoneError,
    NotFoundError,
    UsageUnavailableError,
)
from jobwarden.kube import paths
from jobwarden.kube.events import Event
from jobwarden.kube.labels import (
    COMPLETE,
    CREATED_POD_PREFIX,
    DELETED_POD_PREFIX,
    SCHEDULED,
    STARTED,
    SUCCESSFUL_CREATE,
    SUCCESSFUL_DELETE,
)
from jobwarden.kube.objects import CronJob, Job, JobRef, Pod
from jobwarden.kubeapi import KubeApi
from jobwarden.prometheus import ContainerPeaks
from jobwarden.quantities import format_memory
from jobwarden.redact import redact_text
from jobwarden.timeline import TimelineEntry, build_timeline, parse_events

LOG_TAIL_LINES = 200
LOG_LIMIT_BYTES = 64 * 1024
MAX_LOGS = 10
_ERROR_LINE = re.compile(
    r"\b(error|err|exception|traceback|fatal|panic|failed|failure|killed|denied|refused|"
    r"not found|no such|timeout|timed out|cannot|could not|unable to)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class LogTail:
    pod: str
    container: str
    previous: bool
    lines: tuple[str, ...] = ()
    truncated: bool = False
    error_lines: tuple[int, ...] = ()
    unavailable: str | None = None  # why there is no log, in words


@dataclass(frozen=True)
class PhaseTimes:
    """Where a pod's time went: waiting to be scheduled, starting (pulling/creating), running."""

    pending: dt.timedelta | None
    starting: dt.timedelta | None
    running: dt.timedelta | None


@dataclass(frozen=True)
class Usage:
    """A container's usage: a metrics.k8s.io sample of a running pod (`peak` False), or its
    peaks over the pod's life from Prometheus (`peak` True, numbers set)."""

    cpu: str
    memory: str
    peak: bool = False
    memory_bytes: int | None = None  # peak working set (Prometheus)
    cpu_cores: float | None = None  # peak CPU (Prometheus)
    throttled: float | None = None  # share of CFS periods throttled, 0..1 (Prometheus)

    def __str__(self) -> str:
        if not self.peak:
            return f"cpu {self.cpu or '?'}, mem {self.memory or '?'}"
        shown = [f"peak mem {self.memory or '?'}", f"peak cpu {self.cpu or '?'}"]
        if self.throttled:
            shown.append(f"throttled {self.throttled:.0%}")
        return ", ".join(shown)


class UsageSource(Protocol):
    """Where usage over a pod's life comes from (`jobwarden.prometheus.Prometheus`)."""

    def peaks(
        self, namespace: str, pods: Sequence[str], start: dt.datetime, end: dt.datetime | None
    ) -> Mapping[str, Mapping[str, ContainerPeaks]]: ...


@dataclass(frozen=True)
class PodReport:
    pod: Pod
    phases: PhaseTimes
    logs: tuple[LogTail, ...] = ()
    usage: dict[str, Usage] = field(default_factory=dict)
    gone: bool = False  # deleted; known only from the events it left (`gone_pods`)


@dataclass(frozen=True)
class Enrichment:
    ref: JobRef
    job: Job
    pods: tuple[PodReport, ...]
    events: tuple[Event, ...]
    timeline: tuple[TimelineEntry, ...]
    usage_note: str
    api_calls: int
    cron: CronHistory | None = None  # the owning CronJob's recent runs, when asked for
    gone_pods: tuple[PodReport, ...] = ()  # pods deleted (deadline, GC), from their events

    @property
    def all_pods(self) -> tuple[PodReport, ...]:
        """Every pod the Job had that anything is known of: the live ones, then the gone."""
        return self.pods + self.gone_pods


@dataclass(frozen=True)
class KeptRun:
    """One run of a CronJob whose Job is still kept (the history limits delete older ones)."""

    name: str
    uid: str
    state: str  # the Job's status in words
    finished: dt.datetime | None
    failed: bool
    complete: bool


@dataclass(frozen=True)
class CronHistory:
    """The recent runs of the CronJob that owns a Job (newest first), and the CronJob.

    `runs` are the Jobs still kept (the CronJob's history limits delete older ones, so the
    failure reporter's own run records, `workflows.streaks`, fill in the rest);
    `last_success` also counts the CronJob's own memory of its last successful run
    (`status.lastSuccessfulTime`, also kept alone as `status_last_success`).
    `schedule`, `suspended` and `uid` are None/"" when the CronJob could not be read.
    """

    cronjob: str
    runs: tuple[KeptRun, ...]
    consecutive_failures: int
    last_success: dt.datetime | None
    labels: Mapping[str, str] = field(default_factory=dict)  # the CronJob's own (when read)
    annotations: Mapping[str, str] = field(default_factory=dict)
    uid: str = ""
    schedule: str = ""
    suspended: bool | None = None
    status_last_success: dt.datetime | None = None


def get_cronjob(api: KubeApi, namespace: str, name: str) -> CronJob | None:
    """The CronJob, or None when it is gone or these credentials may not read it
    (`jobwarden-reader` grants `get cronjobs`; a binding made before it did may not)."""
    try:
        return CronJob.from_json(api.get(paths.cronjob(namespace, name)))
    except (NotFoundError, ForbiddenError):
        return None


def cron_history(api: KubeApi, job: Job) -> CronHistory | None:
    """How the owning CronJob's recent runs ended (two calls), or None if not CronJob-owned."""
    if not job.owner_cronjob:
        return None
    cron = get_cronjob(api, job.namespace, job.owner_cronjob)
    items = api.get(paths.jobs(job.namespace)).get("items", [])
    runs = [j for j in (Job.from_json(i) for i in items) if j.owner_cronjob == job.owner_cronjob]
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    runs.sort(key=lambda j: j.start_time or j.created or epoch, reverse=True)
    consecutive = 0
    for run in runs:
        if not run.failed_condition:
            if run.condition(COMPLETE):
                break
            continue  # still running: does not break the streak
        consecutive += 1
    successes = [r.finished_at for r in runs if r.condition(COMPLETE) and r.finished_at]
    if cron and cron.last_successful:
        successes.append(cron.last_successful)
    return CronHistory(
        cronjob=job.owner_cronjob,
        runs=tuple(
            KeptRun(
                name=r.name,
                uid=r.uid,
                state=r.state,
                finished=r.finished_at,
                failed=r.failed_condition is not None,
                complete=r.condition(COMPLETE) is not None,
            )
            for r in runs
        ),
        consecutive_failures=consecutive,
        last_success=max(successes) if successes else None,
        labels=dict(cron.labels) if cron else {},
        annotations=dict(cron.annotations) if cron else {},
        uid=cron.uid if cron else "",
        schedule=cron.schedule if cron else "",
        suspended=cron.suspend if cron else None,
        status_last_success=cron.last_successful if cron else None,
    )


def error_lines(lines: list[str] | tuple[str, ...]) -> tuple[int, ...]:
    """Indices of the lines that look like the error."""
    return tuple(i for i, line in enumerate(lines) if _ERROR_LINE.search(line))


def get_job(api: KubeApi, ref: JobRef) -> Job:
    try:
        job = Job.from_json(api.get(paths.job(ref.namespace, ref.name)))
    except NotFoundError as err:
        raise JobGoneError(
            f"{ref} no longer exists (deleted by hand or by ttlSecondsAfterFinished before "
            "jobwarden read it); the report can only use what the event carried"
        ) from err
    if ref.uid and job.uid != ref.uid:
        raise JobGoneError(
            f"{ref}: the Job that emitted this event (uid {ref.uid}) was deleted and a new one "
            f"(uid {job.uid}) has the same name"
        )
    return job


def list_pods(api: KubeApi, job: Job) -> list[Pod]:
    """The Job's pods, oldest first."""
    pods = [Pod.from_json(p) for p in paths.job_pods(api, job)]
    return sorted(pods, key=lambda p: (p.created or dt.datetime.min.replace(tzinfo=dt.UTC), p.name))


def list_events(api: KubeApi, namespace: str, field_selector: str = "") -> list[Event]:
    """The namespace's core/v1 Events (those matching `field_selector`, if given), paginated."""
    events: list[Event] = []
    token = ""
    while True:
        params: dict[str, str | int | bool] = {"limit": 500}
        if field_selector:
            params["fieldSelector"] = field_selector
        if token:
            params["continue"] = token
        page = api.get(paths.events(namespace), **params)
        events += parse_events(page.get("items", []))
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return events


# Up to this many pods, a Job's events are read object by object (the API server filters
# them); beyond it one list of the namespace's events costs fewer calls.
TARGETED_EVENT_READS = 10


def job_events(api: KubeApi, job: Job, pods: Sequence[Pod] = ()) -> list[Event]:
    """The events of `job` and of its pods, live (`pods`) and gone, without reading the rest
    of the namespace: one read of the Job's events (whose `SuccessfulCreate` "Created pod:
    <name>" names every pod it made), then one per pod, each filtered by the API server. A
    namespace with thousands of Jobs then costs each report a few small answers instead of
    every event in it. A Job with more than `TARGETED_EVENT_READS` pods has the namespace's
    events listed once instead (fewer calls); the caller filters either way.
    """
    if len(pods) > TARGETED_EVENT_READS:
        return list_events(api, job.namespace)
    own = list_events(api, job.namespace, f"involvedObject.uid={job.uid}")
    created = [e.message for e in own if e.reason == SUCCESSFUL_CREATE]
    names = {p.name for p in pods} | created_pod_names(job, own)
    # More than ten alike events in ten minutes are folded by the recorder into one
    # "(combined from similar events): ..." event, which names only the last pod.
    combined = any(not m.startswith(CREATED_POD_PREFIX) for m in created)
    if combined or len(names) > TARGETED_EVENT_READS:
        return list_events(api, job.namespace)
    events = list(own)
    for name in sorted(names):
        events += list_events(
            api, job.namespace, f"involvedObject.kind=Pod,involvedObject.name={name}"
        )
    return events


def created_pod_names(job: Job, events: Iterable[Event]) -> set[str]:
    """The pods the job controller says it made for `job` (its `SuccessfulCreate` "Created
    pod: <name>"), only names that are Kubernetes object names: whoever may create Events
    can write any message, and these names go into field selectors and PromQL."""
    named = (
        e.message.removeprefix(CREATED_POD_PREFIX)
        for e in events
        if e.involved_uid == job.uid
        and e.reason == SUCCESSFUL_CREATE
        and e.message.startswith(CREATED_POD_PREFIX)
    )
    return {name for name in named if paths.NAME.fullmatch(name) and ".." not in name}


def gone_pod_uids(job: Job, events: list[Event]) -> set[str]:
    """Uids of this Job's pods that no longer exist but left events behind.

    The job controller records `SuccessfulCreate` "Created pod: <name>" on the Job for
    every pod it makes, so a pod deleted at the deadline or by GC is still known by name.
    """
    created = created_pod_names(job, events)
    return {
        e.involved_uid for e in events if e.involved_kind == "Pod" and e.involved_name in created
    }


_ASSIGNED = re.compile(r"Successfully assigned \S+ to (\S+)")
LOST_LOG = "the pod was deleted, and its log with it (logs are lost)"


def gone_pods(
    job: Job, events: list[Event], live: set[str], *, logs: bool
) -> tuple[PodReport, ...]:
    """The Job's pods that no longer exist, from the events they left: the job controller's
    `SuccessfulCreate` ("Created pod: <name>") names each pod it made (when), the
    scheduler's `Scheduled` says when and where it ran, the kubelet's `Started` when a
    container started. Such a pod ran until the job controller deleted it (its
    `SuccessfulDelete` "Deleted pod: <name>"), else until the Job ended. Its log is lost:
    said so for the newest `MAX_LOGS` of them when logs were asked for; no request is
    made for a gone pod."""
    created = {
        e.message.removeprefix(CREATED_POD_PREFIX): e.first
        for e in sorted(events, key=lambda e: e.first or _EPOCH)
        if e.involved_uid == job.uid and e.reason == SUCCESSFUL_CREATE
    }
    deleted = {
        e.message.removeprefix(DELETED_POD_PREFIX): e.first
        for e in events
        if e.involved_uid == job.uid and e.reason == SUCCESSFUL_DELETE
    }
    by_pod: dict[str, list[Event]] = {}
    for e in events:
        if e.involved_kind == "Pod":
            by_pod.setdefault(e.involved_name, []).append(e)
    gone = [(name, made) for name, made in created.items() if name and name not in live]
    reports = []
    for n, (name, made) in enumerate(gone):
        own = by_pod.get(name, [])
        scheduled = _first_of(own, SCHEDULED)
        started = _first_of(own, STARTED)
        end = deleted.get(name) or job.finished_at
        if started and scheduled and started < scheduled:  # a second-precision kubelet time
            started = scheduled
        node = next(
            (
                m.group(1)
                for e in own
                if e.reason == SCHEDULED and (m := _ASSIGNED.search(e.message))
            ),
            None,
        )
        uid = next((e.involved_uid for e in own if e.involved_uid), "")
        pod = Pod.from_json(
            {
                "metadata": {
                    "name": name,
                    "namespace": job.namespace,
                    "uid": uid,
                    "creationTimestamp": made.isoformat() if made else None,
                },
                "spec": {"nodeName": node} if node else {},
                "status": {"phase": "Gone"},
            }
        )
        phases = PhaseTimes(
            (scheduled - made) if scheduled and made else None,
            (started - scheduled) if started and scheduled else None,
            (end - started) if end and started else None,
        )
        lost = logs and n >= len(gone) - MAX_LOGS  # the newest gone pods
        containers = [c.name for c in job.containers if not c.init] if lost else []
        tails = tuple(LogTail(name, c, False, unavailable=LOST_LOG) for c in containers[:1])
        reports.append(PodReport(pod, phases, tails, gone=True))
    return tuple(reports)


def _first_of(events: list[Event], reason: str) -> dt.datetime | None:
    times = [e.first for e in events if e.reason == reason and e.first]
    return min(times) if times else None


_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


def fetch_log(api: KubeApi, pod: Pod, container: str, *, previous: bool) -> LogTail:
    params: dict[str, str | int | bool] = {
        "container": container,
        "tailLines": LOG_TAIL_LINES,
        "limitBytes": LOG_LIMIT_BYTES,
    }
    if previous:
        params["previous"] = True
    try:
        text = api.text(paths.pod_log(pod.namespace, pod.name), **params)
    except ForbiddenError as err:
        return LogTail(
            pod.name, container, previous, unavailable=f"not allowed to read logs: {err}"
        )
    except NotFoundError:
        return LogTail(
            pod.name, container, previous, unavailable="the pod is gone; its log with it"
        )
    except ApiError as err:
        return LogTail(pod.name, container, previous, unavailable=f"log not available: {err}")
    lines = redact_text(text).splitlines()  # as one text: a PEM block across lines is caught
    truncated = len(lines) >= LOG_TAIL_LINES or len(text.encode()) >= LOG_LIMIT_BYTES
    return LogTail(pod.name, container, previous, tuple(lines), truncated, error_lines(lines))


def phase_times(pod: Pod) -> PhaseTimes:
    main = [c for c in pod.containers if not c.init]
    starts = [c.started for c in main if c.started]
    ends = [c.finished for c in main if c.finished]
    first_start = min(starts) if starts else None
    pending = (pod.scheduled_at - pod.created) if pod.scheduled_at and pod.created else None
    starting = (first_start - pod.scheduled_at) if first_start and pod.scheduled_at else None
    running = (max(ends) - first_start) if ends and first_start else None
    return PhaseTimes(pending, starting, running)


def pod_usage(api: KubeApi, job: Job) -> tuple[dict[str, dict[str, Usage]], str]:
    """Current usage per pod and container from metrics.k8s.io, or a note why there is none."""
    try:
        items = api.get(
            paths.pod_metrics(job.namespace), labelSelector=paths.job_pod_selector(job.uid)
        ).get("items", [])
    except NotFoundError:
        return {}, "metrics.k8s.io is not served by this cluster (install metrics-server for usage)"
    except ApiError as err:
        return {}, f"usage not available: {err}"
    usage = {
        str(m["metadata"]["name"]): {
            str(c["name"]): Usage(str(c["usage"].get("cpu", "")), str(c["usage"].get("memory", "")))
            for c in m.get("containers", [])
        }
        for m in items
    }
    return usage, "" if usage else "no usage samples (pods finished before metrics were taken)"


def _cores(cores: float) -> str:
    return f"{cores * 1000:.0f}m" if cores < 10 else f"{cores:.1f}"


def peak_usage(peaks: ContainerPeaks) -> Usage:
    """`peaks` as a `Usage` (quantities written as Kubernetes writes them)."""
    return Usage(
        cpu=_cores(peaks.cpu_cores) if peaks.cpu_cores is not None else "",
        memory=format_memory(peaks.memory_bytes) if peaks.memory_bytes is not None else "",
        peak=True,
        memory_bytes=peaks.memory_bytes,
        cpu_cores=peaks.cpu_cores,
        throttled=peaks.throttled,
    )


def run_span(job: Job, pods: Sequence[Pod]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """From the first pod's creation (or the Job's start) to the Job's end (None: running)."""
    starts = [p.created for p in pods if p.created] + [
        t for t in (job.start_time, job.created) if t
    ]
    return (min(starts) if starts else None), job.finished_at


def usage_over_life(
    source: UsageSource, job: Job, pods: Sequence[Pod]
) -> tuple[dict[str, dict[str, Usage]], str]:
    """Peak usage of every container of `pods` over the run, or a note why there is none."""
    start, end = run_span(job, pods)
    if start is None or not pods:
        return {}, "no pods to read usage of"
    try:
        peaks = source.peaks(job.namespace, [p.name for p in pods], start, end)
    except UsageUnavailableError as err:
        return {}, str(err)
    usage = {
        pod: {name: peak_usage(p) for name, p in containers.items()}
        for pod, containers in peaks.items()
    }
    if not usage:
        return {}, (
            "Prometheus has no samples of these pods' containers (they ran shorter than a "
            "scrape interval, or cAdvisor's container_* series are not scraped)"
        )
    return usage, "peaks over each pod's life, from Prometheus (sampled at each scrape)"


NO_PROMETHEUS = "usage over time not available: metrics.prometheus is not configured"


def enrich(
    api: KubeApi,
    ref: JobRef,
    *,
    include_logs: bool = True,
    include_events: bool = True,
    event_types: list[str] | None = None,
    include_usage: bool = True,
    max_logs: int = MAX_LOGS,
    usage_source: UsageSource | None = None,
) -> Enrichment:
    """Read the Job, its pods, their failed containers' logs and the events, in a few calls;
    usage from `usage_source` (Prometheus: peaks over each pod's life, deleted pods too)
    or else the metrics.k8s.io sample of pods still running."""
    before = api.calls
    job = get_job(api, ref)
    pods = list_pods(api, job)
    usage: dict[str, dict[str, Usage]] = {}
    note = "usage not requested"
    if include_usage and usage_source is None:
        usage, note = pod_usage(api, job)
        note = f"{NO_PROMETHEUS}; {note}" if note else NO_PROMETHEUS
    events = job_events(api, job, pods) if include_events else []
    budget = max_logs
    reports = []
    for pod in reversed(pods):  # newest first get the log budget
        logs = []
        for status in pod.containers:
            if not include_logs or not status.failed or budget <= 0:
                continue
            previous = status.state != "terminated" and status.restart_count > 0
            logs.append(fetch_log(api, pod, status.name, previous=previous))
            budget -= 1
        reports.append(PodReport(pod, phase_times(pod), tuple(logs), usage.get(pod.name, {})))
    reports.reverse()
    uids = {job.uid} | {p.uid for p in pods} | gone_pod_uids(job, events)
    timeline = build_timeline(events, object_uids=uids, types=event_types)
    relevant = tuple(e for e in events if e.involved_uid in uids)
    gone = gone_pods(job, events, {p.name for p in pods}, logs=include_logs)
    if include_usage and usage_source is not None:
        usage, note = usage_over_life(usage_source, job, pods + [r.pod for r in gone])
        reports = [replace(r, usage=usage.get(r.pod.name, {})) for r in reports]
        gone = tuple(replace(r, usage=usage.get(r.pod.name, {})) for r in gone)
    return Enrichment(
        ref=ref,
        job=job,
        pods=tuple(reports),
        events=relevant,
        timeline=tuple(timeline),
        usage_note=note,
        api_calls=api.calls - before,
        gone_pods=gone,
    )


@dataclass(frozen=True)
class Needs:
    """What a workflow reads from the cluster about one Job (one `read` call)."""

    logs: bool = False
    events: bool = True
    usage: bool = True
    event_types: tuple[str, ...] | None = None  # None: every type
    cron_history: bool = False


def read(
    api: KubeApi, ref: JobRef, needs: Needs, usage_source: UsageSource | None = None
) -> Enrichment:
    """Everything `needs` asks for about the Job `ref`, read once: JobGoneError if it is gone."""
    enrichment = enrich(
        api,
        ref,
        include_logs=needs.logs,
        include_events=needs.events,
        include_usage=needs.usage,
        event_types=list(needs.event_types) if needs.event_types is not None else None,
        usage_source=usage_source,
    )
    if needs.cron_history and enrichment.job.owner_cronjob:
        enrichment = replace(enrichment, cron=cron_history(api, enrichment.job))
    return enrichment
