"""Missed runs and silent CronJobs, told from CronJob and Job states at an injected time."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobwarden.intake import parse_cloudevent
from jobwarden.jobevent import CLOUDEVENT_TYPE_PREFIX, event_id, pubsub_attributes, rfc3339
from jobwarden_exporter.cronjobs import SETTLE, CronJobTracker, ScheduleAlert, scheduled_time_of
from jobwarden_exporter.watcher import cronjob_event

T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
GRACE = dt.timedelta(minutes=2)
UID = "cj-uid-1"


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def iso(moment: dt.datetime) -> str:
    return rfc3339(moment)


def cronjob(
    *,
    schedule: str = "* * * * *",
    zone: str | None = None,
    created: float = 0.5,
    suspend: bool = False,
    deadline: int | None = None,
    policy: str = "Allow",
    last_schedule: float | None = None,
    last_success: float | None = None,
    active: tuple[str, ...] = (),
) -> dict[str, Any]:
    spec: dict[str, Any] = {"schedule": schedule, "suspend": suspend, "concurrencyPolicy": policy}
    if zone:
        spec["timeZone"] = zone
    if deadline is not None:
        spec["startingDeadlineSeconds"] = deadline
    status: dict[str, Any] = {"active": [{"kind": "Job", "name": n} for n in active]}
    if last_schedule is not None:
        status["lastScheduleTime"] = iso(at(last_schedule))
    if last_success is not None:
        status["lastSuccessfulTime"] = iso(at(last_success))
    return {
        "metadata": {
            "name": "nightly",
            "namespace": "batch",
            "uid": UID,
            "creationTimestamp": iso(at(created)),
            "labels": {"team": "data"},
            "annotations": {"jobwarden.dev/notify": "data-team", "other": "x"},
        },
        "spec": spec,
        "status": status,
    }


def run(minutes: float, *, finished: float | None = None, annotate: bool = False) -> dict[str, Any]:
    """A Job the controller made for the time `minutes` after T0 (named as it names them)."""
    scheduled = at(minutes)
    meta: dict[str, Any] = {
        "name": f"nightly-{int(scheduled.timestamp()) // 60}",
        "namespace": "batch",
        "uid": f"job-{minutes}",
        "creationTimestamp": iso(scheduled + dt.timedelta(seconds=1)),
        "ownerReferences": [{"kind": "CronJob", "name": "nightly", "uid": UID}],
    }
    if annotate:
        meta["name"] = f"renamed-{minutes}"
        meta["annotations"] = {"batch.kubernetes.io/cronjob-scheduled-timestamp": iso(scheduled)}
    status: dict[str, Any] = {"startTime": iso(scheduled + dt.timedelta(seconds=1))}
    if finished is not None:
        status["completionTime"] = iso(at(finished))
        status["conditions"] = [
            {"type": "Complete", "status": "True", "lastTransitionTime": iso(at(finished))}
        ]
    else:
        status["active"] = 1
    return {"metadata": meta, "spec": {}, "status": status}


def tracker(*objs: dict[str, Any], now: dt.datetime, no_success_after: int = 0) -> CronJobTracker:
    t = CronJobTracker(grace=GRACE, no_success_after=no_success_after)
    for obj in objs:
        if obj["metadata"].get("ownerReferences"):
            t.job_seen(obj)
        else:
            t.observe(obj, now=now)
    return t


def judged(t: CronJobTracker, minutes: float) -> list[ScheduleAlert]:
    return t.due(at(minutes))


def allowance_after(minutes: float) -> float:
    return minutes + (GRACE + SETTLE).total_seconds() / 60


def test_a_time_whose_job_was_started_is_not_missed() -> None:
    t = tracker(cronjob(), now=at(0))
    t.job_seen(run(1, finished=1.2))
    t.observe(cronjob(last_schedule=1, last_success=1.2), now=at(2))
    t.job_seen(run(2, finished=2.2))
    t.job_seen(run(3, finished=3.2, annotate=True))  # known by its annotation, not its name
    assert judged(t, allowance_after(3) + 0.1) == []


def test_a_run_whose_job_the_exporter_never_sees_counts_by_last_schedule_time() -> None:
    # e.g. its Jobs lack the label the exporter selects on: the CronJob's status tells
    t = tracker(cronjob(), now=at(0))
    for minute in (1, 2, 3):
        t.observe(cronjob(last_schedule=minute), now=at(minute + 0.1))
    assert judged(t, allowance_after(3) + 0.1) == []
    (alert,) = judged(t, allowance_after(4) + 0.1)  # 12:04 was never scheduled
    assert alert.scheduled == at(4)


def test_a_time_without_a_job_is_missed_only_once_the_grace_has_passed() -> None:
    t = tracker(cronjob(last_schedule=1), run(1, finished=1.2), now=at(0))
    assert judged(t, allowance_after(2) - 0.05) == []
    (alert,) = judged(t, allowance_after(2) + 0.05)
    assert (alert.transition, alert.scheduled, alert.reason) == ("missed", at(2), "NotStarted")
    assert alert.message == (
        "no Job was started for the run scheduled at 2026-05-01T12:02:00Z within the 2m grace "
        "(exporter.missedScheduleGrace)"
    )
    assert judged(t, allowance_after(2) + 0.1) == []  # announced once


def test_starting_deadline_seconds_replaces_the_grace() -> None:
    t = tracker(cronjob(deadline=30, last_schedule=1), run(1, finished=1.2), now=at(0))
    (alert,) = judged(t, 2.5 + SETTLE.total_seconds() / 60 + 0.05)  # 30 s + settle after 12:02
    assert alert.scheduled == at(2)
    assert "within startingDeadlineSeconds (30s)" in alert.message
    grace_only = tracker(cronjob(last_schedule=1), run(1, finished=1.2), now=at(0))
    assert judged(grace_only, 2.5 + SETTLE.total_seconds() / 60 + 0.05) == []


def test_a_suspended_cronjob_stays_quiet_and_its_suspended_times_are_not_missed_later() -> None:
    t = tracker(cronjob(suspend=True), now=at(0))
    assert judged(t, 10) == []
    t.observe(cronjob(suspend=True), now=at(10))
    t.observe(cronjob(suspend=False), now=at(10.5))
    assert judged(t, 11) == []  # 12:03..12:08 were suspended: not misses
    alerts = judged(t, allowance_after(12) + 0.05)
    assert [a.scheduled for a in alerts] == [at(11), at(12)]  # after the resume: misses again


def test_forbid_with_a_run_still_active_names_the_policy_and_the_run() -> None:
    long_run = run(1)  # still active
    t = tracker(
        cronjob(policy="Forbid", last_schedule=1, active=(long_run["metadata"]["name"],)),
        long_run,
        now=at(0),
    )
    (alert,) = judged(t, allowance_after(2) + 0.05)
    assert (alert.scheduled, alert.reason) == (at(2), "ConcurrencyForbid")
    assert alert.message.endswith(
        f"concurrencyPolicy is Forbid and the previous run {long_run['metadata']['name']} was "
        "still active, so the cronjob controller skipped this one"
    )


def test_forbid_names_the_run_active_at_that_time_even_after_it_finished() -> None:
    blocker = run(1, finished=2.5)
    t = tracker(cronjob(policy="Forbid", last_schedule=1), blocker, now=at(0))
    t.observe(cronjob(policy="Forbid", last_schedule=3), now=at(3.1))  # the next run started
    t.job_seen(run(3))
    (alert,) = judged(t, allowance_after(3) + 0.05)
    assert (alert.scheduled, alert.reason) == (at(2), "ConcurrencyForbid")
    assert blocker["metadata"]["name"] in alert.message


def test_a_starting_deadline_too_short_for_the_controller_is_named() -> None:
    t = tracker(cronjob(deadline=0, last_schedule=1), run(1, finished=1.2), now=at(0))
    (alert,) = judged(t, 2 + SETTLE.total_seconds() / 60 + 0.05)
    assert (alert.scheduled, alert.reason) == (at(2), "StartingDeadlineTooShort")
    assert "startingDeadlineSeconds (0s) leaves the cronjob controller no time" in alert.message
    roomy = tracker(cronjob(deadline=60, last_schedule=1), run(1, finished=1.2), now=at(0))
    (alert,) = judged(roomy, 3 + SETTLE.total_seconds() / 60 + 0.05)
    assert alert.reason == "NotStarted"


def test_allow_with_a_run_active_is_not_blamed_on_concurrency() -> None:
    t = tracker(cronjob(policy="Allow", last_schedule=1, active=("x",)), run(1), now=at(0))
    (alert,) = judged(t, allowance_after(2) + 0.05)
    assert alert.reason == "NotStarted"


def test_no_job_for_two_times_and_a_stale_last_schedule_blame_the_controller() -> None:
    t = tracker(cronjob(last_schedule=1), run(1, finished=1.2), now=at(0))
    judged(t, allowance_after(2) + 0.05)
    (alert,) = judged(t, allowance_after(3) + 0.05)
    assert (alert.scheduled, alert.reason) == (at(3), "ControllerNotRunning")
    assert "nor for the one before (2026-05-01T12:02:00Z)" in alert.message
    assert "lastScheduleTime (2026-05-01T12:01:00Z) is older than both" in alert.message


def test_more_than_100_missed_starts_are_named_as_the_controller_reports_them() -> None:
    t = tracker(cronjob(created=-300, last_schedule=-200), now=at(0))
    (alert,) = judged(t, 0)  # first sight: the latest due time only
    assert alert.reason == "TooManyMissedStarts"
    assert "more than 100 scheduled times passed since lastScheduleTime" in alert.message
    within_deadline = tracker(cronjob(created=-300, last_schedule=-200, deadline=600), now=at(0))
    (alert,) = judged(within_deadline, 0)
    assert alert.reason == "ControllerNotRunning"  # only 10 minutes count for the controller


def test_first_sight_judges_the_latest_due_time_only_and_again_after_a_restart() -> None:
    before = tracker(cronjob(created=-60, last_schedule=-30), now=at(0))
    alerts = judged(before, 0)
    latest = at(-(GRACE + SETTLE).total_seconds() / 60).replace(second=0)
    assert [a.scheduled for a in alerts] == [latest]
    restarted = tracker(cronjob(created=-60, last_schedule=-30), now=at(0.05))
    again = judged(restarted, 0.05)
    assert [a.scheduled for a in again] == [latest]
    ids = {cronjob_event("prod", a).id for a in [*alerts, *again]}
    assert len(ids) == 1  # one id: consumers make one report of it


def test_first_sight_takes_last_schedule_time_for_a_job_already_deleted() -> None:
    latest = at(-(GRACE + SETTLE).total_seconds() / 60).replace(second=0)
    minutes = (latest - T0).total_seconds() / 60
    t = tracker(cronjob(created=-60, last_schedule=minutes + 1), now=at(0))
    assert judged(t, 0) == []


def test_the_time_zone_decides_which_instant_was_due() -> None:
    berlin = cronjob(schedule="0 14 * * *", zone="Europe/Berlin", created=-600)
    t = tracker(berlin, now=at(0))
    (alert,) = judged(t, allowance_after(0) + 0.05)
    assert alert.scheduled == dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)  # 14:00 CEST
    assert "2026-05-01T12:00:00Z (2026-05-01 14:00 CEST, Europe/Berlin)" in alert.message
    covered = tracker(berlin, run(0, finished=0.5), now=at(0))
    assert judged(covered, allowance_after(0) + 0.05) == []


def test_no_success_is_announced_once_per_streak_at_the_nth_time_after_the_last_success() -> None:
    t = tracker(
        cronjob(last_schedule=1, last_success=0.5),
        *(run(m, finished=m + 0.5) for m in range(1, 6)),
        now=at(0),
        no_success_after=3,
    )
    assert [a for a in judged(t, allowance_after(2)) if a.transition == "no-success"] == []
    (streak,) = [a for a in judged(t, allowance_after(3) + 0.05) if a.transition == "no-success"]
    assert (streak.scheduled, streak.reason) == (at(3), "NoSuccessSince")
    assert streak.message.startswith(
        "3 scheduled times have passed since the last successful run at 2026-05-01T12:00:30Z "
        "(lastSuccessfulTime), the 3rd at 2026-05-01T12:03:00Z"
    )
    assert [a for a in judged(t, allowance_after(5)) if a.transition == "no-success"] == []


def test_no_success_is_quiet_when_suspended_or_switched_off() -> None:
    suspended = tracker(cronjob(suspend=True, last_success=-60), now=at(0), no_success_after=3)
    assert judged(suspended, 0) == []
    off = tracker(cronjob(last_success=-60, last_schedule=-0.9), now=at(0), no_success_after=0)
    assert [a for a in judged(off, 0) if a.transition == "no-success"] == []
    never = tracker(cronjob(created=-10), now=at(0), no_success_after=3)
    (streak,) = [a for a in judged(never, 0) if a.transition == "no-success"]
    assert streak.reason == "NeverSucceeded"


def test_an_unreadable_schedule_is_said_once_and_never_judged() -> None:
    t = CronJobTracker(grace=GRACE, no_success_after=3)
    problem = t.observe(cronjob(schedule="@every 5m"), now=at(0))
    assert problem is not None and "@every is not a schedule jobwarden can check" in problem
    assert t.observe(cronjob(schedule="@every 5m"), now=at(1)) is None
    assert judged(t, 60) == []


def test_a_deleted_or_unlisted_cronjob_is_forgotten() -> None:
    t = tracker(cronjob(last_schedule=1), now=at(0))
    t.deleted(cronjob())
    assert judged(t, 10) == [] and len(t) == 0
    t.observe(cronjob(last_schedule=1), now=at(0))
    assert t.sync([], namespace="batch", now=at(0)) == [] and len(t) == 0


def test_the_scheduled_time_of_a_job_comes_from_its_annotation_else_its_name() -> None:
    assert scheduled_time_of(run(7)) == at(7)
    assert scheduled_time_of(run(7, annotate=True)) == at(7)
    orphan = {"metadata": {"name": "nightly-29000000"}}
    assert scheduled_time_of(orphan) is None


def test_the_published_event_names_the_cronjob_and_its_id_covers_the_scheduled_time() -> None:
    t = tracker(cronjob(last_schedule=1), run(1, finished=1.2), now=at(0))
    first = judged(t, allowance_after(2) + 0.05)[0]
    second = judged(t, allowance_after(3) + 0.05)[0]
    event = cronjob_event("prod-eu", first)
    assert pubsub_attributes(event) == {
        "type": "missed",
        "cluster": "prod-eu",
        "namespace": "batch",
        "cronjob": "nightly",
        "reason": "NotStarted",
    }
    assert event.id == event_id("prod-eu", UID, "missed", occurrence="2026-05-01T12:02:00Z")
    assert event.id != cronjob_event("prod-eu", second).id
    assert event.cronjob is not None
    assert event.cronjob.annotations == {"jobwarden.dev/notify": "data-team"}
    # and the functions read it back as a trigger about the CronJob
    trigger = parse_cloudevent(
        {"id": event.id, "type": CLOUDEVENT_TYPE_PREFIX + "missed"}, event.to_json()
    )
    assert (trigger.job, trigger.job_uid, trigger.transition) == ("nightly", UID, "missed")
    assert trigger.event_id == event.id
