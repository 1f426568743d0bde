"""Which scheduled times of a CronJob passed without a Job, and which CronJobs stopped succeeding.

The watcher feeds every CronJob it lists or watches, and every Job a CronJob owns, into a
`CronJobTracker`; its ticker asks `due(now)` for what to announce. Pure and thread-safe:
no I/O, and the clock is an argument.

A scheduled time `T` (see `jobwarden_exporter.schedule`) is judged once `now` is past
`T + allowance`: the CronJob's `startingDeadlineSeconds` when set (after that the
controller will not start the run), else `exporter.missedScheduleGrace`, plus `SETTLE`
seconds for the Job to reach the watch. `T` was run when a Job of this CronJob is scheduled
for `T` (the annotation `batch.kubernetes.io/cronjob-scheduled-timestamp`, else the
controller's name `<cronjob>-<minutes since the epoch>`), or when `status.lastScheduleTime`
was seen to be `T` (the controller sets it to exactly the time it started a Job for, so a
run counts even when its Job is outside the exporter's label selector or already gone).
Otherwise `missed`, with the reason when it can be told:

- `suspend: true` is not a miss: nothing is announced for a time while the CronJob was
  seen suspended;
- `ConcurrencyForbid`: `concurrencyPolicy: Forbid` and an earlier run still active at `T`;
- `StartingDeadlineTooShort`: `startingDeadlineSeconds` under `SHORT_DEADLINE` seconds: the
  controller wakes at the scheduled time and is already past such a deadline, so it skips
  the run (its Warning `MissSchedule`);
- `TooManyMissedStarts`: more than 100 scheduled times since `lastScheduleTime` (within
  `startingDeadlineSeconds`), which the controller reports as `TooManyMissedTimes`;
- `ControllerNotRunning`: the time before `T` has no Job either and `lastScheduleTime` is
  older than both: the cronjob controller is not scheduling this CronJob at all;
- `NotStarted`: none of those.

`no-success`: the `exporter.noSuccessAfter`-th scheduled time after `lastSuccessfulTime`
(or after creation, for a CronJob that never succeeded) has passed, and the CronJob is not
suspended; keyed by that crossing time, so one streak announces once.

Each (CronJob uid, transition, scheduled time) is announced once per process. A CronJob
seen for the first time (exporter start, new leadership term) has only its latest due
time judged, so a restart announces at most that one again, with the same deterministic
id (`jobevent.event_id` covers the scheduled time): consumers make one report of it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from jobwarden.kube.labels import CRONJOB_SCHEDULED_TIMESTAMP
from jobwarden.kube.objects import CronJob, Job, parse_time
from jobwarden_exporter.schedule import Schedule, ScheduleError

JSON = dict[str, Any]
#: Seconds past the allowance before a time is judged: the Job needs to reach the watch.
SETTLE: Final = dt.timedelta(seconds=5)
#: A startingDeadlineSeconds under this leaves the controller no time to start a run.
SHORT_DEADLINE: Final = 10
#: The controller's limit on missed start times (kubernetes pkg/controller/cronjob).
TOO_MANY_MISSED: Final = 100
_RUNS_KEPT: Final = 500
_PER_TICK: Final = 200
_ONE_SECOND: Final = dt.timedelta(seconds=1)

AlertKind = Literal["missed", "no-success"]


@dataclass(frozen=True)
class ScheduleAlert:
    """One announcement about a CronJob: what, for which scheduled time, and why."""

    cronjob: CronJob
    transition: AlertKind
    scheduled: dt.datetime
    reason: str
    message: str


@dataclass(frozen=True)
class Run:
    """A Job of a CronJob, as far as telling misses needs."""

    name: str
    scheduled: dt.datetime | None
    started: dt.datetime | None
    finished: dt.datetime | None


def scheduled_time_of(job: Mapping[str, Any]) -> dt.datetime | None:
    """The scheduled time a CronJob's Job runs for: its annotation, else its name's suffix."""
    meta = job.get("metadata") or {}
    stamp = parse_time((meta.get("annotations") or {}).get(CRONJOB_SCHEDULED_TIMESTAMP))
    if stamp is not None:
        return stamp.astimezone(dt.UTC)
    owner = _cronjob_owner(job)
    name = str(meta.get("name") or "")
    if owner is None or not name.startswith(f"{owner[1]}-"):
        return None
    suffix = name[len(owner[1]) + 1 :]
    if not suffix.isdigit() or len(suffix) > 12:
        return None
    return dt.datetime.fromtimestamp(int(suffix) * 60, dt.UTC)


def _cronjob_owner(job: Mapping[str, Any]) -> tuple[str, str] | None:
    """(uid, name) of the CronJob that owns `job`, if one does."""
    for ref in (job.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "CronJob" and ref.get("uid"):
            return str(ref["uid"]), str(ref.get("name") or "")
    return None


def zoned(moment: dt.datetime, schedule: Schedule | None) -> str:
    """`moment` as RFC 3339 UTC, with the wall time of the CronJob's zone when it has one."""
    utc = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if schedule is None or not schedule.zone_name or schedule.zone is dt.UTC:
        return utc
    local = moment.astimezone(schedule.zone).strftime("%Y-%m-%d %H:%M %Z")
    return f"{utc} ({local}, {schedule.zone_name})"


