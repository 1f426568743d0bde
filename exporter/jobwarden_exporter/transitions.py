"""Which transitions a Job went through between two looks at it (pure; no I/O, no clock).

Job conditions are the source of truth (ARCHITECTURE.md §4.1):

- `started`: `status.startTime` is set or a pod is active.
- `succeeded`: `Complete` is "True". `SuccessCriteriaMet` alone is not enough: the
  controller adds it first and `Complete` once the pods have terminated.
- `failed`: `Failed` is "True". `FailureTarget` alone is not enough either (same reason);
  its reason is used when `Failed` carries none. A Job deleted while only the target
  condition is set still yields its terminal transition (`gone=True`).
- `suspended` / `resumed`: `spec.suspend` or the `Suspended` condition. The controller
  clears `startTime` on suspension and sets it again on resume.
- `stuck`: not finished, not suspended, no `activeDeadlineSeconds`, and pending or running
  longer than a threshold: a timer asks `stuck()`; nothing else would ever end such a Job.
  Or, deadline or not, one of its pods has waited past `stuckPodAfter` in a state that will
  not fix itself (`Pod.waiting`: image pull errors, CreateContainerConfigError,
  CrashLoopBackOff, Unschedulable): `stuck_pod()`, whose reason is that state.

`detect(previous, current)` answers for two observations (previous None: a Job new to
this process, whose history so far is inferred from its state); `first_look(job)` answers
for a Job seen at startup, reporting only its latest state (a finished Job yields its
terminal transition, not a stale `started`). Once-only bookkeeping lives in the tracker.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jobwarden.jobevent import Transition
from jobwarden.kube.labels import (
    COMPLETE,
    FAILED,
    FAILURE_TARGET,
    SUCCESS_CRITERIA_MET,
    SUSPENDED,
)
from jobwarden.kube.objects import Condition, Job, Waiting

#: Transitions a Job goes through at most once (the tracker enforces it per uid).
ONCE: frozenset[str] = frozenset({"started", "succeeded", "failed", "stuck"})
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed"})


@dataclass(frozen=True)
class Detected:
    """One transition of one Job: what, why, and when it happened (None: unknown)."""

    transition: Transition
    reason: str = ""
    message: str = ""
    time: dt.datetime | None = None


def _any_condition(job: Job, kind: str) -> Condition | None:
    """The condition of this type whatever its status (the last one if repeated)."""
    found = None
    for condition in job.conditions:
        if condition.type == kind:
            found = condition
    return found


def is_started(job: Job) -> bool:
    return job.start_time is not None or job.active > 0


def is_suspended(job: Job) -> bool:
    return job.suspend or job.condition(SUSPENDED) is not None


def terminal(job: Job) -> Detected | None:
    """`failed` or `succeeded` when the Job has finished (Failed / Complete is "True")."""
    failed = job.condition(FAILED)
    if failed is not None:
        target = job.condition(FAILURE_TARGET)
        return Detected(
            "failed",
            failed.reason or (target.reason if target else ""),
            failed.message or (target.message if target else ""),
            failed.last_transition or job.completion_time,
        )
    complete = job.condition(COMPLETE)
    if complete is not None:
        criteria = job.condition(SUCCESS_CRITERIA_MET)
        return Detected(
            "succeeded",
            complete.reason or (criteria.reason if criteria else ""),
            complete.message or (criteria.message if criteria else ""),
            complete.last_transition or job.completion_time,
        )
    return None


def finishing(job: Job) -> Detected | None:
    """The terminal transition announced by FailureTarget / SuccessCriteriaMet, if any."""
    target = job.condition(FAILURE_TARGET)
    if target is not None:
        return Detected("failed", target.reason, target.message, target.last_transition)
    criteria = job.condition(SUCCESS_CRITERIA_MET)
    if criteria is not None:
        return Detected("succeeded", criteria.reason, criteria.message, criteria.last_transition)
    return None


def _started(job: Job) -> Detected:
    return Detected(
        "started",
        "",
        f"{job.active} active pod(s)" if job.active else "",
        job.start_time,
    )


def _suspended(job: Job) -> Detected:
    condition = job.condition(SUSPENDED)
    if condition is not None:
        return Detected("suspended", condition.reason, condition.message, condition.last_transition)
    return Detected("suspended", "JobSuspended", "spec.suspend is true", None)


def _resumed(job: Job) -> Detected:
    condition = _any_condition(job, SUSPENDED)
    if condition is not None and not condition.true:
        return Detected("resumed", condition.reason, condition.message, condition.last_transition)
    return Detected("resumed", "JobResumed", "spec.suspend is false", None)


def detect(previous: Job | None, current: Job, *, gone: bool = False) -> list[Detected]:
    """The transitions from `previous` to `current`, in the order they happened.

    `previous` None means the Job is new to us: everything its state shows is reported
    (started, suspended, terminal). `gone` means `current` is the Job's last state before
    deletion: a FailureTarget / SuccessCriteriaMet that never became terminal counts.
    """
    found: list[Detected] = []
    done = terminal(current)
    was_done = previous is not None and terminal(previous) is not None
    was_suspended = previous is not None and is_suspended(previous)
    if was_suspended and not is_suspended(current):
        found.append(_resumed(current))
    if is_started(current) and not (previous is not None and is_started(previous)):
        found.append(_started(current))
    if done is None and is_suspended(current) and not was_suspended:
        found.append(_suspended(current))
    if done is None and gone:
        done = finishing(current)
    if done is not None and not was_done:
        found.append(done)
    return found


def first_look(job: Job) -> list[Detected]:
    """What a Job seen at startup reports: its terminal transition, else where it stands."""
    done = terminal(job)
    if done is not None:
        return [done]
    found = []
    if is_started(job) and not is_suspended(job):
        found.append(_started(job))
    if is_suspended(job):
        found.append(_suspended(job))
    return found


def _words(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def stuck(job: Job, *, now: dt.datetime, after: dt.timedelta) -> Detected | None:
    """`stuck` when the Job is pending or running past `after` and nothing will end it."""
    if terminal(job) or finishing(job) or is_suspended(job):
        return None
    if job.active_deadline_seconds is not None:
        return None
    since = job.start_time or job.created
    if since is None or now - since < after:
        return None
    running = job.ready > 0
    state = "running" if running else "pending (no pod ready)"
    return Detected(
        "stuck",
        "RunningTooLong" if running else "PendingTooLong",
        f"{state} for {_words(now - since)}, over the {_words(after)} threshold, and no "
        "activeDeadlineSeconds: the Job will not end on its own",
        now,
    )


def stuck_pod(
    job: Job, pod: str, waiting: Waiting, *, now: dt.datetime, after: dt.timedelta
) -> Detected | None:
    """`stuck` when pod `pod` of `job` has waited in `waiting` for `after` or longer.

    The reason is the waiting state itself (ImagePullBackOff, Unschedulable...), so a
    subscription filter or a reader sees at once why; the message names the pod, the
    container and what the kubelet or the scheduler said. A deadline does not matter: a
    pod that cannot pull its image under a 6-hour deadline would be silent for 6 hours.
    """
    if terminal(job) or finishing(job) or is_suspended(job):
        return None
    since = waiting.since or now
    if now - since < after:
        return None
    what = f"pod {pod}"
    if waiting.container:
        what += f" (container {waiting.container})"
    state = "unschedulable" if waiting.container is None else f"waiting in {waiting.reason}"
    said = " ".join(waiting.message.split())[:500]
    return Detected(
        "stuck",
        waiting.reason,
        f"{what} {state} for {_words(now - since)}, over the {_words(after)} threshold; "
        "it will not recover on its own" + (f": {said}" if said else ""),
        now,
    )
