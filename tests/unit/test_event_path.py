"""Each workflow's CloudEvent function, end to end, on recorded API answers.

The functions-framework app of each workflow receives a real Eventarc Pub/Sub CloudEvent
(the JobEvent our exporter would publish for the recorded Job); cluster `local` answers
from a recording made on the local stack (`tests/fixtures/recorded/`, re-recorded with
`.venv/bin/python -m tests.support.record_api`); reports go to an in-memory store;
webhooks are answered by `responses`. Assertions are on what users see: the function's
HTTP status (200 acknowledged, 500 redeliver), the stored report's words, the posts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
import responses

from jobwarden.report import Report
from jobwarden.runtime import Runtime
from jobwarden.sinks import webhooks
from jobwarden.sinks.storage import BlobReportStore
from jobwarden_dev.apirecording import Recording, ReplayTransport
from tests.support.replay import (
    REPORT_WORKFLOWS,
    default_runtime,
    function_client,
    load,
    make_runtime,
    memory_store,
    post_event,
    post_relayed_event,
)

HOOK_URL = "https://hooks.example.test/services/T000/B000/not-a-real-secret"
ONCALL = {"name": "oncall", "type": "slack", "urlEnv": "ONCALL_URL"}  # the default routing
EVERY_REPORT = {**ONCALL, "workflows": list(REPORT_WORKFLOWS)}
SCENARIOS = (
    "backoff-log-error",
    "oomkilled",
    "deadline-exceeded",
    "stuck-image-pull",
    "stuck-unschedulable",
    "deadline-image-pull",
    "succeeded",
    "cronjob-failure",
    "cronjob-streak",
    "gone",
    "oom-second-container",
    "indexed-failed-indexes",
    "pod-failure-policy-failjob",
)


@dataclass
class Played:
    """One scenario's recording behind cluster `local`, and the functions to post to."""

    recording: Recording
    replay: ReplayTransport
    store: BlobReportStore
    runtime: Runtime
    clients: dict[str, Any] = field(default_factory=dict)

    @property
    def job(self) -> dict[str, Any]:
        return dict(self.recording.meta["jobObject"])

    def post(self, workflow: str, message_id: str = "m-1", transition: str | None = None) -> int:
        """Post the scenario's event to `workflow`'s function; its HTTP status."""
        if workflow not in self.clients:
            self.clients[workflow] = function_client(workflow)
        status = post_event(
            workflow,
            self.job,
            transition or str(self.recording.meta["transition"]),
            message_id,
            client=self.clients[workflow],
        )
        if self.replay.missing:
            pytest.fail(
                f"{workflow} made requests that scenario {self.recording.scenario!r} did not "
                f"record: {self.replay.missing}; re-record with "
                "`.venv/bin/python -m tests.support.record_api`"
            )
        return status

    def post_run(self, run: int, message_id: str | None = None) -> int:
        """Announce step `run` of the scenario's recorded `sequence` (its Job and transition)
        to the failure reporter; its HTTP status."""
        step = self.recording.meta["sequence"][run]
        if "jobFailureReporter" not in self.clients:
            self.clients["jobFailureReporter"] = function_client("jobFailureReporter")
        status = post_event(
            "jobFailureReporter",
            dict(step["jobObject"]),
            str(step["transition"]),
            message_id or f"m-run-{run}",
            client=self.clients["jobFailureReporter"],
        )
        assert not self.replay.missing, self.replay.missing
        return status

    def relay(self, workflow: str, k8s_event: dict[str, Any], message_id: str) -> int:
        """Relay a Kubernetes Event about the scenario's Job to `workflow`'s function."""
        if workflow not in self.clients:
            self.clients[workflow] = function_client(workflow)
        return post_relayed_event(
            workflow, self.job, k8s_event, message_id, client=self.clients[workflow]
        )

    def recorded_events(self) -> list[dict[str, Any]]:
        """The Events the recording's API server answered with (each once: the Job's, then
        each pod's, read by object)."""
        seen: dict[str, dict[str, Any]] = {}
        for answer in (x for x in self.recording.exchanges if "/events" in x.path):
            for item in json.loads(answer.body)["items"]:
                seen.setdefault(str(item["metadata"]["uid"]), item)
        return list(seen.values())

    def reports(self, workflow: str) -> list[Report]:
        found = [self.store.get_report(e.path) for e in self.store.read_index()]
        return [r for r in found if r is not None and r.workflow == workflow]

    def report(self, workflow: str) -> Report:
        (only,) = self.reports(workflow)
        return only

    def markdown(self, workflow: str) -> str:
        (key,) = [k for k in self.store.list() if f"/{workflow}/" in k and k.endswith(".md")]
        data = self.store.blobs.read(key)
        assert data is not None
        return data.decode()

    def runs(self) -> list[dict[str, Any]]:
        return [self.store.get_json(k) for k in self.store.list("runs/")]

    def deliveries(self) -> list[dict[str, Any]]:
        outcomes = [k for k in self.store.list("deliveries/") if k.endswith(".json")]
        return [self.store.get_json(k) for k in outcomes]  # not the claims


