"""Credentials that stop working, on the real API server: revoked and rotated tokens.

A ServiceAccount token bound to a Secret (TokenRequest `boundObjectRef`) is revoked by
deleting that Secret: the API server answers 401 from then on. The tests revoke tokens
under a warm process (a cached client) and rotate the files it reads, then assert on what
a user sees: the function's status, the stored reports, the log line, the messages the
exporter publishes.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobwarden.cluster import InClusterSource, KubeconfigSource
from jobwarden.errors import CredentialsError
from jobwarden.kubeapi import Credentials, KubeApi
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from jobwarden_exporter.service import Exporter
from tests.integration.test_report_functions import client, failed_job, stored_reports
from tests.support.events import from_jobwarden, job_event
from tests.support.exporter import Inbox, make_exporter
from tests.support.kube import job_manifest, token_kubeconfig, wait_for
from tests.support.runtime import make_runtime

READ = [
    {
        "apiGroups": ["", "batch"],
        "resources": ["jobs", "pods", "pods/log", "events", "cronjobs"],
        "verbs": ["get", "list", "watch"],
    }
]
SA = "jobwarden-creds"


class Tokens:
    """Tokens of one ServiceAccount, each bound to its own Secret: deleting it revokes them."""

    def __init__(self, admin: KubeApi, namespace: str, stack: StackInfo) -> None:
        self.admin, self.namespace, self.stack = admin, namespace, stack

    def issue(self) -> tuple[str, str]:
        """A new token and the name of the Secret it is bound to."""
        name = f"bound-{uuid.uuid4().hex[:6]}"
        secret = self.admin.create(
            f"/api/v1/namespaces/{self.namespace}/secrets", {"metadata": {"name": name}}
        )
        review = self.admin.create(
            f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{SA}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {
                    "expirationSeconds": 600,  # the API server's minimum
                    "boundObjectRef": {
                        "kind": "Secret",
                        "apiVersion": "v1",
                        "name": name,
                        "uid": secret["metadata"]["uid"],
                    },
                },
            },
        )
        return str(review["status"]["token"]), name

    def revoke(self, secret: str, token: str) -> None:
        """Delete the Secret the token is bound to; wait until the API server refuses it."""
        self.admin.delete(f"/api/v1/namespaces/{self.namespace}/secrets/{secret}")
        probe = KubeApi(
            Credentials(server=self.stack.server, ca_file=self.stack.ca_file, token=token)
        )

        def refused() -> bool:
            try:
                probe.get(f"/apis/batch/v1/namespaces/{self.namespace}/jobs")
            except CredentialsError:
                return True
            return False

        wait_for(refused, what="the revoked token to be refused", timeout=30)


@pytest.fixture
def tokens(
    admin: KubeApi,
    namespace: str,
    stack: StackInfo,
    mint_token: Callable[..., str],
) -> Tokens:
    mint_token(SA, READ)  # the ServiceAccount and its Role; its unbound token is not used
    return Tokens(admin, namespace, stack)


@pytest.fixture
def reporter(stack: StackInfo, tmp_path: Path) -> Iterator[tuple[Runtime, Path]]:
    """A warm failure reporter whose cluster `local` is reached with `tmp_path/kubeconfig`."""
    kubeconfig = tmp_path / "kubeconfig"
    runtime = make_runtime(
        stack,
        tmp_path / "reports",
        extra={"clusters": [{"name": "local", "kubeconfig": str(kubeconfig)}]},
    )
    set_default_runtime(runtime)
    yield runtime, kubeconfig
    set_default_runtime(None)


def test_a_revoked_token_is_retried_not_dropped_and_a_rewritten_kubeconfig_heals_it(
    admin: KubeApi,
    namespace: str,
    stack: StackInfo,
    tokens: Tokens,
    reporter: tuple[Runtime, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, kubeconfig = reporter
    first, first_secret = tokens.issue()
    token_kubeconfig(kubeconfig, stack, first)
    job = failed_job(admin, namespace, "nightly", outcome="fail", exit_code=2)
    # the process is warm: its client for `local` is built and has been used
    api = runtime.clusters.client("local")
    assert api.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/nightly")["metadata"]["uid"]

    tokens.revoke(first_secret, first)
    fn = client("job_failure_reporter")
    headers, body = from_jobwarden(job_event(job, cluster="local"), "m-revoked")
    with caplog.at_level(logging.WARNING, logger="jobwarden"):
        assert fn.post("/", headers=headers, data=body).status_code == 500  # redeliver
    assert stored_reports(tmp_path / "reports", "jobFailureReporter") == []
    (line,) = [
        r.getMessage()
        for r in caplog.records
        if "will be retried" in r.getMessage() and r.name == "jobwarden"
    ]
    assert line.startswith(f"[local {namespace}/nightly] jobFailureReporter: event ")
    assert "the API server refused jobwarden's credentials (401 Unauthorized)" in line
    assert f"cluster local: the credentials of the current context of kubeconfig {kubeconfig}" in (
        line
    )
    assert first not in caplog.text

    second, _ = tokens.issue()
    token_kubeconfig(kubeconfig, stack, second)  # the Secret is rewritten; no restart
    assert fn.post("/", headers=headers, data=body).status_code == 200
    (report,) = stored_reports(tmp_path / "reports", "jobFailureReporter")
    assert report["title"].startswith(f"Job {namespace}/nightly failed")
    assert runtime.clusters.client("local") is api  # the same warm client


def file_kubeconfig(path: Path, stack: StackInfo, token_file: Path) -> Path:
    """A kubeconfig whose user reads its token from `token_file` (client-go's `tokenFile`)."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {"server": stack.server, "certificate-authority": stack.ca_file},
                    }
                ],
                "users": [{"name": "u", "user": {"tokenFile": str(token_file)}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    return path


def test_a_rewritten_token_file_is_used_by_the_next_request(
    namespace: str, stack: StackInfo, tokens: Tokens, tmp_path: Path
) -> None:
    first, first_secret = tokens.issue()
    token_file = tmp_path / "token"
    token_file.write_text(first)
    api = KubeApi(KubeconfigSource(file_kubeconfig(tmp_path / "kubeconfig", stack, token_file)))
    jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    api.get(jobs)

    second, _ = tokens.issue()
    token_file.write_text(second)
    tokens.revoke(first_secret, first)
    calls = api.calls
    assert api.get(jobs)["kind"] == "JobList"
    assert api.calls == calls + 1  # sent with the new token at once, not after a refusal


def test_in_cluster_credentials_follow_the_kubelets_token_rotation(
    namespace: str, stack: StackInfo, tokens: Tokens, tmp_path: Path
) -> None:
    def project(token: str, version: str) -> None:
        """What the kubelet does: a new ..data directory, swapped in by a symlink rename."""
        data = tmp_path / f"..{version}"
        data.mkdir()
        (data / "token").write_text(token)
        shutil.copy(stack.ca_file, data / "ca.crt")
        (tmp_path / "..data_tmp").symlink_to(data.name)
        (tmp_path / "..data_tmp").replace(tmp_path / "..data")
        for name in ("token", "ca.crt"):
            if not (tmp_path / name).is_symlink():
                (tmp_path / name).symlink_to(f"..data/{name}")

    first, first_secret = tokens.issue()
    project(first, "v1")
    host, port = stack.server.removeprefix("https://").rsplit(":", 1)
    env = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    api = KubeApi(InClusterSource("local", env=env, directory=tmp_path))
    jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    api.get(jobs)

    second, _ = tokens.issue()
    project(second, "v2")
    tokens.revoke(first_secret, first)
    calls = api.calls
    assert api.get(jobs)["kind"] == "JobList"
    assert api.calls == calls + 1


def test_the_exporter_keeps_publishing_through_a_revoked_then_rotated_token(
    admin: KubeApi,
    namespace: str,
    stack: StackInfo,
    tokens: Tokens,
    topic: tuple[str, Inbox],
    tmp_path: Path,
) -> None:
    path, inbox = topic
    kubeconfig = tmp_path / "kubeconfig"
    first, first_secret = tokens.issue()
    token_kubeconfig(kubeconfig, stack, first)
    source = KubeconfigSource(kubeconfig, cluster="local")
    exporter: Exporter = make_exporter(KubeApi(source), path, namespace, watch_timeout=1)
    exporter.start(check=False)  # preflight needs SelfSubjectAccessReview: not in READ
    try:
        assert exporter.wait_synced(30), exporter.health()
        jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
        admin.create(jobs, job_manifest("before"))
        inbox.wait_for_jobs({"before": "succeeded"})

        tokens.revoke(first_secret, first)  # every watch from now on is refused
        admin.create(jobs, job_manifest("during", outcome="fail"))
        wait_for(lambda: not exporter.health()[0], what="the exporter to say it is failing")
        _, reason = exporter.health()
        assert "refused jobwarden's credentials" in reason and first not in reason

        second, _ = tokens.issue()
        token_kubeconfig(kubeconfig, stack, second)
        admin.create(jobs, job_manifest("after"))
        inbox.wait_for_jobs({"during": "failed", "after": "succeeded"})
        wait_for(lambda: exporter.health()[0], what="the exporter to be healthy again")
    finally:
        exporter.stop(timeout=2)
    inbox.settle(2)
    counts = inbox.counts()
    assert counts[("during", "failed")] == 1 and counts[("after", "succeeded")] == 1
    assert all(n == 1 for n in counts.values()), counts
