"""The watcher's list+watch bookkeeping against a scripted API: 410, expiry, outages, Events.

The real API server cannot be made to compact on cue, so these scripts play the
answers it gives (an ERROR event with a 410 Status, a stream that breaks) and check
that the emitted JobEvents neither miss nor repeat a transition.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

from jobwarden.errors import ApiUnavailableError, ForbiddenError
from jobwarden.jobevent import JobEvent
from jobwarden.kubeapi import KubeApi
from jobwarden_exporter.metrics import Metrics
from jobwarden_exporter.watcher import JobWatch, WatchOptions

JSON = dict[str, Any]
NS = "batch"


def job(name: str, rv: int, *conditions: str, uid: str | None = None, started: bool = True) -> JSON:
    status: JSON = {
        "conditions": [
            {"type": c, "status": "True", "reason": "BackoffLimitExceeded"} for c in conditions
        ]
    }
    if started:
        status["startTime"] = dt.datetime.now(dt.UTC).isoformat()  # never stuck here
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": uid or f"uid-{name}",
            "resourceVersion": str(rv),
        },
        "spec": {},
        "status": status,
    }


def warning(uid: str, kind: str, name: str, count: int = 1, type_: str = "Warning") -> JSON:
    return {
        "metadata": {"uid": uid, "namespace": NS, "name": f"{name}.{uid}", "resourceVersion": "1"},
        "involvedObject": {"kind": kind, "namespace": NS, "name": name},
        "type": type_,
        "reason": "BackOff",
        "message": "Back-off pulling image",
        "count": count,
    }


def listing(rv: int, *items: JSON) -> JSON:
    return {"metadata": {"resourceVersion": str(rv)}, "items": list(items)}


class ScriptedApi:
    """Answers lists and watches from per-path scripts; blocks when a watch script runs out."""

    def __init__(self, scripts: dict[str, list[Any]], stop: threading.Event) -> None:
        self.scripts = scripts
        self.stop = stop
        self.calls = 0
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.idle = {path: threading.Event() for path in scripts}

    def _next(self, path: str) -> Any:
        script = self.scripts[path]
        if not script:
            self.idle[path].set()
            self.stop.wait()
            return None
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    def get(self, path: str, **params: Any) -> JSON:
        self.calls += 1
        self.requests.append(("LIST", path, params))
        step = self._next(path)
        assert isinstance(step, dict) and "items" in step, f"expected a list for {path}: {step}"
        return step

    def watch(self, path: str, *, timeout_seconds: int = 60, **params: Any) -> Iterator[JSON]:
        self.calls += 1
        self.requests.append(("WATCH", path, params))
        step = self._next(path)
        if step is None:
            return
        assert isinstance(step, list), f"expected watch events for {path}: {step}"
        for event in step:
            if isinstance(event, Exception):
                raise event
            if callable(event):  # a cue between the scripts of two watches
                event()
                continue
            yield event


JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"
EVENTS = f"/api/v1/namespaces/{NS}/events"
PODS = f"/api/v1/namespaces/{NS}/pods"
CRONJOBS = f"/apis/batch/v1/namespaces/{NS}/cronjobs"


def run_watch(
    scripts: dict[str, list[Any]],
    *,
    relay_events: bool = False,
    stuck_pod_after: dt.timedelta = dt.timedelta(minutes=5),
    now: dt.datetime | None = None,
) -> tuple[list[JobEvent], JobWatch, ScriptedApi]:
    """Run a JobWatch over the scripts until every script is used up (pods and CronJobs
    are watched when the scripts say how; `now` is the watch's clock)."""
    stop = threading.Event()
    api = ScriptedApi(scripts, stop)
    emitted: list[JobEvent] = []
    options = WatchOptions(
        cluster="c1",
        namespaces=(NS,),
        relay_events=relay_events,
        watch_pods=PODS in scripts,
        stuck_pod_after=stuck_pod_after,
        tick=0.05,
        watch_cronjobs=CRONJOBS in scripts,
    )
    watch = JobWatch(
        api,  # type: ignore[arg-type]
        options,
        emitted.append,
        metrics=Metrics(),
        now=(lambda: now) if now else lambda: dt.datetime.now(dt.UTC),
    )
    for reflector in watch.reflectors:
        reflector.backoff = (0.01, 0.02)
    watch.start()
    deadline = time.monotonic() + 10
    for idle in api.idle.values():
        assert idle.wait(max(0.0, deadline - time.monotonic())), f"scripts left: {api.scripts}"
    # let the watch finish handling what it read: until nothing new is emitted for 0.3 s
    settled, count = time.monotonic(), -1
    while time.monotonic() - settled < 0.3 and time.monotonic() < deadline + 5:
        if len(emitted) != count:
            settled, count = time.monotonic(), len(emitted)
        time.sleep(0.02)
    watch.stop()
    stop.set()
    return emitted, watch, api


def seen(emitted: list[JobEvent]) -> list[tuple[str, str]]:
    return [(e.name, e.transition) for e in emitted]


def test_410_gone_relists_and_reports_what_happened_during_the_gap_once() -> None:
    emitted, watch, api = run_watch(
        {
            JOBS: [
                listing(10, job("a", 9)),
                [
                    {"type": "MODIFIED", "object": job("a", 11, "FailureTarget")},
                    {
                        "type": "ERROR",
                        "object": {"kind": "Status", "code": 410, "reason": "Expired"},
                    },
                ],
                listing(20, job("a", 15, "FailureTarget", "Failed"), job("b", 18, "Complete")),
                [{"type": "MODIFIED", "object": job("a", 21, "FailureTarget", "Failed")}],
            ]
        }
    )
    assert seen(emitted) == [
        ("a", "started"),
        ("a", "failed"),
        ("b", "started"),
        ("b", "succeeded"),
    ]
    watches = [params for kind, _, params in api.requests if kind == "WATCH"]
    assert [w["resourceVersion"] for w in watches[:3]] == ["10", "20", "21"]
    assert watch.metrics.value("watch_restarts_total", resource=f"jobs in {NS}", reason="gone") == 1
    assert watch.job_reflectors[0].lists == 2


def test_watch_expiry_resumes_from_the_last_version_without_a_relist() -> None:
    emitted, watch, api = run_watch(
        {
            JOBS: [
                listing(10),
                [{"type": "ADDED", "object": job("a", 11, started=False)}],
                [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "30"}}}],
                [{"type": "MODIFIED", "object": job("a", 31)}],
                [],
                [{"type": "MODIFIED", "object": job("a", 40, "FailureTarget", "Failed")}],
            ]
        }
    )
    assert seen(emitted) == [("a", "started"), ("a", "failed")]
    versions = [p["resourceVersion"] for k, _, p in api.requests if k == "WATCH"]
    assert versions[:5] == ["10", "11", "30", "31", "31"]
    assert [k for k, _, _ in api.requests].count("LIST") == 1
    assert (
        watch.metrics.value("watch_restarts_total", reason="expired", resource=f"jobs in {NS}") >= 4
    )


