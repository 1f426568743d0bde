"""Routing reports to the owning team: `sinks.webhooks[].match` rules and the Job's
`jobwarden.dev/notify` and `jobwarden.dev/silence` annotations.

The rules are checked on reports (`Settings.route`, pure); the annotations end to end,
through the failure reporter's function on recorded API answers (the recorded Job, or its
CronJob, annotated the way a team would annotate it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from jobwarden.config import Settings, parse_config
from jobwarden.errors import ConfigError
from jobwarden.kube.labels import NOTIFY, SILENCE
from jobwarden.report import Report, Routing
from jobwarden.sinks.storage import BlobReportStore
from tests.support.replay import (
    default_runtime,
    function_client,
    load,
    make_runtime,
    memory_store,
    post_event,
)
from tests.support.reports import oomkilled_report

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
TEAM_A = {
    "name": "team-a",
    "type": "slack",
    "urlEnv": "TEAM_A_URL",
    "match": {"namespaces": ["team-a-*"], "labels": {"team": "a"}, "severity": ["error"]},
}
PROD = {"name": "prod", "type": "slack", "urlEnv": "PROD_URL", "match": {"clusters": ["prod-*"]}}
EVERYONE = {"name": "everyone", "type": "json", "urlEnv": "EVERYONE_URL"}


def settings(*webhooks: dict[str, Any]) -> Settings:
    return parse_config({"sinks": {"webhooks": list(webhooks)}})


def report(
    *,
    namespace: str = "team-a-etl",
    cluster: str = "prod-eu",
    severity: str = "error",
    labels: dict[str, str] | None = None,
    notify: list[str] | None = None,
    silence: str | None = None,
) -> Report:
    routing = Routing(labels={"team": "a"} if labels is None else labels)
    routing = routing.model_copy(update={"notify": notify, "silence": silence})
    return oomkilled_report(cluster=cluster).model_copy(
        update={"namespace": namespace, "severity": severity, "routing": routing}
    )


def routed(config: Settings, r: Report) -> list[str]:
    return [w.name for w in config.route(r, NOW).webhooks]


# --- match rules ---------------------------------------------------------------------------


def test_a_rule_selects_the_teams_namespaces_labels_and_severity() -> None:
    config = settings(TEAM_A, EVERYONE)
    assert routed(config, report()) == ["team-a", "everyone"]
    assert routed(config, report(namespace="team-b-etl")) == ["everyone"]  # glob misses
    assert routed(config, report(labels={"team": "b"})) == ["everyone"]
    assert routed(config, report(labels={})) == ["everyone"]  # the label is required
    assert routed(config, report(severity="warning")) == ["everyone"]


def test_cluster_globs_and_label_value_globs_match() -> None:
    glob_labels = {**TEAM_A, "match": {"labels": {"team": "a*"}}}
    config = settings(PROD, glob_labels)
    assert routed(config, report(labels={"team": "analytics"})) == ["prod", "team-a"]
    assert routed(config, report(cluster="staging", labels={"team": "b"})) == []


def test_a_report_without_routing_is_matched_on_its_cluster_namespace_and_severity() -> None:
    config = settings(PROD, TEAM_A)
    bare = oomkilled_report().model_copy(update={"routing": None})
    assert routed(config, bare) == ["prod"]  # no labels known: team-a's label rule misses


def test_rules_apply_within_the_workflows_a_webhook_routes() -> None:
    config = settings(PROD)
    info = report().model_copy(update={"workflow": "jobInfoEnricher"})
    assert routed(config, info) == []  # enrichers are not routed by default


# --- annotations ---------------------------------------------------------------------------


def test_notify_annotation_replaces_the_rules_for_that_job() -> None:
    config = settings(TEAM_A, PROD, EVERYONE)
    assert routed(config, report(notify=["prod"])) == ["prod"]
    assert routed(config, report(namespace="elsewhere", notify=["team-a"])) == ["team-a"]
    route = config.route(report(notify=["team-a", "nobody"]), NOW)
    assert route.unknown == ["nobody"]


@pytest.mark.parametrize(
    ("silence", "silenced"),
    [
        ("true", True),
        ("True", True),
        ("2026-12-01T00:00:00Z", True),  # until tomorrow
        ("2026-11-30T11:59:59+00:00", False),  # expired a second ago
        ("next tuesday", False),  # unreadable: a typo must not hide failures
        ("2026-12-01T00:00:00", False),  # no offset: not RFC 3339
    ],
)
def test_silence_annotation_until_a_time(silence: str, silenced: bool) -> None:
    route = settings(EVERYONE).route(report(silence=silence), NOW)
    assert route.silenced is silenced
    assert [w.name for w in route.webhooks] == ([] if silenced else ["everyone"])


# --- validated at load ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "where"),
    [
        ({"severity": ["critical"]}, r"sinks\.webhooks\[0\]\.match\.severity\[0\]"),
        ({"namespaces": ["Team A"]}, r"sinks\.webhooks\[0\]\.match\.namespaces\[0\]"),
        ({"labels": {"bad key!": "x"}}, r"sinks\.webhooks\[0\]\.match\.labels: not a Kubernetes"),
        ({"namespace": ["a"]}, r"sinks\.webhooks\[0\]\.match\.namespace: unknown key"),
        ({"clusters": []}, r"sinks\.webhooks\[0\]\.match\.clusters"),
    ],
)
def test_an_invalid_rule_fails_at_load_with_its_key_path(match: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        settings({**EVERYONE, "match": match})


# --- through the failure reporter, on recorded answers -------------------------------------

URLS = {
    "TEAM_A_URL": "https://hooks.example.test/team-a",
    "PROD_URL": "https://hooks.example.test/prod",
    "EVERYONE_URL": "https://hooks.example.test/everyone",
}


def annotated(scenario: str, path_tail: str, annotations: dict[str, str]) -> Any:
    """The recording, with the object answered at `...{path_tail}` carrying `annotations`."""
    recording = load(scenario)
    exchanges = []
    for x in recording.exchanges:
        if x.path.endswith(path_tail):
            body = json.loads(x.body)
            body["metadata"]["annotations"] = {
                **(body["metadata"].get("annotations") or {}),
                **annotations,
            }
            x = dataclasses.replace(x, body=json.dumps(body).encode())
        exchanges.append(x)
    return dataclasses.replace(recording, exchanges=exchanges)


@pytest.fixture
def hooks() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for url in URLS.values():
            mock.add(responses.POST, url, status=200)
        yield mock


def report_failure(recording: Any, *webhooks: dict[str, Any]) -> BlobReportStore:
    """Post the recording's failure to the failure reporter's function with `webhooks`."""
    store = memory_store()
    runtime = make_runtime(
        recording.replay(),
        store=store,
        webhooks=list(webhooks),
        env=URLS,
        prometheus=recording.replay_prometheus(),
    )
    job = dict(recording.meta["jobObject"])
    with default_runtime(runtime):
        status = post_event(
            "jobFailureReporter", job, "failed", "m-1", function_client("jobFailureReporter")
        )
    assert status == 200
    assert len(store.read_index()) == 1  # stored, posted or not
    return store


def posted_to(hooks: responses.RequestsMock) -> list[str]:
    return [str(c.request.url).rsplit("/", 1)[-1] for c in hooks.calls]


RECORDED_TEAM = {
    **TEAM_A,
    "match": {
        "namespaces": ["rec-oom*"],
        "labels": {"sim.jobwarden.dev/outcome": "oom*"},
        "severity": ["error"],
    },
}


def test_the_recorded_failure_goes_to_the_team_whose_rule_selects_it(
    hooks: responses.RequestsMock,
) -> None:
    report_failure(load("oomkilled"), RECORDED_TEAM, PROD)
    assert posted_to(hooks) == ["team-a"]  # cluster `local` is not prod-*


def test_a_jobs_notify_annotation_sends_its_failure_to_the_named_webhook(
    hooks: responses.RequestsMock,
) -> None:
    recording = annotated("oomkilled", "/jobs/resize-images", {NOTIFY: " prod , everyone"})
    report_failure(recording, RECORDED_TEAM, PROD, EVERYONE)
    assert posted_to(hooks) == ["prod", "everyone"]


def test_a_cronjobs_notify_annotation_applies_to_its_jobs(
    hooks: responses.RequestsMock,
) -> None:
    recording = annotated("cronjob-failure", "/cronjobs/nightly-backup", {NOTIFY: "prod"})
    report_failure(recording, PROD, EVERYONE)
    assert posted_to(hooks) == ["prod"]


def test_a_silenced_jobs_failure_is_stored_and_not_posted(hooks: responses.RequestsMock) -> None:
    recording = annotated("oomkilled", "/jobs/resize-images", {SILENCE: "true"})
    report_failure(recording, EVERYONE)
    assert posted_to(hooks) == []


def test_an_expired_silence_posts_again(hooks: responses.RequestsMock) -> None:
    recording = annotated("oomkilled", "/jobs/resize-images", {SILENCE: "2020-01-01T00:00:00Z"})
    report_failure(recording, EVERYONE)
    assert posted_to(hooks) == ["everyone"]
