"""Transitions from Job conditions, once per Job, across relists and restarts (pure logic)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobwarden.kube.objects import Job, Pod, Waiting
from jobwarden_exporter.tracker import EventMemory, JobTracker
from jobwarden_exporter.transitions import detect, first_look, stuck, stuck_pod
from jobwarden_exporter.waitingpods import WaitingPod

T0 = dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def iso(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def cond(kind: str, status: str = "True", reason: str = "", minutes: float = 5) -> dict[str, Any]:
    c = {"type": kind, "status": status, "lastTransitionTime": iso(minutes)}
    if reason:
        c["reason"] = reason
        c["message"] = f"{reason} message"
    return c


def job(
    *conditions: dict[str, Any],
    name: str = "nightly",
    uid: str = "uid-1",
    namespace: str = "batch",
    started: float | None = None,
    active: int = 0,
    ready: int = 0,
    suspend: bool = False,
    deadline: int | None = None,
    rv: str = "1",
) -> Job:
    spec: dict[str, Any] = {"suspend": suspend}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    status: dict[str, Any] = {"conditions": list(conditions), "active": active, "ready": ready}
    if started is not None:
        status["startTime"] = iso(started)
    return Job.from_json(
        {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": uid,
                "resourceVersion": rv,
                "creationTimestamp": iso(0),
            },
            "spec": spec,
            "status": status,
        }
    )


CREATED = job()
RUNNING = job(started=1, active=1)
FAILING = job(cond("FailureTarget", reason="BackoffLimitExceeded"), started=1)
FAILED = job(
    cond("FailureTarget", reason="BackoffLimitExceeded"),
    cond("Failed", reason="BackoffLimitExceeded", minutes=6),
    started=1,
)
SUCCEEDING = job(cond("SuccessCriteriaMet", reason="CompletionsReached"), started=1)
SUCCEEDED = job(
    cond("SuccessCriteriaMet", reason="CompletionsReached"),
    cond("Complete", reason="CompletionsReached", minutes=7),
    started=1,
)


def names(found: list[Any]) -> list[str]:
    return [d.transition for d in found]


# --- detect: one step -----------------------------------------------------------------


def test_a_created_job_without_pods_has_no_transition_yet() -> None:
    assert detect(None, CREATED) == []


def test_start_time_makes_the_job_started_at_that_time() -> None:
    (started,) = detect(CREATED, RUNNING)
    assert started.transition == "started"
    assert started.time == T0 + dt.timedelta(minutes=1)


def test_an_active_pod_alone_counts_as_started() -> None:
    assert names(detect(CREATED, job(active=1))) == ["started"]


def test_failure_target_alone_is_not_yet_a_failure() -> None:
    assert detect(RUNNING, FAILING) == []


def test_failed_condition_gives_failed_with_its_reason_and_time() -> None:
    (failed,) = detect(FAILING, FAILED)
    assert (failed.transition, failed.reason) == ("failed", "BackoffLimitExceeded")
    assert failed.message == "BackoffLimitExceeded message"
    assert failed.time == T0 + dt.timedelta(minutes=6)


def test_failed_without_reason_takes_the_failure_target_reason() -> None:
    current = job(cond("FailureTarget", reason="DeadlineExceeded"), cond("Failed"), started=1)
    (failed,) = detect(FAILING, current)
    assert failed.reason == "DeadlineExceeded"


def test_a_condition_present_but_not_true_does_not_count() -> None:
    assert detect(RUNNING, job(cond("Failed", status="False"), started=1)) == []
    assert detect(RUNNING, job(cond("Complete", status="Unknown"), started=1)) == []


def test_success_criteria_met_waits_for_complete() -> None:
    assert detect(RUNNING, SUCCEEDING) == []
    (done,) = detect(SUCCEEDING, SUCCEEDED)
    assert (done.transition, done.reason) == ("succeeded", "CompletionsReached")
    assert done.time == T0 + dt.timedelta(minutes=7)


def test_a_job_new_to_the_process_reports_its_history_in_order() -> None:
    assert names(detect(None, FAILED)) == ["started", "failed"]
    assert names(detect(None, SUCCEEDED)) == ["started", "succeeded"]


def test_jumping_from_created_to_failed_reports_both_started_and_failed() -> None:
    assert names(detect(CREATED, FAILED)) == ["started", "failed"]


def test_a_finished_job_changing_again_reports_nothing() -> None:
    assert detect(FAILED, FAILED) == []
    assert detect(SUCCEEDED, job(*SUCCEEDED.raw["status"]["conditions"], started=1, rv="9")) == []


def test_a_job_deleted_with_only_failure_target_still_reports_failed() -> None:
    (failed,) = detect(FAILING, FAILING, gone=True)
    assert (failed.transition, failed.reason) == ("failed", "BackoffLimitExceeded")
    (done,) = detect(SUCCEEDING, SUCCEEDING, gone=True)
    assert done.transition == "succeeded"


def test_a_running_job_deleted_reports_no_terminal_transition() -> None:
    assert detect(RUNNING, RUNNING, gone=True) == []


# --- suspend / resume --------------------------------------------------------------


SUSPENDED = job(cond("Suspended", reason="JobSuspended"), suspend=True)
RESUMED = job(
    cond("Suspended", status="False", reason="JobResumed", minutes=9), started=9, active=1
)


def test_spec_suspend_alone_is_suspended_before_the_controller_adds_the_condition() -> None:
    (suspended,) = detect(RUNNING, job(started=1, active=1, suspend=True))
    assert (suspended.transition, suspended.reason) == ("suspended", "JobSuspended")


def test_suspended_condition_gives_suspended_with_its_time() -> None:
    (suspended,) = detect(CREATED, SUSPENDED)
    assert suspended.transition == "suspended"
    assert suspended.time == T0 + dt.timedelta(minutes=5)


def test_a_job_created_suspended_is_suspended_and_resume_then_starts_it() -> None:
    assert names(detect(None, SUSPENDED)) == ["suspended"]
    found = detect(SUSPENDED, RESUMED)
    assert names(found) == ["resumed", "started"]
    assert found[0].reason == "JobResumed"
    assert found[0].time == T0 + dt.timedelta(minutes=9)


def test_resume_is_seen_only_when_both_spec_and_condition_say_so() -> None:
    spec_only = job(cond("Suspended", reason="JobSuspended"), suspend=False)
    assert detect(SUSPENDED, spec_only) == []
    assert names(detect(spec_only, RESUMED)) == ["resumed", "started"]


def test_a_finished_job_is_not_reported_suspended() -> None:
    finished = job(*FAILED.raw["status"]["conditions"], started=1, suspend=True)
    assert names(detect(RUNNING, finished)) == ["failed"]


# --- first look (startup reconcile) ------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (CREATED, []),
        (RUNNING, ["started"]),
        (FAILING, ["started"]),
        (FAILED, ["failed"]),
        (SUCCEEDED, ["succeeded"]),
        (SUSPENDED, ["suspended"]),
        (RESUMED, ["started"]),
    ],
)
def test_first_look_reports_where_a_job_stands(state: Job, expected: list[str]) -> None:
    assert names(first_look(state)) == expected


# --- stuck -----------------------------------------------------------------------


def test_a_job_pending_past_the_threshold_without_deadline_is_stuck() -> None:
    found = stuck(job(started=0, active=1), now=T0 + 2 * HOUR, after=HOUR)
    assert found is not None
    assert (found.transition, found.reason) == ("stuck", "PendingTooLong")
    assert "2h00m" in found.message and "activeDeadlineSeconds" in found.message


def test_a_running_job_past_the_threshold_is_stuck_running() -> None:
    found = stuck(job(started=0, active=1, ready=1), now=T0 + 2 * HOUR, after=HOUR)
    assert found is not None and found.reason == "RunningTooLong"


def test_a_job_without_start_time_counts_from_its_creation() -> None:
    assert stuck(CREATED, now=T0 + 2 * HOUR, after=HOUR) is not None
    assert stuck(CREATED, now=T0 + HOUR / 2, after=HOUR) is None


@pytest.mark.parametrize(
    "state",
    [
        job(started=0, active=1, deadline=600),
        SUSPENDED,
        FAILED,
        SUCCEEDED,
        FAILING,
    ],
    ids=["deadline", "suspended", "failed", "succeeded", "failing"],
)
def test_jobs_that_will_end_or_wait_on_purpose_are_never_stuck(state: Job) -> None:
    assert stuck(state, now=T0 + 48 * HOUR, after=HOUR) is None


PULL = Waiting("ImagePullBackOff", 'Back-off pulling image "x:1"', "worker", T0)


def test_a_pod_waiting_past_the_threshold_makes_its_job_stuck_even_under_a_deadline() -> None:
    bounded = job(started=0, active=1, deadline=6 * 3600)
    found = stuck_pod(bounded, "p-1", PULL, now=T0 + dt.timedelta(minutes=6), after=HOUR / 12)
    assert found is not None and found.reason == "ImagePullBackOff"
    assert found.message == (
        "pod p-1 (container worker) waiting in ImagePullBackOff for 6m00s, over the 5m00s "
        'threshold; it will not recover on its own: Back-off pulling image "x:1"'
    )
    assert (
        stuck_pod(bounded, "p-1", PULL, now=T0 + dt.timedelta(minutes=4), after=HOUR / 12) is None
    )


@pytest.mark.parametrize("state", [SUSPENDED, FAILED, SUCCEEDED, FAILING])
def test_a_job_done_or_suspended_is_not_stuck_by_its_waiting_pod(state: Job) -> None:
    assert stuck_pod(state, "p-1", PULL, now=T0 + 48 * HOUR, after=HOUR) is None


def _pod(status: dict[str, Any]) -> Pod:
    meta = {"name": "p-1", "uid": "u", "creationTimestamp": iso(0)}
    return Pod.from_json({"metadata": meta, "status": status})


def test_which_waiting_states_are_stuck_and_since_when() -> None:
    crash = _pod(
        {
            "phase": "Running",
            "startTime": iso(1),
            "conditions": [cond("ContainersReady", "False", minutes=20)],
            "containerStatuses": [
                {
                    "name": "w",
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                }
            ],
        }
    )
    assert crash.waiting == Waiting("CrashLoopBackOff", "", "w", T0 + dt.timedelta(minutes=20))
    creating = _pod(
        {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "w", "state": {"waiting": {"reason": "ContainerCreating"}}}
            ],
        }
    )
    assert creating.waiting is None  # it will get there on its own
    config = _pod(
        {
            "phase": "Pending",
            "startTime": iso(2),
            "containerStatuses": [
                {
                    "name": "w",
                    "state": {
                        "waiting": {
                            "reason": "CreateContainerConfigError",
                            "message": 'secret "db" not found',
                        }
                    },
                }
            ],
        }
    )
    assert config.waiting == Waiting(
        "CreateContainerConfigError", 'secret "db" not found', "w", T0 + dt.timedelta(minutes=2)
    )
    pending = _pod(
        {
            "phase": "Pending",
            "conditions": [cond("PodScheduled", "False", reason="Unschedulable", minutes=3)],
        }
    )
    assert pending.waiting == Waiting(
        "Unschedulable", "Unschedulable message", None, T0 + dt.timedelta(minutes=3)
    )


# --- tracker: once per Job -----------------------------------------------------------


def tracker() -> JobTracker:
    return JobTracker(stuck_after=HOUR)


def test_failure_target_then_failed_gives_exactly_one_failed() -> None:
    t = tracker()
    seen = []
    for state in (CREATED, RUNNING, FAILING, FAILED, FAILED, FAILING, FAILED):
        seen += names(t.observe(state))
    assert seen == ["started", "failed"]


def test_started_is_reported_once_even_when_a_resume_sets_start_time_again() -> None:
    t = tracker()
    seen = []
    for state in (CREATED, RUNNING, SUSPENDED, RESUMED, SUSPENDED, RESUMED):
        seen += names(t.observe(state))
    assert seen == ["started", "suspended", "resumed", "suspended", "resumed"]


def test_a_relist_after_a_gap_reports_what_happened_meanwhile_once() -> None:
    t = tracker()
    t.sync([RUNNING], namespace=None, startup=True)
    found = t.sync([FAILED], namespace=None, startup=False)
    assert [d.transition for _, d in found] == ["failed"]
    assert t.sync([FAILED], namespace=None, startup=False) == []


def test_startup_list_reports_finished_jobs_terminal_transition_only() -> None:
    t = tracker()
    found = t.sync(
        [FAILED, job(uid="uid-2", name="other", started=1)], namespace=None, startup=True
    )
    assert [(j.name, d.transition) for j, d in found] == [
        ("nightly", "failed"),
        ("other", "started"),
    ]


def test_a_new_job_seen_first_in_a_later_relist_reports_its_history() -> None:
    t = tracker()
    t.sync([], namespace=None, startup=True)
    assert [d.transition for _, d in t.sync([FAILED], namespace=None, startup=False)] == [
        "started",
        "failed",
    ]


def test_jobs_missing_from_a_relist_are_forgotten_and_a_pending_failure_is_reported() -> None:
    t = tracker()
    t.sync([FAILING, job(uid="uid-2", name="other", started=1)], namespace=None, startup=True)
    found = t.sync([], namespace=None, startup=False)
    assert [(j.name, d.transition) for j, d in found] == [("nightly", "failed")]
    assert len(t) == 0


def test_a_namespace_relist_forgets_only_that_namespace() -> None:
    t = tracker()
    t.observe(job(namespace="a", uid="u-a", started=1))
    t.observe(job(namespace="b", uid="u-b", started=1))
    t.sync([], namespace="a", startup=False)
    assert t.job("u-a") is None and t.job("u-b") is not None


def test_deletion_of_a_finished_job_reports_nothing_more() -> None:
    t = tracker()
    t.observe(FAILED)
    assert t.deleted(FAILED) == []
    assert t.job("uid-1") is None


def test_deletion_seen_before_any_other_state_reports_the_history() -> None:
    assert names(tracker().deleted(FAILED)) == ["started", "failed"]


def test_a_stuck_pod_and_running_too_long_share_one_stuck_per_job_uid() -> None:
    t = tracker()
    t.observe(job(started=0, active=1))
    waiting = WaitingPod("uid-1", "batch", "p-1", PULL)
    found = t.due_stuck_pod(waiting, T0 + HOUR, HOUR / 12)
    assert found is not None and found[1].reason == "ImagePullBackOff"
    assert t.due_stuck_pod(waiting, T0 + 2 * HOUR, HOUR / 12) is None
    assert t.due_stuck(T0 + 3 * HOUR) == []  # the Job-level threshold too: already reported
    assert t.due_stuck_pod(WaitingPod("uid-unknown", "batch", "q", PULL), T0 + HOUR, HOUR) is None


def test_stuck_is_reported_once_per_job_uid() -> None:
    t = tracker()
    t.observe(job(started=0, active=1))
    assert [d.transition for _, d in t.due_stuck(T0 + 2 * HOUR)] == ["stuck"]
    assert t.due_stuck(T0 + 3 * HOUR) == []
    t.observe(job(uid="uid-2", name="again", started=0, active=1))
    assert [j.uid for j, _ in t.due_stuck(T0 + 3 * HOUR)] == ["uid-2"]


def test_a_new_job_with_the_same_name_is_a_new_job() -> None:
    t = tracker()
    t.observe(FAILED)
    t.deleted(FAILED)
    again = job(*FAILED.raw["status"]["conditions"], uid="uid-2", started=1)
    assert names(t.observe(again)) == ["started", "failed"]


def test_tracker_counts_distinct_jobs_seen() -> None:
    new: list[str] = []
    t = JobTracker(stuck_after=HOUR, on_new=lambda j: new.append(j.uid))
    for state in (CREATED, RUNNING, FAILED, job(uid="uid-2")):
        t.observe(state)
    assert t.seen == 2 and new == ["uid-1", "uid-2"]


LIFECYCLES = {
    "failed": [CREATED, RUNNING, FAILING, FAILED],
    "succeeded": [CREATED, RUNNING, SUCCEEDING, SUCCEEDED],
}


@given(
    outcome=st.sampled_from(sorted(LIFECYCLES)),
    kept=st.lists(st.booleans(), min_size=3, max_size=3),
    repeats=st.lists(st.integers(min_value=1, max_value=3), min_size=4, max_size=4),
    relist=st.booleans(),
)
def test_any_coalescing_or_repetition_of_observations_reports_each_transition_once(
    outcome: str, kept: list[bool], repeats: list[int], relist: bool
) -> None:
    """Watches skip states (coalescing, gaps) and repeat them (relists): still exactly once."""
    states = [s for s, keep in zip(LIFECYCLES[outcome][:3], kept, strict=True) if keep]
    states.append(LIFECYCLES[outcome][3])
    t = tracker()
    seen: list[str] = []
    for state, times in zip(states, repeats, strict=False):
        for _ in range(times):
            if relist:
                seen += [d.transition for _, d in t.sync([state], namespace=None, startup=False)]
            else:
                seen += names(t.observe(state))
    assert seen == ["started", outcome]


# --- pods to Jobs ----------------------------------------------------------------------


def test_pods_are_matched_to_their_job_by_generated_name() -> None:
    t = tracker()
    t.observe(job(name="a", uid="u-a"))
    t.observe(job(name="a-b", uid="u-ab"))
    t.observe(job(name="idx", uid="u-idx"))
    assert (t.job_of_pod("batch", "a-x7k2p") or CREATED).uid == "u-a"
    assert (t.job_of_pod("batch", "a-b-x7k2p") or CREATED).uid == "u-ab"
    assert (t.job_of_pod("batch", "idx-3-x7k2p") or CREATED).uid == "u-idx"
    assert t.job_of_pod("batch", "zzz-x7k2p") is None
    assert t.job_of_pod("other", "a-x7k2p") is None


def test_pods_of_a_job_with_a_long_name_match_the_cut_generate_name() -> None:
    t = tracker()
    long_name = "n" * 60
    t.observe(job(name=long_name, uid="u-long"))
    pod = long_name[:58] + "x7k2p"
    assert (t.job_of_pod("batch", pod) or CREATED).uid == "u-long"


# --- relayed Events --------------------------------------------------------------------


def k8s_event(uid: str, count: int = 1, namespace: str = "batch") -> dict[str, Any]:
    return {"metadata": {"uid": uid, "namespace": namespace, "name": f"e.{uid}"}, "count": count}


def test_an_event_is_relayed_once_per_count() -> None:
    memory = EventMemory()
    assert memory.fresh(k8s_event("e1"))
    assert not memory.fresh(k8s_event("e1"))
    assert memory.fresh(k8s_event("e1", count=2))
    assert not memory.fresh(k8s_event("e1", count=1))


def test_an_event_without_identity_is_never_relayed() -> None:
    assert not EventMemory().fresh({"reason": "BackOff"})


def test_a_relist_forgets_events_that_expired_in_that_namespace_only() -> None:
    memory = EventMemory()
    memory.fresh(k8s_event("e1", namespace="a"))
    memory.fresh(k8s_event("e2", namespace="b"))
    memory.retain([], namespace="a")
    assert memory.fresh(k8s_event("e1", namespace="a"))
    assert not memory.fresh(k8s_event("e2", namespace="b"))
