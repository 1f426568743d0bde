"""A CronJob's `missed` / `no-success`, from the exporter's event to the stored and posted report.

The event is the one the exporter's tracker announces (built by the real code from CronJob
and Job states at an injected time); it reaches the failure reporter's functions-framework
app as an Eventarc Pub/Sub CloudEvent. The cluster must not be read: its transport fails
the test on any request.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import responses

from jobwarden.errors import MalformedEventError
from jobwarden.intake import parse_cloudevent
from jobwarden.jobevent import CLOUDEVENT_TYPE_PREFIX, JobEvent
from jobwarden.report import Report
from jobwarden.sinks import webhooks
from jobwarden.sinks.storage import BlobReportStore
from jobwarden_exporter.cronjobs import CronJobTracker
from jobwarden_exporter.watcher import cronjob_event
from tests.support.events import eventarc, from_jobwarden
from tests.support.replay import CLUSTER, default_runtime, function_client, make_runtime
from tests.support.replay import memory_store as new_store
from tests.unit.test_exporter_cronjobs import at, cronjob, run

HOOK_URL = "https://hooks.example.test/services/T000/B000/not-a-real-secret"
DATA_URL = "https://hooks.example.test/services/T000/B001/not-a-real-secret"
ONCALL = {"name": "oncall", "type": "slack", "urlEnv": "ONCALL_URL"}  # names no workflows
DATA_TEAM = {  # its rules select other namespaces: it gets only what is sent to it by name
    "name": "data-team",
    "type": "slack",
    "urlEnv": "DATA_URL",
    "match": {"namespaces": ["data-*"]},
}


class NoCluster:
    """A transport that fails the test: these reports are built from the event alone."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> tuple[int, bytes]:
        pytest.fail(f"the failure reporter read the cluster: {method} {url}")

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        pytest.fail("the failure reporter watched the cluster")


@pytest.fixture(autouse=True)
def _no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        webhooks,
        "DEFAULT_RETRY",
        webhooks.RetryPolicy(attempts=3, base_s=0.0, max_backoff_s=0.0, max_retry_after_s=0.0),
    )


@pytest.fixture
def hook() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, HOOK_URL, status=200)
        mock.add(responses.POST, DATA_URL, status=200)
        yield mock


@pytest.fixture
def store() -> Iterator[BlobReportStore]:
    reports = new_store()
    runtime = make_runtime(
        NoCluster(),
        store=reports,
        webhooks=[ONCALL, DATA_TEAM],
        env={"ONCALL_URL": HOOK_URL, "DATA_URL": DATA_URL},
    )
    with default_runtime(runtime):
        yield reports


def forbid_miss(**annotations: str) -> JobEvent:
    """What the exporter publishes when a Forbid CronJob's run outlasts the next schedule
    (the CronJob's annotations replaced by `annotations`)."""
    long_run = run(1)
    obj = cronjob(policy="Forbid", last_schedule=1, active=(long_run["metadata"]["name"],))
    obj["metadata"]["annotations"] = annotations
    tracker = CronJobTracker(grace=dt.timedelta(minutes=2), no_success_after=0)
    tracker.observe(obj, now=at(0))
    tracker.job_seen(long_run)
    (alert,) = tracker.due(at(4.2))
    return cronjob_event(CLUSTER, alert)


@functools.cache
def client(workflow: str) -> Any:
    return function_client(workflow)


def post(workflow: str, event: JobEvent, message_id: str) -> int:
    headers, body = from_jobwarden(event, message_id)
    return int(client(workflow).post("/", headers=headers, data=body).status_code)


def reports(store: BlobReportStore) -> list[Report]:
    found = [store.get_report(e.path) for e in store.read_index()]
    return [r for r in found if r is not None]


