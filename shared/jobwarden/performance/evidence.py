"""Where the time of a run went when its pods are gone, read from the events they left.

The job controller deletes a Job's active pods when `activeDeadlineSeconds` passes, so
the runs that most need a phase breakdown (stuck pulling an image, never scheduled)
have no pods left when their `failed` event arrives. Their events remain for a while:
the Job's `SuccessfulCreate` ("Created pod: <name>") says when each pod was made, the
scheduler's `Scheduled` when it got a node, the kubelet's `Started` when a container
started. A phase with no closing event lasts until the run's end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from jobwarden.enrich import gone_pod_uids, job_events
from jobwarden.kube.events import Event
from jobwarden.kube.labels import CREATED_POD_PREFIX, SCHEDULED, STARTED, SUCCESSFUL_CREATE
from jobwarden.kube.objects import Job
from jobwarden.kubeapi import KubeApi


def run_events(api: KubeApi, job: Job) -> tuple[Event, ...]:
    """The events of `job` and of its gone pods (`enrich.job_events`: read by object)."""
    events = job_events(api, job)
    uids = {job.uid} | gone_pod_uids(job, events)
    return tuple(e for e in events if e.involved_uid in uids)


def _first(events: Iterable[Event], reason: str) -> dt.datetime | None:
    times = [e.first for e in events if e.reason == reason and e.first]
    return min(times) if times else None


def _span(start: dt.datetime | None, end: dt.datetime | None) -> float:
    return max(0.0, (end - start).total_seconds()) if start and end else 0.0


def event_phases(
    job: Job, events: Iterable[Event], end: dt.datetime
) -> list[tuple[float, float, float]]:
    """(pending, pulling, running) seconds of each pod the Job created, from events."""
    events = list(events)
    created = {
        e.message.removeprefix(CREATED_POD_PREFIX): e.first
        for e in events
        if e.involved_uid == job.uid and e.reason == SUCCESSFUL_CREATE and e.first
    }
    out = []
    for pod, made in created.items():
        own = [e for e in events if e.involved_kind == "Pod" and e.involved_name == pod]
        scheduled, started = _first(own, SCHEDULED), _first(own, STARTED)
        out.append(
            (
                _span(made, scheduled or end),
                _span(scheduled, started or end) if scheduled else 0.0,
                _span(started, end),
            )
        )
    return out
