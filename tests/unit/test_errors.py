"""One error tree, one mapping to HTTP answers: what every HTTP target says for each error."""

from __future__ import annotations

import inspect

import pytest

import jobwarden.errors as errors
from jobwarden.edge import handle_http
from jobwarden.errors import (
    ApiError,
    ApiUnavailableError,
    BadRequestError,
    ConfigError,
    CredentialsError,
    DisabledError,
    ForbiddenError,
    JobGoneError,
    JobwardenError,
    MalformedEventError,
    NotFoundError,
    StaleError,
    UnknownClusterError,
    error_body,
    status_for,
)
from jobwarden.httpapi import HttpRequest


def api(kind: type[ApiError], status: int) -> ApiError:
    return kind("GET /x: no", status=status, method="GET", path="/x")


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (BadRequestError("`name` is missing"), 400, "bad_request"),
        (UnknownClusterError("cluster 'mars' is not configured"), 400, "unknown_cluster"),
        (MalformedEventError("m-1", "not JSON"), 400, "malformed"),
        (DisabledError("jobInfoEnricher is disabled"), 403, "disabled"),
        (JobGoneError("job batch/x does not exist"), 404, "not_found"),
        (api(NotFoundError, 404), 404, "not_found"),
        (StaleError("the Job changed"), 409, "stale"),
        (api(ForbiddenError, 403), 500, "jobwarden_forbidden"),
        (ConfigError("sinks.storage.url: bad"), 500, "config"),
        (ApiUnavailableError("down", method="GET", path="/x"), 503, "unavailable"),
        (CredentialsError("refused", method="GET", path="/x"), 503, "cluster_credentials"),
        (ValueError("a bug"), 500, "internal"),
    ],
)
def test_every_error_has_one_status_and_code(error: Exception, status: int, code: str) -> None:
    assert status_for(error) == status
    assert error_body(error)["code"] == code


def test_an_unexpected_exception_does_not_leak_its_text() -> None:
    body = error_body(ValueError("password=hunter2 in a traceback"))
    assert "hunter2" not in body["error"] and "log" in body["error"]


def test_every_error_class_of_the_runtime_lives_under_the_one_root_in_errors_py() -> None:
    import pkgutil

    import jobwarden

    classes = []
    for info in pkgutil.walk_packages(jobwarden.__path__, "jobwarden."):
        if any(part in info.name for part in ("localstack", "exporter", "bundle", "bridge")):
            continue  # tooling and the exporter are their own packages
        module = __import__(info.name, fromlist=["_"])
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Exception) and cls.__module__ == info.name:
                classes.append(cls)
    assert classes, "found no error classes at all"
    stray = [f"{c.__module__}.{c.__name__}" for c in classes if c.__module__ != errors.__name__]
    assert stray == []
    assert all(issubclass(c, JobwardenError) for c in classes)


def test_a_disabled_http_target_answers_403_disabled(tmp_path: object) -> None:
    from jobwarden.config import parse_config
    from jobwarden.runtime import Runtime, registry_for

    settings = parse_config(
        {
            "clusters": [],
            "workflows": {"jobWorkflows": {"jobPodEnricher": {"enabled": False}}},
            "sinks": {"storage": {"url": f"file://{tmp_path}"}},
        },
        source="test",
    )
    runtime = Runtime(settings=settings, clusters=registry_for(settings, {}), env={})
    body = {"cluster": "c", "namespace": "n", "name": "j"}
    answer = handle_http("jobPodEnricher", HttpRequest("POST", body), runtime)
    assert answer.status == 403 and '"disabled"' in answer.text
    answer = handle_http("jobInfoEnricher", HttpRequest("POST", body), runtime)
    assert answer.status == 400 and "not configured" in answer.text
