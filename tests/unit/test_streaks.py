"""The CronJob run records: what makes a follow-up, and that the first decision stands.

The Jobs are the recorded ones of scenario `cronjob-streak` (two runs of CronJob
nightly-sync that failed with exit 4 on the local stack); the causes are the analysis's
`Cause`, varied to ask "what if the second run had failed another way?".
"""

from __future__ import annotations

import datetime as dt

from jobwarden.enrich import CronHistory
from jobwarden.failure import Cause
from jobwarden.kube.objects import Job
from jobwarden.workflows.builders import schedule_state
from jobwarden.workflows.streaks import (
    ledger_prefix,
    list_entries,
    record_failure,
    record_recovery,
)
from tests.support.replay import load, memory_store

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _runs() -> dict[str, Job]:
    sequence = load("cronjob-streak").meta["sequence"]
    return {step["job"]: Job.from_json(step["jobObject"]) for step in sequence}


def _history(*, suspended: bool | None = False) -> CronHistory:
    """What the reporter knows of the CronJob when its Jobs are gone (history limits)."""
    return CronHistory(
        cronjob="nightly-sync",
        runs=(),
        consecutive_failures=0,
        last_success=None,
        schedule="0 3 1 1 *",
        suspended=suspended,
    )


def _cause(code: str, container: str = "worker") -> Cause:
    return Cause(code, f"{code} in `{container}`", "why", ("do this",), container=container)


def test_a_later_failure_of_another_cause_is_posted_in_full() -> None:
    store, runs = memory_store(), _runs()
    first = record_failure(
        store,
        cluster="local",
        job=runs["nightly-sync-1"],
        history=_history(),
        cause=_cause("NonZeroExit"),
        cause_title="exit 4",
        now=NOW,
    )
    other = record_failure(
        store,
        cluster="local",
        job=runs["nightly-sync-2"],
        history=_history(),
        cause=_cause("OOMKilled"),
        cause_title="out of memory",
        now=NOW,
    )
    assert (first.failed_runs, first.follow_up) == (1, False)
    assert (other.failed_runs, other.follow_up) == (2, False)  # counted, but posted in full
    prefix = ledger_prefix("local", runs["nightly-sync-1"].namespace, "nightly-sync")
    assert [e.outcome for e in list_entries(store, prefix)] == ["failed", "failed"]


def test_the_first_decision_stands_for_a_redelivery_or_a_duplicate() -> None:
    store, runs = memory_store(), _runs()
    for job in ("nightly-sync-1", "nightly-sync-2"):
        record_failure(
            store,
            cluster="local",
            job=runs[job],
            history=_history(),
            cause=_cause("NonZeroExit"),
            cause_title="exit 4",
            now=NOW,
        )
    # the same run again, as a concurrent duplicate that analysed it differently would
    again = record_failure(
        store,
        cluster="local",
        job=runs["nightly-sync-2"],
        history=_history(),
        cause=_cause("OOMKilled"),
        cause_title="out of memory",
        now=NOW,
    )
    assert again.follow_up and again.failed_runs == 2 and again.cause == "exit 4"


def test_a_success_ends_the_streak_and_the_next_failure_starts_a_new_one() -> None:
    store, runs = memory_store(), _runs()
    record_failure(
        store,
        cluster="local",
        job=runs["nightly-sync-1"],
        history=_history(),
        cause=_cause("NonZeroExit"),
        cause_title="exit 4",
        now=NOW,
    )
    recovered = record_recovery(
        store, cluster="local", job=runs["nightly-sync-3"], history=_history()
    )
    assert recovered is not None and recovered.failed_runs == 1
    assert (
        record_recovery(store, cluster="local", job=runs["nightly-sync-0"], history=_history())
        is None
    )
    # run 2 finished before run 3: it belongs to the streak run 3 ended, not a new one
    late = record_failure(
        store,
        cluster="local",
        job=runs["nightly-sync-2"],
        history=_history(),
        cause=_cause("NonZeroExit"),
        cause_title="exit 4",
        now=NOW,
    )
    assert late.follow_up and late.failed_runs == 2


def test_the_schedule_state_says_suspended_or_unknown() -> None:
    store, runs = memory_store(), _runs()
    run = record_failure(
        store,
        cluster="local",
        job=runs["nightly-sync-1"],
        history=_history(suspended=True),
        cause=_cause("NonZeroExit"),
        cause_title="exit 4",
        now=NOW,
    )
    assert schedule_state(run) == "0 3 1 1 *, suspended (no new runs until resumed)"
    gone = run.model_copy(update={"suspended": None})
    assert schedule_state(gone) == "unknown (the CronJob could not be read)"
