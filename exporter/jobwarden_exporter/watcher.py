"""Keep a cluster's Jobs (and the Warning Events of Jobs and their Pods) in view; emit JobEvents.

`JobWatch` runs one leadership term: a `Reflector` per namespace (or one for all) for
Jobs and one for Events, a `JobTracker` that turns observations into transitions, and a
ticker that finds stuck Jobs. Every transition becomes a `JobEvent` handed to `emit`
(the publisher's `submit`). The first list of a term reconciles: finished Jobs report
their terminal transition (a failure that happened while no exporter ran is published;
its id is deterministic, so consumers drop a repeat). Relists after a gap diff against
the last known state, so within a term nothing is lost or repeated.

Pods (a separate, optional watch: `watch_pods`): the pods of Jobs (label
`batch.kubernetes.io/controller-uid`), only to notice one that waits in a state it will not
leave on its own (`waitingpods`); once it has waited `stuck_pod_after`, the ticker
announces its Job `stuck` with that state as the reason, deadline or not.

Events: the watch takes `type=Warning` only. An Event's Job is found by the involved
object (a Job by uid or name; a Pod by its generated name `<job>-[<index>-]xxxxx`); an
Event whose Job is not known yet waits up to `unmatched_ttl` seconds for it. Each Event
is relayed once per count (a repeat whose count went up is relayed again, with a new id).

CronJobs: a `Reflector` per scope lists and watches them (same label selector as Jobs),
and the Jobs they own are noted as they are seen; once Jobs and CronJobs are listed, the
ticker asks the `CronJobTracker` which scheduled times passed without a Job (`missed`)
and which CronJobs stopped succeeding (`no-success`), see `jobwarden_exporter.cronjobs`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from jobwarden.jobevent import JobEvent
from jobwarden.kube import paths
from jobwarden.kube.events import event_key, event_view
from jobwarden.kube.labels import CONTROLLER_UID_LABELS, NOTIFY, SILENCE
from jobwarden.kube.objects import Job
from jobwarden.kubeapi import KubeApi
from jobwarden_exporter.cronjobs import CronJobTracker, ScheduleAlert
from jobwarden_exporter.metrics import Metrics
from jobwarden_exporter.reflector import JSON, Reflector
from jobwarden_exporter.tracker import EventMemory, JobTracker
from jobwarden_exporter.transitions import Detected
from jobwarden_exporter.waitingpods import WaitingPods

log = logging.getLogger("jobwarden.exporter")
UNMATCHED_LIMIT = 1000


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WatchOptions:
    """What one exporter watches and how (CLI flags / `exporter` settings)."""

    cluster: str
    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    label_selector: str | None = None
    stuck_after: dt.timedelta = dt.timedelta(hours=1)
    stuck_pod_after: dt.timedelta = dt.timedelta(minutes=5)
    watch_pods: bool = True  # list/watch the pods of Jobs to see stuck ones early
    watch_timeout: int = 300  # seconds a watch runs before the server ends it
    relay_events: bool = True
    tick: float = 5.0  # seconds between stuck checks
    unmatched_ttl: float = 120.0
    watch_cronjobs: bool = True
    missed_schedule_grace: dt.timedelta = dt.timedelta(minutes=2)
    no_success_after: int = 3


def job_event(cluster: str, job: Job, detected: Detected, *, event: JSON | None = None) -> JobEvent:
    """The JobEvent of one transition of `job` (ARCHITECTURE.md §3.3)."""
    status = job.raw.get("status") or {}
    return JobEvent.model_validate(
        {
            "cluster": cluster,
            "namespace": job.namespace,
            "name": job.name,
            "uid": job.uid,
            "transition": detected.transition,
            "reason": detected.reason,
            "message": detected.message,
            "time": detected.time,
            "status": {
                "conditions": status.get("conditions") or [],
                "active": job.active,
                "succeeded": job.succeeded,
                "failed": job.failed,
                "startTime": status.get("startTime"),
                "completionTime": status.get("completionTime"),
            },
            "owner": job.owner_cronjob,
            "labels": job.labels,
            "generation": job.generation or None,
            "event": event,
        }
    )


def cronjob_event(cluster: str, alert: ScheduleAlert) -> JobEvent:
    """The JobEvent of a CronJob's `missed` / `no-success` (ARCHITECTURE.md §3.3)."""
    cronjob = alert.cronjob
    return JobEvent.model_validate(
        {
            "cluster": cluster,
            "namespace": cronjob.namespace,
            "name": cronjob.name,
            "uid": cronjob.uid,
            "transition": alert.transition,
            "reason": alert.reason,
            "message": alert.message,
            "time": alert.scheduled,
            "owner": cronjob.name,
            "labels": dict(cronjob.labels),
            "cronjob": {
                "schedule": cronjob.schedule,
                "timeZone": cronjob.time_zone,
                "scheduledTime": alert.scheduled,
                "suspend": cronjob.suspend,
                "concurrencyPolicy": cronjob.concurrency_policy,
                "startingDeadlineSeconds": cronjob.starting_deadline_seconds,
                "lastScheduleTime": cronjob.last_schedule,
                "lastSuccessfulTime": cronjob.last_successful,
                "active": list(cronjob.active),
                "annotations": {
                    k: v for k, v in cronjob.annotations.items() if k in (NOTIFY, SILENCE)
                },
            },
        }
    )