@dataclass
class _Entry:
    cronjob: CronJob
    schedule: Schedule | None
    error: str
    judged_until: dt.datetime
    first_candidate: dt.datetime | None
    quiet_until: dt.datetime | None = None
    announced: set[tuple[str, dt.datetime]] = field(default_factory=set)
    # caches, so that a tick with nothing due costs a comparison per CronJob
    next_due: dt.datetime | None = None  # the first scheduled time after judged_until
    streak: tuple[dt.datetime, dt.datetime | None] | None = None  # (base, its crossing)
    scheduled_seen: set[dt.datetime] = field(default_factory=set)  # lastScheduleTime values

    def judge_from(self, moment: dt.datetime) -> None:
        self.judged_until = moment
        self.next_due = None


class CronJobTracker:
    """CronJobs in view, their Jobs' scheduled times, and what was announced (one term)."""

    def __init__(self, *, grace: dt.timedelta, no_success_after: int) -> None:
        self.grace = grace
        self.no_success_after = no_success_after
        self._entries: dict[str, _Entry] = {}
        self._runs: dict[str, dict[str, Run]] = {}  # cronjob uid -> job name -> run
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def allowance(self, cronjob: CronJob) -> dt.timedelta:
        """How late a run may start before its time counts as missed."""
        if cronjob.starting_deadline_seconds is not None:
            return dt.timedelta(seconds=cronjob.starting_deadline_seconds) + SETTLE
        return self.grace + SETTLE

    # -- what the watch sees ------------------------------------------------------------
    def observe(self, obj: JSON, *, now: dt.datetime) -> str | None:
        """A CronJob listed or changed. Returns why its schedule cannot be checked, if so
        (once, when first seen or when its schedule changed)."""
        cronjob = CronJob.from_json(obj)
        with self._lock:
            return self._observe(cronjob, now)

    def _observe(self, cronjob: CronJob, now: dt.datetime) -> str | None:
        entry = self._entries.get(cronjob.uid)
        changed = entry is None or (
            (entry.cronjob.schedule, entry.cronjob.time_zone)
            != (cronjob.schedule, cronjob.time_zone)
        )
        schedule, error = None, ""
        if changed:
            try:
                schedule = Schedule.parse(cronjob.schedule, cronjob.time_zone)
            except ScheduleError as err:
                error = str(err)
        if entry is None:
            entry = self._first_sight(cronjob, schedule, error, now)
            self._entries[cronjob.uid] = entry
        else:
            entry.cronjob = cronjob
            if changed:  # a new schedule: judge from now on
                entry.schedule, entry.error = schedule, error
                entry.judge_from(max(entry.judged_until, now - self.allowance(cronjob)))
                entry.streak = None
        if cronjob.last_schedule is not None:
            if len(entry.scheduled_seen) >= _RUNS_KEPT:
                entry.scheduled_seen.remove(min(entry.scheduled_seen))
            entry.scheduled_seen.add(cronjob.last_schedule)
        if cronjob.suspend:
            entry.quiet_until = now
        return error if changed and error else None

    def _first_sight(
        self, cronjob: CronJob, schedule: Schedule | None, error: str, now: dt.datetime
    ) -> _Entry:
        floor = cronjob.created or now
        last_due = schedule.latest(now - self.allowance(cronjob)) if schedule else None
        if last_due is not None and last_due > floor:
            return _Entry(cronjob, schedule, error, last_due - _ONE_SECOND, last_due)
        return _Entry(cronjob, schedule, error, floor, None)

    def deleted(self, obj: JSON) -> None:
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        with self._lock:
            self._entries.pop(uid, None)
            self._runs.pop(uid, None)

    def sync(self, objs: Iterable[JSON], *, namespace: str | None, now: dt.datetime) -> list[str]:
        """A full list of CronJobs in `namespace` (None: all); forget the ones gone.
        Returns the schedule problems of CronJobs seen for the first time."""
        problems = []
        with self._lock:
            listed = set()
            for obj in objs:
                cronjob = CronJob.from_json(obj)
                listed.add(cronjob.uid)
                problem = self._observe(cronjob, now)
                if problem:
                    problems.append(f"{cronjob.namespace}/{cronjob.name}: {problem}")
            for uid, entry in list(self._entries.items()):
                in_scope = namespace is None or entry.cronjob.namespace == namespace
                if in_scope and uid not in listed:
                    del self._entries[uid]
                    self._runs.pop(uid, None)
        return problems

    def job_seen(self, obj: JSON) -> None:
        """A Job listed or changed: remember it when a CronJob owns it."""
        owner = _cronjob_owner(obj)
        if owner is None:
            return
        job = Job.from_json(obj)
        run = Run(
            name=job.name,
            scheduled=scheduled_time_of(obj),
            started=job.start_time or job.created,
            finished=job.finished_at,
        )
        with self._lock:
            runs = self._runs.setdefault(owner[0], {})
            runs[job.name] = run
            if len(runs) > _RUNS_KEPT:
                oldest = min(runs.values(), key=lambda r: r.scheduled or dt.datetime.min)
                del runs[oldest.name]

    # -- what to announce ----------------------------------------------------------------
    def due(self, now: dt.datetime) -> list[ScheduleAlert]:
        """Alerts whose time has come (each once per process)."""
        found: list[ScheduleAlert] = []
        with self._lock:
            for uid, entry in self._entries.items():
                if entry.schedule is None:
                    continue
                for alert in self._judge(entry, self._runs.get(uid, {}), now):
                    key = (alert.transition, alert.scheduled)
                    if key not in entry.announced:
                        entry.announced.add(key)
                        found.append(alert)
        return found

    def _judge(
        self, entry: _Entry, known: Mapping[str, Run], now: dt.datetime
    ) -> list[ScheduleAlert]:
        cronjob, schedule = entry.cronjob, entry.schedule
        assert schedule is not None
        horizon = now - self.allowance(cronjob)
        if entry.next_due is None:
            entry.next_due = next(schedule.after(entry.judged_until), None)
        due = entry.next_due is not None and entry.next_due <= horizon
        if cronjob.suspend:
            entry.quiet_until = now
            if due:
                entry.judge_from(horizon)
            return []
        alerts = []
        if due:
            runs = list(known.values())
            entry.next_due = None
            for n, moment in enumerate(schedule.after(entry.judged_until)):
                if moment > horizon or n >= _PER_TICK:
                    entry.next_due = moment  # the same iteration tells the next due time
                    break
                entry.judged_until = moment
                alert = self._missed(entry, schedule, runs, moment)
                if alert is not None:
                    alerts.append(alert)
        streak = self._no_success(entry, schedule, now)
        if streak is not None:
            alerts.append(streak)
        return alerts

    @staticmethod
    def _covered(entry: _Entry, runs: list[Run], moment: dt.datetime) -> bool:
        last = entry.cronjob.last_schedule
        if moment in entry.scheduled_seen or any(r.scheduled == moment for r in runs):
            return True
        # first sight: the Job of the latest due time may be gone already (TTL)
        return moment == entry.first_candidate and last is not None and last >= moment

    def _missed(
        self, entry: _Entry, schedule: Schedule, runs: list[Run], moment: dt.datetime
    ) -> ScheduleAlert | None:
        if entry.quiet_until is not None and moment <= entry.quiet_until:
            return None  # suspended at the time: not a miss
        if self._covered(entry, runs, moment):
            return None
        cronjob = entry.cronjob
        when = zoned(moment, schedule)
        last = cronjob.last_schedule
        last_words = zoned(last, schedule) if last else "never"
        allowance = self.allowance(cronjob) - SETTLE
        limit = (
            f"startingDeadlineSeconds ({cronjob.starting_deadline_seconds}s)"
            if cronjob.starting_deadline_seconds is not None
            else f"the {_words(allowance)} grace (exporter.missedScheduleGrace)"
        )
        head = f"no Job was started for the run scheduled at {when} within {limit}"
        if cronjob.concurrency_policy == "Forbid":
            blockers = [
                r.name
                for r in runs
                if r.scheduled is not None
                and r.scheduled < moment
                and (r.finished is None or r.finished > moment)
            ] or list(cronjob.active)
            if blockers:
                return ScheduleAlert(
                    cronjob,
                    "missed",
                    moment,
                    "ConcurrencyForbid",
                    f"{head}: concurrencyPolicy is Forbid and the previous run "
                    f"{', '.join(sorted(blockers)[:3])} was still active, so the cronjob "
                    "controller skipped this one",
                )
        deadline = cronjob.starting_deadline_seconds
        if deadline is not None and deadline < SHORT_DEADLINE:
            return ScheduleAlert(
                cronjob,
                "missed",
                moment,
                "StartingDeadlineTooShort",
                f"{head}: startingDeadlineSeconds ({deadline}s) leaves the cronjob controller "
                "no time to start it (it wakes at the scheduled time and is already late, "
                "and reports MissSchedule)",
            )
        base = last or cronjob.created
        if base is not None:
            if cronjob.starting_deadline_seconds is not None:
                base = max(base, moment - dt.timedelta(seconds=cronjob.starting_deadline_seconds))
            if schedule.count_between(base, moment, cap=TOO_MANY_MISSED + 1) > TOO_MANY_MISSED:
                return ScheduleAlert(
                    cronjob,
                    "missed",
                    moment,
                    "TooManyMissedStarts",
                    f"{head}: more than {TOO_MANY_MISSED} scheduled times passed since "
                    f"lastScheduleTime ({last_words}); the cronjob controller reports "
                    "TooManyMissedTimes for such a CronJob",
                )
        before = schedule.previous(moment)
        if (
            before is not None
            and (cronjob.created is None or before > cronjob.created)
            and not self._covered(entry, runs, before)
            and (last is None or last < before)
        ):
            return ScheduleAlert(
                cronjob,
                "missed",
                moment,
                "ControllerNotRunning",
                f"{head}, nor for the one before ({zoned(before, schedule)}), and "
                f"lastScheduleTime ({last_words}) is older than both: the cronjob controller "
                "(kube-controller-manager) is not scheduling this CronJob",
            )
        return ScheduleAlert(cronjob, "missed", moment, "NotStarted", head)

    def _no_success(
        self, entry: _Entry, schedule: Schedule, now: dt.datetime
    ) -> ScheduleAlert | None:
        cronjob = entry.cronjob
        base = cronjob.last_successful or cronjob.created
        if base is None or self.no_success_after < 1:
            return None
        if entry.streak is None or entry.streak[0] != base:
            times = list(itertools.islice(schedule.after(base), self.no_success_after))
            entry.streak = (base, times[-1] if len(times) == self.no_success_after else None)
        crossing = entry.streak[1]
        if crossing is None or crossing + self.allowance(cronjob) > now:
            return None
        if entry.quiet_until is not None and crossing <= entry.quiet_until:
            return None
        since = (
            f"the last successful run at {zoned(base, schedule)} (lastSuccessfulTime)"
            if cronjob.last_successful
            else f"its creation at {zoned(base, schedule)} (it never succeeded)"
        )
        last = cronjob.last_schedule
        return ScheduleAlert(
            cronjob,
            "no-success",
            crossing,
            "NoSuccessSince" if cronjob.last_successful else "NeverSucceeded",
            f"{self.no_success_after} scheduled times have passed since {since}, the "
            f"{_ordinal(self.no_success_after)} at {zoned(crossing, schedule)}; last scheduled "
            f"run: {zoned(last, schedule) if last else 'none'}",
        )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _words(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "".join(parts) or "0s"
