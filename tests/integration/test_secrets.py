"""Secrets never leave the cluster (issue 12, item 5): a Job carrying a secret in every
field fails for real; the failure reporter and the pod, info and events enrichers run
through their functions; no stored file, webhook body or log line holds a secret."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.events import from_jobwarden, job_event
from tests.support.kube import job_condition, job_manifest, wait_for
from tests.support.replay import REPORT_WORKFLOWS
from tests.support.runtime import make_runtime
from tests.support.webhook import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJldGwtYm90In0.c2VjcmV0LXNpZ25hdHVyZS12YWx1ZQ"
SLACK = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#: Every secret the Job carries, and the part of it that must never be seen.
SECRETS = {
    "flag": "hunter2-flag-value",
    "url password": "s3cr3t-url-pw",
    "env webhook": "T000/B000/XXXXSECRETXXXX",
    "env aws": AWS_SECRET,
    "env token": "t0k3n-env-value",
    "annotation": "annotation-s3cr3t-value",
    "log bearer": "b3arer-log-t0ken",
    "log jwt": "eyJzdWIiOiJldGwtYm90In0",
}
LOG = (
    "starting etl\n"
    f"GET /v1/items Authorization: Bearer {SECRETS['log bearer']}\n"
    f"session {JWT} rejected\n"
    "ERROR: upstream refused the credentials"
)


@pytest.fixture
def runtime(stack: StackInfo, tmp_path: Path, webhook: WebhookReceiver) -> Iterator[Runtime]:
    rt = make_runtime(
        stack,
        tmp_path / "reports",
        extra={
            "sinks": {
                "storage": {"url": f"file://{tmp_path / 'reports'}"},
                "webhooks": [  # every report workflow, so every body is checked
                    {
                        "name": "audit",
                        "type": "json",
                        "urlEnv": "HOOK_URL",
                        "secretEnv": "HS",
                        "workflows": list(REPORT_WORKFLOWS),
                    },
                    {
                        "name": "chat",
                        "type": "slack",
                        "urlEnv": "SLACK_URL",
                        "workflows": list(REPORT_WORKFLOWS),
                    },
                ],
            }
        },
        env={"HOOK_URL": webhook.url + "/hook", "HS": "k", "SLACK_URL": webhook.url + "/slack"},
    )
    set_default_runtime(rt)
    yield rt
    set_default_runtime(None)


def leaky_job(name: str) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": "registry.example/etl:1",
        "command": ["/app/etl", f"--db-password={SECRETS['flag']}"],
        "args": [f"postgres://app:{SECRETS['url password']}@db/x", "--verbose"],
        "env": [
            {"name": "NOTIFY", "value": SLACK},
            {"name": "AWS_SECRET_ACCESS_KEY", "value": AWS_SECRET},
            {"name": "TOKEN", "value": SECRETS["env token"]},
            {"name": "MODE", "value": "full"},
        ],
    }
    manifest = job_manifest(
        name, outcome="fail", exit_code=3, after=2, logs=LOG, containers=[container]
    )
    manifest["metadata"]["annotations"] = {"example.com/api-token": SECRETS["annotation"]}
    manifest["spec"]["template"]["metadata"]["annotations"]["example.com/db-password"] = SECRETS[
        "annotation"
    ]
    return manifest


def test_no_secret_of_a_failed_job_reaches_storage_webhooks_or_logs(
    admin: KubeApi,
    namespace: str,
    runtime: Runtime,
    webhook: WebhookReceiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", leaky_job("etl"))
    wait_for(lambda: job_condition(admin, namespace, "etl", "Failed"), what="Failed", timeout=90)
    job = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/etl")

    caplog.set_level(logging.DEBUG)
    for i, name in enumerate(
        ("job_failure_reporter", "job_pod_enricher", "job_info_enricher", "job_events_enricher")
    ):
        fn = create_app(name, str(ROOT / "functions" / name / "main.py"), "cloudevent")
        headers, body = from_jobwarden(job_event(job, cluster="local"), f"m-{i}")
        assert fn.test_client().post("/", headers=headers, data=body).status_code == 200

    files = {
        p: p.read_text()
        for p in (tmp_path / "reports").rglob("*")
        if p.suffix in {".json", ".md", ".html"}
    }
    posts = [p.body.decode() for p in webhook.delivered()]
    assert len(posts) == 8  # four reports, two webhooks each
    where = {
        **{str(p): t for p, t in files.items()},
        **{f"post {i}": b for i, b in enumerate(posts)},
    }
    where["logs"] = caplog.text
    for what, secret in SECRETS.items():
        leaks = [name for name, text in where.items() if secret in text]
        assert not leaks, f"{what} ({secret}) leaked into {leaks}"

    failure = next(
        t for p, t in files.items() if p.parent.name == "jobFailureReporter" and p.suffix == ".json"
    )
    for kept in ("--db-password=[redacted]", "NOTIFY=[redacted]", "app:[redacted]@db"):
        assert kept in failure
    assert "Authorization: Bearer [redacted]" in failure  # the log line, key kept
    assert "MODE=full" in failure
    assert "ERROR: upstream refused the credentials" in failure