def test_a_broken_stream_relists_forgets_deleted_jobs_and_reports_new_ones() -> None:
    broken = ApiUnavailableError("WATCH: the stream broke", method="WATCH", path=JOBS)
    emitted, watch, _ = run_watch(
        {
            JOBS: [
                listing(10, job("gone", 8), job("stays", 9)),
                [{"type": "MODIFIED", "object": job("stays", 11)}, broken],
                ApiUnavailableError("connection refused", method="GET", path=JOBS),
                listing(30, job("stays", 12), job("new", 25, "FailureTarget", "Failed")),
            ]
        }
    )
    assert seen(emitted) == [
        ("gone", "started"),
        ("stays", "started"),
        ("new", "started"),
        ("new", "failed"),
    ]
    assert watch.tracker.job("uid-gone") is None
    assert (
        watch.metrics.value("watch_restarts_total", reason="error", resource=f"jobs in {NS}") == 2
    )
    assert watch.health()[0]


def test_forbidden_watch_is_unhealthy_and_names_the_permission() -> None:
    forbidden = ForbiddenError(
        "WATCH jobs: 403 (needs `watch` on `jobs.batch` in namespace batch)",
        status=403,
        method="WATCH",
        path=JOBS,
    )
    stop = threading.Event()
    api = ScriptedApi({JOBS: [listing(1), [forbidden]]}, stop)
    options = WatchOptions(
        cluster="c1", namespaces=(NS,), relay_events=False, watch_pods=False, watch_cronjobs=False
    )
    watch = JobWatch(api, options, print)  # type: ignore[arg-type]
    watch.job_reflectors[0].backoff = (0.01, 5.0)
    watch.start()
    try:
        deadline = time.monotonic() + 5
        while watch.health()[0] and time.monotonic() < deadline:
            time.sleep(0.01)
        ok, reason = watch.health()
        assert not ok and "needs `watch` on `jobs.batch` in namespace batch" in reason
    finally:
        watch.stop()
        stop.set()


