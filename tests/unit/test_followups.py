"""What failure reports add beyond the cause, and performance regressions, on recorded answers.

The same harness as `test_event_path`: each workflow's real CloudEvent function receives the
Eventarc CloudEvent our exporter would publish for a Job recorded on the local stack; cluster
`local` answers from the recording; reports go to an in-memory store; webhooks are answered
by `responses`. Family history is what `job_performance_analysis` records (`RunRecord`s in
the store), written here as it would have been by earlier runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import responses

from jobwarden.kube.objects import Job
from jobwarden.performance.runs import RunRecord, append_run, family_name
from jobwarden.sinks.storage import BlobReportStore
from tests.unit.test_event_path import (  # the harness: fixtures and helpers
    HOOK_URL,
    ONCALL,
    Played,
    hook,
    no_webhook_delays,
    scenario,
)

__all__ = ["hook", "no_webhook_delays", "scenario"]  # fixtures used here


def seed_history(
    store: BlobReportStore,
    namespace: str,
    family: str,
    seconds: list[float],
    outcomes: list[str] | None = None,
) -> None:
    """Earlier runs of `family` in cluster `local`, ended over the last days."""
    now = dt.datetime.now(dt.UTC)
    for i, took in enumerate(seconds):
        end = now - dt.timedelta(hours=3 * (i + 1))
        append_run(
            store,
            RunRecord(
                cluster="local",
                namespace=namespace,
                job=f"{family}-{1000 + i}",
                job_uid=f"seed-{i:04d}",
                family=family,
                start=end - dt.timedelta(seconds=took),
                end=end,
                duration_seconds=took,
                outcome=(outcomes or ["succeeded"] * len(seconds))[i],  # type: ignore[arg-type]
            ),
        )


def _family(played: Played) -> tuple[str, str]:
    job = played.job
    return job["metadata"]["namespace"], family_name(job["metadata"]["name"])


# --- the failure report ------------------------------------------------------------------------


def test_an_oomkilled_failure_report_names_the_exact_restart_command(scenario: Any) -> None:
    played = scenario("oomkilled")
    assert played.post("jobFailureReporter") == 200
    text = played.markdown("jobFailureReporter")
    assert "### Restart with more memory" in text
    assert (
        "jobwarden restart --cluster local --namespace rec-oomkilled --name resize-images "
        "--increase-memory"
    ) in text


def test_a_failure_that_is_no_oomkill_names_no_restart_command(scenario: Any) -> None:
    played = scenario("backoff-log-error")
    assert played.post("jobFailureReporter") == 200
    assert "--increase-memory" not in played.markdown("jobFailureReporter")


def test_a_failure_report_quotes_its_familys_p50_and_p95(scenario: Any) -> None:
    played = scenario("oomkilled")
    namespace, family = _family(played)
    seed_history(
        played.store,
        namespace,
        family,
        [60.0, 70.0, 80.0, 90.0, 100.0],
        ["succeeded", "succeeded", "failed", "succeeded", "succeeded"],
    )
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    assert (
        f"Runs of {namespace}/{family} over the last 14d: 5, 80% succeeded, p50 80s, p95 98s;"
        in report.summary
    )
    assert f"## Family {namespace}/{family}" in played.markdown("jobFailureReporter")


def test_a_failure_report_of_a_family_without_history_says_nothing_of_it(scenario: Any) -> None:
    played = scenario("oomkilled")
    assert played.post("jobFailureReporter") == 200
    assert "Runs of" not in played.report("jobFailureReporter").summary


def test_the_failure_reporter_ignores_a_success_that_is_no_retry_without_reading_the_cluster(
    scenario: Any,
) -> None:
    played = scenario("succeeded")
    assert played.post("jobFailureReporter") == 200
    assert played.reports("jobFailureReporter") == []
    assert played.replay.served == []


# --- regressions --------------------------------------------------------------------------------


def test_a_run_slower_than_p95_times_the_factor_is_posted_once_as_a_regression(
    scenario: Any, hook: responses.RequestsMock
) -> None:
    played = scenario("succeeded", webhook=ONCALL)  # default routing: regressions are posted
    hook.add(responses.POST, HOOK_URL, status=200)
    namespace, family = _family(played)
    seed_history(played.store, namespace, family, [1.0] * 6)  # p95 1s
    view = Job.from_json(played.job)  # the recorded run's own duration (a few seconds)
    assert view.start_time is not None and view.finished_at is not None
    took = round((view.finished_at - view.start_time).total_seconds())
    assert took >= 2  # slower than 1.5x the p95
    assert played.post("jobPerformanceAnalysis") == 200
    assert played.post("jobPerformanceAnalysis") == 200  # redelivered
    (report,) = played.reports("jobPerformanceAnalysis")
    assert report.title == (
        f"Job {namespace}/daily-report took {took}s, {took:.1f}x its family's p95 (1s)"
    )
    assert "over its last 6 runs" in report.summary and report.severity == "warning"
    assert len(hook.calls) == 1
    assert hook.calls[0].request.headers["X-Jobwarden-Report-Id"] == report.id


def test_a_run_within_its_familys_usual_time_makes_no_report(scenario: Any) -> None:
    played = scenario("succeeded")
    namespace, family = _family(played)
    seed_history(played.store, namespace, family, [4.0, 5.0, 3.5, 4.5, 6.0])
    assert played.post("jobPerformanceAnalysis") == 200
    assert played.reports("jobPerformanceAnalysis") == []
    assert len(played.runs()) == 6  # the run is recorded all the same


def test_a_family_with_too_little_history_is_not_judged(scenario: Any) -> None:
    played = scenario("succeeded")
    namespace, family = _family(played)
    seed_history(played.store, namespace, family, [0.5, 0.5, 0.5, 0.5])  # minRuns is 5
    assert played.post("jobPerformanceAnalysis") == 200
    assert played.reports("jobPerformanceAnalysis") == []


def test_a_failure_that_takes_the_success_rate_below_the_threshold_is_a_regression(
    scenario: Any,
) -> None:
    played = scenario("oomkilled")
    namespace, family = _family(played)
    # 4 of 5 succeeded (80%, the threshold): this failure makes it 4 of 6
    seed_history(
        played.store,
        namespace,
        family,
        [100.0, 100.0, 100.0, 100.0, 100.0],
        ["succeeded", "failed", "succeeded", "succeeded", "succeeded"],
    )
    assert played.post("jobPerformanceAnalysis") == 200
    (report,) = played.reports("jobPerformanceAnalysis")
    assert report.title == (
        f"Job {namespace}/resize-images failed: its family's success rate fell to 67%"
    )
    assert "(4 of 6 runs), below 80% (it was 80%)" in report.summary


# --- a restart's retry that succeeded ------------------------------------------------------------


def test_a_retrys_success_is_reported_once_linked_to_the_original_and_posted_by_default(
    scenario: Any, hook: responses.RequestsMock
) -> None:
    played = scenario("retry-succeeded", webhook=ONCALL)
    hook.add(responses.POST, HOOK_URL, status=200)
    assert played.post("jobFailureReporter", "m-1") == 200
    assert played.post("jobFailureReporter", "m-2") == 200  # announced again
    (report,) = played.reports("jobFailureReporter")
    assert report.title.startswith(
        "The retry of rec-retry-succeeded/resize with memory raised to 768Mi succeeded: "
        "resize-retry-1 completed in "
    )
    assert report.severity == "info"
    text = played.markdown("jobFailureReporter")
    assert "| Original uid | 5d8f7a9e-0c1b-4e2f-9a3d-7b6c5e4f3a21 |" in text
    assert "| Restarted by | system:serviceaccount:ops:oncall |" in text
    assert len(hook.calls) == 1


def _run(took: float, deadline: int | None, reason: str = "Completed") -> RunRecord:
    end = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    return RunRecord(
        cluster="local",
        namespace="batch",
        job="ledger-1",
        job_uid="u-1",
        family="ledger",
        start=end - dt.timedelta(seconds=took),
        end=end,
        duration_seconds=took,
        outcome="succeeded" if reason == "Completed" else "failed",
        reason=reason,
        active_deadline_seconds=deadline,
    )


def test_a_run_that_used_most_of_its_deadline_is_a_regression_without_any_history() -> None:
    from jobwarden.performance.regression import find_regressions
    from jobwarden.workflowconfig import Regressions

    (found,) = find_regressions(_run(270.0, 300), [], Regressions())
    assert found.headline == "used 90% of its deadline (4m30s of 300s)"
    assert find_regressions(_run(200.0, 300), [], Regressions()) == []  # 67%: fine
    # killed by the deadline: a failure, which the failure reporter reports
    assert find_regressions(_run(300.0, 300, "DeadlineExceeded"), [], Regressions()) == []
    assert find_regressions(_run(270.0, 300), [], Regressions(deadline_fraction=0.95)) == []


def test_a_retrys_run_is_recorded_in_its_originals_family(scenario: Any) -> None:
    played = scenario("retry-succeeded")
    assert played.post("jobPerformanceAnalysis") == 200
    (run,) = played.runs()
    assert (run["job"], run["family"]) == ("resize-retry-1", "resize")