@pytest.fixture(autouse=True)
def no_webhook_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three attempts per delivery, no sleeping between them (Retry-After included)."""
    monkeypatch.setattr(
        webhooks,
        "DEFAULT_RETRY",
        webhooks.RetryPolicy(attempts=3, base_s=0.0, max_backoff_s=0.0, max_retry_after_s=0.0),
    )


@pytest.fixture
def hook() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def play(name: str, *, with_webhook: bool = False, webhook: dict[str, Any] | None = None) -> Played:
    """Scenario `name`'s recording behind cluster `local`, an empty in-memory store, and
    webhook `oncall` (Slack, answered by `responses`; every report workflow routed to it
    unless `webhook` says otherwise) when asked."""
    recording = load(name)
    replay = recording.replay()
    store = memory_store()
    with_webhook = with_webhook or webhook is not None
    runtime = make_runtime(
        replay,
        store=store,
        webhooks=[webhook or EVERY_REPORT] if with_webhook else None,
        env={"ONCALL_URL": HOOK_URL} if with_webhook else None,
        prometheus=recording.replay_prometheus(),
    )
    return Played(recording, replay, store, runtime)


@pytest.fixture
def scenario() -> Iterator[Any]:
    """`scenario(name, with_webhook=False, webhook=None)`: play that recording as the
    process's runtime."""
    with ExitStack() as stack:

        def start(
            name: str, *, with_webhook: bool = False, webhook: dict[str, Any] | None = None
        ) -> Played:
            played = play(name, with_webhook=with_webhook, webhook=webhook)
            stack.enter_context(default_runtime(played.runtime))
            return played

        yield start


REPORTED = [
    (name, workflow)
    for name in SCENARIOS
    for workflow in load(name).meta["workflows"]
    if workflow in REPORT_WORKFLOWS
]


# --- every recorded (scenario, report workflow) ------------------------------------------------


@pytest.mark.parametrize(("name", "workflow"), REPORTED)
def test_an_event_makes_one_report_and_a_redelivery_is_answered_from_storage(
    scenario: Any, name: str, workflow: str
) -> None:
    played = scenario(name)
    assert played.post(workflow) == 200
    report = played.report(workflow)
    assert report.cluster == "local" and report.job == played.recording.meta["job"]
    reads = len(played.replay.served)
    assert reads >= 1
    assert played.post(workflow) == 200  # the same message redelivered
    assert played.report(workflow).id == report.id
    assert len(played.store.read_index()) == 1
    assert len(played.replay.served) == reads  # not one more read of the cluster


# --- what each failure looks like --------------------------------------------------------------


def test_backoff_failure_report_quotes_the_error_line_of_the_log(scenario: Any) -> None:
    played = scenario("backoff-log-error")
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    assert report.title == (
        "Job rec-backoff-log-error/import-orders failed: Container `worker` exited with "
        'code 2: ERROR: relation "orders" does not exist'
    )
    assert report.severity == "error"
    assert report.summary.startswith("Failed (BackoffLimitExceeded) after ")
    assert report.summary.endswith("; all 2 attempts failed the same way.")
    assert {"timeline", "log"} <= {b.type for b in report.blocks}


@pytest.mark.parametrize("name", ["backoff-log-error", "oomkilled", "deadline-exceeded"])
def test_the_summary_says_what_the_cause_block_does_not_repeat(scenario: Any, name: str) -> None:
    played = scenario(name)
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    cause = report.blocks[0]
    assert cause.type == "markdown" and "**Next steps**" in cause.text
    for sentence in report.summary.split(". "):
        assert sentence.strip(". ") not in cause.text, sentence


