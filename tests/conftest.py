"""Fixtures shared by the integration and e2e tiers: the real local stack and its clients.

The stack starts once per test session, only when a test asks for it, and stops at
the end (its processes also die with the test process). A missing binary or a stack
that cannot start fails the run. One exception, for a machine without Go and with CI
unset: the integration and e2e tiers are skipped, and the run says so in one line.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobwarden.errors import NotFoundError
from jobwarden.kubeapi import Credentials, KubeApi
from jobwarden_dev.localstack.stack import LocalStack, StackInfo
from jobwarden_dev.localstack.tools import go_missing
from tests.support.exporter import Inbox
from tests.support.webhook import WebhookReceiver

STACK_TIERS = ("integration", "e2e")


def _why_no_stack() -> str | None:
    """Why the tiers that need the local stack are skipped: no Go here and CI unset."""
    return None if os.environ.get("CI") else go_missing()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    why = _why_no_stack()
    if why is None:
        return
    skip = pytest.mark.skip(reason=why)
    tests = Path(__file__).parent
    for item in items:
        if any(item.path.is_relative_to(tests / tier) for tier in STACK_TIERS):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    why = _why_no_stack()
    if why is not None:
        terminalreporter.write_line(f"integration and e2e tests skipped: {why}")


def _start_stack(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[StackInfo]:
    workdir = tmp_path_factory.mktemp(f"stack-{name}")
    stack = LocalStack(workdir, name=name)
    info = stack.start()
    try:
        yield info
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """The local stack named `local` (cluster A)."""
    yield from _start_stack(tmp_path_factory, "local")


@pytest.fixture(scope="session")
def stack_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """A second, independent stack (cluster B) for multi-cluster tests."""
    yield from _start_stack(tmp_path_factory, "cluster-b")


@pytest.fixture(scope="session")
def admin(stack: StackInfo) -> KubeApi:
    """A system:masters client of cluster A."""
    return KubeApi(stack.admin_credentials())


@pytest.fixture
def namespace(admin: KubeApi, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test (deleted afterwards; the namespace controller cleans up)."""
    digest = hashlib.sha1(request.node.nodeid.encode(), usedforsecurity=False).hexdigest()[:6]
    name = f"t-{digest}-{uuid.uuid4().hex[:6]}"
    admin.create("/api/v1/namespaces", {"metadata": {"name": name}})
    yield name
    with contextlib.suppress(NotFoundError):
        admin.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture
def mint_token(admin: KubeApi, namespace: str) -> Callable[..., str]:
    """Make a ServiceAccount bound to a Role with `rules` and return a real token for it."""

    def mint(name: str, rules: list[dict[str, Any]], ns: str | None = None) -> str:
        target = ns or namespace
        admin.create(f"/api/v1/namespaces/{target}/serviceaccounts", {"metadata": {"name": name}})
        admin.create(
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{target}/roles",
            {"metadata": {"name": name}, "rules": rules},
        )
        admin.create(
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{target}/rolebindings",
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": target}],
            },
        )
        review = admin.create(
            f"/api/v1/namespaces/{target}/serviceaccounts/{name}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 3600},
            },
        )
        return str(review["status"]["token"])

    return mint


@pytest.fixture
def client_as(stack: StackInfo) -> Callable[[str], KubeApi]:
    """A client of cluster A that authenticates with a bearer token."""

    def make(token: str) -> KubeApi:
        return KubeApi(Credentials(server=stack.server, ca_file=stack.ca_file, token=token))

    return make


@pytest.fixture
def emulator_env(stack: StackInfo, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point Google clients in this process at the stack's Pub/Sub and GCS emulators."""
    env = stack.env()
    for key in ("PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "PUBSUB_PROJECT_ID"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", env["PUBSUB_PROJECT_ID"])
    return env


@pytest.fixture
def pubsub(emulator_env: dict[str, str]) -> Any:
    """(publisher, subscriber) clients of the Pub/Sub emulator."""
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()


@pytest.fixture
def topic(pubsub: Any, stack: StackInfo) -> tuple[str, Inbox]:
    """A fresh topic and a subscription on it (ack deadline 10 s), with an inbox pulling it."""
    publisher, subscriber = pubsub
    name = f"job-events-{uuid.uuid4().hex[:8]}"
    path = publisher.topic_path(stack.pubsub_project, name)
    sub = subscriber.subscription_path(stack.pubsub_project, f"{name}-all")
    publisher.create_topic(name=path)
    subscriber.create_subscription(name=sub, topic=path, ack_deadline_seconds=10)
    return path, Inbox(subscriber, sub)


@pytest.fixture
def gcs(emulator_env: dict[str, str]) -> Any:
    """A Cloud Storage client of the GCS emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project=emulator_env["PUBSUB_PROJECT_ID"], credentials=AnonymousCredentials()
    )


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A real HTTP receiver on loopback that records requests and can fail for a while."""
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


os.environ.setdefault("JOBWARDEN_REPO", str(Path(__file__).resolve().parents[1]))
