"""Run records: one small JSON document per finished Job run, the input of the analysis.

A record says when a run started and ended, how it ended and why, how many pods it
took, and where its pods' time went. It is written once, when the run finishes, under

    runs/<cluster>/<yyyy-mm-dd of the end, UTC>/<family>/<job uid>.json

with a create-only write, so a redelivered event (or the same run announced by two
sources) leaves exactly one record. Families group the runs of "the same" Job: the
owning CronJob's name, else the value of a family label (default
`app.kubernetes.io/name`), else the Job's name without a trailing run suffix
(`-28744380`, `-x7k2p`, `-1a2b3c4d`); a restart's retry takes its original's name
(`jobwarden.dev/restarted-from`), so it is judged against the runs it retries.

Phase times are *pod-seconds summed over the run's pods*: `pendingSeconds` waiting to be
scheduled, `pullingSeconds` from scheduling to the first container start (image pulls,
volume mounts, container creation), `runningSeconds` from the first container start to
the last container end. A pod still waiting at the run's end counts until the end. With
parallel pods the sums can exceed `durationSeconds`; they tell where the effort went, the
duration tells how long the user waited.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from jobwarden.enrich import Enrichment, PodReport
from jobwarden.errors import ConfigError, PermanentError
from jobwarden.kube.labels import (
    COMPLETE,
    FAILED,
    OOM_KILLED,
    RESTARTED_FROM,
    SUCCESS_CRITERIA_MET,
)
from jobwarden.kube.objects import Job
from jobwarden.quantities import parse_memory
from jobwarden.redact import redact_capped

if TYPE_CHECKING:
    from jobwarden.failure import Cause, FailureAnalysis
    from jobwarden.intake import Trigger
    from jobwarden.sinks.storage import ReportStore

log = logging.getLogger(__name__)

DEFAULT_FAMILY_LABEL = "app.kubernetes.io/name"
RUNS_PREFIX = "runs"
READERS = 16  # concurrent reads from a bucket (its latency, not the CPU, bounds a big window)
PARALLEL_FROM = 64
_RUN_SUFFIXES = (
    re.compile(r"-[0-9]+$"),  # CronJob schedule time in minutes, a counter, a date part
    re.compile(r"-(?=[a-z0-9]*[0-9])[bcdfghjklmnpqrstvwxz2456789]{5}$"),  # generateName
    re.compile(r"-(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{6,}$"),  # a hex hash or sha
)
_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(n|u|m|)$")
_CPU_MILLI = {"n": 1e-6, "u": 1e-3, "m": 1.0, "": 1000.0}


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", allow_inf_nan=False
    )


class ContainerUsage(_Model):
    """Peak usage of one container over the run's pods: over each pod's life from
    Prometheus (`overLife`), else the last metrics.k8s.io sample of a pod still running."""

    cpu_millicores: float | None = None
    memory_bytes: int | None = None
    throttled: float | None = None  # the highest share of CFS periods throttled (Prometheus)
    over_life: bool = False


class RunRecord(_Model):
    """One finished run of a Job (see the module docstring for the phase semantics)."""

    cluster: str
    namespace: str
    job: str
    job_uid: str
    family: str
    start: AwareDatetime | None = None
    end: AwareDatetime
    duration_seconds: float | None = None
    outcome: Literal["succeeded", "failed"]
    reason: str = ""  # the Failed/Complete condition's reason
    cause: str = ""  # failed runs: the pods' classified cause (OOMKilled, ImagePull, ...)
    identical_retries: bool = False  # failed runs: every attempt failed the same way
    pod_count: int = 0
    retries: int = 0  # failed pods
    pending_seconds: float | None = None
    pulling_seconds: float | None = None
    running_seconds: float | None = None
    requests: dict[str, dict[str, str]] = Field(default_factory=dict)  # container -> cpu/memory
    limits: dict[str, dict[str, str]] = Field(default_factory=dict)
    usage: dict[str, ContainerUsage] | None = None  # None: not known
    oom_killed: bool = False
    oom_containers: list[str] = Field(default_factory=list)
    backoff_limit: int | None = None
    active_deadline_seconds: int | None = None
    parallelism: int | None = None
    completions: int | None = None
    source: Literal["live", "event"] = "live"  # event: the Job was gone, from the event only

    def to_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def family_name(job_name: str) -> str:
    """The Job's name without a trailing run suffix: `backup-28744380` -> `backup`."""
    name = job_name
    for _ in range(3):
        for pattern in _RUN_SUFFIXES:
            stripped = pattern.sub("", name)
            if stripped != name and stripped:
                name = stripped
                break
        else:
            return name
    return name