def test_identical_retries_show_their_log_once(scenario: Any) -> None:
    played = scenario("backoff-log-error")
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    logs = [b for b in report.blocks if b.type == "log"]
    (log,) = logs  # two pods failed the same way: one log, not two
    assert log.title.endswith("(2 attempts, same failure)")
    assert "Each pod's cause" not in played.markdown("jobFailureReporter")


def test_oomkilled_job_report_names_container_and_limit(scenario: Any) -> None:
    played = scenario("oomkilled")
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    assert "Container `worker` ran out of memory (OOMKilled, limit 512Mi)" in report.title
    assert "Raise the memory limit of container `worker` above 512Mi" in report.blocks[0].text


def test_an_oom_in_the_second_container_names_that_container_and_its_limit(
    scenario: Any,
) -> None:
    played = scenario("oom-second-container")
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    assert "Container `resizer` ran out of memory (OOMKilled, limit 1Gi)" in report.title
    assert "Raise the memory limit of container `resizer` above 1Gi" in report.blocks[0].text
    assert "fetcher" not in report.title


def test_an_indexed_job_report_names_its_failed_indexes(scenario: Any) -> None:
    played = scenario("indexed-failed-indexes")
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    assert report.title.endswith("failed: Indexes 0-2 of this Indexed Job failed")
    assert report.summary.startswith("Failed (FailedIndexes) after ")


def test_a_pod_failure_policy_failjob_report_names_the_rule_and_the_exit_code(
    scenario: Any,
) -> None:
    played = scenario("pod-failure-policy-failjob")
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    assert report.title.endswith("failed: A podFailurePolicy rule failed the Job at once")
    cause = report.blocks[0].text
    assert "change the rule's action to Count or Ignore" in cause
    assert "failed with exit code 42 matching FailJob rule at index 0" in cause


def test_deadline_exceeded_report_names_the_deadline_and_the_setting(scenario: Any) -> None:
    played = scenario("deadline-exceeded")
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    assert "past its deadline of 3s" in report.title
    assert "Raise activeDeadlineSeconds (3s)" in report.blocks[0].text
    assert played.post("jobInfoEnricher", "m-info") == 200
    assert "Failed (DeadlineExceeded)" in played.report("jobInfoEnricher").title


def test_pods_deleted_at_the_deadline_are_in_the_pod_report_with_their_run_time(
    scenario: Any,
) -> None:
    played = scenario("deadline-exceeded")
    assert played.post("jobPodEnricher") == 200
    report = played.report("jobPodEnricher")
    assert report.title.endswith(": 1 Gone")  # not "Pods (0)": the pod left its events
    assert "(1 deleted, known from their events)" in report.summary
    (table,) = [b for b in report.blocks if b.type == "table" and b.title == "Pods (1)"]
    (row,) = table.rows
    cells = dict(zip(table.columns, row, strict=True))
    assert cells["Phase"] == "Gone (deleted)" and cells["Node"] == "kwok-node-0"
    assert cells["Running"] == "2s"
    assert cells["Cause"].startswith(f"Pod {cells['Pod']} was deleted at the Job's deadline (3s)")
    assert "its log with it (logs are lost)" in played.markdown("jobPodEnricher")
    assert played.post("jobFailureReporter") == 200
    failure = played.markdown("jobFailureReporter")
    assert f"pod {cells['Pod']} ran 2s before the deadline stopped it" in failure


def test_an_unschedulable_job_is_reported_stuck_with_the_schedulers_words(scenario: Any) -> None:
    played = scenario("stuck-unschedulable")
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    assert report.severity == "warning"
    assert report.title.startswith("Job rec-stuck-unschedulable/train-model is stuck: Pod ")
    assert "could not be scheduled: 0/1 nodes are available: 1 node(s) didn't match" in (
        report.title
    )
    assert " waits in Unschedulable since " in report.summary
    cause = report.blocks[0].text
    assert (
        "- Relax the pod's nodeSelector or node affinity (cloud.example/gpu=a100), "
        "or add a node that matches"
    ) in cause
    assert played.post("jobPodEnricher", "m-pods") == 200
    pods = played.report("jobPodEnricher")
    (table,) = [b for b in pods.blocks if b.type == "table" and b.title == "Pods (1)"]
    cells = dict(zip(table.columns, table.rows[0], strict=True))
    assert cells["Starting"].startswith("Unschedulable since ")
    assert "could not be scheduled" in cells["Cause"]


