"""Why did this Job fail, or why is it stuck? The Job's headline cause and each pod's.

Each pod gets a cause (`podcauses`: OOMKilled, non-zero exit, image pull, config error,
crash loop, eviction, node lost, unschedulable...); the Job's Failed condition reason
(BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy, FailedIndexes...) frames them.
A stuck Job (not failed) takes its most common pod cause as the headline.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, replace

from jobwarden.enrich import Enrichment
from jobwarden.kube.labels import (
    BACKOFF_LIMIT_EXCEEDED,
    DEADLINE_EXCEEDED,
    FAILED_INDEXES,
    FAILED_SCHEDULING,
    FAILURE_TARGET,
    MAX_FAILED_INDEXES_EXCEEDED,
    POD_FAILURE_POLICY,
)
from jobwarden.kube.objects import Job
from jobwarden.podcauses import Cause, event_causes, fmt_seconds, pod_cause

__all__ = ["Cause", "FailureAnalysis", "analyse", "needs_analysis", "reason_of"]


@dataclass(frozen=True)
class FailureAnalysis:
    job_reason: str  # the Failed condition's reason ("" when the Job has not failed)
    headline: Cause
    pod_causes: tuple[Cause, ...]
    identical_retries: bool  # every attempt failed the same way
    failed_at: dt.datetime | None
    runtime: dt.timedelta | None

    @property
    def severity(self) -> str:
        return "error" if self.job_reason else "warning"


def reason_of(job: Job) -> str:
    """The reason of the Job's Failed (else FailureTarget) condition, or ""."""
    failed = job.failed_condition or job.condition(FAILURE_TARGET)
    return failed.reason if failed else ""


def _deadline_kills(enrichment: Enrichment, known: set[str | None]) -> list[Cause]:
    """Pods deleted at the Job's deadline with no other cause: how long each ran."""
    deadline = enrichment.job.active_deadline_seconds
    return [
        Cause(
            DEADLINE_EXCEEDED,
            f"Pod {r.pod.name} was deleted at the Job's deadline ({deadline}s) after running "
            f"{fmt_seconds(r.phases.running)}"
            if r.phases.running is not None
            else f"Pod {r.pod.name} was deleted at the Job's deadline ({deadline}s) before it ran",
            "The job controller deletes a Job's active pods when activeDeadlineSeconds passes.",
            ("See the Job's deadline analysis",),
            (),
            r.pod.name,
        )
        for r in enrichment.gone_pods
        if r.pod.name not in known
    ]


def needs_analysis(enrichment: Enrichment) -> bool:
    """Whether a report on this Job should carry a cause: it failed, or a pod waits in a
    state that will not fix itself (the Job is stuck, announced or not)."""
    return enrichment.job.failed_condition is not None or any(
        r.pod.waiting is not None for r in enrichment.pods
    )


def analyse(enrichment: Enrichment) -> FailureAnalysis:
    """Classify a failed (or stuck) Job's cause, with evidence and next steps."""
    job = enrichment.job
    failed = job.failed_condition or job.condition(FAILURE_TARGET)
    scheduling = {
        e.involved_name: e.message for e in enrichment.events if e.reason == FAILED_SCHEDULING
    }
    causes = [
        c
        for c in (
            pod_cause(job, r, scheduling.get(r.pod.name), enrichment.usage_note)
            for r in enrichment.pods
        )
        if c is not None
    ]
    causes += event_causes(job, enrichment.events, {r.pod.name for r in enrichment.pods})
    if reason_of(job) == DEADLINE_EXCEEDED:
        causes += _deadline_kills(enrichment, {c.pod for c in causes})
    keys = Counter(c.key for c in causes)
    identical = len(causes) > 1 and len(keys) == 1
    common = max(causes, key=lambda c: (keys[c.key], c.pod or "")) if causes else None
    start = job.start_time or job.created
    failed_at = failed.last_transition if failed else None
    runtime = (failed_at - start) if failed_at and start else None
    reason = failed.reason if failed else ""
    headline = _headline(
        job, reason, failed.message if failed else "", common, causes, runtime, identical
    )
    if reason == DEADLINE_EXCEEDED:
        ran = tuple(
            f"pod {r.pod.name} ran {fmt_seconds(r.phases.running)} before the deadline stopped it"
            for r in enrichment.all_pods
            if r.phases.running is not None
        )
        headline = replace(headline, evidence=headline.evidence + ran[:5])
    return FailureAnalysis(reason, headline, tuple(causes), identical, failed_at, runtime)