def family_of(
    job_name: str,
    owner_cronjob: str | None,
    labels: dict[str, str] | None,
    family_label: str = DEFAULT_FAMILY_LABEL,
) -> str:
    """The owning CronJob, else the family label's value, else the name without run suffix."""
    if owner_cronjob:
        return owner_cronjob
    value = (labels or {}).get(family_label, "").strip() if family_label else ""
    return value or family_name(job_name)


def job_family(job: Job, family_label: str = DEFAULT_FAMILY_LABEL) -> str:
    """The Job's family; a restart's retry (`x-retry-1`) belongs to its original's (`x`)."""
    name = job.annotations.get(RESTARTED_FROM) or job.name
    return family_of(name, job.owner_cronjob, job.labels, family_label)


def parse_cpu(text: str) -> float | None:
    """A CPU quantity in millicores (`250m` -> 250, `1` -> 1000, `1500000n` -> 1.5), or None."""
    match = _CPU.match(text.strip())
    return float(match.group(1)) * _CPU_MILLI[match.group(2)] if match else None


def _memory(text: str) -> int | None:
    try:
        return parse_memory(text) if text else None
    except ConfigError:
        return None


def _seconds(delta: dt.timedelta | None) -> float:
    return max(0.0, delta.total_seconds()) if delta is not None else 0.0


def pod_phases(report: PodReport, end: dt.datetime | None) -> tuple[float, float, float]:
    """(pending, pulling, running) seconds of one pod; a phase never left lasts until `end`."""
    pod, phases = report.pod, report.phases
    main = [c for c in pod.containers if not c.init]
    first_start = min((c.started for c in main if c.started), default=None)
    pending = phases.pending
    if pending is None and pod.created and not pod.scheduled_at and end:
        pending = end - pod.created  # never scheduled
    starting = phases.starting
    if starting is None and pod.scheduled_at and not first_start and end:
        starting = end - pod.scheduled_at  # scheduled, never started (image pull, config)
    running = phases.running
    if running is None and first_start and end:
        running = end - first_start  # started, no recorded end
    return _seconds(pending), _seconds(starting), _seconds(running)


def _usage(pods: Iterable[PodReport]) -> dict[str, ContainerUsage] | None:
    peak: dict[str, ContainerUsage] = {}
    for report in pods:
        for name, sample in report.usage.items():
            cpu, mem = parse_cpu(sample.cpu), _memory(sample.memory)
            old = peak.get(name, ContainerUsage())
            peak[name] = ContainerUsage(
                cpu_millicores=max(
                    (v for v in (old.cpu_millicores, cpu) if v is not None), default=None
                ),
                memory_bytes=max(
                    (v for v in (old.memory_bytes, mem) if v is not None), default=None
                ),
                throttled=max(
                    (v for v in (old.throttled, sample.throttled) if v is not None), default=None
                ),
                over_life=old.over_life or sample.peak,
            )
    return peak or None


def _resources(job: Job, kind: Literal["requests", "limits"]) -> dict[str, dict[str, str]]:
    out = {}
    for c in job.containers:
        values = getattr(c.resources, kind)
        picked = {k: v for k, v in values.items() if k in ("cpu", "memory")}
        if picked:
            out[c.name] = picked
    return out