def test_a_job_whose_image_never_pulled_before_its_deadline_names_the_image_pull(
    scenario: Any,
) -> None:
    played = scenario("deadline-image-pull")
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    assert "past its deadline of 6s; its pods never ran: Image " in report.title
    assert "First fix why the pods never ran: Image " in report.blocks[0].text
    assert "Failed to pull image" in report.blocks[0].text  # the kubelet's words, as evidence
    assert played.post("jobPodEnricher", "m-pods") == 200
    pods = played.report("jobPodEnricher")
    assert pods.title.endswith(": 1 Gone")
    (table,) = [b for b in pods.blocks if b.type == "table" and b.title == "Pods (1)"]
    cells = dict(zip(table.columns, table.rows[0], strict=True))
    assert cells["Phase"] == "Gone (deleted)"
    assert cells["Cause"] == "Image `registry.example/batch/worker:1.4` could not be pulled"


def test_cronjob_failure_report_shows_the_cronjobs_recent_runs(scenario: Any) -> None:
    played = scenario("cronjob-failure")
    assert played.post("jobFailureReporter") == 200
    assert "exited with code 3" in played.report("jobFailureReporter").title
    text = played.markdown("jobFailureReporter")
    assert "## CronJob nightly-backup" in text
    assert "| Consecutive failed runs | 1 |" in text
    assert "nightly-backup-2: Failed (BackoffLimitExceeded), nightly-backup-1: Complete" in text


def test_stuck_job_reports_show_the_pod_waiting_on_its_image(scenario: Any) -> None:
    played = scenario("stuck-image-pull")
    assert played.post("jobPodEnricher") == 200
    report = played.report("jobPodEnricher")
    assert report.title.endswith("1 Pending")
    (table,) = [b for b in report.blocks if b.type == "table" and b.title == "Pods (1)"]
    cells = dict(zip(table.columns, table.rows[0], strict=True))
    assert cells["Containers"] == "worker: waiting ImagePullBackOff"
    assert cells["Starting"].startswith("ImagePullBackOff since 20")  # not "-"
    assert cells["Cause"].startswith("Image `registry.example/batch/worker:1.4`")
    assert played.post("jobInfoEnricher", "m-info") == 200
    assert "Running (1 active" in played.report("jobInfoEnricher").title


def test_a_stuck_job_gets_a_report_naming_the_image_pull_and_what_to_do(
    scenario: Any,
) -> None:
    played = scenario("stuck-image-pull")
    assert played.post("jobFailureReporter") == 200
    report = played.report("jobFailureReporter")
    assert report.severity == "warning"
    assert report.title == (
        "Job rec-stuck-image-pull/fetch-feed is stuck: Image "
        "`registry.example/batch/worker:1.4` of container `worker` could not be pulled "
        "(ImagePullBackOff)"
    )
    assert " waits in ImagePullBackOff since " in report.summary
    text = played.markdown("jobFailureReporter")
    assert "Check that `registry.example/batch/worker:1.4` exists (name and tag)" in text
    assert "imagePullSecrets" in text
    assert played.post("jobInfoEnricher", "m-info") == 200  # the enrichers analyse it too
    assert played.report("jobInfoEnricher").severity == "warning"
    info = played.markdown("jobInfoEnricher")
    assert "Image `registry.example/batch/worker:1.4`" in info


def test_events_report_counts_the_warnings_of_the_job_and_its_pods(scenario: Any) -> None:
    played = scenario("backoff-log-error")
    assert played.post("jobEventsEnricher") == 200
    report = played.report("jobEventsEnricher")
    assert report.title.endswith("1 warning(s)")
    (table,) = [b for b in report.blocks if b.type == "timeline"]
    warning, normals = table.entries  # the Warning in full, the Normal events on one line
    assert (warning.type, warning.reason) == ("Warning", "BackoffLimitExceeded")
    # as many Normal events as the API server answered for the Job and its two pods
    recorded = [e for e in played.recorded_events() if e["type"] == "Normal"]
    count = sum(int(e.get("count") or 1) for e in recorded)
    started = sum(int(e.get("count") or 1) for e in recorded if e["reason"] == "Started")
    assert normals.message.startswith(f"{count} Normal event(s): ")
    assert f"Started x{started}" in normals.message and "SuccessfulCreate x2" in normals.message
    assert "BackoffLimitExceeded" in played.markdown("jobEventsEnricher")


