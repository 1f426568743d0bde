"""Every Kubernetes API path jobwarden calls, and `job_pods`, the one way to find a Job's pods.

A path function takes the namespace (None or "" for a list across all namespaces, where
the resource allows it) and the name; it returns the path without a query. No other
module of the runtime package writes a path (tests/unit/test_kube.py checks).
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple, Protocol

from jobwarden.errors import BadRequestError
from jobwarden.kube.labels import CONTROLLER_UID_LABELS
from jobwarden.kube.objects import JSON
from jobwarden.kubeapi import KubeApi

_CORE = "/api/v1"
_BATCH = "/apis/batch/v1"

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"  # noqa: S105 (a path)
SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
SELF_SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


#: A namespace is a DNS label; an object name a DNS subdomain (what the API server accepts).
NAMESPACE: Final = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def check_namespace_name(namespace: str) -> str:
    """`namespace` if it is a valid namespace name; BadRequestError naming it otherwise."""
    if not isinstance(namespace, str) or not NAMESPACE.fullmatch(namespace):
        raise BadRequestError(
            f"namespace {str(namespace)[:70]!r} is not a Kubernetes namespace name"
        )
    return namespace


def check_object_name(name: str, kind: str = "object") -> str:
    """`name` if it is a valid object name (DNS subdomain); BadRequestError otherwise."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or ".." in name:
        raise BadRequestError(f"{kind} name {str(name)[:70]!r} is not a Kubernetes {kind} name")
    return name


def _collection(prefix: str, resource: str, namespace: str | None) -> str:
    if not namespace:  # None or "" (Kubernetes' NamespaceAll): across all namespaces
        return f"{prefix}/{resource}"
    return f"{prefix}/namespaces/{check_namespace_name(namespace)}/{resource}"


def jobs(namespace: str | None) -> str:
    return _collection(_BATCH, "jobs", namespace)


def job(namespace: str, name: str) -> str:
    return f"{jobs(namespace)}/{check_object_name(name)}"


def cronjobs(namespace: str | None) -> str:
    return _collection(_BATCH, "cronjobs", namespace)


def cronjob(namespace: str, name: str) -> str:
    return f"{cronjobs(namespace)}/{check_object_name(name)}"


def pods(namespace: str | None) -> str:
    return _collection(_CORE, "pods", namespace)


def pod(namespace: str, name: str) -> str:
    return f"{pods(namespace)}/{check_object_name(name)}"


def pod_log(namespace: str, name: str) -> str:
    return f"{pod(namespace, name)}/log"


def events(namespace: str | None) -> str:
    """core/v1 Events (the API server serves events.k8s.io Events here too, as core/v1)."""
    return _collection(_CORE, "events", namespace)


def events_k8s_io(namespace: str | None) -> str:
    """events.k8s.io/v1 Events (the same objects as `events`, in their native shape)."""
    return _collection("/apis/events.k8s.io/v1", "events", namespace)


def pod_metrics(namespace: str) -> str:
    """metrics.k8s.io PodMetrics (served only where metrics-server runs)."""
    return _collection("/apis/metrics.k8s.io/v1beta1", "pods", namespace)


def lease(namespace: str, name: str) -> str:
    leases = _collection("/apis/coordination.k8s.io/v1", "leases", namespace)
    return f"{leases}/{check_object_name(name)}"


def job_pod_selector(job_uid: str, label: str = CONTROLLER_UID_LABELS[0]) -> str:
    """The label selector of a Job's pods (the controller-uid label; the legacy key on request)."""
    return f"{label}={job_uid}"


class JobKey(Protocol):
    """What finds a Job's pods: its namespace and uid (a `Job` view, a plan, a `JobId`)."""

    @property
    def namespace(self) -> str: ...

    @property
    def uid(self) -> str: ...


class JobId(NamedTuple):
    """A Job known by namespace and uid only (the old Job of a restart plan)."""

    namespace: str
    uid: str


def job_pods(api: KubeApi, job: JobKey) -> list[JSON]:
    """The pods of `job`, as JSON, by its controller-uid label (the newer key, else the legacy
    one: pods made before Kubernetes 1.27 carry only that). One list call, two at most."""
    for label in CONTROLLER_UID_LABELS:
        items = api.get(pods(job.namespace), labelSelector=job_pod_selector(job.uid, label))
        if items.get("items"):
            return list(items["items"])
    return []