def test_warning_events_of_a_job_pod_are_relayed_once_per_count() -> None:
    emitted, _, _ = run_watch(
        {
            JOBS: [listing(10, job("pull", 9))],
            EVENTS: [
                listing(5, warning("e1", "Pod", "pull-x7k2p")),
                [
                    {"type": "MODIFIED", "object": warning("e1", "Pod", "pull-x7k2p")},
                    {"type": "MODIFIED", "object": warning("e1", "Pod", "pull-x7k2p", count=2)},
                    {"type": "ADDED", "object": warning("e2", "Pod", "pull-x7k2p", type_="Normal")},
                    {"type": "ADDED", "object": warning("e3", "Pod", "web-5d9f-x7k2p")},
                    {"type": "ADDED", "object": warning("e4", "Job", "pull")},
                ],
            ],
        },
        relay_events=True,
    )
    events = [e for e in emitted if e.transition == "event"]
    assert [(e.event or {})["metadata"]["uid"] for e in events] == ["e1", "e1", "e4"]
    assert [(e.event or {})["count"] for e in events] == [1, 2, 1]
    assert len({e.id for e in events}) == 3
    assert all(e.name == "pull" and e.reason == "BackOff" for e in events)


def test_an_event_that_arrives_before_its_job_is_relayed_once_the_job_is_known() -> None:
    event_seen = threading.Event()
    emitted, _, _ = run_watch(
        {
            JOBS: [
                listing(10),
                [
                    lambda: event_seen.wait(5),
                    lambda: time.sleep(0.1),
                    {"type": "ADDED", "object": job("late", 12, started=False)},
                ],
            ],
            EVENTS: [
                listing(5),
                [{"type": "ADDED", "object": warning("e1", "Pod", "late-ab12c")}, event_seen.set],
            ],
        },
        relay_events=True,
    )
    assert [(e.name, e.transition) for e in emitted] == [("late", "event")]


def pod(
    name: str,
    job_uid: str,
    *,
    waiting: str | None = None,
    since: dt.datetime | None = None,
    unschedulable: str | None = None,
) -> JSON:
    """A pod of the Job `job_uid`: waiting in `waiting`, unschedulable, or running."""
    at = (since or dt.datetime.now(dt.UTC)).isoformat()
    status: JSON = {"phase": "Pending"}
    if unschedulable is not None:
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": unschedulable,
                "lastTransitionTime": at,
            }
        ]
    elif waiting is not None:
        status["conditions"] = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": at},
            {"type": "ContainersReady", "status": "False", "lastTransitionTime": at},
        ]
        status["containerStatuses"] = [
            {
                "name": "worker",
                "state": {"waiting": {"reason": waiting, "message": "Back-off pulling image"}},
            }
        ]
    else:
        status = {
            "phase": "Running",
            "containerStatuses": [{"name": "worker", "state": {"running": {}}}],
        }
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"uid-{name}",
            "resourceVersion": "1",
            "labels": {"batch.kubernetes.io/controller-uid": job_uid},
        },
        "status": status,
    }


def test_a_pod_waiting_on_its_image_past_stuck_pod_after_makes_its_job_stuck_once() -> None:
    now = dt.datetime.now(dt.UTC)
    bounded = {**job("fetch", 9), "spec": {"activeDeadlineSeconds": 21600}}
    emitted, watch, api = run_watch(
        {
            JOBS: [listing(10, bounded, job("fine", 9))],
            PODS: [
                listing(
                    5,
                    pod(
                        "fetch-a1b2c",
                        "uid-fetch",
                        waiting="ImagePullBackOff",
                        since=now - dt.timedelta(minutes=6),
                    ),
                ),
                [
                    {
                        "type": "MODIFIED",
                        "object": pod(
                            "fetch-d3e4f",
                            "uid-fetch",
                            waiting="ErrImagePull",
                            since=now - dt.timedelta(minutes=7),
                        ),
                    },
                    {
                        "type": "ADDED",
                        "object": pod(
                            "fine-x1y2z",
                            "uid-fine",
                            waiting="ImagePullBackOff",
                            since=now - dt.timedelta(minutes=1),
                        ),
                    },
                ],
            ],
        },
        now=now,
    )
    stuck = [e for e in emitted if e.transition == "stuck"]
    (only,) = stuck  # once per Job, though two of its pods wait; none for the young wait
    assert only.name == "fetch"
    assert only.reason in ("ImagePullBackOff", "ErrImagePull")
    assert "(container worker) waiting in" in only.message
    assert "over the 5m00s threshold" in only.message
    assert "Back-off pulling image" in only.message
    assert (
        "LIST",
        PODS,
        {"labelSelector": "batch.kubernetes.io/controller-uid", "limit": 500},
    ) in api.requests
    assert watch.metrics.value("waiting_pods") == 3