def record_from_enrichment(
    enrichment: Enrichment,
    analysis: FailureAnalysis | None = None,
    family_label: str = DEFAULT_FAMILY_LABEL,
) -> RunRecord:
    """The run record of a finished Job (`analysis`: its failure analysis, if it failed)."""
    job = enrichment.job
    failed = job.failed_condition
    done = failed or job.condition(COMPLETE) or job.condition(SUCCESS_CRITERIA_MET)
    end = job.finished_at or (done.last_transition if done else None)
    if end is None:
        raise ValueError(f"job {job.namespace}/{job.name} has not finished: no run to record")
    start = job.start_time or job.created
    phases = [pod_phases(p, end) for p in enrichment.pods]
    if not phases and enrichment.events:  # pods deleted (deadline): their events remain
        from jobwarden.performance.evidence import event_phases

        phases = event_phases(job, enrichment.events, end)
    oom = {
        c.name
        for p in enrichment.pods
        for c in p.pod.containers
        if OOM_KILLED in (c.reason, c.last_reason)
    }
    if analysis:
        oom |= {c.container for c in _oom_causes(analysis) if c.container}
    failed_pods = sum(1 for p in enrichment.pods if p.pod.phase == "Failed")
    return RunRecord(
        cluster=enrichment.ref.cluster,
        namespace=job.namespace,
        job=job.name,
        job_uid=job.uid,
        family=job_family(job, family_label),
        start=start,
        end=end,
        duration_seconds=_seconds(end - start) if start else None,
        outcome="failed" if failed else "succeeded",
        reason=redact_capped((done.reason if done else "") or ("" if failed else "Completed"), 200),
        cause=_cause(analysis) if analysis and failed else "",
        identical_retries=bool(analysis and failed and analysis.identical_retries),
        pod_count=max(len(enrichment.pods), job.succeeded + job.failed + job.active),
        retries=max(job.failed, failed_pods),
        pending_seconds=sum(p[0] for p in phases) if phases else None,
        pulling_seconds=sum(p[1] for p in phases) if phases else None,
        running_seconds=sum(p[2] for p in phases) if phases else None,
        requests=_resources(job, "requests"),
        limits=_resources(job, "limits"),
        usage=_usage(enrichment.all_pods),
        oom_killed=bool(oom) or bool(analysis and _oom_causes(analysis)),
        oom_containers=sorted(oom),
        backoff_limit=job.backoff_limit,
        active_deadline_seconds=job.active_deadline_seconds,
        parallelism=job.parallelism,
        completions=job.completions,
    )


def _cause(analysis: FailureAnalysis) -> str:
    """The pods' most common cause (ImagePull under a DeadlineExceeded), else the headline's."""
    codes = Counter(c.code for c in analysis.pod_causes)
    return codes.most_common(1)[0][0] if codes else analysis.headline.code


def _oom_causes(analysis: FailureAnalysis) -> list[Cause]:
    return [c for c in (analysis.headline, *analysis.pod_causes) if c.code == OOM_KILLED]


def record_from_trigger(
    trigger: Trigger, family_label: str = DEFAULT_FAMILY_LABEL
) -> RunRecord | None:
    """A record from what a JobEvent carried (the Job is gone), or None if it carried too little.

    Needs the status snapshot's start time and an end (completion time, the Failed/Complete
    condition's transition time, or the event's time). Phases and resources stay unknown.
    """
    event = trigger.job_event
    if event is None or trigger.transition not in ("succeeded", "failed") or not trigger.job_uid:
        return None
    status = event.status
    kind = FAILED if trigger.transition == "failed" else COMPLETE
    done = status.true_condition(kind)
    end = status.completion_time or (done.last_transition_time if done else None) or event.time
    start = status.start_time
    if start is None or end is None:
        return None
    labels = dict(trigger.labels)
    return RunRecord(
        cluster=trigger.cluster,
        namespace=trigger.namespace,
        job=trigger.job,
        job_uid=trigger.job_uid,
        family=family_of(trigger.job, trigger.owner, labels, family_label),
        start=start,
        end=end,
        duration_seconds=_seconds(end - start),
        outcome="failed" if trigger.transition == "failed" else "succeeded",
        reason=redact_capped((done.reason if done and done.reason else trigger.reason) or "", 200),
        pod_count=status.succeeded + status.failed + status.active,
        retries=status.failed,
        source="event",
    )


def run_key(record: RunRecord) -> str:
    """`runs/<cluster>/<yyyy-mm-dd>/<family>/<uid>.json` (the day of the run's end, UTC)."""
    from jobwarden.sinks.storage import segment

    day = record.end.astimezone(dt.UTC).strftime("%Y-%m-%d")
    parts = (segment(record.cluster), day, segment(record.family), segment(record.job_uid))
    return "/".join((RUNS_PREFIX, *parts)) + ".json"