def _headline(
    job: Job,
    reason: str,
    message: str,
    common: Cause | None,
    causes: list[Cause],
    runtime: dt.timedelta | None,
    identical: bool,
) -> Cause:
    if reason == DEADLINE_EXCEEDED:
        stuck = [
            c
            for c in causes
            if c.code in ("ImagePull", "Unschedulable", "CreateContainerConfigError")
        ]
        steps = [
            f"Raise activeDeadlineSeconds ({job.active_deadline_seconds}s) above the Job's real "
            "run time (see the performance report's p95), or make the work faster",
        ]
        if stuck:
            steps.insert(0, f"First fix why the pods never ran: {stuck[0].title}")
        never = f"; its pods never ran: {stuck[0].title}" if stuck else ""
        return Cause(
            DEADLINE_EXCEEDED,
            f"Job ran {fmt_seconds(runtime)}, past its deadline of "
            f"{job.active_deadline_seconds}s{never}",
            "Kubernetes stopped the Job because activeDeadlineSeconds passed before it finished.",
            tuple(steps),
            tuple(x for x in (message,) if x) + tuple(e for c in stuck[:1] for e in c.evidence),
        )
    if reason == POD_FAILURE_POLICY:
        return Cause(
            POD_FAILURE_POLICY,
            "A podFailurePolicy rule failed the Job at once",
            "A pod failure matched a FailJob rule of the Job's podFailurePolicy, so no retries "
            "were made.",
            (
                "If this failure should be retried, change the rule's action to Count or Ignore",
                *(common.next_steps if common else ()),
            ),
            tuple(x for x in (message,) if x) + ((common.title,) if common else ()),
            common.pod if common else None,
            common.container if common else None,
        )
    if reason in (FAILED_INDEXES, MAX_FAILED_INDEXES_EXCEEDED):
        return Cause(
            reason,
            f"Indexes {job.failed_indexes or '?'} of this Indexed Job failed",
            "Some completion indexes failed more often than backoffLimitPerIndex allows"
            + (
                " and maxFailedIndexes was exceeded."
                if reason == MAX_FAILED_INDEXES_EXCEEDED
                else "."
            ),
            ("Look at the failed indexes' pods below", *(common.next_steps if common else ())),
            tuple(x for x in (message,) if x),
            common.pod if common else None,
            common.container if common else None,
        )
    if common is None and not reason:
        return Cause(
            "Stuck",
            "No pod shows why the Job is not progressing",
            "Its pods are neither failing nor waiting in a state that names a cause.",
            (
                "Read the events in the timeline and the pods report",
                "Set activeDeadlineSeconds so that a hung Job ends on its own",
            ),
        )
    if common is None:
        return Cause(
            reason or "Unknown",
            f"Job failed ({reason or 'no reason recorded'}) and no pod shows why",
            "The pods that would show the cause are gone or never started.",
            (
                "Read the Job's events in the timeline",
                "Set ttlSecondsAfterFinished long enough to keep failed pods for inspection",
            ),
            tuple(x for x in (message,) if x),
        )
    if reason == BACKOFF_LIMIT_EXCEEDED:
        attempts = len(causes)
        note = (
            f"All {attempts} attempts failed the same way, so more retries would not help"
            if identical
            else ("1 attempt failed" if attempts == 1 else f"{attempts} attempts failed")
        )
        steps = list(common.next_steps)
        if identical and (job.backoff_limit or 0) > 1:
            steps.append(
                f"backoffLimit is {job.backoff_limit} but every retry fails identically: lower it "
                "or use podFailurePolicy to fail fast on this exit code"
            )
        return Cause(
            common.code,
            common.title,
            f"{common.explanation} {note} (backoffLimit {job.backoff_limit}).",
            tuple(steps),
            common.evidence,
            common.pod,
            common.container,
        )
    return common