def test_an_unschedulable_pod_makes_its_job_stuck_with_the_schedulers_words() -> None:
    now = dt.datetime.now(dt.UTC)
    why = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    emitted, _, _ = run_watch(
        {
            JOBS: [listing(10, job("gpu", 9))],
            PODS: [
                listing(
                    5,
                    pod(
                        "gpu-q1w2e",
                        "uid-gpu",
                        unschedulable=why,
                        since=now - dt.timedelta(minutes=30),
                    ),
                ),
            ],
        },
        now=now,
        stuck_pod_after=dt.timedelta(minutes=10),
    )
    (stuck,) = [e for e in emitted if e.transition == "stuck"]
    assert stuck.reason == "Unschedulable"
    assert stuck.message.startswith("pod gpu-q1w2e unschedulable for 30m00s, over the 10m00s")
    assert stuck.message.endswith(why)


def test_a_pod_that_starts_or_goes_away_is_forgotten_and_never_makes_its_job_stuck() -> None:
    now = dt.datetime.now(dt.UTC)
    long_ago = now - dt.timedelta(hours=1)
    emitted, watch, _ = run_watch(
        {
            JOBS: [
                listing(10),
                [
                    lambda: time.sleep(0.3),  # the pods are seen before their Jobs
                    {"type": "ADDED", "object": job("a", 11)},
                    {"type": "ADDED", "object": job("b", 12)},
                ],
            ],
            PODS: [
                listing(
                    5,
                    pod("a-1", "uid-a", waiting="CrashLoopBackOff", since=long_ago),
                    pod("b-1", "uid-b", waiting="CreateContainerConfigError", since=long_ago),
                ),
                [
                    {"type": "MODIFIED", "object": pod("a-1", "uid-a")},  # running again
                    {"type": "DELETED", "object": pod("b-1", "uid-b")},
                ],
            ],
        },
        now=now,
    )
    assert [e for e in emitted if e.transition == "stuck"] == []
    assert len(watch.waiting) == 0


def test_fake_api_is_not_a_kube_api() -> None:
    # the watcher gives each reflector its own connection pool only for real clients
    assert not issubclass(ScriptedApi, KubeApi)


def test_a_forbid_cronjob_whose_run_outlasts_the_next_schedule_is_announced_missed_once() -> None:
    t0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    long_run = job("nightly-29627281", 2)  # scheduled 12:01, still running
    long_run["metadata"]["ownerReferences"] = [{"kind": "CronJob", "name": "nightly", "uid": "cj"}]
    nightly = {
        "metadata": {
            "name": "nightly",
            "namespace": NS,
            "uid": "cj",
            "resourceVersion": "3",
            "creationTimestamp": "2026-05-01T11:59:30Z",
        },
        "spec": {"schedule": "* * * * *", "concurrencyPolicy": "Forbid"},
        "status": {
            "active": [{"name": "nightly-29627281"}],
            "lastScheduleTime": "2026-05-01T12:01:00Z",
        },
    }
    emitted, _, _ = run_watch(
        {JOBS: [listing(2, long_run), []], CRONJOBS: [listing(3, nightly), []]},
        now=t0 + dt.timedelta(minutes=4, seconds=10),  # 12:02 is 2m10s late
    )
    missed = [e for e in emitted if e.transition == "missed"]
    assert [(e.name, e.uid, e.reason) for e in missed] == [("nightly", "cj", "ConcurrencyForbid")]
    assert missed[0].cronjob is not None
    assert missed[0].cronjob.scheduled_time == t0 + dt.timedelta(minutes=2)
    assert "the previous run nightly-29627281 was still active" in missed[0].message
