"""The routes of `jobwarden watch`'s pages, before anything reaches a cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobwarden.config import parse_config
from jobwarden.runtime import Runtime, registry_for
from jobwarden_watch.pages import POST_TARGETS, answer


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    settings = parse_config(
        {
            "clusters": [{"name": "local", "kubeconfig": str(tmp_path / "kubeconfig")}],
            "sinks": {"storage": {"url": f"file://{tmp_path / 'reports'}"}},
        }
    )
    return Runtime(settings=settings, clusters=registry_for(settings, {}), env={})


def test_the_http_functions_are_served_under_their_function_names() -> None:
    assert POST_TARGETS == {
        "/job_restart": "jobRestart",
        "/job_delete": "jobDelete",
        "/job_info_enricher_http": "jobInfoEnricher",
        "/job_events_enricher_http": "jobEventsEnricher",
        "/job_pod_enricher_http": "jobPodEnricher",
        "/job_performance_analysis_http": "jobPerformanceAnalysis",
    }


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/files/local/ns/job/uid/jobFailureReporter/../../x.html", 404),
        ("GET", "/files/local/ns/job/uid/jobFailureReporter/id.exe", 404),
        ("GET", "/files/elsewhere/ns/job/uid/jobFailureReporter/id.html", 400),
        ("GET", "/job_restart", 405),
        ("GET", "/healthz", 503),
    ],
)
def test_what_is_not_a_page_is_refused_with_the_functions_error_shape(
    runtime: Runtime, method: str, path: str, status: int
) -> None:
    reply = answer(method, path, b"", {}, runtime, health=lambda: (False, "local: not running"))
    assert reply.status == status
    if reply.content_type == "application/json":
        assert set(json.loads(reply.text)) >= {"error", "code"}


def test_a_request_without_a_token_is_refused_like_the_function(runtime: Runtime) -> None:
    body = b'{"cluster": "local", "namespace": "batch", "name": "nightly"}'
    reply = answer("POST", "/job_restart", body, {}, runtime)
    assert reply.status == 401
    refused = json.loads(reply.text)
    assert refused["code"] == "unauthenticated" and "Authorization: Bearer" in refused["error"]
