"""Every Kubernetes API path jobwarden calls, and `job_pods`, the one way to find a Job's pods.

A path function takes the namespace (None or "" for a list across all namespaces, where
the resource allows it) and the name; it returns the path without a query. No other
module of the runtime package writes a path (tests/unit/test_kube.py checks).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from jobwarden.kube.labels import CONTROLLER_UID_LABELS
from jobwarden.kube.objects import JSON
from jobwarden.kubeapi import KubeApi

_CORE = "/api/v1"
_BATCH = "/apis/batch/v1"

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"  # noqa: S105 (a path)
SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
SELF_SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def _collection(prefix: str, resource: str, namespace: str | None) -> str:
    if not namespace:  # None or "" (Kubernetes' NamespaceAll): across all namespaces
        return f"{prefix}/{resource}"
    return f"{prefix}/namespaces/{namespace}/{resource}"


def jobs(namespace: str | None) -> str:
    return _collection(_BATCH, "jobs", namespace)


def job(namespace: str, name: str) -> str:
    return f"{jobs(namespace)}/{name}"


def cronjobs(namespace: str | None) -> str:
    return _collection(_BATCH, "cronjobs", namespace)


def cronjob(namespace: str, name: str) -> str:
    return f"{cronjobs(namespace)}/{name}"


def pods(namespace: str | None) -> str:
    return _collection(_CORE, "pods", namespace)


def pod(namespace: str, name: str) -> str:
    return f"{pods(namespace)}/{name}"


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
    return f"{_collection('/apis/coordination.k8s.io/v1', 'leases', namespace)}/{name}"


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