def slim_job(obj: JSON) -> JSON:
    """The parts of a Job the exporter keeps in memory (no pod template, no managedFields)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    return {
        "metadata": {
            k: meta[k]
            for k in (
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "generation",
                "labels",
                "creationTimestamp",
                "ownerReferences",
            )
            if k in meta
        },
        "spec": {k: v for k, v in spec.items() if k not in ("template", "selector")},
        "status": obj.get("status") or {},
    }


def _clean_event(event: JSON) -> JSON:
    meta = {k: v for k, v in (event.get("metadata") or {}).items() if k != "managedFields"}
    return {**event, "metadata": meta}


class JobWatch:
    """One term of watching: start(), then stop(); emits JobEvents until stopped."""

    def __init__(
        self,
        api: KubeApi,
        options: WatchOptions,
        emit: Callable[[JobEvent], object],
        *,
        metrics: Metrics | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.api = api
        self.options = options
        self.metrics = metrics or Metrics()
        self._emit = emit
        self._now = now
        self._stop = threading.Event()
        self._emit_lock = threading.Lock()
        self.tracker = JobTracker(
            stuck_after=options.stuck_after,
            on_new=lambda _job: self.metrics.inc("jobs_seen_total"),
        )
        self.relayed = EventMemory()
        self.waiting = WaitingPods()
        self.cronjobs = CronJobTracker(
            grace=options.missed_schedule_grace, no_success_after=options.no_success_after
        )
        self._unmatched: dict[str, tuple[JSON, float]] = {}
        self._unmatched_lock = threading.Lock()
        scopes: tuple[str | None, ...] = options.namespaces or (None,)
        job_params = {"labelSelector": options.label_selector} if options.label_selector else {}
        self.job_reflectors = [
            self._reflector(
                paths.jobs(ns),
                f"jobs in {ns}" if ns else "jobs",
                functools.partial(self._jobs_listed, ns),
                self._job_changed,
                job_params,
            )
            for ns in scopes
        ]
        self.cronjob_reflectors = [
            self._reflector(
                paths.cronjobs(ns),
                f"cronjobs in {ns}" if ns else "cronjobs",
                functools.partial(self._cronjobs_listed, ns),
                self._cronjob_changed,
                job_params,
            )
            for ns in (scopes if options.watch_cronjobs else ())
        ]
        self.event_reflectors = [
            self._reflector(
                paths.events(ns),
                f"events in {ns}" if ns else "events",
                functools.partial(self._events_listed, ns),
                self._event_changed,
                {"fieldSelector": "type=Warning"},
            )
            for ns in (scopes if options.relay_events else ())
        ]
        # the pods of Jobs: only to see one stuck early (`waitingpods`)
        self.pod_reflectors = [
            self._reflector(
                paths.pods(ns),
                f"pods of jobs in {ns}" if ns else "pods of jobs",
                functools.partial(self._pods_listed, ns),
                self._pod_changed,
                {"labelSelector": CONTROLLER_UID_LABELS[0]},
            )
            for ns in (scopes if options.watch_pods else ())
        ]
        self._threads: list[threading.Thread] = []

    @property
    def reflectors(self) -> list[Reflector]:
        return [
            *self.job_reflectors,
            *self.cronjob_reflectors,
            *self.pod_reflectors,
            *self.event_reflectors,
        ]

    def _reflector(
        self,
        path: str,
        resource: str,
        on_list: Callable[[list[JSON], bool], None],
        on_event: Callable[[str, JSON], None],
        params: dict[str, str],
    ) -> Reflector:
        # each long-running watch gets its own connection pool (KubeApi keeps 4 per pool)
        # (same credential source: a rotated token reaches every watch)
        api = KubeApi(self.api.source) if isinstance(self.api, KubeApi) else self.api
        return Reflector(
            api,
            path,
            resource=resource,
            on_list=on_list,
            on_event=on_event,
            stop=self._stop,
            metrics=self.metrics,
            params=params,
            watch_timeout=self.options.watch_timeout,
        )

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> JobWatch:
        for reflector in [*self.job_reflectors, *self.cronjob_reflectors, *self.pod_reflectors]:
            self._thread(reflector.run, reflector.resource)
        self._thread(self._after_jobs_synced, "events-starter")
        self._thread(self._ticker, "stuck-ticker")
        return self

    def _thread(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"exporter {name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _after_jobs_synced(self) -> None:
        """Events are matched to known Jobs: start their watch once Jobs are listed."""
        for reflector in self.job_reflectors:
            while not reflector.synced.wait(0.5):
                if self._stop.is_set():
                    return
        for reflector in self.event_reflectors:
            if not self._stop.is_set():
                self._thread(reflector.run, reflector.resource)

    def stop(self, timeout: float = 0.0) -> None:
        """Stop emitting now; threads end at their next event or watch expiry."""
        with self._emit_lock:
            self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait_synced(self, timeout: float) -> bool:
        """True once every collection was listed (Jobs and CronJobs first, then pods and
        Events)."""
        deadline = time.monotonic() + timeout
        for reflector in self.reflectors:
            if not reflector.synced.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    @property
    def _reflectors(self) -> list[Reflector]:
        return [*self.job_reflectors, *self.cronjob_reflectors, *self.event_reflectors]

    def health(self) -> tuple[bool, str]:
        states = [r.health() for r in self.reflectors]
        bad = [reason for ok, reason in states if not ok]
        if bad:
            return False, "; ".join(bad)
        return True, f"watching {len(self.tracker)} Jobs; " + "; ".join(r for _, r in states)

    @property
    def api_calls(self) -> int:
        reflectors = self.reflectors
        return sum(r.api.calls for r in reflectors if r.api is not self.api) + self.api.calls

    # -- Jobs -----------------------------------------------------------------------
    def _jobs_listed(self, namespace: str | None, items: list[JSON], initial: bool) -> None:
        for item in items:
            self.cronjobs.job_seen(item)
        jobs = [Job.from_json(slim_job(item)) for item in items]
        for job, detected in self.tracker.sync(jobs, namespace=namespace, startup=initial):
            self._report(job, detected)
        self.metrics.set("tracked_jobs", float(len(self.tracker)))

    def _job_changed(self, kind: str, obj: JSON) -> None:
        self.cronjobs.job_seen(obj)  # a deleted Job still ran for its scheduled time
        job = Job.from_json(slim_job(obj))
        found = self.tracker.deleted(job) if kind == "DELETED" else self.tracker.observe(job)
        for detected in found:
            self._report(job, detected)
        if kind == "ADDED" and self._unmatched:
            self._retry_unmatched()

    def _ticker(self) -> None:
        while not self._stop.wait(self.options.tick):
            now = self._now()
            for job, detected in self.tracker.due_stuck(now):
                self._report(job, detected)
            self._stuck_pods(now)
            if self._unmatched:
                self._retry_unmatched()
            self.metrics.set("tracked_jobs", float(len(self.tracker)))
            if self.cronjob_reflectors and all(
                r.synced.is_set() for r in [*self.job_reflectors, *self.cronjob_reflectors]
            ):
                for alert in self.cronjobs.due(self._now()):
                    self._announce(alert)

    # -- CronJobs ---------------------------------------------------------------------
    def _cronjobs_listed(self, namespace: str | None, items: list[JSON], initial: bool) -> None:
        for problem in self.cronjobs.sync(items, namespace=namespace, now=self._now()):
            log.warning(
                "[%s] CronJob %s; not checked for missed runs", self.options.cluster, problem
            )

    def _cronjob_changed(self, kind: str, obj: JSON) -> None:
        if kind == "DELETED":
            self.cronjobs.deleted(obj)
            return
        problem = self.cronjobs.observe(obj, now=self._now())
        if problem:
            meta = obj.get("metadata") or {}
            log.warning(
                "[%s %s/%s] not checked for missed runs: %s",
                self.options.cluster,
                meta.get("namespace"),
                meta.get("name"),
                problem,
            )

    def _announce(self, alert: ScheduleAlert) -> None:
        cronjob = alert.cronjob
        try:
            job_ev = cronjob_event(self.options.cluster, alert)
        except ValidationError as err:
            self.metrics.inc("dropped_total", transition=alert.transition, reason="invalid")
            log.error(
                "[%s %s/%s] %s not published: not a valid JobEvent (%s)",
                self.options.cluster,
                cronjob.namespace,
                cronjob.name,
                alert.transition,
                "; ".join(e["msg"] for e in err.errors(include_input=False)[:3]),
            )
            return
        with self._emit_lock:
            if self._stop.is_set():
                return
            self.metrics.inc("transitions_total", transition=alert.transition)
            log.info(
                "[%s %s/%s] cronjob %s (%s): %s",
                self.options.cluster,
                cronjob.namespace,
                cronjob.name,
                alert.transition,
                alert.reason,
                alert.message,
            )
            self._emit(job_ev)

    # -- Pods ---------------------------------------------------------------------------
    def _pods_listed(self, namespace: str | None, items: list[JSON], initial: bool) -> None:
        self.waiting.sync(items, namespace=namespace, now=self._now())
        self.metrics.set("waiting_pods", float(len(self.waiting)))

    def _pod_changed(self, kind: str, obj: JSON) -> None:
        if kind == "DELETED":
            self.waiting.forget(obj)
        else:
            self.waiting.observe(obj, now=self._now())

    def _stuck_pods(self, now: dt.datetime) -> None:
        """Announce `stuck` for the Jobs of pods that waited past `stuck_pod_after`."""
        for waiting in self.waiting.due(now, self.options.stuck_pod_after):
            found = self.tracker.due_stuck_pod(waiting, now, self.options.stuck_pod_after)
            if found is not None:
                self._report(*found)
        self.metrics.set("waiting_pods", float(len(self.waiting)))

    def _report(self, job: Job, detected: Detected, *, event: JSON | None = None) -> None:
        try:
            job_ev = job_event(self.options.cluster, job, detected, event=event)
        except ValidationError as err:
            self.metrics.inc("dropped_total", transition=detected.transition, reason="invalid")
            log.error(
                "[%s %s/%s] %s not published: not a valid JobEvent (%s)",
                self.options.cluster,
                job.namespace,
                job.name,
                detected.transition,
                "; ".join(e["msg"] for e in err.errors(include_input=False)[:3]),
            )
            return
        with self._emit_lock:
            if self._stop.is_set():
                return
            self.metrics.inc("transitions_total", transition=detected.transition)
            log.info(
                "[%s %s/%s] %s%s",
                self.options.cluster,
                job.namespace,
                job.name,
                detected.transition,
                f" ({detected.reason})" if detected.reason else "",
            )
            self._emit(job_ev)

    # -- Events -----------------------------------------------------------------------
    def _events_listed(self, namespace: str | None, items: list[JSON], initial: bool) -> None:
        self.relayed.retain(items, namespace=namespace)
        for item in items:
            self._relay(item)

    def _event_changed(self, kind: str, obj: JSON) -> None:
        if kind == "DELETED":
            self.relayed.forget(obj)
            return
        self._relay(obj)

    def _job_of(self, event: JSON) -> Job | None:
        involved = event.get("involvedObject") or {}
        namespace, name = str(involved.get("namespace") or ""), str(involved.get("name") or "")
        if involved.get("kind") == "Job":
            uid = str(involved.get("uid") or "")
            return (self.tracker.job(uid) if uid else None) or self.tracker.job_named(
                namespace, name
            )
        if involved.get("kind") == "Pod":
            return self.tracker.job_of_pod(namespace, name)
        return None

    def _relay(self, event: JSON, *, since: float | None = None) -> None:
        """Relay one Warning Event of a known Job or of its Pod (once per count)."""
        if event.get("type") != "Warning":
            return
        if (event.get("involvedObject") or {}).get("kind") not in ("Job", "Pod"):
            return
        job = self._job_of(event)
        if job is None:
            self._wait_for_job(event, since)
            return
        if not self.relayed.fresh(event):
            return
        view = event_view(event)
        detected = Detected("event", view.reason, view.message, view.last)
        self._report(job, detected, event=_clean_event(event))

    def _wait_for_job(self, event: JSON, since: float | None) -> None:
        """Keep an Event whose Job is not known (yet) for `unmatched_ttl` seconds."""
        key = event_key(event)[0]
        now = time.monotonic()
        since = now if since is None else since
        with self._unmatched_lock:
            if not key or now - since > self.options.unmatched_ttl:
                return
            if len(self._unmatched) < UNMATCHED_LIMIT or key in self._unmatched:
                self._unmatched[key] = (event, since)

    def _retry_unmatched(self) -> None:
        with self._unmatched_lock:
            waiting, self._unmatched = self._unmatched, {}
        for event, since in waiting.values():
            self._relay(event, since=since)