def test_a_missed_run_is_reported_once_saying_what_when_why_and_what_to_check(
    store: BlobReportStore, hook: responses.RequestsMock
) -> None:
    event = forbid_miss()
    assert post("jobFailureReporter", event, "m-1") == 200
    assert post("jobFailureReporter", event, "m-2") == 200  # redelivery / restart: same id
    (report,) = reports(store)
    assert report.workflow == "jobFailureReporter"
    assert (report.namespace, report.job, report.job_uid) == ("batch", "nightly", "cj-uid-1")
    assert report.severity == "error"
    assert (
        report.title == "CronJob batch/nightly missed its run scheduled at 2026-05-01 12:02:00 UTC"
    )
    assert report.summary == (
        "No Job was started for the run scheduled at 2026-05-01 12:02:00 UTC (ConcurrencyForbid)."
    )
    text = report.model_dump_json()
    assert "concurrencyPolicy is Forbid and the previous run nightly-" in text
    assert "activeDeadlineSeconds" in text  # what to check
    assert "`concurrencyPolicy: Allow`" in text
    markdown = store.blobs.read(next(k for k in store.list() if k.endswith(".md")))
    assert markdown is not None and b"What to check" in markdown
    # routed like a failure report: the webhook that names no workflows gets it, once
    (posted,) = hook.calls
    assert posted.request.url == HOOK_URL
    assert posted.request.headers["X-Jobwarden-Report-Id"] == report.id


def test_the_cronjobs_notify_annotation_sends_it_to_the_owning_team(
    store: BlobReportStore, hook: responses.RequestsMock
) -> None:
    event = forbid_miss(**{"jobwarden.dev/notify": "data-team"})
    assert post("jobFailureReporter", event, "m-1") == 200
    (posted,) = hook.calls
    assert posted.request.url == DATA_URL


def test_another_scheduled_time_is_another_report() -> None:
    first = forbid_miss()
    tracker = CronJobTracker(grace=dt.timedelta(minutes=2), no_success_after=0)
    long_run = run(1)
    tracker.observe(
        cronjob(policy="Forbid", last_schedule=1, active=(long_run["metadata"]["name"],)),
        now=at(0),
    )
    tracker.job_seen(long_run)
    later = [cronjob_event(CLUSTER, a) for a in tracker.due(at(6.2))]
    assert [e.cronjob.scheduled_time for e in later if e.cronjob] == [at(2), at(3), at(4)]
    assert later[0].id == first.id and len({e.id for e in later}) == 3


def test_no_success_is_reported_with_the_last_success(
    store: BlobReportStore, hook: responses.RequestsMock
) -> None:
    tracker = CronJobTracker(grace=dt.timedelta(minutes=2), no_success_after=3)
    obj = cronjob(last_schedule=-0.9, last_success=-10, created=-60)
    obj["metadata"]["annotations"] = {}
    tracker.observe(obj, now=at(0))
    (alert,) = [a for a in tracker.due(at(0)) if a.transition == "no-success"]
    assert post("jobFailureReporter", cronjob_event(CLUSTER, alert), "m-1") == 200
    (report,) = reports(store)
    assert report.title == "CronJob batch/nightly has not succeeded for a while"
    assert "the last successful run at 2026-05-01T11:50:00Z (lastSuccessfulTime)" in (
        report.model_dump_json()
    )
    assert len(hook.calls) == 1


def test_a_silenced_cronjob_is_stored_not_posted(
    store: BlobReportStore, hook: responses.RequestsMock
) -> None:
    assert post("jobFailureReporter", forbid_miss(**{"jobwarden.dev/silence": "true"}), "m") == 200
    assert len(reports(store)) == 1
    assert len(hook.calls) == 0


def test_the_enrichers_have_no_job_to_read_and_acknowledge_without_a_report(
    store: BlobReportStore, hook: responses.RequestsMock
) -> None:
    for workflow in ("jobInfoEnricher", "jobEventsEnricher", "jobPodEnricher"):
        assert post(workflow, forbid_miss(), f"m-{workflow}") == 200
    assert reports(store) == []


def test_a_missed_event_without_its_cronjob_is_malformed_and_acknowledged(
    store: BlobReportStore, hook: responses.RequestsMock
) -> None:
    data = forbid_miss().model_dump(mode="json", by_alias=True)
    del data["cronjob"]
    with pytest.raises(MalformedEventError) as caught:
        parse_cloudevent({"id": "x", "type": CLOUDEVENT_TYPE_PREFIX + "missed"}, data)
    assert "transition 'missed' needs the CronJob in 'cronjob'" in str(caught.value)
    headers, body = eventarc(json.dumps(data).encode(), message_id="m-bad")
    assert client("jobFailureReporter").post("/", headers=headers, data=body).status_code == 200
    assert reports(store) == []
