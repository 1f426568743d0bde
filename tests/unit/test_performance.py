"""Performance analysis: run records, statistics, recommendations and the report, hermetic."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from jobwarden.config import parse_config
from jobwarden.edge import handle_cloudevent, handle_http
from jobwarden.enrich import Enrichment, PodReport, Usage, phase_times
from jobwarden.httpapi import HttpRequest
from jobwarden.jobevent import JobEvent
from jobwarden.kube.events import Event, event_view
from jobwarden.kube.objects import Job, JobRef, Pod
from jobwarden.performance.analysis import analyse_runs, family_stats, window
from jobwarden.performance.evidence import event_phases
from jobwarden.performance.handler import window_report
from jobwarden.performance.report import build_report
from jobwarden.performance.runs import (
    ContainerUsage,
    RunRecord,
    append_run,
    family_name,
    family_of,
    load_runs,
    parse_cpu,
    record_from_enrichment,
    record_from_trigger,
    run_key,
)
from jobwarden.performance.stats import percentile, trend
from jobwarden.render import render
from jobwarden.render.html import render_html
from jobwarden.runtime import Runtime, registry_for
from jobwarden.sinks.storage import ReportStore, open_store

T0 = dt.datetime(2024, 5, 1, 0, 0, tzinfo=dt.UTC)


def run(i: int, duration: float = 300.0, **kw: Any) -> RunRecord:
    """Run number `i` of family `nightly`, starting every 10 minutes from T0."""
    start = T0 + dt.timedelta(minutes=10 * i)
    fields: dict[str, Any] = {
        "cluster": "prod",
        "namespace": "batch",
        "job": f"nightly-{28000 + i}",
        "job_uid": f"uid-{i:05d}",
        "family": "nightly",
        "start": start,
        "end": start + dt.timedelta(seconds=duration),
        "duration_seconds": duration,
        "outcome": "succeeded",
        "reason": "Completed",
        "pod_count": 1,
        "pending_seconds": 1.0,
        "pulling_seconds": 2.0,
        "running_seconds": duration - 3,
        "active_deadline_seconds": 3600,
        "backoff_limit": 0,
    }
    fields.update(kw)
    return RunRecord(**fields)


def texts(runs: list[RunRecord]) -> str:
    return "\n".join(f.text for f in family_stats(runs).findings)


# --- statistics ------------------------------------------------------------------------------


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0


def test_trend_says_getting_slower_by_how_much() -> None:
    t = trend([100.0, 100.0, 100.0, 100.0, 150.0, 150.0, 150.0, 150.0])
    assert t.direction == "slower"
    assert t.describe().startswith("getting slower by 50% (median 100s → 2m30s)")


def test_trend_faster_stable_and_too_few_runs() -> None:
    assert trend([200.0, 200.0, 100.0, 100.0]).describe().startswith("getting faster by 50%")
    assert trend([100.0, 104.0, 98.0, 101.0]).direction == "stable"
    assert trend([100.0, 500.0, 900.0]).direction == "unknown"


def test_family_stats_count_success_rate_durations_and_retries() -> None:
    runs = [run(i, 100.0 + i) for i in range(9)] + [
        run(9, 400.0, outcome="failed", reason="BackoffLimitExceeded", retries=3)
    ]
    s = family_stats(runs)
    assert (s.count, s.succeeded, s.failed, s.retries) == (10, 9, 1, 3)
    assert s.success_rate == 0.9
    assert s.p50 == pytest.approx(104.5)
    assert s.max == 400.0
    assert s.trend.direction == "stable"  # one slow run is not a trend


def test_runs_are_grouped_by_cluster_namespace_and_family() -> None:
    runs = [run(0), run(1), run(2, family="other"), run(3, cluster="dev"), run(4, namespace="x")]
    a = analyse_runs(runs, T0, T0 + dt.timedelta(days=1), "24h")
    assert [(f.cluster, f.namespace, f.family, f.count) for f in a.families] == [
        ("prod", "batch", "nightly", 2),
        ("dev", "batch", "nightly", 1),
        ("prod", "batch", "other", 1),
        ("prod", "x", "nightly", 1),
    ]
    assert a.runs == 5


# --- recommendations -------------------------------------------------------------------------


def test_deadline_below_p95_says_how_many_runs_will_be_killed() -> None:
    runs = [run(i, 250.0, active_deadline_seconds=300) for i in range(18)]
    runs += [run(18 + i, 450.0, active_deadline_seconds=300) for i in range(2)]
    text = texts(runs)
    assert "activeDeadlineSeconds 300 is below p95 of 450s: 1 in 10 runs will be killed" in text
    assert "Raise it to at least 600s" in text


def test_runs_killed_at_the_deadline_are_counted() -> None:
    runs = [run(i, 100.0, active_deadline_seconds=300) for i in range(19)]
    runs.append(
        run(19, 300.0, active_deadline_seconds=300, outcome="failed", reason="DeadlineExceeded")
    )
    assert "1 of 20 runs hit activeDeadlineSeconds 300" in texts(runs)


def test_backoff_limit_with_identical_failures_is_called_out() -> None:
    failed: dict[str, Any] = {
        "outcome": "failed",
        "reason": "BackoffLimitExceeded",
        "backoff_limit": 6,
    }
    runs = [run(i, backoff_limit=6) for i in range(3)]
    runs += [
        run(3 + i, cause="OOMKilled", identical_retries=True, retries=7, **failed) for i in range(2)
    ]
    text = texts(runs)
    assert "backoffLimit 6 while every retry failed the same way (OOMKilled)" in text
    assert "12 retries only delayed the failure" in text


def test_oom_history_names_the_container_and_a_bigger_limit() -> None:
    limits = {"worker": {"memory": "512Mi"}}
    runs = [run(i, limits=limits) for i in range(7)]
    runs += [
        run(7 + i, limits=limits, outcome="failed", oom_killed=True, oom_containers=["worker"])
        for i in range(3)
    ]
    assert (
        "3 of the last 10 runs OOMKilled: raise the memory limit of `worker` from 512Mi to "
        "about 768Mi" in texts(runs)
    )


def test_image_pull_dominated_runs_are_found() -> None:
    runs = [run(i, 200.0, pulling_seconds=150.0, running_seconds=45.0) for i in range(4)]
    text = texts(runs)
    assert "4 of 4 runs spent longer pulling images" in text
    assert "imagePullPolicy IfNotPresent" in text


def test_pending_pods_with_parallelism_point_at_capacity() -> None:
    runs = [
        run(i, 600.0, parallelism=8, completions=8, pending_seconds=2000.0, running_seconds=2400.0)
        for i in range(4)
    ]
    text = texts(runs)
    assert "parallelism 8: pods spent 45% of their time Pending" in text
    assert "Pods waited 45% of their time to be scheduled" in text


def test_serial_completions_suggest_parallelism() -> None:
    runs = [run(i, 900.0, parallelism=1, completions=10) for i in range(4)]
    assert "completions 10 run one at a time" in texts(runs)


def test_usage_near_the_memory_limit_and_idle_requests() -> None:
    runs = [
        run(
            i,
            requests={"worker": {"cpu": "2", "memory": "1Gi"}},
            limits={"worker": {"memory": "1Gi"}},
            usage={"worker": ContainerUsage(cpu_millicores=120, memory_bytes=1000 * 2**20)},
        )
        for i in range(3)
    ]
    text = texts(runs)
    assert "`worker` peaked at 1000Mi of its 1Gi memory limit" in text
    assert "`worker` requests 2 CPU but used at most 120m" in text


def test_low_success_rate_names_the_most_common_failure() -> None:
    runs = [run(0)] + [
        run(i, outcome="failed", reason="BackoffLimitExceeded", cause="NonZeroExit")
        for i in (1, 2, 3)
    ]
    s = family_stats(runs)
    assert "Only 25% of 4 runs succeeded; the most common failure is NonZeroExit (3 of 3)" in texts(
        runs
    )
    assert s.findings[0].severity == "error"


def test_a_healthy_family_has_no_findings() -> None:
    assert family_stats([run(i, 120.0) for i in range(10)]).findings == ()


def test_a_family_without_deadline_gets_a_suggestion() -> None:
    runs = [run(i, 120.0, active_deadline_seconds=None) for i in range(5)]
    assert "No activeDeadlineSeconds" in texts(runs)


# --- family naming and records ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "family"),
    [
        ("backup-28744380", "backup"),
        ("etl-2024-05-01", "etl"),
        ("import-x7k2p", "import"),
        ("render-1a2b3c4d", "render"),
        ("import-batch", "import-batch"),
        ("migrate-v2", "migrate-v2"),
        ("worker-12abc", "worker-12abc"),
        ("pi", "pi"),
        ("42", "42"),
    ],
)
def test_family_is_the_job_name_without_its_run_suffix(job: str, family: str) -> None:
    assert family_name(job) == family


def test_family_prefers_the_cronjob_then_the_label() -> None:
    labels = {"app.kubernetes.io/name": "reports", "team": "data"}
    assert family_of("nightly-28744380", "nightly", labels) == "nightly"
    assert family_of("adhoc-x7k2p", None, labels) == "reports"
    assert family_of("adhoc-x7k2p", None, labels, "team") == "data"
    assert family_of("adhoc-x7k2p", None, {}) == "adhoc"


def test_cpu_quantities_in_millicores() -> None:
    assert parse_cpu("250m") == 250
    assert parse_cpu("1.5") == 1500
    assert parse_cpu("2500000n") == pytest.approx(2.5)
    assert parse_cpu("bogus") is None


def _job(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "nightly-28744380",
            "namespace": "batch",
            "uid": "job-uid-1",
            "ownerReferences": [{"kind": "CronJob", "name": "nightly"}],
        },
        "spec": {
            "backoffLimit": 1,
            "activeDeadlineSeconds": 600,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "worker",
                            "image": "etl:1",
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "256Mi", "gpu": "1"},
                                "limits": {"memory": "512Mi"},
                            },
                        }
                    ]
                }
            },
        },
        "status": status,
    }


def _pod(
    name: str, created: int, scheduled: int, started: int | None, finished: int | None, reason: str
) -> Pod:
    def t(s: int) -> str:
        return (T0 + dt.timedelta(seconds=s)).isoformat().replace("+00:00", "Z")

    state: dict[str, Any]
    if started is None:
        state = {"waiting": {"reason": reason}}
    else:
        term: dict[str, Any] = {"startedAt": t(started), "exitCode": 137, "reason": reason}
        if finished is not None:
            term["finishedAt"] = t(finished)
        state = {"terminated": term}
    return Pod.from_json(
        {
            "metadata": {
                "name": name,
                "namespace": "batch",
                "uid": name,
                "creationTimestamp": t(created),
            },
            "status": {
                "phase": "Failed",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": t(scheduled)}
                ],
                "containerStatuses": [{"name": "worker", "state": state}],
            },
        }
    )


def failed_enrichment() -> Enrichment:
    def t(s: int) -> str:
        return (T0 + dt.timedelta(seconds=s)).isoformat().replace("+00:00", "Z")

    job = Job.from_json(
        _job(
            startTime=t(0),
            failed=2,
            conditions=[
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "lastTransitionTime": t(200),
                }
            ],
        )
    )
    pods = [
        _pod("p1", 0, 10, 40, 100, "OOMKilled"),  # pending 10, pulling 30, running 60
        _pod("p2", 100, 120, None, None, "ImagePullBackOff"),  # pending 20, pulling until 200
    ]
    reports = [
        PodReport(pods[0], phase_times(pods[0]), usage={"worker": Usage("120m", "500Mi")}),
        PodReport(pods[1], phase_times(pods[1])),
    ]
    return Enrichment(
        JobRef("prod", "batch", job.name, job.uid), job, tuple(reports), (), (), "", 0
    )


def test_record_from_enrichment_sums_pod_phases_and_keeps_resources() -> None:
    rec = record_from_enrichment(failed_enrichment())
    assert (rec.family, rec.outcome, rec.reason) == ("nightly", "failed", "BackoffLimitExceeded")
    assert rec.duration_seconds == 200
    assert (rec.pending_seconds, rec.pulling_seconds, rec.running_seconds) == (30, 110, 60)
    assert (rec.pod_count, rec.retries) == (2, 2)
    assert rec.oom_killed and rec.oom_containers == ["worker"]
    assert rec.requests == {"worker": {"cpu": "500m", "memory": "256Mi"}}
    assert rec.limits == {"worker": {"memory": "512Mi"}}
    assert rec.usage == {"worker": ContainerUsage(cpu_millicores=120, memory_bytes=500 * 2**20)}
    assert (rec.backoff_limit, rec.active_deadline_seconds) == (1, 600)
    assert run_key(rec) == "runs/prod/2024-05-01/nightly/job-uid-1.json"


def test_record_of_an_unfinished_job_is_refused() -> None:
    e = failed_enrichment()
    running = Enrichment(e.ref, Job.from_json(_job(active=1)), e.pods, (), (), "", 0)
    with pytest.raises(ValueError, match="has not finished"):
        record_from_enrichment(running)


def test_phases_of_pods_deleted_at_the_deadline_come_from_their_events() -> None:
    def event(kind: str, name: str, uid: str, reason: str, at: int, message: str = "") -> Event:
        when = (T0 + dt.timedelta(seconds=at)).isoformat()
        return event_view(
            {
                "involvedObject": {"kind": kind, "name": name, "uid": uid},
                "type": "Normal",
                "reason": reason,
                "message": message,
                "firstTimestamp": when,
                "lastTimestamp": when,
            }
        )

    e = failed_enrichment()
    events = (
        event("Job", e.job.name, e.job.uid, "SuccessfulCreate", 0, "Created pod: p9"),
        event("Pod", "p9", "p9-uid", "Scheduled", 5),
        event("Pod", "p9", "p9-uid", "Failed", 30, 'Failed to pull image "etl:1"'),
    )
    gone = Enrichment(e.ref, e.job, (), events, (), "", 0)
    assert event_phases(e.job, events, T0 + dt.timedelta(seconds=200)) == [(5.0, 195.0, 0.0)]
    rec = record_from_enrichment(gone)
    assert (rec.pending_seconds, rec.pulling_seconds, rec.running_seconds) == (5, 195, 0)
    assert rec.pod_count == 2  # from the Job's status: 2 failed


def _trigger(**status: Any) -> Any:
    from jobwarden.intake import parse_cloudevent

    event = JobEvent.model_validate(
        {
            "cluster": "prod",
            "namespace": "batch",
            "name": "report-x7k2p",
            "uid": "gone-uid",
            "transition": "succeeded",
            "time": "2024-05-01T00:05:00Z",
            "status": status,
            "labels": {"app.kubernetes.io/name": "reports"},
        }
    )
    attrs = {
        "id": event.id,
        "type": f"dev.jobwarden.job.v1.{event.transition}",
        "source": "x",
        "specversion": "1.0",
    }
    return parse_cloudevent(attrs, event.to_json())


def test_record_from_the_event_snapshot_when_the_job_is_gone() -> None:
    rec = record_from_trigger(_trigger(startTime="2024-05-01T00:00:00Z", succeeded=1))
    assert rec is not None
    assert (rec.family, rec.duration_seconds, rec.source, rec.pod_count) == (
        "reports",
        300,
        "event",
        1,
    )
    assert rec.pending_seconds is None
    assert record_from_trigger(_trigger(succeeded=1)) is None  # no start time: nothing to record


def test_append_is_idempotent_and_load_respects_window_and_clusters(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    a, b = run(0), run(1, cluster="dev")
    assert append_run(store, a) is True
    assert append_run(store, a.model_copy(update={"duration_seconds": 1.0})) is False
    assert append_run(store, b) is True
    assert len(list(tmp_path.rglob("*.json"))) == 2
    stored = json.loads((tmp_path / run_key(a)).read_text())
    assert stored["jobUid"] == "uid-00000" and stored["durationSeconds"] == 300
    day = (T0, T0 + dt.timedelta(days=1))
    assert load_runs(store, *day) == [a, b]
    assert load_runs(store, *day, clusters=["prod"]) == [a]
    assert load_runs(store, *day, family="other") == []
    assert load_runs(store, T0 + dt.timedelta(hours=2), T0 + dt.timedelta(days=2)) == []


class BucketLike:
    """A folder store that says it is a bucket (so runs are read concurrently)."""

    url = "gs://bucket/prefix"

    def __init__(self, inner: ReportStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_runs_are_read_concurrently_from_a_bucket_and_come_back_in_order(tmp_path: Path) -> None:
    folder = open_store(f"file://{tmp_path}")
    runs = [run(i, job_uid=f"u-{i:03d}") for i in range(100)]
    for r in reversed(runs):
        append_run(folder, r)
    assert load_runs(BucketLike(folder), T0, T0 + dt.timedelta(days=2)) == runs


def test_an_unreadable_run_record_is_skipped(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    append_run(store, run(0))
    bad = tmp_path / "runs/prod/2024-05-01/nightly/bad.json"
    bad.write_text("{not json")
    (tmp_path / "runs/prod/2024-05-01/nightly/half.json").write_text('{"cluster": "prod"}')
    assert [r.job_uid for r in load_runs(store, T0, T0 + dt.timedelta(days=1))] == ["uid-00000"]


# --- report ----------------------------------------------------------------------------------


def test_report_has_recommendations_tables_and_charts() -> None:
    runs = [run(i, 250.0 + 10 * i, active_deadline_seconds=300) for i in range(12)]
    a = analyse_runs(runs, T0, T0 + dt.timedelta(days=1), "24h")
    report = build_report(
        a,
        report_id="r1",
        source_event_id="s1",
        now=T0 + dt.timedelta(days=1),
        cluster="prod",
        namespace="batch",
        job="nightly",
        scope="batch/nightly in cluster prod",
    )
    assert report.workflow == "jobPerformanceAnalysis"
    assert (
        report.title
        == "Performance of batch/nightly over the last 24h: 12 runs, 100% succeeded, p95 5m54s"
    )
    assert report.severity == "error"
    assert "activeDeadlineSeconds 300 is below p95" in report.summary
    charts = {b.title: b for b in report.blocks if b.type == "chart"}
    assert charts["Duration of batch/nightly over time"].kind == "line"
    assert len(charts["Duration of batch/nightly over time"].series[0].points) == 12
    phases = charts["Where pod time went (mean pod-seconds per run)"]
    assert phases.kind == "stackedBar"
    assert [s.name for s in phases.series] == ["pending", "pulling", "running"]
    html = render_html(report)
    assert html.count("<svg") >= 2


def test_many_runs_are_drawn_as_bucket_median_and_max_in_time_order() -> None:
    runs = [run(i, 100.0 + i % 7) for i in range(144)]  # every 10 minutes for 24h
    a = analyse_runs(runs, T0, T0 + dt.timedelta(days=1), "24h")
    report = build_report(
        a,
        report_id="r",
        source_event_id="s",
        now=T0,
        cluster="prod",
        namespace="batch",
        job="nightly",
        scope="x",
    )
    chart = next(b for b in report.blocks if b.type == "chart" and b.kind == "line")
    assert [s.name for s in chart.series] == ["p50", "max"]
    categories = chart.categories()
    assert len(categories) == 24 and categories == sorted(categories)


def test_empty_window_reports_that_there_is_nothing_yet() -> None:
    a = analyse_runs([], T0, T0 + dt.timedelta(days=7), "7d")
    report = build_report(
        a,
        report_id="r",
        source_event_id="s",
        now=T0,
        cluster="prod",
        namespace="batch",
        job="x",
        scope="batch/x",
    )
    assert report.title == "No finished runs of batch/x in the last 7d"
    assert report.severity == "info"


# --- handlers without a cluster --------------------------------------------------------------


def runtime(tmp_path: Path, **flow: Any) -> Runtime:
    settings = parse_config(
        {
            "clusters": [],
            "sinks": {"storage": {"url": f"file://{tmp_path / 'store'}"}},
            "workflows": {"jobWorkflows": {"jobPerformanceAnalysis": flow}},
        },
        source="test",
    )
    return Runtime(
        settings=settings,
        clusters=registry_for(settings, {}),
        env={},
        clock=lambda: T0 + dt.timedelta(hours=23),
    )


def handle_performance_event(attributes: Any, data: Any, rt: Runtime) -> str:
    return handle_cloudevent("jobPerformanceAnalysis", attributes, data, rt)


def handle_performance_request(
    body: Any, query: dict[str, str], rt: Runtime
) -> tuple[int, str, str]:
    answer = handle_http("jobPerformanceAnalysis", HttpRequest("POST", body, query), rt)
    return answer.status, answer.text, answer.content_type


def ce(event: JobEvent) -> tuple[dict[str, str], bytes]:
    attrs = {
        "id": event.id,
        "type": f"dev.jobwarden.job.v1.{event.transition}",
        "source": "x",
        "specversion": "1.0",
    }
    return attrs, event.to_json()


def test_disabled_event_writes_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    event = _trigger(startTime="2024-05-01T00:00:00Z").job_event
    assert handle_performance_event(*ce(event), runtime(tmp_path, enabled=False)) == "disabled"
    assert "disabled" in caplog.text
    assert not (tmp_path / "store").exists()


def test_malformed_and_unfinished_events_are_acknowledged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rt = runtime(tmp_path)
    attrs = {"id": "poison-7", "type": "google.cloud.pubsub.topic.v1.messagePublished"}
    assert handle_performance_event(attrs, {"message": {"data": "!!"}}, rt) == "malformed"
    assert "poison-7" in caplog.text
    started = _trigger().job_event.model_copy(update={"transition": "started"})
    assert handle_performance_event(*ce(started), rt) == "ignored"
    finished = _trigger(startTime="2024-05-01T00:00:00Z").job_event
    assert handle_performance_event(*ce(finished), rt) == "rejected"  # cluster not configured
    assert not (tmp_path / "store").exists()


def stored(rt: Runtime, runs: list[RunRecord]) -> ReportStore:
    for r in runs:
        append_run(rt.store, r)
    return rt.store


def test_the_window_report_of_every_family_has_charts(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    stored(rt, [run(i) for i in range(5)] + [run(5, family="other", job="other-1")])
    report = window_report(rt, {}, ["prod"])
    html = render(report, "html")
    assert "<svg" in html
    assert "Performance of 2 Job families (all families in every cluster)" in html
    report = window_report(rt, {"cluster": "prod", "namespace": "batch"}, ["prod"])
    assert report.workflow == "jobPerformanceAnalysis" and report.cluster == "prod"
    assert window_report(rt, {}, ["elsewhere"]).summary != report.summary  # other clusters' runs


def test_a_request_without_credentials_is_401(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    settings = parse_config(
        {
            "clusters": [{"name": "prod", "kubeconfig": str(kubeconfig)}],
            "sinks": {"storage": {"url": f"file://{tmp_path / 'store'}"}},
        },
        source="test",
    )
    rt = Runtime(settings=settings, clusters=registry_for(settings, {}), env={})
    status, text, _ = handle_performance_request({"cluster": "prod"}, {}, rt)
    assert status == 401 and "Authorization: Bearer" in json.loads(text)["error"]
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    ("body", "query", "status", "error"),
    [
        ({"duration": "a week"}, {}, 400, "is not a duration"),
        ({}, {"format": "pdf"}, 400, "is not one of json, md, html"),
        ({"name": "x"}, {}, 400, "needs its cluster and namespace"),
        ({"cluster": "nowhere", "namespace": "b", "name": "x"}, {}, 400, "not configured"),
        ([1, 2], {}, 400, "JSON object"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    tmp_path: Path, body: Any, query: dict[str, str], status: int, error: str
) -> None:
    got, text, _ = handle_performance_request(body, query, runtime(tmp_path))
    assert got == status and error in json.loads(text)["error"]


def test_request_when_disabled_is_forbidden(tmp_path: Path) -> None:
    status, _, _ = handle_performance_request({}, {}, runtime(tmp_path, enabled=False))
    assert status == 403


def test_window_defaults_come_from_the_duration_text() -> None:
    since, until = window("7d", T0)
    assert until - since == dt.timedelta(days=7)


def test_peaks_over_life_from_prometheus_size_the_family() -> None:
    """Run records keep each container's peaks over its pods' lives (gone pods too) and
    the throttling; the analysis sizes requests and limits from them."""
    e = failed_enrichment()
    live, gone = e.pods
    peak = Usage("900m", "498Mi", peak=True, memory_bytes=498 * 2**20, cpu_cores=0.9,
                 throttled=0.4)  # fmt: skip
    e = Enrichment(
        e.ref, e.job, (replace(live, usage={"worker": peak}),), (), (), "", 0,
        gone_pods=(replace(gone, gone=True, usage={"worker": Usage(
            "100m", "600Mi", peak=True, memory_bytes=600 * 2**20, cpu_cores=0.1,
            throttled=0.1)}),),
    )  # fmt: skip
    rec = record_from_enrichment(e)
    assert rec.usage == {
        "worker": ContainerUsage(
            cpu_millicores=900, memory_bytes=600 * 2**20, throttled=0.4, over_life=True
        )
    }
    assert RunRecord.model_validate_json(rec.model_dump_json(by_alias=True)) == rec
    texts = [f.text for f in family_stats([rec]).findings]
    assert "`worker` peaked at 600Mi of its 512Mi memory limit: close to being OOMKilled; " \
        "raise the limit." in texts  # fmt: skip
    assert "`worker` was CPU-throttled in 40% of periods: raise or remove the CPU limit, " \
        "or it runs slower than it could." in texts  # fmt: skip
