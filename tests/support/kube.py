"""Helpers for tests against the local stack: Jobs with chosen outcomes, waits, tokens."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from jobwarden.errors import NotFoundError
from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.processes import free_ports
from jobwarden_dev.localstack.stack import StackInfo

T = TypeVar("T")
JSON = dict[str, Any]


def job_manifest(
    name: str,
    *,
    outcome: str = "succeed",
    after: float | None = None,
    exit_code: int | None = None,
    container: str | None = None,
    logs: str | None = None,
    containers: list[JSON] | None = None,
    backoff_limit: int | None = 0,
    node_selector: dict[str, str] | None = None,
    memory: dict[str, str] | None = None,
    cpu: dict[str, str] | None = None,
    throttled: dict[str, float] | None = None,
    **spec: Any,
) -> JSON:
    """A batch/v1 Job whose pods KWOK runs to `outcome` (see README: pod outcomes).

    `memory`, `cpu` and `throttled` map a container name to the working set (`498Mi`),
    the cores in use (`250m`) and the fraction of CFS periods throttled (0..1) that KWOK's
    emulated cAdvisor reports for it while the pod runs (Prometheus in the stack scrapes it).
    """
    annotations: dict[str, str] = {}
    if after is not None:
        annotations["sim.jobwarden.dev/after"] = str(after)
    if exit_code is not None:
        annotations["sim.jobwarden.dev/exit-code"] = str(exit_code)
    if container is not None:
        annotations["sim.jobwarden.dev/container"] = container
    if logs is not None:
        annotations["sim.jobwarden.dev/logs"] = logs
    for key, values in (("memory", memory), ("cpu", cpu), ("throttled", throttled)):
        for each, value in (values or {}).items():
            annotations[f"sim.jobwarden.dev/{key}-{each}"] = str(value)
    pod_spec: JSON = {
        "restartPolicy": "Never",
        "containers": containers
        or [{"name": "main", "image": "registry.example/batch:1", "command": ["run"]}],
    }
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            **({"backoffLimit": backoff_limit} if backoff_limit is not None else {}),
            **spec,
            "template": {
                "metadata": {
                    "labels": {"sim.jobwarden.dev/outcome": outcome},
                    "annotations": annotations,
                },
                "spec": pod_spec,
            },
        },
    }


def wait_for(probe: Callable[[], T | None], *, timeout: float = 60.0, what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except NotFoundError:
            last = None
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def job_condition(api: KubeApi, namespace: str, name: str, kind: str) -> JSON | None:
    job = api.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")
    for cond in job.get("status", {}).get("conditions", []):
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def job_pods(api: KubeApi, namespace: str, name: str) -> list[JSON]:
    pods = api.get(
        f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"batch.kubernetes.io/job-name={name}"
    )
    return list(pods.get("items", []))


def token_kubeconfig(path: Path, stack: StackInfo, token: str) -> Path:
    """A kubeconfig for the stack's API server with a bearer token (a pod's in-cluster view)."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "in-cluster",
                        "cluster": {"server": stack.server, "certificate-authority": stack.ca_file},
                    }
                ],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [{"name": "pod", "context": {"cluster": "in-cluster", "user": "sa"}}],
                "current-context": "pod",
            }
        )
    )
    path.chmod(0o600)
    return path


def unreachable_kubeconfig(path: Path, stack: StackInfo) -> Path:
    """The stack's admin kubeconfig pointed at a local port nobody listens on."""
    (closed,) = free_ports(1)
    text = Path(stack.kubeconfig).read_text()
    path.write_text(text.replace(stack.server, f"https://127.0.0.1:{closed}"))
    return path
