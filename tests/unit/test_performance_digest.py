"""The scheduled digest (`job_performance_digest`) and the actions' outcome reports' routing.

The digest is served by the repository's function (functions-framework test client) over run
records in an in-memory store, as `job_performance_analysis` writes them; cluster `local`
answers from a recording it must never need (the digest reads storage only).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from functions_framework import create_app

from jobwarden.actions.outcome import build_outcome
from jobwarden.config import PushAuthConfig
from jobwarden.performance.runs import RunRecord, append_run
from jobwarden.runtime import Runtime
from tests.support.replay import default_runtime, load, make_runtime, memory_store

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "functions" / "job_performance_analysis" / "main.py"
HOOK = "https://hooks.example.test/services/T/B/x"


@pytest.fixture(autouse=True)
def hook() -> Iterator[responses.RequestsMock]:
    """Webhook `oncall` (no `workflows`: the default routing) answers 200."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, HOOK, status=200)
        yield mock


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    replay = load("succeeded").replay()
    rt = make_runtime(
        replay,
        store=memory_store(),
        webhooks=[{"name": "oncall", "type": "slack", "urlEnv": "ONCALL_URL"}],
        env={"ONCALL_URL": HOOK},
    )
    with default_runtime(rt):
        yield rt
    assert replay.served == []  # the digest never reads the cluster


def runs(rt: Runtime, namespace: str, family: str, spec: list[tuple[float, str]]) -> None:
    now = dt.datetime.now(dt.UTC)
    for i, (took, outcome) in enumerate(spec):
        end = now - dt.timedelta(hours=5 * (i + 1))
        append_run(
            rt.store,
            RunRecord(
                cluster="local",
                namespace=namespace,
                job=f"{family}-{i}",
                job_uid=f"{family}-uid-{i}",
                family=family,
                start=end - dt.timedelta(seconds=took),
                end=end,
                duration_seconds=took,
                outcome=outcome,  # type: ignore[arg-type]
                cause="OOMKilled" if outcome == "failed" else "",
            ),
        )


def digest(body: Any, **headers: str) -> tuple[int, Any]:
    client = create_app("job_performance_digest", str(SOURCE), "http").test_client()
    response = client.post("/", json=body, headers=headers)
    return response.status_code, response.get_json()


def table(answer: Any, prefix: str) -> list[list[str]]:
    (block,) = [b for b in answer["blocks"] if b.get("title", "").startswith(prefix)]
    return list(block["rows"])


def test_the_digest_lists_the_slowest_and_the_least_reliable_families(
    runtime: Runtime, hook: responses.RequestsMock
) -> None:
    runs(runtime, "batch", "etl", [(600.0, "succeeded")] * 4)
    runs(runtime, "batch", "resize", [(30.0, "failed"), (30.0, "failed"), (30.0, "succeeded")])
    runs(runtime, "web", "warm-cache", [(5.0, "succeeded"), (6.0, "failed")])
    status, answer = digest({"cluster": "local"})
    assert status == 200, answer
    assert [r[0] for r in table(answer, "Slowest")] == [
        "batch/etl",
        "batch/resize",
        "web/warm-cache",
    ]
    assert table(answer, "Least reliable") == [
        ["batch/resize", "3", "33%", "2", "OOMKilled"],
        ["web/warm-cache", "2", "50%", "1", "OOMKilled"],
    ]
    assert answer["title"] == (
        "Performance digest of cluster local, last 7d: 9 runs of 3 families, 67% succeeded; "
        "slowest batch/etl (p95 10m00s); least reliable batch/resize (33%)"
    )
    assert answer["severity"] == "warning"  # two families below 80%
    (post,) = hook.calls  # posted by default, like every performance report
    assert post.request.headers["X-Jobwarden-Report-Id"] == answer["id"]


def test_a_retried_call_in_the_same_hour_answers_the_same_stored_digest(
    runtime: Runtime, hook: responses.RequestsMock
) -> None:
    runs(runtime, "batch", "etl", [(60.0, "succeeded")])
    first = digest({"cluster": "local"})[1]
    runs(runtime, "batch", "late", [(1.0, "succeeded")])  # arrives between the two calls
    status, again = digest({"cluster": "local"})
    assert status == 200 and again == first
    assert len([e for e in runtime.store.read_index() if e.job == "digest"]) == 1
    assert len(hook.calls) == 1  # posted once


def test_the_digest_names_no_unknown_cluster_and_needs_one(runtime: Runtime) -> None:
    assert digest({"cluster": "elsewhere"})[1]["code"] == "unknown_cluster"
    status, answer = digest({})
    assert status == 400 and "name the cluster" in answer["error"]


def test_with_push_auth_the_digest_wants_the_schedulers_signed_token(runtime: Runtime) -> None:
    security = runtime.settings.security.model_copy(
        update={
            "push_auth": PushAuthConfig(
                audience="https://digest.example.test",
                service_account_email="jobwarden-scheduler@acme.iam.gserviceaccount.com",
            )
        }
    )
    settings = runtime.settings.model_copy(update={"security": security})
    with default_runtime(dataclasses.replace(runtime, settings=settings)):
        status, answer = digest({"cluster": "local"})
    assert status == 401 and answer["code"] == "unauthenticated"


def test_restart_and_delete_outcomes_go_to_a_webhook_that_names_no_workflows(
    runtime: Runtime,
) -> None:
    now = dt.datetime.now(dt.UTC)
    for action, body in (
        ("restart", {"status": "restarted", "newJob": {"name": "etl-retry-1", "state": "active"}}),
        ("delete", {"status": "deleted", "propagationPolicy": "Background", "jobGone": True}),
    ):
        report = build_outcome(
            action,  # type: ignore[arg-type]
            cluster="local",
            namespace="batch",
            name="etl",
            uid="u-1",
            who="alice",
            body=body,
            key="confirm-1",
            now=now,
        )
        assert [w.name for w in runtime.settings.route(report, now).webhooks] == ["oncall"]