def _recorded_warning(played: Played, reason: str) -> dict[str, Any]:
    (event,) = [e for e in played.recorded_events() if e["reason"] == reason]
    return event


def test_a_warning_whose_count_rises_is_reported_once(scenario: Any) -> None:
    played = scenario("backoff-log-error")
    warning = _recorded_warning(played, "BackoffLimitExceeded")
    assert played.relay("jobEventsEnricher", warning, "m-1") == 200
    first = played.report("jobEventsEnricher")
    for count in (2, 3):  # the exporter relays the Event again each time its count rises
        assert played.relay("jobEventsEnricher", {**warning, "count": count}, f"m-{count}") == 200
    assert played.report("jobEventsEnricher").id == first.id
    assert len(played.store.read_index()) == 1


def test_two_warning_reasons_make_two_events_reports(scenario: Any) -> None:
    played = scenario("backoff-log-error")
    warning = _recorded_warning(played, "BackoffLimitExceeded")
    # the same recorded Event under another reason (and uid): a second, distinct Warning
    other = {**warning, "reason": "FailedCreate", "metadata": {**warning["metadata"], "uid": "u-2"}}
    assert played.relay("jobEventsEnricher", warning, "m-1") == 200
    assert played.relay("jobEventsEnricher", other, "m-2") == 200
    assert len({r.id for r in played.reports("jobEventsEnricher")}) == 2


@pytest.mark.parametrize("workflow", REPORT_WORKFLOWS)
def test_a_job_deleted_before_it_was_read_is_reported_from_the_event(
    scenario: Any, workflow: str
) -> None:
    played = scenario("gone")
    assert played.post(workflow) == 200
    report = played.report(workflow)
    assert "it was deleted before jobwarden could read it" in report.title
    assert "ttlSecondsAfterFinished" in report.summary
    assert played.replay.served == [("GET", "/apis/batch/v1/namespaces/rec-gone/jobs/cleanup-tmp")]


# --- performance analysis records runs ---------------------------------------------------------


def test_a_succeeded_job_is_recorded_once_as_a_run(scenario: Any) -> None:
    played = scenario("succeeded")
    assert played.post("jobPerformanceAnalysis") == 200
    assert played.post("jobPerformanceAnalysis") == 200  # redelivered
    (run,) = played.runs()
    assert run["outcome"] == "succeeded" and run["family"] == "daily-report"
    assert run["durationSeconds"] > 0
    assert played.store.read_index() == []  # records a run, writes no report


def test_an_oomkilled_run_is_recorded_with_its_cause(scenario: Any) -> None:
    played = scenario("oomkilled")
    assert played.post("jobPerformanceAnalysis") == 200
    (run,) = played.runs()
    assert run["outcome"] == "failed" and run["cause"] == "OOMKilled"
    assert run["oomContainers"] == ["worker"]


def test_a_cronjob_run_is_recorded_under_the_cronjobs_family(scenario: Any) -> None:
    played = scenario("cronjob-failure")
    assert played.post("jobPerformanceAnalysis") == 200
    (run,) = played.runs()
    assert run["family"] == "nightly-backup" and run["job"] == "nightly-backup-2"


def test_a_deleted_jobs_run_is_recorded_from_the_event(scenario: Any) -> None:
    played = scenario("gone")
    assert played.post("jobPerformanceAnalysis") == 200
    (run,) = played.runs()
    assert run["outcome"] == "failed" and run["reason"] == "BackoffLimitExceeded"


def test_performance_ignores_a_stuck_job(scenario: Any) -> None:
    played = scenario("stuck-image-pull")
    assert played.post("jobPerformanceAnalysis") == 200
    assert played.runs() == [] and played.replay.served == []


# --- webhooks ------------------------------------------------------------------------------------


def _statuses(hook: responses.RequestsMock) -> list[int]:
    return [int(call.response.status_code) for call in hook.calls]  # type: ignore[union-attr]