def append_run(store: ReportStore, record: RunRecord) -> bool:
    """Store `record` once; False (nothing written) if this run is already recorded."""
    return store.put_json(run_key(record), record.to_dict(), only_if_absent=True)


def _days(since: dt.datetime, until: dt.datetime) -> list[str]:
    day, last = since.astimezone(dt.UTC).date(), until.astimezone(dt.UTC).date()
    out = []
    while day <= last:
        out.append(day.isoformat())
        day += dt.timedelta(days=1)
    return out


def load_runs(
    store: ReportStore,
    since: dt.datetime,
    until: dt.datetime,
    clusters: Iterable[str] | None = None,
    *,
    family: str | None = None,
) -> list[RunRecord]:
    """The runs that ended in [since, until], oldest first (`clusters` None: every cluster).

    Lists one folder per cluster and day (a bucket listing per prefix) and reads the
    records, `READERS` at a time from a bucket (one by one from a folder, where threads
    only contend for the GIL); a record that does not parse is skipped with a warning.
    A storage outage raises (temporary).
    """
    from jobwarden.sinks.storage import segment

    days = _days(since, until)
    tail = f"{segment(family)}/" if family else ""
    if clusters is None:
        wanted = set(days)
        keys = [
            k
            for k in store.list(f"{RUNS_PREFIX}/")
            if len(parts := k.split("/")) == 5
            and parts[2] in wanted
            and (not family or parts[3] == segment(family))
        ]
    else:
        keys = [
            k
            for c in dict.fromkeys(clusters)
            for day in days
            for k in store.list(f"{RUNS_PREFIX}/{segment(c)}/{day}/{tail}")
        ]
    keys = [k for k in keys if k.endswith(".json")]
    remote = not store.url.startswith("file://")
    if remote and len(keys) > PARALLEL_FROM:  # a bucket takes milliseconds a read: overlap
        with ThreadPoolExecutor(READERS, thread_name_prefix="jobwarden-runs") as pool:
            loaded = list(pool.map(lambda k: _read(store, k), keys))
    else:
        loaded = [_read(store, k) for k in keys]
    runs = [r for r in loaded if r is not None and since <= r.end <= until]
    runs.sort(key=lambda r: (r.end, r.job_uid))
    return runs


def load_recent_runs(
    store: ReportStore,
    since: dt.datetime,
    until: dt.datetime,
    *,
    cluster: str,
    family: str,
    limit: int,
) -> list[RunRecord]:
    """At most `limit` runs of one family that ended in [since, until], oldest first.

    Lists the family's day folders newest first and reads no more than `limit` records: a
    CronJob that runs every minute has 20,000 records in 14 days, and a comparison made on
    every run must not read them all. Within the oldest day needed, records are taken in
    key order (a sample of that day: record names are uids, not times).
    """
    from jobwarden.sinks.storage import segment

    keys: list[str] = []
    for day in reversed(_days(since, until)):
        found = sorted(
            k
            for k in store.list(f"{RUNS_PREFIX}/{segment(cluster)}/{day}/{segment(family)}/")
            if k.endswith(".json")
        )
        keys += found[: limit - len(keys)]
        if len(keys) >= limit:
            break
    remote = not store.url.startswith("file://")
    if remote and len(keys) > PARALLEL_FROM:
        with ThreadPoolExecutor(READERS, thread_name_prefix="jobwarden-runs") as pool:
            loaded = list(pool.map(lambda k: _read(store, k), keys))
    else:
        loaded = [_read(store, k) for k in keys]
    runs = [r for r in loaded if r is not None and since <= r.end <= until]
    runs.sort(key=lambda r: (r.end, r.job_uid))
    return runs


def _read(store: ReportStore, key: str) -> RunRecord | None:
    try:
        return RunRecord.model_validate(store.get_json(key))
    except (ValidationError, PermanentError) as err:
        log.warning("skipping run record %s: %s", key, str(err)[:200])
        return None