@pytest.mark.parametrize("workflow", REPORT_WORKFLOWS)
@pytest.mark.parametrize(
    ("status", "headers"), [(503, {}), (429, {"Retry-After": "1"})], ids=["503", "429"]
)
def test_a_busy_webhook_makes_the_event_retried_then_one_post_once_it_is_healthy(
    scenario: Any,
    hook: responses.RequestsMock,
    workflow: str,
    status: int,
    headers: dict[str, str],
) -> None:
    played = scenario("oomkilled", with_webhook=True)
    hook.add(responses.POST, HOOK_URL, status=status, headers=headers)
    assert played.post(workflow) == 500  # redeliver me
    report = played.report(workflow)  # stored before posting
    assert _statuses(hook) == [status] * 3  # every attempt of the delivery
    assert played.deliveries() == []  # nothing recorded as delivered

    hook.replace(responses.POST, HOOK_URL, status=200)
    assert played.post(workflow) == 200  # the platform's redelivery
    assert played.post(workflow) == 200  # and one more
    assert _statuses(hook).count(200) == 1
    assert hook.calls[-1].request.headers["X-Jobwarden-Report-Id"] == report.id
    (delivery,) = played.deliveries()
    assert delivery["webhook"] == "oncall" and delivery["httpStatus"] == 200
    assert played.report(workflow).id == report.id


@pytest.mark.parametrize("workflow", REPORT_WORKFLOWS)
def test_a_webhook_refusing_with_400_is_acknowledged_and_recorded_with_its_status(
    scenario: Any, hook: responses.RequestsMock, workflow: str
) -> None:
    played = scenario("oomkilled", with_webhook=True)
    hook.add(responses.POST, HOOK_URL, status=400, body="invalid_blocks")
    status = played.post(workflow)
    assert 200 <= status < 300  # acknowledged: redelivering cannot help
    assert _statuses(hook) == [400]  # not retried by jobwarden either
    played.report(workflow)  # stored
    assert any(
        d.get("webhook") == "oncall" and d.get("httpStatus") == 400 for d in played.deliveries()
    ), played.deliveries()


def test_a_webhook_naming_no_workflows_gets_one_message_per_failure(
    scenario: Any, hook: responses.RequestsMock
) -> None:
    played = scenario("oomkilled", webhook=ONCALL)
    hook.add(responses.POST, HOOK_URL, status=200)
    for n, workflow in enumerate(REPORT_WORKFLOWS):
        assert played.post(workflow, f"m-{n}") == 200
    assert len(played.store.read_index()) == len(REPORT_WORKFLOWS)  # every report stored
    (posted,) = hook.calls  # the failure report only
    failure = played.report("jobFailureReporter")
    assert posted.request.headers["X-Jobwarden-Report-Id"] == failure.id


# --- CronJob runs grouped: a streak, its follow-ups, and recovered ---------------------------


def _slack_header(call: Any) -> str:
    return str(json.loads(call.request.body)["blocks"][0]["text"]["text"])


def test_a_cronjob_streak_posts_one_full_report_one_follow_up_and_one_recovered(
    scenario: Any, hook: responses.RequestsMock
) -> None:
    played = scenario("cronjob-streak", webhook=ONCALL)
    hook.add(responses.POST, HOOK_URL, status=200)
    for run in range(4):  # succeeded, failed, failed (same cause), succeeded
        assert played.post_run(run) == 200
    full, follow_up, recovered = hook.calls  # the first success made nothing
    assert "CronJob rec-cronjob-streak/nightly-sync: run nightly-sync-1 failed" in _slack_header(
        full
    )
    assert "exited with code 4" in _slack_header(full)
    assert _slack_header(follow_up).endswith(
        "CronJob rec-cronjob-streak/nightly-sync failed again (2 runs in a row)"
    )
    short = json.loads(follow_up.request.body)
    first = next(r for r in played.reports("jobFailureReporter") if r.job == "nightly-sync-1")
    assert first.id in json.dumps(short)  # the link to the first report of the streak
    assert len(short["blocks"]) < 8 and "log" not in json.dumps(short).lower()
    assert _slack_header(recovered).endswith(
        "CronJob rec-cronjob-streak/nightly-sync recovered: run nightly-sync-3 succeeded after "
        "2 failed runs"
    )
    # every report is stored in full: the follow-up's own report has its log and the streak
    second = next(r for r in played.reports("jobFailureReporter") if r.job == "nightly-sync-2")
    assert second.cron_job is not None and second.cron_job.follow_up_of == first.id
    assert any(b.type == "log" for b in second.blocks)
    text = played.store.blobs.read(
        next(k for k in played.store.list() if second.id in k and k.endswith(".md"))
    )
    assert text is not None and b"| Consecutive failed runs | 2 |" in text
    assert rb"| Schedule | 0 3 1 1 \*, active |" in text  # Markdown escapes the star
    assert [r.job for r in played.reports("jobFailureReporter")] == [
        "nightly-sync-3",
        "nightly-sync-2",
        "nightly-sync-1",
    ]


def test_redelivered_streak_events_post_nothing_more_and_read_nothing(
    scenario: Any, hook: responses.RequestsMock
) -> None:
    played = scenario("cronjob-streak", webhook=ONCALL)
    hook.add(responses.POST, HOOK_URL, status=200)
    for run in range(4):
        assert played.post_run(run) == 200
    posts, reads, stored = len(hook.calls), len(played.replay.served), played.store.list()
    for run in (3, 2, 1):  # redeliveries, in any order
        assert played.post_run(run, f"m-again-{run}") == 200
    assert len(hook.calls) == posts == 3
    assert len(played.replay.served) == reads  # answered from storage
    assert played.store.list() == stored


def test_a_success_without_failed_runs_before_it_makes_nothing(
    scenario: Any, hook: responses.RequestsMock
) -> None:
    played = scenario("cronjob-streak", webhook=ONCALL)
    hook.add(responses.POST, HOOK_URL, status=200)
    assert played.post_run(0) == 200
    assert played.post_run(0, "m-again") == 200
    assert not hook.calls
    assert played.store.read_index() == []
    assert not played.store.list("cronjobs/")


def test_a_json_webhook_gets_the_follow_up_in_full_naming_the_first_report(
    scenario: Any, hook: responses.RequestsMock
) -> None:
    played = scenario(
        "cronjob-streak", webhook={"name": "oncall", "type": "json", "urlEnv": "ONCALL_URL"}
    )
    hook.add(responses.POST, HOOK_URL, status=200)
    for run in (1, 2, 3):
        assert played.post_run(run) == 200
    first, second, recovered = (json.loads(c.request.body) for c in hook.calls)
    assert first["cronJob"]["followUpOf"] is None  # the first report of the streak
    assert second["cronJob"]["followUpOf"] == first["id"]  # a receiver can thread on it
    assert second["cronJob"]["failedRuns"] == 2
    assert any(b["type"] == "log" for b in second["blocks"])
    assert recovered["cronJob"]["outcome"] == "recovered"
    assert recovered["cronJob"]["followUpOf"] == first["id"]


def test_announcements_out_of_order_still_count_the_failed_runs_the_cluster_keeps(
    scenario: Any, hook: responses.RequestsMock
) -> None:
    """Run 3's success announced before run 2's failure: run 2's Job, still kept and failed
    before run 3, counts in the recovered streak; run 2's own report, made later, belongs to
    the streak of the runs that ended before it (run 1's)."""
    played = scenario("cronjob-streak", webhook=ONCALL)
    hook.add(responses.POST, HOOK_URL, status=200)
    assert played.post_run(1) == 200
    assert played.post_run(3) == 200
    assert played.post_run(2) == 200
    headers = [_slack_header(c) for c in hook.calls]
    assert headers[1].endswith("recovered: run nightly-sync-3 succeeded after 2 failed runs")
    assert headers[2].endswith("failed again (2 runs in a row)")


def test_the_index_shows_a_cronjobs_runs_under_it_one_row_per_run(
    scenario: Any, hook: responses.RequestsMock
) -> None:
    from jobwarden.render.index import render_index_html

    played = scenario("cronjob-streak", webhook=ONCALL)
    hook.add(responses.POST, HOOK_URL, status=200)
    assert played.post("jobPodEnricher", "m-pods") == 200  # another report of run 2
    for run in range(4):
        assert played.post_run(run) == 200
    page = render_index_html(played.store.read_index())
    assert page.count('<tr class="cronjob"') == 1
    assert "CronJob rec-cronjob-streak/nightly-sync</strong> · 3 run(s) reported, 2 failed" in page
    under = [
        line.split("↳ ")[1].split("<")[0]
        for line in page.split("<tr ")
        if 'data-cronjob="nightly-sync"' in line and "↳" in line
    ]
    assert under == ["nightly-sync-3", "nightly-sync-2", "nightly-sync-1"]  # newest first
    assert page.count('<tr class="run') == 3  # one row per run, its reports as links
